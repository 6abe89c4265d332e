-- wrk script for scripts/bench: POST JSON, 90% get / 10% set over 1,000 keys, 64-byte values;
-- prints one JSON line of results (latencies in microseconds) after wrk's own report.
local keys = tonumber(os.getenv("BENCH_KEYS") or "1000")
local set_percent = tonumber(os.getenv("BENCH_SET_PERCENT") or "10")
local value_bytes = tonumber(os.getenv("BENCH_VALUE_BYTES") or "64")

local gets, sets = {}, {}

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  local value = {}
  for i = 0, value_bytes - 1 do value[#value + 1] = string.char(97 + i % 26) end
  value = table.concat(value)
  local headers = { ["Content-Type"] = "application/json" }
  for i = 0, keys - 1 do
    gets[i + 1] = wrk.format("POST", "/v1/ops/get", headers, '{"key":"k' .. i .. '"}')
    sets[i + 1] = wrk.format("POST", "/v1/ops/set", headers, '{"key":"k' .. i .. '","value":"' .. value .. '"}')
  end
end

function request()
  local k = math.random(keys)
  if math.random(100) <= set_percent then return sets[k] end
  return gets[k]
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
