-- wrk script for `make bench` (bench/run.sh, ab.sh, profile.sh), driven by
-- bench/wrk/load.py, which sets the WRK_* variables below, runs wrk and
-- adds the CPU of the watched processes. One script for every workload:
--
--   WRK_METHOD, WRK_PATH, WRK_BODY   the request; WRK_TOKEN goes in X-Vault-Token.
--     Templates: {key} = WRK_KEY_PREFIX .. n and {code} = n mod 10^6 as six
--     digits, n a sequence number unique to this run (and to the warm-up
--     before it: WRK_SEQ_BASE); {id} = the next line of WRK_IDS.
--   WRK_IDS, WRK_ONCE=1              ids file; each thread takes its own slice
--     (with WRK_ONCE each id is used once, the thread stops when its slice is
--     used; without, the thread cycles through the file from its offset).
--   WRK_REQUESTS                     stop after this many requests (all threads).
--   WRK_DURATION                     seconds (may be fractional): after it a
--     thread sends nothing more and stops once every answer is in.
--   WRK_EXPECT                       a 2xx body must contain this substring.
--   WRK_OK_STATUS                    this status (e.g. 429) counts as an answer, body unchecked.
--   WRK_SAVE_WHAT=uuid|key           each thread writes, to WRK_STATE/<thread>.saved,
--     data.uuid of each answer (uuid) or each key it sent (key: kept only if
--     the run succeeds, i.e. every request sent got an expected answer).
--   WRK_STATE                        a directory for per-thread files.
--   WRK_THREADS, WRK_CONNECTIONS, WRK_TIMEOUT_S   wrk's -t, -c and --timeout (s).
--
-- Latency percentiles are of the measured samples, as before (loadgen):
-- wrk 4.1.0 adds synthetic samples to its histogram before done() (its
-- coordinated-omission correction, stats_correct: for a closed loop like
-- this one it doubled kv's p50 at c=16), so done() reads the histogram
-- through the FFI and takes them out again; wrk's own percentiles are kept
-- as wrk_p50_us/wrk_p99_us.
--
-- Every thread stops by itself (wrk.thread:stop()) with nothing in flight,
-- and leaves WRK_STATE/<thread>.done; load.py then interrupts wrk's main
-- thread (which otherwise sleeps out -d). Requests are never abandoned in
-- flight, so every key sent was answered. done() prints one JSON line and
-- exits 1 if any answer was unexpected, any request was lost or any socket
-- error happened.

local ffi = require("ffi")
ffi.cdef [[
struct bench_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock_id, struct bench_timespec *tp);
typedef struct { uint64_t count, limit, min, max; uint64_t data[?]; } bench_wrk_stats;
]]
local timespec = ffi.new("struct bench_timespec")
local function now_us()
   ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
   return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

local env = os.getenv
local METHOD = env("WRK_METHOD") or "GET"
local PATH = assert(env("WRK_PATH"), "WRK_PATH")
local BODY = env("WRK_BODY") or ""
local TOKEN = assert(env("WRK_TOKEN"), "WRK_TOKEN")
local IDS = env("WRK_IDS")
local ONCE = env("WRK_ONCE") == "1"
local LIMIT = tonumber(env("WRK_REQUESTS") or "") or 0
local DURATION = tonumber(env("WRK_DURATION") or "")
local SEQ_BASE = tonumber(env("WRK_SEQ_BASE") or "") or 0
local KEY_PREFIX = env("WRK_KEY_PREFIX") or "k"
local EXPECT = env("WRK_EXPECT")
local OK_STATUS = tonumber(env("WRK_OK_STATUS") or "")
local SAVE_WHAT = env("WRK_SAVE_WHAT")
local STATE = assert(env("WRK_STATE"), "WRK_STATE")
local THREADS = assert(tonumber(env("WRK_THREADS") or ""), "WRK_THREADS")

local USES_ID = (PATH .. BODY):find("{id}", 1, true) ~= nil
local USES_SEQ = (PATH .. BODY):find("{key}", 1, true) ~= nil or BODY:find("{code}", 1, true) ~= nil
local WITH_BODY = BODY ~= "" or METHOD == "PUT" or METHOD == "POST"

-- ------------------------------------------------------------ main state

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

-- ------------------------------------------------------------ thread state

local index             -- this thread's number, 0-based
local host_header
local ids = {}          -- this thread's ids (ONCE: its slice; else the whole file)
local id_next = 1
local id_last = 0       -- ONCE: the last usable position in `ids`
local budget            -- requests this thread may send (nil: no limit)
local deadline          -- monotonic µs after which it sends nothing more
local verify_call       -- wrk calls request() once in thread 0 before it starts, only to parse it
local save_file
local vals = {}

-- Read by done() through thread:get (numbers and strings only).
sent, received, unexpected, seq_used, id_uses = 0, 0, 0, 0, 0
t_first, t_last = 0, 0
finished, ran_out = false, false
first_error = ""
statuses = ""
local status_counts = {}

