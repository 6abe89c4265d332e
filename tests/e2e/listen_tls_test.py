#!/usr/bin/env python3
"""End-to-end: TLS with client certificates on `--upstream-listen`. Certificates are made by
`openssl` in the test (two CAs: the one dragoman trusts and another). A Python ssl client (an
MLLP host connecting in) with a client certificate of the trusted CA is accepted and its message
delivered to the app and acknowledged AA; a client with no certificate, or one from the other CA,
is refused: logged with its reason, counted, and the accepted host's connection goes on working.
A cleartext client gets nothing. `--upstream-listen` with TLS and no `--tls-cert` is refused at
start.

Env: DRAGOMAN, DRAGOMAN_SOURCE_DIR. Exit 77 (skipped) when openssl is missing."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from certs import CertDir  # noqa: E402
from harness import DRAGOMAN, SRC, Checks, get, serve
from inbound_app import App

PROFILE = os.path.join(SRC, "profiles", "hl7v2-mllp.json")
OPENSSL = shutil.which("openssl")
if not OPENSSL:
    print("skipped: openssl is needed (scripts/setup installs it)")
    sys.exit(77)

TMP = tempfile.mkdtemp(prefix="dragoman-listen-tls-")

certs = CertDir(TMP, OPENSSL)
ossl, path, make_ca, make_leaf = certs.ossl, certs.path, certs.make_ca, certs.make_leaf
check = Checks()


def admit(cid):
    return (f"MSH|^~\\&|ADT1|HOSP|LAB|ELSEWHERE|20240102030405||ADT^A01|{cid}|P|2.5\r"
            f"PID|1||12345^^^^MR||DOE^JANE\r")


def frame(text):
    return b"\x0b" + text.encode() + b"\x1c\x0d"


def read_ack(s, timeout=10):
    """The next MLLP frame's MSA fields, or None when the connection ends or fails first."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\x1c\x0d" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
    except (OSError, ssl.SSLError):
        return None
    text = buf.split(b"\x1c\x0d")[0].lstrip(b"\x0b").decode()
    for seg in text.split("\r"):
        if seg.startswith("MSA|"):
            return seg.split("|")
    return []


def tls_client(port, cert=None, ca="ca1"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(path(ca + ".crt"))
    ctx.check_hostname = True
    if cert:
        ctx.load_cert_chain(path(cert + ".crt"), path(cert + ".key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def refused(port, cert, cid):
    """Connects (TLS 1.3: the refusal may come after the client's side of the handshake) and
    sends one message; True when no ACK ever comes."""
    try:
        s = tls_client(port, cert)
    except (OSError, ssl.SSLError):
        return True
    try:
        s.sendall(frame(admit(cid)))
        return read_ack(s, timeout=5) is None
    except (OSError, ssl.SSLError):
        return True
    finally:
        s.close()


def metric(http, name):
    _, text = get(http, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def main():
    make_ca("ca1")
    make_ca("ca2")
    make_leaf("server", "ca1", "IP:127.0.0.1", "serverAuth")
    make_leaf("host", "ca1", None, "clientAuth")
    make_leaf("stranger", "ca2", None, "clientAuth")

    # No certificate of our own: refused at start with one line.
    p = subprocess.run([DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0", "--line",
                        "", "--upstream-listen", "127.0.0.1:0", "--tls-ca", path("ca1.crt")],
                       capture_output=True, timeout=20)
    err = p.stderr.decode(errors="replace")
    check("TLS on --upstream-listen without --tls-cert is refused at start",
          p.returncode != 0 and "needs --tls-cert and --tls-key" in err, repr((p.returncode, err)))

    app = App()
    d, ev = serve(PROFILE, [], ["--upstream-listen", "127.0.0.1:0", "--deliver", app.url(),
                                "--tls-cert", path("server.crt"), "--tls-key", path("server.key"),
                                "--tls-ca", path("ca1.crt")])
    if not check("dragoman listening with TLS on --upstream-listen",
                 ev is not None and "upstream_listen" in ev, d.output()[-1500:]):
        d.stop()
        app.close()
        return
    port = int(ev["upstream_listen"].rsplit(":", 1)[1])
    http = ev["http"]
    good = None
    try:
        good = tls_client(port, "host")
        good.sendall(frame(admit("TLS001")))
        a = read_ack(good)
        check("a host with a client certificate of the trusted CA: its message acknowledged AA",
              a is not None and a[1:3] == ["AA", "TLS001"], repr(a) + d.output()[-1500:])
        got = [(o[0], o[2].get("control_id")) for o in app.ops()]
        check("its message delivered to the app", got == [("admit", "TLS001")], repr(got))

        check("a host with no client certificate is refused", refused(port, None, "TLS002"))
        check("a host with a certificate of another CA is refused",
              refused(port, "stranger", "TLS003"))
        plain = socket.create_connection(("127.0.0.1", port), timeout=10)
        plain.sendall(frame(admit("TLS004")))
        check("a cleartext host gets no ACK", read_ack(plain, timeout=3) is None)
        plain.close()
        deadline = time.time() + 5
        while time.time() < deadline and (metric(http, "dragoman_upstream_listen_tls_failures_total")
                                          or 0) < 3:
            time.sleep(0.05)
        check("each refused handshake counted",
              metric(http, "dragoman_upstream_listen_tls_failures_total") == 3,
              repr(metric(http, "dragoman_upstream_listen_tls_failures_total")))
        out = d.output()
        check("refusals logged with their reason (no client certificate, unknown CA)",
              '"event":"host_tls_failed"' in out and "no client certificate" in out and
              "unknown CA" in out, out[-2500:])
        check("none of the refused hosts' messages delivered",
              [o[2].get("control_id") for o in app.ops()] == ["TLS001"], repr(app.ops()))

        good.sendall(frame(admit("TLS005")))
        a = read_ack(good)
        check("the accepted host's connection goes on working after the refusals",
              a is not None and a[1:3] == ["AA", "TLS005"], repr(a))
    finally:
        if good:
            good.close()
        d.stop()
        app.close()


try:
    main()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
check.finish()
