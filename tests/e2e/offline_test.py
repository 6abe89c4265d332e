#!/usr/bin/env python3
"""End-to-end checks of the offline tools (encode, decode, check) on the built binary."""
import json
import os
import subprocess
import tempfile

from harness import DRAGOMAN, SRC, Checks, run

ACME = os.path.join(SRC, "profiles", "acme-core.json")
check = Checks()


def damaged(text_change):
    with open(ACME) as f:
        text = f.read()
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(text_change(text))
    return path


# encode prints the framed EBCDIC bytes: length 0x0016, BALQ, trace 000001, account. The trace
# starts from the time of day unless the profile gives "start" a number, as this copy does.
ACME_FIXED = damaged(lambda t: t.replace('"generate": "counter", "width": 6',
                                         '"generate": "counter", "width": 6, "start": 1'))
rc, out, err = run(["encode", "--profile", ACME_FIXED, "--op", "balance", "--hex"], b'{"account":"12345"}')
check("encode --hex exact bytes", rc == 0 and out.decode().strip() ==
      "0016c2c1d3d8f0f0f0f0f0f1f1f2f3f4f540404040404040", out + err.encode())

rc, raw, err = run(["encode", "--profile", ACME_FIXED, "--op", "balance"], b'{"account":"12345"}')
check("encode raw bytes", rc == 0 and raw.hex() == "0016c2c1d3d8f0f0f0f0f0f1f1f2f3f4f540404040404040")

# The shipped profile's trace (6 digits) follows the time of day: a restart goes on past the
# traces of the process before. Two runs a moment apart do not go backwards.
traces = []
for _ in range(2):
    rc, out, err = run(["encode", "--profile", ACME, "--op", "balance"], b'{"account":"12345"}')
    traces.append(int("".join(str(b - 0xF0) for b in out[6:12])) if rc == 0 and len(out) == 24 else -1)
# (Across midnight UTC the range starts again: a later trace may then be the smaller one.)
check("encode traces follow the clock",
      0 < traces[0] <= traces[1] or (traces[0] > 990000 and 0 < traces[1] < 10000), str(traces))

rc, out, err = run(["decode", "--profile", ACME], raw)
msg = json.loads(out) if rc == 0 else {}
check("decode recognises the operation", msg.get("operation") == "balance" and msg.get("message") == "request", out)
check("decode gives the account back", msg.get("fields", {}).get("account") == "12345", out)
# The README's acme-core walk-through, line for line: the trace keeps its six digits (issue #11).
check("decode prints the README's line", out.decode().strip() ==
      '{"operation":"balance","message":"request","fields":'
      '{"tx_code":"BALQ","trace":"000001","account":"12345"}}', out)

rc, out, err = run(["decode", "--profile", ACME, "--hex"], raw.hex().encode())
check("decode --hex", rc == 0 and json.loads(out)["fields"]["account"] == "12345")

# Two frames in one input: one JSON line each.
rc, out, err = run(["decode", "--profile", ACME], raw + raw)
check("decode two frames", rc == 0 and len(out.splitlines()) == 2)

# A reply encoded with --reply and decoded: balance as a decimal string.
reply = json.dumps({"trace": "7", "account": "12345", "result": "00", "balance": "-12.50", "currency": "EUR"})
rc, rraw, err = run(["encode", "--profile", ACME, "--op", "balance", "--reply"], reply.encode())
check("encode --reply", rc == 0, err)
rc, out, err = run(["decode", "--profile", ACME, "--op", "balance"], rraw)
fields = json.loads(out)["fields"] if rc == 0 else {}
check("reply balance round trip", fields.get("balance") == "-12.50" and fields.get("currency") == "EUR", out + err.encode())
check("reply trace decodes at its width", fields.get("trace") == "000007", out + err.encode())

