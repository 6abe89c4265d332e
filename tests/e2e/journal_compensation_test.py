#!/usr/bin/env python3
"""Unknown outcomes resolved (docs/journal.md): a purchase the ISO 8583 host (the npm iso_8583
codec) reads and never answers, or whose connection it drops, is followed by exactly one reversal
(0400) that references it: field 90 checked on the host (the purchase's MTI, STAN, transmission
date and time, acquirer id). The host answers the reversal and its message becomes delivered.
Synchronous and asynchronous purchases alike; without --journal the answer says the compensation
is unavailable and no reversal is sent."""
import os
import queue
import shutil
import tempfile
import time
import json

from harness import Checks, SRC, PEERS, node_peer, post, get, serve

check = Checks()
PROFILE = os.path.join(SRC, "profiles", "iso8583-ascii.json")
CARD = {"pan": "4111111111111111", "processing_code": "000000", "terminal_id": "TERM0001",
        "merchant_id": "MERCHANT0000001", "currency": "978", "acquirer_id": "12345"}
SILENT, DROP = "000000007777", "000000006666"
ASYNC = {"Prefer": "respond-async"}

if not check("npm peers installed", os.path.isdir(os.path.join(PEERS, "node_modules", "iso_8583")),
             "run scripts/setup"):
    check.finish()

work = tempfile.mkdtemp(prefix="dragoman-compensation-e2e-")
journal = os.path.join(work, "journal.db")
started = []


class Host:
    """The npm host, reporting every request it reads."""

    def __init__(self):
        self.p = node_peer("iso8583_host.cjs", "0", "--silent-amount", SILENT,
                           "--drop-amount", DROP, "--report")
        started.append(self.p)
        hello = self.p.json_line("listening", timeout=15)
        self.port = hello["listening"] if hello else None
        self.received = []

    def read(self, wait=0.0):
        """Takes every report so far (and for `wait` seconds more)."""
        deadline = time.time() + wait
        while True:
            try:
                line = self.p.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                if time.time() >= deadline:
                    return self.received
                continue
            if line is None:
                return self.received
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "received" in obj:
                self.received.append(obj["received"])

    def of(self, mti):
        return [r for r in self.received if r.get("0") == mti]


def wait_state(http, location, states, timeout=30):
    deadline = time.time() + timeout
    m = {}
    while time.time() < deadline:
        status, text = get(http, location)
        m = json.loads(text) if text else {}
        if status == 200 and m.get("state") in states:
            return m
        time.sleep(0.05)
    return m


def field90(purchase):
    return ("0200" + purchase.get("11", "?") + purchase.get("7", "?") +
            purchase.get("32", "").rjust(11, "0") + "0" * 11)


