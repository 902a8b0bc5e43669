-- P3 load: POST a topic.create request with a unique topic name on every call (wrk 4.x, LuaJIT).
-- Driven by bench/p3_submit.py through environment variables:
--   P3_PATH     request path (/api/v1/requests or /submit)
--   P3_CLUSTER  cluster name
--   P3_PREFIX   topic-name prefix, unique per run (e.g. payments.p3r1t)
--   P3_TOKEN    bearer token (empty: no Authorization header)
--   P3_KIND     topic.create (default: unique topic name, a producer and a consumer) or
--               quota.set (unique principal, a produce quota within the default)
-- done() prints one line: "P3RESULT {json}" with counts and latency percentiles in microseconds.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  counter = 0
  path = os.getenv("P3_PATH")
  cluster = os.getenv("P3_CLUSTER")
  prefix = os.getenv("P3_PREFIX")
  kind = os.getenv("P3_KIND") or "topic.create"
  headers = {["Content-Type"] = "application/json"}
  local token = os.getenv("P3_TOKEN") or ""
  if token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  counter = counter + 1
  local name = string.format("%s%d-%d", prefix, tid, counter)
  local body
  if kind == "quota.set" then
    body = string.format(
      '{"kind":"quota.set","cluster":"%s","reason":"P3 benchmark: new client",' ..
      '"spec":{"principal":"User:%s","producer_byte_rate":5242880}}',
      cluster, name)
  else
    body = string.format(
      '{"kind":"topic.create","cluster":"%s","reason":"P3 benchmark: new service",' ..
      '"spec":{"name":"%s","partitions":3,"replication_factor":3,' ..
      '"config":{"retention.ms":"86400000","cleanup.policy":"delete","min.insync.replicas":"2"},' ..
      '"description":"P3 benchmark topic",' ..
      '"producers":["User:payments.p3-writer"],' ..
      '"consumers":[{"principal":"User:payments.p3-reader","group":"payments.p3-readers"}]}}',
      cluster, name)
  end
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'P3RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
