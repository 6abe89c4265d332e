#!/usr/bin/env python3
# End-to-end test of profiles/fix44.json's FIX session against QuickFIX's executor example (built
# here from Debian's libquickfix-dev and libquickfix-doc; the binary is cached in the build
# directory). The executor binds all interfaces on a fixed port, so everything runs in a private
# network namespace (`unshare -rn`): the test re-executes itself there. Checked: the executor
# accepts dragoman's Logon; orders placed through the HTTP door get their ExecutionReports; a
# market order gets the executor's Reject (35=3, by RefSeqNum) and a cancel its
# BusinessMessageReject (35=j), both `rejected`; the executor's TestRequest is answered and ours
# is; drain sends a Logout; after a restart the sequence numbers continue (the executor's logs
# show no gap, no reset, no resend). Then the recovery, each case provoked by editing dragoman's
# state file while it is stopped: our expected number lowered (we send a ResendRequest, the
# executor's resends and gap fills are taken), our outgoing number raised (the executor's
# ResendRequest gets our SequenceReset-GapFill and it goes on), our expected number raised (the
# executor's Logon is too low: we log out saying so, and disconnect).
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import harness
from harness import SRC, Checks, Process, post, serve, wait_port

PROFILE = os.path.join(SRC, "profiles", "fix44.json")
EXAMPLE = "/usr/share/doc/libquickfix-doc/examples/executor/C++"
PORT = 9878
SOH = "\x01"


def skip(why):
    print("skip: " + why, flush=True)
    sys.exit(77)


def outside():
    """Checks the tools, then runs this test again inside a private network namespace."""
    for tool in ("g++", "unshare", "ip"):
        if not shutil.which(tool):
            skip(tool + " is not installed (scripts/setup installs it)")
    if not os.path.exists("/usr/include/quickfix/Session.h"):
        skip("libquickfix-dev is not installed (scripts/setup installs it)")
    if not os.path.exists(os.path.join(EXAMPLE, "executor.cpp")):
        skip("libquickfix-doc's executor example is not installed (scripts/setup installs it)")
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        skip("unprivileged network namespaces (unshare -rn) are not available")
    env = dict(os.environ, DRAGOMAN=os.path.abspath(harness.DRAGOMAN))
    inner = "ip link set lo up && exec \"$0\" \"$1\" --inside"
    rc = subprocess.run(["unshare", "-rn", "sh", "-c", inner, sys.executable,
                         os.path.abspath(__file__)], env=env, timeout=400).returncode
    sys.exit(rc)


