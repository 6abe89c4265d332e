#!/usr/bin/env python3
"""Idempotency-Key (docs/idempotency.md) against a Python host that counts what it receives: the
same key and body twice is one wire message and two identical answers (the second marked as a
replay); another body is 422 idempotency_key_reused; a key whose first call is still in flight is
409 in_progress; the line door's "idempotency_key" likewise; an asynchronous call's key gives the
same 202 and message id, after a restart of serve too (the journal keeps it); keys are scoped per
door token."""
import json
import os
import tempfile
import threading
import time

from framed_host import FramedHost
from harness import Checks, DRAGOMAN, Process, post, get, line_calls

check = Checks()
work = tempfile.mkdtemp(prefix="dragoman-idempotency-e2e-")

PROFILE = {
    "name": "idempotency-test",
    "framing": {"type": "length_prefix", "length_field_length": 2, "byte_order": "big",
                "max_frame_length": 4096},
    "correlation": {"mode": "field", "field": "trace"},
    "operations": {
        "pay": {
            "idempotent": False, "timeout_ms": 5000,
            "request": {"layout": "fixed", "match": {"tx": "PAYQ"}, "fields": [
                {"name": "tx", "length": 4, "value": "PAYQ"},
                {"name": "trace", "length": 6, "type": "numeric", "generate": "counter",
                 "width": 6},
                {"name": "text", "length": 8, "from": "text", "required": True}]},
            "reply": {"layout": "fixed", "match": {"tx": "PAYR"}, "fields": [
                {"name": "tx", "length": 4},
                {"name": "trace", "length": 6, "type": "numeric", "to": "trace"},
                {"name": "result", "length": 2, "to": "result"}],
                "result": {"field": "result", "success": ["00"]}}}}}
profile_path = os.path.join(work, "profile.json")
with open(profile_path, "w") as f:
    json.dump(PROFILE, f)
TOKENS = os.path.join(work, "tokens")
with open(TOKENS, "w") as f:
    f.write("alice alice-token-0123456789\nbob bob-token-0123456789\n")


