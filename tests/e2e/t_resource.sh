#!/usr/bin/env bash
# Tables declared as data ([resource NAME] and [field NAME.FIELD] sections):
# GET /v1/{resource}/{id} through the web server, memcached and PostgreSQL
# for two declared tables besides profiles: the row in its declared shape,
# hit, miss, 304, negative caching, bad and unknown ids, an undeclared
# resource, a read = owner table hidden from everyone but its owner exactly
# as a missing row, and the route's own counter.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

decl=$(mktemp "${PC_TEST_TMP:-/tmp}/pc-resource.XXXXXX")
cat >"$decl" <<'INI'

[resource challenges]
item = challenge
owner = user_id
negative_ttl = 60
[field challenges.id]
type = uuid
policy = readonly
[field challenges.user_id]
type = uuid
policy = server
[field challenges.title]
type = text
max_length = 120
[field challenges.status]
type = enum
values = open, done
[field challenges.percent]
type = integer
min = 0
max = 100
[field challenges.meta]
type = json
[field challenges.due_at]
type = timestamp
[field challenges.created_at]
type = timestamp
policy = server
[field challenges.updated_at]
type = timestamp
policy = server

[resource journey_progress]
owner = user_id
read = owner
[field journey_progress.id]
type = uuid
policy = readonly
[field journey_progress.user_id]
type = uuid
policy = server
[field journey_progress.step]
type = integer
[field journey_progress.updated_at]
type = timestamp
policy = server
INI
PC_CONF_APPEND=$decl e2e_start
rm -f -- "$decl"
plan 37

ch=3d1c5a7e-2b4f-4c6d-8e9f-0a1b2c3d4e5f
jp=4e2d6b8f-3c5a-4d7e-9f0a-1b2c3d4e5f60
ghost=5f0c1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b
owner=$SAMPLE_PROFILE_ID
other=0c4b6a1e-8f0a-4d5e-9b2c-3d4e5f6a7b8c

# The tables, as a migration would create them (field_versions included).
psql_exec "
create table public.challenges (
    id uuid primary key, user_id uuid not null, title text, status text,
    percent integer, meta jsonb, due_at timestamptz, extra text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    field_versions jsonb not null default '{}');
create table public.journey_progress (
    id uuid primary key, user_id uuid not null, step integer,
    updated_at timestamptz not null default now(),
    field_versions jsonb not null default '{}');
grant select, insert, update, delete on public.challenges, public.journey_progress to service_role;
insert into public.challenges (id, user_id, title, status, percent, meta, due_at, extra, updated_at)
values ('$ch', '$owner', 'Walk 10k', 'open', 40, '{\"k\": [1, 2]}',
        '2026-12-24 18:00:00+01', 'not declared', '2026-12-01 10:00:00.5+00');
insert into public.journey_progress (id, user_id, step) values ('$jp', '$owner', 3);
" || e2e_bail "cannot create the declared tables"

reads() {
	local n
	n=$(grep -c "method=GET path=/$1" -- "$ORIGIN_LOG" 2>/dev/null) || true
	printf '%s\n' "${n:-0}"
}

# --- a row in its declared shape, miss then hit --------------------------------------
r0=$(reads challenges)
http GET "/challenges/$ch"
is "$HTTP_STATUS" 200 "a declared resource's row is read"
is "$(header X-Cache)" MISS "the first read is a miss"
is "$HTTP_BODY" "{\"challenge\":{\"id\":\"$ch\",\"user_id\":\"$owner\",\"title\":\"Walk 10k\",\"status\":\"open\",\"percent\":40,\"meta\":{\"k\":[1,2]},\"due_at\":\"2026-12-24T17:00:00.000000Z\",\"created_at\":$(json .challenge.created_at | jq -R .),\"updated_at\":\"2026-12-01T10:00:00.500000Z\"},\"sync\":\"synced\"}" \
	"the declared fields in order, under the item name, timestamps in UTC; an undeclared column is left out"
like "$(json .challenge.created_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z$' "created_at is RFC 3339 UTC"
etag=$(header ETag)
like "$etag" '^"[0-9a-f]{16}"$' "a strong ETag"
is "$(header Cache-Control)" no-cache "Cache-Control asks for revalidation"
first=$HTTP_BODY
is "$(($(reads challenges) - r0))" 1 "the miss asked the database once"

