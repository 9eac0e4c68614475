#!/usr/bin/env bash
# profilecache-admin against a real stack: status (text, JSON, exit codes),
# dead list, dead retry and drop (all or nothing), init, check-config,
# check-origin (against the stack's database, and through a second origin
# over a database that has only the Supabase starter's profiles table), paths
# (against the files the running stack made), usage.
# Journal entries come from real PATCH requests; dead ones are made with the
# sqlite3 CLI, as the flusher would leave them.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

ADMIN=$PC_BUILDDIR/profilecache-admin
[[ -x $ADMIN ]] || e2e_bail "$ADMIN is not built (run make)"

# Sixteen writes at once, during an admin command: each waits for the
# journal in turn, longer than the default 2 s on a loaded machine.
PC_CONF_SET="journal.busy_timeout_ms=10000" e2e_start
plan 102

alice=$SAMPLE_PROFILE_ID
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
carol=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03
svc=$(admin_key)
json=(-H 'Content-Type: application/json')
states=(pending applied conflict dead cancelled)

# run [--config FILE] ARG...: the admin tool; sets OUT, ERR and RC. Its
# stderr also goes to the stack's logs, where sanitizer reports fail the test.
run() {
	local conf=$CONFIG_PATH
	if [[ $1 == --config ]]; then conf=$2; shift 2; fi
	RC=0
	OUT=$("$ADMIN" --config "$conf" "$@" 2>"$E2E_DIR/admin.err") || RC=$?
	ERR=$(<"$E2E_DIR/admin.err")
	{ printf '$ profilecache-admin %s\n' "$*"; cat -- "$E2E_DIR/admin.err"; } >>"$VAR_DIR/log/admin.log"
}
# sq SQL: a query on the stack's journal.
sq() { sqlite3 "$JOURNAL_PATH" "$1"; }
# field LABEL: the value after "LABEL:" in the last status text.
field() { awk -v k="$1:" 'index($0, k) == 1 { sub(/^[^:]*:[ ]*/, ""); print; exit }' <<<"$OUT"; }
# counts_db / counts_text / counts_json: "pending=N applied=N ..." from the
# journal, the last status text, the last status JSON.
counts_db() {
	local s
	for s in "${states[@]}"; do printf '%s=%s ' "$s" "$(sq "select count(*) from changes where state = '$s'")"; done
}
counts_text() {
	local s
	for s in "${states[@]}"; do printf '%s=%s ' "$s" "$(field "$s")"; done
}
counts_json() {
	local s
	for s in "${states[@]}"; do printf '%s=%s ' "$s" "$(jq -r ".states.$s" <<<"$OUT")"; done
}
# snapshot: every row of the journal, to show that nothing changed.
snapshot() { sq "select group_concat(seq || ':' || state || ':' || attempts || ':' || next_attempt_at || ':' || ifnull(last_error, '-'), ',') from changes"; }
now_us() { echo $(($(date +%s%N) / 1000)); }

# --- before the first write ----------------------------------------------------------
nojournal=$E2E_DIR/nojournal.conf
pc__ini_set "$CONFIG_PATH" "$nojournal" "journal.path=$E2E_DIR/none/journal.db"
run --config "$nojournal" status
is "$RC/$OUT" "0/no journal yet at $E2E_DIR/none/journal.db" "status without a journal: says so, exit 0"
run --config "$nojournal" status --json
is "$RC/$(jq -c '[.exists, .states.pending, .states.dead]' <<<"$OUT")" "0/[false,0,0]" \
	"status --json without a journal: exists false, zeros"
ok "$([[ ! -e $E2E_DIR/none ]]; echo $?)" "and looking created nothing"

# --- entries from real writes -------------------------------------------------------------
codes=
for i in 1 2; do
	for id in "$alice" "$bob" "$carol"; do
		http PATCH "/profiles/$id" "${json[@]}" -H "apikey: $svc" --data "{\"bio\":\"admin $i\"}"
		codes+="$HTTP_STATUS "
	done