function init(args)
   index = thread_index
   host_header = wrk.headers["Host"]
   verify_call = index == 0
   if IDS then
      local all = {}
      for line in io.lines(IDS) do
         if line ~= "" then all[#all + 1] = line end
      end
      local n = #all
      if ONCE then
         local from, to = math.floor(n * index / THREADS) + 1, math.floor(n * (index + 1) / THREADS)
         for i = from, to do ids[#ids + 1] = all[i] end
         id_last = #ids
      else
         assert(n > 0 or not USES_ID, "WRK_IDS is empty")
         ids = all
         id_next = math.floor(n * index / THREADS) + 1
      end
   end
   assert(not USES_ID or IDS, "the request uses {id} but WRK_IDS is not set")
   if LIMIT > 0 then
      budget = math.floor(LIMIT * (index + 1) / THREADS) - math.floor(LIMIT * index / THREADS)
   end
   if SAVE_WHAT then
      save_file = assert(io.open(STATE .. "/" .. index .. ".saved", "w"))
   end
end

local function build(path, body)
   local head = METHOD .. " " .. path .. " HTTP/1.1\r\nHost: " .. host_header .. "\r\nX-Vault-Token: " .. TOKEN .. "\r\n"
   if WITH_BODY then
      return head .. "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
   end
   return head .. "\r\n"
end

local function fill(template)
   return (template:gsub("{(%a+)}", vals))
end

local function finish()
   if finished then return end
   finished = true
   local parts = {}
   for status, count in pairs(status_counts) do parts[#parts + 1] = status .. "=" .. count end
   statuses = table.concat(parts, " ")
   if save_file then save_file:close() end
   assert(io.open(STATE .. "/" .. index .. ".done", "w")):close()
   wrk.thread:stop()
end

-- No more requests to send: time is up, the budget is spent or the slice used.
local function spent(now)
   if budget and sent >= budget then return true end
   if ONCE and USES_ID and id_next > id_last then
      ran_out = true
      return true
   end
   return deadline ~= nil and now >= deadline
end

function request()
   if verify_call then
      verify_call = false
      vals.key, vals.code, vals.id = KEY_PREFIX .. "0", "000000", "0"
      return build(fill(PATH), fill(BODY))
   end
   local now = now_us()
   if sent == 0 then
      t_first = now
      if DURATION then deadline = now + DURATION * 1000000 end
   end
   if finished or spent(now) then
      if sent == received then finish() end
      -- An empty request sends nothing: the connection idles until the
      -- thread stops.
      return ""
   end
   if USES_SEQ then
      local n = SEQ_BASE + index + THREADS * seq_used
      seq_used = seq_used + 1
      vals.key = KEY_PREFIX .. n
      vals.code = string.format("%06d", n % 1000000)
   end
   if USES_ID then
      vals.id = ids[id_next]
      id_uses = id_uses + 1
      id_next = id_next + 1
      if not ONCE and id_next > #ids then id_next = 1 end
   end
   local path = fill(PATH)
   sent = sent + 1
   if SAVE_WHAT == "key" then
      save_file:write(vals.key, "\n")
   end
   return build(path, fill(BODY))
end

function response(status, headers, body)
   received = received + 1
   t_last = now_us()
   status_counts[status] = (status_counts[status] or 0) + 1
   local problem
   if status == OK_STATUS then
      -- accepted as is
   elseif status < 200 or status > 299 then
      problem = "HTTP " .. status
   elseif EXPECT and not body:find(EXPECT, 1, true) then
      problem = "body lacks " .. EXPECT
   elseif SAVE_WHAT == "uuid" then
      local uuid = body:match('"uuid":"([%x%-]+)"')
      if uuid and #uuid == 36 then
         save_file:write(uuid, "\n")
      else
         problem = "no data.uuid to save"
      end
   end
   if problem then
      unexpected = unexpected + 1
      if first_error == "" then
         first_error = METHOD .. " " .. PATH .. ": " .. problem .. ": " .. body:sub(1, 400)
      end
   end
   if sent == received and spent(t_last) then finish() end
end

-- ------------------------------------------------------------ report (main state)

-- The latency histogram as measured: wrk's histogram (µs -> count) minus
-- the samples stats_correct(interval) added, interval being what wrk.c
-- computes: for each measured sample at n >= 2 * interval it added one at
-- n - interval, n - 2 * interval, ... while above interval. Undone from the
-- top down. Returns a percentile function; fails if the numbers don't add up.
local function measured_percentiles(summary, latency)
   local s = ffi.cast("bench_wrk_stats **", latency)[0]
   local limit = tonumber(s.limit)
   assert(limit == tonumber(env("WRK_TIMEOUT_S")) * 1000000 + 1,
      "wrk's latency histogram is not laid out as in wrk 4.1.0")
   local connections = tonumber(env("WRK_CONNECTIONS"))
   local per_connection = math.floor(summary.requests / connections)
   local interval = per_connection > 0 and math.floor(summary.duration / per_connection) or math.huge
   if summary.requests == 0 then
      return function() return 0 end
   end
   local min, max = tonumber(s.min), tonumber(s.max)
   local size = max - min + 1
   -- measured[n - min]; tail[n - min] = measured at n, n + interval, n + 2 * interval, ...
   local measured = ffi.new("double[?]", size)
   local tail = ffi.new("double[?]", size)
   local total = 0
   for n = max, min, -1 do
      local i = n - min
      local above = (n + interval <= max) and tail[i + interval] or 0
      local count = tonumber(s.data[n])
      if n > interval then count = count - above end
      assert(count >= 0, "cannot undo wrk's latency correction")
      measured[i] = count
      tail[i] = count + above
      total = total + count
   end
   assert(total == summary.requests, string.format(
      "measured latency samples %d != %d requests", total, summary.requests))
   return function(p)
      -- The same rank as wrk's stats_percentile.
      local rank = math.floor(p / 100 * total + 0.5 + 0.5)
      local seen = 0
      for i = 0, size - 1 do
         seen = seen + measured[i]
         if seen >= rank then return min + i end
      end
      return max
   end
end

local function json_string(s)
   return '"' .. s:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
   end) .. '"'
end

function done(summary, latency, requests)
   local total = { sent = 0, received = 0, unexpected = 0, id_uses = 0 }
   local first, last, seq_max = math.huge, 0, 0
   local unfinished, exhausted, first_error_any = 0, false, ""
   local status_totals = {}
   for _, thread in ipairs(threads) do
      for name in pairs(total) do total[name] = total[name] + thread:get(name) end
      if thread:get("sent") > 0 then first = math.min(first, thread:get("t_first")) end
      last = math.max(last, thread:get("t_last"))
      seq_max = math.max(seq_max, thread:get("seq_used"))
      if not thread:get("finished") then unfinished = unfinished + 1 end
      exhausted = exhausted or thread:get("ran_out")
      if first_error_any == "" then first_error_any = thread:get("first_error") end
      for status, count in thread:get("statuses"):gmatch("(%d+)=(%d+)") do
         status_totals[status] = (status_totals[status] or 0) + tonumber(count)
      end
   end
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   local lost = total.sent - total.received
   -- The window: first request sent to last answer received.
   local window_us = last > first and (last - first) or summary.duration
   local ok, percentile = pcall(measured_percentiles, summary, latency)
   local histogram_error = not ok and tostring(percentile) or nil
   if histogram_error then
      first_error_any = first_error_any ~= "" and first_error_any or histogram_error
      percentile = function() return -1 end
   end
   local status_json = {}
   for status, count in pairs(status_totals) do
      status_json[#status_json + 1] = string.format('"%s":%d', status, count)
   end
   table.sort(status_json)
   local n_ids = 0
   if IDS then for line in io.lines(IDS) do if line ~= "" then n_ids = n_ids + 1 end end end
   local fields = {
      string.format('"requests":%d', total.received),
      string.format('"rps":%.2f', total.received / (window_us / 1e6)),
      string.format('"p50_us":%d', percentile(50)),
      string.format('"p90_us":%d', percentile(90)),
      string.format('"p99_us":%d', percentile(99)),
      string.format('"p999_us":%d', percentile(99.9)),
      string.format('"max_us":%d', latency.max),
      string.format('"wrk_p50_us":%d', latency:percentile(50)),
      string.format('"wrk_p99_us":%d', latency:percentile(99)),
      string.format('"elapsed_s":%.3f', window_us / 1e6),
      string.format('"wrk_duration_s":%.3f', summary.duration / 1e6),
      string.format('"wrk_requests":%d', summary.requests),
      string.format('"threads":%d', THREADS),
      string.format('"sent":%d', total.sent),
      string.format('"unexpected":%d', total.unexpected),
      string.format('"lost":%d', lost),
      string.format('"unfinished_threads":%d', unfinished),
      string.format('"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}',
         e.connect, e.read, e.write, e.timeout),
      '"statuses":{' .. table.concat(status_json, ",") .. "}",
      string.format('"errors":%d', total.unexpected + lost + socket_errors + unfinished),
      string.format('"exhausted":%s', tostring(exhausted)),
      string.format('"consumed":%d', math.min(total.id_uses, n_ids)),
      string.format('"seq_next":%d', SEQ_BASE + THREADS * seq_max),
   }
   if first_error_any ~= "" then fields[#fields + 1] = '"first_error":' .. json_string(first_error_any) end
   io.write("{", table.concat(fields, ","), "}\n")
   io.stdout:flush()
   local failed = total.unexpected + lost + socket_errors + unfinished > 0 or total.received == 0
      or histogram_error ~= nil
   if failed then
      io.stderr:write(string.format(
         "wrk: %d unexpected answers, %d requests without an answer, socket errors %d, %d threads stopped by -d; first: %s\n",
         total.unexpected, lost, socket_errors, unfinished, first_error_any))
      os.exit(1)
   end
end
