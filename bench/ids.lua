-- wrk script for bench/run: each request asks for a different profile, so
-- nothing is asked for twice. BENCH_IDS names a file of ids (one per line),
-- BENCH_PATH the request path with %s for the id, BENCH_HEADERS optional
-- extra headers ("Name: value" separated by "|"), BENCH_THREADS wrk's -t,
-- BENCH_OFFSET how many ids earlier runs used. Thread k of T takes ids
-- OFFSET+k, OFFSET+k+T, ... and starts over at the top when it runs out
-- (counted as "wrapped"). X-Cache answers are counted.
-- Prints "RESULT rps p50_ms p90_ms p99_ms non2xx hits misses wrapped requests".
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local path = os.getenv("BENCH_PATH")
local headers = {}
for h in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
	local name, value = string.match(h, "^%s*([^:]+):%s*(.*)$")
	headers[name] = value
end
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local threads = {}

setup = function(thread)
	thread:set("index", #threads)
	threads[#threads + 1] = thread
end

init = function()
	step = tonumber(os.getenv("BENCH_THREADS")) or 1
	next_i, hits, misses, wrapped = offset + index + 1, 0, 0, 0
end

request = function()
	if next_i > #ids then
		next_i = (next_i - 1) % #ids + 1
		wrapped = wrapped + 1
	end
	local id = ids[next_i]
	next_i = next_i + step
	return wrk.format("GET", string.format(path, id), headers)
end

response = function(status, hdrs)
	local x = hdrs["X-Cache"]
	if x == "HIT" then hits = hits + 1 elseif x == "MISS" then misses = misses + 1 end
end

done = function(summary, latency)
	local h, m, w = 0, 0, 0
	for _, t in ipairs(threads) do
		h = h + t:get("hits"); m = m + t:get("misses"); w = w + t:get("wrapped")
	end
	io.write(string.format("RESULT %.0f %.3f %.3f %.3f %d %d %d %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(90) / 1000,
		latency:percentile(99) / 1000,
		summary.errors.status, h, m, w, summary.requests))
end
