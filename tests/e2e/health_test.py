#!/usr/bin/env python3
"""--health: a listener with only /healthz and /readyz. Its /readyz is 200 while the process serves
calls, whether or not the legacy host answers (the HTTP door's /readyz, about the upstream, is
503 then), and 503 "draining" from SIGTERM until the process exits, while /healthz stays 200."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC, Checks, get, post, serve  # noqa: E402

PROFILE = os.path.join(SRC, "profiles", "memcached-text.json")


class black_hole:
    """A legacy host that accepts connections and never answers (closed by the test)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = []
        self.done = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def close(self):
        self.done = True
        for c in self.conns:
            c.close()
        self.sock.close()


def unused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    check = Checks()

    # The host is down (nothing listens on its port): the sidecar is ready all the same.
    down = "127.0.0.1:%d" % unused_port()
    p, ev = serve(PROFILE, [down], ["--health", "127.0.0.1:0", "--connect-timeout-ms", "200"])
    try:
        check("listening names the health listener", ev is not None and "health" in ev, str(ev))
        health = ev["health"]
        status, body = get(health, "/healthz")
        check("/healthz 200", status == 200 and json.loads(body)["status"] == "ok", body)
        status, body = get(health, "/readyz")
        check("/readyz 200 with the host down", status == 200, body)
        check("/readyz says the upstream is down", json.loads(body).get("upstream") == "down", body)
        status, _ = get(ev["http"], "/readyz")
        check("the HTTP door's /readyz is about the upstream (503)", status == 503)
        status, body = get(health, "/metrics")
        check("no metrics on the health listener", status == 404, body)
        status, body = get(health, "/admin/profile")
        check("no admin paths on the health listener", status == 404, body)
        status, _, _ = post(health, "get", {"key": "k"})
        check("no calls on the health listener", status == 404)
    finally:
        p.stop()

    # Draining: a call waits on a host that never answers; SIGTERM; /readyz turns 503 while the
    # call finishes within the drain, /healthz stays 200.
    host = black_hole()
    p, ev = serve(PROFILE, [host.address], ["--health", "127.0.0.1:0", "--drain-timeout-ms", "4000"])
    try:
        health = ev["health"]
        check("ready before the drain", get(health, "/readyz")[0] == 200)
        answers = []
        t = threading.Thread(target=lambda: answers.append(
            post(ev["http"], "get", {"key": "k"}, headers={"Request-Timeout": "3000"})))
        t.start()
        # The call is in flight once the host has a connection and the door counts it.
        deadline = time.time() + 10
        while time.time() < deadline and "dragoman_calls_in_flight 1" not in get(ev["http"], "/metrics")[1]:
            time.sleep(0.02)
        p.proc.send_signal(15)
        ready = None
        deadline = time.time() + 3
        while time.time() < deadline:
            ready = get(health, "/readyz")
            if ready[0] == 503:
                break
            time.sleep(0.02)
        check("/readyz 503 while draining", ready is not None and ready[0] == 503, str(ready))
        check("/readyz says draining", ready is not None and '"draining"' in ready[1], str(ready))
        check("/healthz 200 while draining", get(health, "/healthz")[0] == 200)
        t.join(timeout=10)
        check("the call in flight got its answer", len(answers) == 1 and answers[0][0] == 504,
              str(answers))
        check("exits 0 after the drain", p.proc.wait(timeout=10) == 0)
    finally:
        p.stop()
        host.close()
    check.finish()


if __name__ == "__main__":
    main()
