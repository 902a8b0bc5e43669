-- P6 load (wrk 4.x, LuaJIT): 70% reads, 30% topic.create submissions, on keep-alive connections.
-- Driven by bench/p6_concurrency.py through environment variables:
--   P6_SUBMIT   POST path of a submission (/api/v1/requests or /submit)
--   P6_TOPICS   GET path of the topic list's first page
--   P6_REQUEST  GET path of one stored request
--   P6_ME       GET path of the caller's identity
--   P6_CLUSTER  cluster name
--   P6_PREFIX   topic-name prefix, unique per run
--   P6_TOKEN    bearer token (empty: no Authorization header)
--   P6_OUT      file-name prefix: each thread appends the Location of every 201 to P6_OUT<thread>
-- Each thread cycles through 10 calls: 3 topic lists, 2 request reads, 2 /me, 3 submissions.
-- done() prints "P6RESULT {json}": counts by kind of answer, wrk's socket errors, latency in µs.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- 1 topic list, 2 submit, 3 request, 4 me (spread so that writes are never back to back twice).
local cycle = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2}

function init(args)
  counter = 0
  ok200, created, client_errors, server_errors, other = 0, 0, 0, 0, 0
  submit = os.getenv("P6_SUBMIT")
  topics = os.getenv("P6_TOPICS")
  one_request = os.getenv("P6_REQUEST")
  me = os.getenv("P6_ME")
  cluster = os.getenv("P6_CLUSTER")
  prefix = os.getenv("P6_PREFIX")
  out = io.open(os.getenv("P6_OUT") .. tid, "w")
  out:setvbuf("line")
  read_headers = {}
  write_headers = {["Content-Type"] = "application/json"}
  local token = os.getenv("P6_TOKEN") or ""
  if token ~= "" then
    read_headers["Authorization"] = "Bearer " .. token
    write_headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  counter = counter + 1
  local slot = cycle[(counter - 1) % #cycle + 1]
  if slot == 1 then
    return wrk.format("GET", topics, read_headers)
  elseif slot == 3 then
    return wrk.format("GET", one_request, read_headers)
  elseif slot == 4 then
    return wrk.format("GET", me, read_headers)
  end
  local body = string.format(
    '{"kind":"topic.create","cluster":"%s","reason":"P6 benchmark: new service",' ..
    '"spec":{"name":"%s%d-%d","partitions":3,"replication_factor":3,' ..
    '"config":{"retention.ms":"86400000","cleanup.policy":"delete","min.insync.replicas":"2"},' ..
    '"description":"P6 benchmark topic",' ..
    '"producers":["User:payments.p6-writer"],' ..
    '"consumers":[{"principal":"User:payments.p6-reader","group":"payments.p6-readers"}]}}',
    cluster, prefix, tid, counter)
  return wrk.format("POST", submit, write_headers, body)
end

function response(status, headers, body)
  if status == 200 then
    ok200 = ok200 + 1
  elseif status == 201 then
    created = created + 1
    out:write((headers["Location"] or headers["location"] or "?") .. "\n")
  elseif status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    client_errors = client_errors + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local totals = {ok200 = 0, created = 0, client_errors = 0, server_errors = 0, other = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + (thread:get(key) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'P6RESULT {"requests":%d,"duration_us":%d,"ok200":%d,"created":%d,"client_errors":%d,' ..
    '"server_errors":%d,"other":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, totals.ok200, totals.created, totals.client_errors,
    totals.server_errors, totals.other, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
