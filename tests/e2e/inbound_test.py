#!/usr/bin/env python3
# End-to-end: messages the legacy host starts. A host (a raw MLLP peer in this test) pushes HL7
# messages on the connection dragoman opened to it; dragoman delivers each to a small HTTP app
# (--deliver) and answers the host with the ACK the profile and the app make: AA from a 2xx, AE
# with the app's text from a 500, AE when the app is down or absent, the first ACK again for a
# re-sent control id, AR for a message type no operation reads; reading pauses while the app
# stalls. Calls from the app still go out on the same connection.
#
# Env: DRAGOMAN (the binary), DRAGOMAN_SOURCE_DIR (the repository). Prints one line per check and
# "N passed, N failed" last; exits non-zero when a check fails.
import calendar
import json
import os
import socket
import threading
import time

from harness import SRC, Checks, get, node_peer, post, serve
from inbound_app import App

PROFILE = os.path.join(SRC, "profiles", "hl7v2-mllp.json")
check = Checks()


def admit(cid, pid="12345", family="DOE", trigger="A01"):
    # As senders write them: their own MSH-3..6, no MSH-18, another version, trailing empties.
    return (f"MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|LAB|ELSEWHERE|20240102030405||ADT^{trigger}|{cid}"
            f"|P|2.3|||\rEVN|{trigger}|20240102030405|||\r"
            f"PID|1||{pid}^^^^MR||{family}^JANE^Q||19700101|F|||1 MAIN ST^^SPRINGFIELD||||||\r"
            f"PV1|1|I|W1^101^A||||||||||||||||V{cid}|||\r")


def lab(cid):
    return (f"MSH|^~\\&|LIS|LAB|HIS|HOSP|20240102030405||ORU^R01^ORU_R01|{cid}|P|2.5\r"
            f"PID|1||777^^^^MR||ROE^RICHARD\r"
            f"OBR|1|ORD1||24331-1^Lipid panel^LN|||20240102\r"
            f"OBX|1|NM|2093-3^Cholesterol^LN||196|mg/dL|<200||||F\r"
            f"OBX|2|ST|8251-1^Comment^LN||fasting||||||F\r")


def frame(text):
    return b"\x0b" + text.encode() + b"\x1c\x0d"


def fields(seg_text):
    return seg_text.split("|")


