#!/usr/bin/env python3
"""Cross-checks dragoman's ISO 8583 layout byte for byte against an independent codec.

The npm package iso_8583@2.6.7 (tests/peers, installed by scripts/setup) encodes and decodes the
same messages as `dragoman encode/decode --profile profiles/iso8583-ascii.json`, in both
directions: the frames must be identical bytes, and each side must decode the other's frame to
exactly the expected fields. Run by CTest with DRAGOMAN (the binary) and DRAGOMAN_SOURCE_DIR set.
"""

import json
import os
import subprocess

from harness import DRAGOMAN, PEERS, SRC, Checks, node_env

PROFILE = os.path.join(SRC, "profiles", "iso8583-ascii.json")
NODE_MODULES = os.path.join(PEERS, "node_modules")
NPM_CODEC = os.path.join(PEERS, "iso8583_codec.cjs")

check = Checks()


def strip_comments(text):
    """Removes // comments outside strings (profiles allow them; json does not)."""
    out, i, in_string = [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def run(argv, stdin, env=None):
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def npm_encode(fields):
    return run(["node", NPM_CODEC, "encode"], json.dumps(fields), node_env())


def npm_decode(frame_hex):
    return run(["node", NPM_CODEC, "decode"], frame_hex, node_env())


def dragoman_encode(op, kind, fields):
    argv = [DRAGOMAN, "encode", "--profile", PROFILE, "--op", op, "--hex"]
    if kind == "reply":
        argv.append("--reply")
    return run(argv, json.dumps(fields))


def dragoman_decode(frame_hex):
    return run([DRAGOMAN, "decode", "--profile", PROFILE, "--hex"], frame_hex)


# Messages in dragoman's JSON names. Together they use every field type of the profile: n fixed
# (3, 4, 7, 11, ...), n LLVAR (2, 32), an fixed (39), an LLLVAR (54), ans fixed (37, 38, 41, 42,
# 43), ans LLVAR (44), ans LLLVAR (48), b (52), z track 2 (35), secondary-bitmap fields 70 and 90.
# Values keep to the npm codec's character classes (its `an` has no space, its `ans` no '@' '#').
CORPUS = [
    ("authorize", "request", "every request field; short amount and location are padded", {
        "pan": "4761739001010010", "processing_code": "003000", "amount": "1000",
        "transmission_time": "0101120000", "stan": "000001", "local_time": "120000",
        "local_date": "0101", "expiry": "2212", "merchant_type": "5411", "pos_entry_mode": "051",
        "pos_condition": "00", "acquirer_id": "12345678901",
        "track2": "4761739001010010=22122011143804400000", "rrn": "000000000001",
        "terminal_id": "TERM0001", "merchant_id": "MERCHANT0000001",
        "merchant_location": "ACME STORE 42   SPRINGFIELD  US", "f48": "ORDER=12345;NOTE:(test)",
        "currency": "978", "pin_block": "0123456789abcdef",
        "additional_amounts": "0001840C000000001000"}),
    ("authorize", "request", "required fields only, defaults for 3 and 49", {
        "pan": "4111111111111111", "amount": "250", "transmission_time": "1231235959",
        "stan": "999999", "local_time": "235959", "local_date": "1231",
        "terminal_id": "T2"}),
    ("authorize", "reply", "approved, with 38, 44, 48 and 54", {
        "mti": "0110", "pan": "4761739001010010", "processing_code": "003000",
        "amount": "000000001000", "transmission_time": "0101120000", "stan": "000001",
        "local_time": "120000", "local_date": "0101", "rrn": "000000000001",
        "auth_code": "AB12CD", "response_code": "00", "terminal_id": "TERM0001",
        "merchant_id": "MERCHANT0000001", "f44": "APPROVED BY ISSUER",
        "f48": "ORDER=12345;NOTE:(test)", "currency": "978",
        "additional_amounts": "0002840C000000005000"}),
    ("authorize", "reply", "declined 51, no auth code", {
        "mti": "0110", "amount": "000000009999", "stan": "000002", "response_code": "51",
        "terminal_id": "TERM0001"}),
    ("purchase", "request", "19-digit PAN, 37-character track 2, 3-digit LLL f48", {
        "pan": "6011000990139424123", "processing_code": "000000", "amount": "000000012345",
        "transmission_time": "0615083000", "stan": "000123", "local_time": "083000",
        "local_date": "0615", "pos_entry_mode": "901", "pos_condition": "00",
        "track2": "6011000990139424123=2512101123456789", "terminal_id": "POS00042",
        "merchant_id": "SHOP42", "f48": "X" * 150 + "-!$%^&*()_+|~=`{}[]:\";'<>?,./ end",
        "currency": "840"}),
    ("purchase", "reply", "approved", {
        "mti": "0210", "pan": "6011000990139424123", "amount": "000000012345",
        "stan": "000123", "auth_code": "000777", "response_code": "00",
        "terminal_id": "POS00042", "currency": "840"}),
    ("reversal", "request", "original data elements in field 90 (secondary bitmap)", {
        "pan": "4761739001010010", "processing_code": "000000", "amount": "000000001000",
        "transmission_time": "0101120500", "stan": "000002", "local_time": "120500",
        "local_date": "0101", "rrn": "000000000001", "terminal_id": "TERM0001",
        "merchant_id": "MERCHANT0000001", "currency": "840",
        "original_data": "010000000101011200000000012345678900000000"}),
    ("reversal", "reply", "accepted", {
        "mti": "0410", "pan": "4761739001010010", "amount": "000000001000",
        "stan": "000002", "response_code": "00", "terminal_id": "TERM0001",
        "original_data": "010000000101011200000000012345678900000000"}),
    ("echo", "request", "network management 301 in field 70 (secondary bitmap)", {
        "transmission_time": "0101120000", "stan": "000003", "terminal_id": "TERM0001"}),
    ("echo", "request", "without a terminal id", {
        "transmission_time": "0101120001", "stan": "000004"}),
    # Open messages: fields the operation does not list, by dictionary name or f<number>.
    ("reversal", "request", "unlisted 14, 18 (by name) and 22 (as f22)", {
        "pan": "4761739001010010", "amount": "000000001000", "transmission_time": "0101120500",
        "stan": "000005", "local_time": "120500", "local_date": "0101", "expiry": "2812",
        "merchant_type": "5411", "f22": "051", "terminal_id": "TERM0001",
        "original_data": "010000000101011200000000012345678900000000"}),
    ("authorize", "reply", "unlisted 14, 18 and 22 on the wire", {
        "mti": "0110", "amount": "000000001000", "stan": "000006", "expiry": "2812",
        "merchant_type": "5411", "pos_entry_mode": "051", "response_code": "00",
        "terminal_id": "TERM0001"}),
    ("echo", "reply", "answered", {
        "mti": "0810", "transmission_time": "0101120000", "stan": "000003",
        "response_code": "00", "terminal_id": "TERM0001", "network_code": "301"}),
]


def main():
    if not DRAGOMAN or not os.access(DRAGOMAN, os.X_OK):
        check("environment", False, "DRAGOMAN must name the built dragoman binary")
        check.finish()
    if not os.path.isdir(os.path.join(NODE_MODULES, "iso_8583")):
        check("npm peers installed", False,
              f"{NODE_MODULES}/iso_8583 is missing: run scripts/setup "
              "(or: cd tests/peers && npm install --no-audit --no-fund)")
        check.finish()

    with open(PROFILE, encoding="utf-8") as f:
        profile = json.loads(strip_comments(f.read()))
    dictionary = profile["dictionary"]["fields"]

    def message(op, kind):
        return profile["operations"][op][kind]

    def field_name(entry):
        return entry.get("name") or entry.get("as")

    def npm_value(number, value):
        """The value as the npm codec holds it: fixed fields at their full width."""
        d = dictionary[str(number)]
        if d.get("format", "fixed") != "fixed":
            return value
        if d["type"] == "n":
            return value.rjust(d["length"], "0")
        if d["type"] in ("an", "ans"):
            return value.ljust(d["length"], " ")
        return value

    def canonical(number, value):
        """The value as dragoman decodes it: fixed n keeps its zeros, fixed text loses its pad."""
        d = dictionary[str(number)]
        if d.get("format", "fixed") == "fixed" and d["type"] in ("an", "ans"):
            return npm_value(number, value).rstrip(" ")
        return npm_value(number, value)

    for op, kind, what, fields in CORPUS:
        label = f"{op} {kind}: {what}"
        msg = message(op, kind)
        by_name = {field_name(e): e for e in msg["fields"]}
        # The profile is open ("unknown_fields": "dictionary"): every dictionary element the
        # message does not list is taken and decoded under its dictionary name, else f<number>;
        # every element also answers to f<number> (decoded under its canonical name).
        listed = {e["field"] for e in msg["fields"]}
        canonical_name = {}
        for number, d in dictionary.items():
            if int(number) not in listed:
                name = d.get("name") or f"f{number}"
                by_name[name] = {"field": int(number)}
        for name, e in list(by_name.items()):
            if e["field"] != 0:
                canonical_name[f"f{e['field']}"] = name
                by_name.setdefault(f"f{e['field']}", e)
        fields_given = fields
        fields = {canonical_name.get(n, n) if n.startswith("f") and n not in
                  {field_name(e) for e in msg["fields"]} else n: v for n, v in fields.items()}
        # What the message holds after mapping: the input, constants and (requests) defaults.
        values = dict(fields)
        for e in msg["fields"]:
            name = field_name(e)
            if "value" in e:
                values[name] = str(e["value"])
            elif kind == "request" and name not in values and "default" in e:
                values[name] = str(e["default"])
        unknown = [n for n in values if n not in by_name]
        if unknown:
            check(label, False, f"corpus names not in the profile: {unknown}")
            continue
        npm_fields = {str(by_name[n]["field"]): npm_value(by_name[n]["field"], v)
                      for n, v in values.items() if by_name[n]["field"] != 0}
        npm_fields["0"] = values["mti"]
        npm_fields = dict(sorted(npm_fields.items(), key=lambda kv: int(kv[0])))
        expected = {n: (v if by_name[n]["field"] == 0 else canonical(by_name[n]["field"], v))
                    for n, v in values.items()}

        rc_d, ours, err_d = dragoman_encode(op, kind, fields_given)
        rc_n, theirs, err_n = npm_encode(npm_fields)
        if rc_d != 0 or rc_n != 0:
            check(f"{label} [encode]", False,
                  f"dragoman exit {rc_d}: {err_d}\nnpm exit {rc_n}: {err_n}")
            continue
        check(f"{label} [same bytes]", ours.lower() == theirs.lower(),
              f"dragoman: {ours}\nnpm:      {theirs}")

        # npm → dragoman: dragoman decodes the npm frame to exactly the expected fields.
        rc, out, err = dragoman_decode(theirs)
        if rc != 0:
            check(f"{label} [dragoman decodes npm]", False, f"exit {rc}: {err}")
        else:
            got = json.loads(out.splitlines()[0])
            want = {"operation": op, "message": kind, "fields": expected}
            check(f"{label} [dragoman decodes npm]", got == want,
                  f"got:  {json.dumps(got, sort_keys=True)}\nwant: {json.dumps(want, sort_keys=True)}")

        # dragoman → npm: the npm codec decodes dragoman's frame to exactly the same fields.
        rc, out, err = npm_decode(ours)
        if rc != 0:
            check(f"{label} [npm decodes dragoman]", False, f"exit {rc}: {err}")
        else:
            got = json.loads(out)
            check(f"{label} [npm decodes dragoman]", got == npm_fields,
                  f"got:  {json.dumps(got, sort_keys=True)}\nwant: {json.dumps(npm_fields, sort_keys=True)}")

    # Refusals: dragoman names the field and why, and never writes a frame.
    bad_requests = [
        ("amount longer than field 4", {"pan": "4761739001010010", "amount": "1234567890123",
                                        "stan": "000001", "terminal_id": "T1"}, "amount"),
        ("PAN with a letter", {"pan": "47617390010100X0", "amount": "1", "stan": "000001",
                               "terminal_id": "T1"}, "pan"),
        ("PIN block not 8 bytes", {"pan": "4761739001010010", "amount": "1", "stan": "000001",
                                   "terminal_id": "T1", "pin_block": "0123"}, "pin_block"),
    ]
    for what, fields, name in bad_requests:
        rc, out, err = dragoman_encode("authorize", "request", fields)
        check(f"authorize request refused: {what}", rc != 0 and name in err and not out,
              f"exit {rc}, stdout {out!r}, stderr {err!r}")

    # Malformed npm frames: dragoman refuses them, naming the field and the offset.
    rc, good, err = npm_encode({"0": "0800", "7": "0101120000", "11": "000005", "70": "301"})
    if rc != 0:
        check("npm encodes an echo for the malformed cases", False, err)
    else:
        body = bytes.fromhex(good)[2:]
        cut = body[:-2]  # field 70 loses its last two digits
        frame = (len(cut).to_bytes(2, "big") + cut).hex()
        rc, out, err = dragoman_decode(frame)
        check("truncated field 70 is malformed", rc != 0 and "field 70" in err and "offset" in err,
              f"exit {rc}, stderr {err!r}")
        bad = bytearray(body)
        bad[4] |= 0x08  # bit 5: a field the dictionary does not define
        frame = (len(bad).to_bytes(2, "big") + bytes(bad)).hex()
        rc, out, err = dragoman_decode(frame)
        check("bitmap bit for an undefined field is malformed", rc != 0 and "field 5" in err,
              f"exit {rc}, stderr {err!r}")
    check.finish()


if __name__ == "__main__":
    main()
