#!/usr/bin/env python3
"""`dragoman openapi` for every shipped profile: the document validates as OpenAPI 3.1 with an
independent validator, /admin/openapi.json serves the same document, and the schema and the runtime
agree. For each operation and request field, a pool of candidate values (empty, digits of every
width around the limits, signs, decimals, hex pairs, text at and over the width) is split by the
schema itself (type, maxLength, pattern) into values it allows and values it refuses; every allowed
value must be accepted by a serving dragoman (anything but invalid_field), every refused one must
be refused with 422 invalid_field naming the field. Leaving out a required field is refused the
same way, and so is an unknown field when the schema is closed."""
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC, Checks, get, run, serve  # noqa: E402

VALIDATORS = os.path.join(SRC, "tests", "validators")
PROFILES = sorted(os.path.join(SRC, "profiles", f) for f in os.listdir(os.path.join(SRC, "profiles"))
                  if f.endswith(".json"))


def allows(schema, value):
    """Whether a string schema (type, maxLength, pattern) allows value."""
    if schema.get("type") not in ("string", ["string", "number"]):
        return None  # not a string field: not probed with strings
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return False
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    return True


def candidates(schema, rng):
    width = schema.get("maxLength", 12)
    m = re.search(r"\{0,(\d+)\}", schema.get("pattern", ""))
    if m:
        width = max(width, int(m.group(1)))
    width = min(width, 64)
    pool = {"", "0", "7", "-1", "+5", "12.5", "1.50", "0.005", ".5", "5.", ".", "-", "1e3", "12a",
            " 1", "0A", "0G", "ABC", "abcd", "0a1B", "x"}
    for n in sorted({1, 2, max(1, width - 1), width, width + 1, width + 2, 2 * width, 2 * width + 2}):
        pool.add("9" * n)
        pool.add("0" * n + "1")
        pool.add("A" * n)
        pool.add("Z" * (n - 1) + " " if n > 1 else "Z")
        pool.add("".join(rng.choice("0123456789") for _ in range(n)))
        pool.add("-" + "3" * n)
        pool.add("3" * n + ".25")
        pool.add("0F" * n)
    return sorted(pool)


def deref(doc, ref):
    node = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def leaves(schema, prefix=""):
    """(dotted path, schema, required) of every leaf property."""
    req = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        path = prefix + name
        if sub.get("description", "").startswith("another name of"):
            continue  # an alias: giving both names is refused, so it is not probed with the base
        if sub.get("type") == "object" and "properties" in sub:
            yield from leaves(sub, path + ".")
        else:
            yield path, sub, name in req


def set_path(obj, path, value):
    parts = path.split(".")
    for p in parts[:-1]:
        obj = obj.setdefault(p, {})
    obj[parts[-1]] = value


def del_path(obj, path):
    parts = path.split(".")
    for p in parts[:-1]:
        obj = obj.get(p, {})
    obj.pop(parts[-1], None)


class caller:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, op, body):
        self.conn.request("POST", f"/v1/ops/{op}", body=json.dumps(body),
                          headers={"Content-Type": "application/json", "Request-Timeout": "300"})
        r = self.conn.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data or b"{}")
        except ValueError:
            return r.status, {"raw": data.decode(errors="replace")}


def refused_naming(status, body, field):
    detail = body.get("detail", "")
    leaf = field.split(".")[-1]
    return status == 422 and body.get("code") == "invalid_field" and (field in detail or leaf in detail)


