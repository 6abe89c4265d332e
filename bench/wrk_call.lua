-- wrk script for the ISO 8583 and HL7 rows of scripts/bench: POST one JSON body (BENCH_BODY) to
-- one operation (BENCH_PATH, e.g. /v1/ops/authorize); the hop generates STAN / MSH-10 itself.
-- Replies with status >= 400 count as errors (wrk's own count). Prints one JSON line of results (latencies in microseconds) after wrk's own report.
local path = os.getenv("BENCH_PATH") or "/v1/ops/authorize"
local body = os.getenv("BENCH_BODY") or "{}"
local req

function init(args)
  req = wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"errors":%d,"io_errors":%d,"seconds":%.4f,"rps":%.1f,"p50_us":%.1f,"p90_us":%.1f,' ..
    '"p99_us":%.1f,"p999_us":%.1f,"max_us":%.1f}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
