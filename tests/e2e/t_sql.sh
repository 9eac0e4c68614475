#!/usr/bin/env bash
# SQL tests: the pgTAP files tests/sql/[0-9]*.sql against a stack's real
# PostgreSQL with the schema loaded, then the write functions through the
# local origin (pgrest-lite) with the service and the anon key.
#
# Each pgTAP file runs in psql as the superuser (each file is one transaction
# that it rolls back); its assertions are passed through, renumbered into this
# script's single TAP stream and prefixed with the file's name, so each pgTAP
# assertion is one test here. The plan is the sum of the files' plan(N) calls,
# plus one check per file (psql exited 0 and the file ran exactly its plan),
# plus the HTTP checks. Assertions a file did not reach (say, an SQL error
# stopped it) are reported as failures, so the count always matches the plan.
#
# Needs the postgresql-15-pgtap package (skips everything without it).
# PC_SQL_DIR: run the pgTAP files of another directory (default tests/sql).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

SQL_DIR=${PC_SQL_DIR:-$PC_ROOT/tests/sql}
HTTP_CHECKS=16

mapfile -t sql_files < <(compgen -G "$SQL_DIR/[0-9]*.sql" | LC_ALL=C sort)
((${#sql_files[@]} > 0)) || e2e_bail "no pgTAP files in $SQL_DIR"

# The N of each file's "select plan(N);", which must appear exactly once.
declare -A planned=()
total=0
for f in "${sql_files[@]}"; do
	n=$(grep -oE '^[[:space:]]*select[[:space:]]+plan\([0-9]+\)' -- "$f" | grep -oE '[0-9]+' || true)
	[[ $n =~ ^[0-9]+$ ]] || e2e_bail "${f#"$PC_ROOT"/}: needs exactly one 'select plan(N);' line"
	planned[$f]=$n
	total=$((total + n))
done

e2e_start

if [[ $(psql_exec "select count(*) from pg_available_extensions where name = 'pgtap'") != 1 ]]; then
	e2e_skip_all "pgTAP is not installed (Debian package postgresql-15-pgtap)"
fi
psql_exec "create extension if not exists pgtap" || e2e_bail "create extension pgtap failed"

plan $((total + ${#sql_files[@]} + HTTP_CHECKS))

# run_pgtap FILE: run one pgTAP file and pass its TAP through, renumbered.
run_pgtap() {
	local file=$1 name want rc=0 line rest seen=0 ran file_plan=
	name=${file##*/}
	name=${name%.sql}
	want=${planned[$file]}
	"$PC_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f "$file" \
		>"$E2E_DIR/$name.tap" 2>"$E2E_DIR/$name.err" || rc=$?
	while IFS= read -r line || [[ -n $line ]]; do
		if [[ $line =~ ^1\.\.([0-9]+) ]]; then
			file_plan=${BASH_REMATCH[1]}
		elif [[ $line =~ ^(not\ ok|ok)\ [0-9]+(.*)$ ]]; then
			rest=${BASH_REMATCH[2]}
			seen=$((seen + 1))
			_e2e_count=$((_e2e_count + 1))
			# " - description" gets the file's name in front; a bare directive
			# ("ok 3 # SKIP why") gets it as its description.
			if [[ $rest == " - "* ]]; then rest=" - $name: ${rest# - }"; else rest=" - $name$rest"; fi
			printf '%s %d%s\n' "${BASH_REMATCH[1]}" "$_e2e_count" "$rest"
			if [[ ${BASH_REMATCH[1]} == "not ok" ]] && ! [[ ${rest^^} =~ \#[[:space:]]*TODO ]]; then
				_e2e_failed=$((_e2e_failed + 1))
			fi
		elif [[ $line == '#'* ]]; then
			printf '%s\n' "$line"
		elif [[ -n $line ]]; then
			diag "$name: $line"
		fi
	done <"$E2E_DIR/$name.tap"
	[[ -s $E2E_DIR/$name.err ]] && diag "$name (psql stderr):" "$(cat -- "$E2E_DIR/$name.err")"
	ran=$seen
	while ((seen < want)); do
		seen=$((seen + 1))
		_e2e_result 0 "$name: assertion $seen of $want did not run"
	done
	if ((rc == 0)) && [[ $file_plan == "$want" ]] && ((ran == want)); then
		_e2e_result 1 "$name: psql ran all $want planned assertions"
	else
		_e2e_result 0 "$name: psql ran all $want planned assertions"
		diag "  psql exit code $rc, plan printed: '${file_plan:-none}', assertions run: $ran"
	fi
}

for f in "${sql_files[@]}"; do
	run_pgtap "$f"
done

# --- through pgrest-lite -----------------------------------------------------------

service_key=$(<"$SERVICE_KEY_FILE")
anon_key=$(<"$ANON_KEY_FILE")
alice=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02

# rpc KEY FUNCTION BODY: POST /rpc/FUNCTION to the origin with KEY as apikey
# (a publishable or secret key goes nowhere else).
rpc() {
	http POST "$ORIGIN_URL/rpc/$2" -H "apikey: $1" \
		-H 'Content-Type: application/json' --data-binary "$3"
}

rpc "$service_key" apply_profile_changes '{"changes": [
	{"id": "'"$alice"'", "patch": {"bio": "Set through pgrest-lite"}, "updated_at": "2031-01-01T00:00:00.000001Z"},
	{"id": "'"$bob"'", "patch": {"bio": "Too old"}, "updated_at": "2001-01-01T00:00:00Z"},
	{"id": "not-a-uuid", "patch": {}, "updated_at": "2031-01-01T00:00:00Z"}]}'
is "$HTTP_STATUS" 200 "rpc/apply_profile_changes with the service key is 200"
is "$(json '[.results[].status] | join(",")')" "applied,conflict,rejected" \
	"it returns one result per change, in order: applied, conflict, rejected"
is "$(json '.results[0].row.bio + " " + .results[0].row.updated_at')" \
	"Set through pgrest-lite 2031-01-01T00:00:00.000001+00:00" "the applied result carries the row as written"
is "$(json '.results[1].row.username')" bob "the conflict result carries the current row"
is "$(json '.results[2].code')" invalid_change "the malformed change is rejected with code invalid_change"
is "$(psql_exec "select bio from public.profiles where id = '$alice'")" "Set through pgrest-lite" \
	"the change is committed"

rpc "$anon_key" apply_profile_changes '{"changes": [
	{"id": "'"$alice"'", "patch": {"bio": "Anonymous"}, "updated_at": "2032-01-01T00:00:00Z"}]}'
like "$HTTP_STATUS" '^40[13]$' "with the anon key it is refused (401/403)"
is "$(json .code)" 42501 "with PostgreSQL's insufficient_privilege code"
is "$(psql_exec "select bio from public.profiles where id = '$alice'")" "Set through pgrest-lite" \
	"and nothing is written"

rpc "$service_key" apply_profile_changes '{"changes": {"id": "'"$alice"'"}}'
is "$HTTP_STATUS $(json .code)" "400 22023" "changes that are not an array: 400 with code 22023"

rpc "$service_key" delete_profile '{"id": "'"$bob"'"}'
is "$HTTP_STATUS $(json .status)" "200 deleted" "rpc/delete_profile with the service key deletes"
rpc "$service_key" apply_profile_changes '{"changes": [
	{"id": "'"$bob"'", "patch": {"bio": "Late replay"}, "updated_at": "2025-06-01T00:00:00Z"}]}'
is "$(json '.results[0].status')" deleted "a late replay for the deleted id reports deleted"
is "$(psql_exec "select count(*) from public.profiles where id = '$bob'")" 0 "and does not recreate the row"

rpc "$anon_key" delete_profile '{"id": "'"$alice"'"}'
like "$HTTP_STATUS" '^40[13]$' "rpc/delete_profile with the anon key is refused (401/403)"

# The role's statement_timeout applies, as PostgREST applies a role's settings
# (Supabase sets one for anon, authenticated and service_role).
psql_exec "create function public.pc_test_sleep(s float8) returns int language sql
	as 'select 1 from pg_catalog.pg_sleep(s)';
	grant execute on function public.pc_test_sleep(float8) to service_role;
	alter role service_role set statement_timeout = '300ms'" >/dev/null
rpc "$service_key" pc_test_sleep '{"s": 2}'
is "$HTTP_STATUS $(json .code)" "500 57014" "the role's statement_timeout cancels a longer statement: 500 with code 57014"
rpc "$service_key" pc_test_sleep '{"s": 0.01}'
is "$HTTP_STATUS" 200 "a shorter one runs"
psql_exec "alter role service_role reset statement_timeout; drop function public.pc_test_sleep(float8)" >/dev/null
