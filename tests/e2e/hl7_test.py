#!/usr/bin/env python3
# End-to-end HL7 v2 over MLLP: `dragoman encode/decode` on profiles/hl7v2-mllp.json, then `serve`
# against real receivers (python3-hl7, the npm node-hl7-server, a raw socket with quirky ACKs).
#
# Env: DRAGOMAN (the binary), DRAGOMAN_SOURCE_DIR (the repository). Prints one line per check and
# "N passed, N failed" last; exits non-zero when a check fails.
import json
import queue
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

SOURCE = os.environ.get("DRAGOMAN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DRAGOMAN = os.environ.get("DRAGOMAN", os.path.join(SOURCE, "build", "dragoman"))
PROFILE = os.path.join(SOURCE, "profiles", "hl7v2-mllp.json")
PEERS = os.path.join(SOURCE, "tests", "peers")

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))
    return ok


def run(args, stdin=b""):
    p = subprocess.run([DRAGOMAN] + args, input=stdin, capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


ADMIT = {"patient": {"id": "12345", "family": "DOE", "given": "JOHN", "birth_date": "19800101",
                     "sex": "M"}}
LAB = {"patient": {"id": "12345", "family": "DOE"},
       "order": {"placer_number": "ORD1", "code": "24331-1", "text": "Lipid panel"},
       "observations": [
           {"value_type": "NM", "code": "2093-3", "text": "Cholesterol", "value": "196",
            "units": "mg/dL", "reference_range": "<200", "status": "F"},
           {"value_type": "ST", "code": "8251-1", "text": "Comment", "value": "fasting^12h",
            "status": "F"}]}


def offline_checks():
    rc, out, err = run(["check", "--profile", PROFILE])
    check("check accepts the profile", rc == 0, err)

    rc, out, err = run(["encode", "--profile", PROFILE, "--op", "admit"], json.dumps(ADMIT).encode())
    if check("encode admit", rc == 0, err):
        check("admit is MLLP framed", out.startswith(b"\x0b") and out.endswith(b"\x1c\x0d"), repr(out))
        text = re.sub(rb"\d{14}", b"TS", out[1:-2])
        check("admit bytes (HL7 v2.5 ADT^A01, trailing empties trimmed)",
              text == b"MSH|^~\\&|DRAGOMAN|SIDECAR|HIS|HOSPITAL|TS||ADT^A01^ADT_A01|0000000001|P|2.5"
                      b"||||||UNICODE UTF-8\rEVN|A01|TS\rPID|1||12345^^^^MR||DOE^JOHN||19800101|M\r"
                      b"PV1|1|I\r", repr(text))
        rc, dec, err = run(["decode", "--profile", PROFILE], out)
        if check("decode the admit back", rc == 0, err):
            d = json.loads(dec)
            check("decoded admit is the admit request",
                  d["operation"] == "admit" and d["message"] == "request" and
                  d["fields"]["patient"] == {"id": "12345", "id_type": "MR", "family": "DOE",
                                             "given": "JOHN", "birth_date": "19800101", "sex": "M"},
                  dec.decode())

    rc, out, err = run(["encode", "--profile", PROFILE, "--op", "lab_result"], json.dumps(LAB).encode())
    if check("encode lab_result", rc == 0, err):
        segs = out[1:-2].split(b"\r")
        check("lab_result has one OBX per observation with set ids",
              segs[3] == b"OBX|1|NM|2093-3^Cholesterol||196|mg/dL|<200||||F" and
              segs[4] == b"OBX|2|ST|8251-1^Comment||fasting\\S\\12h||||||F", repr(segs))
        rc, dec, err = run(["decode", "--profile", PROFILE, "--op", "lab_result"], out)
        if check("decode lab_result", rc == 0, err):
            obs = json.loads(dec)["fields"]["observations"]
            check("observations round trip", [o["value"] for o in obs] == ["196", "fasting^12h"] and
                  obs[1]["set_id"] == "2", dec.decode())

    rc, out, err = run(["encode", "--profile", PROFILE, "--op", "admit"], b'{"patient":{"family":"X"}}')
    check("encode refuses a missing patient.id", rc != 0 and "patient.id" in err, err)

    # An ACK with other encoding characters and no CR after its last segment.
    ack = b"\x0bMSH*:~\\&*HIS*HOSP*DRAGOMAN*SIDECAR*20240101120000**ACK:A01*X1*P*2.5\r" \
          b"MSA*AE*0000000042*bad\\F\\value\x1c\x0d"
    rc, dec, err = run(["decode", "--profile", PROFILE, "--op", "admit"], ack)
    if check("decode an ACK with the peer's own separators", rc == 0, err):
        f = json.loads(dec)["fields"]
        check("ACK fields", f.get("ack_code") == "AE" and f.get("control_id") == "0000000042" and
              f.get("ack_text") == "bad*value", dec.decode())


def _lines(proc):
    """A queue fed by a thread that reads proc's stdout line by line (select() cannot see
    lines already buffered by readline)."""
    q = getattr(proc, "_line_queue", None)
    if q is None:
        q = queue.Queue()
        proc._line_queue = q

        def pump():
            for line in proc.stdout:
                q.put(line)
            q.put(None)

        threading.Thread(target=pump, daemon=True).start()
    return q


def read_json_line(proc, key, timeout=15.0):
    """The first stdout line of proc that is a JSON object with key (other lines are skipped)."""
    q = _lines(proc)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            line = q.get(timeout=max(0.0, deadline - time.time()))
        except queue.Empty:
            break
        if line is None:
            break
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and key in obj:
            return obj
    return None


def post(http, op, body, timeout=10):
    req = urllib.request.Request(f"http://{http}/v1/ops/{op}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def start_serve(port):
    proc = subprocess.Popen([DRAGOMAN, "serve", "--profile", PROFILE, "--upstream", f"127.0.0.1:{port}",
                             "--http", "127.0.0.1:0", "--line", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ev = read_json_line(proc, "http")
    return proc, ev


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_checks(peer_name, peer_cmd, reject_text):
    peer = subprocess.Popen(peer_cmd, stdout=subprocess.PIPE, text=True, cwd=PEERS)
    serve = None
    try:
        hello = read_json_line(peer, "listening")
        if not check(f"{peer_name}: listening", hello is not None):
            return
        serve, ev = start_serve(hello["listening"])
        if not check(f"{peer_name}: serve prints its listening event", ev is not None,
                     serve.stderr.read() if serve.poll() is not None else "no event line"):
            return
        http = ev["http"]
        seen = []
        for op, body in [("admit", ADMIT),
                         ("update_patient", {"patient": {"id": "12345", "family": "DOE",
                                                         "given": "JANE"}}),
                         ("lab_result", LAB)]:
            status, reply = post(http, op, body)
            ok = status == 200 and reply.get("ack_code") == "AA" and reply.get("control_id")
            check(f"{peer_name}: {op} answered AA with its control id", ok, f"{status} {reply}")
            seen.append(reply.get("control_id"))
        check(f"{peer_name}: control ids are unique", len(set(seen)) == len(seen), str(seen))
        # node-hl7-server re-reports earlier messages of a connection (it never clears its
        # buffer): read until every id was seen, within a bound.
        got = []
        deadline = time.time() + 5
        while not all(s in got for s in seen) and time.time() < deadline:
            line = read_json_line(peer, "received", timeout=max(0.1, deadline - time.time()))
            if not line:
                break
            got.append(line["received"])
        check(f"{peer_name}: the peer received those control ids", all(s in got for s in seen),
              f"{seen} vs {got}")
        status, reply = post(http, "admit", {"patient": {"id": "REJECT", "family": "DOE"}})
        check(f"{peer_name}: AR surfaces as rejected with the legacy code",
              status == 422 and reply.get("code") == "rejected" and reply.get("legacy_code") == "AR"
              and (reject_text is None or reply.get("detail") == reject_text), f"{status} {reply}")
        status, reply = post(http, "admit", {"patient": {"id": "ERROR", "family": "DOE"}})
        check(f"{peer_name}: AE surfaces as rejected",
              status == 422 and reply.get("legacy_code") == "AE", f"{status} {reply}")
        # The NDJSON line front door, same call.
        host, port = ev["line"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(json.dumps({"id": "l1", "op": "admit", "data": ADMIT}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        try:
            line = json.loads(buf)
        except ValueError:
            line = {}
        check(f"{peer_name}: line protocol admit", line.get("ok") is True and
              line.get("data", {}).get("ack_code") == "AA", buf.decode(errors="replace"))
    finally:
        stop(serve)
        stop(peer)


def raw_listener(ack_for):
    """A bare MLLP socket that answers each frame with ack_for(control_id); returns the port."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def conn(c):
        buf = b""
        with c:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                buf += data
                while b"\x1c\x0d" in buf:
                    frame, buf = buf.split(b"\x1c\x0d", 1)
                    msh = frame.lstrip(b"\x0b").split(b"\r", 1)[0].split(b"|")
                    c.sendall(b"\x0b" + ack_for(msh[9].decode()) + b"\x1c\x0d")

    def accept():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=conn, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv


def raw_checks():
    # Other separators (| ^ ~ \ & replaced), LF after a segment, no CR after the last segment,
    # and a Z-segment: each is something a real receiver has been seen doing.
    def ack(cid):
        return (b"MSH*:~\\&*RAW*HOSP*DRAGOMAN*SIDECAR*20240101120000**ACK:A01*R" + cid.encode() +
                b"*P*2.5\r\nZAK*x\rMSA*AA*" + cid.encode() + b"*accepted\\F\\ok")

    srv = raw_listener(ack)
    serve = None
    try:
        serve, ev = start_serve(srv.getsockname()[1])
        if not check("raw: serve started", ev is not None):
            return
        for op, body in [("admit", ADMIT), ("lab_result", LAB)]:
            status, reply = post(ev["http"], op, body)
            check(f"raw: {op} accepts an ACK without its final CR",
                  status == 200 and reply.get("ack_code") == "AA" and reply.get("control_id"),
                  f"{status} {reply}")
    finally:
        stop(serve)
        srv.close()


def main():
    if not os.access(DRAGOMAN, os.X_OK):
        check("DRAGOMAN is an executable", False, DRAGOMAN)
    else:
        offline_checks()
        serve_checks("python3-hl7", ["/usr/bin/python3", os.path.join(PEERS, "hl7_listener.py")],
                     "Patient rejected")
        if os.path.isdir(os.path.join(PEERS, "node_modules", "node-hl7-server")):
            serve_checks("node-hl7-server", ["node", os.path.join(PEERS, "hl7_npm_server.cjs")], None)
        else:
            check("node-hl7-server installed (npm install in tests/peers)", False)
        raw_checks()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
