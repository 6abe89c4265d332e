#!/usr/bin/env python3
"""Protecting a fragile host (issue 12, part 6). A small host written here records when each
message arrives and holds purchase replies for a while. `dragoman serve` in front of it paces
balances (upstream.pacing) and serializes purchases by terminal_id: the host sees at most the rate
plus the burst in any window while every call succeeds; never two purchases of one terminal in
flight while other terminals' proceed; --pacing-rate paces every message to the endpoint; a call
whose turn would come after its deadline gets 504 upstream_timeout; /metrics and
/admin/upstreams show the queues and waits."""
import json
import os
import socket
import tempfile
import threading
import time

from harness import Checks, get, post, serve

check = Checks()
HOLD = 0.2  # seconds the host holds a purchase's reply

PROFILE = {
    "name": "paced-terminals",
    "framing": {"type": "delimiter", "delimiters": "\n", "max_frame_length": 1024},
    "correlation": {"mode": "field", "field": "ref"},
    "upstream": {"connections": 2,
                 "pacing": {"queue": 100, "operations": {"balance": {"rate": 20, "burst": 5}}}},
    "operations": {
        "balance": {
            "idempotent": True,
            "request": {"layout": "delimited", "separator": "|", "match": {"op": "BAL"}, "fields": [
                {"name": "op", "value": "BAL"},
                {"name": "ref", "generate": "counter", "width": 8},
                {"name": "account", "from": "account", "required": True}]},
            "reply": {"layout": "delimited", "separator": "|", "match": {"op": "BAR"}, "fields": [
                {"name": "op"}, {"name": "ref"}, {"name": "result", "to": "result"}],
                "result": {"field": "result", "success": ["00"]}}},
        "purchase": {
            "serialize_by": ["terminal_id"],
            "timeout_ms": 10000,
            "request": {"layout": "delimited", "separator": "|", "match": {"op": "PUR"}, "fields": [
                {"name": "op", "value": "PUR"},
                {"name": "ref", "generate": "counter", "width": 8},
                {"name": "terminal_id", "from": "terminal_id", "required": True},
                {"name": "amount", "from": "amount", "required": True}]},
            "reply": {"layout": "delimited", "separator": "|", "match": {"op": "PUA"}, "fields": [
                {"name": "op"}, {"name": "ref"}, {"name": "result", "to": "result"}],
                "result": {"field": "result", "success": ["00"]}}},
    },
}


