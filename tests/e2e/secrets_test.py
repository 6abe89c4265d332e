#!/usr/bin/env python3
"""Secrets never in argv or logs: a sign-on password written "env:NAME" in the profile and a
per-call token written "file:PATH" reach the wire (the sign-on and the call succeed against
`dragoman simulate`, and `dragoman encode` writes them), while /admin/profile, the wire trace and
every log line show them masked; --admin-token env:NAME keeps the admin token out of argv; an
unset variable or an unreadable file stops the start with its name.

Loopback only; every wait has a deadline; only processes started here are stopped, by pid."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DRAGOMAN, SRC, Checks, Process, get, post  # noqa: E402

check = Checks()
TMP = tempfile.mkdtemp(prefix="dragoman-secrets-")
PASSWORD = "pw-4oK9z"
TOKEN = "tk-Q7x2m"
ADMIN = "adm-8Hq3t"

# acme-core with a password in its sign-on and a token in every balance request.
with open(os.path.join(SRC, "profiles", "acme-core.json")) as f:
    text = f.read()
text = text.replace(
    '{ "name": "tx_code", "length": 4, "value": "SONQ" },',
    '{ "name": "tx_code", "length": 4, "value": "SONQ" },\n'
    '          { "name": "password", "length": 8, "value": "env:ACME_SIGN_ON_PASSWORD" },', 1)
text = text.replace(
    '{ "name": "account", "length": 12, "from": "account", "required": true }\n        ]',
    '{ "name": "account", "length": 12, "from": "account", "required": true },\n'
    '          { "name": "token", "length": 8, "value": "file:%s" }\n        ]'
    % os.path.join(TMP, "token"), 1)
assert "ACME_SIGN_ON_PASSWORD" in text and "file:" in text
PROFILE = os.path.join(TMP, "acme-secret.json")
with open(PROFILE, "w") as f:
    f.write(text)
with open(os.path.join(TMP, "token"), "w") as f:
    f.write(TOKEN + "\n")
ENV = dict(os.environ, ACME_SIGN_ON_PASSWORD=PASSWORD, ADMIN_TOKEN=ADMIN)

procs = []
try:
    # The secrets go on the wire: encode writes them (EBCDIC cp037 in acme-core).
    r = subprocess.run([DRAGOMAN, "encode", "--profile", PROFILE, "--op", "sign_on"],
                       input=b"{}", capture_output=True, env=ENV, timeout=20)
    check("encode writes the env: password on the wire",
          r.returncode == 0 and PASSWORD.encode("cp037") in r.stdout, r.stderr.decode())

    sim = Process([DRAGOMAN, "simulate", "--profile", PROFILE, "--listen", "127.0.0.1:0"], env=ENV)
    procs.append(sim)
    up = sim.json_line("simulate", timeout=15)
    serve = Process([DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0", "--line",
                     "", "--upstream", up["simulate"], "--trace", "--admin-token",
                     "env:ADMIN_TOKEN"], env=ENV)
    procs.append(serve)
    ev = serve.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
    http = ev["http"]
    auth = {"Authorization": "Bearer " + ADMIN}
    s, body, _ = post(http, "balance", {"account": "12345"}, headers={"Request-Timeout": "5000"})
    check("the sign-on with the password and a call with the token succeed", s == 200, str(body))
    status, profile_text = get(http, "/admin/profile", headers=auth)
    check("--admin-token env:ADMIN_TOKEN is the token", status == 200, profile_text[:200])
    check("/admin/profile shows the secrets masked",
          PASSWORD not in profile_text and TOKEN not in profile_text and "****" in profile_text,
          profile_text[:400])
    status, _ = get(http, "/admin/profile", headers={"Authorization": "Bearer env:ADMIN_TOKEN"})
    check("the reference itself is not the token", status == 401, str(status))
    out = serve.output()
    trace = [line for line in out.splitlines() if '"trace"' in line]
    check("the call was traced", trace, out[-800:])
    check("the trace and every log line show the token masked",
          TOKEN not in out and PASSWORD not in out and any("****" in t for t in trace)
          and TOKEN.encode("cp037").hex() not in out.lower(),
          "\n".join(trace)[:800])
    with open("/proc/%d/cmdline" % serve.proc.pid, "rb") as f:
        argv = f.read()
    check("argv holds no secret", PASSWORD.encode() not in argv and ADMIN.encode() not in argv,
          repr(argv))

    no_env = {k: v for k, v in ENV.items() if k != "ACME_SIGN_ON_PASSWORD"}
    r = subprocess.run([DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0"],
                       capture_output=True, env=no_env, timeout=20)
    err = r.stderr.decode(errors="replace")
    check("an unset variable stops the start, naming it",
          r.returncode == 1 and "environment variable ACME_SIGN_ON_PASSWORD is not set" in err, err)
    os.rename(os.path.join(TMP, "token"), os.path.join(TMP, "token.gone"))
    r = subprocess.run([DRAGOMAN, "check", "--profile", PROFILE], capture_output=True, env=ENV,
                       timeout=20)
    err = r.stderr.decode(errors="replace") + r.stdout.decode(errors="replace")
    check("an unreadable file is named", r.returncode != 0 and
          re.search(r"token: cannot be read", err), err)
    r = subprocess.run([DRAGOMAN, "serve", "--profile", PROFILE, "--admin-token", "env:NOPE_X"],
                       capture_output=True, env=ENV, timeout=20)
    err = r.stderr.decode(errors="replace")
    check("--admin-token env:UNSET is a usage error", r.returncode == 2 and "NOPE_X" in err, err)
finally:
    for p in procs:
        p.stop()
    shutil.rmtree(TMP, ignore_errors=True)
check.finish()
