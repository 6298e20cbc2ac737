-- healthz.lua — wrk script: GET /healthz, a request with no work for the
-- ledger, at transfer.lua's rate (bench/http/run sends it to the daemon, and
-- to nginx answering a fixed body for the machine's own floor).
--
-- Environment (bench/http/run sets it):
--   QB_BENCH_RATE     when set above 0: pace to this many requests/s in all
--   QB_BENCH_THREADS  wrk's -t (common.lua, beside this script, says why)
--
-- /healthz is answered by an HTTP thread without the ledger: a read
-- connection taken from the pool and given back, the schema version read,
-- a small JSON body. Paced at the rate of transfer.lua's half load, on the
-- same connections, it shows what the daemon's cheapest route costs beside
-- a transfer. It is not the machine's floor: the pool's read adds to it
-- (docs/performance.md, 2026-12-06); nginx driven by this script is.

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local request_text = nil

setup = common.setup

function init(args)
   request_text = "GET /healthz HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n\r\n"
   common.loaded()
end

function request()
   common.wait()
   return request_text
end

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   local failed = e.status + e.connect + e.read + e.write + e.timeout
   io.write(string.format("bench: requests=%d non_2xx=%d socket_errors=%d seconds=%.2f\n",
                          summary.requests, e.status, failed - e.status, seconds))
   io.write(string.format("bench: requests_per_s=%.0f\n", (summary.requests - e.status) / seconds))
   common.latency(latency)
end
