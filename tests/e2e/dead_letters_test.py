#!/usr/bin/env python3
"""Dead letters (docs/journal.md): a poison message (one the host always refuses, and that the
profile says to retry) goes to /admin/messages once out of attempts; an ordered queue moves on
(on_dead "move_aside") or waits until an operator retries or discards it (on_dead "wait", across a
restart too); a message past its time to live is never sent (the host is down until it passes, then
up: the host sees nothing). A Python host that counts every request it receives."""
import json
import os
import socket
import tempfile
import threading
import time
import urllib.request
import urllib.error

from framed_host import FramedHost
from harness import Checks, DRAGOMAN, Process, post, get

check = Checks()
work = tempfile.mkdtemp(prefix="dragoman-dead-letters-e2e-")
TOKEN = "s3cret-admin"
AUTH = {"Authorization": "Bearer " + TOKEN}
ASYNC = {"Prefer": "respond-async"}


def operation(tx, delivery):
    return {
        "idempotent": False, "timeout_ms": 2000, "delivery": delivery,
        "request": {"layout": "fixed", "match": {"tx": tx + "Q"}, "fields": [
            {"name": "tx", "length": 4, "value": tx + "Q"},
            {"name": "trace", "length": 6, "type": "numeric", "generate": "counter", "width": 6},
            {"name": "key", "length": 4, "from": "key", "required": True},
            {"name": "text", "length": 8, "from": "text", "required": True},
            {"name": "pin", "length": 4, "from": "pin", "sensitive": True}]},
        "reply": {"layout": "fixed", "match": {"tx": tx + "R"}, "fields": [
            {"name": "tx", "length": 4},
            {"name": "trace", "length": 6, "type": "numeric"},
            {"name": "result", "length": 2, "to": "result"}],
            "result": {"field": "result", "success": ["00"]}}}


QUICK = {"order": "per_key", "key": "key", "max_attempts": 2, "backoff_min_ms": 50,
         "backoff_max_ms": 100, "retry_on": ["rejected"]}
PROFILE = {
    "name": "dead-letters-test",
    "framing": {"type": "length_prefix", "length_field_length": 2, "byte_order": "big",
                "max_frame_length": 4096},
    "correlation": {"mode": "field", "field": "trace"},
    "operations": {
        "aside": operation("ASD", {**QUICK, "on_dead": "move_aside"}),
        "hold": operation("HLD", {**QUICK, "on_dead": "wait"}),
        "brief": operation("TTL", {"order": "per_key", "key": "key", "max_attempts": 1000,
                                   "backoff_min_ms": 100, "backoff_max_ms": 100,
                                   "ttl_ms": 1500}),
    },
}
profile_path = os.path.join(work, "profile.json")
with open(profile_path, "w") as f:
    json.dump(PROFILE, f)


class Host(FramedHost):
    """A host on 127.0.0.1:port: refuses (51) texts starting with POISON unless told to accept
    them, accepts the rest; records (op, key, text) of every request in arrival order."""

    def __init__(self, port=0):
        self.seen = []
        self.accept_poison = False
        self.lock = threading.Lock()
        super().__init__(self._answer, port)

    def _answer(self, frame):
        tx, trace, key, text = frame[:4], frame[4:10], frame[10:14], frame[14:22].strip()
        with self.lock:
            self.seen.append((tx[:3], key.strip(), text))
            refuse = text.startswith("POISON") and not self.accept_poison
        return tx[:3] + "R" + trace + ("51" if refuse else "00"), 0

    def texts(self, tx=None, key=None):
        with self.lock:
            return [t for (x, k, t) in self.seen
                    if (tx is None or x == tx) and (key is None or k == key)]


started = []


def start_serve(port, journal):
    p = Process([DRAGOMAN, "serve", "--profile", profile_path, "--http", "127.0.0.1:0",
                 "--line", "127.0.0.1:0", "--upstream", f"127.0.0.1:{port}",
                 "--upstream-connections", "1", "--journal", journal, "--admin-token", TOKEN])
    started.append(p)
    ev = p.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
    return p, ev


