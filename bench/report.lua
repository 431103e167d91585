-- Loaded by each benchmark's wrk script after it set wrk.body (bench/lib.sh's run_wrk passes
-- this file's path in BENCH_REPORT): when the run is done, prints one machine-readable line
-- (BENCH ...) with the counts and latency percentiles that lib.sh's measure() reads.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d " ..
    "connect=%d read=%d write=%d timeout=%d body_bytes=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout, #wrk.body))
end
