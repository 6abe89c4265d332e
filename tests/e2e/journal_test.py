#!/usr/bin/env python3
"""Asynchronous calls through the journal (docs/journal.md), against the ISO 8583 test host built
on the npm iso_8583 codec: 202 once durable, the outcome at the Location, a message kept across a
kill -9 and delivered after the restart with the STAN it was given when accepted."""
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
import json

from harness import Checks, SRC, PEERS, DRAGOMAN, Process, node_peer, post, get, serve, line_calls

check = Checks()
PROFILE = os.path.join(SRC, "profiles", "iso8583-ascii.json")
CARD = {"pan": "4111111111111111", "processing_code": "000000", "terminal_id": "TERM0001",
        "merchant_id": "MERCHANT0000001", "currency": "978"}
ASYNC = {"Prefer": "respond-async"}

if not check("npm peers installed", os.path.isdir(os.path.join(PEERS, "node_modules", "iso_8583")),
             "run scripts/setup"):
    check.finish()

work = tempfile.mkdtemp(prefix="dragoman-journal-e2e-")
journal = os.path.join(work, "journal.db")
started = []


def start_host():
    h = node_peer("iso8583_host.cjs", "0")
    started.append(h)
    hello = h.json_line("listening", timeout=15)
    return h, hello["listening"] if hello else None


def start_serve(port, extra=()):
    p, ev = serve(PROFILE, [f"127.0.0.1:{port}"],
                  ["--upstream-connections", "1", "--journal", journal, *extra])
    started.append(p)
    return p, ev


def message(http, location):
    status, text = get(http, location)
    return status, json.loads(text) if text else {}


def wait_state(http, location, states, timeout=20):
    deadline = time.time() + timeout
    m = {}
    while time.time() < deadline:
        status, m = message(http, location)
        if status == 200 and m.get("state") in states:
            return m
        time.sleep(0.05)
    return m