def admin(http, method, path, headers=AUTH):
    req = urllib.request.Request(f"http://{http}{path}", method=method, headers=headers,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


def send(http, op, key, text, pin=None):
    body = {"key": key, "text": text}
    if pin:
        body["pin"] = pin
    status, b, h = post(http, op, body, ASYNC)
    check(f"{op} {text} accepted", status == 202, f"{status} {b}")
    return b.get("id", "?")


def wait_for(fn, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


def state(http, mid):
    status, text = get(http, f"/v1/messages/{mid}")
    return json.loads(text).get("state") if status == 200 else None


def metric(http, line_prefix):
    _, text = get(http, "/metrics", AUTH)
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[1])
    return None


try:
    host = Host()
    journal = os.path.join(work, "journal.db")
    serve, ev = start_serve(host.port, journal)
    check("serve listening with a journal and an admin token", ev is not None, serve.output())
    http = ev["http"]

    # --- move_aside: the queue goes on past the poison message.
    poison = send(http, "aside", "K1", "POISON1", pin="1234")
    ok1 = send(http, "aside", "K1", "OK1")
    ok2 = send(http, "aside", "K1", "OK2")
    check("the messages behind the poison one are delivered",
          wait_for(lambda: state(http, ok2) == "delivered") and state(http, ok1) == "delivered",
          host.seen)
    check("the poison message is dead after its 2 attempts", state(http, poison) == "dead")
    check("the host saw the poison message twice, then the rest in order",
          host.texts("ASD") == ["POISON1", "POISON1", "OK1", "OK2"], host.seen)

    status, body, _ = admin(http, "GET", "/admin/messages?state=dead", headers={})
    check("/admin/messages needs the admin token", status == 401, f"{status} {body}")
    status, body, _ = admin(http, "GET", "/admin/messages?state=dead")
    ids = [m["id"] for m in body.get("messages", [])]
    check("the dead letters list it", status == 200 and ids == [poison], body)
    m = body["messages"][0] if body.get("messages") else {}
    check("with its operation, key, attempts and last problem",
          m.get("operation") == "aside" and m.get("order_key") == "K1" and m.get("attempts") == 2
          and m.get("last_problem", {}).get("code") == "rejected", m)

    status, m, _ = admin(http, "GET", f"/admin/messages/{poison}")
    check("one message shows its request, sensitive fields masked",
          status == 200 and m.get("request", {}).get("text") == "POISON1"
          and m.get("request", {}).get("pin") == "****" and "1234" not in json.dumps(m), m)
    check("and the host's last answer",
          m.get("last_problem", {}).get("legacy_code") == "51" and
          m.get("last_problem", {}).get("fields", {}).get("result") == "51", m)
    status, m, _ = admin(http, "GET", f"/admin/messages/{ok1}")
    check("a delivered one shows its reply", m.get("reply", {}).get("result") == "00", m)

    check("metrics: one dead message, its age",
          metric(http, 'dragoman_journal_messages{state="dead"}') == 1 and
          (metric(http, 'dragoman_journal_oldest_message_age_seconds{state="dead"}') or -1) >= 0
          and metric(http, "dragoman_journal_dead_total") == 1, "")

    # Listing: filters and pages.
    status, body, _ = admin(http, "GET", "/admin/messages?op=aside&key=K1&limit=2")
    page1 = [m["id"] for m in body.get("messages", [])]
    check("a page of 2 and a cursor", page1 == [poison, ok1] and body.get("next") == ok1, body)
    status, body, _ = admin(http, "GET", f"/admin/messages?op=aside&key=K1&limit=2&after={ok1}")
    check("the next page", [m["id"] for m in body.get("messages", [])] == [ok2]
          and "next" not in body, body)
    status, body, _ = admin(http, "GET", "/admin/messages?key=nope")
    check("a key with no messages: an empty page", status == 200 and body.get("messages") == [],
          body)
    for q, what in [("state=lost", "state"), ("limit=0", "limit"), ("limit=501", "limit"),
                    ("after=x", "after"), ("colour=red", "colour")]:
        status, body, _ = admin(http, "GET", "/admin/messages?" + q)
        check(f"a bad filter ({q}) is 400 naming it",
              status == 400 and body.get("code") == "bad_request" and what in body.get("detail", ""),
              f"{status} {body}")

    # Retry, discard, and the wrong answers.
    status, body, _ = admin(http, "POST", "/admin/messages/999999/retry")
    check("retry of an unknown id: 404", status == 404 and body.get("code") == "not_found", body)
    status, body, _ = admin(http, "POST", f"/admin/messages/{ok1}/retry")
    check("retry of a delivered message: 409 with its state",
          status == 409 and body.get("code") == "wrong_state" and body.get("state") == "delivered",
          body)
    status, body, h = admin(http, "GET", f"/admin/messages/{poison}/retry")
    check("retry by GET: 405, Allow: POST", status == 405 and h.get("Allow") == "POST", f"{status}")
    status, body, _ = admin(http, "POST", f"/admin/messages/{poison}/retry", headers={})
    check("retry without the token: 401", status == 401, body)
    before = len(host.texts("ASD"))
    status, body, _ = admin(http, "POST", f"/admin/messages/{poison}/retry")
    check("retry of the dead message: queued again, attempts from zero",
          status == 200 and body.get("state") == "queued" and body.get("attempts") == 0, body)
    check("it is sent twice more and is dead again",
          wait_for(lambda: state(http, poison) == "dead" and len(host.texts("ASD")) == before + 2),
          host.seen)
    status, body, _ = admin(http, "POST", f"/admin/messages/{poison}/discard")
    check("discard: a terminal state kept for audit", status == 200 and
          body.get("state") == "discarded", body)
    status, body, _ = admin(http, "POST", f"/admin/messages/{poison}/discard")
    check("discard again: 409", status == 409 and body.get("state") == "discarded", body)
    status, body, _ = admin(http, "POST", f"/admin/messages/{poison}/retry")
    check("a discarded message is not retried: 409", status == 409, body)
    status, body, _ = admin(http, "GET", "/admin/messages?state=discarded")
    check("it is listed as discarded", [m["id"] for m in body.get("messages", [])] == [poison],
          body)
    check("metrics: no dead message left, one discarded, one operator retry",
          metric(http, 'dragoman_journal_messages{state="dead"}') == 0 and
          metric(http, "dragoman_journal_discarded_total") == 1 and
          metric(http, "dragoman_journal_operator_retries_total") == 1, "")

    # --- wait: the queue waits behind its dead message, across a restart, until a retry.
    poison2 = send(http, "hold", "K2", "POISON2")
    ok3 = send(http, "hold", "K2", "OK3")
    other = send(http, "hold", "K3", "OK4")
    check("the poison message of a waiting queue is dead",
          wait_for(lambda: state(http, poison2) == "dead"), state(http, poison2))
    check("another key's queue is not held up", wait_for(lambda: state(http, other) == "delivered"))
    time.sleep(0.5)
    check("the message behind the dead one waits, unsent",
          state(http, ok3) == "queued" and "OK3" not in host.texts("HLD"), host.seen)
    serve.stop()
    serve, ev = start_serve(host.port, journal)
    check("serve restarts on the same journal", ev is not None, serve.output())
    http = ev["http"]
    time.sleep(0.8)
    check("after the restart the queue still waits behind its dead message",
          state(http, ok3) == "queued" and "OK3" not in host.texts("HLD"), host.seen)
    host.accept_poison = True
    status, body, _ = admin(http, "POST", f"/admin/messages/{poison2}/retry")
    check("retry of the dead head", status == 200 and body.get("state") == "queued", body)
    check("it goes first, then the queue resumes",
          wait_for(lambda: state(http, ok3) == "delivered") and
          host.texts("HLD", "K2") == ["POISON2", "POISON2", "POISON2", "OK3"], host.seen)
    host.accept_poison = False
    poison3 = send(http, "hold", "K2", "POISON3")
    ok5 = send(http, "hold", "K2", "OK5")
    check("a second poison message is dead", wait_for(lambda: state(http, poison3) == "dead"))
    time.sleep(0.3)
    check("its queue waits", state(http, ok5) == "queued")
    status, body, _ = admin(http, "POST", f"/admin/messages/{poison3}/discard")
    check("discard of the dead head", status == 200 and body.get("state") == "discarded", body)
    check("the queue resumes without it",
          wait_for(lambda: state(http, ok5) == "delivered") and
          host.texts("HLD", "K2")[-3:] == ["POISON3", "POISON3", "OK5"], host.seen)
    serve.stop()

    # --- time to live: the host is down until it passes, then up; it never sees the message.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    down_port = probe.getsockname()[1]
    probe.close()
    serve, ev = start_serve(down_port, os.path.join(work, "ttl.db"))
    check("serve with its host down", ev is not None, serve.output())
    http = ev["http"]
    late = send(http, "brief", "K4", "LATE1")
    check("the message expires while the host is down",
          wait_for(lambda: state(http, late) == "expired", timeout=10), state(http, late))
    status, body, _ = admin(http, "GET", f"/admin/messages/{late}")
    check("its last problem says so", body.get("last_problem", {}).get("code") == "expired", body)
    up = Host(down_port)
    started.append(up)
    check("the host is up: a synchronous call reaches it", wait_for(
        lambda: post(http, "brief", {"key": "K4", "text": "SYNC1"})[0] == 200, timeout=10),
        up.seen)
    time.sleep(1.0)
    check("the host never saw the expired message", "LATE1" not in up.texts(), up.seen)
    status, body, _ = admin(http, "POST", f"/admin/messages/{late}/retry")
    check("an expired message may be retried, with a new time to live from the retry",
          status == 200 and body.get("state") == "queued" and body.get("expires_at"), body)
    check("and then it is delivered once",
          wait_for(lambda: state(http, late) == "delivered") and up.texts().count("LATE1") == 1,
          up.seen)
    serve.stop()
finally:
    for p in started:
        try:
            if isinstance(p, Host):
                p.close()
            else:
                p.kill()
        except Exception:
            pass
check.finish()
