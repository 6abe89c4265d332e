#!/usr/bin/env python3
# End-to-end: delivery by subscription on the line door. Debian's mllp_send (python3-hl7) and a
# raw MLLP host connect to `dragoman serve --upstream-listen`; apps subscribed on the line door
# (plain Python sockets) receive the host's admit and lab_result messages and answer them: the
# host gets AA with the subscriber's data, AE with its error text, AE when it does not answer in
# time. Two subscribers share the messages (each once); one that leaves mid-delivery loses
# nothing (its messages go to the other); with --deliver too, operations nobody subscribed to go
# to the HTTP app. Calls still work on a subscribed connection.
#
# Env: DRAGOMAN (the binary), DRAGOMAN_SOURCE_DIR (the repository). Prints one line per check and
# "N passed, N failed" last; exits non-zero when a check fails.
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from harness import SRC, Checks, get, serve
from inbound_app import App

PROFILE = os.path.join(SRC, "profiles", "hl7v2-mllp.json")
MLLP_SEND = shutil.which("mllp_send") or "/usr/bin/mllp_send"
check = Checks()


def admit(cid, pid="12345", family="DOE", trigger="A01"):
    return (f"MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|LAB|ELSEWHERE|20240102030405||ADT^{trigger}|{cid}"
            f"|P|2.3\rEVN|{trigger}|20240102030405\r"
            f"PID|1||{pid}^^^^MR||{family}^JANE^Q||19700101|F\rPV1|1|I|W1^101^A\r")


def lab(cid):
    return (f"MSH|^~\\&|LIS|LAB|HIS|HOSP|20240102030405||ORU^R01^ORU_R01|{cid}|P|2.5\r"
            f"PID|1||777^^^^MR||ROE^RICHARD\rOBR|1|ORD1||24331-1^Lipid panel^LN|||20240102\r"
            f"OBX|1|NM|2093-3^Cholesterol^LN||196|mg/dL|<200||||F\r")


def frame(text):
    return b"\x0b" + text.encode() + b"\x1c\x0d"


def segment(text, name):
    for s in text.replace("\n", "\r").split("\r"):
        if s.startswith(name + "|"):
            return s.split("|")
    return []


class Subscriber:
    """An app on the line door: subscribes, then answers each delivery as answer(msg) says
    (a dict: {"data": …} or {"error": …}; None: no answer). Records what it got."""

    def __init__(self, line, ops, answer=lambda m: {"data": {}}, sid="s1"):
        host, port = line.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.answer = answer
        self.got = []        # inbound lines
        self.others = []     # every other line (acknowledgements, call answers, errors)
        self.cv = threading.Condition()
        self.closed = False
        self.sock.sendall(json.dumps({"id": sid, "subscribe": ops}).encode() + b"\n")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cv:
                    self.closed = True
                    self.cv.notify_all()
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                m = json.loads(line)
                with self.cv:
                    (self.got if "inbound" in m else self.others).append(m)
                    self.cv.notify_all()
                if "inbound" in m:
                    a = self.answer(m)
                    if a is not None:
                        self.send(dict(a, reply_to=m["message_id"]))

    def send(self, obj):
        try:
            self.sock.sendall(json.dumps(obj).encode() + b"\n")
        except OSError:
            pass

    def wait(self, pred, timeout=10):
        with self.cv:
            return self.cv.wait_for(lambda: pred(self), timeout)

    def control_ids(self):
        with self.cv:
            return [m["data"].get("control_id") for m in self.got]

    def close(self):
        # shutdown first: a close() while the reader thread sits in recv() sends no FIN.
        for f in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                f()
            except OSError:
                pass


