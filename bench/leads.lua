-- wrk script: POST /v1/leads, a unique email per request (the run tag, the thread, a counter).
-- Leads qualify under the default scoring model: business email, senior title, 200 people.
-- Usage: wrk -s bench/leads.lua URL -- <run tag> [api key]

local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  tag = args[1] or tostring(os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] and args[2] ~= "" then
    wrk.headers["X-API-Key"] = args[2]
  end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"Lead.%s.%d.%d@Acme-%d.com","first_name":" Bench ","last_name":"Lead",' ..
    '"company":"Acme %d","job_title":"VP Marketing","company_size":200,"country":"de",' ..
    '"phone":"030 1234567","source":{"channel":"form","utm_source":"bench"}}',
    tag, tid, counter, counter % 997, counter % 997)
  return wrk.format(nil, nil, nil, body)
end

-- One machine-readable line for bench/wrk.py; status_errors counts non-2xx/3xx answers.
function done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"latency_p50_us":%d,' ..
    '"latency_p99_us":%d,"latency_mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
