-- wrk script for bench/run: a mixed load over the profiles in BENCH_IDS
-- (one id per line, most popular first), ids drawn from a Zipf distribution
-- with exponent ZIPF_S; a share WRITE_SHARE of requests are PATCHes with the
-- service-role token BENCH_TOKEN, the rest GETs.
-- Prints "RESULT rps p50_ms p90_ms p99_ms non2xx hits misses stale writes".
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local s = tonumber(os.getenv("ZIPF_S") or "1.0")
local write_share = tonumber(os.getenv("WRITE_SHARE") or "0.05")
local token = os.getenv("BENCH_TOKEN")
local threads = {}

setup = function(thread)
	thread:set("seed", 7919 * (#threads + 1))
	threads[#threads + 1] = thread
end

init = function()
	math.randomseed(seed)
	-- cdf[i] = P(rank <= i)
	cdf = {}
	local sum = 0
	for i = 1, #ids do sum = sum + 1 / i ^ s; cdf[i] = sum end
	for i = 1, #ids do cdf[i] = cdf[i] / sum end
	hits, misses, stale, writes, n = 0, 0, 0, 0, 0
end

local function draw()
	local u, lo, hi = math.random(), 1, #ids
	while lo < hi do
		local mid = math.floor((lo + hi) / 2)
		if cdf[mid] < u then lo = mid + 1 else hi = mid end
	end
	return ids[lo]
end

request = function()
	local id = draw()
	n = n + 1
	if math.random() < write_share then
		writes = writes + 1
		return wrk.format("PATCH", "/v1/profiles/" .. id, {
			["Content-Type"] = "application/json",
			["Authorization"] = "Bearer " .. token,
		}, '{"bio":"zipf write ' .. n .. '"}')
	end
	return wrk.format("GET", "/v1/profiles/" .. id)
end

response = function(status, hdrs)
	local x = hdrs["X-Cache"]
	if x == "HIT" then hits = hits + 1
	elseif x == "MISS" then misses = misses + 1
	elseif x == "STALE" then stale = stale + 1 end
end

done = function(summary, latency)
	local h, m, st, w = 0, 0, 0, 0
	for _, t in ipairs(threads) do
		h = h + t:get("hits"); m = m + t:get("misses")
		st = st + t:get("stale"); w = w + t:get("writes")
	end
	io.write(string.format("RESULT %.0f %.3f %.3f %.3f %d %d %d %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(90) / 1000,
		latency:percentile(99) / 1000, summary.errors.status, h, m, st, w))
end
