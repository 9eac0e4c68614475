#!/usr/bin/env bash
# Tables declared as data ([resource NAME] and [field NAME.FIELD] sections),
# created by what profilecache-admin sql prints, served through the web
# server, memcached, the journal, the flusher and PostgreSQL: reads (the row
# in its declared shape, hit, miss, 304, negative caching, bad and unknown
# ids, an undeclared resource, a read = owner table hidden from everyone but
# its owner exactly as a missing row), deferred writes by the row's owner
# (PATCH, PUT creating, POST with a new id; another user's row refused; the
# fields checked as declared), the flusher applying them, a change the
# database refuses dead-lettered and shown as failed, and DELETE.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

decl=$(mktemp "${PC_TEST_TMP:-/tmp}/pc-resource.XXXXXX")
cat >"$decl" <<'INI'

[resource tasks]
item = task
owner = user_id
negative_ttl = 60
[field tasks.id]
type = uuid
policy = readonly
[field tasks.user_id]
type = uuid
policy = server
filter = true
[field tasks.title]
type = text
max_length = 120
[field tasks.status]
type = enum
values = open, done
filter = true
[field tasks.percent]
type = integer
min = 0
max = 100
sort = true
[field tasks.meta]
type = json
[field tasks.due_at]
type = timestamp
[field tasks.created_at]
type = timestamp
policy = server
[field tasks.updated_at]
type = timestamp
policy = server

[resource notes]
owner = user_id
visibility = is_private
[field notes.id]
type = uuid
policy = readonly
[field notes.user_id]
type = uuid
policy = server
filter = true
[field notes.body]
type = text
filter = true
[field notes.is_private]
type = boolean
filter = true
[field notes.updated_at]
type = timestamp
policy = server

[resource steps]
owner = user_id
read = owner
[field steps.id]
type = uuid
policy = readonly
[field steps.user_id]
type = uuid
policy = server
filter = true
[field steps.step]
type = integer
[field steps.updated_at]
type = timestamp
policy = server
INI
PC_CONF_APPEND=$decl e2e_start
rm -f -- "$decl"
plan 130

ch=3d1c5a7e-2b4f-4c6d-8e9f-0a1b2c3d4e5f
jp=4e2d6b8f-3c5a-4d7e-9f0a-1b2c3d4e5f60
ghost=5f0c1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b
owner=$SAMPLE_PROFILE_ID
other=0c4b6a1e-8f0a-4d5e-9b2c-3d4e5f6a7b8c

# The tables, from the migration profilecache-admin sql prints for the
# declarations, then a column nobody declared, a check only the database
# makes, and the rows.
"$PC_BUILDDIR/profilecache-admin" --config "$CONFIG_PATH" sql >"$E2E_DIR/resources.sql" ||
	e2e_bail "profilecache-admin sql failed"
PGOPTIONS="-c client_min_messages=warning" "$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f "$E2E_DIR/resources.sql" >/dev/null ||
	e2e_bail "the printed migration did not load"
PGOPTIONS="-c client_min_messages=warning" "$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f "$E2E_DIR/resources.sql" >/dev/null ||
	e2e_bail "the printed migration did not load a second time"
psql_exec "
alter table public.tasks add column extra text;
alter table public.tasks add constraint tasks_no_forbidden check (title <> 'forbidden');
insert into public.tasks (id, user_id, title, status, percent, meta, due_at, extra, updated_at)
values ('$ch', '$owner', 'Walk 10k', 'open', 40, '{\"k\": [1, 2]}',
        '2026-12-24 18:00:00+01', 'not declared', '2026-12-01 10:00:00.5+00');
insert into public.steps (id, user_id, step) values ('$jp', '$owner', 3);
" || e2e_bail "cannot fill the declared tables"

FLUSH=$PC_BUILDDIR/profilecache-flush
flush() { "$FLUSH" --config "$CONFIG_PATH" >"$VAR_DIR/flush.out" 2>"$VAR_DIR/flush.err"; }
user() { printf 'Authorization: Bearer %s' "$(jwt_hs256 "$1")"; }

