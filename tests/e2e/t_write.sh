#!/usr/bin/env bash
# PUT/PATCH /v1/profiles/{id} through lighttpd with real memcached, PostgreSQL
# and journal: authentication and its attacks, body checks, deferred writes,
# read-your-writes, If-Match, write-through username, private profiles.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# Writes sent at once wait for the row's lock in turn: on a loaded machine
# eight of them can take longer than the default second's wait.
PC_CONF_SET="cache.lock_wait_ms=10000" e2e_start
plan 78

alice=$SAMPLE_PROFILE_ID
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
carol=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03
tok=$(jwt_hs256 "$alice")
auth=(-H "Authorization: Bearer $tok")
json=(-H 'Content-Type: application/json')
# pending ID: the id's pending journal entries (none while the journal does not exist).
pending() {
	[[ -s $JOURNAL_PATH ]] || { echo 0; return; }
	sqlite3 "$JOURNAL_PATH" "select count(*) from changes where id = '$1' and state = 'pending'"
}

# --- authentication -----------------------------------------------------------------
http PATCH "/profiles/$alice" "${json[@]}" --data '{"bio":"x"}'
is "$HTTP_STATUS" 401 "no token: 401"
like "$(header WWW-Authenticate)" '^Bearer' "with WWW-Authenticate"
for case in garbage expired wrongsecret none tampered wrongaud basic; do
	case $case in
	garbage) t="not.a.token" ;;
	expired) t=$(jwt_hs256 "$alice" authenticated -600) ;;
	wrongsecret) t=$(jwt_hs256 "$alice" authenticated 3600 authenticated "another-secret-that-is-long-enough-0123456789") ;;
	none) t="$(printf '{"alg":"none","typ":"JWT"}' | b64url).$(printf '{"sub":"%s","role":"authenticated","aud":"authenticated","exp":%d}' "$alice" $(($(date +%s) + 3600)) | b64url)." ;;
	tampered) t=$(jwt_hs256 "$bob"); p=$(printf '{"sub":"%s","role":"authenticated","aud":"authenticated","exp":%d}' "$alice" $(($(date +%s) + 3600)) | b64url); t="${t%%.*}.$p.${t##*.}" ;;
	wrongaud) t=$(jwt_hs256 "$alice" authenticated 3600 somebody-else) ;;
	basic) t="" ;;
	esac
	if [[ $case == basic ]]; then
		http PATCH "/profiles/$alice" "${json[@]}" -H 'Authorization: Basic YWxpY2U6cHc=' --data '{"bio":"x"}'
	else
		http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $t" --data '{"bio":"x"}'
	fi
	is "$HTTP_STATUS" 401 "$case token: 401"