class Host:
    """Answers BAL at once and PUR after HOLD seconds; records arrivals and purchases in flight
    per terminal."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.arrivals = []  # (time, op, terminal)
        self.in_flight = {}
        self.most_in_flight = {}
        self.most_in_flight_total = 0
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def reset(self):
        with self.lock:
            self.arrivals = []
            self.most_in_flight = {}
            self.most_in_flight_total = 0

    def accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        write = threading.Lock()

        def send(line):
            with write:
                try:
                    conn.sendall(line.encode() + b"\n")
                except OSError:
                    pass

        def purchase_done(ref, terminal):
            with self.lock:
                self.in_flight[terminal] -= 1
            send(f"PUA|{ref}|00")

        buf = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                f = raw.decode().split("|")
                now = time.monotonic()
                if f[0] == "BAL":
                    with self.lock:
                        self.arrivals.append((now, "BAL", None))
                    send(f"BAR|{f[1]}|00")
                elif f[0] == "PUR":
                    terminal = f[2]
                    with self.lock:
                        self.arrivals.append((now, "PUR", terminal))
                        n = self.in_flight.get(terminal, 0) + 1
                        self.in_flight[terminal] = n
                        self.most_in_flight[terminal] = max(self.most_in_flight.get(terminal, 0), n)
                        total = sum(self.in_flight.values())
                        self.most_in_flight_total = max(self.most_in_flight_total, total)
                    t = threading.Timer(HOLD, purchase_done, args=(f[1], terminal))
                    t.daemon = True
                    t.start()

    def times(self, op):
        with self.lock:
            return sorted(t for t, o, _ in self.arrivals if o == op)


def most_in_window(times, window):
    best, i = 0, 0
    for j in range(len(times)):
        while times[j] - times[i] >= window:
            i += 1
        best = max(best, j - i + 1)
    return best


def concurrent(http, calls, timeout_ms=10000):
    results = [None] * len(calls)

    def one(i):
        op, body = calls[i]
        results[i] = post(http, op, body, {"Request-Timeout": str(timeout_ms)}, timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_ready(http):
    deadline = time.time() + 15
    while get(http, "/readyz")[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    return get(http, "/readyz")[0] == 200


host = Host()
fd, profile = tempfile.mkstemp(suffix=".json")
with os.fdopen(fd, "w") as f:
    json.dump(PROFILE, f)
servers = []
try:
    srv, listening = serve(profile, [f"127.0.0.1:{host.port}"])
    servers.append(srv)
    check("serve: listening", listening is not None, srv.output())
    http = listening["http"]
    check("serve: ready", wait_ready(http), srv.output())

    # Pacing: 40 balances at once; 20/s with a burst of 5 at the host, and all succeed.
    results = concurrent(http, [("balance", {"account": str(i)}) for i in range(40)])
    codes = [r[0] if r else None for r in results]
    check("40 paced balances all succeed", codes == [200] * 40, codes)
    times = host.times("BAL")
    check("the host saw 40 balances", len(times) == 40, len(times))
    span = times[-1] - times[0] if times else 0
    check("they were spread at the rate ((40 - 5) / 20 s = 1.75 s at least, less a little)",
          span >= 1.6, span)
    worst = most_in_window(times, 1.0)
    check("at most burst + rate (5 + 20) in any second at the host (one more for jitter)",
          worst <= 26, worst)
    check("at most burst + rate × 0.25 s (5 + 5) in any quarter second (one more for jitter)",
          most_in_window(times, 0.25) <= 11, most_in_window(times, 0.25))

    # serialize_by: 3 terminals × 4 purchases at once; the host holds each reply 0.2 s.
    host.reset()
    calls = [("purchase", {"terminal_id": f"T{t}", "amount": "1.00"}) for _ in range(4)
             for t in range(3)]
    started = time.monotonic()
    results = concurrent(http, calls)
    elapsed = time.monotonic() - started
    codes = [r[0] if r else None for r in results]
    check("12 serialized purchases all succeed", codes == [200] * 12, (codes, srv.output()[-2000:]))
    check("never two purchases of one terminal in flight at the host",
          host.most_in_flight and max(host.most_in_flight.values()) == 1, host.most_in_flight)
    check("other terminals proceed meanwhile (3 in flight at once)",
          host.most_in_flight_total == 3, host.most_in_flight_total)
    check("each terminal's 4 purchases one after another (>= 4 × 0.2 s), terminals in parallel "
          "(< 12 × 0.2 s)", 4 * HOLD * 0.95 <= elapsed < 12 * HOLD, elapsed)

    status, text = get(http, "/metrics")
    waited = metric(text, "dragoman_upstream_pacing_wait_seconds_count")
    check("/metrics: pacing waits counted", waited is not None and waited >= 30, waited)
    serial = metric(text, "dragoman_upstream_serialize_wait_seconds_count")
    check("/metrics: serialize_by waits counted", serial is not None and serial >= 9, serial)
    check("/metrics: queue gauges present",
          metric(text, "dragoman_upstream_pacing_queued") == 0 and
          metric(text, "dragoman_upstream_serialize_queued") == 0, text[:400])
    status, body = get(http, "/admin/upstreams")
    ep = json.loads(body)["endpoints"][0] if status == 200 else {}
    pacing = ep.get("pacing") or {}
    check("/admin/upstreams shows the endpoint's pacing",
          pacing.get("operations", {}).get("balance", {}).get("rate") == 20, ep)
    srv.stop()

    # --pacing-rate: every message to the endpoint at 10/s, burst 2 (on top of balance's 20/s).
    host.reset()
    srv, listening = serve(profile, [f"127.0.0.1:{host.port}"],
                           ["--pacing-rate", "10", "--pacing-burst", "2"])
    servers.append(srv)
    http = listening["http"] if listening else None
    check("serve --pacing-rate: ready", http is not None and wait_ready(http), srv.output())
    calls = [("purchase", {"terminal_id": f"T{i}", "amount": "1.00"}) for i in range(12)]
    results = concurrent(http, calls)
    codes = [r[0] if r else None for r in results]
    check("12 purchases of 12 terminals all succeed under --pacing-rate", codes == [200] * 12,
          codes)
    times = host.times("PUR")
    span = times[-1] - times[0] if len(times) == 12 else 0
    check("they reached the host at 10/s after a burst of 2 ((12 - 2) / 10 s = 1 s, less a "
          "little)", span >= 0.9, span)
    check("at most 2 + 10 × 0.5 in any half second (one more for jitter)",
          most_in_window(times, 0.5) <= 8, most_in_window(times, 0.5))
    # A long queue now, and a call whose turn would come after its deadline.
    host.reset()
    results = {}

    def many():
        results["many"] = concurrent(http, [("balance", {"account": str(i)}) for i in range(20)])

    t = threading.Thread(target=many)
    t.start()
    time.sleep(0.2)
    status, answer, _ = post(http, "balance", {"account": "late"}, {"Request-Timeout": "300"})
    check("a call whose pacing turn is after its deadline: 504 upstream_timeout, not sent",
          status == 504 and answer.get("code") == "upstream_timeout" and not answer.get("sent"),
          (status, answer))
    t.join(timeout=60)
    codes = [r[0] if r else None for r in results.get("many", [])]
    check("the queued balances all succeed", codes == [200] * 20, codes)
    status, text = get(http, "/metrics")
    late = metric(text, "dragoman_upstream_pacing_too_late_total")
    check("/metrics: the late call counted", late is not None and late >= 1, late)
finally:
    for s in servers:
        s.kill()
    host.closed = True
    host.sock.close()
    os.unlink(profile)
check.finish()
