#!/usr/bin/env python3
"""Inbound messages through the journal (docs/journal.md): with --journal an HL7 message the host
pushes is acknowledged (AA) once it is stored, then delivered to the app (--deliver) until the app
accepts it, with the same X-Dragoman-Message-Id on every attempt: an app answering 500 and then
200; an app that holds the delivery while serve is killed (kill -9) after the host got its ACK,
then, after the restart, the message delivered again with the same id."""
import os
import shutil
import signal
import socket
import tempfile
import threading
import time

from harness import SRC, Checks, get, serve
from inbound_app import App

PROFILE = os.path.join(SRC, "profiles", "hl7v2-mllp.json")
check = Checks()
work = tempfile.mkdtemp(prefix="dragoman-journal-inbound-e2e-")
journal = os.path.join(work, "journal.db")
started = []


def admit(cid, pid="12345"):
    return (f"MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|LAB|ELSEWHERE|20240102030405||ADT^A01|{cid}"
            f"|P|2.3\rEVN|A01|20240102030405\r"
            f"PID|1||{pid}^^^^MR||DOE^JANE^Q||19700101|F\rPV1|1|I|W1^101^A\r")


class Host:
    """Listens for dragoman's connections (a new one after each restart), pushes messages on the
    latest and collects the ACKs by MSA-2."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self.acks = {}
        self.cv = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            with self.cv:
                self.conn = c
                self.cv.notify_all()
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
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
                segs = [s for s in raw.lstrip(b"\x0b").decode().split("\r") if s]
                msh = segs[0].split("|")
                if msh[8].startswith("ACK"):
                    msa = next(s.split("|") for s in segs if s.startswith("MSA"))
                    with self.cv:
                        self.acks.setdefault(msa[2], []).append(msa[1])
                        self.cv.notify_all()

    def wait_connected(self, previous=None, timeout=15):
        with self.cv:
            self.cv.wait_for(lambda: self.conn is not None and self.conn is not previous, timeout)
            return self.conn

    def send(self, text):
        self.conn.sendall(b"\x0b" + text.encode() + b"\x1c\x0d")

    def wait_acks(self, cid, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: cid in self.acks, timeout)
            return list(self.acks.get(cid, []))


def deliveries(app, cid):
    return [o for o in app.ops() if o[2].get("control_id") == cid]


def wait_for(cond, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def start(host, app, previous=None):
    d, ev = serve(PROFILE, [f"127.0.0.1:{host.port}"],
                  ["--deliver", app.url(), "--deliver-timeout-ms", "2000", "--journal", journal])
    started.append(d)
    check("dragoman listening with a journal", ev is not None, d.output()[-2000:])
    check("dragoman connected to the host", host.wait_connected(previous) is not None,
          d.output()[-2000:])
    return d, (ev or {}).get("http")


app = App()
host = Host()
try:
    d, http = start(host, app)

    # 1. The app fails first (500), then accepts.
    app.mode, app.status, app.text = "status", 500, "try later"
    host.send(admit("J001"))
    acks = host.wait_acks("J001")
    check("the host gets AA once the message is stored, whatever the app says",
          acks == ["AA"], repr(acks))
    check("the app was tried and refused it",
          wait_for(lambda: len(deliveries(app, "J001")) >= 1), repr(app.ops()))
    app.mode = "ok"
    check("it is delivered again until the app accepts it",
          wait_for(lambda: len(deliveries(app, "J001")) >= 2), repr(app.ops()))
    time.sleep(1.5)  # nothing more once accepted
    got = deliveries(app, "J001")
    ids = {o[1].get("X-Dragoman-Message-Id") for o in got}
    check("exactly two deliveries: the refused one and the accepted one", len(got) == 2,
          repr([o[1] for o in got]))
    check("with the same X-Dragoman-Message-Id", len(ids) == 1 and None not in ids, repr(ids))
    check("the host was answered once", host.acks.get("J001") == ["AA"], repr(host.acks))
    first_id = next(iter(ids)) if ids else None

    # 2. kill -9 after the host got its ACK, before the app accepted.
    app.release.clear()
    app.mode = "stall"
    host.send(admit("J002", pid="222"))
    acks = host.wait_acks("J002")
    check("J002 acknowledged AA while the app holds it", acks == ["AA"], repr(acks))
    check("the app has it (and has not answered)",
          wait_for(lambda: len(deliveries(app, "J002")) == 1), repr(app.ops()))
    before = deliveries(app, "J002")[0][1].get("X-Dragoman-Message-Id") if deliveries(app, "J002") else None
    previous = host.conn
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=10)
    app.mode = "ok"
    app.release.set()
    d2, http2 = start(host, app, previous)
    check("after the restart the message is delivered again",
          wait_for(lambda: len(deliveries(app, "J002")) >= 2), repr([o[2] for o in app.ops()]))
    again = [o[1].get("X-Dragoman-Message-Id") for o in deliveries(app, "J002")]
    check("with the X-Dragoman-Message-Id it had before the crash",
          before and all(i == before for i in again) and before != first_id, repr(again))
    check("the restart says it took the inbound message back",
          "journal_recovered_inbound" in d2.output(), d2.output()[-2000:])
    time.sleep(1.0)
    check("J001, accepted before the crash, is not delivered again",
          len(deliveries(app, "J001")) == 2, repr([o[2].get("control_id") for o in app.ops()]))
    check("the host was not asked again: one ACK for J002", host.acks.get("J002") == ["AA"],
          repr(host.acks))
    status, metrics = get(http2, "/metrics")
    check("metrics count the delivery", "dragoman_journal_inbound_delivered_total 1" in metrics,
          metrics[-2000:])
finally:
    for p in started:
        p.kill()
    app.close()
    shutil.rmtree(work, ignore_errors=True)

check.finish()