def reversal_of(host, purchase, timeout=30):
    """The 0400s the host read that reference the purchase (waiting for the first)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        host.read(0.1)
        found = [r for r in host.of("0400") if r.get("90") == field90(purchase)]
        if found:
            return found
    return []


try:
    host = Host()
    check("ISO 8583 host listening", host.port is not None, host.p.output())
    dragoman, ev = serve(PROFILE, [f"127.0.0.1:{host.port}"],
                         ["--upstream-connections", "1", "--journal", journal])
    started.append(dragoman)
    check("serve listening with a journal", ev is not None, dragoman.output())
    http = ev["http"]

    # 1. A synchronous purchase the host reads and never answers.
    status, body, _ = post(http, "purchase", {**CARD, "amount": SILENT},
                           {"Request-Timeout": "1000"})
    check("the blackholed purchase is answered upstream_timeout, sent, compensation queued",
          status == 504 and body.get("code") == "upstream_timeout" and body.get("sent") is True
          and body.get("compensation") == "queued" and body.get("compensation_id"),
          f"{status} {body}")
    purchases = [r for r in host.read(0.2) if r.get("0") == "0200" and r.get("4") == SILENT]
    check("the host read the purchase once", len(purchases) == 1, host.received)
    purchase = purchases[0] if purchases else {}
    reversals = reversal_of(host, purchase)
    check("a reversal follows that references it in field 90 (MTI, STAN, date and time, acquirer)",
          len(reversals) == 1, f"{field90(purchase)} {host.of('0400')}")
    rev = reversals[0] if reversals else {}
    check("the reversal carries the purchase's card, amount, terminal and acquirer",
          rev.get("2") == CARD["pan"] and rev.get("4") == SILENT and rev.get("41") == "TERM0001"
          and rev.get("32") == "12345" and rev.get("11") != purchase.get("11"), rev)
    location = "/v1/messages/" + str(body.get("compensation_id", "?"))
    m = wait_state(http, location, {"delivered", "failed", "dead"})
    check("the reversal's message is delivered with the host's answer",
          m.get("state") == "delivered" and m.get("operation") == "reversal" and
          m.get("reply", {}).get("response_code") == "00" and m.get("control_id") == rev.get("11"),
          m)
    check("it says what it compensates",
          m.get("compensates", {}).get("operation") == "purchase" and
          m.get("compensates", {}).get("control_id") == purchase.get("11"), m)
    host.read(1.5)
    check("exactly one reversal was sent for it",
          len([r for r in host.of("0400") if r.get("90") == field90(purchase)]) == 1,
          host.of("0400"))

    # 2. A purchase whose connection is lost after it was written.
    status, body, _ = post(http, "purchase", {**CARD, "amount": DROP}, {"Request-Timeout": "3000"})
    check("a purchase whose connection was lost after writing: compensation queued",
          status == 504 and body.get("sent") is True and body.get("compensation") == "queued",
          f"{status} {body}")
    dropped = [r for r in host.read(0.2) if r.get("0") == "0200" and r.get("4") == DROP]
    check("the host read it once", len(dropped) == 1, host.received)
    if dropped:
        check("its reversal arrives on the next connection", len(reversal_of(host, dropped[0])) == 1,
              host.of("0400"))
    m = wait_state(http, "/v1/messages/" + str(body.get("compensation_id", "?")),
                   {"delivered", "failed", "dead"})
    check("and is delivered", m.get("state") == "delivered", m)

    # 3. An asynchronous purchase whose outcome is unknown (the operation's 5 s deadline).
    status, body, headers = post(http, "purchase", {**CARD, "amount": SILENT}, ASYNC)
    check("an asynchronous purchase is accepted", status == 202, f"{status} {body}")
    m = wait_state(http, headers.get("Location", "?"), {"delivered", "failed", "dead"}, 30)
    err = m.get("error", {})
    check("its message fails upstream_timeout, sent, naming its queued compensation",
          m.get("state") == "failed" and err.get("code") == "upstream_timeout" and
          err.get("sent") is True and err.get("compensation") == "queued" and
          err.get("compensation_id"), m)
    stan = m.get("control_id")
    async_purchase = [r for r in host.read(0.2) if r.get("0") == "0200" and r.get("11") == stan]
    check("the host read it once, with the message's STAN", len(async_purchase) == 1,
          f"{stan} {host.received}")
    if async_purchase:
        check("followed by exactly one reversal referencing it",
              len(reversal_of(host, async_purchase[0])) == 1, host.of("0400"))
    c = wait_state(http, "/v1/messages/" + str(err.get("compensation_id", "?")),
                   {"delivered", "failed", "dead"})
    check("the reversal's message is delivered and names the purchase's message",
          c.get("state") == "delivered" and
          c.get("compensates", {}).get("message") == m.get("id"), c)

    # 4. An ordinary purchase is not compensated.
    before = len(host.of("0400"))
    status, body, _ = post(http, "purchase", {**CARD, "amount": "000000001000"})
    check("an answered purchase is answered as ever, without a compensation",
          status == 200 and body.get("response_code") == "00" and "compensation" not in body,
          f"{status} {body}")
    host.read(0.5)
    check("and no reversal is sent for it", len(host.of("0400")) == before, host.of("0400"))

    status, metrics = get(http, "/metrics")
    check("the compensations are counted",
          "dragoman_journal_compensations_total 3" in metrics, metrics[-3000:])
    dragoman.stop()

    # 5. Without a journal nothing can be queued: the answer says so.
    plain, ev2 = serve(PROFILE, [f"127.0.0.1:{host.port}"], ["--upstream-connections", "1"])
    started.append(plain)
    before = len(host.of("0400"))
    status, body, _ = post(ev2["http"], "purchase", {**CARD, "amount": SILENT},
                           {"Request-Timeout": "1000"})
    check("without --journal: upstream_timeout with \"compensation\":\"unavailable\"",
          status == 504 and body.get("compensation") == "unavailable" and
          "compensation_id" not in body, f"{status} {body}")
    host.read(1.0)
    check("and no reversal is sent", len(host.of("0400")) == before, host.of("0400"))
finally:
    for p in started:
        p.kill()
    shutil.rmtree(work, ignore_errors=True)

check.finish()
