#!/usr/bin/env bash
# The per-user write limit: past writes_per_minute a user gets 429 with
# Retry-After and nothing is journaled; other users and the service role are
# not affected.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PC_CONF_SET="limits.writes_per_minute=5"
e2e_start
plan 8

alice=$SAMPLE_PROFILE_ID
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
json=(-H 'Content-Type: application/json')
as_alice=(-H "Authorization: Bearer $(jwt_hs256 "$alice")")
codes=""
minute=$(date -u +%Y%m%d%H%M)
for i in 1 2 3 4 5 6 7; do
	http PATCH "/profiles/$alice" "${json[@]}" "${as_alice[@]}" --data "{\"bio\":\"write $i\"}"
	codes="$codes$HTTP_STATUS "
	if [[ $HTTP_STATUS == 429 ]]; then retry=$(header Retry-After); body=$HTTP_BODY; fi
done
# The window is a calendar minute: if it turned during the loop the count
# restarted, so accept the first 429 at write 6 or 7.
like "$codes" '^202 202 202 202 202 (429 429|202 429) $' "five writes a minute, then 429 ($codes)"
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
