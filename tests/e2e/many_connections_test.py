#!/usr/bin/env python3
"""End-to-end: 10,000 concurrent client connections on the line door, held, then released.
While they are held, calls on a sample of them are answered; afterwards the server's descriptors
are back to where they were. Twice: the second cycle takes no more memory than the first (what
the first took is kept for reuse, not lost: Asio keeps each socket's reactor state in a free
list and the allocator keeps freed blocks, so resident memory does not fall back to where it was
before the first). Prints the memory per idle connection.

The descriptor limit is raised to its hard limit in this process (and so in dragoman). Run by
CTest with DRAGOMAN=<binary> and DRAGOMAN_SOURCE_DIR=<source tree>; standard library only. Every
wait has a deadline and only processes started here are stopped."""

import json
import os
import resource
import socket
import time

from harness import DRAGOMAN, SRC, Checks, Process

PROFILE = os.path.join(SRC, "profiles", "acme-core.json")
CONNECTIONS = 10000
BATCH = 500
checks = Checks()
SANITIZED = bool(os.environ.get("DRAGOMAN_SANITIZE"))


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_for(cond, seconds):
    """Polls cond until it holds or the deadline passes; returns its last value."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def call(s, i):
    s.sendall((json.dumps({"id": i, "op": "balance", "data": {"account": "12345"}}) + "\n").encode())
    s.settimeout(10)
    buf = b""
    while b"\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return None
        buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])


def hold_and_release(host, port, pid, socks, base_fds, base_rss, cycle):
    """Opens CONNECTIONS connections, calls on a sample, closes them; returns the RSS held (KiB),
    None when the connections could not be opened."""
    start = time.time()
    # In batches the listen backlog holds, each accepted before the next.
    for _ in range(0, CONNECTIONS, BATCH):
        for _ in range(BATCH):
            socks.append(socket.create_connection((host, int(port)), timeout=10))
        target = base_fds + len(socks)
        if not wait_for(lambda: fds(pid) >= target, 20):
            break
    held = wait_for(lambda: fds(pid) - base_fds >= CONNECTIONS, 20)
    if not checks(f"cycle {cycle}: {CONNECTIONS} connections held",
                  held and len(socks) == CONNECTIONS,
                  f"{len(socks)} opened, server holds {fds(pid) - base_fds}"):
        return None
    opened_in = time.time() - start
    sample = [socks[i] for i in range(0, len(socks), 250)]
    answered = [call(s, i + 1) for i, s in enumerate(sample)]
    checks(f"cycle {cycle}: calls on a sample of them are answered",
           all(a and a.get("ok") for a in answered),
           str([a for a in answered if not (a and a.get("ok"))][:3]))
    held_rss = rss_kib(pid)
    per_conn = (held_rss - base_rss) * 1024 / CONNECTIONS
    print(f"figures: cycle {cycle}: {CONNECTIONS} connections opened in {opened_in:.1f} s; RSS "
          f"{base_rss} KiB -> {held_rss} KiB held: {per_conn:.0f} bytes per idle connection "
          f"(descriptors {base_fds} -> {fds(pid)})", flush=True)
    for s in socks:
        s.close()
    socks.clear()
    back = wait_for(lambda: fds(pid) <= base_fds, 30)
    checks(f"cycle {cycle}: descriptors back to baseline", back, f"{fds(pid)} vs {base_fds}")
    print(f"figures: cycle {cycle}: RSS after release {rss_kib(pid)} KiB (baseline {base_rss} "
          f"KiB)", flush=True)
    return held_rss


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = CONNECTIONS + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        checks(f"the hard descriptor limit allows {need}", False, f"hard limit {hard}")
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    p = Process([DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0", "--line",
                 "127.0.0.1:0", "--threads", "2", "--max-connections", str(CONNECTIONS + 100)])
    socks = []
    try:
        ev = p.json_line("line", timeout=20, where=lambda o: o.get("event") == "listening")
        if not checks("serve starts", ev is not None, p.output()):
            return
        host, port = ev["line"].rsplit(":", 1)
        pid = p.proc.pid
        # Warm up: one call, so that start-up allocations are in the baseline; its connection
        # gone before the baseline is taken.
        before = fds(pid)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            checks("a call before", (call(s, 0) or {}).get("ok"))
        wait_for(lambda: fds(pid) <= before, 5)
        base_fds, base_rss = fds(pid), rss_kib(pid)
        peaks = []
        for cycle in (1, 2):
            peak = hold_and_release(host, port, pid, socks, base_fds, base_rss, cycle)
            if peak is None:
                return
            peaks.append(peak)
        # What the first cycle took is kept for reuse (Asio keeps each socket's reactor state in a
        # free list, the allocator its freed blocks), not lost: a second cycle takes no more.
        if not SANITIZED:  # a sanitizer's quarantine keeps freed memory on purpose
            checks("a second cycle reuses the memory of the first",
                   peaks[1] <= peaks[0] + max((peaks[0] - base_rss) // 10, 1024),
                   f"peaks {peaks} KiB, baseline {base_rss} KiB")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            checks("a call after", (call(s, 1) or {}).get("ok"))
        checks("stops cleanly", p.stop() == 0, p.output()[-2000:])
    finally:
        for s in socks:
            s.close()
        p.kill()


if __name__ == "__main__":
    main()
    checks.finish()
