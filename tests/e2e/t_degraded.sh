#!/usr/bin/env bash
# Dependencies failing: memcached down (reads go to the origin, healthz says
# degraded), origin down (503 + Retry-After when nothing is cached, cached
# entries still served, writes to an uncached profile journaled all the same),
# and recovery of both.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_start
plan 31

id=$SAMPLE_PROFILE_ID
other=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02

http GET /healthz
is "$HTTP_STATUS" 200 "healthz is 200"
is "$(jq -r .status <<<"$HTTP_BODY")" ok "status ok"
http GET "/profiles/$id"
is "$(header X-Cache)" MISS "warm the cache"

# --- memcached down ------------------------------------------------------------------
pc_stop_memcached "$VAR_DIR"
http GET /healthz
is "$HTTP_STATUS" 200 "memcached down: healthz still 200"
is "$(jq -r .status <<<"$HTTP_BODY")" degraded "status degraded"
is "$(jq -r .components.cache <<<"$HTTP_BODY")" down "cache component down"
is "$(jq -r ".components.cache_servers[\"$MEMCACHED_SERVERS\"]" <<<"$HTTP_BODY")" down \
	"each server of the ring is reported: this one down"
reads0=$(origin_reads)
http GET "/profiles/$id"
is "$HTTP_STATUS" 200 "reads still work"
is "$(header X-Cache)" MISS "from the origin"
is "$(jq -r .profile.username <<<"$HTTP_BODY")" alice "with the right data"
http GET "/profiles/$id"
is "$HTTP_STATUS" 200 "and again"
is "$(($(origin_reads) - reads0))" 2 "each read went to the origin"

pc_start_memcached "$VAR_DIR"
# Each responder retries a dead server a second after it failed; poll.
for _ in $(seq 50); do
	http GET /healthz
	[[ $(json .status) == ok ]] && break
	sleep 0.2
done
is "$(jq -r .status <<<"$HTTP_BODY")" ok "memcached back: status ok"
is "$(jq -c .components.cache_servers <<<"$HTTP_BODY")" "{\"$MEMCACHED_SERVERS\":\"up\"}" "and its server up"
http GET "/profiles/$id"
http GET "/profiles/$id"
is "$(header X-Cache)" HIT "caching resumes"

# --- origin down -------------------------------------------------------------------
pc_stop_origin "$VAR_DIR"
http GET /healthz
is "$HTTP_STATUS" 503 "origin down: healthz 503"
is "$(jq -r .components.origin <<<"$HTTP_BODY")" down "origin component down"
http GET "/profiles/$id"
is "$HTTP_STATUS" 200 "a cached profile is still served"
is "$(header X-Cache)" HIT "from the cache"
http GET "/profiles/$other"
is "$HTTP_STATUS" 503 "an uncached profile is 503"
is "$(jq -r .error.code <<<"$HTTP_BODY")" origin_unavailable "error code origin_unavailable"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
# Writes stay available: the uncached profile's change is journaled and
# acknowledged without its base; a username (checked by the database) and
# If-Match (needs the current version) cannot be.
svc=(-H "apikey: $(admin_key)" -H 'Content-Type: application/json')
http PATCH "/profiles/$other" "${svc[@]}" --data '{"bio":"written while the database was away"}'
is "$HTTP_STATUS/$(json .sync)/$(json .profile)" "202/pending/null" "a write to an uncached profile with the database down: 202 pending"
like "$(json .updated_at)" '^20[0-9-]+T[0-9:.]+Z$' "with the change's version"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where id = '$other' and state = 'pending'")" 1 \
	"it is in the journal"
http PATCH "/profiles/$other" "${svc[@]}" --data '{"username":"bob_renamed"}'
is "$HTTP_STATUS" 503 "a username change needs the database: 503"
http PATCH "/profiles/$other" "${svc[@]}" -H 'If-Match: "abc"' --data '{"bio":"x"}'
is "$HTTP_STATUS" 503 "If-Match needs the current version: 503"

pc_start_origin "$VAR_DIR"
http GET "/profiles/$other"
is "$HTTP_STATUS" 200 "origin back: the profile is served"
is "$(header X-Cache)" MISS "fetched from the origin"
is "$(json .profile.bio)/$(json .sync)/$(json .profile.display_name)" \
	"written while the database was away/pending/$(psql_exec "select display_name from profiles where id = '$other'")" \
	"with the blind write laid over the database's row"
"$PC_BUILDDIR/profilecache-flush" --config "$CONFIG_PATH" 2>/dev/null
is "$(psql_exec "select bio from profiles where id = '$other'")" "written while the database was away" \
	"the flush applies it"
