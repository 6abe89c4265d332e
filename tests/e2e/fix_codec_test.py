#!/usr/bin/env python3
# profiles/fix44.json checked against QuickFIX, an independent FIX engine (Debian's
# libquickfix-dev): what dragoman encodes, QuickFIX parses with its own BodyLength and CheckSum
# validation, fields intact; what QuickFIX writes (an ExecutionReport with a tag the profile does
# not list), dragoman decodes, with enumerations as words and the unlisted tag kept. A corrupted
# checksum and a wrong BodyLength are refused with a precise error. No network: the FIX session
# layer is not part of this test.
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from harness import SRC, Checks, run

PROFILE = os.path.join(SRC, "profiles", "fix44.json")
TOOL_SOURCE = os.path.join(SRC, "tests", "peers", "quickfix_codec.cpp")

check = Checks()


def skip(why):
    print("skip: " + why, flush=True)
    sys.exit(77)


if not shutil.which("g++"):
    skip("g++ is not installed")
if not os.path.exists("/usr/include/quickfix/Message.h"):
    skip("libquickfix-dev is not installed (scripts/setup installs it)")

work = tempfile.mkdtemp(prefix="dragoman-fix-")
tool = os.path.join(work, "quickfix_codec")
built = subprocess.run(["g++", "-std=c++14", "-O0", TOOL_SOURCE, "-o", tool, "-lquickfix",
                        "-lpthread"], capture_output=True, text=True, timeout=300)
if not check("the QuickFIX codec builds", built.returncode == 0, built.stderr[-2000:]):
    check.finish()


def quickfix(mode, data=b""):
    p = subprocess.run([tool, mode], input=data, capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(errors="replace")


# dragoman -> QuickFIX
order = {"msg_seq_num": 2, "cl_ord_id": "ORD1", "symbol": "IBM", "side": "buy",
         "order_qty": 100, "ord_type": "limit", "price": 101.5,
         "parties": [{"party_id": "DESK1", "party_id_source": "D", "party_role": 1}]}
rc, frame, err = run(["encode", "--profile", PROFILE, "--op", "new_order_single"],
                     json.dumps(order).encode())
check("dragoman encodes a NewOrderSingle", rc == 0 and frame.startswith(b"8=FIX.4.4\x019="),
      err + repr(frame))
body = frame[frame.index(b"\x01", 10) + 1:frame.rindex(b"10=")]
check("BodyLength counts the body", re.search(rb"\x019=(\d+)\x01", frame) is not None and
      int(re.search(rb"\x019=(\d+)\x01", frame).group(1)) == len(body), repr(frame))
check("CheckSum is the byte sum mod 256 in 3 digits",
      frame.endswith(b"10=%03d\x01" % (sum(frame[:frame.rindex(b"10=")]) % 256)), repr(frame))
rc, out = quickfix("parse", frame)
fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
check("QuickFIX parses it (its own BodyLength and CheckSum checks)", rc == 0, out)
check("QuickFIX reads the fields with their codes",
      fields.get("35") == "D" and fields.get("11") == "ORD1" and fields.get("55") == "IBM" and
      fields.get("54") == "1" and fields.get("40") == "2" and fields.get("38") == "100" and
      fields.get("44") == "101.5" and fields.get("34") == "2" and fields.get("49") == "DRAGOMAN",
      out)
corrupt = frame[:-4] + (b"000" if not frame.endswith(b"000\x01") else b"001") + b"\x01"
rc, out = quickfix("parse", corrupt)
check("QuickFIX itself refuses a corrupted CheckSum (the cross-check can fail)",
      rc != 0 and "CheckSum" in out, out)

# QuickFIX -> dragoman
rc, report = quickfix("write")
check("QuickFIX writes an ExecutionReport", rc == 0 and report.startswith("8=FIX.4.4"), report)
rc, out, err = run(["decode", "--profile", PROFILE], report.encode())
out = out.decode(errors="replace")
decoded = json.loads(out) if rc == 0 else {}
f = decoded.get("fields", {})
check("dragoman decodes it as the order's reply",
      decoded.get("operation") == "new_order_single" and decoded.get("message") == "reply",
      out + err)
check("enumerations come back as words",
      f.get("exec_type") == "trade" and f.get("ord_status") == "filled" and f.get("side") == "buy",
      out)
check("numbers and identifiers",
      f.get("cum_qty") == 100 and f.get("avg_px") == "101.5" and f.get("cl_ord_id") == "ORD1" and
      f.get("exec_id") == "E-1" and f.get("msg_seq_num") == 7, out)
check("a tag the profile does not list is kept, not dropped",
      f.get("extra") == [{"tag": 5001, "value": "custom"}], out)

bad = report.encode()
bad = bad[:-4] + (b"000" if not bad.endswith(b"000\x01") else b"001") + b"\x01"
rc, out, err = run(["decode", "--profile", PROFILE], bad)
check("a corrupted CheckSum is refused, saying what was expected",
      rc != 0 and "sum256 mismatch: expected" in err + out.decode(errors="replace"), err)
m = re.search(r"\x019=(\d+)\x01", report)
wrong = report.replace("\x019=%s\x01" % m.group(1), "\x019=%d\x01" % (int(m.group(1)) - 1), 1)
wrong_sum = wrong[:wrong.rindex("10=")]
wrong = wrong_sum + "10=%03d\x01" % (sum(wrong_sum.encode()) % 256)
rc, out, err = run(["decode", "--profile", PROFILE], wrong.encode())
check("a wrong BodyLength is refused",
      rc != 0 and "trailer \"10=\" is not where its length puts it" in err, err)

shutil.rmtree(work, ignore_errors=True)
check.finish()