# Bad input: one clear line, non-zero exit.
rc, out, err = run(["encode", "--profile", ACME, "--op", "balance"], b'{"account":')
check("encode rejects non-JSON", rc != 0 and len(err.strip().splitlines()) == 1 and "not JSON" in err, err)
rc, out, err = run(["encode", "--profile", ACME, "--op", "balance"], b'{}')
check("encode names a missing field", rc != 0 and "account" in err and "required" in err, err)
rc, out, err = run(["encode", "--profile", ACME, "--op", "balance"], b'{"account":"1234567890123"}')
check("encode names a too-long field", rc != 0 and "account" in err, err)
rc, out, err = run(["encode", "--profile", ACME, "--op", "nope"], b'{}')
check("encode unknown operation", rc == 2 and "nope" in err, err)
rc, out, err = run(["decode", "--profile", ACME], raw[:-3])
check("decode truncated input", rc != 0 and "ends inside a frame" in err, err)
rc, out, err = run(["decode", "--profile", ACME, "--hex"], b"zz")
check("decode bad hex", rc != 0 and "hex" in err, err)
rc, out, err = run(["decode", "--profile", ACME], bytes.fromhex("0004") + b"\x00\x01\x02\x03")
check("decode garbage payload", rc != 0 and len(err.strip().splitlines()) == 1, err)

# check: good, and damaged copies naming every mistake with its path or position.
rc, out, err = run(["check", "--profile", ACME])
check("check good profile", rc == 0 and b"ok" in out)
path = damaged(lambda t: t.replace('"type": "length_prefix"', '"type": "smoke"'))
rc, out, err = run(["check", "--profile", path])
check("check unknown framing type", rc == 1 and "framing.type: unknown value \"smoke\"" in err, err)
path = damaged(lambda t: t.replace('"length": 12, "from": "account"', '"length": -12, "from": "account"'))
rc, out, err = run(["check", "--profile", path])
check("check negative length", rc == 1 and "operations.balance.request.fields[2].length: must be > 0" in err, err)
path = damaged(lambda t: t[: len(t) // 2])
rc, out, err = run(["check", "--profile", path])
check("check truncated file gives line and column", rc == 1 and "line " in err and "column " in err, err)
path = damaged(lambda t: t.replace('"type": "length_prefix"', '"type": "smoke"').replace(
    '"length": 12, "from": "account"', '"length": -12, "from": "account"'))
rc, out, err = run(["check", "--profile", path])
check("check reports every mistake", rc == 1 and "framing.type" in err and "fields[2].length" in err, err)
# Several mistakes in one framing section and a wrong field type: each named once, and the keys
# of the intended type are not reported as unknown.
path = damaged(lambda t: t.replace('"byte_order": "big"', '"byte_order": "bigg"').replace(
    '"max_frame_length": 4096', '"max_frame_length": 70000').replace(
    '"type": "zoned", "signed": true', '"type": "zonned", "signed": true'))
rc, out, err = run(["check", "--profile", path])
lines = err.strip().splitlines()
expected = [
    path + ': framing.byte_order: unknown value "bigg", must be one of big, little',
    path + ": framing.max_frame_length: exceeds what a 2-byte length can express (65535), the "
    "largest frame it can describe is 65537 bytes",
    path + ': operations.balance.reply.fields[4].type: unknown value "zonned", must be one of '
    "alpha, numeric, zoned, packed, binary, hex",
    "3 mistakes in " + path,
]
check("check names every mistake once", rc == 1 and lines == expected, err)
rc, out, err = run(["check", "--profile", "/nonexistent.json"])
check("check unreadable file", rc == 1 and "cannot be read" in err, err)

# --help and --version on every subcommand; bad flags exit 2 with one line.
for sub in ["serve", "simulate", "encode", "decode", "check"]:
    rc, out, err = run([sub, "--help"])
    check(f"{sub} --help", rc == 0 and b"usage: dragoman " + sub.encode() in out)
    rc, out, err = run([sub, "--version"])
    check(f"{sub} --version", rc == 0 and out.startswith(b"dragoman "))
    rc, out, err = run([sub, "--no-such-flag"])
    check(f"{sub} bad flag", rc == 2 and len(err.strip().splitlines()) == 1 and "no-such-flag" in err, err)
rc, out, err = run(["--version"])
check("--version", rc == 0 and out.startswith(b"dragoman "))
rc, out, err = run(["frobnicate"])
check("unknown command", rc == 2 and "unknown command" in err)

# Environment: DRAGOMAN_PROFILE stands for --profile.
p = subprocess.run([DRAGOMAN, "check"], capture_output=True, timeout=30, env={**os.environ, "DRAGOMAN_PROFILE": ACME})
check("options from the environment", p.returncode == 0, p.stderr)

check.finish()
