-- transfer.lua — wrk script: POST /v1/transfers between random funded users.
--
-- Environment (bench/http/run sets it):
--   QB_BENCH_USERS             file of "USER_ID TOKEN PHONE" lines (bench_seed --out)
--   QB_BENCH_PAYMENT_PASSWORD  the users' payment password
--   QB_BENCH_RUN               a tag that keeps idempotency keys distinct across runs
--   QB_BENCH_RATE              when set above 0: pace to this many requests/s in all (half load)
--   QB_BENCH_THREADS           wrk's -t: to split QB_BENCH_RATE between threads, and
--                              how many threads' init() the first requests wait for
--                              (common.lua, beside this script)
--
-- Every request is a new transfer: its own Idempotency-Key (run tag, thread,
-- counter), a random payer (whose bearer token is sent) and a different
-- random payee, 1..100 fen, the payment password. Requests whose status is
-- not 2xx are counted by wrk as errors; transfers/s counts only the others.
--
-- QB_BENCH_RATE paces the threads (common.lua, beside this script, says
-- how); latency is measured from the actual send, not the slot, which is
-- why the achieved rate is printed beside the target.

local users = {}
local user_count = 0
local password = os.getenv("QB_BENCH_PAYMENT_PASSWORD") or "258147"
local run_tag = (os.getenv("QB_BENCH_RUN") or "run") .. "-" .. tostring(os.time())
local counter = 0
local request_head = nil
local key_head = nil
local body_tail = ',"payment_password":"' .. password .. '"}'
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

setup = common.setup

local function load_users(path)
   local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
   for line in f:lines() do
      local id, token = line:match("^(%S+) (%S+)")
      if id then
         user_count = user_count + 1
         local body_head = '{"to":"' .. id .. '","amount":'
         users[user_count] = {
            authorization = "Authorization: Bearer " .. token .. "\r\n",
            body_head = body_head,
            body_length = #body_head + #body_tail,
         }
      end
   end
   f:close()
   assert(user_count >= 2, "need at least two users in " .. path)
end

function init(args)
   load_users(os.getenv("QB_BENCH_USERS"))
   thread_index = thread_index or 0
   request_head = "POST /v1/transfers HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
                  "\r\nContent-Type: application/json\r\n"
   key_head = "Idempotency-Key: " .. run_tag .. "-" .. thread_index .. "-"
   math.randomseed(os.time() * 1000 + thread_index)
   common.loaded()
end

-- One concatenation a request, from strings made once in init: building it
-- with wrk.format (a headers table walked with pairs) and string.format ran
-- in LuaJIT's interpreter and cost the load generator a third of its CPU,
-- which it took from the daemon on a shared machine.
function request()
   common.wait()
   counter = counter + 1
   local payer = math.random(user_count)
   local payee = math.random(user_count - 1)
   if payee >= payer then
      payee = payee + 1
   end
   local to = users[payee]
   local amount = math.random(100)
   local length = to.body_length + (amount < 10 and 1 or amount < 100 and 2 or 3)
   return request_head .. users[payer].authorization .. key_head .. counter ..
          "\r\nContent-Length: " .. length .. "\r\n\r\n" .. to.body_head .. amount .. body_tail
end

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   local failed = e.status + e.connect + e.read + e.write + e.timeout
   local ok = summary.requests - e.status
   io.write(string.format("bench: requests=%d non_2xx=%d socket_errors=%d seconds=%.2f\n",
                          summary.requests, e.status, failed - e.status, seconds))
   io.write(string.format("bench: transfers_per_s=%.0f\n", ok / seconds))
   common.latency(latency)
end