done
is "$(pending "$alice")" 0 "nothing refused reached the journal"
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer x.y.z" --data '{"bio":"x"}'
is "$(header Cache-Control)" no-store "an answer to a request with credentials is not for shared caches"
like "$(header Content-Security-Policy)" "default-src 'none'" "and carries a restrictive CSP"
if grep -q -- "${tok##*.}" "$VAR_DIR"/log/*.log; then r=1; else r=0; fi
is "$r" 0 "no token appears in any log"

http PATCH "/profiles/$bob" "${json[@]}" "${auth[@]}" --data '{"bio":"x"}'
is "$HTTP_STATUS" 403 "another user's profile: 403"
is "$(json .error.code)" forbidden "error code forbidden"

# --- body checks ----------------------------------------------------------------------
http PATCH "/profiles/$alice" "${auth[@]}" -H 'Content-Type: text/plain' --data '{"bio":"x"}'
is "$HTTP_STATUS" 415 "text/plain: 415"
http PATCH "/profiles/$alice" "${auth[@]}" --data '{"bio":"x"}'
is "$HTTP_STATUS" 415 "form content type: 415"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data "{\"bio\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}"
is "$HTTP_STATUS" 413 "over max_body: 413"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"bio":'
is "$HTTP_STATUS" 400 "truncated JSON: 400"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '["bio"]'
is "$HTTP_STATUS" 400 "an array: 400"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"bio":"a","bio":"b"}'
is "$HTTP_STATUS" 400 "duplicate keys: 400"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"bio":"a\u0000b"}'
is "$HTTP_STATUS" 400 "NUL in a string: 400"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data "$(printf '{"bio":"\xff\xfe"}')"
is "$HTTP_STATUS" 400 "invalid UTF-8: 400"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data "$(printf '%.0s[' {1..5000})"
is "$HTTP_STATUS" 400 "deeply nested JSON: 400"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" \
	--data '{"nickname":"x","updated_at":"2030-01-01T00:00:00Z","id":"x","username":"No Spaces!","display_name":"a\u0007b","is_private":"yes","gradient":"red","avatar_url":"javascript:alert(1)"}'
is "$HTTP_STATUS" 422 "invalid fields: 422"
is "$(json .error.code)" invalid_fields "error code invalid_fields"
is "$(json '.error.fields | keys | join(",")')" "avatar_url,display_name,gradient,id,is_private,nickname,updated_at,username" \
	"every bad field is listed"
is "$(json .error.fields.updated_at)" read-only "updated_at is read-only"
is "$(json .error.fields.nickname)" "unknown field; allowed: username, display_name, bio, avatar_url, gradient, is_private" \
	"an unknown field's reason lists the fields that may be sent"
is "$(json '.error.allowed | join(",")')" "username,display_name,bio,avatar_url,gradient,is_private" \
	"and so does the error's allowed member"
http PUT "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"bio":"x","displayname":"typo"}'
is "$HTTP_STATUS/$(json '.error.fields | keys | join(",")')/$(json '.error.allowed | length')" "422/displayname/6" \
	"a PUT with a misspelt field: 422 naming it, with the six allowed"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data "{\"display_name\":\"$(printf 'é%.0s' {1..101})\"}"
is "$HTTP_STATUS" 422 "101 characters of display_name: 422"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"display_name":"admin\u202egpj.exe","bio":"ok\n\u200bhidden"}'
is "$HTTP_STATUS/$(json '.error.fields | keys | join(",")')" 422/bio,display_name \
	"a bidi override in display_name and a zero-width space in bio: 422 naming both"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{}'
is "$HTTP_STATUS" 422 "an empty patch: 422"
is "$(pending "$alice")" 0 "nothing invalid reached the journal"

# --- the deferred write -------------------------------------------------------------------
http GET "/profiles/$alice"
before=$(json .profile.updated_at)
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"bio":"Written behind \u00e9","display_name":"Alice L."}'
is "$HTTP_STATUS" 202 "PATCH: 202"
is "$(json .sync)" pending "sync pending"
is "$(json .profile.bio)" "Written behind é" "the answer shows the change"
is "$(json .profile.username)" alice "and keeps the other fields"
after=$(json .profile.updated_at)
ok "$([[ $after > $before ]]; echo $?)" "the server set a newer updated_at ($before -> $after)"
etag=$(header ETag)
is "$(pending "$alice")" 1 "one pending journal entry"
is "$(psql_exec "select bio is distinct from 'Written behind é' from profiles where id = '$alice'")" t \
	"the database is not written yet"
http GET "/profiles/$alice"
is "$(header X-Cache)" HIT "the cache holds the new version"
is "$(json .profile.bio)/$(json .sync)" "Written behind é/pending" "GET shows it, pending"
is "$(header ETag)" "$etag" "with the same ETag as the write"
mc_flush
http GET "/profiles/$alice"
is "$(header X-Cache)" MISS "cache flushed: a miss"
is "$(json .profile.bio)/$(json .sync)/$(json .profile.updated_at)" "Written behind é/pending/$after" \
	"the acknowledged write still shows (read-your-writes)"

# --- If-Match -------------------------------------------------------------------------------
etag=$(header ETag)
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" -H 'If-Match: "0000000000000000"' --data '{"bio":"lost"}'
is "$HTTP_STATUS" 412 "If-Match of another version: 412"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" -H "If-Match: $etag" --data '{"bio":"matched"}'
is "$HTTP_STATUS" 202 "If-Match of the current version: 202"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" -H "If-Match: $etag" --data '{"bio":"stale"}'
is "$HTTP_STATUS" 412 "the same If-Match again is now stale: 412"
# Writes sent at once with one ETag: one is acknowledged, the others were
# made against a version that is gone (each round reads the ETag first).
admin=(-H "apikey: $(admin_key)") rounds=""
for round in 1 2 3; do
	http GET "/profiles/$alice"
	etag=$(header ETag)
	for i in 1 2 3 4 5 6 7 8; do
		curl -s -o /dev/null -w '%{http_code}\n' -X PATCH "$BASE_URL/profiles/$alice" "${json[@]}" "${admin[@]}" \
			-H "If-Match: $etag" --data "{\"bio\":\"race $round.$i\"}" >"$E2E_DIR/m$i.status" &
	done
	wait
	rounds="$rounds$(cat "$E2E_DIR"/m*.status | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')/ "
done
is "$rounds" "202:1 412:7 / 202:1 412:7 / 202:1 412:7 / " \
	"8 writes at once with one If-Match, three times: one acknowledged, seven 412 each time"

# --- PUT replaces ------------------------------------------------------------------------------
http PUT "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"username":"alice","bio":"only bio"}'
is "$HTTP_STATUS" 202 "PUT: 202"
is "$(json .profile.display_name)/$(json .profile.gradient)/$(json .profile.is_private)" "null/null/false" \
	"fields not given are reset"

# --- write-through username ------------------------------------------------------------------
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"username":"alice_new","bio":"with a new name"}'
is "$HTTP_STATUS" 200 "a username change: 200"
is "$(json .sync)" synced "sync synced"
is "$(psql_exec "select username || '|' || bio from profiles where id = '$alice'")" "alice_new|with a new name" \
	"the database has the username and the rest of the change"
is "$(pending "$alice")" 0 "the pending entries it carried are marked applied"
http GET "/profiles/$alice"
is "$(json .profile.username)/$(json .sync)" "alice_new/synced" "GET shows it synced"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"username":"bob"}'
is "$HTTP_STATUS" 409 "a taken username: 409"
is "$(json .error.code)" username_taken "error code username_taken"
# What the database refuses is answered in this project's words; its own
# (constraint names, SQLSTATEs) go to the log only.
psql_exec "alter table public.profiles add constraint t_write_no_root check (username <> 'root_user') not valid"
http PATCH "/profiles/$alice" "${json[@]}" "${auth[@]}" --data '{"username":"root_user"}'
is "$HTTP_STATUS/$(json .error.code)/$(json .error.message)" \
	"422/rejected/the database refused a value of this change" "a value the database refuses: 422 rejected"
unlike "$HTTP_BODY" 't_write_no_root|violates|23514|profiles' "the database's message is not answered"
if grep -q 'write_through_rejected.*t_write_no_root' "$VAR_DIR"/log/*.log; then r=0; else r=1; fi
ok "$r" "it is logged"
psql_exec "create table auth.t_write_users (id uuid primary key)"
psql_exec "alter table public.profiles add constraint t_write_user_fkey foreign key (id) references auth.t_write_users (id) not valid"
nouser=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
http PUT "/profiles/$nouser" "${json[@]}" -H "apikey: $(admin_key)" --data '{"username":"no_such_user"}'
is "$HTTP_STATUS/$(json .error.code)" 422/unknown_user "a profile for an id that is not a user (a foreign key to auth.users): 422 unknown_user"
unlike "$HTTP_BODY" 't_write_user_fkey|violates|23503|t_write_users' "without the database's words"
psql_exec "alter table public.profiles drop constraint t_write_no_root, drop constraint t_write_user_fkey"
psql_exec "drop table auth.t_write_users"

# --- service role, creation, private profiles ------------------------------------------------
svc=$(admin_key)
http PATCH "/profiles/$bob" "${json[@]}" -H "apikey: $svc" --data '{"bio":"set by the service"}'
is "$HTTP_STATUS" 202 "the service role may write any profile"
new=0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0
http PATCH "/profiles/$new" "${json[@]}" -H "Authorization: Bearer $(jwt_hs256 $new)" --data '{"bio":"x"}'
is "$HTTP_STATUS" 404 "PATCH of a missing profile: 404"
http PUT "/profiles/$new" "${json[@]}" -H "Authorization: Bearer $(jwt_hs256 $new)" --data '{"bio":"brand new"}'
is "$HTTP_STATUS" 202 "PUT creates the profile"
mc_flush
http GET "/profiles/$new"
is "$HTTP_STATUS/$(json .profile.bio)/$(json .sync)" "200/brand new/pending" "a created profile is readable before it reaches the database"
http GET "/profiles/$carol"
is "$HTTP_STATUS" 404 "a private profile is 404 to others"
http GET "/profiles/$carol" -H "Authorization: Bearer $(jwt_hs256 $carol)"
is "$HTTP_STATUS" 200 "and 200 to its owner"
is "$(header Cache-Control)" "private, no-cache" "not for shared caches"
http GET "/profiles/$carol" -H "Authorization: Bearer $(jwt_hs256 $alice)"
is "$HTTP_STATUS" 404 "another user still gets 404"

# --- concurrent writers lose nothing ---------------------------------------------------------
dir=$(mktemp -d)
before=$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where id = '$bob'")
for i in $(seq 32); do
	curl -s -o "$dir/b$i" -w '%{http_code}\n' -X PATCH "$BASE_URL/profiles/$bob" "${json[@]}" \
		-H "apikey: $svc" --data "{\"bio\":\"writer $i\"}" >"$dir/s$i" &
done
wait
# Each is acknowledged, or (on a machine so loaded that a writer waited past
# [journal] busy_timeout_ms for the journal) refused with 503 and not kept:
# the journal holds exactly the acknowledged ones.
acked=$(grep -c '^202$' "$dir"/s* | awk -F: '{ n += $2 } END { print n }')
is "$(cat "$dir"/s* | grep -cv '^\(202\|503\)$')" 0 "32 concurrent PATCHes: each is 202, or 503 when the journal was busy too long"
diag "$acked of 32 acknowledged"
cmp_ok "$acked" -ge 1 "concurrent PATCHes are acknowledged"
is "$(($(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where id = '$bob'") - before))" "$acked" \
	"the journal holds every acknowledged one, and only those"
is "$(sqlite3 "$JOURNAL_PATH" "select count(distinct updated_at_us) = count(*) and max(updated_at_us) = (select updated_at_us from changes where id = '$bob' order by seq desc limit 1) from changes where id = '$bob'")" 1 \
	"each got its own version, increasing in journal order"
last=$(jq -rs 'max_by(.profile.updated_at) | .profile.bio' "$dir"/b*)
mc_flush
http GET "/profiles/$bob"
is "$(json .profile.bio)" "$last" "after a cache flush the newest acknowledged write wins"
rm -rf "$dir"
