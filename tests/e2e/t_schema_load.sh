#!/usr/bin/env bash
# Loading schema/postgres/*.sql where it must be safe: on an empty Supabase
# database, on one that has the user-management starter's public.profiles
# (tests/e2e/fixtures), on one whose profiles table does not fit, and over an
# earlier version of profilecache's own schema. Each case is a scratch
# database in the stack's PostgreSQL, owned by app_owner, a role that is no
# superuser (as Supabase's postgres is not), which loads the files as a user
# would: psql -f 10_profiles.sql, then 20_policies.sql, and so on.
#
# "Lint" findings are the conditions of Supabase's database linter that
# concern these files, checked here in SQL: several permissive policies for
# one role and action, auth.uid() evaluated per row in a policy, a function
# without a fixed search_path, a SECURITY DEFINER function anon or
# authenticated may call, a table in public without row-level security.
# PC_SPLINTER_SQL=/path/to/splinter.sql (github.com/supabase/splinter) also
# runs the linter itself: nothing above INFO that was not there before.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

FIXTURES=$PC_ROOT/tests/e2e/fixtures
SCHEMA=$PC_ROOT/schema/postgres
mapfile -t FILES < <(compgen -G "$SCHEMA/[0-9][0-9]_*.sql" | LC_ALL=C sort)
SPLINTER=${PC_SPLINTER_SQL:-}

e2e_start
plan 55

pg_port=$((PORT_BASE + 3))
ada=cccccccc-0000-4000-8000-00000000c001
grace=cccccccc-0000-4000-8000-00000000c002
alan=cccccccc-0000-4000-8000-00000000c003

# sql DB SQL [USER]: run SQL, print the rows unaligned; fails on an error.
sql() {
	"$PC_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" \
		-U "${3:-postgres}" -d "$1" -c "$2"
}
# load DB FILE...: as app_owner, each file in its own psql as a user types it,
# stopping at the first that fails. LOAD_RC: psql's exit code; LOAD_ERR: its
# stderr (notices included).
load() {
	local db=$1 f
	shift
	LOAD_RC=0
	: >"$E2E_DIR/load.err"
	for f; do
		"$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U app_owner \
			-d "$db" -f "$f" >/dev/null 2>>"$E2E_DIR/load.err" || {
			LOAD_RC=$?
			break
		}
	done
	LOAD_ERR=$(<"$E2E_DIR/load.err")
}
# newdb NAME: a database owned by app_owner, with Supabase's roles and auth.uid()
# (supabase_compat.sql), auth.users and Supabase's default privileges.
newdb() {
	if ! sql postgres "create database $1 owner app_owner" >"$E2E_DIR/newdb.err" 2>&1 ||
		! "$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d "$1" \
			-f "$SCHEMA/local/supabase_compat.sql" -f "$FIXTURES/supabase_project.sql" \
			>/dev/null 2>"$E2E_DIR/newdb.err"; then
		e2e_bail "cannot make database $1: $(cat "$E2E_DIR/newdb.err")"
	fi
}
# lost BEFORE AFTER: the lines of BEFORE that AFTER lacks.
lost() { comm -23 <(sort -u <<<"$1") <(sort -u <<<"$2"); }
# as DB ROLE SUB SQL: SQL as ROLE (anon, authenticated, service_role) with
# the JWT claims PostgREST would set for user SUB (may be empty), like the
# Data API; prints the rows.
as() {
	local claims="{\"role\": \"$2\"${3:+, \"sub\": \"$3\"}}"
	sql "$1" "begin; set local role $2; set local request.jwt.claims = '$claims'; $4; commit;"
}

# What a load must keep: grants (table, columns, schema public, functions),
# policies, constraints, triggers, row-level security, the rows; and the lint
# findings.
declare -A Q
Q[grants]="select format('%s %s on %s', case when x.grantee = 0 then 'PUBLIC' else x.grantee::regrole::text end,
		x.privilege_type, what) from (
	select 'table profiles' as what, c.relacl as acl from pg_class c where c.oid = 'public.profiles'::regclass
	union all select 'column ' || a.attname, a.attacl from pg_attribute a
	 where a.attrelid = 'public.profiles'::regclass and a.attnum > 0
	union all select 'schema public', n.nspacl from pg_namespace n where n.nspname = 'public'
	union all select 'function ' || p.oid::regprocedure, p.proacl from pg_proc p
	 where p.pronamespace = 'public'::regnamespace) as o, aclexplode(o.acl) as x order by 1"
