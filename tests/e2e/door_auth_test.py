#!/usr/bin/env python3
"""Authenticated front doors and per-client policy, against the binary with the embedded
simulator: bearer tokens on the HTTP door (curl without a token and with a wrong one: 401 with
WWW-Authenticate; with one: 200 and the client in the call's log line), the line door's
{"auth":TOKEN}, a client outside the policy (403), one over its rate (429 with Retry-After), the
token and policy files read again on SIGHUP, the refusals in /metrics, and a door on a non-loopback
address that refuses to start without client authentication unless --allow-unauthenticated-door.

Loopback only (0.0.0.0:0 only for the refusal to start); every wait has a deadline; only
processes started here are stopped, by pid."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DRAGOMAN, SRC, Checks, Process, get, post  # noqa: E402

check = Checks()
ACME = os.path.join(SRC, "profiles", "acme-core.json")
TMP = tempfile.mkdtemp(prefix="dragoman-door-auth-")
TELLER = "teller-6f1d2a9c0b7e4d3a"
REPORTS = "reports-" + "x" * 300  # tokens may be long
NEW_TELLER = "teller-rotated-5c8e1f0a2b"
TOKENS = os.path.join(TMP, "tokens")
POLICY = os.path.join(TMP, "policy.json")


def write(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


write(TOKENS, "# client-name token\nteller %s\n\nreports %s\n" % (TELLER, REPORTS))
# reports may only ask balances, at most 2 at once and then one per 100 s (so the third call is
# refused whatever the machine's speed); anonymous callers get nothing.
write(POLICY, json.dumps({
    "clients": {"teller": {"operations": "*"},
                "reports": {"operations": ["balance"], "rate": 0.01, "burst": 2}},
    "default": {"operations": []}}))


def curl(http, op, body, *headers):
    args = ["curl", "-s", "-o", "-", "-D", os.path.join(TMP, "head"), "-X", "POST",
            "http://%s/v1/ops/%s" % (http, op), "-d", json.dumps(body)]
    for h in headers:
        args += ["-H", h]
    r = subprocess.run(args, capture_output=True, text=True, timeout=20)
    with open(os.path.join(TMP, "head")) as f:
        head = f.read().splitlines()
    status = int(head[0].split()[1]) if head else 0
    fields = {}
    for line in head[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    try:
        doc = json.loads(r.stdout or "{}")
    except ValueError:
        doc = {"raw": r.stdout}
    return status, doc, fields


class Line:
    """One line-door connection; answers read one at a time."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=10)
        self.buf = b""

    def call(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")
        return self.answer()

    def answer(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.s.close()


def start(*extra):
    p = Process([DRAGOMAN, "serve", "--profile", ACME, "--http", "127.0.0.1:0", "--line",
                 "127.0.0.1:0"] + list(extra))
    ev = p.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
    return p, ev


ACCOUNT = {"account": "12345"}
proc, ev = start("--door-tokens", TOKENS, "--policy", POLICY)
try:
    check("serve starts with --door-tokens and --policy", ev is not None, proc.output())
    http, line = ev["http"], ev["line"]

    # HTTP: curl without a token, with a wrong one, with a good one.
    status, doc, head = curl(http, "balance", ACCOUNT)
    check("no token: 401", status == 401, "%s %s" % (status, doc))
    check("no token: unauthenticated problem+json",
          doc.get("code") == "unauthenticated" and doc.get("status") == 401 and
          head.get("content-type") == "application/problem+json" and doc.get("sent") is False,
          json.dumps(doc))
    check("401 says the scheme", head.get("www-authenticate") == "Bearer", str(head))
    status, doc, head = curl(http, "balance", ACCOUNT, "Authorization: Bearer not-" + TELLER)
    check("wrong token: 401 unauthenticated",
          status == 401 and doc.get("code") == "unauthenticated", "%s %s" % (status, doc))
    status, doc, _ = curl(http, "balance", ACCOUNT, "Authorization: Bearer " + TELLER,
                          "X-Request-Id: teller-call-1")
    check("teller's token: 200", status == 200 and doc.get("result") == "00",
          "%s %s" % (status, doc))
    logged = proc.json_line("event", timeout=10,
                            where=lambda o: o.get("request_id") == "teller-call-1")
    check("the call's log line names the client",
          logged is not None and logged.get("client") == "teller", str(logged))
    status, _, _ = post(http, "balance", ACCOUNT, headers={"Authorization": "Bearer " + REPORTS})
    check("a 300-character token: 200", status == 200, str(status))

    # Policy: reports may not transfer (403); its third balance in a burst of 2 is 429.
    status, doc, _ = post(http, "transfer", {"from": "1", "to": "2", "amount": "1.00"},
                          headers={"Authorization": "Bearer " + REPORTS})
    check("outside the policy: 403 forbidden",
          status == 403 and doc.get("code") == "forbidden" and "transfer" in doc.get("detail", ""),
          "%s %s" % (status, doc))
    status, _, _ = post(http, "balance", ACCOUNT, headers={"Authorization": "Bearer " + REPORTS})
    check("a refused call takes nothing from the rate: the burst's second call goes", status == 200,
          str(status))
    status, doc, head = post(http, "balance", ACCOUNT,
                             headers={"Authorization": "Bearer " + REPORTS})
    check("over the rate: 429 rate_limited",
          status == 429 and doc.get("code") == "rate_limited", "%s %s" % (status, doc))
    retry = int(head.get("Retry-After", "0"))
    check("429 says when to come back", 90 <= retry <= 100 and doc.get("retry_after_seconds") == retry,
          "%s %s" % (head, doc))
    status, _, _ = post(http, "transfer", {"from": "1", "to": "2", "amount": "1.00"},
                        headers={"Authorization": "Bearer " + TELLER})
    check("teller may transfer", status == 200, str(status))

    # The line door: calls wait for {"auth":TOKEN}.
    c = Line(line)
    a = c.call({"id": "1", "op": "balance", "data": ACCOUNT})
    check("line: a call before auth is unauthenticated",
          a and a["ok"] is False and a["error"]["code"] == "unauthenticated", str(a))
    a = c.call({"id": "2", "auth": REPORTS})
    check("line: auth answers the client", a == {"id": "2", "ok": True,
                                                 "data": {"client": "reports"}, "attempts": 0},
          str(a))
    a = c.call({"id": "3", "op": "transfer", "data": {"from": "1", "to": "2", "amount": "1"}})
    check("line: outside the policy is forbidden",
          a and a["error"]["code"] == "forbidden", str(a))
    a = c.call({"id": "4", "op": "balance", "data": ACCOUNT})
    check("line: the client's rate is shared with its HTTP calls",
          a and a["error"]["code"] == "rate_limited" and a["error"]["retry_after_seconds"] >= 1,
          str(a))
    c.close()
    c = Line(line)
    a = c.call({"id": "5", "auth": TELLER})
    a = c.call({"id": "6", "op": "balance", "data": ACCOUNT})
    check("line: an authenticated call goes through", a and a["ok"] is True, str(a))
    c.close()
    c = Line(line)
    a = c.call({"id": "7", "auth": "guess-guess-guess-guess"})
    check("line: a bad token is unauthenticated",
          a and a["error"]["code"] == "unauthenticated", str(a))
    check("line: ...and closes the connection", c.answer() is None)
    c.close()

    # Refusals in /metrics, by reason and by client (bounded labels).
    status, metrics = get(http, "/metrics")
    check("/metrics answers", status == 200, str(status))
    for needle in ('dragoman_door_refusals_total{reason="unauthenticated"} 4',
                   'dragoman_door_refusals_total{reason="forbidden"} 2',
                   'dragoman_door_refusals_total{reason="rate_limited"} 2',
                   'dragoman_door_client_calls_total{client="teller",outcome="allowed"} 3',
                   'dragoman_door_client_calls_total{client="reports",outcome="forbidden"} 2'):
        check("metrics: " + needle, needle in metrics,
              "\n".join(l for l in metrics.splitlines() if "door_" in l and "client" in l or
                        "refusals" in l))
    check("no token is ever logged",
          all(t not in proc.output() for t in (TELLER, REPORTS, "guess-guess")))

    # SIGHUP: the files again. A broken token file keeps the old tokens; a good one replaces them.
    write(TOKENS, "teller\n")
    proc.proc.send_signal(signal.SIGHUP)
    failed = proc.json_line("event", timeout=10, where=lambda o: o.get("event") == "reload_failed"
                            and o.get("file") == "--door-tokens")
    check("a broken token file is refused on SIGHUP",
          failed is not None and "expected `client-name token`" in failed.get("error", ""),
          str(failed))
    # The policy is read after the tokens: its line ends this SIGHUP's reload.
    proc.json_line("event", timeout=10, where=lambda o: o.get("event") == "reload"
                   and "policy" in o)
    status, _, _ = post(http, "balance", ACCOUNT, headers={"Authorization": "Bearer " + TELLER})
    check("...and the old tokens stay in force", status == 200, str(status))
    write(TOKENS, "teller %s\n" % NEW_TELLER)
    write(POLICY, json.dumps({"clients": {"teller": {"operations": ["transfer"]}}}))
    proc.proc.send_signal(signal.SIGHUP)
    ok = proc.json_line("event", timeout=10, where=lambda o: o.get("event") == "reload"
                        and "policy" in o)
    check("SIGHUP reloads the policy", ok is not None, proc.output()[-2000:])
    status, _, _ = post(http, "balance", ACCOUNT, headers={"Authorization": "Bearer " + TELLER})
    check("a rotated-out token is refused", status == 401, str(status))
    status, doc, _ = post(http, "balance", ACCOUNT,
                          headers={"Authorization": "Bearer " + NEW_TELLER})
    check("the new token works, under the new policy (balance now forbidden)",
          status == 403 and doc.get("code") == "forbidden", "%s %s" % (status, doc))
finally:
    proc.stop()

# Policy without tokens: every loopback caller is anonymous and gets the default entry.
write(POLICY, json.dumps({"default": {"operations": ["balance"], "rate": 0.01, "burst": 1}}))
proc, ev = start("--policy", POLICY)
try:
    http = ev["http"]
    status, _, _ = post(http, "balance", ACCOUNT)
    check("anonymous: the default entry allows balance", status == 200, str(status))
    status, doc, head = post(http, "balance", ACCOUNT)
    check("anonymous: over the default's rate", status == 429 and "Retry-After" in head,
          "%s %s" % (status, head))
    status, doc, _ = post(http, "transfer", {"from": "1", "to": "2", "amount": "1.00"})
    check("anonymous: transfer forbidden", status == 403, str(status))
finally:
    proc.stop()

# A bad file stops the start with one line naming it.
write(os.path.join(TMP, "bad.json"), '{"clients": {"teller": {"rat": 1}}}')
r = subprocess.run([DRAGOMAN, "serve", "--profile", ACME, "--http", "127.0.0.1:0", "--line", "",
                    "--policy", os.path.join(TMP, "bad.json")], capture_output=True, text=True,
                   timeout=20)
check("a bad policy stops the start",
      r.returncode != 0 and "clients.teller.rat: unknown key" in r.stderr and
      len(r.stderr.strip().splitlines()) == 1, r.stderr)

# A door on a non-loopback address needs client authentication or the explicit flag.
for flag in ("--http", "--line"):
    doors = {"--http": "127.0.0.1:0", "--line": "127.0.0.1:0", flag: "0.0.0.0:0"}
    args = [DRAGOMAN, "serve", "--profile", ACME, "--admin", "127.0.0.1:0"]
    for door, at in doors.items():
        args += [door, at]
    r = subprocess.run(args, capture_output=True, text=True, timeout=20)
    check("%s 0.0.0.0 without authentication refuses to start" % flag,
          r.returncode != 0 and "needs client authentication" in r.stderr and
          "--allow-unauthenticated-door" in r.stderr and
          len(r.stderr.strip().splitlines()) == 1, r.stderr)
    for extra, what in ((["--allow-unauthenticated-door"], "the flag"),
                        (["--door-tokens", TOKENS], "tokens")):
        p = Process(args + extra)
        try:
            ev = p.json_line("event", timeout=20, where=lambda o: o.get("event") == "listening")
            check("%s 0.0.0.0 starts with %s" % (flag, what), ev is not None, p.output())
            if what == "the flag":
                check("...with a warning", '"event":"unauthenticated_door"' in p.output() and
                      '"level":"warn"' in p.output(), p.output())
        finally:
            p.stop()

check.finish()
