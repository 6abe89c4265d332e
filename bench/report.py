#!/usr/bin/env python3
"""Turns scripts/bench samples (JSON lines) into the Markdown results table: medians over runs,
ratios dragoman/baseline and the issue's targets. Usage: report.py samples.jsonl meta.json"""
import json
import statistics
import sys
from collections import defaultdict

HOPS = [
    ("memcached-direct", "memcached direct (our load generator; the floor)"),
    ("dragoman-http", "**dragoman HTTP** → memcached"),
    ("nginx", "nginx proxy_pass (upstream keep-alive) → nginx stub"),
    ("haproxy", "haproxy mode http → nginx stub"),
    ("node", "Node JSON→memcached translator"),
    ("dragoman-line", "**dragoman line (NDJSON)** → memcached"),
    ("twemproxy", "twemproxy → memcached"),
    ("dragoman-http-epoll", "dragoman HTTP on epoll (`--io-backend epoll`) → memcached"),
    ("dragoman-line-epoll", "dragoman line on epoll (`--io-backend epoll`) → memcached"),
    ("dragoman-tls", "**dragoman HTTP, mutual TLS to the host** → stunnel4 server → memcached"),
    ("dragoman-stunnel", "dragoman HTTP cleartext → stunnel4 client → stunnel4 server → memcached"),
    ("iso8583-direct", "ISO 8583 host direct (npm iso_8583 host; Node direct client; its ceiling)"),
    ("dragoman-iso8583", "**dragoman HTTP `authorize`** → ISO 8583 host"),
    ("node-iso8583", "Node JSON→ISO 8583 translator (npm iso_8583) → ISO 8583 host"),
    ("hl7-direct", "MLLP ACK host direct (Node direct client; its ceiling)"),
    ("dragoman-hl7", "**dragoman HTTP `admit`** → MLLP ACK host"),
    ("node-hl7", "Node JSON→HL7 translator (npm node-hl7-client) → MLLP ACK host"),
    ("dragoman-iso8583-async", "**dragoman HTTP `authorize`, `Prefer: respond-async`** (202 once journaled) → ISO 8583 host"),
    ("dragoman-hl7-async", "**dragoman HTTP `admit`, `Prefer: respond-async`** (202 once journaled) → MLLP ACK host"),
]
ASYNC = {"dragoman-iso8583-async": "dragoman-iso8583", "dragoman-hl7-async": "dragoman-hl7"}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    samples = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    meta = json.load(open(sys.argv[2]))
    points = defaultdict(list)  # (hop, c) -> [sample]
    extra = defaultdict(list)  # hop -> [sample]
    for s in samples:
        (points[(s["hop"], s["c"])] if "c" in s else extra[s["hop"]]).append(s)
    cs = sorted({c for (_, c) in points})
    top_c = max(cs) if cs else None

    def point(hop, c):
        ss = points.get((hop, c), [])
        if not ss:
            return None
        loads = [s["load"] for s in ss]
        cpu = [s["cpu_ticks"] / s["clk_tck"] * 1e6 / s["load"]["requests"] for s in ss if s["load"].get("requests")]
        return {
            "rps": med([l.get("rps") for l in loads]),
            "p50": med([l.get("p50_us") for l in loads]),
            "p99": med([l.get("p99_us") for l in loads]),
            "cpu": med(cpu),
            "rss": med([s["rss_peak_kib"] / 1024 for s in ss]),
            "errors": sum(l.get("errors", 0) + l.get("io_errors", 0) for l in loads),
        }

    def hop_extra(hop, key):
        return med([s.get(key) for s in extra.get(hop, [])])

    present = [(h, label) for h, label in HOPS if any((h, c) in points for c in cs)]
    out = []
    w = out.append
    w(f"# dragoman side-by-side benchmark, {meta['date']}\n")
    w(f"- machine: {meta['host']}, {meta['cpu']}, {meta['cores']} cores, Linux {meta['kernel']}; load average {meta['loadavg']}")
    w(f"- pinning: {meta['pinning']}; loopback only; closed loop, one request outstanding per connection")
    w(f"- median of {meta['runs']} run(s) per cell, {meta['duration_s']} s per point after a 1 s warm-up; "
      f"idle cost from {meta['idle_connections']} keep-alive connections")
    memcached_rows = {"memcached-direct", "dragoman-http", "nginx", "haproxy", "node", "dragoman-line", "twemproxy",
                      "dragoman-tls", "dragoman-stunnel", "dragoman-http-epoll", "dragoman-line-epoll"}
    if memcached_rows & {h for (h, _) in points}:
        w("- HTTP rows: wrk + bench/wrk_ops.lua (POST JSON, 90% get / 10% set over 1,000 keys, 64-byte values); "
          "memcached, twemproxy and dragoman-line rows: dragoman_loadgen with the same mix")
    if any(h in {h for (h, _) in points} for h in ("dragoman-iso8583", "node-iso8583", "dragoman-hl7", "node-hl7")):
        w("- ISO 8583 and HL7 rows: wrk + bench/wrk_call.lua (one POST body: `authorize`, `admit`), the same fields "
          "translated both ways by dragoman and the Node translators, 2 persistent host connections each, "
          "pipelined, replies matched by STAN + terminal id / MSA-2; direct rows: bench/direct_client.cjs "
          "(pre-encoded messages, one outstanding per connection); the host shares core 1 with the hop")
    if any(h in ASYNC for (h, _) in points):
        w("- *-async rows: the same calls with `Prefer: respond-async`, each answered `202 Accepted` once its "
          "message is committed to the journal (any other answer counts as an error); the same process delivers "
          "the messages to the host while the load runs, so its CPU per call covers accepting and delivering")
    for k in ("dragoman", "journal", "memcached", "nginx", "haproxy", "twemproxy", "stunnel", "node", "wrk"):
        if meta.get(k):
            w(f"- {k}: {meta[k]}")
    w("")
    head = "| hop | " + " | ".join(f"c={c} req/s · p50/p99 µs" for c in cs) + \
        f" | hop CPU µs/req | RSS MiB (c={top_c}) | idle KiB/conn | start→first reply |"
    w(head)
    w("|" + "---|" * (head.count("|") - 1))
    for hop, label in present:
        cells = []
        cpus = []
        for c in cs:
            p = point(hop, c)
            if not p:
                cells.append("—")
                continue
            err = f" ({p['errors']} err)" if p["errors"] else ""
            cells.append(f"{p['rps'] / 1000:.1f}k · {p['p50']:.0f}/{p['p99']:.0f}{err}")
            if p["cpu"] is not None:
                cpus.append(p["cpu"])
        cpu = f"{min(cpus):.1f}–{max(cpus):.1f}" if cpus else "—"
        rss = point(hop, top_c)["rss"] if point(hop, top_c) else None
        idle = hop_extra(hop, "idle_kib_per_conn")
        start = hop_extra(hop, "start_ms")
        w(f"| {label} | " + " | ".join(cells) +
          f" | {cpu} | {rss:.1f} | {'—' if idle is None else f'{idle:.2f}'} | "
          f"{'—' if start is None else f'{start:.1f} ms'} |")
    w("")
    w("CPU is the hop process's utime+stime (all its processes: nginx master and worker) over the point, "
      "divided by the replies; the range runs over the concurrency points. "
      "RSS is the peak sampled every 0.2 s during the top-concurrency point.\n")

    # Ratios dragoman / baseline, per concurrency.
    def ratio_rows(ours, baselines):
        rows = []
        for base in baselines:
            for c in cs:
                a, b = point(ours, c), point(base, c)
                if a and b and b["rps"] and b["p99"]:
                    cpu = f"{a['cpu'] / b['cpu']:.2f}×" if a["cpu"] and b["cpu"] else "—"
                    rows.append(f"| {ours} / {base} | {c} | {a['rps'] / b['rps']:.2f}× | {a['p99'] / b['p99']:.2f}× | "
                                f"{a['p50'] - b['p50']:+.0f} | {cpu} |")
        return rows

    w("## Ratios (dragoman / baseline, same run)\n")
    w("| pair | c | throughput | p99 | Δ p50 µs | hop CPU per call |")
    w("|---|---|---|---|---|---|")
    for r in ratio_rows("dragoman-http", ["node", "nginx", "haproxy", "memcached-direct", "dragoman-http-epoll"]) + \
            ratio_rows("dragoman-line", ["twemproxy", "memcached-direct", "dragoman-line-epoll"]) + \
            ratio_rows("dragoman-line-epoll", ["twemproxy"]) + \
            ratio_rows("dragoman-tls", ["dragoman-stunnel", "dragoman-http"]) + \
            ratio_rows("dragoman-iso8583", ["node-iso8583", "iso8583-direct"]) + \
            ratio_rows("dragoman-hl7", ["node-hl7", "hl7-direct"]) + \
            ratio_rows("dragoman-iso8583-async", ["dragoman-iso8583"]) + \
            ratio_rows("dragoman-hl7-async", ["dragoman-hl7"]):
        w(r)
    w("")

    # Asynchronous calls: accepts per second beside the synchronous calls, and the journal's fsyncs.
    async_rows = []
    for hop, sync in ASYNC.items():
        for c in cs:
            ss = [s for s in points.get((hop, c), []) if s.get("journal") and s["journal"].get("accepted")]
            if not ss:
                continue
            a, b = point(hop, c), point(sync, c)
            accepted = med([s["journal"]["accepted"] / s["load"]["seconds"] for s in ss])
            delivered = med([s["journal"]["delivered"] / s["load"]["seconds"] for s in ss])
            commits = med([s["journal"]["commits"] / s["journal"]["accepted"] for s in ss])
            sync_cell = f"{b['rps'] / 1000:.1f}k · {b['p50']:.0f}/{b['p99']:.0f}" if b else "—"
            async_rows.append(f"| {hop} | {c} | {accepted / 1000:.1f}k · {a['p50']:.0f}/{a['p99']:.0f} | "
                              f"{delivered / 1000:.1f}k | {commits:.2f} | {sync_cell} |")
    if async_rows:
        w("## Asynchronous calls (same run)\n")
        w(f"Journal: {meta.get('journal', '—')}. Each point starts with nothing left to deliver; its commits are "
          "every transaction of the journal's writer during the point (messages accepted, sent, delivered), "
          "one fsync each under `full` (under `normal`, fsyncs happen only at checkpoints). Messages of one "
          "order key (one patient here) are delivered one after another, each outcome committed first.\n")
        w("| hop | c | accepted/s · p50/p99 µs (202) | delivered/s meanwhile | commits (fsyncs) per accepted message | "
          "synchronous row req/s · p50/p99 µs |")
        w("|---|---|---|---|---|---|")
        out.extend(async_rows)
        w("")

    # The targets.
    checks = []

    measured = {h for (h, _) in points}

    def check(name, value, goal, ok, fmt="{:.2f}", hops=()):
        if any(h not in measured for h in hops):
            return  # a row left out of this run (HOPS): its targets are not listed
        if value is None:
            checks.append(f"| {name} | — | {goal} | not measured |")
        else:
            checks.append(f"| {name} | {fmt.format(value)} | {goal} | {'PASS' if ok(value) else '**FAIL**'} |")

    for base, goal in (("node", 1.7), ("nginx", 1.0), ("haproxy", 1.0)):
        for c in [c for c in cs if c >= 16]:
            a, b = point("dragoman-http", c), point(base, c)
            r = a["rps"] / b["rps"] if a and b else None
            pair = ("dragoman-http", base)
            check(f"HTTP throughput / {base}, c={c}", r, f"≥ {goal}×", lambda v, g=goal: v >= g, "{:.2f}×", pair)
            r = a["p99"] / b["p99"] if a and b else None
            check(f"HTTP p99 / {base}, c={c}", r, "< 1.0×", lambda v: v < 1.0, "{:.2f}×", pair)
    for c in cs:
        a, b = point("dragoman-line", c), point("twemproxy", c)
        r = a["rps"] / b["rps"] if a and b else None
        check(f"line throughput / twemproxy, c={c}", r, "≥ 1.0×", lambda v: v >= 1.0, "{:.2f}×",
              ("dragoman-line", "twemproxy"))
        r = a["p99"] / b["p99"] if a and b else None
        check(f"line p99 / twemproxy, c={c}", r, "≤ 1.0×", lambda v: v <= 1.0, "{:.2f}×",
              ("dragoman-line", "twemproxy"))
    # The HTTP door and twemproxy are driven by different clients (wrk, dragoman_loadgen): their
    # rates are not compared; the hop's CPU per call is the same measure for both.
    for c in [c for c in cs if c >= 16]:
        a, b = point("dragoman-http", c), point("twemproxy", c)
        r = a["cpu"] / b["cpu"] if a and b and a["cpu"] is not None and b["cpu"] else None
        check(f"HTTP CPU per call / twemproxy's, c={c}", r, "≤ 1.0×", lambda v: v <= 1.0, "{:.2f}×",
              ("dragoman-http", "twemproxy"))
    for ours, base, what in (("dragoman-iso8583", "node-iso8583", "ISO 8583"), ("dragoman-hl7", "node-hl7", "HL7")):
        for c in [c for c in cs if c >= 16]:
            a, b = point(ours, c), point(base, c)
            r = a["rps"] / b["rps"] if a and b else None
            check(f"{what} throughput / Node translator, c={c}", r, "≥ 5×", lambda v: v >= 5, "{:.2f}×", (ours, base))
            r = a["p99"] / b["p99"] if a and b else None
            check(f"{what} p99 / Node translator, c={c}", r, "< 1.0×", lambda v: v < 1.0, "{:.2f}×", (ours, base))
    for hop in ("dragoman-http", "dragoman-line"):
        if hop not in measured:
            continue
        # At the top concurrency, as the target is set (at c=1 every call pays its own wake-ups,
        # memcached's included: the table's CPU column shows the whole range).
        p = point(hop, top_c)
        check(f"{hop} CPU per call at c={top_c}", p["cpu"] if p else None, "≤ 10 µs", lambda v: v <= 10, "{:.1f} µs")
        if cs and cs[0] == 1:
            a, b = point(hop, 1), point("memcached-direct", 1)
            d = a["p50"] - b["p50"] if a and b else None
            check(f"{hop} added p50 at c=1 over memcached direct", d, "≤ 20 µs", lambda v: v <= 20, "{:.0f} µs",
                  (hop, "memcached-direct"))
        p = point(hop, top_c)
        check(f"{hop} RSS at c={top_c}", p["rss"] if p else None, "≤ 15 MiB", lambda v: v <= 15, "{:.1f} MiB")
        check(f"{hop} idle memory per connection", hop_extra(hop, "idle_kib_per_conn"), "≤ 2 KiB",
              lambda v: v <= 2, "{:.2f} KiB")
        check(f"{hop} start → first reply", hop_extra(hop, "start_ms"), "≤ 10 ms", lambda v: v <= 10, "{:.1f} ms")
    w("## Targets\n")
    w("| target | measured | goal | |")
    w("|---|---|---|---|")
    out.extend(checks)
    print("\n".join(out))


if __name__ == "__main__":
    main()
