-- Sends pre-signed wallet calls, each exactly once, spread over wrk's threads.
-- Input file (BENCH_REQUESTS): one request per line:
-- "lane<TAB>path<TAB>timestamp<TAB>signature<TAB>body". All lines of a lane go to the same wrk
-- thread, in order, so a player's win never overtakes its bet.
-- Prints one JSON summary line at the end, prefixed with "BENCH_RESULT ".

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  thread:set("nthreads", 0)
  table.insert(threads, thread)
  counter = counter + 1
end

-- Per-thread counters are plain globals: wrk's thread:get() copies numbers and strings only.
local requests = {}
local cursor = 1
local codes = {}
ok200 = 0
tombstones = 0
others = 0
replayed = 0
exhausted = 0
codes_str = ""

function init(args)
  local nthreads = #args > 0 and tonumber(args[1]) or 1
  local path = os.getenv("BENCH_REQUESTS")
  for line in io.lines(path) do
    local lane, p, ts, sig, body = line:match("^(%d+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
    if tonumber(lane) % nthreads == tid - 1 then
      table.insert(requests, wrk.format("POST", p, {
        ["Content-Type"] = "application/json",
        ["X-Provider-Id"] = os.getenv("BENCH_PROVIDER") or "sandbox",
        ["X-Timestamp"] = ts,
        ["X-Signature"] = sig,
      }, body))
    end
  end
end

-- wrk calls request() once on its first thread's state before that thread starts, to check
-- the script (script_verify_request): that call is answered without taking the request, or
-- the first call of the first thread would never be sent (one per scenario was lost, and in
-- `mixed` a win then came with no bet before it: ROUND_NOT_FOUND).
local verified = false

function request()
  if tid == 1 and not verified then
    verified = true
    return requests[1]
  end
  local r = requests[cursor]
  if r == nil then
    exhausted = exhausted + 1
    cursor = 1
    r = requests[cursor]
  end
  cursor = cursor + 1
  return r
end

function response(status, headers, body)
  if status == 200 then
    ok200 = ok200 + 1
    -- A rollback answered "tombstone" or "already_rolled_back" books nothing.
    if body:find('"status":"tombstone"', 1, true) or body:find('"status":"already_rolled_back"', 1, true) then
      tombstones = tombstones + 1
    end
  else
    others = others + 1
  end
  -- Field names are case-insensitive, and granian sends them in lower case.
  if headers["idempotent-replayed"] or headers["Idempotent-Replayed"] then replayed = replayed + 1 end
  if status ~= 200 then
    local code = body:match('"code":"([A-Z_]+)"') or ("HTTP_" .. status)
    codes[code] = (codes[code] or 0) + 1
    local parts = {}
    for k, v in pairs(codes) do table.insert(parts, k .. "=" .. v) end
    codes_str = table.concat(parts, ";")
  end
end

local function encode(t)
  local parts = {}
  for k, v in pairs(t) do table.insert(parts, string.format('"%s":%d', tostring(k), v)) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests_)
  local st, cd, rp, ex, tb = {}, {}, 0, 0, 0
  st["200"] = 0
  for _, thread in ipairs(threads) do
    st["200"] = st["200"] + thread:get("ok200")
    for k, v in string.gmatch(thread:get("codes_str"), "([A-Z_0-9]+)=(%d+)") do
      cd[k] = (cd[k] or 0) + tonumber(v)
    end
    rp = rp + thread:get("replayed")
    ex = ex + thread:get("exhausted")
    tb = tb + thread:get("tombstones")
  end
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"socket_errors":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"statuses":%s,"codes":%s,"replayed":%d,"exhausted":%d,"booking_nothing":%d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    encode(st), encode(cd), rp, ex, tb))
end
