#!/usr/bin/env python3
"""TLS on the front doors, with certificates made here by `openssl`: the HTTPS door answers curl
(--cacert) and, with --door-client-ca, only a client that presents a certificate of that CA
(curl --cert: 200, the certificate's CN as the client in the log line and the policy; without a
certificate or with one of another CA: the handshake is refused); the line door over TLS with
Python's ssl module; a cleartext client on a TLS door is closed; a door off loopback starts with a
client CA as its authentication; a bad key stops the start with one line.

Loopback only; every wait has a deadline; only processes started here are stopped, by pid.
Exit 77 (skipped) when openssl or curl is missing."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from certs import CertDir  # noqa: E402
from harness import DRAGOMAN, SRC, Checks, Process  # noqa: E402

OPENSSL, CURL = shutil.which("openssl"), shutil.which("curl")
if not OPENSSL or not CURL:
    print("skipped: openssl and curl are needed (scripts/setup installs them)")
    sys.exit(77)

check = Checks()
ACME = os.path.join(SRC, "profiles", "acme-core.json")
TMP = tempfile.mkdtemp(prefix="dragoman-door-tls-")

certs = CertDir(TMP, OPENSSL)
ossl, path, make_ca, make_leaf = certs.ossl, certs.path, certs.make_ca, certs.make_leaf


make_ca("door-ca")
make_ca("client-ca")
make_ca("other-ca")
make_leaf("door", "door-ca", "DNS:localhost,IP:127.0.0.1", "serverAuth")
make_leaf("teller", "client-ca", "DNS:teller.apps.internal", "clientAuth")
make_leaf("stranger", "other-ca", None, "clientAuth")
with open(path("policy.json"), "w") as f:
    json.dump({"clients": {"teller": {"operations": ["balance"]}}, "default": {"operations": []}}, f)
BODY = json.dumps({"account": "12345"})


def start(*extra, http="127.0.0.1:0", line="127.0.0.1:0"):
    p = Process([DRAGOMAN, "serve", "--profile", ACME, "--http", http, "--line", line,
                 "--admin", "127.0.0.1:0", "--door-tls-cert", path("door.crt"),
                 "--door-tls-key", path("door.key")] + list(extra))
    ev = p.json_line("event", timeout=20, where=lambda o: o.get("event") == "listening")
    return p, ev


def curl(url, *extra):
    """(HTTP status or 0, curl's exit code, body)."""
    r = subprocess.run([CURL, "-s", "-o", path("body"), "-w", "%{http_code}", "--max-time", "10",
                        "--cacert", path("door-ca.crt"), "-X", "POST", "-d", BODY, *extra, url],
                       capture_output=True, text=True, timeout=30)
    try:
        with open(path("body")) as f:
            body = f.read()
    except OSError:
        body = ""
    return int(r.stdout or 0), r.returncode, body


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def tls_line(port, certfile=None, keyfile=None):
    ctx = ssl.create_default_context(cafile=path("door-ca.crt"))
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_lines(s, n):
    """Up to n answer lines (fewer if the door closes)."""
    buf = b""
    while buf.count(b"\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return [json.loads(l) for l in buf.split(b"\n") if l.strip()]


def read_line(s):
    got = read_lines(s, 1)
    return got[0] if got else None


# Server TLS only: any client over TLS; cleartext is closed.
p, ev = start()
try:
    check("serve starts with a TLS door", ev is not None and ev.get("door_tls") == "server",
          p.output())
    http, line = ev["http"], ev["line"]
    status, rc, body = curl("https://localhost:%d/v1/ops/balance" % port_of(http))
    check("curl over HTTPS: 200", status == 200 and json.loads(body).get("result") == "00",
          "%s %s %s" % (status, rc, body))
    status, rc, _ = curl("https://localhost:%d/v1/ops/balance" % port_of(http), "--cacert",
                         path("other-ca.crt"))
    check("curl that does not trust the door's CA refuses it", status == 0 and rc != 0, str(rc))
    status, rc, _ = curl("http://127.0.0.1:%d/v1/ops/balance" % port_of(http))
    check("cleartext HTTP on the TLS door gets no answer", status == 0, "%s %s" % (status, rc))
    s = tls_line(port_of(line))
    s.sendall(b'{"id":"1","op":"balance","data":{"account":"12345"}}\n'
              b'{"id":"2","op":"balance","data":{"account":"777"}}\n')
    got = read_lines(s, 2)
    s.close()
    a, b = (got + [None, None])[:2]
    check("line door over TLS answers pipelined calls",
          a is not None and b is not None and {a["id"], b["id"]} == {"1", "2"} and a["ok"] and b["ok"],
          "%s %s" % (a, b))
finally:
    p.stop()

# Client certificates: required, verified, and the certificate's CN is the client.
p, ev = start("--door-client-ca", path("client-ca.crt"), "--policy", path("policy.json"),
              http="0.0.0.0:0", line="0.0.0.0:0")
try:
    check("a door off loopback starts with client certificates as its authentication",
          ev is not None and ev.get("door_tls") == "mutual", p.output())
    http, line = ev["http"], ev["line"]
    url = "https://localhost:%d/v1/ops/balance" % port_of(http)
    status, rc, body = curl(url, "--cert", path("teller.crt"), "--key", path("teller.key"),
                            "-H", "X-Request-Id: cert-call-1")
    check("curl --cert with a certificate of the client CA: 200", status == 200,
          "%s %s %s" % (status, rc, body))
    logged = p.json_line("event", timeout=10, where=lambda o: o.get("request_id") == "cert-call-1")
    check("the certificate's CN is the client in the log line",
          logged is not None and logged.get("client") == "teller", str(logged))
    status, rc, body = curl(url.replace("balance", "transfer"), "--cert", path("teller.crt"),
                            "--key", path("teller.key"), "-d",
                            json.dumps({"from": "1", "to": "2", "amount": "1.00"}))
    check("...and the policy applies to it (transfer: 403)",
          status == 403 and json.loads(body).get("code") == "forbidden", "%s %s" % (status, body))
    status, rc, _ = curl(url)
    check("curl without a client certificate is refused in the handshake", status == 0 and rc != 0,
          "%s %s" % (status, rc))
    status, rc, _ = curl(url, "--cert", path("stranger.crt"), "--key", path("stranger.key"))
    check("curl with a certificate of another CA is refused", status == 0 and rc != 0,
          "%s %s" % (status, rc))
    s = tls_line(port_of(line), path("teller.crt"), path("teller.key"))
    s.sendall(b'{"id":"1","op":"balance","data":{"account":"12345"}}\n')
    a = read_line(s)
    s.close()
    check("line door with a client certificate answers", a is not None and a.get("ok") is True, str(a))
    refused = None
    try:
        s = tls_line(port_of(line))
        s.sendall(b'{"id":"1","op":"balance","data":{"account":"12345"}}\n')
        refused = read_line(s)
        s.close()
    except (ssl.SSLError, OSError) as e:
        refused = "refused: %s" % e
    check("line door without a client certificate is refused",
          refused is None or str(refused).startswith("refused"), str(refused))
    metrics = subprocess.run([CURL, "-s", "http://%s/metrics" % ev["admin"]], capture_output=True,
                             text=True, timeout=20).stdout
    failures = [l for l in metrics.splitlines()
                if l.startswith("dragoman_door_tls_handshake_failures_total ")]
    check("refused handshakes are counted",
          failures and float(failures[0].split()[1]) >= 3, "\n".join(failures))
    check("the client's calls are labelled with its name",
          'dragoman_door_client_calls_total{client="teller",outcome="allowed"} 2' in metrics,
          "\n".join(l for l in metrics.splitlines() if "client_calls" in l))
finally:
    p.stop()

# Start-up mistakes: one line each.
for extra, want in ((["--door-tls-key", path("stranger.key")], "--door-tls-key"),
                    (["--door-client-ca", path("missing.crt")], "missing.crt: cannot be read")):
    r = subprocess.run([DRAGOMAN, "serve", "--profile", ACME, "--http", "127.0.0.1:0", "--line", "",
                        "--door-tls-cert", path("door.crt"), "--door-tls-key", path("door.key")]
                       + extra, capture_output=True, text=True, timeout=20)
    check("a bad door TLS file stops the start: %s" % want,
          r.returncode != 0 and want in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          r.stderr)
r = subprocess.run([DRAGOMAN, "serve", "--profile", ACME, "--http", "127.0.0.1:0", "--line", "",
                    "--door-client-ca", path("client-ca.crt")], capture_output=True, text=True,
                   timeout=20)
check("--door-client-ca without a door certificate stops the start",
      r.returncode != 0 and "--door-client-ca needs --door-tls-cert" in r.stderr, r.stderr)

check.finish()
