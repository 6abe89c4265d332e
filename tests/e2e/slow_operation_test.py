#!/usr/bin/env python3
"""A host slow on one operation does not take the others down (issue 17). `dragoman simulate`
swallows every transfer of acme-core; `dragoman serve` in front of it gets 40 concurrent transfers
and then a balance: the transfers time out (504, sent), the balance is answered at once (200), the
breaker stays closed, and /admin/upstreams and /metrics show where the timeouts went. Then the same
with balances flowing: the transfers' timeouts are the operation's, not the endpoint's."""
import json
import os
import tempfile
import threading
import time

from harness import DRAGOMAN, SRC, Checks, Process, get, post, serve

ACME = os.path.join(SRC, "profiles", "acme-core.json")
check = Checks()


def transfer(n):
    return {"from": "1", "to": str(100 + n), "amount": "5.00"}


def concurrent_transfers(http, count, timeout_ms):
    results = [None] * count

    def one(i):
        results[i] = post(http, "transfer", transfer(i), {"Request-Timeout": str(timeout_ms)})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def endpoint_of(http):
    status, body = get(http, "/admin/upstreams")
    return json.loads(body)["endpoints"][0] if status == 200 else {}


fd, rules = tempfile.mkstemp(suffix=".json")
with os.fdopen(fd, "w") as f:
    json.dump({"rules": [{"op": "transfer", "fault": "no_answer"}]}, f)

sim = Process([DRAGOMAN, "simulate", "--profile", ACME, "--listen", "127.0.0.1:0",
               "--responses", rules])
srv = None
try:
    ev = sim.json_line("simulate", where=lambda o: o.get("event") == "listening")
    check("simulate: listening", ev is not None, sim.output())
    host = ev["simulate"]
    # The defaults: 5 failures open a breaker for 5 s, ejection capped at 50 %.
    # One connection: the balances below are answered on the very connection the transfers
    # wait on (with two, every balance may be picked onto one of them, and the other's
    # transfers then time out on a connection that heard nothing: the host's failure, rightly).
    srv, listening = serve(ACME, [host], ["--upstream-connections", "1"])
    check("serve: listening", listening is not None, srv.output())
    http = listening["http"]
    deadline = time.time() + 15
    while get(http, "/readyz")[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    check("serve: ready", get(http, "/readyz")[0] == 200, srv.output())

    results = concurrent_transfers(http, 40, 500)
    codes = [(r[0], r[1].get("code"), r[1].get("sent")) for r in results if r]
    check("40 swallowed transfers: each 504 upstream_timeout, sent",
          len(codes) == 40 and all(c == (504, "upstream_timeout", True) for c in codes), codes)
    status, body, _ = post(http, "balance", {"account": "12345"}, {"Request-Timeout": "2000"})
    check("then balance is answered at once (not a 503)", status == 200, (status, body))
    ep = endpoint_of(http)
    check("the breaker stayed closed", ep.get("breaker") == "closed", ep)
    capped = srv.json_line("event", timeout=5, where=lambda o: o.get("event") == "ejection_capped")
    check("ejection_capped was logged once the fifth timeout would have ejected it",
          capped is not None and capped.get("max_ejected") == 0, capped)

    # Balances between the transfers: the host answers on the same connections, so the
    # transfers' timeouts are the operation's, counted apart and never near the breaker.
    stop = threading.Event()
    balance_codes = []

    def balances():
        while not stop.is_set() and len(balance_codes) < 500:
            balance_codes.append(post(http, "balance", {"account": "12345"},
                                      {"Request-Timeout": "2000"})[0])

    t = threading.Thread(target=balances)
    t.start()
    deadline = time.time() + 10
    while not balance_codes and time.time() < deadline:  # replies flow before the transfers
        time.sleep(0.01)
    results = concurrent_transfers(http, 20, 500)
    stop.set()
    t.join(timeout=30)
    check("transfers among balances: 504 each",
          all(r and r[0] == 504 for r in results), [r and r[0] for r in results])
    check("every balance meanwhile answered 200", balance_codes and
          all(c == 200 for c in balance_codes), balance_codes)
    ep = endpoint_of(http)
    ops = ep.get("operation_timeouts", {})
    check("/admin/upstreams: transfer timeouts counted against the operation",
          ops.get("transfer", {}).get("timeouts", 0) >= 1 and "balance" not in ops, ep)
    check("/admin/upstreams: breaker closed, nothing capped now",
          ep.get("breaker") == "closed" and ep.get("ejection_capped") is False, ep)
    status, metrics = get(http, "/metrics")
    check("/metrics: dragoman_upstream_operation_timeouts_total for transfer",
          status == 200 and 'dragoman_upstream_operation_timeouts_total{endpoint="%s",'
          'operation="transfer"}' % host in metrics, metrics[-2000:])
finally:
    if srv:
        srv.stop()
    sim.stop()
    os.unlink(rules)
check.finish()