class Host(FramedHost):
    """Answers PAYR 00 with the request's trace; texts starting with SLOW after 1.5 s. Counts."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()
        super().__init__(self._answer)

    def _answer(self, frame):
        trace, text = frame[4:10], frame[10:18].strip()
        with self.lock:
            self.seen.append(text)
        return "PAYR" + trace + "00", 1.5 if text.startswith("SLOW") else 0

    def count(self, text):
        with self.lock:
            return self.seen.count(text)


started = []


def start_serve(port, journal, extra=()):
    p = Process([DRAGOMAN, "serve", "--profile", profile_path, "--http", "127.0.0.1:0",
                 "--line", "127.0.0.1:0", "--upstream", f"127.0.0.1:{port}",
                 "--upstream-connections", "1", "--journal", journal, *extra])
    started.append(p)
    ev = p.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
    return p, ev


def wait_for(fn, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


def key(k, extra=None):
    return {"Idempotency-Key": k, **(extra or {})}


host = Host()
try:
    journal = os.path.join(work, "journal.db")
    serve, ev = start_serve(host.port, journal)
    check("serve listening", ev is not None, serve.output())
    http = ev["http"]
    check("the host is reachable", wait_for(lambda: post(http, "pay", {"text": "WARM"})[0] == 200))

    s1, b1, h1 = post(http, "pay", {"text": "ONE"}, key('"k-1"'))
    s2, b2, h2 = post(http, "pay", {"text": "ONE"}, key('"k-1"'))
    check("the same key and body twice: two identical answers",
          s1 == s2 == 200 and b1 == b2 and b1.get("result") == "00", f"{s1} {b1} / {s2} {b2}")
    check("the second says it is a replay, the first does not",
          h2.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in h1, h2)
    check("...and one wire message", host.count("ONE") == 1, host.seen)
    s3, b3, _ = post(http, "pay", {"text": "TWO"}, key('"k-1"'))
    check("the same key with another body: 422 idempotency_key_reused",
          s3 == 422 and b3.get("code") == "idempotency_key_reused", f"{s3} {b3}")
    check("...not sent", host.count("TWO") == 0, host.seen)
    s4, b4, _ = post(http, "pay", {"text": "ONE"}, key("k-2"))
    check("another key (bare form) is another call", s4 == 200 and host.count("ONE") == 2,
          f"{s4} {host.seen}")
    s5, b5, _ = post(http, "pay", {"text": "ONE"}, key("has space"))
    check("a malformed key: 400", s5 == 400 and "Idempotency-Key" in b5.get("detail", ""), b5)

    # In flight: the first call waits 1.5 s for its answer.
    first = {}
    t = threading.Thread(target=lambda: first.update(
        r=post(http, "pay", {"text": "SLOW1"}, key("k-slow"))))
    t.start()
    check("the slow call reached the host", wait_for(lambda: host.count("SLOW1") == 1, 5))
    s6, b6, _ = post(http, "pay", {"text": "SLOW1"}, key("k-slow"))
    check("the same key while the first is in flight: 409 in_progress",
          s6 == 409 and b6.get("code") == "in_progress", f"{s6} {b6}")
    t.join(10)
    check("the first call is answered as ever", first.get("r", (0,))[0] == 200, first)
    s7, b7, _ = post(http, "pay", {"text": "SLOW1"}, key("k-slow"))
    check("...and then replayed", s7 == 200 and b7 == first["r"][1] and host.count("SLOW1") == 1,
          f"{s7} {b7}")

    # The line door.
    answers = line_calls(ev["line"], [
        {"id": "a", "op": "pay", "idempotency_key": "line-1", "data": {"text": "LINE"}}])
    again = line_calls(ev["line"], [
        {"id": "a", "op": "pay", "idempotency_key": "line-1", "data": {"text": "LINE"}},
        {"id": "b", "op": "pay", "idempotency_key": "line-1", "data": {"text": "OTHER"}},
        {"id": "c", "op": "pay", "idempotency_key": 7, "data": {"text": "LINE"}}])
    a1, a2 = answers.get("a", {}), again.get("a", {})
    check("line door: the same key twice, the same data, one wire message",
          a1.get("ok") and a2.get("data") == a1.get("data") and a2.get("replayed") is True
          and host.count("LINE") == 1, f"{answers} {again}")
    check("line door: another body is idempotency_key_reused",
          again.get("b", {}).get("error", {}).get("code") == "idempotency_key_reused", again)
    check("line door: a key that is not a string is bad_request",
          again.get("c", {}).get("error", {}).get("code") == "bad_request", again)

    # Asynchronous: the same 202 and message id, after a restart too.
    ASYNC = {"Prefer": "respond-async"}
    s8, b8, h8 = post(http, "pay", {"text": "ASYNC1"}, key("k-async", ASYNC))
    s9, b9, h9 = post(http, "pay", {"text": "ASYNC1"}, key("k-async", ASYNC))
    check("async: the same 202, id and Location again",
          s8 == s9 == 202 and b8 == b9 and h8.get("Location") == h9.get("Location"),
          f"{s8} {b8} / {s9} {b9}")
    check("async: delivered once",
          wait_for(lambda: json.loads(get(http, h8.get("Location", "/"))[1] or "{}").get("state")
                   == "delivered") and host.count("ASYNC1") == 1, host.seen)
    serve.stop()
    serve, ev = start_serve(host.port, journal)
    check("serve restarts on the same journal", ev is not None, serve.output())
    http = ev["http"]
    s10, b10, h10 = post(http, "pay", {"text": "ASYNC1"}, key("k-async", ASYNC))
    check("async after a restart: the same 202 and id, marked as a replay",
          s10 == 202 and b10.get("id") == b8.get("id") and
          h10.get("Idempotent-Replayed") == "true", f"{s10} {b10} {h10}")
    s11, b11, _ = post(http, "pay", {"text": "ASYNC2"}, key("k-async", ASYNC))
    check("async after a restart: another body is 422",
          s11 == 422 and b11.get("code") == "idempotency_key_reused", f"{s11} {b11}")
    time.sleep(0.3)
    check("async: still one wire message", host.count("ASYNC1") == 1 and
          host.count("ASYNC2") == 0, host.seen)
    serve.stop()

    # Scoped per caller: two door tokens, one key, two calls.
    serve, ev = start_serve(host.port, os.path.join(work, "j2.db"), ["--door-tokens", TOKENS])
    http = ev["http"]
    alice = {"Authorization": "Bearer alice-token-0123456789"}
    bob = {"Authorization": "Bearer bob-token-0123456789"}
    wait_for(lambda: post(http, "pay", {"text": "WARM"}, alice)[0] == 200)
    sa, _, _ = post(http, "pay", {"text": "SHARED"}, key("same", alice))
    sb, _, hb = post(http, "pay", {"text": "SHARED"}, key("same", bob))
    check("the same key from two callers is two calls",
          sa == sb == 200 and "Idempotent-Replayed" not in hb and host.count("SHARED") == 2,
          host.seen)
    sc, _, hc = post(http, "pay", {"text": "SHARED"}, key("same", bob))
    check("...each replayed to its own caller",
          sc == 200 and hc.get("Idempotent-Replayed") == "true" and host.count("SHARED") == 2,
          host.seen)
    serve.stop()
finally:
    for p in started:
        try:
            p.kill()
        except Exception:
            pass
    host.sock.close()
check.finish()
