-- wrk script: POSTs {"payload": "<BENCH_PAYLOAD>"} (the same text pg_raw inserts) (bench/report.lua
-- prints the summary).
local payload = os.getenv("BENCH_PAYLOAD")
if payload == nil or payload == "" then
  error("post.lua: set BENCH_PAYLOAD (text without quotes or backslashes)")
end
local body = '{"payload":"' .. payload .. '"}'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

dofile(os.getenv("BENCH_REPORT"))