done
is "$codes" "202 202 202 202 202 202 " "six PATCHes acknowledged"
is "$(sq "select count(*) from changes where state = 'pending'")" 6 "six pending journal entries"

run status
is "$RC" 0 "status with nothing dead: exit 0"
is "$(counts_text)" "$(counts_db)" "status text: counts per state match the journal"
is "$(field 'last flush')/$(field 'last flush summary')" "never/never" "no flush yet: never"
like "$(field 'oldest pending')" '^[0-9]+ s$' "the oldest pending entry's age in seconds"

# --- dead letters, a retry wait and a flush record, as the flusher leaves them ---------------
read -r -a dead <<<"$(sq "select group_concat(seq, ' ') from (select seq from changes order by seq limit 3)")"
sq "update changes set state = 'dead', attempts = 8, last_error = 'origin: HTTP 503' where seq in (${dead[0]}, ${dead[1]}, ${dead[2]})"
waiting=$(sq "select max(seq) from changes")
sq "update changes set attempts = 2, next_attempt_at = $(($(now_us) + 3600000000)), last_error = 'timeout' where seq = $waiting"
flushed_us=$(($(now_us) - 90000000))
sq "insert into meta (key, value) values ('last_flush_at_us', '$flushed_us'), ('last_flush_summary', 'applied=0 conflicts=0 deleted=0 dead=3 retried=1 batches=1')"

run status
is "$RC" 1 "status with dead entries: exit 1"
is "$(counts_text)" "$(counts_db)" "status text: counts per state match the journal"
is "$(field dead)" 3 "three dead"
is "$(field '  due now')/$(field '  waiting to retry')" \
	"$(sq "select count(*) from changes where state = 'pending' and next_attempt_at <= $(now_us)")/$(sq "select count(*) from changes where state = 'pending' and next_attempt_at > $(now_us)")" \
	"pending due now and waiting for a retry match the journal"
like "$(field 'last flush')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z \(9[0-9] s ago\)$' \
	"last flush: RFC 3339 UTC and its age"
is "$(field 'last flush summary')" "applied=0 conflicts=0 deleted=0 dead=3 retried=1 batches=1" "last flush summary"
like "$OUT" 'attention: 3 dead entries' "a line that says what needs doing"

run status --json
is "$RC" 1 "status --json with dead entries: exit 1"
is "$(counts_json)" "$(counts_db)" "status JSON: counts per state match the journal"
is "$(jq -r '"\(.exists) \(.pending_due) \(.pending_waiting) \(.oldest_pending_age_s | type)"' <<<"$OUT")" \
	"true 2 1 number" "status JSON: due, waiting, age"
is "$(jq -r .last_flush_at <<<"$OUT")" "$(date -u -d "@$((flushed_us / 1000000))" +%Y-%m-%dT%H:%M:%S).$(printf '%06d' $((flushed_us % 1000000)))Z" \
	"status JSON: last_flush_at is the recorded time"
is "$(jq -r .last_flush_summary <<<"$OUT")" "applied=0 conflicts=0 deleted=0 dead=3 retried=1 batches=1" \
	"status JSON: last_flush_summary"

# --- dead list ---------------------------------------------------------------------------------
run dead list
is "$RC" 0 "dead list: exit 0"
is "$(grep -o '^seq [0-9]*' <<<"$OUT" | cut -d' ' -f2 | paste -sd' ')" "${dead[*]}" "lists the dead seqs in order"
is "$(grep -c '^  last error: origin: HTTP 503$' <<<"$OUT")" 3 "with their last error"
like "$OUT" "seq ${dead[0]}  profile $alice  attempts 8  created [0-9]{4}-[0-9-]{5}T[0-9:]{8}\.[0-9]{6}Z" \
	"with id, attempts and RFC 3339 creation time"
like "$OUT" 'patch: +\{"bio":"admin 1"\}' "and the patch"
like "$OUT" '3 dead entries$' "and how many"
run dead list --limit 1
is "$(grep -c '^seq ' <<<"$OUT")/$(tail -n 1 <<<"$OUT")" "1/1 of 3 dead entries shown (--limit N shows more)" \
	"--limit 1 shows one and says there are more"
