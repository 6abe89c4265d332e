#!/usr/bin/env python3
"""Calls through `dragoman serve` with profiles/iso8583-ascii.json against a test host built on
the independent npm iso_8583 codec (tests/peers/iso8583_host.cjs)."""
import os

from harness import Checks, SRC, PEERS, node_peer, post, line_calls, serve

check = Checks()
PROFILE = os.path.join(SRC, "profiles", "iso8583-ascii.json")
CARD = {"pan": "4111111111111111", "processing_code": "000000", "terminal_id": "TERM0001",
        "merchant_id": "MERCHANT0000001", "currency": "978"}

if not check("npm peers installed", os.path.isdir(os.path.join(PEERS, "node_modules", "iso_8583")),
             "run scripts/setup"):
    check.finish()

host = node_peer("iso8583_host.cjs", "0")
dragoman = None
try:
    hello = host.json_line("listening", timeout=15)
    check("ISO 8583 host listening", hello is not None, host.output())
    dragoman, ev = serve(PROFILE, [f"127.0.0.1:{hello['listening']}"], ["--upstream-connections", "1"])
    check("serve listening", ev is not None, dragoman.output())
    http, line = ev["http"], ev["line"]

    status, body, headers = post(http, "authorize", {**CARD, "amount": "000000001000"})
    check("authorize approved", status == 200 and body.get("response_code") == "00"
          and len(body.get("auth_code", "")) == 6, f"{status} {body}")
    check("authorize echoes the amount", body.get("amount") == "000000001000", body)

    status, body, _ = post(http, "purchase", {**CARD, "amount": "000000002500", "f48": "ORDER-42"})
    check("purchase approved with f48 back", status == 200 and body.get("f48") == "ORDER-42",
          f"{status} {body}")

    status, body, _ = post(http, "purchase", {**CARD, "amount": "000000009999"})
    check("insufficient funds is rejected with the host's code 51",
          status == 422 and body.get("code") == "rejected" and body.get("legacy_code") == "51",
          f"{status} {body}")

    status, body, _ = post(http, "reversal", {**CARD, "amount": "000000002500",
                                               "original_data": "0200000001" + "0" * 32})
    check("reversal answered", status == 200 and body.get("response_code") == "00", f"{status} {body}")

    status, body, _ = post(http, "authorize", {**CARD, "amount": "12AB"})
    check("a non-numeric amount is 422 naming the field",
          status == 422 and body.get("code") == "invalid_field" and "amount" in body.get("detail", ""),
          f"{status} {body}")

    # 300 pipelined calls on one line connection over one upstream connection: each answer
    # carries its own amount back (correlation by STAN and terminal id).
    reqs = [{"id": i, "op": "authorize", "data": {**CARD, "amount": f"{i + 1:012d}"}}
            for i in range(300)]
    answers = line_calls(line, reqs)
    good = sum(1 for i in range(300) if answers.get(i, {}).get("ok")
               and answers[i]["data"].get("amount") == f"{i + 1:012d}")
    check("300 pipelined authorizations each get their own reply", good == 300,
          f"{good} of 300 matched")
finally:
    if dragoman:
        check("serve exits cleanly on SIGTERM", dragoman.stop() == 0, dragoman.output()[-2000:])
    host.stop()
check.finish()
