#!/usr/bin/env bash
# GET /v1/metrics: Prometheus text with requests by route and status, cache
# outcomes, origin requests, rate-limited writes, flush outcomes and journal
# depth; counters shared by every process and kept across restarts; only
# loopback clients or the metrics token.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PC_CONF_SET="limits.writes_per_minute=3"
e2e_start
plan 20

id=$SAMPLE_PROFILE_ID
json=(-H 'Content-Type: application/json')

http GET /metrics
is "$HTTP_STATUS" 200 "loopback: 200"
like "$(header Content-Type)" '^text/plain; version=0.0.4' "Prometheus text format"
like "$HTTP_BODY" '# TYPE profilecache_requests_total counter' "with TYPE lines"

hits0=$(metric 'profilecache_cache_total{result="hit"}')
miss0=$(metric 'profilecache_cache_total{result="miss"}')
get0=$(metric 'profilecache_requests_total{route="profile_get",status="200"}')
origin0=$(metric profilecache_origin_requests_total)
for _ in 1 2 3 4 5 6; do http GET "/profiles/$id"; done
is "$(($(metric 'profilecache_cache_total{result="miss"}') - miss0))" 1 "one miss counted"
is "$(($(metric 'profilecache_cache_total{result="hit"}') - hits0))" 5 "five hits counted, across processes"
is "$(($(metric 'profilecache_requests_total{route="profile_get",status="200"}') - get0))" 6 \
	"six GET 200s by route and status"
ok "$(( $(metric profilecache_origin_requests_total) - origin0 >= 1 ? 0 : 1 ))" "the origin read is counted"

http GET /profiles/not-a-uuid
is "$(metric 'profilecache_requests_total{route="profile_get",status="400"}')" 1 "a 400 is counted under its route"
http GET /nowhere
is "$(metric 'profilecache_requests_total{route="other",status="404"}')" 1 "an unknown path counts as other/404"

tok=(-H "Authorization: Bearer $(jwt_hs256 "$id")")
commits0=$(metric profilecache_journal_commits_total) fsyncs0=$(metric profilecache_journal_fsyncs_total)
# Early in a minute, or the fourth write may fall in the next and be admitted.
minute_start
for i in 1 2 3 4; do http PATCH "/profiles/$id" "${json[@]}" "${tok[@]}" --data "{\"bio\":\"m$i\"}"; done
is "$(metric profilecache_writes_rate_limited_total)" 1 "the fourth write in a minute was rate-limited"
is "$(metric 'profilecache_journal_entries{state="pending"}')" 3 "journal depth: three pending"
commits=$(($(metric profilecache_journal_commits_total) - commits0))
fsyncs=$(($(metric profilecache_journal_fsyncs_total) - fsyncs0))
ok "$((commits >= 3 && fsyncs >= 1 && fsyncs <= commits ? 0 : 1))" \
	"group commit: the three writes' commits counted ($commits), each made durable ($fsyncs fsyncs)"
"$PC_BUILDDIR/profilecache-flush" --config "$CONFIG_PATH" 2>/dev/null
is "$(metric 'profilecache_flush_changes_total{result="applied"}')" 1 "the flusher counts its applied change"
is "$(metric 'profilecache_journal_entries{state="applied"}')" 3 "and the journal depth follows"

before=$(metric 'profilecache_requests_total{route="profile_get",status="200"}')
pc_stop_lighttpd "$VAR_DIR"
pc_start_lighttpd "$VAR_DIR" >/dev/null
is "$(metric 'profilecache_requests_total{route="profile_get",status="200"}')" "$before" \
	"counters survive a restart of every responder"

# From elsewhere: run the responder as plain CGI with another client address.
printf 'metrics-token-0123456789\n' >"$E2E_DIR/metrics.token"
chmod 600 "$E2E_DIR/metrics.token"
PC_CONF_SET="$PC_CONF_SET metrics.token_file=$E2E_DIR/metrics.token"
pc__write_responder_config "$VAR_DIR"
cgi() {
	env -i REQUEST_METHOD=GET REQUEST_URI=/v1/metrics SCRIPT_NAME= PATH_INFO=/v1/metrics \
		REMOTE_ADDR=192.0.2.7 PROFILECACHE_CONFIG="$CONFIG_PATH" "$@" \
		"$PC_BUILDDIR/cgi-bin/profilecache.fcgi" </dev/null 2>/dev/null | tr -d '\r' | sed -n 1p
}
# The whole address is compared, not a prefix.
got=
for a in 127.0.0.1 ::1 ::ffff:127.0.0.1; do got+="$(cgi REMOTE_ADDR="$a") "; done
is "$got" "Status: 200 OK Status: 200 OK Status: 200 OK " "127.0.0.1, ::1 and ::ffff:127.0.0.1 are loopback"
got=
for a in 127.0.0.1.example.com 127.9.9.9 ::ffff:127.0.0.1x ::1:2 ""; do got+="$(cgi REMOTE_ADDR="$a") "; done
is "$got" "$(printf 'Status: 403 Forbidden %.0s' 1 2 3 4 5)" "an address that only starts like loopback is not"
is "$(cgi)" "Status: 403 Forbidden" "another address without the token: 403"
is "$(cgi HTTP_AUTHORIZATION='Bearer wrong-token-0123456789000')" "Status: 403 Forbidden" "a wrong token: 403"
is "$(cgi HTTP_AUTHORIZATION='Bearer metrics-token-0123456789')" "Status: 200 OK" "the metrics token: 200"
