#!/usr/bin/env python3
"""End-to-end resilience: `dragoman serve` with two upstream endpoints (priority 0 and 1), each a
`dragoman simulate` behind our fault proxy (tests/tools/fault_proxy.py), under refused, dead,
blackholed, slow, cut, reset and corrupted connections and SIGTERM with calls in flight.

What every scenario holds dragoman to: every call is answered exactly once, in time, with a code
allowed for the fault; the legacy host never sees a transfer (not idempotent) twice — counted at
the proxies, which decode every acme-core request they forward; failover, ejection, probing and
recovery happen; file descriptors and memory come back once the faults stop.

Run by CTest with DRAGOMAN=<binary> and DRAGOMAN_SOURCE_DIR=<source tree>; standard library only.
Every scenario starts fresh processes, every wait has a deadline, and only processes started here
are stopped (by pid, in finally blocks). Loopback only."""

import http.client
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

DRAGOMAN = os.environ.get("DRAGOMAN", "dragoman")
SOURCE = os.environ.get("DRAGOMAN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PROFILE = os.path.join(SOURCE, "profiles", "acme-core.json")
FAULT_PROXY = os.path.join(SOURCE, "tests", "tools", "fault_proxy.py")

CONNECT_TIMEOUT_MS = 300
BREAKER_FAILURES = 3
BREAKER_COOLDOWN_MS = 1000
MARGIN = 0.3  # seconds of slack on timings, for a loaded CI machine

OK = "ok"
results = {"passed": 0, "failed": 0}
TMP = tempfile.mkdtemp(prefix="dragoman-resilience-")


# ---- plumbing -----------------------------------------------------------------------------------

class Proc:
    """A child process whose stdout lines are collected by a thread, so reads can time out."""

    def __init__(self, args, name):
        self.args, self.name = args, name
        self.err_path = os.path.join(TMP, "%s-%d.stderr" % (name, time.monotonic_ns()))
        self.err = open(self.err_path, "wb")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def stderr_tail(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def next_line(self, timeout):
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise RuntimeError("%s exited early (rc=%s): %s" % (self.name, self.p.poll(),
                                                                  self.stderr_tail()))
        self.seen.append(line)
        return line

    def wait_json(self, pred, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("%s: no expected line within %ss" % (self.name, timeout))
            try:
                obj = json.loads(self.next_line(left))
            except ValueError:
                continue
            if pred(obj):
                return obj

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.err.close()


def check(name, fn, *args):
    try:
        fn(*args)
        results["passed"] += 1
        print("PASS", name, flush=True)
        return True
    except Exception:  # noqa: BLE001 - a failed check is reported, never fatal to the rest
        results["failed"] += 1
        print("FAIL", name, flush=True)
        traceback.print_exc(file=sys.stdout)
        return False


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def hostport(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def request(addr, method, path, body=None, headers=None, timeout=10):
    host, port = hostport(addr)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            obj = json.loads(raw) if raw else None
        except ValueError:
            obj = raw.decode("utf-8", "replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, obj
    finally:
        conn.close()


def timed_call(addr, op, data, timeout_ms):
    """One HTTP call; (code, seconds, status, headers, body). code is "ok" on 2xx."""
    t0 = time.monotonic()
    status, h, body = request(addr, "POST", "/v1/ops/" + op, data,
                              {"Request-Timeout": str(timeout_ms)}, timeout=timeout_ms / 1000 + 10)
    elapsed = time.monotonic() - t0
    code = OK if 200 <= status < 300 else (body.get("code") if isinstance(body, dict) else None)
    return code, elapsed, status, h, body


class FaultProxy:
    def __init__(self, target):
        self.proc = Proc([sys.executable, FAULT_PROXY, "--target", target], "fault_proxy")
        info = self.proc.wait_json(lambda o: "listening" in o, timeout=10)
        self.port, self.control = info["listening"], info["control"]
        self.address = "127.0.0.1:%d" % self.port

    def ctl(self, command):
        with socket.create_connection(("127.0.0.1", self.control), timeout=5) as s:
            s.sendall(command.encode() + b"\n")
            f = s.makefile("rb")
            answer = json.loads(f.readline())
        if not answer.get("ok"):
            raise RuntimeError("fault proxy %r: %s" % (command, answer))
        return answer

    def stats(self):
        return self.ctl("stats")

    def seen(self, tx):
        return self.stats()["requests"].get(tx, 0)


class Rig:
    """Two simulators, each behind a fault proxy, and a `serve` with both as endpoints:
    px[0] has priority 0 (the primary), px[1] priority 1."""

    def __init__(self, serve_flags=(), rules=None):
        self.procs = []
        self.sims, self.px, self.serve = [], [], None
        try:
            sim_args = [DRAGOMAN, "simulate", "--profile", PROFILE, "--listen", "127.0.0.1:0"]
            if rules is not None:
                path = os.path.join(TMP, "rules-%d.json" % time.monotonic_ns())
                with open(path, "w") as f:
                    json.dump(rules, f)
                sim_args += ["--responses", path]
            for i in range(2):
                sim = Proc(sim_args, "simulate%d" % i)
                self.procs.append(sim)
                self.sims.append(sim.wait_json(lambda o: o.get("event") == "listening")["simulate"])
            for i in range(2):
                px = FaultProxy(self.sims[i])
                self.procs.append(px.proc)
                self.px.append(px)
            flags = {"--connect-timeout-ms": str(CONNECT_TIMEOUT_MS),
                     "--breaker-failures": str(BREAKER_FAILURES),
                     "--breaker-cooldown-ms": str(BREAKER_COOLDOWN_MS),
                     "--upstream-connections": "1"}
            extra = list(serve_flags)
            for k in list(flags):
                if k in extra:
                    del flags[k]
            args = [DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0",
                    "--line", "127.0.0.1:0",
                    "--upstream", "%s;priority=0" % self.px[0].address,
                    "--upstream", "%s;priority=1" % self.px[1].address]
            for k, v in flags.items():
                args += [k, v]
            self.serve = Proc(args + extra, "serve")
            self.procs.append(self.serve)
            listening = self.serve.wait_json(lambda o: o.get("event") == "listening")
            self.http, self.line = listening["http"], listening["line"]
            self.pid = self.serve.p.pid
            self.wait_ready()
        except BaseException:
            self.close()
            raise

    def wait_ready(self, timeout=10):
        """Ready, and every endpoint has a signed-on connection: at cold start the secondary may
        connect first and rightly take calls, which a healthy-routing check must not see."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if request(self.http, "GET", "/readyz")[0] == 200:
                eps = self.endpoints()
                if eps is None or (len(eps) == len(self.px) and all(
                        any(c.get("state") == "up" for c in e.get("connections", []))
                        for e in eps.values())):
                    return
            time.sleep(0.05)
        raise TimeoutError("/readyz never became 200 with every endpoint connected")

    def wait_no_connection_up(self, timeout=10):
        """No endpoint has a connection up: dragoman has seen the hosts go, so a call now cannot
        be written anywhere (before that, a call may still go to a connection being cut)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            eps = self.endpoints()
            if eps is not None and not any(
                    c.get("state") == "up" for e in eps.values() for c in e.get("connections", [])):
                return
            time.sleep(0.05)
        raise TimeoutError("a connection stayed up after the hosts went down")

    def close(self):
        for p in reversed(self.procs):  # serve first, then proxies, then simulators
            p.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def all_transfers(self):
        """Transfer request -> times the hosts saw it, summed over both endpoints."""
        total = {}
        for px in self.px:
            for k, v in px.stats()["tracked"].items():
                total[k] = total.get(k, 0) + v
        return total

    def endpoints(self):
        """/admin/upstreams as {proxy index: endpoint object}, or None when not served."""
        try:
            status, _, body = request(self.http, "GET", "/admin/upstreams", timeout=5)
        except OSError:
            return None
        if status != 200 or not isinstance(body, dict):
            return None
        out = {}
        for e in body.get("endpoints", []):
            for i, px in enumerate(self.px):
                if ":%d" % px.port in str(e.get("endpoint", "")):
                    out[i] = e
        return out


class LineCaller:
    """One line-door connection; a thread collects every answer with its arrival time."""

    def __init__(self, addr):
        self.sock = socket.create_connection(hostport(addr), timeout=10)
        self.sock.settimeout(None)
        self.lock = threading.Lock()
        self.sent = {}  # id -> (op, data, timeout_ms, sent_at)
        self.answers = {}  # id -> [(answer, at)]
        self.strays = []
        self.closed_at = None
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        buf = b""
        f = self.sock
        while True:
            try:
                chunk = f.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed_at = time.monotonic()
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                at = time.monotonic()
                try:
                    a = json.loads(line)
                    with self.lock:
                        self.answers.setdefault(a.get("id"), []).append((a, at))
                except ValueError:
                    self.strays.append(line)

    def call(self, cid, op, data, timeout_ms):
        with self.lock:
            self.sent[cid] = (op, data, timeout_ms, time.monotonic())
        self.sock.sendall(json.dumps({"id": cid, "op": op, "data": data,
                                      "timeout_ms": timeout_ms}).encode() + b"\n")

    def wait_all(self, extra=1.0, cap=30.0):
        """Until every call has an answer or its deadline + extra has passed."""
        end_cap = time.monotonic() + cap
        while time.monotonic() < end_cap:
            with self.lock:
                missing = [c for c, (_, _, tmo, at) in self.sent.items()
                           if c not in self.answers and time.monotonic() < at + tmo / 1000 + extra]
                pending = [c for c in self.sent if c not in self.answers]
            if not missing or not pending:
                return
            time.sleep(0.02)

    def close(self):
        # shutdown first: close() alone does not end a recv() blocked in the reader thread, and
        # the connection would stay open until it returned
        for step in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                step()
            except OSError:
                pass
        self.t.join(timeout=2)


def code_of(answer):
    return OK if answer.get("ok") else (answer.get("error") or {}).get("code")


def summarize(callers):
    """{(op, code): count} over every answer, for the log."""
    out = {}
    for c in callers:
        with c.lock:
            for cid, got in c.answers.items():
                op = c.sent.get(cid, ("?",))[0]
                key = "%s %s" % (op, code_of(got[0][0]))
                out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def verify_answers(callers, allowed, extra=1.0):
    """Every call answered exactly once, within its deadline + extra, with an allowed code.
    Returns {id: (op, code, answer)}."""
    out, problems = {}, []
    for c in callers:
        with c.lock:
            for cid, (op, data, tmo, at) in c.sent.items():
                got = c.answers.get(cid, [])
                if not got:
                    problems.append("%s (%s) unanswered" % (cid, op))
                    continue
                if len(got) > 1:
                    problems.append("%s answered %d times: %s" % (cid, len(got),
                                                                  [g[0] for g in got]))
                a, when = got[0]
                if when - at > tmo / 1000 + extra:
                    problems.append("%s answered %.3f s after sending (deadline %d ms)" % (
                        cid, when - at, tmo))
                code = code_of(a)
                if code not in allowed.get(op, allowed.get("*", ())):
                    problems.append("%s (%s): code %r not allowed: %s" % (cid, op, code, a))
                if "attempts" not in a:
                    problems.append("%s: no attempts in %s" % (cid, a))
                out[cid] = (op, code, a)
            for cid in c.answers:
                if cid not in c.sent:
                    problems.append("answer for unknown id %r" % (cid,))
            if c.strays:
                problems.append("lines that are not JSON: %r" % c.strays[:3])
    expect(not problems, "%d problems: %s" % (len(problems), "; ".join(problems[:12])))
    return out


def account(n):
    return "%012d" % n


def transfer_data(n):
    # from-account and amount unique per transfer, so a duplicate at the host is recognisable
    return {"from": account(500000000 + n), "to": account(777), "amount": "%d.%02d" % (n, n % 100)}


def transfer_key(n):
    d = transfer_data(n)
    units, cents = d["amount"].split(".")
    return "XFRQ " + d["from"] + d["to"] + "%013d" % (int(units) * 100 + int(cents))


def run_traffic(callers, seconds, on_tick=None, tag="c", balance_ms=800, transfer_ms=1500,
                period=0.02):
    """Paced concurrent balance and transfer calls on every caller for `seconds`; on_tick(i)
    runs from the driver thread between calls. Returns the number of transfers sent."""
    stop = time.monotonic() + seconds
    counter = {"n": 0, "xfr": 0}
    lock = threading.Lock()

    def drive(k, c):
        while time.monotonic() < stop:
            with lock:
                n = counter["n"]
                counter["n"] += 1
            try:
                if n % 2:
                    c.call("%s%d" % (tag, n), "transfer", transfer_data(n), transfer_ms)
                else:
                    c.call("%s%d" % (tag, n), "balance", {"account": account(n)}, balance_ms)
            except OSError:
                return
            time.sleep(period)

    threads = [threading.Thread(target=drive, args=(k, c), daemon=True)
               for k, c in enumerate(callers)]
    for t in threads:
        t.start()
    i = 0
    while time.monotonic() < stop:
        if on_tick:
            on_tick(i)
        i += 1
        time.sleep(0.05)
    for t in threads:
        t.join(timeout=5)
    return counter["n"]


def no_duplicate_transfers(rig, answered):
    seen = rig.all_transfers()
    dups = {k: v for k, v in seen.items() if v > 1}
    expect(not dups, "the hosts saw %d transfers more than once: %s" % (len(dups),
                                                                       list(dups.items())[:5]))
    # a transfer answered ok was executed exactly once
    for cid, (op, code, _) in answered.items():
        if op == "transfer" and code == OK:
            n = int(cid.lstrip("abcdefghijklmnopqrstuvwxyz"))
            expect(seen.get(transfer_key(n)) == 1,
                   "transfer %s answered ok but seen %s times" % (cid, seen.get(transfer_key(n))))


def never_misreported(rig, answered):
    """No answer invites a retry of what a host may have acted on: every error answer says
    `sent`; a 503 (upstream_unavailable, overloaded) only with sent false; a transfer a host saw
    is answered ok or with sent true (the proxies count what they wrote to the hosts)."""
    seen = rig.all_transfers()
    problems = []
    for cid, (op, code, a) in answered.items():
        if code == OK:
            continue
        sent = (a.get("error") or {}).get("sent")
        if not isinstance(sent, bool):
            problems.append("%s: no sent in %s" % (cid, a))
        elif code in ("upstream_unavailable", "overloaded") and sent:
            problems.append("%s: %s with sent true" % (cid, code))
        if op == "transfer":
            times = seen.get(transfer_key(int(cid.lstrip("abcdefghijklmnopqrstuvwxyz"))), 0)
            if times and sent is not True:
                problems.append("%s: the host saw it, answered %s sent %s" % (cid, code, sent))
    expect(not problems, "%d misreported: %s" % (len(problems), "; ".join(problems[:8])))


def describe_endpoints(rig):
    eps = rig.endpoints() or {}
    return {("primary", "secondary")[i]: {k: e.get(k) for k in ("breaker", "last_error")}
            for i, e in sorted(eps.items())}


def calls_succeed_again(rig, tries=60):
    """After the faults stop a balance and a transfer succeed (within the breaker's cool-down)."""
    last = None
    for i in range(tries):
        code, _, _, _, body = timed_call(rig.http, "balance", {"account": account(4242)}, 800)
        if code == OK:
            code, _, _, _, body = timed_call(rig.http, "transfer", transfer_data(900000 + i), 1500)
            if code == OK:
                return
        last = body
        time.sleep(0.1)
    raise AssertionError("calls still fail after the faults stopped: %s" % (last,))


# ---- scenarios ----------------------------------------------------------------------------------

def failover_scenario(fault):
    """(1) the primary dies ("down": connects refused; "refuse": accepted then reset; "stall":
    connects hang until the connect timeout): calls succeed via the secondary, the first within
    one connect timeout of the fault."""
    name = "failover[%s]" % fault
    with Rig() as rig:
        p, s = rig.px

        def warm():
            for i in range(10):
                code, _, _, h, body = timed_call(rig.http, "balance", {"account": account(i)}, 800)
                expect(code == OK, body)
                expect(h.get("x-dragoman-attempts") == "1", h)
            expect(p.seen("BALQ") == 10 and s.seen("BALQ") == 0,
                   "healthy: primary saw %d, secondary %d of 10" % (p.seen("BALQ"),
                                                                    s.seen("BALQ")))

        if not check(name + ": healthy calls go to the priority-0 endpoint", warm):
            return
        if fault == "down":
            p.ctl("down")  # closes the listener and resets the open connections
        else:
            p.ctl(fault)  # refuse: accept and reset; stall: connects hang (SYNs dropped)
            p.ctl("reset")
        t0 = time.monotonic()
        # Let dragoman see its connection die first: the call must find the primary without a
        # connection, not race the reset on the old one (which a retry would hide).
        time.sleep(0.1)

        def first_call():
            code, elapsed, status, h, body = timed_call(rig.http, "balance",
                                                        {"account": account(100)}, 2000)
            since = time.monotonic() - t0
            expect(code == OK, (status, body))
            expect(since <= CONNECT_TIMEOUT_MS / 1000 + MARGIN,
                   "first call answered %.3f s after the fault (attempts %s; endpoints %s)" % (
                       since, h.get("x-dragoman-attempts"), describe_endpoints(rig)))
            expect(s.seen("BALQ") == 1, "secondary saw %d" % s.seen("BALQ"))

        check(name + ": first call after the fault succeeds via the secondary within one "
              "connect timeout", first_call)

        def burst():
            before = s.seen("BALQ")
            c = LineCaller(rig.line)
            try:
                for i in range(20):
                    c.call("b%d" % i, "balance", {"account": account(200 + i)}, 1000)
                    c.call("x%d" % i, "transfer", transfer_data(i), 2000)
                c.wait_all()
                print("   burst answers:", summarize([c]), describe_endpoints(rig), flush=True)
                # a reconnect that "refuse" accepts and resets at once may take a transfer down
                # with it: unavailable if none of it was written, else a timeout (sent), and
                # never retried
                answered = verify_answers([c], {
                    "balance": (OK,),
                    "transfer": (OK, "upstream_unavailable", "upstream_timeout")
                    if fault == "refuse" else (OK,)})
            finally:
                c.close()
            expect(s.seen("BALQ") - before == 20, "secondary saw %d of 20 balances; %s" % (
                s.seen("BALQ") - before, describe_endpoints(rig)))
            expect(p.stats()["mode"] == fault, "primary proxy left %s" % fault)
            no_duplicate_transfers(rig, answered)
            never_misreported(rig, answered)

        check(name + ": 40 concurrent calls after the fault all succeed on the secondary, "
              "no transfer twice", burst)


def blackhole_scenario():
    """(2) the primary accepts and never answers: calls time out or move to the secondary, the
    breaker opens after N failures, a probe after the cool-down takes the primary back once it
    answers again."""
    name = "blackhole"
    with Rig() as rig:
        p, s = rig.px
        for i in range(5):
            expect(timed_call(rig.http, "balance", {"account": account(i)}, 800)[0] == OK,
                   "warm-up")
        p.ctl("blackhole")
        t0 = time.monotonic()
        log = []

        def during():
            # Sequential balance calls with a 500 ms deadline until 5 in a row succeed quickly.
            fast_ok = 0
            for i in range(40):
                before = s.seen("BALQ")
                code, elapsed, status, h, body = timed_call(rig.http, "balance",
                                                            {"account": account(1000 + i)}, 500)
                log.append((round(time.monotonic() - t0, 3), code, round(elapsed, 3),
                            h.get("x-dragoman-attempts")))
                expect(code in (OK, "upstream_timeout", "upstream_unavailable"), (status, body))
                expect(elapsed <= 0.5 + MARGIN, "call %d took %.3f s" % (i, elapsed))
                if code == OK and elapsed < 0.25 and s.seen("BALQ") > before:
                    fast_ok += 1
                    if fast_ok >= 5:
                        return
                else:
                    fast_ok = 0
            raise AssertionError("never settled on the secondary: %s" % log)

        ok_during = check(name + ": calls time out or fail over, then settle on the secondary",
                          during)
        print("   calls after the blackhole (t, code, seconds, attempts):", log[:12], flush=True)

        def ejected():
            eps = rig.endpoints()
            if eps is None:
                # no /admin/upstreams: infer ejection from fast calls that skip the primary
                expect(ok_during, "no /admin/upstreams and no fast failover")
                print("   (no /admin/upstreams: ejection inferred from fast failover)")
                return
            expect(0 in eps and eps[0].get("breaker") in ("open", "half_open"),
                   "primary breaker: %s" % eps.get(0))
            expect(1 in eps and eps[1].get("breaker") == "closed", eps.get(1))

        check(name + ": the primary's breaker is open", ejected)

        def stays_out_while_dead():
            # Past a cool-down, a probe finds the primary still dead; calls keep succeeding.
            time.sleep(BREAKER_COOLDOWN_MS / 1000 + 0.2)
            codes = [timed_call(rig.http, "balance", {"account": account(2000 + i)}, 800)[0]
                     for i in range(10)]
            expect(codes.count(OK) >= 9, codes)
            eps = rig.endpoints()
            if eps is not None:
                expect(eps[0].get("breaker") in ("open", "half_open"), eps.get(0))

        check(name + ": a probe during the blackhole keeps the primary out", stays_out_while_dead)
        p.ctl("pass")
        t1 = time.monotonic()

        def taken_back():
            base = p.seen("BALQ")
            deadline = t1 + BREAKER_COOLDOWN_MS / 1000 * 3 + 3
            streak = 0
            while time.monotonic() < deadline:
                before_p, before_s = p.seen("BALQ"), s.seen("BALQ")
                code, _, _, _, body = timed_call(rig.http, "balance", {"account": account(3000)},
                                                 800)
                expect(code in (OK, "upstream_timeout", "upstream_unavailable"), body)
                if code == OK and p.seen("BALQ") > before_p and s.seen("BALQ") == before_s:
                    streak += 1
                    if streak >= 5:
                        break
                else:
                    streak = 0
                time.sleep(0.05)
            expect(streak >= 5, "primary saw %d calls since recovery; not taken back within "
                   "%.1f s" % (p.seen("BALQ") - base, deadline - t1))
            print("   primary taken back %.2f s after recovery" % (time.monotonic() - t1))
            eps = rig.endpoints()
            if eps is not None:
                expect(eps[0].get("breaker") == "closed", eps.get(0))

        check(name + ": after recovery a probe takes the primary back (calls reach it again)",
              taken_back)


ALLOWED = {
    "cut": ("upstream_unavailable", "upstream_timeout", "upstream_protocol_error"),
    "reset": ("upstream_unavailable", "upstream_timeout"),
    "corrupt": ("upstream_protocol_error", "upstream_timeout", "upstream_unavailable"),
}


def midstream_scenario(fault):
    """(3) cut frames, resets or corrupt replies under concurrent balance and transfer calls:
    one answer per call, an allowed code, no transfer seen twice by the hosts."""
    name = "%s mid-traffic" % fault
    with Rig() as rig:
        p, s = rig.px
        callers = [LineCaller(rig.line) for _ in range(4)]
        try:
            def inject(i):
                # from 0.5 s on, every 0.3 s, on the primary (and once on the secondary)
                if i >= 10 and i % 6 == 4 and i <= 40:
                    target = s if i == 34 else p
                    target.ctl({"cut": "cut 2", "reset": "reset",
                                "corrupt": "corrupt 2"}[fault])

            sent = run_traffic(callers, 2.5, inject, tag=fault[0])
            p.ctl("pass")
            s.ctl("pass")
            for c in callers:
                c.wait_all()
            time.sleep(0.3)  # room for a duplicate answer to show up
            stats = [px.stats() for px in rig.px]
            hits = sum(st[{"cut": "cuts", "reset": "resets", "corrupt": "corrupted"}[fault]]
                       for st in stats)
            answered = {}

            def every_call_once():
                answered.update(verify_answers(callers, {
                    "*": (OK,) + ALLOWED[fault]}))
                codes = {}
                for op, code, _ in answered.values():
                    codes[(op, code)] = codes.get((op, code), 0) + 1
                print("   %d calls, fault applied %d times, answers: %s" % (
                    sent, hits, sorted(codes.items())), flush=True)
                expect(hits > 0, "the fault never hit traffic")

            check(name + ": every call answered exactly once in time with an allowed code",
                  every_call_once)
            check(name + ": no transfer seen twice by the hosts; ok transfers seen once",
                  no_duplicate_transfers, rig, answered)
            check(name + ": no answer says \"retry\" (503, sent false) for a call a host had",
                  never_misreported, rig, answered)
            check(name + ": calls succeed once the faults stop", calls_succeed_again, rig)
        finally:
            for c in callers:
                c.close()


def delay_scenario():
    """(4) both hosts slower than the deadline: upstream_timeout within the deadline + margin,
    and no transfer retried."""
    name = "delay"
    with Rig(serve_flags=["--breaker-failures", "50"]) as rig:
        for px in rig.px:
            px.ctl("delay 400")  # each way: replies arrive 800 ms after the request

        def balance_times_out():
            for i in range(3):
                code, elapsed, status, h, body = timed_call(rig.http, "balance",
                                                            {"account": account(i)}, 500)
                expect(status == 504 and code == "upstream_timeout", (status, body))
                expect(0.5 - 0.02 <= elapsed <= 0.5 + MARGIN, "answered after %.3f s" % elapsed)

        check(name + ": balance gets 504 upstream_timeout within the deadline + %d ms" % (
            MARGIN * 1000), balance_times_out)

        def transfers_not_retried():
            c = LineCaller(rig.line)
            try:
                for i in range(6):
                    c.call("t%d" % i, "transfer", transfer_data(i), 500)
                c.wait_all(extra=MARGIN)
                answered = verify_answers([c], {"*": ("upstream_timeout",)}, extra=MARGIN)
            finally:
                c.close()
            for cid, (_, _, a) in answered.items():
                expect(a.get("attempts") == 1, "transfer %s: attempts %s" % (cid, a))
            time.sleep(1.0)  # delayed requests still reach the hosts: let them arrive
            seen = rig.all_transfers()
            for i in range(6):
                expect(seen.get(transfer_key(i), 0) <= 1, "transfer %d seen %s times" % (
                    i, seen.get(transfer_key(i))))
            expect(not {k: v for k, v in seen.items() if v > 1}, seen)

        check(name + ": timed-out transfers are answered once, attempts 1, never retried",
              transfers_not_retried)
        for px in rig.px:
            px.ctl("pass")
        check(name + ": calls succeed once the delay stops", calls_succeed_again, rig)


def cut_transfer_scenario():
    """(5) transfers that reached the host and whose replies are cut: 504 upstream_timeout with
    sent true and no Retry-After, never 503, not retried; a transfer no host could receive: 503
    upstream_unavailable with sent false and Retry-After. Deterministic: the proxy cuts the next
    reply only, one transfer at a time, each on the primary's fresh connection."""
    name = "cut-transfer"
    with Rig() as rig:
        p, s = rig.px

        def over_http():
            for i in range(4):
                rig.wait_ready()  # the primary is back (signed on) after the previous cut
                p.ctl("cut 1")
                code, _, status, h, body = timed_call(rig.http, "transfer",
                                                      transfer_data(700000 + i), 2000)
                expect(status == 504 and code == "upstream_timeout", (status, h, body))
                expect(body.get("sent") is True, body)
                expect("retry-after" not in h and "retry_after_seconds" not in body, (h, body))
                expect(h.get("x-dragoman-attempts") == "1", h)
                expect(p.stats()["tracked"].get(transfer_key(700000 + i)) == 1,
                       "the host saw transfer %d %s times" % (
                           i, p.stats()["tracked"].get(transfer_key(700000 + i))))
            expect(p.stats()["cuts"] == 4, p.stats())
            expect(s.seen("XFRQ") == 0, "a cut transfer was sent to the secondary")

        check(name + ": HTTP: 504 upstream_timeout, sent true, no Retry-After, not retried",
              over_http)

        def over_lines():
            c = LineCaller(rig.line)
            try:
                for i in range(3):
                    rig.wait_ready()
                    p.ctl("cut 1")
                    c.call("x%d" % (710000 + i), "transfer", transfer_data(710000 + i), 2000)
                    c.wait_all()
                answered = verify_answers([c], {"transfer": ("upstream_timeout",)})
            finally:
                c.close()
            for cid, (_, _, a) in answered.items():
                expect(a["error"].get("sent") is True and a.get("attempts") == 1, a)
                expect("retry_after_seconds" not in a["error"], a)
            never_misreported(rig, answered)
            expect(s.seen("XFRQ") == 0, "a cut transfer was sent to the secondary")

        check(name + ": lines: upstream_timeout, sent true, attempts 1", over_lines)

        def nothing_sent():
            before = dict(rig.all_transfers())
            p.ctl("down")
            s.ctl("down")
            rig.wait_no_connection_up()
            code, _, status, h, body = timed_call(rig.http, "transfer", transfer_data(720000),
                                                  5000)
            expect(status == 503 and code == "upstream_unavailable", (status, body))
            expect(body.get("sent") is False, body)
            expect(h.get("retry-after"), h)
            expect(rig.all_transfers() == before, "a host saw a transfer")

        check(name + ": with both hosts down: 503 upstream_unavailable, sent false, Retry-After",
              nothing_sent)


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def tcp_sockets():
    """inode -> "STATE local_port->remote_port" from /proc/net/tcp (IPv4 loopback is enough)."""
    out = {}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
                out[inode] = "%s %d->%d" % (TCP_STATES.get(state, state),
                                            int(local.split(":")[1], 16),
                                            int(remote.split(":")[1], 16))
    except OSError:
        pass
    return out


def fd_kinds(pid):
    """{"tcp ESTABLISHED": n, "anon_inode:[eventpoll]": n, ...} for a failure message."""
    kinds, tcp = {}, tcp_sockets()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            desc = tcp.get(target[8:-1])
            kind = "tcp " + desc.split()[0] if desc else "socket"
        elif target.startswith("pipe:") or target.startswith("/"):
            kind = target.split(":")[0] if target.startswith("pipe:") else "file"
        else:
            kind = target
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def resources_scenario():
    """(6) after every kind of fault has come and gone, file descriptors and memory are back to
    their baseline and calls succeed."""
    name = "resources"
    with Rig() as rig:
        p, s = rig.px

        def traffic(tag, seconds, on_tick=None):
            callers = [LineCaller(rig.line) for _ in range(3)]
            try:
                run_traffic(callers, seconds, on_tick, tag=tag, period=0.01)
                for c in callers:
                    c.wait_all()
            finally:
                for c in callers:
                    c.close()
            for i in range(20):  # and some short HTTP connections
                timed_call(rig.http, "balance", {"account": account(i)}, 800)

        traffic("w", 2.0)  # warm-up: pools, buffers, allocator arenas
        time.sleep(0.5)
        base_fds, base_rss = proc_fds(rig.pid), proc_rss_kib(rig.pid)
        base_kinds = fd_kinds(rig.pid)

        cycle = ["reset", "cut 2", "corrupt 2", "blackhole", "pass", "down", "pass", "refuse",
                 "reset", "pass", "delay 900", "pass"]

        def faults(i):
            if i % 4 == 0 and i // 4 < len(cycle):
                cmd = cycle[i // 4]
                p.ctl(cmd)
                if i // 4 % 3 == 1:
                    s.ctl("reset")

        for round_ in range(2):
            traffic("f%d" % round_, 2.6, faults)
            p.ctl("pass")
            s.ctl("pass")
        check(name + ": calls succeed once the faults stop", calls_succeed_again, rig)
        traffic("a", 1.0)  # the same after-traffic as the warm-up had

        def back_to_baseline():
            deadline = time.monotonic() + 5
            while True:
                fds, rss = proc_fds(rig.pid), proc_rss_kib(rig.pid)
                fd_ok = fds <= base_fds + 2
                rss_ok = rss <= base_rss + max(3072, base_rss // 5)
                if (fd_ok and rss_ok) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            print("   fds %d -> %d, VmRSS %d KiB -> %d KiB" % (base_fds, fds, base_rss, rss),
                  flush=True)
            expect(fd_ok, "fds %d, baseline %d: %s, baseline %s" % (
                fds, base_fds, fd_kinds(rig.pid), base_kinds))
            expect(rss_ok, "VmRSS %d KiB, baseline %d KiB" % (rss, base_rss))

        check(name + ": file descriptors and RSS back to baseline after the faults",
              back_to_baseline)
        open_now = [px.stats()["connections_open"] for px in rig.px]
        check(name + ": one upstream connection per endpoint again", lambda: expect(
            all(n <= 1 for n in open_now), "open connections at the proxies: %s" % open_now))


def sigterm_scenario():
    """(7) SIGTERM with calls in flight: each call finishes or, cut off by the drain timeout after
    the host had it, gets upstream_timeout with sent true; none is silent, and serve exits 0
    within the drain timeout + 1 s."""
    name = "sigterm"
    drain_ms = 2000
    rules = {"rules": [
        {"op": "balance", "when": {"account": "slow"}, "fault": "delay", "delay_ms": 700},
        {"op": "balance", "when": {"account": "stuck"}, "fault": "delay", "delay_ms": 8000},
        {"op": "transfer", "when": {"to": "slow"}, "fault": "delay", "delay_ms": 700},
    ]}
    with Rig(serve_flags=["--drain-timeout-ms", str(drain_ms)], rules=rules) as rig:
        c = LineCaller(rig.line)
        http_results = []

        def http_call():
            try:
                http_results.append(timed_call(rig.http, "balance", {"account": "slow"}, 5000))
            except Exception as e:  # noqa: BLE001 - recorded, judged below
                http_results.append(("exception %r" % e, 0, 0, {}, None))

        try:
            # The simulator answers each connection in order, so the calls stuck past the drain
            # timeout go last: they must not hold up the ones that can finish.
            ht = threading.Thread(target=http_call, daemon=True)
            ht.start()
            time.sleep(0.05)
            for i in range(8):
                c.call("s%d" % i, "balance", {"account": "slow"}, 5000)
            for i in range(4):
                d = transfer_data(i)
                d["to"] = "slow"
                c.call("t%d" % i, "transfer", d, 5000)
            time.sleep(0.05)
            for i in range(2):
                c.call("k%d" % i, "balance", {"account": "stuck"}, 9000)
            time.sleep(0.2)
            t0 = time.monotonic()
            rig.serve.p.send_signal(signal.SIGTERM)
            try:
                rc = rig.serve.p.wait(timeout=drain_ms / 1000 + 5)
            except subprocess.TimeoutExpired:
                rc = None
            took = time.monotonic() - t0
            ht.join(timeout=5)
            deadline = time.monotonic() + 1
            while c.closed_at is None and time.monotonic() < deadline:
                time.sleep(0.02)

            check(name + ": exit 0 within the drain timeout + 1 s", lambda: expect(
                rc == 0 and took <= drain_ms / 1000 + 1, "rc %s after %.2f s" % (rc, took)))

            def none_silent():
                answered = verify_answers([c], {
                    "*": (OK, "upstream_timeout")}, extra=1.0)
                for i in range(8):
                    expect(answered["s%d" % i][1] == OK, answered["s%d" % i])
                for cid, (_, code, a) in answered.items():
                    expect(code == OK or a["error"].get("sent") is True, a)
                codes = sorted((cid, code) for cid, (_, code, _) in answered.items())
                print("   line answers:", codes, flush=True)

            check(name + ": every line call answered once: finished, or upstream_timeout with "
                  "sent true (none silent)", none_silent)
            check(name + ": the HTTP call in flight finishes", lambda: expect(
                http_results and http_results[0][0] == OK, http_results))
            check(name + ": no transfer seen twice", lambda: expect(
                not {k: v for k, v in rig.all_transfers().items() if v > 1},
                rig.all_transfers()))
        finally:
            c.close()


def main():
    if not os.path.exists(FAULT_PROXY):
        print("FAIL no fault proxy at", FAULT_PROXY)
        print("0 passed, 1 failed")
        return 1
    started = time.monotonic()
    only = set(sys.argv[1:])  # optional scenario names, for a developer's quick rerun
    scenarios = [
        ("failover-down", failover_scenario, "down"),
        ("failover-refuse", failover_scenario, "refuse"),
        ("failover-stall", failover_scenario, "stall"),
        ("blackhole", blackhole_scenario),
        ("cut", midstream_scenario, "cut"),
        ("reset", midstream_scenario, "reset"),
        ("corrupt", midstream_scenario, "corrupt"),
        ("delay", delay_scenario),
        ("cut-transfer", cut_transfer_scenario),
        ("resources", resources_scenario),
        ("sigterm", sigterm_scenario),
    ]
    for name, fn, *args in scenarios:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a scenario that cannot run counts as one failure
            results["failed"] += 1
            print("FAIL", name, "could not run", flush=True)
            traceback.print_exc(file=sys.stdout)
        print("   (%s: %.1f s)" % (name, time.monotonic() - t0), flush=True)
    print("   total %.1f s" % (time.monotonic() - started), flush=True)
    shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (results["passed"], results["failed"]), flush=True)
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
