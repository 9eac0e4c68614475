-- wrk script for bench/run: PATCH profiles with a service-role token, or
-- (PUT_FIELD=increment) POST increments of balances, each with an
-- Idempotency-Key of its own (PUT_RUN names the run's keys). Each wrk
-- thread walks its own part of the ids in PUT_IDS (comma separated), so two
-- writers rarely hit one id at the same moment.
local ids = {}
for id in string.gmatch(os.getenv("PUT_IDS") or "", "[^,]+") do ids[#ids + 1] = id end
local token = os.getenv("PUT_TOKEN")
-- PUT_FIELD=username: each PATCH sets a new username (the write-through path)
-- instead of the bio (the deferred path).
local field = os.getenv("PUT_FIELD") or "bio"
local run = os.getenv("PUT_RUN") or "b"
local threads = 0
local n = 0

setup = function(thread)
	thread:set("offset", threads * 997)
	threads = threads + 1
end

request = function()
	n = n + 1
	local id = ids[((n * 7 + (offset or 0)) % #ids) + 1]
	if field == "increment" then
		return wrk.format("POST", "/v1/balances/" .. id .. "/increments", {
			["Content-Type"] = "application/json",
			["Authorization"] = "Bearer " .. token,
			["Idempotency-Key"] = string.format("%s-%d-%d", run, offset or 0, n),
		}, '{"delta":1}')
	end
	local body = '{"bio":"benchmark write ' .. n .. '"}'
	if field == "username" then
		-- Written through to the database: unique per thread and request.
		body = string.format('{"username":"w%d_%d"}', offset or 0, n)
	end
	return wrk.format("PATCH", "/v1/profiles/" .. id, {
		["Content-Type"] = "application/json",
		["Authorization"] = "Bearer " .. token,
	}, body)
end

done = function(summary, latency)
	io.write(string.format("RESULT %.0f %.3f %.3f %.3f %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(90) / 1000,
		latency:percentile(99) / 1000,
		summary.errors.status))
end
