-- common.lua — what the benchmarks' wrk scripts (transfer.lua, claim.lua,
-- healthz.lua) share; each loads it with dofile from its own directory:
--
--   common.setup(thread)   wrk's setup(): numbers the threads (the global
--                          thread_index in each) and hands out the count the
--                          start below waits on
--   common.loaded()        last thing in init()
--   common.wait()          first thing in request() and delay()
--   common.rate()          QB_BENCH_RATE, or nil for full load
--   common.pacer(rate)     a delay() that paces a thread to its share of rate,
--                          which loading this file installs as wrk's delay()
--                          when QB_BENCH_RATE is set
--   common.latency(l)      the percentile lines every script prints
--
-- The thread count is QB_BENCH_THREADS (wrk's -t).
--
-- Starting together. wrk runs each thread's init() in its main thread, then
-- starts that thread, then goes on to the next thread's init(), and starts
-- its clock only after the last: a thread started early sends while the
-- others load their users (0.36 s for 100,000 users), and those requests
-- are counted in a run they came before (2.5 % over the paced rate at 10 s,
-- 0.6 % over a full load's at 30 s). So each thread sends its first request
-- (paced: takes its schedule's first slot) only once every init() has
-- returned, waiting at most 10 s. wrk's main thread also calls the first
-- thread's request() once, right after its init(), to check what it
-- returns: that call does not wait.
--
-- Pacing. Plain wrk has no rate option (wrk2 is not in Debian). wrk asks
-- delay() before each request a connection sends; the pacer keeps a
-- schedule of one send every threads/rate s and answers the time until the
-- next free slot (whole milliseconds, so sends go out in small bursts each
-- ms). When every connection was waiting for an answer as slots came due (a
-- stall in the daemon or the machine), those slots are not dropped: the
-- connections that come back send at once until the schedule has caught up,
-- as users who kept arriving would (up to a second of slots owed). Dropping
-- them left the achieved rate 2-7 % under the target on a host that stalls
-- often. Latency is measured from the actual send, not the slot
-- (coordinated omission), which is why the scripts print the achieved rate
-- for the caller to set beside the target.
--
-- The FFI declarations here are the scripts' too (a struct declared twice
-- in one Lua state is an error).

local ffi = require("ffi") -- wrk's Lua is LuaJIT
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } qb_timespec;
   int clock_gettime(int clock_id, qb_timespec *tp);
   int nanosleep(const qb_timespec *request, qb_timespec *remaining);
   void *calloc(size_t count, size_t size);
   unsigned long pthread_self(void);
]]

local common = {}

local inits_done = nil -- main state: how many threads' init() have returned
local thread_count = 0 -- main state: threads set up so far
local started = false -- a thread's state: its wait is over
local init_thread = nil -- a thread's state: the thread its init() ran in (wrk's main thread)

-- In wrk's main Lua state, once per thread just before that thread's init():
-- gives the thread's own state its index (the global thread_index there) and
-- the address of a count every init() adds one to (a global too, set in the
-- thread's state before its init()).
function common.setup(thread)
   if inits_done == nil then
      inits_done = ffi.cast("int *", ffi.C.calloc(1, ffi.sizeof("int"))) -- lives as long as wrk
   end
   thread:set("thread_index", thread_count)
   thread:set("qb_inits_done_address", tonumber(ffi.cast("uintptr_t", inits_done)))
   thread_count = thread_count + 1
end

-- In a thread's state, at the end of its init() (every init() runs in wrk's
-- main thread, one after another, so the count needs no atomics).
function common.loaded()
   init_thread = ffi.C.pthread_self()
   if qb_inits_done_address ~= nil then
      local done = ffi.cast("int *", qb_inits_done_address)
      done[0] = done[0] + 1
   end
end

-- In a thread's state, before each request: waits, the first time only,
-- until every thread's init() has returned.
function common.wait()
   if started or ffi.C.pthread_self() == init_thread then
      return
   end
   started = true
   if qb_inits_done_address == nil then
      return
   end
   local done = ffi.cast("volatile int *", qb_inits_done_address)
   local wanted = tonumber(os.getenv("QB_BENCH_THREADS") or "1")
   local pause = ffi.new("qb_timespec", 0, 1000000)
   for _ = 1, 10000 do
      if done[0] >= wanted then
         break
      end
      ffi.C.nanosleep(pause, nil)
   end
end

-- QB_BENCH_RATE as a number, or nil (unset, empty or 0: full load).
function common.rate()
   local rate = tonumber(os.getenv("QB_BENCH_RATE") or "")
   if rate and rate > 0 then
      return rate
   end
   return nil
end

-- A delay() for wrk that paces this thread to its share of rate (requests a
-- second in all threads).
function common.pacer(rate)
   local threads = tonumber(os.getenv("QB_BENCH_THREADS") or "1")
   local period_ms = 1000 * threads / rate
   local backlog_ms = 1000 -- the most of the schedule a thread makes up after a stall
   local ts = ffi.new("qb_timespec")
   local next_ms = nil
   return function()
      common.wait()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      local now = tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
      local slot = next_ms or now
      if slot < now - backlog_ms then
         slot = now - backlog_ms
      end
      next_ms = slot + period_ms
      return slot > now and math.floor(slot - now) or 0
   end
end

-- The latency lines of every script's done(): p50, p90, p99, p99.9, max (µs).
function common.latency(latency)
   for _, p in ipairs({50, 90, 99, 99.9}) do
      io.write(string.format("bench: latency_p%s_us=%d\n", tostring(p):gsub("%.", "_"),
                             latency:percentile(p)))
   end
   io.write(string.format("bench: latency_max_us=%d\n", latency.max))
end

-- Every script that loads this is paced when QB_BENCH_RATE asks for a rate:
-- wrk's delay(), a global of the script's state, is the pacer's.
if common.rate() then
   delay = common.pacer(common.rate())
end

return common