# The status line and the headers profilecache writes, sorted: what a hidden
# row must share with a missing one. The web server's own per-connection
# headers (Date, Connection, Keep-Alive, and its framing) are not compared.
app_headers() {
	grep -i -E '^(HTTP/|content-type:|cache-control:|vary:|etag:|x-cache:|x-content-type-options:|retry-after:|www-authenticate:|access-control-|location:|allow:)' \
		<<<"$HTTP_HEADERS" | sort
}

reads() {
	local n
	n=$(grep -c "method=GET path=/$1" -- "$ORIGIN_LOG" 2>/dev/null) || true
	printf '%s\n' "${n:-0}"
}

# --- a row in its declared shape, miss then hit --------------------------------------
r0=$(reads tasks)
http GET "/tasks/$ch"
is "$HTTP_STATUS" 200 "a declared resource's row is read"
is "$(header X-Cache)" MISS "the first read is a miss"
is "$HTTP_BODY" "{\"task\":{\"id\":\"$ch\",\"user_id\":\"$owner\",\"title\":\"Walk 10k\",\"status\":\"open\",\"percent\":40,\"meta\":{\"k\":[1,2]},\"due_at\":\"2026-12-24T17:00:00.000000Z\",\"created_at\":$(json .task.created_at | jq -R .),\"updated_at\":$(json .task.updated_at | jq -R .)},\"sync\":\"synced\"}" \
	"the declared fields in order, under the item name, timestamps in UTC; an undeclared column is left out"
is "$(psql_exec "select string_agg(k, ',' order by k) from public.tasks, jsonb_object_keys(field_versions) k where id = '$ch'")" \
	"due_at,meta,percent,status,title,user_id" \
	"an insert made outside profilecache is versioned: each column it set (its updated_at is the version)"
like "$(json .task.created_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z$' "created_at is RFC 3339 UTC"
etag=$(header ETag)
like "$etag" '^"[0-9a-f]{16}"$' "a strong ETag"
is "$(header Cache-Control)" no-cache "Cache-Control asks for revalidation"
first=$HTTP_BODY
is "$(($(reads tasks) - r0))" 1 "the miss asked the database once"

http GET "/tasks/$ch"
is "$HTTP_STATUS" 200 "the second read is 200"
is "$(header X-Cache)" HIT "the second read is a hit"
is "$HTTP_BODY" "$first" "a hit serves the same bytes"
is "$(($(reads tasks) - r0))" 1 "a hit does not ask the database"

http GET "/tasks/$ch" -H "If-None-Match: $etag"
is "$HTTP_STATUS" 304 "If-None-Match with the ETag: 304"
is "$HTTP_BODY" "" "a 304 has no body"
http HEAD "/tasks/$ch"
is "$HTTP_STATUS" 200 "HEAD is answered"

# The cache key is the resource's own: the same id under profiles is another row.
http GET "/profiles/$ch"
is "$HTTP_STATUS" 404 "the task's id is no profile"

# --- missing rows, bad ids, undeclared resources -------------------------------------
r0=$(reads tasks)
http GET "/tasks/$ghost"
is "$HTTP_STATUS" 404 "a missing row is 404"
is "$HTTP_BODY" '{"error":{"code":"not_found","message":"task not found"}}' \
	"the 404 names the item"
http GET "/tasks/$ghost"
is "$HTTP_STATUS" 404 "still 404"
is "$(($(reads tasks) - r0))" 1 "the 404 is cached (negative_ttl of the resource)"

http GET "/tasks/not-a-uuid"
is "$HTTP_STATUS" 400 "a bad id is 400"
is "$(json .error.code)" invalid_id "its code is invalid_id"
http GET "/tasks/${ch^^}"
is "$HTTP_STATUS" 400 "an upper-case UUID is refused as for profiles"
http GET "/playlists/$ch"
is "$HTTP_STATUS" 404 "an undeclared resource is 404"
is "$(json .error.message)" "no such resource" "and says so"
http GET "/tasks/$ch/extra"
is "$HTTP_STATUS" 404 "a longer path under a declared resource is 404"