run dead list --json
is "$RC/$(jq -c '[.total, [.entries[].seq]]' <<<"$OUT")" "0/[3,[${dead[0]},${dead[1]},${dead[2]}]]" \
	"dead list --json: total and seqs"
is "$(jq -r '.entries[0] | "\(.id) \(.attempts) \(.patch.bio) \(.last_error)"' <<<"$OUT")" \
	"$alice 8 admin 1 origin: HTTP 503" "dead list --json: id, attempts, patch as JSON, last_error"
is "$(jq -r '.entries[0].created_at' <<<"$OUT" | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$')" 1 \
	"dead list --json: created_at in RFC 3339 UTC"

# --- dead retry -------------------------------------------------------------------------------------
run dead retry "${dead[0]}"
is "$RC/$OUT" "0/requeued 1 entry" "retry of one seq: exit 0, says how many"
is "$(sq "select state || ':' || attempts || ':' || next_attempt_at || ':' || ifnull(last_error, 'NULL') from changes where seq = ${dead[0]}")" \
	"pending:0:0:NULL" "it is pending again, attempts 0, due now, error cleared"
is "$(sq "select count(*) from changes where state = 'dead'")" 2 "the other two stay dead"
before=$(snapshot)
run dead retry "${dead[1]}" 999999
is "$RC" 1 "retry with an unknown seq: exit 1"
like "$ERR" 'seq 999999: no such journal entry' "naming the seq"
is "$(snapshot)" "$before" "and nothing changed, not even the valid seq before it"
run dead drop "${dead[2]}" "${dead[0]}"
is "$RC" 1 "drop of an entry that is not dead: exit 1"
like "$ERR" "seq ${dead[0]}: the entry is pending, not dead" "naming it and its state"
is "$(snapshot)" "$before" "and nothing changed"
run dead retry
is "$RC" 2 "retry without SEQ or --all: usage, exit 2"

# --- dead drop --all, while the responder writes ---------------------------------------------------
dir=$E2E_DIR/concurrent
mkdir -p "$dir"
rows=$(sq "select count(*) from changes")
for i in $(seq 16); do
	curl -s -o /dev/null -w '%{http_code}\n' -X PATCH "$BASE_URL/profiles/$bob" "${json[@]}" \
		-H "apikey: $svc" --data "{\"bio\":\"during admin $i\"}" >"$dir/s$i" &
done
run dead drop --all
wait
is "$RC/$OUT" "0/cancelled 2 entries" "drop --all: exit 0, says how many"
is "$(cat "$dir"/s* | sort | uniq -c | awk '{$1=$1};1')" "16 202" "writes during the drop were all acknowledged"
is "$(sq "select group_concat(state) from changes where seq in (${dead[1]}, ${dead[2]})")" "cancelled,cancelled" \
	"the dead entries are cancelled"
is "$(sq "select count(*) from changes")" "$((rows + 16))" "nothing was deleted, the writes were added"
is "$(sq "select last_error from changes where seq = ${dead[1]}")" "origin: HTTP 503" "a dropped entry keeps its last error"
run status
is "$RC/$(field dead)" "0/0" "status with nothing dead again: exit 0"
is "$(counts_text)" "$(counts_db)" "and its counts match the journal"

# --- init ----------------------------------------------------------------------------------------------
mkdir -p "$E2E_DIR/fresh"
fresh=$E2E_DIR/fresh.conf
pc__ini_set "$CONFIG_PATH" "$fresh" "journal.path=$E2E_DIR/fresh/journal.db"
run --config "$fresh" init
is "$RC/$OUT" "0/$E2E_DIR/fresh/journal.db" "init on a fresh path: exit 0, prints the path"
is "$(sqlite3 "$E2E_DIR/fresh/journal.db" "select group_concat(name) from (select name from sqlite_master where type = 'table' order by name)")/$(sqlite3 "$E2E_DIR/fresh/journal.db" 'pragma user_version')" \
	"avatar_trash,changes,meta,pending_bytes,rate_counts/6" "it holds the journal's tables, format 6"
