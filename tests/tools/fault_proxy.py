#!/usr/bin/env python3
"""A fault-injecting TCP proxy for resilience tests: sits between dragoman and a legacy peer on
loopback and, on command, refuses, blackholes, delays, cuts, resets or corrupts the traffic, while
counting connections, bytes and (for length-prefixed framing) every request the peer really saw.

    fault_proxy.py --target 127.0.0.1:9000 [--listen 127.0.0.1:0] [--control 127.0.0.1:0]
                   [--framing length2|raw] [--track XFRQ ...]

It prints one line, {"listening": PORT, "control": CONTROL_PORT}, then takes commands on the
control port, one per line (`delay 300`) or as HTTP (`curl 127.0.0.1:CONTROL/delay/300`); every
answer is one JSON object. See docs/fault-proxy.md. Standard library only; loopback only."""

import argparse
import asyncio
import ipaddress
import json
import signal
import socket
import struct
import sys
import time

HELP = {
    "pass": "forward everything; clear delay, pending cuts and corruption; listen again if down",
    "refuse": "accept new connections and reset them at once (RST, SO_LINGER 0)",
    "down": "close the listening socket (connect gets ECONNREFUSED) and reset every connection",
    "stall": "stop accepting with a full accept queue: new connects hang (SYN dropped)",
    "blackhole": "accept, read and drop in both directions; nothing is forwarded or answered",
    "delay MS": "hold each chunk (frame) this long, each direction; 0 clears",
    "cut [N]": "the next N upstream->client chunks: forward half of one, then close its connection",
    "reset": "reset (RST) every current connection now",
    "corrupt [N] [body|header|all]": "flip the bytes of the next N upstream->client chunks",
    "stats": "counters: connections, bytes, frames, requests by transaction code, duplicates",
    "clear": "zero the counters",
    "mode": "the current mode",
    "help": "this list",
    "quit": "stop the proxy",
}


def loopback_only(host, what):
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except socket.gaierror as e:
        raise SystemExit("fault_proxy: %s %s: %s" % (what, host, e))
    for a in addrs:
        if not ipaddress.ip_address(a.split("%")[0]).is_loopback:
            raise SystemExit("fault_proxy: %s %s is not loopback; refusing" % (what, host))


