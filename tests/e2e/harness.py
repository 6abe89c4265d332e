"""Shared helpers for dragoman's end-to-end tests: processes, JSON-line output, calls, checks."""
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

DRAGOMAN = os.environ.get("DRAGOMAN", "build/dragoman")
SRC = os.environ.get("DRAGOMAN_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
PEERS = os.path.join(SRC, "tests", "peers")


class Checks:
    """Counts checks and prints the closing 'N passed, N failed' line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}", flush=True)
        return cond

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


class Process:
    """A child process whose stdout lines are read by a thread into a queue (select() cannot
    see lines that readline() already buffered). Stopped by its pid only."""

    def __init__(self, args, env=None, cwd=None, preexec_fn=None):
        self.args = args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                     preexec_fn=preexec_fn)
        self.lines = queue.Queue()
        self.seen = []
        self.stderr_lines = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    @staticmethod
    def _pump(stream, q):
        for line in stream:
            q.put(line.decode(errors="replace"))
        q.put(None)

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode(errors="replace"))

    def json_line(self, key, timeout=15.0, where=None):
        """The next stdout JSON object having key (and where(obj) true), or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                return None
            if line is None:
                return None
            self.seen.append(line)
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and key in obj and (where is None or where(obj)):
                return obj
        return None

    def output(self):
        """Everything printed so far (stdout lines read, the rest drained, and stderr)."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        return "".join(self.seen) + "".join(self.stderr_lines)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def kill(self):
        """SIGKILL if it is still running (the clean-up after a failed check)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def wait_port(port, timeout=10.0):
    """Until something accepts on 127.0.0.1:port (a peer started by the test), or the timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def run(args, stdin=b"", timeout=30):
    """Runs the dragoman binary with args; returns (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([DRAGOMAN] + list(args), input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def node_env():
    """The environment for node scripts in tests/peers (their npm modules on NODE_PATH)."""
    return dict(os.environ, NODE_PATH=os.path.join(PEERS, "node_modules"))


def node_peer(script, *args):
    return Process(["node", os.path.join(PEERS, script), *args], env=node_env())


def serve(profile, upstreams=(), extra=()):
    """Starts `dragoman serve` on ports chosen by the system; returns (process, listening event)."""
    args = [DRAGOMAN, "serve", "--profile", profile, "--http", "127.0.0.1:0", "--line", "127.0.0.1:0"]
    for u in upstreams:
        args += ["--upstream", u]
    p = Process(args + list(extra))
    ev = p.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
    return p, ev


def post(http, op, body, headers=None, timeout=10):
    """POST /v1/ops/op; returns (status, JSON body or {}, headers)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{http}/v1/ops/{op}", data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}"), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"{}"), dict(e.headers)
        except ValueError:
            return e.code, {"raw": raw.decode(errors="replace")}, dict(e.headers)


def get(http, path, headers=None, timeout=10):
    req = urllib.request.Request(f"http://{http}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def line_calls(line_addr, requests, timeout=30):
    """Pipelines NDJSON requests on one connection; returns the answers by id."""
    host, port = line_addr.rsplit(":", 1)
    answers = {}
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        buf = b""
        deadline = time.time() + timeout
        while len(answers) < len(requests) and time.time() < deadline:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                a = json.loads(line)
                answers[a.get("id")] = a
    return answers
