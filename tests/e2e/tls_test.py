#!/usr/bin/env python3
"""TLS toward the legacy host, against TLS servers we did not write: `stunnel4` (server mode,
client certificates required) and `openssl s_server` (client certificates required), each in front
of `dragoman simulate` (acme-core: sign-on, correlation by trace). Certificates are made here with
`openssl`: two CAs, server leaves with a subjectAltName, an expired leaf (`openssl ca -startdate
-enddate`), a client leaf.

Holds dragoman to: a call through mutual TLS succeeds (sign-on and correlation unchanged); a wrong
CA, a name mismatch, an expired certificate and a missing client certificate each fail with 503
upstream_unavailable and their reason in /admin/upstreams and the log; the CA file replaced under
a bounded load lets new connections reach a host with a certificate from the new CA while the
connections up stay up, with zero failed calls; a broken CA file keeps the loaded material and is
counted (dragoman_tls_reload_failures_total); SIGHUP re-reads the files.

Loopback only; every wait has a deadline; only processes started here are stopped, by pid.
Exit 77 (skipped) when openssl or stunnel4 is missing."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from certs import CertDir  # noqa: E402
from harness import DRAGOMAN, SRC, Checks, Process, get, post, wait_port  # noqa: E402

PROFILE = os.path.join(SRC, "profiles", "acme-core.json")
OPENSSL = shutil.which("openssl")
STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
if not OPENSSL or not STUNNEL:
    print("skipped: openssl and stunnel4 are needed (scripts/setup installs them)")
    sys.exit(77)

TMP = tempfile.mkdtemp(prefix="dragoman-tls-")

certs = CertDir(TMP, OPENSSL)
ossl, path, make_ca, make_leaf = certs.ossl, certs.path, certs.make_ca, certs.make_leaf
check = Checks()
procs = []


# ---- certificates -------------------------------------------------------------------------------


def make_expired_leaf(name, ca, san):
    """A leaf valid only on 1-2 January 2020, signed with `openssl ca`."""
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
    cadir = path("ca-db")
    os.makedirs(cadir, exist_ok=True)
    open(os.path.join(cadir, "index.txt"), "w").close()
    with open(os.path.join(cadir, "serial"), "w") as f:
        f.write("1000\n")
    with open(path("ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = test\n[test]\ndir = %s\ndatabase = $dir/index.txt\n"
                "serial = $dir/serial\nnew_certs_dir = $dir\ndefault_md = sha256\n"
                "policy = any\ncopy_extensions = none\n[any]\ncommonName = supplied\n"
                "[ext]\nsubjectAltName = %s\nextendedKeyUsage = serverAuth\n" % (cadir, san))
    ossl("ca", "-batch", "-config", "ca.cnf", "-startdate", "20200101000000Z", "-enddate",
         "20200102000000Z", "-cert", ca + ".crt", "-keyfile", ca + ".key", "-in", name + ".csr",
         "-out", name + ".crt", "-extensions", "ext", "-notext")


SAN = "DNS:localhost,IP:127.0.0.1"
make_ca("ca1")
make_ca("ca2")
make_leaf("host1", "ca1", SAN)
make_leaf("host2", "ca2", SAN)
make_leaf("client1", "ca1", None, "clientAuth")
make_expired_leaf("expired1", "ca1", SAN)


# ---- peers --------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, **kw):
    p = Process(args, **kw)
    procs.append(p)
    return p


def simulator():
    p = start([DRAGOMAN, "simulate", "--profile", PROFILE, "--listen", "127.0.0.1:0"])
    ev = p.json_line("simulate", timeout=15)
    if not ev:
        raise RuntimeError("simulate did not start: " + p.output())
    return ev["simulate"]


def stunnel(sim, cert, key, ca="ca1.crt"):
    """stunnel4 in server mode in front of sim, client certificates required (verify = 2)."""
    port = free_port()
    conf = path("stunnel-%d.conf" % port)
    with open(conf, "w") as f:
        f.write("foreground = yes\npid =\ndebug = notice\n[host]\naccept = 127.0.0.1:%d\n"
                "connect = %s\ncert = %s\nkey = %s\nCAfile = %s\nverify = 2\n"
                % (port, sim, path(cert), path(key), path(ca)))
    start([STUNNEL, conf])
    if not wait_port(port):
        raise RuntimeError("stunnel did not listen")
    return "127.0.0.1:%d" % port


class SServer:
    """`openssl s_server` (client certificate required) relaying its one session's bytes to the
    simulator through its stdin and stdout (-quiet passes bytes through unchanged)."""

    def __init__(self, sim, cert, key, ca="ca1.crt"):
        self.port = free_port()
        self.p = subprocess.Popen(
            [OPENSSL, "s_server", "-quiet", "-accept", "127.0.0.1:%d" % self.port, "-cert",
             path(cert), "-key", path(key), "-CAfile", path(ca), "-Verify", "1",
             "-verify_return_error"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        host, port = sim.rsplit(":", 1)
        self.sim = socket.create_connection((host, int(port)), timeout=10)
        self.sim.settimeout(None)
        threading.Thread(target=self._up, daemon=True).start()
        threading.Thread(target=self._down, daemon=True).start()
        self.address = "127.0.0.1:%d" % self.port
        if not wait_port(self.port):
            raise RuntimeError("s_server did not listen")

    def _up(self):
        while True:
            data = os.read(self.p.stdout.fileno(), 65536)
            if not data:
                return
            self.sim.sendall(data)

    def _down(self):
        while True:
            try:
                data = self.sim.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                self.p.stdin.write(data)
                self.p.stdin.flush()
            except (BrokenPipeError, ValueError):
                return

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=5)
        self.sim.close()


def serve(upstreams, extra, connections=1, profile=PROFILE):
    args = [DRAGOMAN, "serve", "--profile", profile, "--http", "127.0.0.1:0", "--line", "",
            "--upstream-connections", str(connections), "--connect-timeout-ms", "1000",
            "--breaker-cooldown-ms", "300", "--tls-reload-interval-ms", "100"]
    for u in upstreams:
        args += ["--upstream", u]
    p = start(args + list(extra))
    ev = p.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
    if not ev:
        raise RuntimeError("serve did not start: " + p.output())
    return p, ev["http"]


def upstreams(http):
    status, body = get(http, "/admin/upstreams")
    return json.loads(body) if status == 200 else {}


def endpoint_errors(http):
    return [e.get("last_error") or "" for e in upstreams(http).get("endpoints", [])]


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def metric(http, name):
    status, text = get(http, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line
    return ""


def balance(http):
    return post(http, "balance", {"account": "12345"}, headers={"Request-Timeout": "3000"})


def stop(p):
    p.stop()
    procs.remove(p)


MTLS = ["--tls-ca", path("ca1.crt"), "--tls-cert", path("client1.crt"), "--tls-key",
        path("client1.key")]


# ---- scenarios ----------------------------------------------------------------------------------

def mtls_calls(sim):
    host = stunnel(sim, "host1.crt", "host1.key")
    d, http = serve([host], MTLS, connections=2)
    ready = wait_for(lambda: get(http, "/readyz")[0] == 200)
    check("stunnel: mutual TLS connection signs on", ready, d.output()[-2000:])
    results = [balance(http) for _ in range(20)]
    check("stunnel: 20 calls through mutual TLS answered ok",
          all(s == 200 and b.get("balance") is not None for s, b, _ in results),
          str([(s, b) for s, b, _ in results if s != 200][:3]))
    tls = upstreams(http).get("tls", {})
    check("/admin/upstreams describes the TLS material",
          tls.get("ca") == path("ca1.crt") and tls.get("min_version") == "1.2"
          and tls.get("certificate_expiry", 0) > time.time(), str(tls))
    line = metric(http, "dragoman_tls_certificate_expiry_seconds")
    check("dragoman_tls_certificate_expiry_seconds shows the client certificate",
          'certificate="client"' in line and float(line.split()[-1]) > time.time(), line)
    promtool = shutil.which("promtool")
    if promtool:
        text = get(http, "/metrics")[1]
        r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        check("promtool accepts /metrics with the TLS families", r.returncode == 0,
              (r.stdout + r.stderr).decode(errors="replace")[:800])
    stop(d)
    # The name given with --tls-server-name is the one checked (and sent as SNI).
    d, http = serve([host], MTLS + ["--tls-server-name", "localhost", "--tls-min-version", "1.3"])
    s, b, _ = balance(http) if wait_for(lambda: get(http, "/readyz")[0] == 200) else (0, {}, {})
    check("stunnel: --tls-server-name localhost and TLS 1.3 only: call ok", s == 200, str(b))
    stop(d)


def heartbeats(sim):
    """Echo tests every 200 ms over mutual TLS: answered, and the connection stays up."""
    with open(PROFILE) as f:
        text = f.read()
    fast = text.replace('"heartbeat_interval_ms": 30000', '"heartbeat_interval_ms": 200', 1)
    assert fast != text
    fast_profile = path("acme-fast-heartbeat.json")
    with open(fast_profile, "w") as f:
        f.write(fast)
    host = stunnel(sim, "host1.crt", "host1.key")
    d, http = serve([host], MTLS, profile=fast_profile)
    try:
        up = wait_for(lambda: get(http, "/readyz")[0] == 200)
        since = [c.get("since") for e in upstreams(http).get("endpoints", [])
                 for c in e.get("connections", [])]
        beats = wait_for(lambda: (lambda m: m and float(m.split()[-1]) >= 4)(
            metric(http, "dragoman_upstream_heartbeats_total")), timeout=10)
        fails = metric(http, "dragoman_upstream_heartbeat_failures_total")
        still = [c.get("since") for e in upstreams(http).get("endpoints", [])
                 for c in e.get("connections", [])]
        check("heartbeats over TLS are answered and the connection stays up",
              up and beats and fails.endswith(" 0") and still == since,
              "%s / %s / %s %s" % (metric(http, "dragoman_upstream_heartbeats_total"), fails,
                                   since, still))
    finally:
        stop(d)


def s_server_call(sim):
    srv = SServer(sim, "host1.crt", "host1.key")
    try:
        d, http = serve([srv.address], MTLS, connections=1)
        ready = wait_for(lambda: get(http, "/readyz")[0] == 200)
        check("s_server: mutual TLS connection signs on", ready, d.output()[-2000:])
        s, b, _ = balance(http)
        check("s_server: a call through mutual TLS answered ok", s == 200 and "balance" in b, str(b))
        stop(d)
    finally:
        srv.stop()


def failure(name, host, extra, want):
    d, http = serve([host], extra)
    try:
        errors = wait_for(lambda: [e for e in endpoint_errors(http) if want in e])
        check("%s: /admin/upstreams names the reason (%s)" % (name, want), errors,
              str(endpoint_errors(http)))
        s, b, _ = balance(http)
        check("%s: a call is 503 upstream_unavailable" % name,
              s == 503 and b.get("code") == "upstream_unavailable", "%s %s" % (s, b))
        logged = wait_for(lambda: any(
            want in line and ('"connect_failed"' in line or '"disconnect"' in line)
            for line in d.output().splitlines()), timeout=5)
        check("%s: the log names the reason" % name, logged, d.output()[-1500:])
        fails = wait_for(lambda: (lambda m: m and float(m.split()[-1]) >= 2)(
            metric(http, "dragoman_upstream_connect_failures_total")), timeout=10)
        check("%s: counted as failed connects" % name, fails,
              metric(http, "dragoman_upstream_connect_failures_total"))
        breaker = wait_for(lambda: any(e.get("breaker") in ("open", "half_open")
                                       for e in upstreams(http).get("endpoints", [])), timeout=10)
        check("%s: the failures open the breaker" % name, breaker,
              json.dumps(upstreams(http))[:600])
    finally:
        stop(d)


def failures(sim):
    good = stunnel(sim, "host1.crt", "host1.key")
    failure("wrong CA", good,
            ["--tls-ca", path("ca2.crt"), "--tls-cert", path("client1.crt"), "--tls-key",
             path("client1.key")], "unknown CA")
    failure("name mismatch", good, MTLS + ["--tls-server-name", "other.example"],
            "name mismatch")
    expired = stunnel(sim, "expired1.crt", "expired1.key")
    failure("expired certificate", expired, MTLS, "certificate expired")
    failure("no client certificate", good, ["--tls-ca", path("ca1.crt")], "no client certificate")
    # A host that accepts the TCP connection and never answers the ClientHello: the handshake is
    # bounded by the connect timeout (1000 ms here).
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(64)
    try:
        failure("mute host", "127.0.0.1:%d" % mute.getsockname()[1], MTLS,
                "TLS handshake timed out")
    finally:
        mute.close()
    srv = SServer(sim, "host1.crt", "host1.key")
    try:
        failure("s_server, no client certificate", srv.address, ["--tls-ca", path("ca1.crt")],
                "no client certificate")
    finally:
        srv.stop()


def rotation(sim):
    """Host A has a certificate from CA1, host B one from CA2. The CA file starts as CA1: A is up,
    B refused (unknown CA). Under a steady load, the file is replaced (rename) by CA1+CA2, then
    by a broken file, then by CA2 alone: B comes up with the new material, A's connections stay
    up, no call fails, the broken file is refused and counted."""
    a = stunnel(sim, "host1.crt", "host1.key")
    b = stunnel(sim, "host2.crt", "host2.key")
    ca = path("rotating-ca.pem")
    shutil.copy(path("ca1.crt"), ca)

    def replace(*sources, text=None):
        tmp = ca + ".new"
        with open(tmp, "w") as out:
            if text is not None:
                out.write(text)
            for s in sources:
                with open(path(s)) as f:
                    out.write(f.read())
        os.replace(tmp, ca)

    d, http = serve([a, b], ["--tls-ca", ca, "--tls-cert", path("client1.crt"), "--tls-key",
                             path("client1.key")], connections=1)

    def state(i):
        eps = upstreams(http).get("endpoints", [])
        return eps[i] if len(eps) > i else {}

    def conn_up(i):
        return any(c.get("state") == "up" for c in state(i).get("connections", []))

    check("rotation: A up", wait_for(lambda: conn_up(0)), json.dumps(state(0))[:500])
    check("rotation: B refused with the old CA",
          wait_for(lambda: "unknown CA" in (state(1).get("last_error") or "")),
          json.dumps(state(1))[:500])
    since_a = [c.get("since") for c in state(0).get("connections", [])]

    stop_load = threading.Event()
    outcomes = []

    def load():
        deadline = time.time() + 30
        while not stop_load.is_set() and time.time() < deadline and len(outcomes) < 5000:
            s, body, _ = balance(http)
            outcomes.append((s, body.get("code")))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    replace("ca1.crt", "ca2.crt")
    b_up = wait_for(lambda: conn_up(1), timeout=12)
    check("rotation: after CA1+CA2 replaced the file, B connects (new handshakes, new CA)", b_up,
          json.dumps(state(1))[:500])
    replace(text="-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    refused = wait_for(lambda: (lambda m: m and float(m.split()[-1]) >= 1)(
        metric(http, "dragoman_tls_reload_failures_total")), timeout=5)
    check("rotation: a broken CA file is refused and counted", refused,
          metric(http, "dragoman_tls_reload_failures_total"))
    replace("ca2.crt")
    time.sleep(0.5)
    stop_load.set()
    for t in threads:
        t.join(timeout=40)
    bad = [o for o in outcomes if o[0] != 200]
    check("rotation: %d calls under load, none failed" % len(outcomes),
          len(outcomes) >= 20 and not bad, str(bad[:5]))
    check("rotation: A's connection stayed up through the rotations",
          conn_up(0) and [c.get("since") for c in state(0).get("connections", [])] == since_a,
          json.dumps(state(0))[:600])
    check("rotation: the refusal is logged",
          '"tls_reload_failed"' in d.output(), d.output()[-1000:])
    # SIGHUP re-reads the files even when their identity did not change.
    reloads = metric(http, "dragoman_tls_reloads_total")
    d.proc.send_signal(signal.SIGHUP)
    check("rotation: SIGHUP re-reads the TLS files",
          wait_for(lambda: metric(http, "dragoman_tls_reloads_total") != reloads, timeout=5),
          metric(http, "dragoman_tls_reloads_total"))
    stop(d)


def startup_errors():
    r = subprocess.run([DRAGOMAN, "serve", "--profile", PROFILE, "--upstream", "127.0.0.1:1",
                        "--tls-ca", path("nope.pem")], capture_output=True, timeout=20)
    err = r.stderr.decode(errors="replace")
    check("a missing CA file stops the start with its name", r.returncode == 1 and
          "nope.pem" in err, err)
    r = subprocess.run([DRAGOMAN, "serve", "--profile", PROFILE, "--upstream", "127.0.0.1:1",
                        "--tls-cert", path("client1.crt")], capture_output=True, timeout=20)
    err = r.stderr.decode(errors="replace")
    check("--tls-cert without --tls-key is a usage error", r.returncode == 2 and
          "--tls-key" in err, err)
    r = subprocess.run([DRAGOMAN, "serve", "--profile", PROFILE, "--upstream", "127.0.0.1:1",
                        "--tls-cert", path("client1.crt"), "--tls-key", path("host1.key")],
                       capture_output=True, timeout=20)
    err = r.stderr.decode(errors="replace")
    check("a key that does not match the certificate stops the start", r.returncode == 1 and
          "does not match" in err, err)
    r = subprocess.run([DRAGOMAN, "serve", "--profile", PROFILE, "--tls-min-version", "1.1"],
                       capture_output=True, timeout=20)
    check("--tls-min-version 1.1 is refused", r.returncode == 2, r.stderr.decode())


try:
    sim = simulator()
    startup_errors()
    mtls_calls(sim)
    heartbeats(sim)
    s_server_call(sim)
    failures(sim)
    rotation(sim)
except Exception as e:  # a broken scenario is a failed check, with the processes' output
    import traceback
    traceback.print_exc()
    check("scenarios ran", False, str(e))
    for p in procs:
        print("---- %s\n%s" % (" ".join(p.args[:3]), p.output()[-1500:]))
finally:
    for p in list(procs):
        p.stop()
    shutil.rmtree(TMP, ignore_errors=True)
check.finish()
