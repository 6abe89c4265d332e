#!/usr/bin/env python3
"""Writes the decode and roundtrip seeds (fuzz/corpus/decode, fuzz/corpus/roundtrip): for every
operation of every shipped profile, its request and its reply encoded by `dragoman encode` from
fields filled with plausible values, prefixed with the profile's selector byte (its place in
fuzz/fuzz_profiles.cpp) and, for decode, a piece size.

  fuzz/make_seeds.py [DRAGOMAN_BINARY]      (default: build/dragoman)"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each with its selector: its place in fuzz/fuzz_profiles.cpp (4..7 are acme-core reframed).
PROFILES = [("acme-core", 0), ("hl7v2-mllp", 1), ("iso8583-ascii", 2), ("memcached-text", 3),
            ("modbus-tcp", 8)]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for line in text.splitlines():
        in_str = False
        cut = len(line)
        i = 0
        while i < len(line):
            c = line[i]
            if c == "\\" and in_str:
                i += 2
                continue
            if c == '"':
                in_str = not in_str
            elif not in_str and line.startswith("//", i):
                cut = i
                break
            i += 1
        out.append(line[:cut])
    return re.sub(r",(\s*[}\]])", r"\1", "\n".join(out))


def value_for(field):
    t = field.get("type", "")
    if isinstance(field.get("map"), dict):
        return next(iter(field["map"]))
    if field.get("json") == "array":
        return [1, 0, 1] if t == "bitmap" else [7, 8, 9]
    if field.get("json") == "boolean":
        return True
    if t in ("numeric", "number", "zoned", "packed", "binary", "decimal", "uint", "int") or \
            field.get("decimals"):
        return "12"
    n = field.get("length") or field.get("max_length") or 8
    return "AB12"[: max(1, min(4, int(n)))]


def fields_json(message):
    fields = {}
    for f in message.get("fields", []):
        name = f.get("from") or f.get("to") or f.get("as")
        if name and "value" not in f and "generate" not in f:
            fields[name] = value_for(f)
    return fields


def repair(fields, error):
    """Fills in the field an encode error names; False when it names none it can fix."""
    m = re.search(r"encode: ([\w.\[\]]+): (is required|must be digits only|.*)", error)
    if not m:
        return False
    path, why = m.group(1), m.group(2)
    value = "1234" if "digit" in why or "number" in why else "AB12"
    longer = re.search(r"longer than its length (\d+)", why)
    if longer:
        value = value[: int(longer.group(1))]
    exact = re.search(r"must be exactly (\d+) \((\d+) hex digits\)", why)
    if exact:
        value = "0123456789abcdef" * (int(exact.group(2)) // 16 + 1)
        value = value[: int(exact.group(2))]
    if "must be an array" in why:
        value = []
    if re.search(r"\[\d+\]", path):
        return False
    node = fields
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return False
    if node.get(parts[-1]) == value:
        return False
    node[parts[-1]] = value
    return True


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "dragoman")
    for target in ("decode", "roundtrip"):
        os.makedirs(os.path.join(ROOT, "fuzz", "corpus", target), exist_ok=True)
    for name, selector in PROFILES:
        path = os.path.join(ROOT, "profiles", name + ".json")
        profile = json.loads(strip_comments(open(path).read()))
        for op, spec in profile.get("operations", {}).items():
            for side in ("request", "reply"):
                if side not in spec:
                    continue
                args = [binary, "encode", "--profile", path, "--op", op]
                if side == "reply":
                    args.append("--reply")
                fields = fields_json(spec[side])
                for _ in range(30):  # what encode says is missing or malformed, filled in
                    p = subprocess.run(args, input=json.dumps(fields).encode(),
                                       capture_output=True, timeout=30)
                    if p.returncode == 0 or not repair(fields, p.stderr.decode()):
                        break
                if p.returncode != 0 or not p.stdout:
                    print(f"skip {name} {op} {side}: {p.stderr.decode().strip()[:120]}")
                    continue
                frame = p.stdout
                base = f"{name}-{op}-{side}"
                with open(os.path.join(ROOT, "fuzz", "corpus", "decode", base), "wb") as f:
                    f.write(bytes([selector, 255]) + frame)
                # roundtrip takes a payload: the frame as the framing hands it over is not known
                # here, so the whole frame is a seed too (mutation finds the payloads).
                with open(os.path.join(ROOT, "fuzz", "corpus", "roundtrip", base), "wb") as f:
                    f.write(bytes([selector | 0x20]) + frame)
                print(f"seed {base}: {len(frame)} bytes")


if __name__ == "__main__":
    main()