try:
    host, port = start_host()
    check("ISO 8583 host listening", port is not None, host.output())
    dragoman, ev = start_serve(port)
    check("serve listening with a journal", ev is not None, dragoman.output())
    http = ev["http"]

    status, body, headers = post(http, "purchase", {**CARD, "amount": "000000002500"}, ASYNC)
    location = headers.get("Location", "")
    check("an asynchronous purchase is accepted with 202, its id and Location",
          status == 202 and body.get("state") == "queued" and
          location == "/v1/messages/" + body.get("id", "?"), f"{status} {body} {headers}")
    check("the preference is said to be applied",
          headers.get("Preference-Applied") == "respond-async", headers)
    m = wait_state(http, location, {"delivered", "failed", "dead"})
    check("the message is delivered, the host's reply kept",
          m.get("state") == "delivered" and m.get("reply", {}).get("response_code") == "00"
          and m.get("attempts") == 1, m)
    check("its control id is the STAN that went over the wire",
          m.get("control_id") and m.get("control_id") == m.get("reply", {}).get("stan"), m)
    check("the message shows when it was created", m.get("created_at", "").endswith("Z"), m)
    check("the stored request itself is not shown", "amount" not in m and "body" not in m, m)

    status, body, headers = post(http, "purchase", {**CARD, "amount": "000000009999"}, ASYNC)
    m = wait_state(http, headers.get("Location", "?"), {"delivered", "failed", "dead"})
    check("a refusal by the host is the message's final state, with the host's code",
          m.get("state") == "failed" and m.get("error", {}).get("code") == "rejected"
          and m.get("error", {}).get("legacy_code") == "51" and m.get("attempts") == 1, m)

    status, body, headers = post(http, "purchase", {**CARD, "amount": "12AB"}, ASYNC)
    check("an invalid field is answered at once, nothing queued",
          status == 422 and body.get("code") == "invalid_field" and "Location" not in headers,
          f"{status} {body}")
    status, body, headers = post(http, "no_such_op", {}, ASYNC)
    check("an unknown operation is answered at once", status == 404, f"{status} {body}")

    status, body, headers = post(http, "purchase", {**CARD, "amount": "000000001000"})
    check("without the preference the call is synchronous as before",
          status == 200 and body.get("response_code") == "00" and "Location" not in headers,
          f"{status} {body}")

    answers = line_calls(ev["line"], [
        {"id": "a", "op": "purchase", "async": True, "data": {**CARD, "amount": "000000000300"}},
        {"id": "b", "op": "purchase", "async": "yes", "data": {**CARD, "amount": "000000000300"}}])
    a = answers.get("a", {})
    check("the line door takes \"async\":true: accepted with the message's id and location",
          a.get("ok") is True and a.get("data", {}).get("state") == "queued" and
          a["data"].get("location") == "/v1/messages/" + a["data"].get("id", "?"), answers)
    m = wait_state(http, a.get("data", {}).get("location", "?"), {"delivered", "failed", "dead"})
    check("and it is delivered", m.get("state") == "delivered", m)
    b = answers.get("b", {})
    check("async that is not a boolean is bad_request",
          b.get("ok") is False and b.get("error", {}).get("code") == "bad_request", answers)

    status, metrics = get(http, "/metrics")
    def metric(name):
        for l in metrics.splitlines():
            if l.startswith(name + " "):
                return float(l.split()[1])
        return None
    check("metrics count the accepted and delivered messages",
          metric("dragoman_journal_accepted_total") == 3 and
          metric("dragoman_journal_delivered_total") == 2 and
          metric("dragoman_journal_failed_total") == 1, metrics[-3000:])
    commits, appends = metric("dragoman_journal_commits_total"), metric("dragoman_journal_appends_total")
    check("fsyncs per message are there to read", commits and appends == 3 and commits >= 1,
          f"{commits} {appends}")
    check("depth by state", 'dragoman_journal_messages{state="dead"} 0' in metrics, metrics[-2000:])

    for path, want in (("/v1/messages/999999", 404), ("/v1/messages/abc", 404),
                       ("/v1/messages/", 404)):
        status, text = get(http, path)
        check(f"GET {path} is {want}", status == want and "not_found" in text, f"{status} {text}")

    mode = stat.S_IMODE(os.stat(journal).st_mode)
    check("the journal file is readable by its owner only", mode == 0o600, oct(mode))

    # The host goes away: the next message cannot be delivered and waits, retried.
    host.stop()
    status, body, headers = post(http, "purchase", {**CARD, "amount": "000000000700"}, ASYNC)
    waiting = headers.get("Location", "?")
    check("accepted while the host is down", status == 202, f"{status} {body}")
    deadline = time.time() + 20
    m = {}
    while time.time() < deadline:
        _, m = message(http, waiting)
        if m.get("attempts", 0) >= 1 and m.get("state") == "queued":
            break
        time.sleep(0.05)
    check("it failed to be delivered and waits for its next attempt, with the reason",
          m.get("state") == "queued" and m.get("attempts", 0) >= 1 and
          m.get("error", {}).get("code") == "upstream_unavailable" and "next_attempt_at" in m, m)
    stan = m.get("control_id")
    check("it was given its STAN when accepted", stan and len(stan) == 6, m)

    # kill -9: nothing is said to the journal; the message must survive it.
    dragoman.proc.send_signal(signal.SIGKILL)
    dragoman.proc.wait(timeout=10)
    host2, port2 = start_host()
    dragoman2, ev2 = start_serve(port2)
    check("serve starts again on the same journal", ev2 is not None, dragoman2.output())
    http2 = ev2["http"]
    m = wait_state(http2, waiting, {"delivered", "failed", "dead"})
    check("after the crash and restart the message is delivered",
          m.get("state") == "delivered" and m.get("reply", {}).get("response_code") == "00", m)
    check("with the STAN it was given before the crash",
          m.get("reply", {}).get("stan") == stan and m.get("control_id") == stan, f"{stan} {m}")
    status, text = get(http2, location)
    check("messages delivered before the crash are still there",
          status == 200 and json.loads(text).get("state") == "delivered", text)
    check("the restart says how many messages it took back",
          '"journal_recovered"' in dragoman2.output(), dragoman2.output())

    # Without a journal the preference is not applied: the call is answered as ever.
    dragoman2.stop()
    plain, ev3 = serve(PROFILE, [f"127.0.0.1:{port2}"], ["--upstream-connections", "1"])
    started.append(plain)
    status, body, headers = post(ev3["http"], "purchase", {**CARD, "amount": "000000001000"}, ASYNC)
    check("without --journal an asynchronous preference gets the synchronous answer",
          status == 200 and body.get("response_code") == "00" and
          "Preference-Applied" not in headers, f"{status} {body} {headers}")
    status, text = get(ev3["http"], "/v1/messages/1")
    check("and there are no messages to read", status == 404 and "--journal" in text, text)

    # Unfinished messages are bounded: with the host unreachable, the third is refused at once.
    plain.stop()
    gone = socket.socket()
    gone.bind(("127.0.0.1", 0))
    dead_port = gone.getsockname()[1]
    gone.close()
    bounded, ev4 = serve(PROFILE, [f"127.0.0.1:{dead_port}"],
                         ["--upstream-connections", "1", "--journal", os.path.join(work, "bounded.db"),
                          "--journal-max-queued", "2"])
    started.append(bounded)
    answers = [post(ev4["http"], "purchase", {**CARD, "amount": "000000000100"}, ASYNC)
               for _ in range(3)]
    check("with --journal-max-queued 2 and the host unreachable, two are accepted",
          [a[0] for a in answers[:2]] == [202, 202], repr(answers))
    status, body, headers = answers[2]
    check("the third is 503 overloaded, saying which bound, with Retry-After",
          status == 503 and body.get("code") == "overloaded" and
          "--journal-max-queued" in body.get("detail", "") and "Retry-After" in headers,
          f"{status} {body} {headers}")
    status, metrics = get(ev4["http"], "/metrics")
    check("metrics show the unfinished messages and the refusal",
          "dragoman_journal_unfinished 2" in metrics and
          "dragoman_journal_refused_full_total 1" in metrics, metrics[-2500:])
    bounded.stop()

    # A journal that cannot be opened stops the start with the reason.
    p = Process([DRAGOMAN, "serve", "--profile", PROFILE, "--http", "127.0.0.1:0", "--line", "",
                 "--journal", os.path.join(work, "missing", "j.db")])
    started.append(p)
    rc = p.proc.wait(timeout=20)
    time.sleep(0.2)  # the reader thread takes the last of stderr
    err = p.output()
    check("a journal path that cannot be opened stops serve with the path and the reason",
          rc != 0 and "missing/j.db" in err and "cannot open" in err, f"{rc} {err}")
finally:
    for p in started:
        p.kill()
    shutil.rmtree(work, ignore_errors=True)

check.finish()
