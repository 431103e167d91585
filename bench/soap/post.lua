-- wrk script: POSTs one fixed SOAP 1.1 GetOrder envelope (bench/report.lua
-- prints the summary).

local body = '<?xml version="1.0" encoding="utf-8"?>' ..
  '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">' ..
  '<soap:Body><GetOrder xmlns="urn:switchboard:example:orders"><id>42</id></GetOrder></soap:Body>' ..
  '</soap:Envelope>'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.headers["SOAPAction"] = '"urn:switchboard:example:orders/GetOrder"'

dofile(os.getenv("BENCH_REPORT"))
