#!/usr/bin/env bash
# DELETE /v1/profiles/{id}: synchronous, owner or service role; pending
# changes are cancelled, the cache entry dropped, nothing comes back on a
# replay; with the database down nothing changes.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PC_CONF_SET="limits.writes_per_minute=0 avatar.trash_grace=0"
e2e_start
plan 24

FLUSH=$PC_BUILDDIR/profilecache-flush
alice=$SAMPLE_PROFILE_ID
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
carol=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03
json=(-H 'Content-Type: application/json')
owner=(-H "Authorization: Bearer $(jwt_hs256 "$alice")")
svc=(-H "apikey: $(admin_key)")

http DELETE "/profiles/$alice"
is "$HTTP_STATUS" 401 "no token: 401"
http DELETE "/profiles/$bob" "${owner[@]}"
is "$HTTP_STATUS" 403 "another user's profile: 403"
http DELETE "/profiles/not-a-uuid" "${owner[@]}"
is "$HTTP_STATUS" 400 "a bad id: 400"
is "$(psql_exec "select count(*) from profiles where id in ('$alice', '$bob')")" 2 "nothing was deleted"

http PATCH "/profiles/$alice" "${json[@]}" "${owner[@]}" --data '{"bio":"pending when deleted"}'
# An avatar of ours, so the delete has a file to remove.
vips black "$E2E_DIR/a.v" 64 64 --bands 3 && vips copy "$E2E_DIR/a.v" "$E2E_DIR/a.png"
http POST "/profiles/$alice/avatar" "${owner[@]}" -F "avatar=@$E2E_DIR/a.png;type=image/png"
url=$(json .profile.avatar_url)
avatar=$AVATAR_DIR/${url#"$HTTP_URL/avatars/"}
ok "$([[ -f $avatar ]]; echo $?)" "the avatar file exists before the delete"
# Another profile points at the same file (files are shared by content, and
# avatar_url is any user's to set).
dave=dddddddd-0000-4000-8000-000000000001
psql_exec "insert into profiles (id, avatar_url) values ('$dave', '$url')" >/dev/null
http GET "/profiles/$alice"
is "$(header X-Cache)" HIT "cached before the delete"
http DELETE "/profiles/$alice" "${owner[@]}"
is "$HTTP_STATUS" 204 "the owner deletes: 204"
is "$HTTP_BODY" "" "no body"
is "$(psql_exec "select count(*) from profiles where id = '$alice'")" 0 "the row is gone"
is "$(psql_exec "select count(*) from profilecache.tombstones where resource = 'profile' and id = '$alice'")" 1 "a tombstone stays"
ok "$([[ -f $avatar ]]; echo $?)" "the file stays until the flusher has checked that nothing refers to it"
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null || true
ok "$([[ -f $avatar ]]; echo $?)" "and stays after it: another profile still refers to it"
http DELETE "/profiles/$dave" -H "Authorization: Bearer $(jwt_hs256 "$dave")"
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null || true
ok "$([[ ! -e $avatar ]]; echo $?)" "once that profile is deleted too, nothing refers to it: removed"
is "$(sqlite3 "$JOURNAL_PATH" "select group_concat(state) from changes where id = '$alice'")" cancelled,cancelled \
	"the pending changes are cancelled"
http GET "/profiles/$alice"
is "$HTTP_STATUS" 404 "a read says 404 at once (the cache entry was dropped)"
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null
is "$(psql_exec "select count(*) from profiles where id = '$alice'")" 0 "a flush brings nothing back"
http DELETE "/profiles/$alice" "${owner[@]}"
is "$HTTP_STATUS" 404 "deleting again: 404"

http DELETE "/profiles/$bob" "${svc[@]}"
is "$HTTP_STATUS" 204 "the service role may delete any profile"

pc_stop_origin "$VAR_DIR"
http DELETE "/profiles/$carol" "${svc[@]}"
is "$HTTP_STATUS" 503 "database down: 503"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
pc_start_origin "$VAR_DIR"
is "$(psql_exec "select count(*) from profiles where id = '$carol'")" 1 "and nothing was deleted"
http GET "/profiles/$carol" -H "Authorization: Bearer $(jwt_hs256 "$carol")"
is "$HTTP_STATUS" 200 "the owner still reads it"

# A new profile after the delete is a new write, newer than the tombstone.
http PUT "/profiles/$alice" "${json[@]}" "${owner[@]}" --data '{"bio":"signed up again"}'
is "$HTTP_STATUS" 202 "a PUT after the delete is accepted"
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null
is "$(psql_exec "select bio from profiles where id = '$alice'")" "signed up again" \
	"and recreates the row, being newer than the tombstone"