# A format-1 journal (before avatar_trash) is migrated in place, rows kept.
mkdir -p "$E2E_DIR/old"
sqlite3 "$E2E_DIR/old/journal.db" "create table changes (seq integer primary key, resource text not null,
	id text not null, patch text not null, updated_at_us integer not null, state text not null default 'pending',
	attempts integer not null default 0, next_attempt_at integer not null default 0, last_error text,
	created_at_us integer not null); create table meta (key text primary key, value text not null);
	insert into changes (resource, id, patch, updated_at_us, created_at_us) values ('profile', 'x', '{}', 1, 1);
	pragma user_version = 1;"
pc__ini_set "$CONFIG_PATH" "$E2E_DIR/old.conf" "journal.path=$E2E_DIR/old/journal.db"
run --config "$E2E_DIR/old.conf" init
is "$RC/$(sqlite3 "$E2E_DIR/old/journal.db" 'pragma user_version')" "0/6" "init migrates a format-1 journal to format 6"
is "$(sqlite3 "$E2E_DIR/old/journal.db" "select count(*) from changes")/$(sqlite3 "$E2E_DIR/old/journal.db" "select count(*) from avatar_trash")" \
	"1/0" "keeping its rows and adding the new table"
run --config "$fresh" status
is "$RC/$(counts_text)" "0/pending=0 applied=0 conflict=0 dead=0 cancelled=0 " "status of the new journal: all zeros"
pc__ini_set "$CONFIG_PATH" "$E2E_DIR/underfile.conf" "journal.path=$CONFIG_PATH/journal.db"
run --config "$E2E_DIR/underfile.conf" init
is "$RC" 1 "init under a file: exit 1"
like "$ERR" "$CONFIG_PATH/journal.db.*Not a directory" "naming the path and the reason"
pc__ini_set "$CONFIG_PATH" "$E2E_DIR/proc.conf" "journal.path=/proc/x/y"
run --config "$E2E_DIR/proc.conf" init
is "$RC" 1 "init in /proc/x: exit 1"

# --- check-config ----------------------------------------------------------------------------------------
run check-config
is "$RC/$(head -n 1 <<<"$OUT")" "0/ok" "check-config: ok, exit 0"
is "$(field origin)|$(field cache)|$(field journal)|$(field auth)" "$ORIGIN_URL|$MEMCACHED_SERVERS|$JOURNAL_PATH|secret" \
	"with origin, cache servers, journal and auth"
is "$(field admin)" "secret key (apikey)" "and the admin credential: the secret key, in apikey"
leak=0
for secret in "$JWT_SECRET" "$(<"$SERVICE_KEY_FILE")"; do
	if [[ $OUT$ERR == *"$secret"* ]]; then leak=1; fi
done
is "$leak" 0 "and no secret"
{ cat -- "$CONFIG_PATH"; printf '\n[cache]\nfresh_tll = 60\n'; } >"$E2E_DIR/badkey.conf"
run --config "$E2E_DIR/badkey.conf" check-config
is "$RC" 78 "a config with a misspelt key: exit 78"
like "$ERR" 'unknown key \[cache\] fresh_tll' "naming the key"
run --config "$E2E_DIR/badkey.conf" status
is "$RC" 78 "every command refuses it with 78"
install -m 0644 "$JWT_SECRET_FILE" "$E2E_DIR/open.secret"
pc__ini_set "$CONFIG_PATH" "$E2E_DIR/opensecret.conf" "auth.jwt_secret_file=$E2E_DIR/open.secret"
run --config "$E2E_DIR/opensecret.conf" check-config
is "$RC" 78 "a world-readable JWT secret: exit 78"
like "$ERR" "open.secret.*world-readable" "naming the file"