http GET "/challenges/$ch"
is "$HTTP_STATUS" 200 "the second read is 200"
is "$(header X-Cache)" HIT "the second read is a hit"
is "$HTTP_BODY" "$first" "a hit serves the same bytes"
is "$(($(reads challenges) - r0))" 1 "a hit does not ask the database"

http GET "/challenges/$ch" -H "If-None-Match: $etag"
is "$HTTP_STATUS" 304 "If-None-Match with the ETag: 304"
is "$HTTP_BODY" "" "a 304 has no body"
http HEAD "/challenges/$ch"
is "$HTTP_STATUS" 200 "HEAD is answered"

# The cache key is the resource's own: the same id under profiles is another row.
http GET "/profiles/$ch"
is "$HTTP_STATUS" 404 "the challenge's id is no profile"

# --- missing rows, bad ids, undeclared resources -------------------------------------
r0=$(reads challenges)
http GET "/challenges/$ghost"
is "$HTTP_STATUS" 404 "a missing row is 404"
is "$HTTP_BODY" '{"error":{"code":"not_found","message":"challenge not found"}}' \
	"the 404 names the item"
http GET "/challenges/$ghost"
is "$HTTP_STATUS" 404 "still 404"
is "$(($(reads challenges) - r0))" 1 "the 404 is cached (negative_ttl of the resource)"

http GET "/challenges/not-a-uuid"
is "$HTTP_STATUS" 400 "a bad id is 400"
is "$(json .error.code)" invalid_id "its code is invalid_id"
http GET "/challenges/${ch^^}"
is "$HTTP_STATUS" 400 "an upper-case UUID is refused as for profiles"
http GET "/playlists/$ch"
is "$HTTP_STATUS" 404 "an undeclared resource is 404"
is "$(json .error.message)" "no such resource" "and says so"
http GET "/challenges/$ch/extra"
is "$HTTP_STATUS" 404 "a longer path under a declared resource is 404"

# Writes to declared resources are not served yet: 405, with what is.
http PATCH "/challenges/$ch" -H 'Content-Type: application/json' -d '{"title":"x"}'
is "$HTTP_STATUS" 405 "PATCH on a declared resource is 405"
is "$(header Allow)" "GET, HEAD, OPTIONS" "Allow lists what it answers"

# --- read = owner: hidden from everyone but the owner and the admin --------------------
http GET "/journey_progress/$ghost"
missing_body=$HTTP_BODY missing_headers=$(grep -v -i '^date:' <<<"$HTTP_HEADERS" | sort)
http GET "/journey_progress/$jp"
is "$HTTP_STATUS" 404 "without a token an owner-only row is 404"
is "$HTTP_BODY" "$missing_body" "with the body of a missing row"
is "$(grep -v -i '^date:' <<<"$HTTP_HEADERS" | sort)" "$missing_headers" \
	"and the same headers"
http GET "/journey_progress/$jp" -H "Authorization: Bearer $(jwt_hs256 "$other")"
is "$HTTP_STATUS" 404 "another user gets 404"
http GET "/journey_progress/$jp" -H "Authorization: Bearer $(jwt_hs256 "$owner")"
is "$HTTP_STATUS" 200 "its owner (user_id) reads it"
is "$(json .journey_progress.step)" 3 "the row, under the resource's name (no item given)"
is "$(header Cache-Control)" "private, no-cache" "no shared cache may keep it"
http GET "/journey_progress/$jp" -H "apikey: $(admin_key)"
is "$HTTP_STATUS" 200 "the admin reads it"

# --- the route's counter, and profiles as before ------------------------------------------
http GET "/metrics"
like "$(grep '^profilecache_requests_total{route="resource_get",status="200"}' <<<"$HTTP_BODY")" ' [1-9][0-9]*$' \
	"reads of declared resources are counted under route resource_get"
http GET "/profiles/$SAMPLE_PROFILE_ID"
is "$HTTP_STATUS" 200 "profiles are read as before"
