-- together.lua — makes wrk's threads start sending together, for the
-- benchmarks' wrk scripts (transfer.lua, claim.lua), which load it with
-- dofile from their own directory.
--
-- wrk runs each thread's init() in its main thread, then starts that thread,
-- then goes on to the next thread's init(), and starts its clock only after
-- the last: a thread started early sends while the others load their users
-- (0.36 s for 100,000 users), and those requests are counted in a run they
-- came before (2.5 % over the paced rate at 10 s, 0.6 % over a full load's
-- at 30 s). So each thread sends its first request (paced: takes its
-- schedule's first slot) only once every init() has returned, waiting at
-- most 10 s. wrk's main thread also calls the first thread's request() once,
-- right after its init(), to check what it returns: that call does not wait.
--
-- A script calls together.setup(thread) from its setup(), together.loaded()
-- at the end of its init(), and together.wait() first thing in request()
-- and delay(). The thread count is QB_BENCH_THREADS (wrk's -t).
--
-- The FFI declarations here are the scripts' too (a struct declared twice
-- in one Lua state is an error): qb_timespec, clock_gettime, nanosleep.

local ffi = require("ffi") -- wrk's Lua is LuaJIT
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } qb_timespec;
   int clock_gettime(int clock_id, qb_timespec *tp);
   int nanosleep(const qb_timespec *request, qb_timespec *remaining);
   void *calloc(size_t count, size_t size);
   unsigned long pthread_self(void);
]]

local together = {}

local inits_done = nil -- main state: how many threads' init() have returned
local thread_count = 0 -- main state: threads set up so far
local started = false -- a thread's state: its wait is over
local init_thread = nil -- a thread's state: the thread its init() ran in (wrk's main thread)

-- In wrk's main Lua state, once per thread just before that thread's init():
-- gives the thread's own state its index (the global thread_index there) and
-- the address of a count every init() adds one to (a global too, set in the
-- thread's state before its init()).
function together.setup(thread)
   if inits_done == nil then
      inits_done = ffi.cast("int *", ffi.C.calloc(1, ffi.sizeof("int"))) -- lives as long as wrk
   end
   thread:set("thread_index", thread_count)
   thread:set("qb_inits_done_address", tonumber(ffi.cast("uintptr_t", inits_done)))
   thread_count = thread_count + 1
end

-- In a thread's state, at the end of its init() (every init() runs in wrk's
-- main thread, one after another, so the count needs no atomics).
function together.loaded()
   init_thread = ffi.C.pthread_self()
   if qb_inits_done_address ~= nil then
      local done = ffi.cast("int *", qb_inits_done_address)
      done[0] = done[0] + 1
   end
end

-- In a thread's state, before each request: waits, the first time only,
-- until every thread's init() has returned.
function together.wait()
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

return together