# --- read = owner: hidden from everyone but the owner and the admin --------------------
http GET "/steps/$ghost"
is "$HTTP_STATUS" 404 "a missing owner-only row is 404 (what a hidden one is compared with)"
missing_body=$HTTP_BODY missing_headers=$(app_headers)
http GET "/steps/$jp"
is "$HTTP_STATUS" 404 "without a token an owner-only row is 404"
is "$HTTP_BODY" "$missing_body" "with the body of a missing row"
hidden_headers=$(app_headers)
# When they differ, the check's own description says how (CI shows only that).
is "$hidden_headers" "$missing_headers" \
	"and the same headers$([[ $hidden_headers == "$missing_headers" ]] ||
		printf ' (missing < > hidden: %s)' "$(diff <(printf '%s\n' "$missing_headers") \
			<(printf '%s\n' "$hidden_headers") | grep '^[<>]' | tr '\n' ' ')")"
http GET "/steps/$jp" -H "Authorization: Bearer $(jwt_hs256 "$other")"
is "$HTTP_STATUS" 404 "another user gets 404"
http GET "/steps/$jp" -H "Authorization: Bearer $(jwt_hs256 "$owner")"
is "$HTTP_STATUS" 200 "its owner (user_id) reads it"
is "$(json .steps.step)" 3 "the row, under the resource's name (no item given)"
is "$(header Cache-Control)" "private, no-cache" "no shared cache may keep it"
http GET "/steps/$jp" -H "apikey: $(admin_key)"
is "$HTTP_STATUS" 200 "the admin reads it"

# --- deferred writes by the owner ----------------------------------------------------
json_h='Content-Type: application/json'
http PATCH "/tasks/$ch" -H "$json_h" -d '{"title":"x"}'
is "$HTTP_STATUS" 401 "a write without credentials is 401"
http PATCH "/tasks/$ch" -H "$json_h" -H "$(user "$other")" -d '{"title":"mine now"}'
is "$HTTP_STATUS" 403 "another user may not change the row"
is "$(json .error.message)" "only the owner may change this task" "and is told why"
http PATCH "/tasks/$ch" -H "$json_h" -H "$(user "$owner")" \
	-d '{"percent":101,"status":"later","colour":1,"user_id":"'"$other"'"}'
is "$HTTP_STATUS" 422 "fields are checked as declared"
is "$(jq -c '.error.fields' <<<"$HTTP_BODY")" \
	'{"percent":"must be a whole number from 0 to 100","status":"must be one of: open, done","colour":"unknown field; allowed: title, status, percent, meta, due_at","user_id":"read-only"}' \
	"each refused field has its reason; the owner field is not the client's"
http PATCH "/tasks/$ch" -H "$json_h" -H "$(user "$owner")" -d '{"title":"Walk 12k","percent":55}'
is "$HTTP_STATUS" 202 "the owner's PATCH is acknowledged"
is "$(jq -c '[.task.title, .task.percent, .task.status, .sync]' <<<"$HTTP_BODY")" \
	'["Walk 12k",55,"open","pending"]' "the answer is the row with the change, pending"
http GET "/tasks/$ch"
is "$(jq -c '[.task.title, .sync]' <<<"$HTTP_BODY")" '["Walk 12k","pending"]' \
	"a read shows the acknowledged change"

new=6a1f3c5e-7b9d-4e2f-8a0b-1c2d3e4f5a6b
http PUT "/tasks/$new" -H "$json_h" -H "$(user "$other")" -d '{"title":"Read a book","status":"open"}'
is "$HTTP_STATUS/$(json .sync)" 200/synced \
	"a user's PUT of a new id creates the row through the database (which sets its owner once)"
is "$(json .task.user_id)" "$other" "owned by whoever created it"
http PUT "/tasks/$new" -H "$json_h" -H "$(user "$owner")" -d '{"title":"Mine"}'
is "$HTTP_STATUS" 403 "another user's PUT of that id is refused"
mc_flush
http PUT "/tasks/$new" -H "$json_h" -H "$(user "$owner")" -d '{"title":"Mine"}'
is "$HTTP_STATUS" 403 "also with nothing cached"
is "$(psql_exec "select public.profilecache_apply('task', jsonb_build_array(jsonb_build_object('id', '$new', 'patch', jsonb_build_object('user_id', '$owner', 'title', 'Mine'), 'updated_at', now() + interval '1 hour'))) #>> '{results,0,code}'")" \
	owner_conflict "the database refuses another owner for a row, whatever sends it"