Q[policies]="select format('%s|%s|%s|%s|%s|%s', policyname, permissive, roles, cmd, qual, with_check)
	from pg_policies where schemaname = 'public' and tablename = 'profiles' order by 1"
Q[constraints]="select conname || ': ' || pg_get_constraintdef(oid) from pg_constraint
	where conrelid = 'public.profiles'::regclass order by 1"
Q[triggers]="select tgrelid::regclass || ': ' || pg_get_triggerdef(oid) from pg_trigger
	where tgrelid in ('public.profiles'::regclass, 'auth.users'::regclass) and not tgisinternal order by 1"
Q[rls]="select relrowsecurity || ' ' || relforcerowsecurity from pg_class where oid = 'public.profiles'::regclass"
Q[approws]="select format('%s|%s|%s|%s|%s', id, username, full_name, avatar_url, website)
	from public.profiles order by id"
Q[updated]="select id || ' ' || updated_at from public.profiles where updated_at is not null order by id"
Q[lint]="with pol as (
	select c.relnamespace::regnamespace::text || '.' || c.relname as tab, p.*,
	       coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' '
	       || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') as expr
	  from pg_policy p join pg_class c on c.oid = p.polrelid
	 where c.relnamespace::regnamespace::text in ('public', 'profilecache'))
select f from (
	select format('multiple_permissive_policies %s %s %s', tab, r.rolname, a.cmd) as f
	  from pol cross join lateral unnest(case polcmd when 'r' then '{SELECT}'::text[]
	       when 'a' then '{INSERT}' when 'w' then '{UPDATE}' when 'd' then '{DELETE}'
	       else '{SELECT,INSERT,UPDATE,DELETE}' end) as a(cmd)
	  join pg_roles r on polroles @> array[r.oid] or polroles = array[0::oid]
	 where polpermissive and r.rolname in ('anon', 'authenticated')
	 group by tab, r.rolname, a.cmd having count(*) > 1
	union all
	select format('auth_rls_initplan %s %s', tab, polname) from pol
	 where regexp_replace(expr, '\( SELECT auth\.[a-z]+\(\) AS [a-z]+\)', '', 'g') ~ 'auth\.[a-z]+\(\)'
	union all
	select format('function_search_path_mutable %s', p.oid::regprocedure) from pg_proc p
	 where p.pronamespace::regnamespace::text in ('public', 'profilecache')
	   and not coalesce(array_to_string(p.proconfig, ',') like '%search_path=%', false)
	union all
	select format('security_definer_executable %s by %s', p.oid::regprocedure, r) from pg_proc p,
	       unnest(array['anon', 'authenticated']) as r
	 where p.prosecdef and p.pronamespace::regnamespace::text in ('public', 'profilecache')
	   and has_function_privilege(r, p.oid, 'EXECUTE')
	union all
	select format('rls_disabled_in_public %s', c.relname) from pg_class c
	 where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity
) as s order by f"
# splinter DB: Supabase's linter's findings above INFO (nothing without PC_SPLINTER_SQL).
splinter() {
	[[ -n $SPLINTER ]] || return 0
	"$PC_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d "$1" \
		-c 'begin' -f <(printf 'create temp table lint_out on commit drop as select * from (\n'
			sed -e '/^set local search_path/d' -e '$ s/;[[:space:]]*$//' -- "$SPLINTER"
			printf '\n) as s;\n') \
		-c "select level || ' ' || name || ' ' || detail from lint_out where level <> 'INFO' order by 1" \
		-c 'rollback'
}
if [[ -n $SPLINTER && ! -r $SPLINTER ]]; then e2e_bail "PC_SPLINTER_SQL: cannot read $SPLINTER"; fi

sql postgres "do \$\$ begin if not exists (select from pg_roles where rolname = 'app_owner')
	then create role app_owner login nosuperuser; end if; end \$\$"