class Host:
    """A legacy host that connects in: pushes MLLP messages, collects ACKs by MSA-2, and answers
    dragoman's own calls with AA."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.acks = {}
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\x1c\x0d" in buf:
                raw, buf = buf.split(b"\x1c\x0d", 1)
                text = raw.lstrip(b"\x0b").decode()
                msh = segment(text, "MSH")
                if msh[8].startswith("ACK"):
                    with self.cv:
                        self.acks.setdefault(segment(text, "MSA")[2], []).append(text)
                        self.cv.notify_all()
                else:
                    self.sock.sendall(frame(
                        f"MSH|^~\\&|HIS|HOSP|DRAGOMAN|SIDECAR|20240102||ACK^A01|X{msh[9]}|P|2.5\r"
                        f"MSA|AA|{msh[9]}\r"))

    def send(self, *texts):
        self.sock.sendall(b"".join(frame(t) for t in texts))

    def wait_ack(self, cid, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: cid in self.acks, timeout)
            return (self.acks.get(cid) or [None])[0]

    def close(self):
        for f in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                f()
            except OSError:
                pass


def metric(http, name):
    _, text = get(http, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def start(extra=()):
    d, ev = serve(PROFILE, [], ["--upstream-listen", "127.0.0.1:0"] + list(extra))
    if not check("dragoman listening with --upstream-listen", ev is not None and
                 "upstream_listen" in ev, d.output()[-1500:]):
        d.stop()
        return None, None
    return d, ev


def mllp_send(port, texts):
    work = tempfile.mkdtemp(prefix="dragoman-subscribe-")
    try:
        path = os.path.join(work, "messages.hl7")
        with open(path, "w") as f:
            for t in texts:
                f.write(t.replace("\r", "\n") + "\n")
        p = subprocess.run(["/usr/bin/python3", MLLP_SEND, "--loose", "-p", str(port), "-f", path,
                            "127.0.0.1"], capture_output=True, timeout=60)
        out = p.stdout.decode(errors="replace").replace("\n", "\r")
        acks = ["MSH|" + a for a in out.split("MSH|") if a.strip()]
        return p.returncode, acks
    finally:
        shutil.rmtree(work, ignore_errors=True)


def subscribe_and_answer_checks():
    d, ev = start()
    if not d:
        return
    port = int(ev["upstream_listen"].rsplit(":", 1)[1])

    def answer(m):
        cid = m["data"].get("control_id")
        if cid == "E001":
            return {"error": "patient record locked"}
        return {"data": {"ack_text": f"seen {m['inbound']} {cid}"}}

    sub = Subscriber(ev["line"], ["admit", "lab_result"], answer)
    try:
        check("subscribe acknowledged with the operations",
              sub.wait(lambda s: s.others) and sub.others[0] == {
                  "id": "s1", "ok": True, "data": {"subscribed": ["admit", "lab_result"]},
                  "attempts": 0}, repr(sub.others))
        code, acks = mllp_send(port, [admit("S001"), lab("S002"), admit("E001"),
                                      admit("S003", trigger="A08")])
        got = [(segment(a, "MSA")[1:4]) for a in acks]
        check("mllp_send: AA carrying the subscriber's data, AE with its error text",
              code == 0 and got[:3] == [["AA", "S001", "seen admit S001"],
                                        ["AA", "S002", "seen lab_result S002"],
                                        ["AE", "E001", "patient record locked"]] and
              len(acks) == 4 and segment(acks[3], "MSA")[1] == "AE",
              repr((code, got)) + d.output()[-1500:])
        check("update_patient (not subscribed, no --deliver) gets the negative reply naming why",
              len(acks) == 4 and "no line subscriber of update_patient" in segment(acks[3], "MSA")[3],
              repr(acks[3:]))
        with sub.cv:
            first = sub.got[0] if sub.got else {}
        check("the delivery line: inbound, message_id, request_id and the decoded fields",
              first.get("inbound") == "admit" and len(first.get("message_id", "")) == 16 and
              first.get("request_id", "").startswith("in-") and
              first.get("data", {}).get("patient", {}).get("id") == "12345" and
              first["data"]["patient"].get("family") == "DOE", json.dumps(first))
        check("each message delivered once", sub.control_ids() == ["S001", "S002", "E001"],
              repr(sub.control_ids()))
        # A re-sent control id: the first ACK again, not delivered again.
        code, acks = mllp_send(port, [admit("S001")])
        check("a re-sent control id is acknowledged again and not delivered again",
              code == 0 and len(acks) == 1 and segment(acks[0], "MSA")[1:3] == ["AA", "S001"] and
              sub.control_ids().count("S001") == 1, repr((acks, sub.control_ids())))
        http = ev["http"]
        check("inbound metrics as with --deliver (received, delivered, failed, duplicates)",
              [metric(http, "dragoman_upstream_inbound_" + k) for k in
               ("received_total", "delivered_total", "failed_total", "duplicates_total")] ==
              [5, 2, 2, 1], repr([metric(http, "dragoman_upstream_inbound_" + k) for k in
                                  ("received_total", "delivered_total", "failed_total",
                                   "duplicates_total")]))
        check("delivery latency observed for the subscriber's deliveries only",
              metric(http, "dragoman_upstream_inbound_delivery_duration_seconds_count") == 3)
        check("subscriber gauge", metric(http, "dragoman_line_subscribers") == 1)

        # Bad lines: precise errors, the connection stays.
        sub.send({"id": "s2", "subscribe": ["nope"]})
        sub.send({"id": "s3", "subscribe": ["unsupported"]})
        sub.send({"id": "s4", "subscribe": "admit"})
        sub.send({"reply_to": "0000000000000000", "data": {}})
        sub.send({"id": "x", "op": "admit", "subscribe": ["admit"]})
        sub.wait(lambda s: len(s.others) >= 6)
        with sub.cv:
            by = {m.get("id", m.get("reply_to")): m for m in sub.others[1:]}
        msg = lambda k: by.get(k, {}).get("error", {}).get("message", "")
        check("unknown operation refused by name",
              by.get("s2", {}).get("error", {}).get("code") == "unknown_operation" and
              msg("s2") == "\"nope\" is not an operation of the profile", repr(by.get("s2")))
        check("an operation the host does not send refused by name", msg("s3") ==
              "\"unsupported\" is not an inbound operation (the host does not send it)",
              repr(by.get("s3")))
        check("subscribe must be an array", msg("s4") ==
              "subscribe must be an array of operation names", repr(by.get("s4")))
        check("a reply to no delivery is refused",
              "no delivery 0000000000000000 is waiting" in msg("0000000000000000"),
              repr(by.get("0000000000000000")))
        check("a line that is both a call and a subscription is refused",
              "not two" in msg("x"), repr(by.get("x")))

        # Calls still work on the subscribed connection: out on the host's connection.
        host = Host(port)
        try:
            deadline = time.time() + 5
            while time.time() < deadline and '"peer"' not in get(http, "/admin/upstreams")[1]:
                time.sleep(0.05)
            sub.send({"id": "c1", "op": "admit", "data": {"patient": {"id": "9", "family": "X"}}})
            sub.wait(lambda s: any(m.get("id") == "c1" for m in s.others))
            with sub.cv:
                c1 = next((m for m in sub.others if m.get("id") == "c1"), {})
            check("a call on the subscribed connection is answered",
                  c1.get("ok") is True and c1.get("data", {}).get("ack_code") == "AA", repr(c1))
        finally:
            host.close()
    finally:
        sub.close()
        d.stop()


def shared_and_disconnect_checks():
    d, ev = start(["--deliver-timeout-ms", "10000"])
    if not d:
        return
    port = int(ev["upstream_listen"].rsplit(":", 1)[1])
    a = Subscriber(ev["line"], ["admit"], lambda m: {"data": {"ack_text": "by a"}}, "a")
    b = Subscriber(ev["line"], ["admit"], lambda m: {"data": {"ack_text": "by b"}}, "b")
    try:
        a.wait(lambda s: s.others)
        b.wait(lambda s: s.others)
        cids = [f"R{i:03d}" for i in range(10)]
        code, acks = mllp_send(port, [admit(c) for c in cids])
        got = [segment(x, "MSA")[1:4] for x in acks]
        check("two subscribers: every message acknowledged AA",
              code == 0 and [g[:2] for g in got] == [["AA", c] for c in cids], repr(got))
        ga, gb = a.control_ids(), b.control_ids()
        check("two subscribers share the messages, each message once",
              sorted(ga + gb) == cids and ga and gb and not set(ga) & set(gb), repr((ga, gb)))
        check("each ACK carries the data of the subscriber that took it",
              all(g[2] == ("by a" if g[1] in ga else "by b") for g in got), repr(got))

        # A subscriber that leaves with a delivery unanswered: it goes to the other.
        c = Subscriber(ev["line"], ["admit"], lambda m: None, "c")  # takes, never answers
        c.wait(lambda s: s.others)
        host = Host(port)
        try:
            host.send(*[admit(f"D{i:03d}") for i in range(6)])
            check("the silent subscriber got its share", c.wait(lambda s: len(s.got) >= 2),
                  repr(c.control_ids()))
            held = c.control_ids()
            time.sleep(0.2)
            c.close()
            acks = {cid: host.wait_ack(cid) for cid in (f"D{i:03d}" for i in range(6))}
            check("after it leaves, every message is acknowledged AA once",
                  all(v and segment(v, "MSA")[1] == "AA" for v in acks.values()) and
                  all(len(host.acks[k]) == 1 for k in acks), repr(acks))
            others = a.control_ids() + b.control_ids()
            check("what it held went to the other subscribers",
                  all(h in others for h in held), repr((held, others)))
        finally:
            host.close()
    finally:
        a.close()
        b.close()
        d.stop()


def timeout_and_precedence_checks():
    app = App()
    d, ev = start(["--deliver", app.url(), "--deliver-timeout-ms", "400"])
    if not d:
        app.close()
        return
    port = int(ev["upstream_listen"].rsplit(":", 1)[1])
    sub = Subscriber(ev["line"], ["admit"], lambda m: None)  # never answers
    try:
        sub.wait(lambda s: s.others)
        code, acks = mllp_send(port, [admit("T001"), lab("T002")])
        got = [segment(x, "MSA")[1:4] for x in acks]
        check("a subscriber slower than --deliver-timeout-ms: AE naming the timeout",
              len(got) == 2 and got[0][:2] == ["AE", "T001"] and "delivery timeout" in got[0][2],
              repr(got) + d.output()[-1500:])
        check("subscribers first, --deliver for operations nobody subscribed to",
              len(got) == 2 and got[1][:2] == ["AA", "T002"] and
              [o[0] for o in app.ops()] == ["lab_result"] and sub.control_ids() == ["T001"],
              repr((got, app.ops(), sub.control_ids())))
        # A late reply is refused with a line; the host got one answer only.
        with sub.cv:
            mid = sub.got[0]["message_id"] if sub.got else ""
        sub.send({"reply_to": mid, "data": {}})
        sub.wait(lambda s: any("reply_to" in m for m in s.others))
        with sub.cv:
            late = next((m for m in sub.others if "reply_to" in m), {})
        check("a reply after the timeout is refused", late.get("ok") is False, repr(late))
        check("timeout counted as failed",
              metric(ev["http"], "dragoman_upstream_inbound_failed_total") == 1)
        # The subscriber leaves: admit goes to --deliver now.
        sub.close()
        time.sleep(0.2)
        code, acks = mllp_send(port, [admit("T003")])
        check("with no subscriber left, admit goes to --deliver",
              len(acks) == 1 and segment(acks[0], "MSA")[1] == "AA" and
              [o[2].get("control_id") for o in app.ops()] == ["T002", "T003"],
              repr((acks, app.ops())))
    finally:
        sub.close()
        d.stop()
        app.close()


if not os.path.exists(MLLP_SEND):
    check("mllp_send is installed (python3-hl7, scripts/setup)", False)
else:
    subscribe_and_answer_checks()
    shared_and_disconnect_checks()
    timeout_and_precedence_checks()
check.finish()