http DELETE "/tasks/5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d" -H "$(user "$owner")"
is "$HTTP_STATUS" 404 "a user's DELETE of an id nobody here knows is 404"
is "$(psql_exec "select count(*) from profilecache.tombstones where id = '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d'")" 0 \
	"and leaves no tombstone (which could cancel another user's create waiting in a journal)"
http POST "/tasks" -H "$json_h" -H "$(user "$owner")" -d '{"title":"Swim","status":"open"}'
is "$HTTP_STATUS" 202 "POST creates a row under a new id"
posted=$(json .task.id)
like "$posted" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "a random (v4) UUID"
is "$(header Location)" "tasks/$posted" "Location names it"
chosen=7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f
http POST "/tasks" -H "$json_h" -H "$(user "$owner")" -d '{"id":"'"$chosen"'","title":"Chosen"}'
is "$HTTP_STATUS/$(header Location)/$(json .sync)" "201/tasks/$chosen/synced" \
	"POST may choose the id (a user's goes through the database: someone else may have chosen it too)"
http POST "/tasks" -H "$json_h" -H "$(user "$owner")" -d '{"id":"'"$chosen"'","title":"Again"}'
is "$HTTP_STATUS/$(json .error.code)" 409/already_exists "a POST of an id that has a row is 409"
http POST "/tasks" -H "$json_h" -H "$(user "$owner")" -d '{"id":"'"${chosen^^}"'","title":"Bad"}'
is "$HTTP_STATUS/$(json .error.code)" 400/invalid_id "a chosen id must be a canonical UUID"
http DELETE "/tasks/$chosen" -H "$(user "$owner")"
is "$HTTP_STATUS" 204 "(and it goes again)"
http PATCH "/tasks/$ch" -H "$json_h" -H "$(user "$owner")" -d '{"title":"forbidden"}'
is "$HTTP_STATUS" 202 "a value only the database refuses is acknowledged first"
http PATCH "/tasks/$ch" -H "$json_h" -H "$(user "$owner")" -d '{"meta":{"laps":3}}'
is "$HTTP_STATUS" 202 "a later change of another field"

# --- the flusher applies them ---------------------------------------------------------
flush_rc=0
flush || flush_rc=$?
is "$flush_rc" 65 "the flusher ran, and says that it dead-lettered a change (65)"
is "$(psql_exec "select title || '|' || percent || '|' || meta::text from public.tasks where id = '$ch'")" \
	'Walk 12k|55|{"laps": 3}' "the database holds the changes; the refused one is not there"
is "$(psql_exec "select user_id || '|' || title from public.tasks where id = '$new'")" \
	"$other|Read a book" "the PUT's row, with its owner"
is "$(psql_exec "select user_id from public.tasks where id = '$posted'")" "$owner" "the POST's row"
is "$(sqlite3 "$JOURNAL_PATH" "select state || ':' || count(*) from changes where resource = 'task' group by state order by state" | tr '\n' ' ')" \
	"applied:3 dead:1 " "three changes applied, the refused one dead-lettered"
http GET "/tasks/$ch"
is "$(jq -c '[.task.title, .task.meta, .sync, .failed]' <<<"$HTTP_BODY")" \
	'["Walk 12k",{"laps":3},"failed",["title"]]' \
	"a read shows the database's value of a field it refused, and says so"
mc_flush
http GET "/tasks/$ch"
is "$(jq -c '[.task.title, .sync, .failed]' <<<"$HTTP_BODY")" '["Walk 12k","failed",["title"]]' \
	"rebuilt from the database and the journal: the database's value, still failed"

