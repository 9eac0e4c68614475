#!/usr/bin/env bash
# No dogpile: N parallel misses (and N parallel stale hits) on one id cost one
# origin read. The origin is slowed so the requests really overlap.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

N=24
# fresh_ttl: longer than a burst takes, or its last requests are served
# stale (and refresh). Behind mod_fcgid a request that finds every responder
# busy waits for one in steps of a second, so a burst can take 2 s.
PC_CONF_SET="cache.fresh_ttl=4 cache.stale_ttl=60 cache.lock_wait_ms=3000" \
	e2e_start --delay-ms 400
plan 6

id=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
dir=$(mktemp -d)
# parallel_get: N parallel GETs of id; sets allowed, the most origin reads
# they may cost: one, and one more per fresh_ttl (4 s) the burst lasted (each
# read makes the entry fresh for that long; a loaded machine can stretch a
# burst of CGI processes past it).
parallel_get() {
	local i t0
	t0=$(date +%s)
	for i in $(seq "$N"); do
		curl -s -o /dev/null -D "$dir/h$i" -w '%{http_code}\n' "$BASE_URL/profiles/$id" >"$dir/s$i" &
	done
	wait
	allowed=$((1 + ($(date +%s) - t0) / 4))
}

reads0=$(origin_reads)
parallel_get
is "$(cat "$dir"/s* | sort | uniq -c | awk '{$1=$1};1')" "$N 200" "all $N parallel misses answered 200"
misses=$(($(origin_reads) - reads0))
diag "$N parallel misses -> $misses origin read(s)"
ok "$([[ $misses -ge 1 && $misses -le $allowed ]]; echo $?)" "they cost one origin read ($misses; at most $allowed for how long the burst took)"

sleep 4.2
reads0=$(origin_reads)
rm -f "$dir"/*
parallel_get
is "$(cat "$dir"/s* | sort | uniq -c | awk '{$1=$1};1')" "$N 200" "all $N parallel stale reads answered 200"
stale=$(grep -il '^X-Cache: STALE' "$dir"/h* | wc -l)
cmp_ok "$stale" -gt 0 "they were served stale ($stale of $N)"
# Give the one refresh (400 ms at the origin) time to finish.
sleep 1
refreshes=$(($(origin_reads) - reads0))
diag "$N parallel stale reads -> $refreshes origin read(s)"
ok "$([[ $refreshes -ge 1 && $refreshes -le $allowed ]]; echo $?)" "one process refreshed the entry ($refreshes; at most $allowed for how long the burst took)"
# A loaded machine may have let that entry go stale again by now: then this
# read refreshes it once more, and the next one is a hit.
for _ in 1 2 3 4 5; do
	http GET "/profiles/$id"
	[[ $(header X-Cache) == STALE ]] || break
	sleep 1
done
is "$(header X-Cache)" HIT "after the refresh it is fresh again"
rm -rf "$dir"