# --- paths -----------------------------------------------------------------------------------------------
names="config journal journal_wal journal_shm journal_wlock journal_sync flush_lock jwks_cache jwks_lock row_lock"
names+=" metrics decode_slots avatar_dir avatar_helper service_key_file jwt_secret_file jwks_file"
names+=" secret_key_file metrics_token_file"
run paths
is "$RC/$(sed 's/=.*//' <<<"$OUT" | tr '\n' ' ')" "0/$names " "paths: exit 0, one name='value' line per file, in order"
declare -A p=()
pc__paths "$CONFIG_PATH" p
# The stack's own choices (pc__write_responder_config), not read back from paths.
is "${p[config]}|${p[journal]}|${p[avatar_dir]}|${p[service_key_file]}|${p[jwt_secret_file]}|${p[jwks_file]}" \
	"$CONFIG_PATH|$VAR_DIR/journal.db|$DOCUMENT_ROOT/avatars|$SERVICE_KEY_FILE|$JWT_SECRET_FILE|" \
	"paths: the journal, avatar directory and key files the stack configured (no jwks_file: empty)"
is "$JOURNAL_PATH|$METRICS_FILE|$FLUSH_LOCK_FILE" "${p[journal]}|${p[metrics]}|${p[flush_lock]}" \
	"stack.env names the same files"
absent=
for k in journal journal_wlock journal_sync metrics; do [[ -e ${p[$k]} ]] || absent+="$k "; done
is "$absent" "" "the journal, its writers' queue and group commit files and the metrics file are there: the responders use them"
# Every file beside the journal is one paths names: a name made on the C side
# and missing from the list would show here.
unlisted=
for f in "$JOURNAL_PATH"*; do
	found=0
	for k in "${!p[@]}"; do [[ $f == "${p[$k]}" ]] && found=1; done
	((found)) || unlisted+="$f "
done
is "$unlisted" "" "no file beside the running stack's journal is missing from paths"
# A journal elsewhere, under a name that needs quoting; a flusher run there.
odd="$E2E_DIR/it's a dir"
mkdir -p "$odd"
pc__ini_set "$CONFIG_PATH" "$E2E_DIR/paths.conf" "journal.path=$odd/journal.db" "metrics.file=$E2E_DIR/odd.metrics"
run --config "$E2E_DIR/paths.conf" init
"$PC_BUILDDIR/profilecache-flush" --config "$E2E_DIR/paths.conf" 2>>"$VAR_DIR/log/admin.log" || true
run --config "$E2E_DIR/paths.conf" paths
# shellcheck disable=SC2154 # set by the eval
is "$RC/$(eval "$OUT" && printf '%s|%s|%s' "$journal" "$flush_lock" "$metrics")" \
	"0/$odd/journal.db|$odd/journal.db-flush.lock|$E2E_DIR/odd.metrics" \
	"paths of another config: a quote and a space survive eval; [metrics] file as set"