# --- cached lists ------------------------------------------------------------------------
ids() { jq -r '[.tasks[].id] | join(" ")' <<<"$HTTP_BODY"; }
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
r0=$(reads tasks)
http GET "/tasks?user_id=eq.$owner"
is "$HTTP_STATUS/$(($(reads tasks) - r0))" 200/1 "a list of the owner's rows, from the database"
is "$(ids)" "$(sorted "$ch" "$posted")" "their rows, by id"
is "$(header X-Cache)" "" "(no X-Cache: it would tell whether someone else just asked)"
http GET "/tasks?user_id=eq.$owner"
is "$(($(reads tasks) - r0))/$(ids)" "1/$(sorted "$ch" "$posted")" "then from the cache"
http GET "/tasks?user_id=eq.$owner&order=percent.desc"
is "$(ids)" "$posted $ch" "order=percent.desc: nulls first, as PostgreSQL orders"
http GET "/tasks?user_id=eq.$owner&limit=1"
is "$(jq -r '.tasks | length' <<<"$HTTP_BODY")/$(json .next_offset)" 1/1 "limit=1: one row, and where the next page starts"
http GET "/tasks?user_id=eq.$owner&limit=1&offset=1"
is "$(ids)" "$(sorted "$ch" "$posted" | cut -d' ' -f2)" "offset=1: the next row"
http GET "/tasks?status=eq.open&user_id=eq.$owner"
is "$(ids)" "$(sorted "$ch" "$posted")" "two filters"
http PATCH "/tasks/$posted" -H "$json_h" -H "$(user "$owner")" -d '{"status":"done"}'
is "$HTTP_STATUS" 202 "a write moves a row out of that filter"
r0=$(reads tasks)
http GET "/tasks?status=eq.open&user_id=eq.$owner"
is "$HTTP_STATUS/$(($(reads tasks) - r0))/$(ids)" "200/0/$ch" \
	"the cached page no longer shows it (each row is shown as a read shows it)"
flush || true
r0=$(reads tasks)
http GET "/tasks?status=eq.done"
is "$(($(reads tasks) - r0))/$(ids)" "1/$posted" "flushed: the pages of the table are asked for again, and it is in the other filter's"
# A page filtered on its owner has the owner's own generation: another
# owner's flushed row leaves it cached. (The flusher's look for outside
# changes sees again the rows changed in its last 10 s, and moves their
# owners' generations on again: the owner here has no row.)
third=2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901
http GET "/tasks?user_id=eq.$third"
r0=$(reads tasks)
http POST "/tasks" -H "$json_h" -H "$(user "$other")" -d '{"title":"Theirs","status":"open"}'
theirs=$(json .task.id)
flush || true
r1=$(reads tasks)
http GET "/tasks?user_id=eq.$third"
is "$(($(reads tasks) - r1))/$(json '.tasks | length')" 0/0 "another owner's flushed row leaves this owner's cached pages alone"
http GET "/tasks?user_id=eq.$other"
is "$(($(reads tasks) - r1))/$(grep -c -- "$theirs" <<<"$(ids)")" 1/1 "that owner's pages are asked for again, and show it"
http GET "/tasks?status=eq.open"
like " $(ids) " " $theirs " "and so are the pages not filtered on an owner"
http POST "/tasks" -H "$json_h" -H "$(user "$owner")" -d '{"title":"Run","status":"open"}'
pending_id=$(json .task.id)
http GET "/tasks?user_id=eq.$owner"
unlike " $(ids) " " $pending_id " "a row created here and not flushed yet is not in anyone's list"
http GET "/tasks?user_id=eq.$owner" -H "$(user "$owner")"
like " $(ids) " " $pending_id " "but in its owner's"
is "$(jq -r --arg id "$pending_id" '.sync[$id]' <<<"$HTTP_BODY")" pending "marked pending"

# Many writes: one owner's rows move between the statuses and change their
# titles, written behind and flushed after every third write; after each
# flush, every page filtered on a status or on the owner must hold exactly
# the rows the database has there, with their titles (a page of one status
# stays cached across changes that leave other rows' statuses alone).
mw_owner=3c4d5e6f-7081-4293-a4b5-c6d7e8f9a012
mw_ids=()
for i in 1 2 3 4; do
	http POST "/tasks" -H "$json_h" -H "$(user "$mw_owner")" -d "{\"title\":\"mw $i\",\"status\":\"open\"}"
	mw_ids+=("$(json .task.id)")
