#!/usr/bin/env python3
# End-to-end test of profiles/memcached-text.json against a real memcached: exact bytes with
# `dragoman encode/decode`, encoded frames sent straight to memcached, then `dragoman serve` in
# front of it through the HTTP and line front doors.
import json
import os
import shutil
import socket
import time

import harness
from harness import SRC, Checks, Process, post, serve

PROFILE = os.path.join(SRC, "profiles", "memcached-text.json")
WAIT_S = 10

check = Checks()
started = []  # processes this test started, stopped by their own handle at the end


def run(args, stdin=b""):
    return harness.run(args, stdin, timeout=WAIT_S)


def encode(op, fields):
    rc, out, err = run(["encode", "--profile", PROFILE, "--op", op], json.dumps(fields).encode())
    if rc != 0:
        raise RuntimeError("encode %s failed: %s" % (op, err))
    return out


def encode_hex(op, fields):
    rc, out, err = run(
        ["encode", "--profile", PROFILE, "--op", op, "--hex"], json.dumps(fields).encode()
    )
    return rc, out.decode().strip(), err


def decode(op, wire):
    rc, out, err = run(["decode", "--profile", PROFILE, "--op", op], wire)
    if rc != 0:
        raise RuntimeError("decode %s failed: %s" % (op, err))
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return lines


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_memcached():
    for _ in range(5):
        port = free_port()
        args = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16"]
        if os.geteuid() == 0:
            args += ["-u", "root"]  # memcached refuses to run as root without -u
        p = Process(args)
        started.append(p)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if p.proc.poll() is not None:
                break  # the port was taken meanwhile: try another
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return port
            except OSError:
                time.sleep(0.05)
    raise RuntimeError("memcached did not start")


pending = {}  # socket -> bytes received after the last whole reply


def read_reply(sock, op):
    """Reads one whole reply frame: lines, with a VALUE line's data block."""
    buf = pending.pop(sock, b"")
    deadline = time.monotonic() + WAIT_S
    while True:
        # A frame ends at a line that is not "VALUE ..." (whose block is skipped by count).
        pos = 0
        done = False
        while True:
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            line = buf[pos:end]
            nxt = end + 2
            if line.startswith(b"VALUE "):
                nxt += int(line.split()[3]) + 2
                if nxt > len(buf):
                    break
                pos = nxt
                continue
            pos = nxt
            done = True
            break
        if done:
            pending[sock] = buf[pos:]
            return buf[:pos]
        if time.monotonic() > deadline:
            raise RuntimeError("no whole reply to %s: %r" % (op, buf))
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("memcached closed the connection: %r" % buf)
        buf += chunk


def call_raw(sock, op, fields):
    sock.sendall(encode(op, fields))
    wire = read_reply(sock, op)
    return wire, decode(op, wire)[0]