pc__paths "$E2E_DIR/paths.conf" p
absent=
for k in journal journal_wlock flush_lock; do [[ -e ${p[$k]} ]] || absent+="$k "; done
unlisted=
for f in "$odd"/*; do
	found=0
	for k in "${!p[@]}"; do [[ $f == "${p[$k]}" ]] && found=1; done
	((found)) || unlisted+="$f "
done
is "$absent/$unlisted" "/" "init and the flusher made the files paths names there, and no other"
pc__ini_set "$CONFIG_PATH" "$E2E_DIR/tab.conf" "journal.path=$E2E_DIR/a"$'\t'"b/journal.db"
run --config "$E2E_DIR/tab.conf" paths
is "$RC/$OUT" "1/" "a path with a control character: exit 1, nothing on stdout"
like "$ERR" "paths: journal holds a control character" "naming the setting"
run paths --json
is "$RC/$OUT" "2/" "paths --json: usage, exit 2"

# --- check-origin ------------------------------------------------------------------------------------------
# rows_and_tombstones DB: everything check-origin must not change.
rows_and_tombstones() {
	"$PC_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$((PORT_BASE + 3))" -U postgres -d "$1" \
		-c "select (select coalesce(string_agg(to_jsonb(p)::text, ',' order by id), '') from public.profiles p)
		    || '|' || (select coalesce(string_agg(id::text || deleted_at, ',' order by id), '')
		               from profilecache.tombstones)" 2>&1
}
before=$(rows_and_tombstones "$(basename "$DATABASE_URL")")
posts=$(grep -c 'method=POST path=/rpc/delete_profile' "$ORIGIN_LOG" || true)
run check-origin
is "$RC/$(tail -n 1 <<<"$OUT")" "0/ok" "check-origin on the stack: ok, exit 0"
is "$(head -n 1 <<<"$OUT")" "origin: $ORIGIN_URL" "naming the origin"
like "$OUT" $'\nok +profiles: the service key reads all 10 columns profilecache uses, each of the type it needs' \
	"the profiles columns, with their types (from GET /)"
like "$OUT" $'\nok +rpc/apply_profile_changes: takes an empty batch' "apply_profile_changes takes an empty batch"
like "$OUT" $'\nok +rpc/profilecache_changed_since: answers' "profilecache_changed_since answers"
like "$OUT" $'\nok +rpc/delete_profile: in the origin\'s OpenAPI description, taking id uuid' \
	"delete_profile is found in the OpenAPI description"
is "$(grep -c 'method=POST path=/rpc/delete_profile' "$ORIGIN_LOG" || true)/$(rows_and_tombstones "$(basename "$DATABASE_URL")")" \
	"$posts/$before" "without calling delete_profile, and nothing changed"

# A second origin, over a database with the Supabase starter's table only.
"$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$((PORT_BASE + 3))" -U postgres -d postgres \
	-c "create role app_owner login nosuperuser" -c "create database starter owner app_owner" >/dev/null
"$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$((PORT_BASE + 3))" -U postgres -d starter \
	-f "$PC_ROOT/schema/postgres/local/supabase_compat.sql" -f "$PC_ROOT/tests/e2e/fixtures/supabase_project.sql" \
	-f "$PC_ROOT/tests/e2e/fixtures/supabase_starter.sql" >/dev/null 2>"$E2E_DIR/starter.err" ||
	e2e_bail "the starter fixture failed: $(cat "$E2E_DIR/starter.err")"
origin2_port=$(pc_free_port_base) || e2e_bail "no free port"
# origin2 [PGREST-LITE-ARG...]: (re)start the second origin.
origin2() {
	pc__stop_pidfile origin2 "$VAR_DIR/run/origin2.pid" "${PC_ORIGIN_BIN##*/}"
	if ! pc__spawn "$VAR_DIR/run/origin2.pid" "$VAR_DIR/log/origin2.log" "$PC_ORIGIN_BIN" \
		--listen "127.0.0.1:$origin2_port" \
		--db "postgresql://$PC_ORIGIN_DB_USER@127.0.0.1:$((PORT_BASE + 3))/starter" \
		--service-key-file "$SERVICE_KEY_FILE" --anon-key-file "$ANON_KEY_FILE" "$@" ||
		! pc__wait "origin2" "$VAR_DIR/log/origin2.log" "$VAR_DIR/run/origin2.pid" \
			pc__http_answers "http://127.0.0.1:$origin2_port/"; then
		e2e_bail "the second origin did not start"
	fi
}
e2e_cleanup() { pc__stop_pidfile origin2 "$VAR_DIR/run/origin2.pid" "${PC_ORIGIN_BIN##*/}"; }
starter_psql() {
	"$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$((PORT_BASE + 3))" -U app_owner -d starter "$@" \
		>/dev/null 2>>"$E2E_DIR/starter.err"
}
origin2
pc__ini_set "$CONFIG_PATH" "$E2E_DIR/starter.conf" "origin.url=http://127.0.0.1:$origin2_port"
run --config "$E2E_DIR/starter.conf" check-origin
is "$RC" 1 "check-origin, the starter's table only: exit 1"
like "$OUT" $'\nFAIL +profiles: missing columns: display_name, bio, gradient, is_private, created_at, field_versions\n' \
	"naming every missing column"
