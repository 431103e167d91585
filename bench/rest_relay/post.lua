-- wrk script: POSTs a fixed ~1 KiB JSON order to the target (bench/report.lua
-- prints the summary).

local items = {}
for i = 1, 8 do
  items[#items + 1] = string.format(
    '{"sku":"SKU-%05d","qty":%d,"price":%d.%02d,"note":"standard item, ships from EU-1"}',
    i * 7, i, 10 + i, i * 3)
end
local head = '{"order":{"id":"ORD-2024-000123","created":"2024-11-25T21:07:44.123Z",' ..
  '"customer":{"id":"C-0042","name":"Acme Corp","email":"orders@acme.example"},' ..
  '"currency":"EUR","items":[' .. table.concat(items, ",") .. ']},"pad":"'
local tail = '"}'
local target = 1024
local body = head .. string.rep("x", math.max(0, target - #head - #tail)) .. tail

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

dofile(os.getenv("BENCH_REPORT"))
