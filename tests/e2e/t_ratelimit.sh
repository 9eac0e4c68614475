#!/usr/bin/env bash
# The per-user write limits: past writes_per_minute, or past max_pending_bytes
# of changes waiting in the journal, a user gets 429 with Retry-After and
# nothing is journaled; other users and the service role are not affected.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PC_CONF_SET="limits.writes_per_minute=5 limits.max_body=1024 limits.max_pending_bytes=2048"
e2e_start
plan 21

alice=$SAMPLE_PROFILE_ID
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
json=(-H 'Content-Type: application/json')
as_alice=(-H "Authorization: Bearer $(jwt_hs256 "$alice")")
# Writes 1-7 within one calendar minute, but for the rarest of slow machines.
codes=""
minute_start
minute=$(date -u +%Y%m%d%H%M)
for i in 1 2 3 4 5 6 7; do
	http PATCH "/profiles/$alice" "${json[@]}" "${as_alice[@]}" --data "{\"bio\":\"write $i\"}"
	codes="$codes$HTTP_STATUS "
	if [[ $HTTP_STATUS == 429 ]]; then retry=$(header Retry-After); body=$HTTP_BODY; fi
done
# The window is a calendar minute: if it turned during the loop the count
# restarted, so accept the first 429 at write 6 or 7.
why=""
if [[ $codes != *429* ]]; then
	# Neither memcached nor the journal counted: say what the responder saw.
	why="; memcached: $(pc_memcached_cmd "$MEMCACHED_PORT" version 2>/dev/null || echo unreachable)"
	why="$why; $(grep -h -m 3 -e cache_error -e ratelimit -- "$E2E_DIR"/var/log/*.log 2>/dev/null | tr '\n' ' ' || true)"
	retry=0 body='{}'
fi
like "$codes" '^202 202 202 202 202 (429 429|202 429) $' "five writes a minute, then 429 ($codes$why)"
like "$retry" '^[0-9]+$' "429 carries Retry-After"
ok "$(((retry >= 1 && retry <= 60) ? 0 : 1))" "Retry-After is within the minute ($retry)"
is "$(jq -r .error.code <<<"$body")" rate_limited "error code rate_limited"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where id = '$alice'")" \
	"$(grep -o 202 <<<"$codes" | wc -l)" "only the acknowledged writes were journaled"
http PATCH "/profiles/$bob" "${json[@]}" -H "Authorization: Bearer $(jwt_hs256 "$bob")" --data '{"bio":"mine"}'
is "$HTTP_STATUS" 202 "another user is not limited"
http PATCH "/profiles/$alice" "${json[@]}" -H "apikey: $(admin_key)" --data '{"bio":"service"}'
is "$HTTP_STATUS" 202 "the service role is not limited"
http PATCH "/profiles/$alice" "${json[@]}" "${as_alice[@]}" --data '{"bio":"x"'
if [[ $(date -u +%Y%m%d%H%M) == "$minute" ]]; then
	is "$HTTP_STATUS" 429 "a limited user is refused before the body is parsed"
else
	skip 1 "the minute turned during the test"
fi

# --- the journal budget: bytes of changes waiting for the flusher -----------------------
carol=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03
as_carol=(-H "Authorization: Bearer $(jwt_hs256 "$carol")")
bio() { printf '{"bio":"%s"}' "$(head -c 900 /dev/zero | tr '\0' "$1")"; }	# 910 bytes
pending_bytes() { sqlite3 "$JOURNAL_PATH" "select coalesce(sum(length(cast(patch as blob))), 0) from changes where id = '$carol' and state = 'pending'"; }
codes=""
for c in a b c; do
	http PATCH "/profiles/$carol" "${json[@]}" "${as_carol[@]}" --data "$(bio "$c")"
	codes="$codes$HTTP_STATUS "
done
is "$codes" "202 202 429 " "two 910-byte changes fit in 2048 bytes, a third does not"
is "$(json .error.code)" pending_budget_exceeded "error code pending_budget_exceeded"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
is "$(pending_bytes)" 1820 "the refused change was not journaled"
http GET "/profiles/$carol" "${as_carol[@]}"
is "$(json .profile.bio)" "$(head -c 900 /dev/zero | tr '\0' b)" "the owner reads the last acknowledged change"
http PATCH "/profiles/$carol" "${json[@]}" -H "apikey: $(admin_key)" --data "$(bio d)"
is "$HTTP_STATUS" 202 "the service role has no budget"
"$PC_BUILDDIR/profilecache-flush" --config "$CONFIG_PATH" 2>/dev/null || true
is "$(pending_bytes)" 0 "the flusher takes the pending changes to the database"
http PATCH "/profiles/$carol" "${json[@]}" "${as_carol[@]}" --data "$(bio e)"
is "$HTTP_STATUS" 202 "then the budget is free again"

# --- memcached down: each node counts in its own journal ---------------------------------
# bob wrote once above, counted in memcached: the journal's count starts afresh.
as_bob=(-H "Authorization: Bearer $(jwt_hs256 "$bob")")
journaled() { sqlite3 "$JOURNAL_PATH" "select count(*) from changes where id = '$bob'"; }
here0=$(metric profilecache_writes_rate_counted_here_total) before=$(journaled)
pc_stop_memcached "$VAR_DIR"
codes=""
minute_start
for i in 1 2 3 4 5 6 7; do
	http PATCH "/profiles/$bob" "${json[@]}" "${as_bob[@]}" --data "{\"bio\":\"down $i\"}"
	codes="$codes$HTTP_STATUS "
done
like "$codes" '^202 202 202 202 202 (429 429|202 429) $' "memcached down: still five writes a minute, then 429 ($codes)"
is "$(json .error.code)" rate_limited "error code rate_limited"
is "$(($(journaled) - before))" "$(grep -o 202 <<<"$codes" | wc -l)" "only the acknowledged writes were journaled"
is "$(($(metric profilecache_writes_rate_counted_here_total) - here0))" 7 "each write was counted by the journal"
pc_start_memcached "$VAR_DIR"
sleep 3.5	# a responder retries a failed server after retry_timeout (1 s) counted in whole seconds; seen to take over 1.6 s
here1=$(metric profilecache_writes_rate_counted_here_total)
http PATCH "/profiles/$carol" "${json[@]}" "${as_carol[@]}" --data '{"bio":"small"}'
is "$HTTP_STATUS/$(($(metric profilecache_writes_rate_counted_here_total) - here1))" 202/0 \
	"memcached back: another user is not limited, and memcached counts again"
