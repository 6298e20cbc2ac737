-- claim.lua — wrk script: POST /v1/red-packets/{id}/claims, random users
-- grabbing red packets.
--
-- Environment (bench/http/redpackets sets it):
--   QB_BENCH_USERS    file of "USER_ID TOKEN PHONE" lines (bench_seed --out)
--   QB_BENCH_PACKETS  file of "PACKET_ID SHARES" lines
--   QB_BENCH_LIVE     packets open at once in the whole load (0: all of them)
--   QB_BENCH_RATE     when set above 0: pace to this many attempts/s in all
--   QB_BENCH_THREADS  wrk's -t, to split QB_BENCH_LIVE and the packets, and
--                     how many threads' init() the first requests wait for
--                     (common.lua, beside this script)
--
-- Every request is a claim attempt with no body, with the bearer token of a
-- user drawn at random among all of them. Which packet it grabs:
--
--   QB_BENCH_LIVE=N (N > 0), a crowd: as in a busy group chat, N packets
--   are open at once and every user grabs at them. Each wrk thread keeps
--   N / threads of them open (thread t takes packets t, t + threads, ... of
--   the file, in order), every attempt picks one of its open packets at
--   random, and a packet is closed, and the thread's next one opened in its
--   place, once it has had as many attempts as it has shares plus a tenth:
--   most attempts win, the late ones find it empty (409), some users try
--   the same packet twice (200).
--
--   QB_BENCH_LIVE=0, spread: every attempt on a packet drawn at random from
--   the whole file. With thousands of packets each sees an attempt now and
--   then and almost every attempt wins: nobody competes, and a claim lands
--   on a random page of the claims' table. The storage's worst case.
--
-- The answers are counted by status: 201 (a new claim: money moved), 200
-- (this user had claimed this packet before: the stored answer again), 409
-- (RED_PACKET_EMPTY or RED_PACKET_EXPIRED) and any other. wrk counts 200 and
-- 201 as successes and the rest as errors; claim attempts/s here is every
-- answer, whatever its status.

local users = {}
local user_count = 0
local packets = {}
local shares = {}
-- The crowd's open packets, per thread: their index in packets and the
-- attempts left before each is closed.
local open_packets = {}
local attempts_left = {}
local next_packet = 0
local thread_count = 1
local packet_count = 0
local threads = {}

-- Per thread (globals of the thread's own Lua state, read back in done()).
answered_201 = 0
answered_200 = 0
answered_409 = 0
answered_other = 0

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function setup(thread)
   common.setup(thread)
   table.insert(threads, thread)
end

local function load_users(path)
   local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
   for line in f:lines() do
      local id, token = line:match("^(%S+) (%S+)")
      if id then
         user_count = user_count + 1
         users[user_count] = "Bearer " .. token
      end
   end
   f:close()
   assert(user_count >= 1, "no users in " .. path)
end

local function load_packets(path)
   local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
   for line in f:lines() do
      local id, count = line:match("^(rp_%S+) (%d+)")
      if id then
         packet_count = packet_count + 1
         packets[packet_count] = "/v1/red-packets/" .. id .. "/claims"
         shares[packet_count] = tonumber(count)
      end
   end
   f:close()
   assert(packet_count >= 1, "no \"PACKET_ID SHARES\" lines in " .. path)
end

-- Opens this thread's next packet in slot; past the end of the file the
-- slot keeps its packet, which then answers 409.
local function open_next(slot)
   if next_packet > packet_count then
      attempts_left[slot] = math.huge
      return
   end
   open_packets[slot] = next_packet
   attempts_left[slot] = shares[next_packet] + math.ceil(shares[next_packet] / 10)
   next_packet = next_packet + thread_count
end

function init(args)
   load_users(os.getenv("QB_BENCH_USERS"))
   load_packets(os.getenv("QB_BENCH_PACKETS"))
   thread_index = thread_index or 0
   math.randomseed(os.time() * 1000 + thread_index)
   thread_count = tonumber(os.getenv("QB_BENCH_THREADS") or "1")
   local live = tonumber(os.getenv("QB_BENCH_LIVE") or "0")
   next_packet = thread_index + 1
   if live > 0 then
      for slot = 1, math.max(1, math.floor(live / thread_count)) do
         if next_packet > packet_count then
            break
         end
         open_next(slot)
      end
   end
   common.loaded()
end

function request()
   common.wait() -- the first request waits until every thread has loaded
   local headers = {["Authorization"] = users[math.random(user_count)]}
   if #open_packets == 0 then
      return wrk.format("POST", packets[math.random(packet_count)], headers, "")
   end
   local slot = math.random(#open_packets)
   local packet = open_packets[slot]
   attempts_left[slot] = attempts_left[slot] - 1
   if attempts_left[slot] <= 0 then
      open_next(slot)
   end
   return wrk.format("POST", packets[packet], headers, "")
end

function response(status, headers, body)
   if status == 201 then
      answered_201 = answered_201 + 1
   elseif status == 200 then
      answered_200 = answered_200 + 1
   elseif status == 409 then
      answered_409 = answered_409 + 1
   else
      answered_other = answered_other + 1
   end
end

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   local n201, n200, n409, nother = 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      n201 = n201 + thread:get("answered_201")
      n200 = n200 + thread:get("answered_200")
      n409 = n409 + thread:get("answered_409")
      nother = nother + thread:get("answered_other")
   end
   local answered = n201 + n200 + n409 + nother
   local function share(n)
      return answered > 0 and 100 * n / answered or 0
   end
   io.write(string.format("bench: requests=%d answered=%d socket_errors=%d seconds=%.2f\n",
                          summary.requests, answered, socket_errors, seconds))
   io.write(string.format("bench: attempts_per_s=%.0f\n", answered / seconds))
   io.write(string.format("bench: claimed_201=%d claimed_201_pct=%.1f\n", n201, share(n201)))
   io.write(string.format("bench: repeat_200=%d repeat_200_pct=%.1f\n", n200, share(n200)))
   io.write(string.format("bench: empty_409=%d empty_409_pct=%.1f\n", n409, share(n409)))
   io.write(string.format("bench: other=%d other_pct=%.1f\n", nother, share(nother)))
   common.latency(latency)
end