class line_client:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
        self.buf = b""

    def call(self, rid, op, fields):
        self.sock.sendall(json.dumps({"id": rid, "op": op, "data": fields}).encode() + b"\n")
        return self.read()

    def read(self):
        deadline = time.monotonic() + WAIT_S
        while b"\n" not in self.buf:
            if time.monotonic() > deadline:
                raise RuntimeError("no answer line")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("line door closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def test_offline_exact_bytes():
    cases = [
        ("get", {"key": "k"}, b"get k\r\n"),
        ("set", {"key": "k", "value": "hello"}, b"set k 0 0 5\r\nhello\r\n"),
        ("set", {"key": "k", "value": "a\r\nb", "flags": 7, "ttl": 60}, b"set k 7 60 4\r\na\r\nb\r\n"),
        ("delete", {"key": "k"}, b"delete k\r\n"),
        ("incr", {"key": "n", "delta": 5}, b"incr n 5\r\n"),
    ]
    for op, fields, wire in cases:
        rc, hexed, err = encode_hex(op, fields)
        check("encode --hex %s %s" % (op, json.dumps(fields)), rc == 0 and hexed == wire.hex(),
              "got %r (%s), want %s" % (hexed, err.strip(), wire.hex()))
    rc, _, err = encode_hex("get", {"key": "a b"})
    check("encode refuses a key with a space", rc != 0 and "key" in err
          and "must not contain spaces or control characters" in err, err.strip())
    rc, _, err = encode_hex("get", {"key": "k" * 251})
    check("encode refuses a 251-byte key", rc != 0 and "max_length 250" in err, err.strip())

    replies = [
        ("get", b"VALUE k 3 5\r\nhe\r\nl\r\nEND\r\n",
         {"found": True, "flags": 3, "value": "he\r\nl", "status": "VALUE"}),
        ("get", b"END\r\n", {"found": False, "status": "END"}),
        ("set", b"STORED\r\n", {"stored": True, "status": "STORED"}),
        ("set", b"NOT_STORED\r\n", {"stored": False, "status": "NOT_STORED"}),
        ("delete", b"NOT_FOUND\r\n", {"deleted": False, "status": "NOT_FOUND"}),
        ("incr", b"42\r\n", {"value": 42, "status": "OK"}),
        ("incr", b"SERVER_ERROR out of memory\r\n",
         {"status": "SERVER_ERROR", "message": "out of memory"}),
    ]
    for op, wire, want in replies:
        try:
            got = decode(op, wire)
            fields = got[0]["fields"]
            ok = len(got) == 1 and got[0]["message"] == "reply" and all(
                fields.get(k) == v for k, v in want.items())
            check("decode --op %s %r" % (op, wire), ok, json.dumps(got))
        except RuntimeError as e:
            check("decode --op %s %r" % (op, wire), False, str(e))
    rc, _, err = run(["decode", "--profile", PROFILE, "--op", "get"], b"VALUE k 0 5x\r\nhello\r\nEND\r\n")
    check("decode: a bad length token is named", rc != 0 and 'bad length token "5x"' in err,
          err.strip())


def test_real_memcached(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    try:
        steps = [
            ("delete", {"key": "e2e:a"}, None),  # whatever was there
            ("set", {"key": "e2e:a", "value": "hello", "flags": 5}, {"stored": True, "status": "STORED"}),
            ("get", {"key": "e2e:a"}, {"found": True, "value": "hello", "flags": 5}),
            ("set", {"key": "e2e:crlf", "value": "line1\r\nEND\r\nline3"}, {"stored": True}),
            ("get", {"key": "e2e:crlf"}, {"found": True, "value": "line1\r\nEND\r\nline3"}),
            ("set", {"key": "e2e:64", "value": "x" * 64}, {"stored": True}),
            ("get", {"key": "e2e:64"}, {"found": True, "value": "x" * 64}),
            ("delete", {"key": "e2e:a"}, {"deleted": True, "status": "DELETED"}),
            ("get", {"key": "e2e:a"}, {"found": False, "status": "END"}),
            ("delete", {"key": "e2e:a"}, {"deleted": False, "status": "NOT_FOUND"}),
            ("set", {"key": "e2e:n", "value": "10"}, {"stored": True}),
            ("incr", {"key": "e2e:n", "delta": 5}, {"value": 15, "status": "OK"}),
            ("incr", {"key": "e2e:missing", "delta": 1}, {"status": "NOT_FOUND"}),
            ("incr", {"key": "e2e:crlf", "delta": 1}, {"status": "CLIENT_ERROR"}),
        ]
        for op, fields, want in steps:
            name = "memcached %s %s" % (op, json.dumps(fields)[:60])
            try:
                wire, got = call_raw(sock, op, fields)
            except RuntimeError as e:
                check(name, False, str(e))
                continue
            if want is None:
                continue
            f = got["fields"]
            check(name, all(f.get(k) == v for k, v in want.items()), "%r -> %s" % (wire, json.dumps(f)))
        # Pipelined: three requests in one write, replies in request order.
        ops = [("set", {"key": "e2e:p", "value": "v1"}), ("get", {"key": "e2e:p"}),
               ("delete", {"key": "e2e:p"})]
        sock.sendall(b"".join(encode(op, f) for op, f in ops))
        got = [decode(op, read_reply(sock, op))[0]["fields"] for op, _ in ops]
        check("memcached pipelined set/get/delete answer in order",
              got[0].get("stored") is True and got[1].get("value") == "v1"
              and got[2].get("deleted") is True, json.dumps(got))
    finally:
        sock.close()


def start_serve(mc_port):
    p, ev = serve(PROFILE, ["127.0.0.1:%d" % mc_port], ["--threads", "1"])
    started.append(p)
    if ev is None:
        raise RuntimeError("serve printed no listening event: %s" % p.output().strip()[:400])
    return p, ev


def test_serve(mc_port):
    try:
        p, ev = start_serve(mc_port)
    except (RuntimeError, OSError) as e:
        check("serve starts and reports its listening addresses", False, str(e))
        return
    check("serve starts and reports its listening addresses", "http" in ev and "line" in ev, json.dumps(ev))
    crlf = "a\r\nEND\r\nVALUE x 0 1\r\nb"
    big = "".join(chr(ord("a") + i % 26) for i in range(64))
    steps = [
        ("set", {"key": "srv:a", "value": "hello", "flags": 9}, 200, {"stored": True}),
        ("get", {"key": "srv:a"}, 200, {"found": True, "value": "hello", "flags": 9}),
        ("set", {"key": "srv:crlf", "value": crlf}, 200, {"stored": True}),
        ("get", {"key": "srv:crlf"}, 200, {"found": True, "value": crlf}),
        ("set", {"key": "srv:64", "value": big}, 200, {"stored": True}),
        ("get", {"key": "srv:64"}, 200, {"found": True, "value": big}),
        ("set", {"key": "srv:n", "value": "41"}, 200, {"stored": True}),
        ("incr", {"key": "srv:n", "delta": 1}, 200, {"value": 42}),
        ("delete", {"key": "srv:a"}, 200, {"deleted": True}),
        ("get", {"key": "srv:a"}, 200, {"found": False}),
    ]
    for op, fields, status, want in steps:
        name = "http %s %s" % (op, json.dumps(fields)[:50])
        try:
            code, body, _ = post(ev["http"], op, fields, timeout=WAIT_S)
        except OSError as e:
            check(name, False, str(e))
            continue
        check(name, code == status and all(body.get(k) == v for k, v in want.items()),
              "%s %s" % (code, json.dumps(body)))
    code, body, _ = post(ev["http"], "delete", {"key": "srv:a"}, timeout=WAIT_S)
    check("http delete of a missing key is rejected with NOT_FOUND",
          code == 422 and body.get("code") == "rejected" and body.get("legacy_code") == "NOT_FOUND",
          "%s %s" % (code, json.dumps(body)))
    code, body, _ = post(ev["http"], "get", {"key": "a b"}, timeout=WAIT_S)
    check("http key with a space is invalid_field", code == 422 and body.get("code") == "invalid_field",
          "%s %s" % (code, json.dumps(body)))

    try:
        lc = line_client(ev["line"])
        a = lc.call("1", "set", {"key": "line:k", "value": crlf})
        check("line set", a.get("id") == "1" and a.get("ok") is True, json.dumps(a))
        a = lc.call("2", "get", {"key": "line:k"})
        check("line get of a value holding CRLF", a.get("ok") is True
              and a.get("data", {}).get("value") == crlf, json.dumps(a))
        a = lc.call("3", "incr", {"key": "line:k"})
        check("line incr of a non-number is rejected with CLIENT_ERROR", a.get("ok") is False
              and a.get("error", {}).get("code") == "rejected"
              and a.get("error", {}).get("legacy_code") == "CLIENT_ERROR",
              json.dumps(a))
        # Pipelined on one connection: answers for every id.
        for i in range(10):
            lc.sock.sendall(json.dumps({"id": "p%d" % i, "op": "set",
                                        "data": {"key": "line:p%d" % i, "value": big}}).encode() + b"\n")
        answers = [lc.read() for _ in range(10)]
        check("line pipelined sets all stored",
              sorted(x.get("id") for x in answers) == sorted("p%d" % i for i in range(10))
              and all(x.get("ok") is True for x in answers), json.dumps(answers)[:300])
        a = lc.call("4", "delete", {"key": "line:k"})
        check("line delete", a.get("ok") is True and a.get("data", {}).get("deleted") is True, json.dumps(a))
        lc.sock.close()
    except (RuntimeError, OSError, ValueError) as e:
        check("line front door", False, str(e))


def main():
    if not shutil.which("memcached"):
        check("memcached is installed (apt-get install memcached)", False)
        return
    test_offline_exact_bytes()
    try:
        mc_port = start_memcached()
    except RuntimeError as e:
        check("memcached starts", False, str(e))
        return
    test_real_memcached(mc_port)
    test_serve(mc_port)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash of the test itself is a failure, not a pass
        check("test ran to the end", False, repr(e))
    finally:
        for proc in started:
            proc.stop(timeout=5)
    check.finish()
