-- wrk script: POSTs one fixed SOAP 1.1 GetOrder envelope and, when the run is done, prints
-- one machine-readable line (BENCH ...) with the counts and latency percentiles.

local body = '<?xml version="1.0" encoding="utf-8"?>' ..
  '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">' ..
  '<soap:Body><GetOrder xmlns="urn:switchboard:example:orders"><id>42</id></GetOrder></soap:Body>' ..
  '</soap:Envelope>'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.headers["SOAPAction"] = '"urn:switchboard:example:orders/GetOrder"'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d " ..
    "connect=%d read=%d write=%d timeout=%d body_bytes=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout, #body))
end
