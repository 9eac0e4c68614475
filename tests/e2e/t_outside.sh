#!/usr/bin/env bash
# Changes made outside profilecache (the dashboard, another service, a
# cascade from auth.users: here plain SQL) reach the cache: through the
# flusher, which asks for the rows changed and deleted since its last run,
# and through POST /v1/admin/invalidate, the target of a Supabase Database
# Webhook.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_start
plan 14

FLUSH=$PC_BUILDDIR/profilecache-flush
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
carol=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03
json=(-H 'Content-Type: application/json')
admin=(-H "apikey: $(admin_key)")
flush() { "$FLUSH" --config "$CONFIG_PATH" 2>>"$E2E_DIR/flush.err" || true; }

flush # the first run starts the cursor
http GET "/profiles/$bob"
http GET "/profiles/$bob"
is "$(header X-Cache)" HIT "cached"

# --- through the flusher ------------------------------------------------------------
psql_exec "update profiles set bio = 'edited in the dashboard' where id = '$bob'" >/dev/null
psql_exec "select 1" >/dev/null
http GET "/profiles/$bob"
isnt "$(json .profile.bio)" "edited in the dashboard" "an outside write is not served before the flusher runs (the entry is fresh)"
flush
http GET "/profiles/$bob"
is "$(json .profile.bio)/$(json .sync)" "edited in the dashboard/synced" "after one flusher run it is served"
is "$(header X-Cache)" HIT "from the cache, refreshed in place"
http GET "/profiles/$carol"
psql_exec "delete from profiles where id = '$carol'" >/dev/null
flush
http GET "/profiles/$carol"
is "$HTTP_STATUS" 404 "a delete made outside: 404 after one flusher run"

# --- through the webhook ----------------------------------------------------------------
psql_exec "update profiles set display_name = 'renamed by a service' where id = '$bob'" >/dev/null
hook="{\"type\":\"UPDATE\",\"table\":\"profiles\",\"schema\":\"public\",\"record\":{\"id\":\"$bob\"},\"old_record\":{\"id\":\"$bob\"}}"
http POST /admin/invalidate "${json[@]}" --data "$hook"
is "$HTTP_STATUS" 401 "the webhook without the secret key: 401"
http POST /admin/invalidate "${json[@]}" -H "Authorization: Bearer $(jwt_hs256 "$bob")" --data "$hook"
is "$HTTP_STATUS" 403 "with a user's token: 403"
http POST /admin/invalidate "${json[@]}" "${admin[@]}" --data '{"type":"UPDATE","record":{"id":"not-a-uuid"}}'
is "$HTTP_STATUS/$(json .error.code)" "400/bad_webhook" "a body that names no profile: 400"
http POST /admin/invalidate "${json[@]}" "${admin[@]}" --data "$hook"
is "$HTTP_STATUS/$(json .action)" "200/refreshed" "the webhook with the secret key: 200 refreshed"
http GET "/profiles/$bob"
is "$(json .profile.display_name)/$(header X-Cache)" "renamed by a service/HIT" \
	"the outside write is served at once, from the cache"
http PATCH "/profiles/$bob" "${json[@]}" "${admin[@]}" --data '{"bio":"pending here"}'
psql_exec "update profiles set gradient = '#123456' where id = '$bob'" >/dev/null
http POST /admin/invalidate "${json[@]}" "${admin[@]}" --data "$hook"
http GET "/profiles/$bob"
is "$(json .profile.gradient)/$(json .profile.bio)/$(json .sync)" "#123456/pending here/pending" \
	"a refresh keeps this node's pending change over the outside write to another field"
psql_exec "delete from profiles where id = '$bob'" >/dev/null
http POST /admin/invalidate "${json[@]}" "${admin[@]}" \
	--data "{\"type\":\"DELETE\",\"table\":\"profiles\",\"record\":null,\"old_record\":{\"id\":\"$bob\"}}"
is "$HTTP_STATUS/$(json .action)" "200/dropped" "a DELETE webhook: dropped"
http GET "/profiles/$bob"
is "$HTTP_STATUS" 404 "and the profile is 404 at once"
is "$(sqlite3 "$JOURNAL_PATH" "select group_concat(state) from changes where id = '$bob'")" cancelled \
	"its pending change is cancelled, as a DELETE through profilecache does"