class Host:
    """The legacy host: listens, takes dragoman's connection, pushes messages, collects ACKs and
    answers dragoman's own calls (any non-ACK message) with AA."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self.acks = {}       # MSA-2 -> list of ACK texts
        self.calls = []      # messages dragoman sent
        self.cv = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        c, _ = self.listener.accept()
        with self.cv:
            self.conn = c
            self.cv.notify_all()
        buf = b""
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\x1c\x0d" in buf:
                raw, buf = buf.split(b"\x1c\x0d", 1)
                text = raw.lstrip(b"\x0b").decode()
                segs = [s for s in text.replace("\n", "\r").split("\r") if s]
                msh = fields(segs[0])
                if msh[8].startswith("ACK"):
                    msa = next(fields(s) for s in segs if s.startswith("MSA"))
                    with self.cv:
                        self.acks.setdefault(msa[2], []).append(text)
                        self.cv.notify_all()
                else:
                    self.calls.append(text)
                    ack = (f"MSH|^~\\&|HIS|HOSP|DRAGOMAN|SIDECAR|20240102||ACK^A01|X{msh[9]}|P|2.5\r"
                           f"MSA|AA|{msh[9]}\r")
                    c.sendall(frame(ack))

    def wait_connected(self, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: self.conn is not None, timeout)
        return self.conn is not None

    def send(self, *texts):
        self.conn.sendall(b"".join(frame(t) for t in texts))

    def wait_acks(self, cid, n=1, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: len(self.acks.get(cid, [])) >= n, timeout)
            return list(self.acks.get(cid, []))

    def close(self):
        for s in (self.conn, self.listener):
            try:
                if s:
                    s.close()
            except OSError:
                pass


def msa(ack_text):
    segs = [s for s in ack_text.split("\r") if s]
    return fields(next(s for s in segs if s.startswith("MSA")))


def msh(ack_text):
    return fields(ack_text.split("\r")[0])


def err(ack_text):
    segs = [s for s in ack_text.split("\r") if s.startswith("ERR")]
    return fields(segs[0]) if segs else []


def metric(http, name):
    status, text = get(http, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def start(host, extra):
    d, ev = serve(PROFILE, [f"127.0.0.1:{host.port}"], extra)
    ok = check("dragoman listening", ev is not None, d.output()[-2000:])
    check("dragoman connected to the host", ok and host.wait_connected(), d.output()[-2000:])
    return d, (ev or {}).get("http")


def delivered_once_checks():
    app = App()
    host = Host()
    # Both modes at once: dragoman connects to this host and listens for others.
    d, http = start(host, ["--deliver", app.url(), "--deliver-timeout-ms", "3000",
                           "--upstream-listen", "127.0.0.1:0"])
    try:
        host.send(admit("MSG001"), admit("MSG002", pid="222", trigger="A08"), lab("LAB001"))
        for cid in ("MSG001", "MSG002", "LAB001"):
            acks = host.wait_acks(cid)
            if check(f"{cid} acknowledged", len(acks) == 1, repr(acks) + d.output()[-1500:]):
                a = msa(acks[0])
                check(f"{cid} ACK is AA with MSA-2 its control id", a[1] == "AA" and a[2] == cid,
                      repr(acks[0]))
        a = host.wait_acks("MSG001")[0]
        h = msh(a)
        check("ACK goes back to the sender (MSH-3..6 swapped), ACK^A01, version echoed",
              h[2:6] == ["LAB", "ELSEWHERE", "ADT1", "GOOD HEALTH HOSPITAL"] and
              h[8] == "ACK^A01" and h[11] == "2.3", repr(a))
        stamp = h[6] if len(h[6]) == 14 and h[6].isdigit() else None
        age = time.time() - calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M%S")) if stamp else None
        check("the ACK's MSH-7 is its own time (UTC, YYYYMMDDHHMMSS), not the message's",
              age is not None and -5 < age < 120, repr(a))
        got = app.ops()
        ops = sorted(o[0] for o in got)
        check("each message delivered once, to URL/{op}",
              ops == ["admit", "lab_result", "update_patient"] and
              all(o[3] == "/hl7/" + o[0] for o in got), repr([(o[0], o[3]) for o in got]))
        by_op = {o[0]: o for o in got}
        if "admit" in by_op:
            _, headers, body, _ = by_op["admit"]
            check("admit fields decoded as JSON",
                  body.get("patient", {}).get("id") == "12345" and
                  body["patient"].get("family") == "DOE" and body["patient"].get("given") == "JANE"
                  and body.get("control_id") == "MSG001" and body.get("sending_application") == "ADT1"
                  and body.get("visit", {}).get("number") == "VMSG001", json.dumps(body))
            check("X-Request-Id and X-Dragoman-Message-Id sent",
                  headers.get("X-Request-Id") and len(headers.get("X-Dragoman-Message-Id", "")) == 16,
                  repr(headers))
        if "lab_result" in by_op:
            body = by_op["lab_result"][2]
            obs = body.get("observations", [])
            check("lab_result observations as an array",
                  len(obs) == 2 and obs[0].get("code") == "2093-3" and obs[0].get("value") == "196"
                  and obs[1].get("value") == "fasting" and
                  body.get("order", {}).get("code") == "24331-1", json.dumps(body))

        # A re-sent control id: the same ACK again, not delivered again.
        first = host.wait_acks("MSG001")[0]
        host.send(admit("MSG001"))
        acks = host.wait_acks("MSG001", 2)
        check("re-sent control id acknowledged twice", len(acks) == 2 and acks[1] == first,
              repr(acks))
        time.sleep(0.3)
        check("re-sent control id delivered once",
              sum(1 for o in app.ops() if o[2].get("control_id") == "MSG001") == 1,
              repr([o[2].get("control_id") for o in app.ops()]))
        check("the duplicate is counted",
              metric(http, "dragoman_upstream_inbound_duplicates_total") == 1)
        admit_ids = [o[1].get("X-Dragoman-Message-Id") for o in app.ops() if o[0] == "admit"]

        # The app's JSON fills the reply.
        app.answer = {"ack_text": "filed as 991"}
        host.send(admit("MSG003"))
        a = host.wait_acks("MSG003")
        check("the app's 2xx JSON fills the ACK (MSA-3)",
              a and msa(a[0])[1] == "AA" and msa(a[0])[3] == "filed as 991", repr(a))
        app.answer = {}

        # The app answering 500: AE with its text.
        app.mode, app.status, app.text = "status", 500, "patient record locked"
        host.send(admit("MSG004"))
        a = host.wait_acks("MSG004")
        check("app 500 gives AE with its text in MSA-3 and ERR-3",
              a and msa(a[0])[1] == "AE" and msa(a[0])[3] == "patient record locked" and
              err(a[0])[3] == "207^patient record locked^HL70357", repr(a))
        # Not remembered as delivered: the re-send is delivered again, with the same message id.
        app.mode = "ok"
        host.send(admit("MSG004"))
        a = host.wait_acks("MSG004", 2)
        check("a failed message re-sent is delivered again and acknowledged AA",
              len(a) == 2 and msa(a[1])[1] == "AA", repr(a))
        ids = [o[1].get("X-Dragoman-Message-Id") for o in app.ops() if o[2].get("control_id") == "MSG004"]
        check("X-Dragoman-Message-Id stable for one message",
              len(ids) == 2 and ids[0] == ids[1] and ids[0] not in admit_ids, repr(ids))

        # A type no operation reads: AR, not delivered.
        n = len(app.ops())
        host.send(admit("MSG005", trigger="A03"))
        a = host.wait_acks("MSG005")
        check("ADT^A03 answered AR (unsupported message type)",
              a and msa(a[0])[1] == "AR", repr(a))
        check("ADT^A03 not delivered", len(app.ops()) == n)

        # Both directions on one connection: a call from the app goes out and is answered.
        status, body, _ = post(http, "admit", {"patient": {"id": "1", "family": "X"}})
        check("a call from the app on the same connection", status == 200 and
              body.get("ack_code") == "AA", repr((status, body)))
        check("inbound metrics", metric(http, "dragoman_upstream_inbound_received_total") == 7 and
              metric(http, "dragoman_upstream_inbound_delivered_total") == 5 and
              metric(http, "dragoman_upstream_inbound_failed_total") == 1,
              repr([metric(http, "dragoman_upstream_inbound_" + k) for k in
                    ("received_total", "delivered_total", "failed_total")]))
        check("delivery latency histogram counts every delivery",
              metric(http, "dragoman_upstream_inbound_delivery_duration_seconds_count") == 6 and
              metric(http, "dragoman_upstream_inbound_delivery_duration_seconds_sum") > 0)
    finally:
        d.stop()
        host.close()
        app.close()
    out = d.output()
    check("a log line per inbound message", out.count('"event":"inbound"') == 6, out[-1500:])


def app_down_checks():
    # Nothing listens on the app's port: AE, nothing delivered. Then no --deliver at all.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    for name, extra in (("app down", ["--deliver", f"http://127.0.0.1:{dead}/hl7"]),
                        ("no --deliver", [])):
        host = Host()
        d, http = start(host, extra)
        try:
            host.send(admit("DOWN1"))
            a = host.wait_acks("DOWN1")
            check(f"{name}: negative answer AE", a and msa(a[0])[1] == "AE" and msa(a[0])[3],
                  repr(a) + d.output()[-1500:])
            check(f"{name}: nothing marked delivered",
                  metric(http, "dragoman_upstream_inbound_delivered_total") == 0 and
                  metric(http, "dragoman_upstream_inbound_failed_total") == 1)
            host.send(admit("DOWN1"))
            a = host.wait_acks("DOWN1", 2)
            check(f"{name}: a re-send is tried again (not a remembered duplicate)",
                  len(a) == 2 and metric(http, "dragoman_upstream_inbound_duplicates_total") == 0)
        finally:
            d.stop()
            host.close()


def app_timeout_checks():
    # The app takes longer than --deliver-timeout-ms: AE saying so, counted as failed; when it
    # answers in time again, the same control id is delivered and acknowledged AA.
    app = App()
    app.mode = "stall"
    host = Host()
    d, http = start(host, ["--deliver", app.url(), "--deliver-timeout-ms", "300"])
    try:
        host.send(admit("SLOW1"))
        a = host.wait_acks("SLOW1")
        check("app timeout: AE naming the delivery timeout",
              a and msa(a[0])[1] == "AE" and "delivery timeout" in msa(a[0])[3], repr(a))
        check("app timeout: counted as failed, not delivered",
              metric(http, "dragoman_upstream_inbound_failed_total") == 1 and
              metric(http, "dragoman_upstream_inbound_delivered_total") == 0)
        app.release.set()
        host.send(admit("SLOW1"))
        a = host.wait_acks("SLOW1", 2)
        check("app timeout: the re-send is delivered once the app answers", len(a) == 2 and
              msa(a[1])[1] == "AA" and metric(http, "dragoman_upstream_inbound_delivered_total") == 1,
              repr(a))
    finally:
        d.stop()
        host.close()
        app.close()


def stalled_app_checks():
    app = App()
    app.mode = "stall"
    host = Host()
    d, http = start(host, ["--deliver", app.url(), "--deliver-timeout-ms", "30000",
                           "--deliver-max-in-flight", "2"])
    try:
        n = 30
        cids = [f"ST{i:03d}" for i in range(n)]
        host.send(*[admit(c) for c in cids])
        deadline = time.time() + 5
        while time.time() < deadline and len(app.ops()) < 2:
            time.sleep(0.02)
        time.sleep(0.5)
        with host.cv:
            acked = sum(len(v) for v in host.acks.values())
        check("stalled app: deliveries held at the bound, nothing acknowledged",
              len(app.ops()) == 2 and app.max_concurrent == 2 and acked == 0,
              f"received {len(app.ops())}, max concurrent {app.max_concurrent}, acked {acked}")
        check("stalled app: in-flight gauge at the bound",
              metric(http, "dragoman_upstream_inbound_in_flight") == 2)
        app.release.set()
        for c in cids:
            host.wait_acks(c, 1, timeout=15)
        with host.cv:
            codes = {c: [msa(a)[1] for a in host.acks.get(c, [])] for c in cids}
        check("after the app returns every message is acknowledged AA once",
              all(v == ["AA"] for v in codes.values()), repr(codes))
        got = sorted(o[2].get("control_id") for o in app.ops())
        check("after the app returns every message delivered exactly once", got == cids, repr(got))
    finally:
        d.stop()
        host.close()
        app.close()


def listen_checks():
    # The host connects in (--upstream-listen): Debian's mllp_send (python3-hl7) sends a file of
    # messages, one connection, each message after the ACK of the one before.
    import shutil
    import subprocess
    import tempfile
    mllp_send = shutil.which("mllp_send") or "/usr/bin/mllp_send"
    if not os.path.exists(mllp_send):
        check("mllp_send is installed (python3-hl7, scripts/setup)", False)
        return
    app = App()
    d, ev = serve(PROFILE, [], ["--upstream-listen", "127.0.0.1:0", "--deliver", app.url()])
    if not check("serve --upstream-listen reports its address",
                 ev is not None and "upstream_listen" in ev, d.output()[-1500:]):
        d.stop()
        app.close()
        return
    http, port = ev["http"], ev["upstream_listen"].rsplit(":", 1)[1]
    work = tempfile.mkdtemp(prefix="dragoman-inbound-")
    try:
        path = os.path.join(work, "messages.hl7")
        with open(path, "w") as f:  # LF between segments, as people write files; --loose
            for text in (admit("L001"), admit("L002", trigger="A08"), lab("L003"), admit("L001"),
                         admit("L004", trigger="A03")):
                f.write(text.replace("\r", "\n") + "\n")
        p = subprocess.run(["/usr/bin/python3", mllp_send, "--loose", "-p", port, "-f", path,
                            "127.0.0.1"], capture_output=True, timeout=30)
        acks = [a for a in p.stdout.decode(errors="replace").replace("\n", "\r").split("MSH|")
                if a.strip()]
        codes = [msa("MSH|" + a)[1:3] for a in acks]
        check("mllp_send: every message acknowledged (AA, AA, AA, AA again, AR for ADT^A03)",
              p.returncode == 0 and codes == [["AA", "L001"], ["AA", "L002"], ["AA", "L003"],
                                              ["AA", "L001"], ["AR", "L004"]],
              repr((p.returncode, codes, p.stderr[-500:])) + d.output()[-1500:])
        got = sorted((o[0], o[2].get("control_id")) for o in app.ops())
        check("mllp_send: each delivered exactly once", got == [
            ("admit", "L001"), ("lab_result", "L003"), ("update_patient", "L002")], repr(got))

        # The README's example, as written there (its printf line, then mllp_send).
        with open(os.path.join(SRC, "README.md")) as f:
            printf = next(line for line in f if line.startswith("printf 'MSH"))
        subprocess.run(["bash", "-c", printf], cwd=work, check=True, timeout=10)
        p = subprocess.run(["/usr/bin/python3", mllp_send, "--loose", "-p", port, "-f",
                            os.path.join(work, "admit.hl7"), "127.0.0.1"], capture_output=True,
                           timeout=30)
        out = p.stdout.decode(errors="replace").replace("\n", "\r")
        body = next((o[2] for o in app.ops() if o[2].get("control_id") == "MSG001"), {})
        check("the README's mllp_send example: MSA|AA|MSG001, delivered as shown",
              "MSA|AA|MSG001" in out and body.get("patient", {}).get("id") == "12345" and
              body["patient"].get("family") == "DOE" and body["patient"].get("given") == "JANE",
              repr((out, body)))
        status, text = get(http, "/admin/upstreams")
        ups = json.loads(text).get("endpoints", [])
        check("/admin/upstreams shows the listened endpoint and its connections",
              any(e.get("mode") == "listen" and e.get("endpoint", "").endswith(":" + port) and
                  len(e.get("connections", [])) == 4 for e in ups), text[:1500])

        # Calls go out on the connection the host opened: a host that stays connected answers.
        host = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        try:
            deadline = time.time() + 5
            status, body = 0, {}
            while time.time() < deadline:
                status, text = get(http, "/admin/upstreams")
                if '"peer"' in text and '"up"' in text:
                    break
                time.sleep(0.05)
            result = {}

            def call():
                result["r"] = post(http, "admit", {"patient": {"id": "9", "family": "OUT"}})
            t = threading.Thread(target=call)
            t.start()
            buf = b""
            while b"\x1c\x0d" not in buf:
                chunk = host.recv(65536)
                if not chunk:
                    break
                buf += chunk
            msg = buf.split(b"\x1c\x0d")[0].lstrip(b"\x0b").decode()
            cid = msg.split("\r")[0].split("|")[9]
            host.sendall(frame(f"MSH|^~\\&|HIS|H|DRAGOMAN|S|20240102||ACK^A01|A{cid}|P|2.5\r"
                               f"MSA|AA|{cid}\r"))
            t.join(10)
            status, body, _ = result.get("r", (0, {}, {}))
            check("a call goes out on the host's connection and gets its ACK",
                  status == 200 and body.get("control_id") == cid and "ADT^A01" in msg,
                  repr((status, body, msg[:200])))
            check("/admin/upstreams shows the host's address on its connection",
                  '"peer":"127.0.0.1:' in get(http, "/admin/upstreams")[1])
        finally:
            host.close()
    finally:
        d.stop()
        app.close()
        shutil.rmtree(work, ignore_errors=True)


def iso_advice_checks():
    # ISO 8583: the host pushes a 0620 advice after dragoman signs on; the app gets it once, the
    # host gets 0630 with response code 00 (96 when the app fails), the same 0630 for a re-send.
    import subprocess
    import struct
    iso = os.path.join(SRC, "profiles", "iso8583-ascii.json")

    def dragoman(args, data):
        from harness import DRAGOMAN
        return subprocess.run([DRAGOMAN] + args, input=data, capture_output=True, timeout=10).stdout

    def decode(payload):
        return json.loads(dragoman(["decode", "--profile", iso],
                                   struct.pack(">H", len(payload)) + payload))

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    app = App()
    d, ev = serve(iso, [f"127.0.0.1:{listener.getsockname()[1]}"],
                  ["--deliver", app.url("/iso")])
    conn = None
    try:
        listener.settimeout(10)
        conn, _ = listener.accept()
        conn.settimeout(10)
        buf = b""

        def next_message():
            nonlocal buf
            while True:
                if len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                    n = struct.unpack(">H", buf[:2])[0]
                    payload, buf = buf[2:2 + n], buf[2 + n:]
                    return decode(payload)
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                buf += chunk

        m = next_message()
        check("iso: dragoman signs on first", m and m.get("operation") == "sign_on", repr(m))
        conn.sendall(dragoman(["encode", "--profile", iso, "--op", "sign_on", "--reply"], json.dumps(
            {"stan": m["fields"]["stan"], "response_code": "00", "transmission_time": "0102030405"}
        ).encode()))
        advice = dragoman(["encode", "--profile", iso, "--op", "advice"], json.dumps(
            {"pan": "4111111111111111", "amount": "1500", "stan": "424242",
             "terminal_id": "TERM0001", "f48": "stand-in approval"}).encode())
        conn.sendall(advice)
        m = next_message()
        f = (m or {}).get("fields", {})
        check("iso: 0620 answered 0630, response code 00, STAN and terminal echoed",
              m and m.get("operation") == "advice" and f.get("mti") == "0630" and
              f.get("response_code") == "00" and f.get("stan") == "424242" and
              f.get("terminal_id") == "TERM0001", repr(m) + d.output()[-1500:])
        got = app.ops()
        check("iso: the advice delivered to URL/advice with its fields",
              len(got) == 1 and got[0][3] == "/iso/advice" and
              got[0][2].get("pan") == "4111111111111111" and got[0][2].get("f48") ==
              "stand-in approval", repr(got))
        conn.sendall(advice)
        m2 = next_message()
        check("iso: a re-sent STAN gets the same 0630, not delivered again",
              m2 == m and len(app.ops()) == 1, repr((m2, len(app.ops()))))
        # The key is STAN and terminal (dedupe_key ["stan","terminal_id"]): another terminal's
        # message with the same STAN is a message of its own.
        conn.sendall(dragoman(["encode", "--profile", iso, "--op", "advice"], json.dumps(
            {"pan": "4111111111111111", "amount": "700", "stan": "424242",
             "terminal_id": "TERM0002", "f48": "stand-in approval"}).encode()))
        m3 = next_message()
        check("iso: the same STAN from another terminal is delivered as a new advice",
              m3 and m3["fields"].get("terminal_id") == "TERM0002" and len(app.ops()) == 2,
              repr((m3, len(app.ops()))))
        app.mode, app.status, app.text = "status", 503, "ledger offline"
        conn.sendall(dragoman(["encode", "--profile", iso, "--op", "advice"], json.dumps(
            {"stan": "424243", "terminal_id": "TERM0001"}).encode()))
        m = next_message()
        check("iso: the app failing gives response code 96",
              m and m["fields"].get("response_code") == "96" and m["fields"].get("stan") == "424243",
              repr(m))
        status, body, _ = post(ev["http"], "advice", {"stan": "1"})
        check("iso: apps cannot call the inbound-only advice",
              status == 404 and body.get("code") == "unknown_operation", repr((status, body)))
        out = d.output()
        check("iso: the PAN is masked in dragoman's log lines", "4111111111111111" not in out)
    finally:
        if conn:
            conn.close()
        listener.close()
        d.stop()
        app.close()


def npm_pusher_checks():
    # An MLLP host built on an npm package (node-hl7-client) pushes lab results on the connection
    # dragoman opened, without waiting for ACKs: delivered the same way.
    app = App()
    ids = [f"NPM{i:03d}" for i in range(5)]
    peer = node_peer("hl7_npm_pusher.cjs", *ids)
    d = None
    try:
        ev = peer.json_line("listening", timeout=15)
        if not check("npm pusher listening", ev is not None, peer.output()[-1000:]):
            return
        d, _ = serve(PROFILE, [f"127.0.0.1:{ev['listening']}"], ["--deliver", app.url()])
        acks = []
        for _ in ids:
            a = peer.json_line("ack", timeout=15)
            if a is None:
                break
            acks.append(a)
        check("npm pusher: every result acknowledged AA with its control id",
              sorted((a["ack"], a["control_id"]) for a in acks) == [("AA", i) for i in ids],
              repr(acks) + (d.output()[-1500:] if d else ""))
        got = sorted((o[0], o[2].get("control_id")) for o in app.ops())
        check("npm pusher: each result delivered once to URL/lab_result",
              got == [("lab_result", i) for i in ids], repr(got))
        values = sorted(o[2]["observations"][0]["value"] for o in app.ops())
        check("npm pusher: the observations decoded", values == [str(190 + i) for i in range(5)],
              repr(values))
    finally:
        if d:
            d.stop()
        peer.stop()
        app.close()


delivered_once_checks()
npm_pusher_checks()
iso_advice_checks()
listen_checks()
app_down_checks()
app_timeout_checks()
stalled_app_checks()
check.finish()