# --- an empty database ----------------------------------------------------------------------
newdb sl_empty
load sl_empty "${FILES[@]}"
is "$LOAD_RC/$(grep -c ERROR <<<"$LOAD_ERR" || true)" "0/0" "empty database: the ${#FILES[@]} files load as a non-superuser owner"
is "$(sql sl_empty "select string_agg(policyname || ':' || permissive || ':' || cmd, ' ' order by policyname) from pg_policies where tablename = 'profiles'")" \
	"profiles_select:PERMISSIVE:SELECT profiles_update_own:PERMISSIVE:UPDATE" \
	"empty: one SELECT policy and the update-own policy, both profilecache's"
is "$(sql sl_empty "select string_agg(x.privilege_type, ',' order by x.privilege_type) from pg_class c, aclexplode(c.relacl) x where c.oid = 'public.profiles'::regclass and x.grantee = 'anon'::regrole")" \
	SELECT "empty: anon may only select, though Supabase's default privileges granted it everything"
is "$(sql sl_empty "select relrowsecurity from pg_class where oid = 'public.profiles'::regclass")/$(sql sl_empty "select to_regclass('profilecache.tombstones') is not null and to_regclass('public.tombstones') is null")" \
	"t/t" "empty: row-level security on; the tombstones in profilecache, not in public"
is "$(sql sl_empty "${Q[lint]}")" "" "empty: no lint findings"
is "$(splinter sl_empty)" "" "empty: Supabase's linter finds nothing above INFO${SPLINTER:+ (splinter)}"
r=$(as sl_empty service_role "" "select public.apply_profile_changes('[{\"id\": \"$ada\", \"patch\": {\"username\": \"ada\", \"bio\": \"hello\"}, \"updated_at\": \"2030-01-01T00:00:00Z\"}]') ->> 'results'")
is "$(jq -r '.[0].status' <<<"$r")/$(as sl_empty anon "" "select username || ' ' || bio from public.profiles")" \
	"applied/ada hello" "empty: apply_profile_changes creates a row that anon reads"
is "$(as sl_empty service_role "" "select public.delete_profile('$ada') ->> 'status'")/$(sql sl_empty "select count(*) from profilecache.tombstones where resource = 'profile'")" \
	"deleted/1" "empty: delete_profile deletes and leaves a tombstone"

# --- the Supabase user-management starter ------------------------------------------------------
newdb sl_starter
"$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d sl_starter \
	-f "$FIXTURES/supabase_starter.sql" >/dev/null 2>"$E2E_DIR/starter.err" ||
	e2e_bail "the starter fixture failed: $(cat "$E2E_DIR/starter.err")"
declare -A before again
for what in "${!Q[@]}"; do before[$what]=$(sql sl_starter "${Q[$what]}"); done
before_splinter=$(splinter sl_starter)
is "$(sql sl_starter "select count(*) from public.profiles")/$(sql sl_starter "select count(*) from public.profiles where updated_at is null")" \
	"4/2" "starter: four users signed up, two never saved their profile (updated_at null)"

load sl_starter "${FILES[@]}"
is "$LOAD_RC/$(grep -c ERROR <<<"$LOAD_ERR" || true)" "0/0" "starter: the files load onto the starter's table"
like "$LOAD_ERR" "added display_name, bio, gradient, is_private, created_at, field_versions" \
	"starter: 10_profiles.sql says which columns it added"
for what in grants policies constraints triggers; do
	after=$(sql sl_starter "${Q[$what]}")
	is "$(lost "${before[$what]}" "$after")" "" "starter: no $what lost"
	if [[ $what == grants || $what == policies ]]; then
		diag "  $what added: $(lost "$after" "${before[$what]}" | paste -sd';')"
	fi
done
is "$(sql sl_starter "${Q[rls]}")" "${before[rls]}" "starter: row-level security as it was"
is "$(sql sl_starter "${Q[approws]}")" "${before[approws]}" "starter: every row keeps the application's columns"
is "$(lost "${before[updated]}" "$(sql sl_starter "${Q[updated]}")")" "" "starter: an updated_at the application set is kept"
is "$(sql sl_starter "select count(*) from public.profiles where updated_at is null or created_at is null or field_versions = '{}'")" \
	0 "starter: no row without updated_at, created_at or field versions"
is "$(sql sl_starter "select (field_versions ->> 'bio')::bigint = (extract(epoch from updated_at) * 1000000)::bigint and created_at = updated_at from public.profiles where id = '$ada'")" \
	t "starter: an existing row's fields are at its updated_at, created_at too"