def split_hostport(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def rst(writer):
    """Close with a reset rather than a FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Stats:
    def __init__(self):
        self.clear()

    def clear(self):
        self.connections_accepted = 0
        self.connections_refused = 0
        self.upstream_connects = 0
        self.upstream_connect_failures = 0
        self.bytes_from_client = 0
        self.bytes_from_upstream = 0
        self.bytes_to_upstream = 0
        self.bytes_to_client = 0
        self.frames_to_upstream = 0
        self.frames_to_client = 0
        self.frames_dropped = 0
        self.cuts = 0
        self.corrupted = 0
        self.resets = 0
        self.requests = {}  # transaction code -> frames the target saw
        self.tracked = {}  # request without its trace -> times the target saw it


class Session:
    """One client connection and, once needed, its upstream connection."""

    def __init__(self, proxy, reader, writer):
        self.proxy = proxy
        self.c_reader, self.c_writer = reader, writer
        self.u_reader = self.u_writer = None
        self.up_q = asyncio.Queue()
        self.down_q = asyncio.Queue()
        self.tasks = []
        self.closed = False
        self.connect_lock = asyncio.Lock()

    async def run(self):
        p = self.proxy
        try:
            if p.mode != "blackhole" and not await self.ensure_upstream():
                rst(self.c_writer)
                return
            main = [self.spawn(self.read_client()), self.spawn(self.write_upstream()),
                    self.spawn(self.write_client())]
            # Ends when a writer has flushed its side's end of stream, or either side failed.
            await asyncio.wait(main, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.close()

    def spawn(self, coro):
        t = asyncio.ensure_future(coro)
        t.add_done_callback(lambda t: t.cancelled() or t.exception())  # reset peers are normal
        self.tasks.append(t)
        return t

    async def ensure_upstream(self):
        async with self.connect_lock:
            if self.u_writer is not None:
                return True
            p = self.proxy
            try:
                self.u_reader, self.u_writer = await asyncio.wait_for(
                    asyncio.open_connection(*p.target), 5)
            except (OSError, asyncio.TimeoutError):
                p.stats.upstream_connect_failures += 1
                return False
            p.stats.upstream_connects += 1
            self.spawn(self.read_upstream())
            return True

    def units(self, buf, data):
        """Splits the stream into frames (length2) or passes chunks through (raw)."""
        if self.proxy.framing == "raw":
            return b"", [data]
        buf += data
        out = []
        while len(buf) >= 2:
            n = 2 + struct.unpack(">H", buf[:2])[0]
            if len(buf) < n:
                break
            out.append(buf[:n])
            buf = buf[n:]
        return buf, out

    async def read_client(self):
        p, buf = self.proxy, b""
        while True:
            data = await self.c_reader.read(65536)
            if not data:
                break
            p.stats.bytes_from_client += len(data)
            buf, units = self.units(buf, data)
            for u in units:
                if p.mode == "blackhole":
                    p.stats.frames_dropped += 1
                    continue
                self.up_q.put_nowait((time.monotonic() + p.delay_ms / 1000.0, u))
        self.up_q.put_nowait(None)
        await asyncio.Event().wait()  # the writer ends the session once the queue is flushed

    async def write_upstream(self):
        p = self.proxy
        while True:
            item = await self.up_q.get()
            if item is None:
                return
            due, u = item
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if p.mode == "blackhole":
                p.stats.frames_dropped += 1
                continue
            if not await self.ensure_upstream():
                return
            self.u_writer.write(u)
            await self.u_writer.drain()
            p.stats.bytes_to_upstream += len(u)
            p.stats.frames_to_upstream += 1
            p.record(u)

    async def read_upstream(self):
        p, buf = self.proxy, b""
        while True:
            try:
                data = await self.u_reader.read(65536)
            except OSError:
                data = b""
            if not data:
                break
            p.stats.bytes_from_upstream += len(data)
            buf, units = self.units(buf, data)
            for u in units:
                if p.mode == "blackhole":
                    p.stats.frames_dropped += 1
                    continue
                self.down_q.put_nowait((time.monotonic() + p.delay_ms / 1000.0, u))
        self.down_q.put_nowait(None)
        await asyncio.Event().wait()  # write_client ends the session once the queue is flushed

    async def write_client(self):
        p = self.proxy
        while True:
            item = await self.down_q.get()
            if item is None:
                return
            due, u = item
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if p.mode == "blackhole":
                p.stats.frames_dropped += 1
                continue
            if p.cut_pending > 0:
                p.cut_pending -= 1
                p.stats.cuts += 1
                self.c_writer.write(u[: max(1, len(u) // 2)])
                await self.c_writer.drain()
                p.stats.bytes_to_client += max(1, len(u) // 2)
                return  # run() closes both sides with a FIN
            if p.corrupt_pending > 0:
                p.corrupt_pending -= 1
                p.stats.corrupted += 1
                u = corrupt(u, p.corrupt_where, p.framing)
            self.c_writer.write(u)
            await self.c_writer.drain()
            p.stats.bytes_to_client += len(u)
            p.stats.frames_to_client += 1

    def reset(self):
        rst(self.c_writer)
        rst(self.u_writer)
        self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        for t in self.tasks:
            t.cancel()
        for w in (self.c_writer, self.u_writer):
            if w is not None:
                w.close()
        self.proxy.sessions.discard(self)


def corrupt(u, where, framing):
    head = 2 if framing == "length2" else 0
    b = bytearray(u)
    lo, hi = {"body": (head, len(b)), "header": (0, head or len(b)), "all": (0, len(b))}[where]
    for i in range(lo, hi):
        b[i] ^= 0xFF
    return bytes(b)


class Proxy:
    def __init__(self, args):
        self.target = split_hostport(args.target)
        self.listen_host, self.listen_port = split_hostport(args.listen)
        self.framing = args.framing
        self.track = set(args.track or ["XFRQ"])
        self.mode = "pass"
        self.delay_ms = 0
        self.cut_pending = 0
        self.corrupt_pending = 0
        self.corrupt_where = "body"
        self.sessions = set()
        self.stats = Stats()
        self.server = None
        self.stalled = []  # "stall": a listener that never accepts, and what fills its queue
        self.done = asyncio.Event()

    async def listen(self):
        self.unstall()
        self.server = await asyncio.start_server(self.on_client, self.listen_host,
                                                 self.listen_port, reuse_address=True,
                                                 backlog=128)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    def stop_listening(self):
        if self.server is not None:
            self.server.close()
            self.server = None

    def stall(self):
        """Listens with a backlog of 0 and never accepts; once one handshake fills the queue the
        kernel drops every further SYN, so a connect hangs until the caller's timeout."""
        self.stop_listening()
        if self.stalled:
            return
        family = socket.AF_INET6 if ":" in self.listen_host else socket.AF_INET
        ls = socket.socket(family, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.listen_host, self.listen_port))
        ls.listen(0)
        self.stalled.append(ls)
        for _ in range(2):
            c = socket.socket(family, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex((self.listen_host, self.listen_port))
            self.stalled.append(c)

    def unstall(self):
        for sock in reversed(self.stalled):
            sock.close()
        self.stalled = []

    async def on_client(self, reader, writer):
        if self.mode == "refuse":
            self.stats.connections_refused += 1
            rst(writer)
            return
        self.stats.connections_accepted += 1
        s = Session(self, reader, writer)
        self.sessions.add(s)
        try:
            await s.run()
        except asyncio.CancelledError:  # the proxy is stopping
            pass

    def record(self, frame):
        if self.framing != "length2" or len(frame) < 6:
            return
        body = frame[2:]
        try:
            tx = body[:4].decode("cp037")
            rest = body[10:].decode("cp037")
        except UnicodeDecodeError:
            tx, rest = "?", body[10:].hex()
        self.stats.requests[tx] = self.stats.requests.get(tx, 0) + 1
        if tx in self.track:
            key = tx + " " + rest
            self.stats.tracked[key] = self.stats.tracked.get(key, 0) + 1

    def reset_all(self):
        for s in list(self.sessions):
            self.stats.resets += 1
            s.reset()

    def snapshot(self):
        st = dict(vars(self.stats))
        st["duplicates"] = {k: v for k, v in st["tracked"].items() if v > 1}
        st["connections_open"] = len(self.sessions)
        st.update(self.describe())
        return st

    def describe(self):
        return {"mode": self.mode, "delay_ms": self.delay_ms, "cut_pending": self.cut_pending,
                "corrupt_pending": self.corrupt_pending, "listening": self.server is not None}

    async def command(self, line):
        words = line.split()
        if not words:
            return {"ok": False, "error": "empty command"}
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd == "pass":
                self.mode, self.delay_ms, self.cut_pending, self.corrupt_pending = "pass", 0, 0, 0
                if self.server is None:
                    await self.listen()
            elif cmd in ("refuse", "blackhole"):
                self.mode = cmd
                if self.server is None:
                    await self.listen()
            elif cmd == "down":
                self.mode = "down"
                self.stop_listening()
                self.unstall()
                self.reset_all()
            elif cmd == "stall":
                self.mode = "stall"
                self.stall()
            elif cmd == "delay":
                self.delay_ms = max(0, int(args[0]))
            elif cmd == "cut":
                self.cut_pending = int(args[0]) if args else 1
            elif cmd == "reset":
                n = len(self.sessions)
                self.reset_all()
                return dict(ok=True, reset=n, **self.describe())
            elif cmd == "corrupt":
                self.corrupt_pending = int(args[0]) if args else 1
                if len(args) > 1:
                    if args[1] not in ("body", "header", "all"):
                        raise ValueError("corrupt where: body, header or all")
                    self.corrupt_where = args[1]
            elif cmd == "stats":
                return dict(ok=True, **self.snapshot())
            elif cmd == "clear":
                self.stats.clear()
            elif cmd == "mode":
                pass
            elif cmd == "help":
                return {"ok": True, "commands": HELP}
            elif cmd == "quit":
                self.done.set()
            else:
                return {"ok": False, "error": "unknown command %r (try help)" % cmd}
        except (IndexError, ValueError, OSError) as e:
            return {"ok": False, "error": "%s: %s" % (cmd, e)}
        return dict(ok=True, **self.describe())

    async def on_control(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                text = line.decode("utf-8", "replace").strip()
                verb = text.split(" ", 1)[0]
                if verb in ("GET", "POST", "PUT"):
                    await self.http_control(text, reader, writer)
                    break
                writer.write(json.dumps(await self.command(text)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def http_control(self, request_line, reader, writer):
        for _ in range(100):  # headers; the body, if any, is ignored
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
        path = request_line.split(" ")[1] if " " in request_line else "/"
        cmd = path.split("?", 1)[0].strip("/").replace("/", " ") or "mode"
        answer = await self.command(cmd)
        body = json.dumps(answer).encode() + b"\n"
        status = b"200 OK" if answer.get("ok") else b"400 Bad Request"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() +
                     b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()


async def main_async(args):
    proxy = Proxy(args)
    await proxy.listen()
    chost, cport = split_hostport(args.control)
    control = await asyncio.start_server(proxy.on_control, chost, cport, reuse_address=True)
    print(json.dumps({"listening": proxy.listen_port,
                      "control": control.sockets[0].getsockname()[1]}), flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proxy.done.set)
    await proxy.done.wait()
    control.close()
    proxy.stop_listening()
    proxy.unstall()
    for s in list(proxy.sessions):
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to (loopback only)")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on (port 0: any)")
    ap.add_argument("--control", default="127.0.0.1:0", help="HOST:PORT of the control channel")
    ap.add_argument("--framing", choices=("length2", "raw"), default="length2",
                    help="length2: 2-byte big-endian length not counting itself (acme-core); "
                         "faults then act on whole frames. raw: on read chunks")
    ap.add_argument("--track", action="append", metavar="TX",
                    help="transaction code whose requests are counted one by one to find "
                         "duplicates (default XFRQ; repeatable)")
    args = ap.parse_args()
    for what, hp in (("--target", args.target), ("--listen", args.listen),
                     ("--control", args.control)):
        loopback_only(split_hostport(hp)[0], what)
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