def build_executor(tmp):
    """The executor example, built once per build directory; (path, error text)."""
    cached = os.path.join(os.path.dirname(os.path.abspath(harness.DRAGOMAN)), "fix-executor")
    if os.path.exists(cached):
        return cached, ""
    src = os.path.join(tmp, "executor-src")
    os.makedirs(src)
    for name in os.listdir(EXAMPLE):
        path = os.path.join(EXAMPLE, name)
        if name.endswith((".cpp.gz", ".h.gz")):
            with gzip.open(path) as f, open(os.path.join(src, name[:-3]), "wb") as out:
                out.write(f.read())
        elif name.endswith((".cpp", ".h")):
            shutil.copy(path, src)
    open(os.path.join(src, "config.h"), "w").close()  # the example includes the build's config
    built = subprocess.run(["g++", "-std=c++14", "-O0", "-w", "-I" + src,
                            os.path.join(src, "executor.cpp"), os.path.join(src, "Application.cpp"),
                            "-o", cached + ".tmp", "-lquickfix", "-lpthread"],
                           capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        return None, built.stderr
    os.replace(cached + ".tmp", cached)
    return cached, ""


def executor_config(tmp):
    path = os.path.join(tmp, "executor.cfg")
    with open(path, "w") as f:
        f.write(f"""[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={PORT}
FileStorePath={tmp}/store
FileLogPath={tmp}/log
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=N

[SESSION]
BeginString=FIX.4.4
SenderCompID=EXECUTOR
TargetCompID=DRAGOMAN
""")
    return path


def profile_copy(tmp, heart_bt_int, heartbeat_ms):
    """fix44.json with another HeartBtInt (108) and heartbeat interval of dragoman's own."""
    with open(PROFILE) as f:
        text = f.read()
    text = text.replace('{"tag": 108, "name": "heart_bt_int", "value": "30"}',
                        '{"tag": 108, "name": "heart_bt_int", "value": "%d"}' % heart_bt_int)
    text = text.replace('"heartbeat_interval_ms": 30000', '"heartbeat_interval_ms": %d' % heartbeat_ms)
    path = os.path.join(tmp, "fix44-%d-%d.json" % (heart_bt_int, heartbeat_ms))
    with open(path, "w") as f:
        f.write(text)
    return path


# The executor logs to its stdout (QuickFIX's ScreenLog): a header line
# "<time, FIX.4.4:EXECUTOR->DRAGOMAN, incoming|outgoing|event>" and the message or event text in
# parentheses on the next line.
def screen_log(executor):
    entries, kind = [], None
    for line in executor.output().splitlines():
        m = re.match(r"^<[^,]*, [^,]*, (\w+)>$", line.strip())
        if m:
            kind = m.group(1)
            continue
        text = line.strip()
        if kind and text.startswith("(") and text.endswith(")"):
            entries.append((kind, text[1:-1]))
        kind = None
    return entries


def messages(executor):
    """The FIX messages the executor logged: (direction "in"/"out", {tag: value})."""
    out = []
    for kind, text in screen_log(executor):
        if kind not in ("incoming", "outgoing"):
            continue
        fields = {}
        for part in text.split(SOH):
            if "=" in part:
                k, v = part.split("=", 1)
                fields.setdefault(k, v)
        out.append(("in" if kind == "incoming" else "out", fields))
    return out


def events(executor):
    return "\n".join(text for kind, text in screen_log(executor) if kind == "event")


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def logged(process, event, timeout):
    """The first JSON line of process's output (including lines read before) with that event."""
    def find():
        for line in process.output().splitlines():
            if ('"event":"%s"' % event) in line:
                try:
                    return json.loads(line)
                except ValueError:
                    pass
        return None
    wait_for(lambda: find() is not None, timeout)
    return find()


def order(n, ord_type="limit"):
    return {"cl_ord_id": "ORD%d" % n, "symbol": "IBM", "side": "buy", "order_qty": 100,
            "ord_type": ord_type, "price": 101.5}


def inside():
    check = Checks()
    tmp = tempfile.mkdtemp(prefix="dragoman-fix-")
    executor = dragoman = None
    try:
        binary, why = build_executor(tmp)
        if not check("the QuickFIX executor example builds", binary is not None, why):
            return check.finish()
        executor = Process([binary, executor_config(tmp)])
        if not check("the executor listens", wait_port(PORT, 20), executor.output()):
            return check.finish()
        state = os.path.join(tmp, "session.json")
        common = ["--upstream-connections", "1", "--session-state", state]

        # 1. HeartBtInt 1 s and no heartbeat of dragoman's own: the executor, hearing nothing
        # for 1.5 s, sends TestRequests, which dragoman answers.
        dragoman, ev = serve(profile_copy(tmp, 1, 0), ["127.0.0.1:%d" % PORT], common)
        if not check("dragoman listens", ev is not None, dragoman.output()):
            return check.finish()
        http = ev["http"]
        check("dragoman signs on", logged(dragoman, "sign_on", 15) is not None, dragoman.output())
        check("the executor accepted the Logon",
              wait_for(lambda: "Received logon" in events(executor), 10), events(executor))
        st, body, _ = post(http, "new_order_single", order(1))
        check("a limit order gets its ExecutionReport", st == 200 and
              body.get("cl_ord_id") == "ORD1" and body.get("ord_status") == "filled" and
              body.get("exec_type") == "trade" and body.get("cum_qty") == 100, (st, body))
        st, body, _ = post(http, "new_order_single", order(2, "market"))
        check("a market order gets the executor's Reject (35=3, RefSeqNum) as rejected",
              st == 422 and body.get("code") == "rejected" and body.get("legacy_code") == "5",
              (st, body))
        st, body, _ = post(http, "order_cancel_request",
                           {"orig_cl_ord_id": "ORD1", "cl_ord_id": "CXL1", "symbol": "IBM",
                            "side": "buy", "order_qty": 100})
        check("a cancel is answered: the executor's BusinessMessageReject (35=j) as rejected",
              st == 422 and body.get("code") == "rejected" and body.get("legacy_code") == "3",
              (st, body))
        st, body, _ = post(http, "logon", {})
        check("session operations are not for apps", st == 404 or body.get("code") ==
              "unknown_operation", (st, body))

        def answered_test_request():
            ids = [f.get("112") for d, f in messages(executor) if d == "out" and f.get("35") == "1"]
            return any(d == "in" and f.get("35") == "0" and f.get("112") in ids
                       for d, f in messages(executor))
        check("the executor's TestRequest is answered with a Heartbeat carrying its TestReqID",
              wait_for(answered_test_request, 10), messages(executor)[-6:])
        time.sleep(3)  # the executor would log out a peer that stays silent 2.4 s
        st, body, _ = post(http, "new_order_single", order(3))
        check("the session survives (an order after the TestRequests)", st == 200 and
              body.get("ord_status") == "filled", (st, body))
        check("the executor's own Heartbeats are taken silently", not any(
            "unmatched_reply" in l or "unrecognised_frame" in l
            for l in dragoman.output().splitlines()), dragoman.output()[-2000:])
        dragoman.stop()
        check("drain sends a Logout the executor answers",
              wait_for(lambda: any(d == "in" and f.get("35") == "5" for d, f in messages(executor)), 5)
              and any(d == "out" and f.get("35") == "5" for d, f in messages(executor)),
              messages(executor)[-4:])
        check("dragoman logs the answered sign-off", '"answered":true' in dragoman.output(),
              dragoman.output()[-2000:])

        # 2. A restart: the numbers continue from the state file; dragoman's own TestRequest
        # (after 300 ms of silence) is answered by the executor's Heartbeat.
        dragoman, ev = serve(profile_copy(tmp, 5, 300), ["127.0.0.1:%d" % PORT], common)
        if not check("dragoman listens again", ev is not None, dragoman.output()):
            return check.finish()
        http = ev["http"]
        seq = logged(dragoman, "session_sequence", 15)
        check("the restart reads the state file", seq is not None and seq.get("next_out", 0) > 5,
              seq)
        st, body, _ = post(http, "new_order_single", order(4))
        check("an order after the restart gets its ExecutionReport", st == 200 and
              body.get("cl_ord_id") == "ORD4" and body.get("ord_status") == "filled", (st, body))

        def our_test_request_answered():
            ids = [f.get("112") for d, f in messages(executor) if d == "in" and f.get("35") == "1"]
            return any(d == "out" and f.get("35") == "0" and f.get("112") in ids
                       for d, f in messages(executor))
        check("dragoman's TestRequest is answered by the executor's Heartbeat",
              wait_for(our_test_request_answered, 10), messages(executor)[-6:])
        time.sleep(1)
        check("no heartbeat timeout", "heartbeat_timeout" not in dragoman.output(),
              dragoman.output()[-2000:])
        dragoman.stop()
        wait_for(lambda: sum(1 for d, f in messages(executor) if f.get("35") == "5") >= 4, 5)

        ours = [int(f["34"]) for d, f in messages(executor) if d == "in"]
        theirs = [int(f["34"]) for d, f in messages(executor) if d == "out"]
        check("dragoman's MsgSeqNum runs 1, 2, 3, ... across the restart",
              len(ours) > 8 and ours == list(range(1, len(ours) + 1)), ours)
        check("the executor's MsgSeqNum runs 1, 2, 3, ... across the restart",
              len(theirs) > 8 and theirs == list(range(1, len(theirs) + 1)), theirs)
        ev_text = events(executor)
        check("the executor logs no reset, gap or resend",
              not re.search(r"(?i)reset|too high|too low|resend|gap", ev_text), ev_text)
        check("dragoman saw no gap", "sequence_gap" not in dragoman.output() and
              "sequence_too_low" not in dragoman.output(), dragoman.output()[-2000:])
        with open(state) as f:
            saved = f.read()
        check("the state file holds the next numbers",
              saved.strip() == '{"next_out":%d,"next_in":%d}' % (len(ours) + 1, len(theirs) + 1),
              saved)

        # 3. Recovery, provoked by editing the state file while dragoman is stopped.
        def edit_state(d_out, d_in):
            with open(state) as f:
                st = json.load(f)
            st["next_out"] += d_out
            st["next_in"] += d_in
            with open(state, "w") as f:
                json.dump(st, f)
            return st

        def executor_next_out():
            return max(int(f["34"]) for d, f in messages(executor) if d == "out") + 1

        # 3a. Our expected incoming lower than the executor's next: its Logon shows a gap, we
        # ask for a resend from the number we expect, its resent reports (43=Y) and gap fills
        # (35=4, 123=Y) are taken and the number due ends at its next.
        # From the executor's report on ORD4 on: that report is resent (43=Y), its session
        # messages gap-filled.
        ord4 = [int(f["34"]) for d, f in messages(executor)
                if d == "out" and f.get("35") == "8" and f.get("11") == "ORD4"]
        lowered = edit_state(0, (ord4[0] if ord4 else 1) - json.load(open(state))["next_in"])
        seen = len(messages(executor))
        dragoman, ev = serve(PROFILE, ["127.0.0.1:%d" % PORT], common)
        if not check("dragoman listens (gap)", ev is not None, dragoman.output()):
            return check.finish()
        http = ev["http"]
        gap = logged(dragoman, "sequence_gap", 15)
        check("the executor's Logon is a gap from the number we expect", gap is not None and
              gap.get("expected") == lowered["next_in"] and gap.get("resend_requested") is True,
              gap)
        def resend_in():
            return [f for d, f in messages(executor)[seen:] if d == "in" and f.get("35") == "2"]
        check("we send ResendRequest (35=2) with BeginSeqNo = expected and EndSeqNo 0",
              wait_for(lambda: resend_in(), 10) and resend_in()[0].get("7") ==
              str(lowered["next_in"]) and resend_in()[0].get("16") == "0", resend_in())
        check("the executor resends: gap fills (35=4, 123=Y) and reports with PossDupFlag",
              wait_for(lambda: any(d == "out" and f.get("43") == "Y"
                                   for d, f in messages(executor)[seen:]), 10),
              messages(executor)[seen:])
        def resent_report():
            return [f for d, f in messages(executor)[seen:] if d == "out" and
                    f.get("35") == "8" and f.get("11") == "ORD4" and f.get("43") == "Y"]
        check("the executor resends ORD4's report with PossDupFlag",
              wait_for(lambda: resent_report(), 10), messages(executor)[seen:])
        st, body, _ = post(http, "new_order_single", order(5))
        check("the session continues after the resend (an order is filled)", st == 200 and
              body.get("ord_status") == "filled", (st, body))
        out = dragoman.output()
        check("dragoman took the gap fill and did not break the session",
              '"sequence_gap_fill"' in out and "sequence_too_low" not in out and
              "unrecognised_frame" not in out, out[-3000:])
        inbound = [json.loads(l) for l in out.splitlines() if '"event":"inbound"' in l]
        check("the resent report, answering no call, goes to the app once (here: no app)",
              [(o.get("operation"), o.get("delivered")) for o in inbound] ==
              [("execution_report", False)], inbound)
        dragoman.stop()
        wait_for(lambda: any(d == "out" and f.get("35") == "5" for d, f in messages(executor)[seen:]), 5)
        with open(state) as f:
            saved = json.load(f)
        check("after the resend our expected number is the executor's next",
              saved["next_in"] == executor_next_out(), (saved, executor_next_out()))

        # 3b. Our outgoing number higher than the executor expects: it sends a ResendRequest, we
        # answer one SequenceReset-GapFill (34 = its BeginSeqNo, 43=Y, 123=Y, 36 = our next).
        raised = edit_state(5, 0)
        seen = len(messages(executor))
        dragoman, ev = serve(PROFILE, ["127.0.0.1:%d" % PORT], common)
        if not check("dragoman listens (our numbers ahead)", ev is not None, dragoman.output()):
            return check.finish()
        http = ev["http"]
        def their_resend():
            return [f for d, f in messages(executor)[seen:] if d == "out" and f.get("35") == "2"]
        def our_fill():
            return [f for d, f in messages(executor)[seen:] if d == "in" and f.get("35") == "4"]
        check("the executor sends a ResendRequest", wait_for(lambda: their_resend(), 10),
              messages(executor)[seen:])
        check("we answer it with a SequenceReset-GapFill numbered BeginSeqNo",
              wait_for(lambda: our_fill(), 10) and our_fill()[0].get("123") == "Y" and
              our_fill()[0].get("43") == "Y" and their_resend() and
              our_fill()[0].get("34") == their_resend()[0].get("7") and
              int(our_fill()[0].get("36", "0")) > raised["next_out"], (their_resend(), our_fill()))
        st, body, _ = post(http, "new_order_single", order(6))
        check("the executor accepted the gap fill: an order is filled", st == 200 and
              body.get("ord_status") == "filled", (st, body))
        check("the executor did not log out", not any(
            d == "out" and f.get("35") == "5" for d, f in messages(executor)[seen:]),
            messages(executor)[seen:])
        dragoman.stop()
        wait_for(lambda: any(d == "out" and f.get("35") == "5" for d, f in messages(executor)[seen:]), 5)

        # 3c. Our expected incoming higher than what the executor sends: its Logon is too low
        # (no PossDupFlag), we send a Logout saying so and disconnect.
        edit_state(0, 5)
        seen = len(messages(executor))
        dragoman, ev = serve(PROFILE, ["127.0.0.1:%d" % PORT], common)
        if not check("dragoman listens (too low)", ev is not None, dragoman.output()):
            return check.finish()
        low = logged(dragoman, "sequence_too_low", 15)
        check("dragoman logs the number too low", low is not None and low.get("closing") is True and
              low.get("expected") == low.get("received", 0) + 5, low)
        def our_logout():
            return [f for d, f in messages(executor)[seen:] if d == "in" and f.get("35") == "5"]
        check("we send a Logout whose Text says expected and received",
              wait_for(lambda: our_logout(), 10) and "too low, expecting" in
              our_logout()[0].get("58", ""), our_logout())
        check("and disconnect", logged(dragoman, "disconnect", 10) is not None,
              dragoman.output()[-2000:])
        dragoman.stop()
    finally:
        for p in (dragoman, executor):
            if p is not None:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return check.finish()


if __name__ == "__main__":
    if "--inside" in sys.argv:
        sys.exit(inside())
    outside()