is "$(sql sl_starter "select string_agg(column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-'), ', ' order by ordinal_position) from information_schema.columns where table_schema = 'public' and table_name = 'profiles' and column_name in ('is_private', 'updated_at', 'field_versions')")" \
	"updated_at timestamp with time zone NO now(), is_private boolean NO false, field_versions jsonb NO '{}'::jsonb" \
	"starter: is_private not null default false; updated_at and field_versions not null with defaults"
is "$(sql sl_starter "select count(*) from pg_constraint where conrelid = 'public.profiles'::regclass and conname = 'profiles_username_format'")" \
	0 "starter: the application's username keeps its own check (no profilecache format check added)"
is "$(lost "$(sql sl_starter "${Q[lint]}")" "${before[lint]}")" "" "starter: no new lint findings"
diag "  lint findings the starter had before and keeps: $(paste -sd';' <<<"${before[lint]}")"
is "$(lost "$(splinter sl_starter)" "$before_splinter")" "" \
	"starter: Supabase's linter finds nothing new above INFO${SPLINTER:+ (splinter)}"

# profilecache's functions on the starter's rows
r=$(as sl_starter service_role "" "select public.apply_profile_changes('[
	{\"id\": \"$ada\", \"patch\": {\"display_name\": \"Ada\", \"bio\": \"Analyst\"}, \"updated_at\": \"2030-01-01T00:00:00Z\"},
	{\"id\": \"$grace\", \"patch\": {\"bio\": \"COBOL\", \"gradient\": \"#112233\"}, \"updated_at\": \"2030-01-01T00:00:00Z\"},
	{\"id\": \"$ada\", \"patch\": {\"bio\": \"older\"}, \"updated_at\": \"2020-01-01T00:00:00Z\"}]') ->> 'results'")
is "$(jq -r '[.[].status] | join(",")' <<<"$r")" "applied,applied,conflict" \
	"starter: apply_profile_changes applies to starter rows (and an older change loses)"
is "$(sql sl_starter "select full_name || '|' || website || '|' || display_name || '|' || bio from public.profiles where id = '$ada'")" \
	"Ada Lovelace|https://ada.example.com|Ada|Analyst" "starter: the application's columns stay beside profilecache's"
is "$(jq -r '.[1].row.username + " " + .[1].row.full_name' <<<"$r")" "Mixed.Case Grace Hopper" \
	"starter: a row whose username profilecache would not accept is still written"
is "$(as sl_starter service_role "" "select public.apply_profile_changes('[{\"id\": \"$alan\", \"patch\": {\"username\": \"ada\"}, \"updated_at\": \"2030-01-02T00:00:00Z\"}]') #>> '{results,0,code}'")" \
	username_taken "starter: the starter's unique username is profilecache's username_taken"

# the application as it was
is "$(as sl_starter authenticated "$ada" "with u as (update public.profiles set website = 'https://ada.example.org', updated_at = now() where id = '$ada' returning 1) select count(*) from u")/$(as sl_starter authenticated "$grace" "with u as (update public.profiles set website = 'x' where id = '$ada' returning 1) select count(*) from u")" \
	"1/0" "starter app: a user updates their own profile, not another's"
is "$(sql sl_starter "select website from public.profiles where id = '$ada'")" "https://ada.example.org" \
	"starter app: the update is written"
sql sl_starter "insert into auth.users (id, email, raw_user_meta_data) values ('cccccccc-0000-4000-8000-00000000c005', 'new@example.com', '{\"full_name\": \"New\"}')"
is "$(sql sl_starter "select full_name || ' ' || is_private || ' ' || (field_versions = '{}') from public.profiles where id = 'cccccccc-0000-4000-8000-00000000c005'")" \
	"New false true" "starter app: sign-up still makes the profile (nothing profilecache versions was set)"
is "$(as sl_starter authenticated cccccccc-0000-4000-8000-00000000c005 "insert into public.profiles (id, username, updated_at) values ('cccccccc-0000-4000-8000-00000000c005', 'newbie', now()) on conflict (id) do update set username = excluded.username returning username")" \
	newbie "starter app: its upsert of the own profile works"
is "$(as sl_starter anon "" "select count(*) from public.profiles")" 5 "starter app: anon reads every public profile"

# private profiles stay private, whatever the starter's policy allows
as sl_starter service_role "" "select public.apply_profile_changes('[{\"id\": \"$ada\", \"patch\": {\"is_private\": true}, \"updated_at\": \"2030-01-03T00:00:00Z\"}]')" >/dev/null
is "$(as sl_starter anon "" "select count(*) from public.profiles where id = '$ada'")/$(as sl_starter authenticated "$grace" "select count(*) from public.profiles where id = '$ada'")/$(as sl_starter authenticated "$ada" "select count(*) from public.profiles where id = '$ada'")/$(as sl_starter service_role "" "select count(*) from public.profiles where id = '$ada'")" \
	"0/0/1/1" "starter: a private profile is hidden from anon and other users, not from its owner or the service role"
is "$(as sl_starter authenticated "$ada" "with u as (update public.profiles set website = 'private now' where id = '$ada' returning 1) select count(*) from u")" \
	1 "starter app: the owner still updates their private profile"

is "$(as sl_starter service_role "" "select public.delete_profile('$alan') ->> 'status'")/$(sql sl_starter "select count(*) from profilecache.tombstones where resource = 'profile' and id = '$alan'")" \
	"deleted/1" "starter: delete_profile deletes a starter row and leaves a tombstone"
is "$(as sl_starter service_role "" "select jsonb_array_length(r -> 'rows') || ' ' || (r -> 'deleted') from (select public.profilecache_changed_since('-infinity', 100) as r) as x")" \
	"4 [\"$alan\"]" "starter: profilecache_changed_since lists its rows and the deleted one"

# loading again changes nothing
for what in grants policies constraints triggers; do again[$what]=$(sql sl_starter "${Q[$what]}"); done
again_rows=$(sql sl_starter "select to_jsonb(p)::text from public.profiles p order by id")
load sl_starter "${FILES[@]}"
is "$LOAD_RC" 0 "starter: loading the files again works"
same=1
for what in grants policies constraints triggers; do
	[[ $(sql sl_starter "${Q[$what]}") == "${again[$what]}" ]] || {
		same=0
		diag "  $what changed"
	}
done
[[ $(sql sl_starter "select to_jsonb(p)::text from public.profiles p order by id") == "$again_rows" ]] || same=0
is "$same" 1 "starter: and changes nothing (grants, policies, constraints, triggers, rows)"

# --- a table that does not fit -----------------------------------------------------------------------
newdb sl_misfit
sql sl_misfit "create table public.profiles (id text primary key, username integer unique, bio varchar(200),
	updated_at timestamp); alter table public.profiles enable row level security;
	create policy anyone on public.profiles for select using (true);
	insert into public.profiles values ('u1', 42, 'hello', '2024-01-01')" app_owner
dump() {
	"$PC_PG_BIN/pg_dump" -h 127.0.0.1 -p "$pg_port" -U postgres --no-comments sl_misfit |
		grep -v -e '^--' -e '^$' -e '^SELECT pg_catalog.set_config' -e '^\\restrict' -e '^\\unrestrict'
}
dump_before=$(dump)
load sl_misfit "$SCHEMA/10_profiles.sql"
is "$LOAD_RC" 3 "misfit: 10_profiles.sql stops (psql exits 3 under ON_ERROR_STOP)"
is "$(grep -c '^psql:.*ERROR:' <<<"$LOAD_ERR")" 1 "misfit: with one error"
like "$LOAD_ERR" "ERROR:  public.profiles does not fit profilecache: id is text, profilecache needs uuid; username is integer, profilecache needs text; updated_at is timestamp without time zone, profilecache needs timestamp with time zone" \
	"misfit: one message naming each column that does not fit and what it needs"
like "$LOAD_ERR" "DETAIL:  Nothing was changed." "misfit: saying that nothing was changed"
unlike "$LOAD_ERR" "bio is" "misfit: a varchar bio fits (it takes text)"
# A user who runs every file, ignoring errors (psql without ON_ERROR_STOP).
: >"$E2E_DIR/misfit.err"
for f in "${FILES[@]}"; do
	"$PC_PG_BIN/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U app_owner -d sl_misfit -f "$f" \
		>/dev/null 2>>"$E2E_DIR/misfit.err" || true
done
is "$(grep -c 'ERROR:' "$E2E_DIR/misfit.err")" "${#FILES[@]}" "misfit: each file stops with an error when run regardless"
is "$(grep 'ERROR:' "$E2E_DIR/misfit.err" | tail -n +2 | grep -vc 'public.profiles is not ready for profilecache' || true)" 0 \
	"misfit: the files after 10_profiles.sql say the table is not ready"
like "$dump_before" "CREATE TABLE public.profiles" "misfit: (pg_dump shows the table)"
is "$(diff <(printf '%s\n' "$dump_before") <(dump) && echo same)" same "misfit: and the database is exactly as before (pg_dump)"

# --- row-level security off ------------------------------------------------------------------------------
newdb sl_norls
sql sl_norls "create table public.profiles (id uuid primary key, username text unique);
	insert into public.profiles values ('$ada', 'ada')" app_owner
load sl_norls "$SCHEMA/10_profiles.sql"
norls_policies=$(sql sl_norls "${Q[policies]}")
norls_grants=$(sql sl_norls "${Q[grants]}")
load sl_norls "$SCHEMA/20_policies.sql"
like "$LOAD_RC/$LOAD_ERR" "^3/.*public.profiles has row-level security disabled" \
	"row-level security off: 20_policies.sql stops, saying so"
is "$(sql sl_norls "${Q[policies]}")|$(sql sl_norls "${Q[grants]}")|$(sql sl_norls "${Q[rls]}")" "$norls_policies|$norls_grants|false false" \
	"row-level security off: and changes nothing (no policy, grant or setting)"

# --- over an earlier version's schema ----------------------------------------------------------------------
# What profilecache's earlier files left: profiles' own tombstones table (with
# a row), in public and in profilecache, and its trigger function in public;
# two permissive SELECT policies.
newdb sl_old
load sl_old "${FILES[@]}"
sql sl_old "create table public.profile_tombstones (id uuid primary key, deleted_at timestamptz not null);
	insert into public.profile_tombstones values ('$grace', '2025-01-01Z');
	create table profilecache.profile_tombstones (id uuid primary key, deleted_at timestamptz not null);
	insert into profilecache.profile_tombstones values ('$grace', '2025-01-02Z');
	alter table public.profile_tombstones enable row level security;
	alter table public.profile_tombstones owner to app_owner;
	alter table profilecache.profile_tombstones owner to app_owner;
	create function public.profiles_tombstone_outside_delete() returns trigger
	    language plpgsql security definer set search_path = '' as 'begin return old; end';
	alter function public.profiles_tombstone_outside_delete() owner to app_owner;
	revoke all on function public.profiles_tombstone_outside_delete() from public, anon, authenticated;
	drop policy profiles_select on public.profiles;
	create policy profiles_select_public on public.profiles for select to anon, authenticated
	    using (is_private = false);
	create policy profiles_select_own on public.profiles for select to authenticated
	    using ((select auth.uid()) = id)"
is "$(sql sl_old "${Q[lint]}")" "multiple_permissive_policies public.profiles authenticated SELECT" \
	"old: the earlier version's two SELECT policies (the linter's warning)"
load sl_old "${FILES[@]}"
is "$LOAD_RC" 0 "old: the files load over it"
is "$(sql sl_old "select string_agg(policyname, ' ' order by policyname) from pg_policies where tablename = 'profiles'")" \
	"profiles_select profiles_update_own" "old: the two SELECT policies became one"
is "$(sql sl_old "select id || ' ' || deleted_at from profilecache.tombstones where resource = 'profile'")/$(sql sl_old "select to_regclass('public.profile_tombstones') is null and to_regclass('profilecache.profile_tombstones') is null and to_regprocedure('public.profiles_tombstone_outside_delete()') is null")" \
	"$grace 2025-01-02 00:00:00+00/t" "old: profiles' tombstones joined the others, the later of an id kept; their tables and function are gone"
sql sl_old "insert into public.profiles (id) values ('$ada'); delete from public.profiles where id = '$ada'"
is "$(sql sl_old "select count(*) from profilecache.tombstones where resource = 'profile' and id = '$ada'")/$(sql sl_old "${Q[lint]}")" \
	"1/" "old: a delete made outside leaves its tombstone in profilecache; no lint findings"
