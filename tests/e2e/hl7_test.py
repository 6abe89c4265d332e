#!/usr/bin/env python3
# End-to-end HL7 v2 over MLLP: `dragoman encode/decode` on profiles/hl7v2-mllp.json, then `serve`
# against real receivers (python3-hl7, the npm node-hl7-server, a raw socket with quirky ACKs).
#
# Env: DRAGOMAN (the binary), DRAGOMAN_SOURCE_DIR (the repository). Prints one line per check and
# "N passed, N failed" last; exits non-zero when a check fails.
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

from harness import DRAGOMAN, PEERS, SRC, Checks, Process, line_calls, post, run, serve

PROFILE = os.path.join(SRC, "profiles", "hl7v2-mllp.json")
check = Checks()


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
        text = re.sub(rb"\|\d{10}\|", b"|ID|", re.sub(rb"\d{14}", b"TS", out[1:-2]))
        check("admit bytes (HL7 v2.5 ADT^A01, trailing empties trimmed)",
              text == b"MSH|^~\\&|DRAGOMAN|SIDECAR|HIS|HOSPITAL|TS||ADT^A01^ADT_A01|ID|P|2.5"
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

    # MSH-10 does not start again with every process: receivers drop duplicate control ids.
    ids = []
    for _ in range(2):
        rc, out, err = run(["encode", "--profile", PROFILE, "--op", "admit"], json.dumps(ADMIT).encode())
        ids.append(out.split(b"|")[9] if rc == 0 else err)
    check("two encode runs give different control ids (MSH-10)",
          ids[0] != ids[1] and all(re.fullmatch(rb"\d{10}", i) for i in ids), str(ids))

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


def start_serve(port):
    return serve(PROFILE, [f"127.0.0.1:{port}"])


def stop(proc):
    if proc:
        proc.stop()


def serve_checks(peer_name, peer_cmd, reject_text):
    peer = Process(peer_cmd, cwd=PEERS)
    dragoman = None
    try:
        hello = peer.json_line("listening")
        if not check(f"{peer_name}: listening", hello is not None):
            return
        dragoman, ev = start_serve(hello["listening"])
        if not check(f"{peer_name}: serve prints its listening event", ev is not None,
                     dragoman.output() if dragoman.proc.poll() is not None else "no event line"):
            return
        http = ev["http"]
        seen = []
        for op, body in [("admit", ADMIT),
                         ("update_patient", {"patient": {"id": "12345", "family": "DOE",
                                                         "given": "JANE"}}),
                         ("lab_result", LAB)]:
            status, reply, _ = post(http, op, body)
            ok = status == 200 and reply.get("ack_code") == "AA" and reply.get("control_id")
            check(f"{peer_name}: {op} answered AA with its control id", ok, f"{status} {reply}")
            seen.append(reply.get("control_id"))
        check(f"{peer_name}: control ids are unique", len(set(seen)) == len(seen), str(seen))
        # node-hl7-server re-reports earlier messages of a connection (it never clears its
        # buffer): read until every id was seen, within a bound.
        got = []
        deadline = time.time() + 5
        while not all(s in got for s in seen) and time.time() < deadline:
            line = peer.json_line("received", timeout=max(0.1, deadline - time.time()))
            if not line:
                break
            got.append(line["received"])
        check(f"{peer_name}: the peer received those control ids", all(s in got for s in seen),
              f"{seen} vs {got}")
        status, reply, _ = post(http, "admit", {"patient": {"id": "REJECT", "family": "DOE"}})
        check(f"{peer_name}: AR surfaces as rejected with the legacy code",
              status == 422 and reply.get("code") == "rejected" and reply.get("legacy_code") == "AR"
              and (reject_text is None or reply.get("detail") == reject_text), f"{status} {reply}")
        status, reply, _ = post(http, "admit", {"patient": {"id": "ERROR", "family": "DOE"}})
        check(f"{peer_name}: AE surfaces as rejected",
              status == 422 and reply.get("legacy_code") == "AE", f"{status} {reply}")
        # The NDJSON line front door, same call.
        line = line_calls(ev["line"], [{"id": "l1", "op": "admit", "data": ADMIT}],
                          timeout=10).get("l1", {})
        check(f"{peer_name}: line protocol admit", line.get("ok") is True and
              line.get("data", {}).get("ack_code") == "AA", line)
    finally:
        stop(dragoman)
        stop(peer)


def simulate_checks():
    """`dragoman simulate` answered by Debian's mllp_send (python3-hl7): an ADT^A01 written without
    MSH-18 gets its ACK AA; an event no operation matches gets ACK AR, not silence."""
    sim = Process([DRAGOMAN, "simulate", "--profile", PROFILE, "--listen", "127.0.0.1:0"])
    try:
        ev = sim.json_line("simulate", where=lambda o: o.get("event") == "listening")
        if not check("simulate: listening", ev is not None):
            return
        port = ev["simulate"].rsplit(":", 1)[1]
        for name, event, expect in [("an ADT^A01 without MSH-18", "A01", b"MSA|AA|MSG0001"),
                                    ("an unsupported ADT^A03", "A03", b"MSA|AR|MSG0001")]:
            msg = ("MSH|^~\\&|LAB|FAC|DRAGOMAN|SIDECAR|20260101120000||ADT^" + event +
                   "|MSG0001|P|2.3\rEVN|" + event + "|20260101120000\rPID|1||555^^^^MR||DOE^JANE\r"
                   "PV1|1|I\r").encode()
            # mllp_send reads MLLP-framed messages from a file (its stdin reading is broken in
            # 0.4.5) and prints each ACK.
            with tempfile.NamedTemporaryFile(suffix=".hl7") as f:
                f.write(b"\x0b" + msg + b"\x1c\x0d")
                f.flush()
                p = subprocess.run(["/usr/bin/mllp_send", "-p", port, "-f", f.name, "127.0.0.1"],
                                   capture_output=True, timeout=20)
            check(f"simulate: {name} is answered {expect.decode()}",
                  p.returncode == 0 and expect in p.stdout.replace(b"\n", b"\r"),
                  repr(p.stdout) + p.stderr.decode(errors="replace"))
    finally:
        stop(sim)
    log = sim.output()
    check("simulate: the unsupported message is logged with why",
          '"event":"unrecognised_frame"' in log and 'wants trigger_event' in log, log[-2000:])


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
    dragoman = None
    try:
        dragoman, ev = start_serve(srv.getsockname()[1])
        if not check("raw: serve started", ev is not None):
            return
        for op, body in [("admit", ADMIT), ("lab_result", LAB)]:
            status, reply, _ = post(ev["http"], op, body)
            check(f"raw: {op} accepts an ACK without its final CR",
                  status == 200 and reply.get("ack_code") == "AA" and reply.get("control_id"),
                  f"{status} {reply}")
    finally:
        stop(dragoman)
        srv.close()


def main():
    if not os.access(DRAGOMAN, os.X_OK):
        check("DRAGOMAN is an executable", False, DRAGOMAN)
    else:
        offline_checks()
        if os.access("/usr/bin/mllp_send", os.X_OK):
            simulate_checks()
        else:
            check("mllp_send installed (Debian python3-hl7)", False)
        serve_checks("python3-hl7", ["/usr/bin/python3", os.path.join(PEERS, "hl7_listener.py")],
                     "Patient rejected")
        if os.path.isdir(os.path.join(PEERS, "node_modules", "node-hl7-server")):
            serve_checks("node-hl7-server", ["node", os.path.join(PEERS, "hl7_npm_server.cjs")], None)
        else:
            check("node-hl7-server installed (npm install in tests/peers)", False)
        raw_checks()
    check.finish()


if __name__ == "__main__":
    main()
