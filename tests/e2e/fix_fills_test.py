#!/usr/bin/env python3
# End-to-end test of profiles/fix44.json's later ExecutionReports: QuickFIX's executor example
# sends one fill per order, so this peer (a small FIX acceptor written here, loopback, port 0)
# answers an order with a partial fill, then a second ExecutionReport filling it, then that second
# report once more. Checked: the order's call is answered by the first report; the second is
# delivered to the app (--deliver) as an `execution_report` inbound message with the JSON names of
# the profile, exactly once (the copy has the same ExecID); nothing is written back for it.
import os
import re
import shutil
import socket
import tempfile
import threading
import time

from harness import SRC, Checks, post, serve
from inbound_app import App

PROFILE = os.path.join(SRC, "profiles", "fix44.json")
SOH = "\x01"
END = re.compile(rb"\x0110=\d{3}\x01")


def frame(fields):
    body = "".join("%s=%s%s" % (t, v, SOH) for t, v in fields)
    msg = "8=FIX.4.4" + SOH + "9=%d" % len(body) + SOH + body
    return (msg + "10=%03d" % (sum(msg.encode()) % 256) + SOH).encode()


def parse(raw):
    out = {}
    for part in raw.decode().split(SOH):
        if "=" in part:
            k, v = part.split("=", 1)
            out.setdefault(k, v)
    return out


class Peer:
    """A FIX acceptor: Logon, Logout and Heartbeat answered; an order filled in two reports."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.seq = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.run, daemon=True).start()

    def send(self, conn, msg_type, fields):
        self.seq += 1
        head = [("35", msg_type), ("49", "EXECUTOR"), ("56", "DRAGOMAN"), ("34", self.seq),
                ("52", time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()))]
        conn.sendall(frame(head + fields))

    def run(self):
        conn, _ = self.sock.accept()
        conn.settimeout(60)
        buf = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                m = END.search(buf)
                if not m:
                    break
                msg, buf = parse(buf[:m.end()]), buf[m.end():]
                with self.lock:
                    self.received.append(msg)
                kind = msg.get("35")
                if kind == "A":
                    self.send(conn, "A", [("98", "0"), ("108", "30")])
                elif kind == "1":
                    self.send(conn, "0", [("112", msg.get("112", ""))])
                elif kind == "5":
                    self.send(conn, "5", [])
                elif kind == "D":
                    cl = msg.get("11")
                    common = [("37", "O-" + cl), ("11", cl), ("55", "IBM"), ("54", "1"),
                              ("38", "100"), ("40", "2"), ("44", "101.5")]
                    self.send(conn, "8", common + [("17", "E-%s-1" % cl), ("150", "F"),
                                                   ("39", "1"), ("32", "40"), ("31", "101.5"),
                                                   ("151", "60"), ("14", "40"), ("6", "101.5")])
                    fill = [("17", "E-%s-2" % cl), ("150", "F"), ("39", "2"), ("32", "60"),
                            ("31", "101.5"), ("151", "0"), ("14", "100"), ("6", "101.5")]
                    self.send(conn, "8", common + fill)
                    self.send(conn, "8", common + fill)  # the same report once more

    def types(self):
        with self.lock:
            return [m.get("35") for m in self.received]

    def close(self):
        self.sock.close()


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def main():
    check = Checks()
    tmp = tempfile.mkdtemp(prefix="dragoman-fills-")
    peer, app, dragoman = Peer(), App(), None
    try:
        dragoman, ev = serve(PROFILE, ["127.0.0.1:%d" % peer.port],
                             ["--upstream-connections", "1", "--deliver", app.url("/fix"),
                              "--session-state", os.path.join(tmp, "session.json")])
        if not check("dragoman listens", ev is not None, dragoman and dragoman.output()):
            return check.finish()
        http = ev["http"]
        check("dragoman signs on", wait_for(lambda: '"event":"sign_on"' in dragoman.output(), 15),
              dragoman.output())
        st, body, _ = post(http, "new_order_single",
                           {"cl_ord_id": "ORD1", "symbol": "IBM", "side": "buy", "order_qty": 100,
                            "ord_type": "limit", "price": 101.5})
        check("the order is answered by its first ExecutionReport (a partial fill)",
              st == 200 and body.get("exec_id") == "E-ORD1-1" and
              body.get("ord_status") == "partially_filled" and body.get("cum_qty") == 40,
              (st, body))
        check("the later fill is delivered to the app as execution_report",
              wait_for(lambda: len(app.ops()) >= 1, 10), app.ops())
        got = app.ops()
        first = got[0] if got else (None, {}, {}, "")
        data = first[2]
        check("with the profile's JSON names and words", first[0] == "execution_report" and
              data.get("cl_ord_id") == "ORD1" and data.get("exec_id") == "E-ORD1-2" and
              data.get("ord_status") == "filled" and data.get("exec_type") == "trade" and
              data.get("cum_qty") == 100 and data.get("leaves_qty") == 0 and
              data.get("side") == "buy", first)
        dup = dragoman.json_line("event", 10, lambda o: o.get("event") == "inbound_duplicate")
        check("the copy with the same ExecID is not delivered twice", dup is not None and
              len(app.ops()) == 1, (dup, app.ops()))
        time.sleep(0.3)
        check("nothing is written back for the reports",
              [t for t in peer.types() if t not in ("A", "D", "1", "0")] == [], peer.types())
        out = dragoman.output()
        check("no unmatched reply, no gap", "unmatched_reply" not in out and
              "sequence_gap" not in out, out[-2000:])
        dragoman.stop()
    finally:
        if dragoman is not None:
            dragoman.kill()
        app.close()
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return check.finish()


if __name__ == "__main__":
    raise SystemExit(main())
