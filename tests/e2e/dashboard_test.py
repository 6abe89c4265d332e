#!/usr/bin/env python3
"""The Grafana dashboard (deploy/grafana) names only metrics, and label values in its matchers
only labels, that a live dragoman's /metrics has: serve against the embedded simulator, make
calls, scrape, compare."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC, Checks, get, post, serve  # noqa: E402

DASHBOARD = os.path.join(SRC, "deploy", "grafana", "dragoman-dashboard.json")
PROFILE = os.path.join(SRC, "profiles", "acme-core.json")
# Labels Prometheus adds when it scrapes (and Grafana's own variables select by).
SCRAPE_LABELS = {"job", "instance", "le"}


def expressions(dashboard):
    """Every PromQL expression: panel targets, nested rows, annotations."""
    out = []
    def walk(panels):
        for p in panels:
            out.extend(t["expr"] for t in p.get("targets", []) if "expr" in t)
            walk(p.get("panels", []))
    walk(dashboard["panels"])
    out.extend(a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if "expr" in a)
    for v in dashboard.get("templating", {}).get("list", []):
        if isinstance(v.get("query"), dict) and "query" in v["query"]:
            out.append(v["query"]["query"])
    return out


def scraped(text):
    """{metric sample name: set of label names} from the exposition text."""
    names = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        if not m:
            continue
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
        names.setdefault(m.group(1), set()).update(labels)
    return names


def main():
    check = Checks()
    with open(DASHBOARD, encoding="utf-8") as f:
        dashboard = json.load(f)
    exprs = expressions(dashboard)
    check("the dashboard has queries", len(exprs) >= 20, str(len(exprs)))
    check("panels have unique ids",
          len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"]))

    p, ev = serve(PROFILE)
    try:
        check("serve started", ev is not None, p.output())
        for _ in range(3):
            post(ev["http"], "balance", {"account": "12345"})
        post(ev["http"], "balance", {})  # an invalid_field, so an error series exists
        status, text = get(ev["http"], "/metrics")
        check("/metrics 200", status == 200)
        have = scraped(text)
        for expr in exprs:
            for name, matchers in re.findall(r"\b(dragoman_[a-z0-9_]+)(\{[^}]*\})?", expr):
                check(f"{name} is exported", name in have, f"in {expr!r}")
                used = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!=|!~|=)", matchers))
                unknown = used - have.get(name, set()) - SCRAPE_LABELS
                check(f"{name} has labels {sorted(used - SCRAPE_LABELS)}", not unknown,
                      f"no {sorted(unknown)} on {name}")
            for labels in re.findall(r"by \(([^)]*)\)", expr):
                metrics = re.findall(r"\b(dragoman_[a-z0-9_]+)", expr)
                for label in (x.strip() for x in labels.split(",")):
                    check(f"grouping label {label} exists in {metrics[0] if metrics else '?'}",
                          label in SCRAPE_LABELS or any(label in have.get(m, set())
                                                        for m in metrics), expr)
    finally:
        p.stop()
    check.finish()


if __name__ == "__main__":
    main()