done
flush || true
# mw_page QUERY: the owner's rows in that page, "id title" sorted; mw_db WHERE: the database's.
mw_page() {
	http GET "/tasks?$1&limit=100"
	jq -r --arg o "$mw_owner" '.tasks[] | select(.user_id == $o) | "\(.id) \(.title)"' <<<"$HTTP_BODY" | LC_ALL=C sort
}
mw_db() { psql_exec "select id || ' ' || title from tasks where user_id = '$mw_owner' and $1" | LC_ALL=C sort; }
mw_bad=0 mw_checks=0
for i in $(seq 1 24); do
	if ((RANDOM % 2)); then
		st=open
		((RANDOM % 2)) && st='done'
		body="{\"status\":\"$st\"}"
	else
		body="{\"title\":\"mw $i\"}"
	fi
	http PATCH "/tasks/${mw_ids[RANDOM % 4]}" -H "$json_h" -H "$(user "$mw_owner")" -d "$body"
	[[ $HTTP_STATUS == 202 ]] || { diag "write $i: $HTTP_STATUS"; mw_bad=$((mw_bad + 1)); }
	((i % 3 == 0)) || continue
	flush || true
	for q in status=eq.open status=eq.done "user_id=eq.$mw_owner"; do
		case $q in
		status=*) where="status = '${q#status=eq.}'" ;;
		*) where=true ;;
		esac
		mw_checks=$((mw_checks + 1))
		if [[ "$(mw_page "$q")" != "$(mw_db "$where")" ]]; then
			diag "after write $i, $q: page [$(mw_page "$q" | tr '\n' ',')] database [$(mw_db "$where" | tr '\n' ',')]"
			mw_bad=$((mw_bad + 1))
		fi
	done
done
is "$mw_bad/$mw_checks" 0/24 "24 writes behind, flushed every third: each of the 24 filtered pages checked matched the database"
for bad in 'title=eq.x' 'status=like.o*' 'limit=101' 'order=title.desc' "user_id=eq.${owner^^}" 'status=eq.later' 'offset=-1' 'percent=eq.5' 'user_id'; do
	http GET "/tasks?$bad"
	is "$HTTP_STATUS/$(json .error.code)" 400/invalid_query "?$bad is refused"
done
# Behind a CGI server a query without '=' is also the program's arguments.
http GET "/tasks?--config+/dev/null"
is "$HTTP_STATUS/$(json .error.code)" 400/invalid_query "a query that looks like options is a bad query, nothing else"
http GET "/steps"
is "$HTTP_STATUS" 403 "an owner-only table is not listed for everyone"
http GET "/steps?user_id=eq.$owner" -H "$(user "$other")"
is "$HTTP_STATUS" 403 "nor for another user"
http GET "/steps?user_id=eq.$owner" -H "$(user "$owner")"
is "$HTTP_STATUS/$(jq -r '[.steps[].id] | join(" ")' <<<"$HTTP_BODY")/$(header Cache-Control)" \
	"200/$jp/private, no-cache" "its owner lists their rows, which no shared cache may keep"

# --- hidden rows in lists ---------------------------------------------------------------
psql_exec "insert into public.notes (id, user_id, body, is_private) values
	('8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c01', '$owner', 'public note', false),
	('8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c02', '$owner', 'secret one', true),
	('8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c03', '$owner', 'secret two', true)"
nids() { jq -r '[.notes[].body] | join(",")' <<<"$HTTP_BODY"; }
http GET "/notes?user_id=eq.$owner&limit=2"
is "$HTTP_STATUS/$(nids)/$(json .next_offset)" "200/public note/null" \
	"to others a list leaves hidden rows out before it counts (next_offset tells nothing of them)"
http GET "/notes?user_id=eq.$owner&is_private=eq.true"
is "$(nids)/$(json .next_offset)" "/null" "not even filtered on them"
http GET "/notes?body=eq.secret%20one" -H "$(user "$other")"
is "$(nids)" "" "nor to another user"
http GET "/notes?user_id=eq.$owner" -H "Authorization: Bearer $(jwt_hs256 "$owner" anon)"
is "$(nids)" "public note" "nor to a token of another role with the owner's sub"
http GET "/notes?user_id=eq.$owner&is_private=eq.true" -H "$(user "$owner")"
is "$(nids)/$(header Cache-Control)" "secret one,secret two/private, no-cache" "their owner, filtering on themselves, sees them"

