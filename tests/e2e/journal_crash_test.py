#!/usr/bin/env python3
"""kill -9 under asynchronous load (docs/journal.md): HL7 admits for five patients are accepted
through the journal while `serve` is killed at random moments, several rounds, then restarted;
the receiver (Debian's python3-hl7, tests/peers/hl7_listener.py) logs every message it gets.
Every accepted message arrives; the only repeats carry the same MSH-10; one patient's messages
arrive in the order they were accepted."""
import http.client
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time

from harness import Checks, SRC, PEERS, Process, get, serve

check = Checks()
PROFILE = os.path.join(SRC, "profiles", "hl7v2-mllp.json")
PATIENTS = [f"P{i}" for i in range(5)]
ROUNDS = 4
SEED = int(os.environ.get("JOURNAL_CRASH_SEED", str(int(time.time()))))
rng = random.Random(SEED)
print(f"seed {SEED} (JOURNAL_CRASH_SEED={SEED} repeats this run)", flush=True)

work = tempfile.mkdtemp(prefix="dragoman-journal-crash-")
journal = os.path.join(work, "journal.db")
started = []

listener = Process(["/usr/bin/python3", os.path.join(PEERS, "hl7_listener.py"), "--port", "0"])
started.append(listener)
received = []  # control ids in arrival order, with their patient


def pump_listener():
    while True:
        line = listener.lines.get()
        if line is None:
            return
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if "received" in o:
            received.append((o["received"], o.get("pid3")))


def start_serve(port):
    p, ev = serve(PROFILE, [f"127.0.0.1:{port}"],
                  ["--journal", journal])
    started.append(p)
    return p, ev


accepted = {}  # message id -> patient
accept_lock = threading.Lock()


# MSH-10 (10 digits) follows the clock at 100 ids a second (docs/profiles.md, "Generated
# values"): a process that issues more runs ahead of the clock, and the next one, started at the
# clock, may issue its ids again. So the load stays under that rate: 2 clients, 40 a second each.
PER_CLIENT_INTERVAL_S = 0.025


def load(http_addr, patients, stop):
    """Posts admits one after another until the server goes away or stop is set (bounded)."""
    host, port = http_addr.rsplit(":", 1)
    conn = None
    n = 0
    while not stop.is_set() and n < 2000:
        patient = patients[n % len(patients)]
        n += 1
        body = json.dumps({"patient": {"id": patient, "family": "DOE", "given": f"N{n}"}})
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("POST", "/v1/ops/admit", body, {"Prefer": "respond-async",
                                                         "Content-Type": "application/json"})
            r = conn.getresponse()
            data = json.loads(r.read() or b"{}")
        except (OSError, http.client.HTTPException, ValueError):
            return  # the server was killed: this call was not accepted (as far as we know)
        if r.status == 202:
            with accept_lock:
                accepted[int(data["id"])] = patient
        stop.wait(PER_CLIENT_INTERVAL_S)


try:
    hello = listener.json_line("listening", timeout=15)
    if not check("HL7 receiver listening", hello is not None, listener.output()):
        check.finish()
    threading.Thread(target=pump_listener, daemon=True).start()
    port = hello["listening"]

    kills = 0
    for round_no in range(ROUNDS):
        dragoman, ev = start_serve(port)
        if not check(f"round {round_no + 1}: serve starts on the journal", ev is not None,
                     dragoman.output()):
            break
        stop = threading.Event()
        # Two clients, each with its own patients: one patient's messages are accepted in order.
        loaders = [threading.Thread(target=load, args=(ev["http"], PATIENTS[:3], stop)),
                   threading.Thread(target=load, args=(ev["http"], PATIENTS[3:], stop))]
        for t in loaders:
            t.start()
        time.sleep(rng.uniform(0.5, 2.5))
        dragoman.proc.send_signal(signal.SIGKILL)
        dragoman.proc.wait(timeout=10)
        kills += 1
        stop.set()
        for t in loaders:
            t.join(timeout=15)

    check("messages were accepted under load", len(accepted) >= 20, str(len(accepted)))
    dragoman, ev = start_serve(port)
    if not check("serve starts after the last kill", ev is not None, dragoman.output()):
        check.finish()

    # Every message the journal holds (ids are consecutive), accepted or not as far as the
    # clients saw, until each is final; bounded.
    messages = {}
    deadline = time.time() + 90
    last_id = max(accepted) if accepted else 0
    probe = last_id + 1
    while True:  # ids committed after the last 202 a client saw
        status, text = get(ev["http"], f"/v1/messages/{probe}")
        if status != 200:
            break
        last_id, probe = probe, probe + 1
    pending = set(range(1, last_id + 1))
    while pending and time.time() < deadline:
        for mid in sorted(pending):
            status, text = get(ev["http"], f"/v1/messages/{mid}")
            if status == 200:
                m = json.loads(text)
                if m["state"] in ("delivered", "failed", "dead", "expired"):
                    messages[mid] = m
                    pending.discard(mid)
        if pending:
            time.sleep(0.1)
    check("every journaled message reached a final state", not pending,
          f"{len(pending)} left: {sorted(pending)[:10]}")
    delivered = {mid: m for mid, m in messages.items() if m["state"] == "delivered"}
    check("every message was delivered", len(delivered) == last_id,
          str([m for m in messages.values() if m["state"] != "delivered"][:3]))
    lost = [mid for mid in accepted if mid not in delivered]
    check("every accepted (202) message was delivered", not lost, str(lost[:10]))

    time.sleep(0.5)  # the receiver's last lines
    arrivals = list(received)
    by_control = {m.get("control_id"): mid for mid, m in messages.items()}
    check("every message carries a control id of its own",
          len(by_control) == len(messages) and None not in by_control, str(len(by_control)))
    seen = {}
    for cid, pid in arrivals:
        seen[cid] = seen.get(cid, 0) + 1
    missing = [mid for mid, m in delivered.items() if m["control_id"] not in seen]
    check("the receiver got every delivered message (by its MSH-10)", not missing,
          str(missing[:10]))
    strangers = [cid for cid in seen if cid not in by_control]
    check("the receiver got nothing the journal did not hold", not strangers, str(strangers[:5]))
    repeats = sum(c - 1 for c in seen.values())
    # Only a message in flight at a kill is sent again: at most one per patient per kill.
    check("repeats are only messages in flight at a kill, with the same MSH-10",
          repeats <= kills * len(PATIENTS), f"{repeats} repeats, {kills} kills")
    print(f"{len(accepted)} accepted, {len(messages)} journaled, {len(arrivals)} arrivals, "
          f"{repeats} repeats over {kills} kills", flush=True)
    # Repeats included: a message sent again after a kill is the one that was in flight, so the
    # host never sees an earlier message of the patient after a later one.
    inversions = []
    for patient in PATIENTS:
        order = [by_control.get(cid) for cid, pid in arrivals if pid == patient]
        if order != sorted(order):
            inversions.append((patient, [(a, b) for a, b in zip(order, order[1:]) if b < a][:3]))
    check("one patient's messages arrived in the order they were accepted, repeats included",
          not inversions, str(inversions[:2]))
finally:
    for p in started:
        p.kill()
    shutil.rmtree(work, ignore_errors=True)

check.finish()
