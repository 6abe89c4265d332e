#!/usr/bin/env python3
"""End-to-end: the real `dragoman serve` binary over the embedded simulator, a separate
`dragoman simulate`, a peer that never answers and an upstream that is not there.

Run by CTest with DRAGOMAN=<binary> and DRAGOMAN_SOURCE_DIR=<source tree>; standard library only.
Every wait has a deadline and only processes started here are stopped."""

import http.client
import json
import os
import socket
import threading
import time
import traceback

from harness import DRAGOMAN, SRC, Checks, Process, serve as start_serve

PROFILE = os.path.join(SRC, "profiles", "acme-core.json")
checks = Checks()


def hostport(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def check(name, fn, *args):
    """Runs fn: a check passes when it returns and fails with the traceback when it raises."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a failed check is reported, never fatal to the rest
        checks(name, False, "\n" + traceback.format_exc())
        return
    checks(name, True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def request(addr, method, path, body=None, headers=None, timeout=10):
    host, port = hostport(addr)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        data = body if isinstance(body, (bytes, type(None))) else (
            body if isinstance(body, str) else json.dumps(body)).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            obj = json.loads(raw) if raw else None
        except ValueError:
            obj = None
        return r.status, {k.lower(): v for k, v in r.getheaders()}, obj
    finally:
        conn.close()


def wait_ready(addr, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, _ = request(addr, "GET", "/readyz")
        if status == 200:
            return
        time.sleep(0.05)
    raise TimeoutError("/readyz never became 200")


class LineClient:
    def __init__(self, addr, timeout=10):
        self.sock = socket.create_connection(hostport(addr), timeout=timeout)
        self.buf = b""

    def send(self, objs):
        self.sock.sendall(b"".join(json.dumps(o).encode() + b"\n" for o in objs))

    def read(self, count, timeout=20):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%d of %d answers" % (len(out), count))
                self.sock.settimeout(left)
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed after %d answers" % len(out))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            out.append(json.loads(line))
        return out

    def close(self):
        self.sock.close()


def serve(*extra):
    """`dragoman serve` on the acme profile; returns the process and its listening event."""
    p, listening = start_serve(PROFILE, extra=extra)
    if listening is None:
        p.kill()
        raise TimeoutError("no listening log line: " + p.output()[-2000:])
    return p, listening


# ---- serve over the embedded simulator ----------------------------------------------------------

def embedded_simulator_suite():
    p, listening = serve("--max-body-bytes", "2048", "--threads", "2")
    try:
        first = json.loads(p.seen[0])
        check("first log line announces the embedded simulator", lambda: expect(
            first.get("event") == "embedded_simulator" and ":" in first.get("listen", ""), first))
        addr, line_addr = listening["http"], listening["line"]
        check("listening line has real ports", lambda: expect(
            hostport(addr)[1] > 0 and hostport(line_addr)[1] > 0, listening))
        wait_ready(addr)

        def healthz():
            status, _, body = request(addr, "GET", "/healthz")
            expect(status == 200 and body == {"status": "ok"}, (status, body))

        def balance():
            status, h, body = request(addr, "POST", "/v1/ops/balance", {"account": "12345"},
                                      {"X-Request-Id": "e2e-1"})
            expect(status == 200, (status, body))
            for k in ("account", "balance", "currency"):
                expect(k in body, "no %s in %s" % (k, body))
            expect(str(body["account"]).strip() == "12345", body)
            expect(h.get("x-request-id") == "e2e-1", h)
            expect(h.get("x-dragoman-attempts") == "1", h)

        def transfer():
            status, _, body = request(addr, "POST", "/v1/ops/transfer",
                                      {"from": "111", "to": "222", "amount": "10.50"})
            expect(status == 200, (status, body))
            expect("reference" in body, body)

        def problem(status, body, code, want_status):
            expect(status == want_status, (status, body))
            expect(body and body.get("code") == code and body.get("status") == want_status, body)
            for k in ("type", "title", "detail"):
                expect(k in body, "no %s in %s" % (k, body))

        def malformed():
            status, h, body = request(addr, "POST", "/v1/ops/balance", "{nope")
            problem(status, body, "bad_request", 400)
            expect(h.get("content-type") == "application/problem+json", h)

        def unknown_op():
            status, _, body = request(addr, "POST", "/v1/ops/launch_rockets", {})
            problem(status, body, "unknown_operation", 404)

        def too_long_account():
            status, _, body = request(addr, "POST", "/v1/ops/balance", {"account": "1" * 40})
            problem(status, body, "invalid_field", 422)
            expect("account" in body["detail"], body)

        def unknown_fields():
            # The issue's own example: "extra" used to vanish with a 200.
            status, _, body = request(addr, "POST", "/v1/ops/balance",
                                      {"account": "12345", "extra": "x", "colour": "red"})
            problem(status, body, "invalid_field", 422)
            expect(body["detail"].startswith("extra, colour: are not fields of this operation"),
                   body)
            expect(body.get("sent") is False, body)
            c = LineClient(line_addr)
            try:
                c.send([{"id": "u", "op": "balance", "data": {"account": "1", "extra": "x"}}])
                a = c.read(1)[0]
                expect(a["error"]["code"] == "invalid_field" and
                       a["error"]["message"].startswith("extra: is not a field"), a)
            finally:
                c.close()

        def over_body_limit():
            status, _, body = request(addr, "POST", "/v1/ops/balance",
                                      {"account": "1", "pad": "x" * 4000})
            problem(status, body, "payload_too_large", 413)

        def pipelined_lines():
            c = LineClient(line_addr)
            try:
                c.send([{"id": i if i % 2 else "s%d" % i, "op": "balance",
                         "data": {"account": str(5000 + i)}} for i in range(50)])
                c.send([{"id": "bad", "op": "balance", "data": {"account": "9" * 40}}])
                c.sock.sendall(b"{not json\n")
                answers = c.read(52)
                by_id = {json.dumps(a["id"]): a for a in answers}
                for i in range(50):
                    a = by_id[json.dumps(i if i % 2 else "s%d" % i)]
                    expect(a["ok"] and str(a["data"]["account"]).strip() == str(5000 + i), a)
                expect(by_id['"bad"']["error"]["code"] == "invalid_field", by_id['"bad"'])
                expect(by_id["null"]["error"]["code"] == "bad_request", by_id["null"])
            finally:
                c.close()

        check("GET /healthz", healthz)
        check("balance over HTTP returns account, balance, currency", balance)
        check("transfer over HTTP", transfer)
        check("malformed JSON is 400 problem+json", malformed)
        check("unknown operation is 404", unknown_op)
        check("too-long account is 422 naming the field", too_long_account)
        check("unknown fields are 422 naming each, on both doors", unknown_fields)
        check("body over --max-body-bytes is 413", over_body_limit)
        check("pipelined lines, ids echoed, errors in place", pipelined_lines)
        check("SIGTERM drains and exits 0", lambda: expect(p.stop() == 0, p.proc.returncode))
    finally:
        p.kill()


# ---- serve against a separate simulator and misbehaving peers ----------------------------------

def separate_simulator_suite():
    sim = Process([DRAGOMAN, "simulate", "--profile", PROFILE, "--listen", "127.0.0.1:0"])
    srv = None
    try:
        ready = sim.json_line("simulate", where=lambda o: o.get("event") == "listening")
        if ready is None:
            raise TimeoutError("no listening log line from simulate: " + sim.output()[-2000:])
        srv, listening = serve("--upstream", ready["simulate"], "--upstream-connections", "1")
        check("no embedded simulator with --upstream",
              lambda: expect(not any("embedded_simulator" in s for s in srv.seen), srv.seen))
        wait_ready(listening["http"])

        def thousand_lines():
            c = LineClient(listening["line"], timeout=30)
            try:
                n = 1000
                c.send([{"id": "c%d" % i, "op": "balance", "data": {"account": str(700000 + i)}}
                        for i in range(n)])
                answers = c.read(n, timeout=60)
                seen = set()
                for a in answers:
                    i = int(a["id"][1:])
                    expect(a["ok"], a)
                    expect(str(a["data"]["account"]).strip() == str(700000 + i), a)
                    seen.add(i)
                expect(len(seen) == n, "%d distinct answers" % len(seen))
            finally:
                c.close()

        check("1000 concurrent line calls over one upstream connection", thousand_lines)
        check("serve exits 0 on SIGTERM", lambda: expect(srv.stop() == 0, srv.proc.returncode))
    finally:
        for p in (srv, sim):
            if p is not None:
                p.kill()


def silent_peer_suite():
    # Accepts connections and reads, never answers.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    lsock.settimeout(0.2)
    stop = threading.Event()
    held = []

    def accept_loop():
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
                conn.setblocking(False)
                held.append(conn)
            except OSError:
                pass
            for conn in held:
                try:
                    conn.recv(65536)
                except OSError:
                    pass

    t = threading.Thread(target=accept_loop, daemon=True)
    t.start()
    srv = None
    try:
        srv, listening = serve("--upstream", "127.0.0.1:%d" % lsock.getsockname()[1])
        addr = listening["http"]
        # acme-core signs on: this peer never answers even that, so serve is never ready and
        # the call waits for a signed-on connection until its deadline.

        def times_out():
            host, port = hostport(addr)
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.connect()
            try:
                t0 = time.monotonic()
                conn.request("POST", "/v1/ops/balance", body=b'{"account":"42"}',
                             headers={"Content-Type": "application/json",
                                      "Request-Timeout": "300"})
                r = conn.getresponse()
                body = json.loads(r.read())
                elapsed = time.monotonic() - t0
            finally:
                conn.close()
            expect(r.status == 504 and body["code"] == "upstream_timeout", (r.status, body))
            expect(elapsed <= 0.4, "answered after %.3f s" % elapsed)
            expect(elapsed >= 0.29, "answered early, after %.3f s" % elapsed)

        check("a peer that never answers: 504 within the deadline + 100 ms", times_out)
        check("serve exits 0 on SIGTERM", lambda: expect(srv.stop() == 0, srv.proc.returncode))
    finally:
        if srv is not None:
            srv.kill()
        stop.set()
        t.join(timeout=2)
        for conn in held:
            conn.close()
        lsock.close()


def signed_on_silent_suite():
    """A simulator that signs on but never answers balance: the call is written and unanswered."""
    import tempfile
    rules = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"rules": [{"op": "balance", "fault": "no_answer"}]}, rules)
    rules.close()
    sim = Process([DRAGOMAN, "simulate", "--profile", PROFILE, "--listen", "127.0.0.1:0",
                   "--responses", rules.name])
    srv = None
    try:
        ev = sim.json_line("simulate", timeout=15)
        expect(ev is not None, "simulator did not start: " + sim.output()[-1000:])
        srv, listening = serve("--upstream", ev["simulate"])
        addr = listening["http"]
        wait_ready(addr)

        def times_out():
            t0 = time.monotonic()
            status, _, body = request(addr, "POST", "/v1/ops/balance", {"account": "42"},
                                      headers={"Request-Timeout": "300"})
            elapsed = time.monotonic() - t0
            expect(status == 504 and body["code"] == "upstream_timeout", (status, body))
            expect(0.29 <= elapsed <= 0.4, "answered after %.3f s" % elapsed)
            status, _, body = request(addr, "POST", "/v1/ops/transfer",
                                      {"from": "1", "to": "2", "amount": "1.00"})
            expect(status == 200, (status, body))

        check("a signed-on peer that never answers the call: 504 within the deadline + 100 ms",
              times_out)
    finally:
        if srv is not None:
            srv.kill()
        sim.kill()
        os.unlink(rules.name)


def nothing_listening_suite():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    srv, listening = serve("--upstream", "127.0.0.1:%d" % port)
    try:
        addr = listening["http"]

        def unavailable():
            status, _, body = request(addr, "POST", "/v1/ops/balance", {"account": "42"})
            expect(status == 503 and body["code"] == "upstream_unavailable", (status, body))
            status, _, _ = request(addr, "GET", "/readyz")
            expect(status == 503, status)

        check("nothing listening upstream: 503 upstream_unavailable", unavailable)
        check("serve exits 0 on SIGTERM", lambda: expect(srv.stop() == 0, srv.proc.returncode))
    finally:
        srv.kill()


def main():
    for suite in (embedded_simulator_suite, separate_simulator_suite, silent_peer_suite,
                  signed_on_silent_suite, nothing_listening_suite):
        try:
            suite()
        except Exception:  # noqa: BLE001 - a suite that cannot start counts as one failure
            checks(suite.__name__ + " could not run", False, "\n" + traceback.format_exc())
    checks.finish()


if __name__ == "__main__":
    main()