like "$OUT" $'\nFAIL +rpc/apply_profile_changes: not in the origin\'s OpenAPI description' "apply_profile_changes is missing"
like "$OUT" $'\nFAIL +rpc/delete_profile: not in the origin\'s OpenAPI description' "delete_profile is missing"
like "$OUT" $'\nfix: +load schema/postgres/10_profiles.sql, 20_policies.sql, 30_apply.sql and 40_changes.sql, in that order' \
	"saying what to load"
like "$(tail -n 1 <<<"$OUT")" '^[0-9]+ problems to fix$' "and how many problems there are"

starter_psql -f "$PC_ROOT/schema/postgres/10_profiles.sql" -f "$PC_ROOT/schema/postgres/20_policies.sql" \
	-f "$PC_ROOT/schema/postgres/30_apply.sql" -f "$PC_ROOT/schema/postgres/40_changes.sql" || e2e_bail "loading the schema failed: $(cat "$E2E_DIR/starter.err")"
run --config "$E2E_DIR/starter.conf" check-origin
is "$RC/$(tail -n 1 <<<"$OUT")" "0/ok" "once the schema files are loaded: ok, exit 0"

before=$(rows_and_tombstones starter)
origin2 --no-openapi
run --config "$E2E_DIR/starter.conf" check-origin
is "$RC/$(tail -n 1 <<<"$OUT")" "0/ok" "an origin without the OpenAPI description: still ok"
like "$OUT" $'\nnote +GET / \\(the OpenAPI description\\) gave none \\(HTTP 404: .*PGRST126' \
	"noting that GET / gave no description"
like "$OUT" $'\nok +rpc/delete_profile: refuses a null id with 22004' "delete_profile is found by its refusal of a null id"
is "$(rows_and_tombstones starter)" "$before" "which wrote nothing (no tombstone, no row changed)"

starter_psql -c "alter table public.profiles drop column display_name"
run --config "$E2E_DIR/starter.conf" check-origin
like "$RC/$OUT" $'^1/.*\nFAIL +profiles: missing columns: display_name\n' \
	"without the description, a missing column is found by asking for each"
origin2
starter_psql -c "alter table public.profiles add column display_name text" \
	-c "alter table public.profiles drop column bio" -c "alter table public.profiles add column bio integer"
run --config "$E2E_DIR/starter.conf" check-origin
like "$RC/$OUT" $'^1/.*\nFAIL +profiles: bio is integer, profilecache needs text\n' "a column of the wrong type is named"
like "$OUT" $'\nfix: +change the columns named above' "with what to do"

pc__ini_set "$CONFIG_PATH" "$E2E_DIR/anonkey.conf" "origin.url=http://127.0.0.1:$origin2_port" \
	"origin.service_key_file=$ANON_KEY_FILE"
run --config "$E2E_DIR/anonkey.conf" check-origin
like "$RC/$OUT" $'^1/.*\nfix: +check \\[origin\\] service_key_file' "the publishable key as the service key: told to check the key"
pc__ini_set "$CONFIG_PATH" "$E2E_DIR/nowhere.conf" "origin.url=http://127.0.0.1:1"
run --config "$E2E_DIR/nowhere.conf" check-origin
like "$RC/$OUT" $'^1/.*\nFAIL +no answer from the origin .*\nfix: +check \\[origin\\] url' "no origin: exit 1, check the url"
e2e_cleanup

# --- usage -------------------------------------------------------------------------------------------------
run --help
is "$RC/$(grep -c -E '^(COMMANDS|OPTIONS|EXIT STATUS)$' <<<"$OUT")" "0/3" "--help: the manual on stdout, exit 0"
like "$OUT" '78 +the configuration' "documenting the exit codes"
run bogus
is "$RC/$OUT" "2/" "an unknown command: exit 2, nothing on stdout"
like "$ERR" "unknown command 'bogus'.*usage: profilecache-admin" "the usage on stderr"