def property_test(check, profile, doc, rng):
    name = os.path.basename(profile)
    p, ev = serve(profile)
    mismatches = []
    probes = 0
    try:
        if not check(f"{name}: serve started", ev is not None, p.output()):
            return
        status, served = get(ev["http"], "/admin/openapi.json")
        check(f"{name}: /admin/openapi.json is the same document", status == 200 and
              json.loads(served) == json.loads(json.dumps(doc)), served[:200])
        c = caller(ev["http"])
        for path, item in doc["paths"].items():
            if not path.startswith("/v1/ops/"):
                continue
            op = path[len("/v1/ops/"):]
            schema = deref(doc, item["post"]["requestBody"]["content"]["application/json"]
                           ["schema"]["$ref"])
            fields = list(leaves(schema))
            # A request the schema allows: every field at a value it allows (required ones too).
            base = {}
            for fpath, sub, _ in fields:
                if sub.get("type") == "array":
                    set_path(base, fpath, [])
                    continue
                if sub.get("type") == "integer":  # binary layout integers
                    set_path(base, fpath, sub.get("minimum", 0))
                    continue
                if "enum" in sub and "type" not in sub:  # names of wire values
                    set_path(base, fpath, sub["enum"][0])
                    continue
                good = [v for v in candidates(sub, rng) if allows(sub, v) and v]
                if good:
                    set_path(base, fpath, good[len(good) // 2])
            status, body = c.call(op, base)
            probes += 1
            if status == 422 and body.get("code") == "invalid_field":
                mismatches.append(f"{op}: the base request {base} was refused: {body}")
                continue
            for fpath, sub, required in fields:
                if sub.get("type") == "integer":  # the limits and one past each
                    lo, hi = sub.get("minimum"), sub.get("maximum")
                    for v, ok in ((lo, True), (hi, True), (lo - 1, False), (hi + 1, False)):
                        req = json.loads(json.dumps(base))
                        set_path(req, fpath, v)
                        status, body = c.call(op, req)
                        probes += 1
                        if ok and status == 422 and body.get("code") == "invalid_field":
                            mismatches.append(f"{op}.{fpath}={v}: schema allows, runtime refused: "
                                              f"{body.get('detail')}")
                        elif not ok and not refused_naming(status, body, fpath):
                            mismatches.append(f"{op}.{fpath}={v}: schema refuses, runtime said "
                                              f"{status} {body.get('code')}")
                for v in candidates(sub, rng):
                    ok = allows(sub, v)
                    if ok is None:
                        break
                    req = json.loads(json.dumps(base))
                    set_path(req, fpath, v)
                    status, body = c.call(op, req)
                    probes += 1
                    invalid = status == 422 and body.get("code") == "invalid_field"
                    if ok and invalid:
                        mismatches.append(f"{op}.{fpath}={v!r}: schema allows, runtime refused: "
                                          f"{body.get('detail')}")
                    elif not ok and not refused_naming(status, body, fpath):
                        mismatches.append(f"{op}.{fpath}={v!r}: schema refuses, runtime said "
                                          f"{status} {body.get('code')} {body.get('detail', '')}")
                if required:
                    req = json.loads(json.dumps(base))
                    del_path(req, fpath)
                    status, body = c.call(op, req)
                    probes += 1
                    if not refused_naming(status, body, fpath):
                        mismatches.append(f"{op}: without required {fpath}: {status} {body}")
            extra = dict(base, zz_not_a_field="1")
            status, body = c.call(op, extra)
            probes += 1
            if schema.get("additionalProperties") is False:
                if not refused_naming(status, body, "zz_not_a_field"):
                    mismatches.append(f"{op}: closed schema, unknown field: {status} {body}")
            elif status == 422 and body.get("code") == "invalid_field":
                mismatches.append(f"{op}: open schema, but an unknown field was refused: {body}")
    finally:
        p.stop()
    check(f"{name}: schema and runtime agree on {probes} requests", not mismatches,
          "\n  " + "\n  ".join(mismatches[:40]))


def main():
    check = Checks()
    rng = random.Random(18)
    with tempfile.TemporaryDirectory() as tmp:
        docs = {}
        for profile in PROFILES:
            name = os.path.basename(profile)
            code, out, err = run(["openapi", "--profile", profile])
            if not check(f"{name}: openapi exits 0", code == 0, err):
                continue
            doc = json.loads(out)
            docs[profile] = doc
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                json.dump(doc, f)
            check(f"{name}: OpenAPI 3.1.0", doc.get("openapi") == "3.1.0")
            ops = [k for k in doc["paths"] if k.startswith("/v1/ops/")]
            check(f"{name}: has operations", len(ops) > 0, str(list(doc["paths"])))
            codes = set(deref(doc, "#/components/schemas/Problem")["properties"]["code"]["enum"])
            check(f"{name}: every call code in the problem schema",
                  {"invalid_field", "rejected", "upstream_timeout", "upstream_unavailable",
                   "overloaded", "bad_request", "payload_too_large",
                   "upstream_protocol_error", "unknown_operation"} <= codes, str(codes))
            params = doc["components"]["parameters"]
            check(f"{name}: Request-Timeout and X-Request-Id headers",
                  "Request-Timeout" in params and "X-Request-Id" in params)
        files = [os.path.join(tmp, os.path.basename(p)) for p in docs]
        v = subprocess.run(["node", os.path.join(VALIDATORS, "openapi.mjs")] + files,
                           capture_output=True, text=True, cwd=VALIDATORS)
        check("every document validates (@seriousme/openapi-schema-validator)",
              v.returncode == 0 and v.stdout.count("valid OpenAPI 3.1") == len(files),
              v.stdout + v.stderr)
        # The validator is not a rubber stamp: a broken document fails it.
        if files:
            with open(files[0], encoding="utf-8") as f:
                broken = json.load(f)
            broken["paths"]["/v1/ops/x"] = {"post": {"responses": {"200": {}}}}
            bad = os.path.join(tmp, "broken.json")
            with open(bad, "w", encoding="utf-8") as f:
                json.dump(broken, f)
            v = subprocess.run(["node", os.path.join(VALIDATORS, "openapi.mjs"), bad],
                               capture_output=True, text=True, cwd=VALIDATORS)
            check("a broken document fails validation", v.returncode == 1, v.stdout)
        for profile, doc in docs.items():
            property_test(check, profile, doc, rng)
    check.finish()


if __name__ == "__main__":
    main()
