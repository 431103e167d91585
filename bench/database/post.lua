-- wrk script: POSTs {"payload": "<BENCH_PAYLOAD>"} (the same text pg_raw inserts) and, when
-- the run is done, prints one machine-readable line (BENCH ...) with the counts and latency
-- percentiles, in the format of bench/rest_relay/post.lua.
local payload = os.getenv("BENCH_PAYLOAD")
if payload == nil or payload == "" then
  error("post.lua: set BENCH_PAYLOAD (text without quotes or backslashes)")
end
local body = '{"payload":"' .. payload .. '"}'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d " ..
    "connect=%d read=%d write=%d timeout=%d body_bytes=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout, #body))
end
