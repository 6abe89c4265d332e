#!/usr/bin/env python3
"""The baselines of scripts/bench's ISO 8583 and HL7 rows do the work dragoman does: the Node
translators (bench/node_iso8583_translator.cjs, bench/node_hl7_translator.cjs) answer the same call
with the same fields as `dragoman serve`, in front of the same host, match pipelined replies to
their calls, and reject what the host rejects; bench/direct_client.cjs measures the hosts."""
import concurrent.futures
import json
import os
import subprocess

from harness import Checks, PEERS, Process, SRC, node_env, node_peer, post, serve

check = Checks()
BENCH = os.path.join(SRC, "bench")
ISO_BODY = {"pan": "4761739001010010", "amount": "000000001000", "terminal_id": "TERM0001",
            "merchant_id": "MERCHANT0000001", "rrn": "000000000001"}
HL7_BODY = {"patient": {"id": "MRN12345", "family": "DOE", "given": "JANE", "birth_date": "19800101",
                        "sex": "F", "address": {"street": "1 Main St", "city": "Springfield",
                                                "postal_code": "12345", "country": "USA"}},
            "visit": {"class": "I", "point_of_care": "WARD1", "room": "101", "bed": "A",
                      "attending": {"id": "D100", "family": "HOUSE", "given": "GREG"}, "number": "V0001"}}
# Generated on each call (a STAN, times, the host's authorisation code): equal names, not values.
ISO_VARYING = {"stan", "transmission_time", "local_time", "local_date", "auth_code"}

if not check("npm peers installed", os.path.isdir(os.path.join(PEERS, "node_modules", "iso_8583")),
             "run scripts/setup"):
    check.finish()


def bench_node(script, *args):
    return Process(["node", os.path.join(BENCH, script), *args], env=node_env())


def listening(proc, what):
    ev = proc.json_line("http", timeout=20, where=lambda o: o.get("event") == "listening")
    check(f"{what} listening", ev is not None, proc.output()[-2000:])
    return ev["http"] if ev else None


def direct(proto, port):
    p = subprocess.run(["node", os.path.join(BENCH, "direct_client.cjs"), proto, str(port), "2", "0.5"],
                       env=node_env(), capture_output=True, timeout=30)
    try:
        return json.loads(p.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"raw": p.stdout.decode() + p.stderr.decode()}


procs = []
try:
    # ---- ISO 8583 ----
    host = node_peer("iso8583_host.cjs", "0")
    procs.append(host)
    iso_port = host.json_line("listening", timeout=15)["listening"]
    dragoman, ev = serve(os.path.join(SRC, "profiles", "iso8583-ascii.json"), [f"127.0.0.1:{iso_port}"],
                         ["--upstream-connections", "2"])
    procs.append(dragoman)
    node = bench_node("node_iso8583_translator.cjs", "0", str(iso_port), "2")
    procs.append(node)
    node_http = listening(node, "Node ISO 8583 translator")

    s1, ours, _ = post(ev["http"], "authorize", ISO_BODY)
    s2, theirs, _ = post(f"127.0.0.1:{node_http}", "authorize", ISO_BODY)
    check("ISO 8583: both approve", s1 == 200 and s2 == 200 and ours.get("response_code") == "00"
          and theirs.get("response_code") == "00", f"{s1} {ours} / {s2} {theirs}")
    check("ISO 8583: the same fields come back", set(ours) == set(theirs), f"{sorted(ours)} / {sorted(theirs)}")
    same = {k for k in ours if k not in ISO_VARYING and ours.get(k) == theirs.get(k)}
    check("ISO 8583: with the same values (but STAN, times, auth code)",
          same == set(ours) - ISO_VARYING, f"{ours} / {theirs}")

    status, body, _ = post(f"127.0.0.1:{node_http}", "authorize", {**ISO_BODY, "amount": "000000009999"})
    check("ISO 8583: the Node translator rejects the host's 51 like dragoman",
          status == 422 and body.get("code") == "rejected" and body.get("legacy_code") == "51",
          f"{status} {body}")

    amounts = [f"{i + 1:012d}" for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda a: post(f"127.0.0.1:{node_http}", "authorize", {**ISO_BODY, "amount": a}),
                                amounts))
    good = sum(1 for a, (st, b, _) in zip(amounts, replies) if st == 200 and b.get("amount") == a)
    check("ISO 8583: 40 concurrent calls each get their own reply (matched by STAN)", good == 40,
          f"{good} of 40")

    r = direct("iso8583", iso_port)
    check("direct client measures the ISO 8583 host", r.get("requests", 0) > 0 and r.get("errors") == 0
          and r.get("io_errors") == 0, r)

    # ---- HL7 over MLLP ----
    mllp = bench_node("mllp_ack_host.cjs", "0")
    procs.append(mllp)
    mllp_port = mllp.json_line("listening", timeout=15)["listening"]
    dragoman_hl7, ev7 = serve(os.path.join(SRC, "profiles", "hl7v2-mllp.json"), [f"127.0.0.1:{mllp_port}"],
                              ["--upstream-connections", "2"])
    procs.append(dragoman_hl7)
    node7 = bench_node("node_hl7_translator.cjs", "0", str(mllp_port), "2")
    procs.append(node7)
    node7_http = listening(node7, "Node HL7 translator")

    s1, ours, _ = post(ev7["http"], "admit", HL7_BODY)
    s2, theirs, _ = post(f"127.0.0.1:{node7_http}", "admit", HL7_BODY)
    check("HL7: both get AA", s1 == 200 and s2 == 200 and ours.get("ack_code") == "AA"
          and theirs.get("ack_code") == "AA", f"{s1} {ours} / {s2} {theirs}")
    check("HL7: the same fields come back, control ids of 10 digits",
          set(ours) == set(theirs) and all(len(x.get("control_id", "")) == 10 and x["control_id"].isdigit()
                                           for x in (ours, theirs)), f"{ours} / {theirs}")

    status, body, _ = post(f"127.0.0.1:{node7_http}", "admit", {"visit": {"class": "I"}})
    check("HL7: the Node translator refuses a call without a patient", status == 422, f"{status} {body}")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda i: post(f"127.0.0.1:{node7_http}", "admit", HL7_BODY), range(40)))
    ids = {b.get("control_id") for st, b, _ in replies if st == 200 and b.get("ack_code") == "AA"}
    check("HL7: 40 concurrent calls each get their own ACK (matched by MSA-2)", len(ids) == 40,
          f"{len(ids)} distinct of 40")

    r = direct("mllp", mllp_port)
    check("direct client measures the MLLP host", r.get("requests", 0) > 0 and r.get("errors") == 0
          and r.get("io_errors") == 0, r)
finally:
    for p in reversed(procs):
        p.stop()
check.finish()
