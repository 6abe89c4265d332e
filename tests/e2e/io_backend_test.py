#!/usr/bin/env python3
"""End-to-end: the I/O backend. An io_uring build serves on io_uring and says so (the listening
event, dragoman_info); under a seccomp filter that refuses io_uring_setup with EPERM (as
Docker's default profile does) `--io-backend auto` runs dragoman-epoll in its place
and still answers calls, `--io-backend io_uring` stops with a clear error, and `--io-backend epoll`
runs the twin without being refused anything. Skipped (77) when dragoman is built on epoll."""
import ctypes
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DRAGOMAN, SRC, Checks, Process, get, post, serve  # noqa: E402

PROFILE = os.path.join(SRC, "profiles", "acme-core.json")
NR_IO_URING_SETUP = 425  # the same number on every Linux architecture (the io_uring calls came late)
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
EPERM = 1


def refuse_io_uring():
    """preexec_fn: a classic-BPF seccomp filter, io_uring_setup -> EPERM, everything else allowed."""
    def insn(code, jt, jf, k):
        return struct.pack("HBBI", code, jt, jf, k)
    prog = b"".join([
        insn(0x20, 0, 0, 0),                       # ld [0]: the system call number
        insn(0x15, 0, 1, NR_IO_URING_SETUP),       # jeq io_uring_setup
        insn(0x06, 0, 0, 0x00050000 | EPERM),      # ret ERRNO(EPERM)
        insn(0x06, 0, 0, 0x7FFF0000),              # ret ALLOW
    ])
    buf = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def start(extra, preexec_fn=None):
    args = [DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0", "--line", "",
            "--admin", "127.0.0.1:0"] + extra
    p = Process(args, preexec_fn=preexec_fn)
    ev = p.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
    return p, ev


def answers_and_says(check, name, p, ev, backend):
    if not check(f"{name}: listening", ev is not None, p.output()[-2000:]):
        return
    check(f"{name}: listening event names {backend}", ev.get("io_backend") == backend, str(ev))
    status, body, _ = post(ev["http"], "balance", {"account": "12345"})
    check(f"{name}: a call is answered", status == 200 and "balance" in body, f"{status} {body}")
    status, text = get(ev["admin"], "/metrics")
    check(f"{name}: dragoman_info names {backend}",
          status == 200 and f'io_backend="{backend}"' in text,
          [line for line in text.splitlines() if line.startswith("dragoman_info")])


def main():
    check = Checks()
    built = subprocess.run([DRAGOMAN, "simulate", "--profile", PROFILE, "--listen", "127.0.0.1:0",
                            "--io-backend", "nope"], capture_output=True, text=True, timeout=20)
    check("a wrong --io-backend is a usage error", built.returncode == 2
          and "--io-backend must be auto, io_uring or epoll" in built.stderr, built.stderr)
    twin = os.path.join(os.path.dirname(os.path.abspath(DRAGOMAN)), "dragoman-epoll")
    probe, ev = start([])
    try:
        backend = ev.get("io_backend") if ev else None
        if backend == "epoll" and not os.path.exists(twin):
            print("skip: dragoman is built on epoll (no io_uring here or DRAGOMAN_IO_URING=OFF)")
            probe.stop()
            sys.exit(77)
        answers_and_says(check, "default", probe, ev, "io_uring")
    finally:
        probe.kill()

    if not os.path.exists(twin):
        print("no dragoman-epoll beside dragoman (DRAGOMAN_EPOLL_TWIN=OFF): fallback not tested")
        check.finish()

    p, ev = start([], preexec_fn=refuse_io_uring)
    try:
        answers_and_says(check, "io_uring refused, auto", p, ev, "epoll")
        warn = [line for line in p.output().splitlines() if '"event":"io_backend"' in line
                and '"level":"warn"' in line]
        check("the fallback is logged with the reason", any(
            "Operation not permitted" in line for line in warn), p.output()[-2000:])
        check("stops cleanly", p.stop() == 0, p.output()[-1000:])
    finally:
        p.kill()

    refused = subprocess.run([DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0",
                              "--io-backend", "io_uring"], capture_output=True, text=True,
                             timeout=20, preexec_fn=refuse_io_uring)
    check("--io-backend io_uring where refused: exit 1, the reason and the way out",
          refused.returncode == 1 and "io_uring is refused here (io_uring_queue_init: Operation "
          "not permitted)" in refused.stderr and "--io-backend auto" in refused.stderr,
          f"rc={refused.returncode} {refused.stderr}")

    env = dict(os.environ, DRAGOMAN_IO_BACKEND="epoll")
    p = Process([DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0", "--line", "",
                 "--admin", "127.0.0.1:0"], env=env)
    try:
        ev = p.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
        answers_and_says(check, "DRAGOMAN_IO_BACKEND=epoll", p, ev, "epoll")
        check("asked for, epoll is not a warning", '"event":"io_backend"' not in p.output(),
              p.output()[-1000:])
    finally:
        p.kill()
    check.finish()


if __name__ == "__main__":
    main()