# --- read = owner: writes hide the row too -----------------------------------------------
http PATCH "/steps/$jp" -H "$json_h" -H "$(user "$other")" -d '{"step":4}'
is "$HTTP_STATUS/$HTTP_BODY" "404/$missing_body" "another user's write to an owner-only row is 404, as a missing one"
http PATCH "/steps/$jp" -H "$json_h" -H "$(user "$other")" -H 'If-Match: *' -d '{"step":4}'
is "$HTTP_STATUS" 404 "also with If-Match: * (412 would tell that it exists)"
http DELETE "/steps/$jp" -H "$(user "$other")"
is "$HTTP_STATUS/$HTTP_BODY" "404/$missing_body" "and so is their DELETE"
http PATCH "/steps/$jp" -H "$json_h" -H "$(user "$owner")" -d '{"step":4}'
is "$HTTP_STATUS" 202 "its owner writes it"
http PUT "/steps/$jp" -H "$json_h" -H "$(user "$other")" -d '{"step":1}'
hidden_put="$HTTP_STATUS/$HTTP_BODY"
http PUT "/steps/$ghost" -H "$json_h" -H "$(user "$other")" -d '{"step":1}'
is "$hidden_put|$HTTP_STATUS/$HTTP_BODY" "404/$missing_body|404/$missing_body" \
	"a user's PUT of a chosen id answers the same for a hidden row and a free id (they create with POST)"
http POST "/steps" -H "$json_h" -H "$(user "$other")" -d '{"step":1}'
is "$HTTP_STATUS/$(json .steps.user_id)" "202/$other" "a POST without an id creates their row"

# --- delete ------------------------------------------------------------------------------
http DELETE "/tasks/$ch" -H "$(user "$other")"
is "$HTTP_STATUS" 403 "another user may not delete the row"
http DELETE "/tasks/$ch" -H "$(user "$owner")"
is "$HTTP_STATUS" 204 "its owner deletes it"
http GET "/tasks/$ch"
is "$HTTP_STATUS" 404 "then it is gone"
is "$(psql_exec "select count(*) from public.tasks where id = '$ch'")" 0 "from the database too"
http DELETE "/tasks/$ch" -H "apikey: $(admin_key)"
is "$HTTP_STATUS" 404 "deleting it again is 404"
is "$(psql_exec "select public.profilecache_apply('task', jsonb_build_array(jsonb_build_object('id', '$ch', 'patch', jsonb_build_object('title', 'before the delete', 'percent', 1), 'versions', jsonb_build_object('title', ((extract(epoch from now()) - 3600) * 1000000)::bigint), 'updated_at', now() + interval '1 hour'))) #>> '{results,0,status}'")|$(psql_exec "select coalesce(title, '<null>') || '|' || percent from public.tasks where id = '$ch'")" \
	"applied|<null>|1" "a row recreated after a delete takes only the fields newer than the tombstone"

# --- the example configuration's resources ------------------------------------------------
# The local schema holds what profilecache-admin sql prints for them.
printf '[origin]\nurl = http://127.0.0.1:1\nservice_key_file = %s\n' "$SERVICE_KEY_FILE" >"$E2E_DIR/example.conf"
sed -n '/^\[resource /,$p' "$PC_ROOT/etc/profilecache.conf.example" >>"$E2E_DIR/example.conf"
is "$("$PC_BUILDDIR/profilecache-admin" --config "$E2E_DIR/example.conf" sql | diff - "$PC_ROOT/schema/postgres/local/example_resources.sql" && echo same)" same \
	"schema/postgres/local/example_resources.sql is what profilecache-admin sql prints for the example"
# And 30_apply.sql registers profiles as it prints them: the section from
# "-- [resource profiles]" to the next empty line.
# (Files, not pipes: awk stops reading at the section's end.)
profiles_section() { awk '/^-- \[resource profiles\]/ { p = 1 } p && /^$/ { exit } p' "$1"; }
"$PC_BUILDDIR/profilecache-admin" --config "$E2E_DIR/example.conf" sql >"$E2E_DIR/example.sql"
profiles_section "$E2E_DIR/example.sql" >"$E2E_DIR/profiles.printed"
profiles_section "$PC_ROOT/schema/postgres/30_apply.sql" >"$E2E_DIR/profiles.shipped"
is "$(grep -c '^insert into profilecache.resources' "$E2E_DIR/profiles.printed")|$(diff "$E2E_DIR/profiles.printed" "$E2E_DIR/profiles.shipped" && echo same)" "1|same" \
	"schema/postgres/30_apply.sql registers profiles as profilecache-admin sql prints them"
