-- wrk script for the ISO 8583 and HL7 rows of scripts/bench: POST one JSON body (BENCH_BODY) to
-- one operation (BENCH_PATH, e.g. /v1/ops/authorize); the hop generates STAN / MSH-10 itself.
-- With BENCH_PREFER (the *-async rows: "respond-async") the calls carry that Prefer header and
-- every reply but 202 Accepted counts as an error. Otherwise replies with status >= 400 count as
-- errors (wrk's own count). Prints one JSON line of results (latencies in microseconds) after
-- wrk's own report.
local path = os.getenv("BENCH_PATH") or "/v1/ops/authorize"
local body = os.getenv("BENCH_BODY") or "{}"
local prefer = os.getenv("BENCH_PREFER") or ""
local req
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  if prefer ~= "" then headers["Prefer"] = prefer end
  req = wrk.format("POST", path, headers, body)
  not_accepted = 0
end

function request()
  return req
end

if prefer ~= "" then
  function response(status, headers, body)
    if status ~= 202 then not_accepted = not_accepted + 1 end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local errors = e.status
  if prefer ~= "" then
    errors = 0
    for _, t in ipairs(threads) do errors = errors + (t:get("not_accepted") or 0) end
  end
  io.write(string.format(
    '{"requests":%d,"errors":%d,"io_errors":%d,"seconds":%.4f,"rps":%.1f,"p50_us":%.1f,"p90_us":%.1f,' ..
    '"p99_us":%.1f,"p999_us":%.1f,"max_us":%.1f}\n',
    summary.requests, errors, e.connect + e.read + e.write + e.timeout, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