http GET "/challenges/3d1c5a7e-2b4f-4c6d-8e9f-0a1b2c3d4e01"
is "$HTTP_STATUS/$(json .challenge.title)/$(json .challenge.status)" "200/Walk 10k steps/active" \
	"the example's challenges are served"
http GET "/journey_progress/4e2d6b8f-3c5a-4d7e-9f0a-1b2c3d4e5f01"
is "$HTTP_STATUS" 404 "its journey progress is its owner's only"
http GET "/journey_progress/4e2d6b8f-3c5a-4d7e-9f0a-1b2c3d4e5f01" -H "$(user "$owner")"
is "$HTTP_STATUS/$(json .journey_progress.percent)" 200/60 "and its owner reads it"
http PATCH "/journey_progress/4e2d6b8f-3c5a-4d7e-9f0a-1b2c3d4e5f01" -H "$json_h" -H "$(user "$owner")" \
	-d '{"journey":"On Boarding"}'
is "$HTTP_STATUS/$(json .error.fields.journey)" "422/must be 1 to 64 characters of a-z, 0-9, _ and -" \
	"a pattern's own message"

# --- a migration not loaded yet: changes wait, never dead-lettered ----------------------
psql_exec "update profilecache.resources set columns = array_remove(columns, 'meta') where name = 'task'"
http PATCH "/tasks/$new" -H "$json_h" -H "$(user "$other")" -d '{"meta":{"v":2}}'
is "$HTTP_STATUS" 202 "a change of a column the database's registry lacks is acknowledged"
flush_rc=0
flush || flush_rc=$?
is "$flush_rc/$(sqlite3 "$JOURNAL_PATH" "select state from changes where resource = 'task' order by seq desc limit 1")" \
	75/pending "the flusher retries it (75), it is not dead-lettered"
psql_exec "update profilecache.resources set columns = array_append(columns, 'meta') where name = 'task'"
sqlite3 "$JOURNAL_PATH" "update changes set next_attempt_at = 0 where state = 'pending'"
flush_rc=0
flush || flush_rc=$?
is "$flush_rc/$(psql_exec "select meta::text from public.tasks where id = '$new'")" '0/{"v": 2}' \
	"once the migration is loaded it is applied"

# --- changes made outside reach the cache at the next flush ------------------------------
http GET "/tasks/$new"
is "$(json .task.title)" "Read a book" "(cached)"
psql_exec "update public.tasks set title = 'Edited in the dashboard' where id = '$new'"
flush || true
http GET "/tasks/$new"
is "$(header X-Cache)/$(json .task.title)" "HIT/Edited in the dashboard" \
	"the flusher brings a row changed outside into the cache"
psql_exec "delete from public.tasks where id = '$new'"
is "$(psql_exec "select count(*) from profilecache.tombstones where resource = 'task' and id = '$new'")" 1 \
	"a delete made outside profilecache leaves a tombstone too"
flush || true
http GET "/tasks/$new"
is "$HTTP_STATUS" 404 "and the flusher drops the row's cache entry"

# --- the route's counter, and profiles as before ------------------------------------------
http GET "/metrics"
like "$(grep '^profilecache_requests_total{route="resource_get",resource="tasks",status="200"}' <<<"$HTTP_BODY")" ' [1-9][0-9]*$' \
	"reads of declared resources are counted under route resource_get, labelled with the resource"
like "$(grep '^profilecache_requests_total{route="resource_list",resource="steps",status="403"}' <<<"$HTTP_BODY")" ' [1-9][0-9]*$' \
	"each resource has its own series (steps' refused lists)"
http GET "/profiles/$SAMPLE_PROFILE_ID"
is "$HTTP_STATUS" 200 "profiles are read as before"
