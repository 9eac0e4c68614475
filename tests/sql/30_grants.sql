-- pgTAP: who may call the write functions and see the tables
-- (schema/postgres/20_policies.sql, 30_apply.sql), in Supabase's role model.
-- Run by tests/e2e/t_sql.sh as a superuser, in one transaction rolled back at
-- the end. pgTAP keeps its state in the session user's temporary tables, so
-- the assertions themselves run as the superuser: a check as another role
-- either switches inside the statement under test (SET LOCAL ROLE, undone
-- with it when it fails, and by the trailing RESET ROLE when it does not) or
-- collects its rows with \gset first.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only on

begin;
set local timezone = 'UTC';
select plan(36);

-- --- execute rights on the functions -------------------------------------------------------

select function_privs_are('public', 'apply_profile_changes', array['jsonb'], 'anon', '{}'::text[],
    'anon has no right on apply_profile_changes');
select function_privs_are('public', 'apply_profile_changes', array['jsonb'], 'authenticated', '{}'::text[],
    'authenticated has no right on apply_profile_changes');
select function_privs_are('public', 'apply_profile_changes', array['jsonb'], 'service_role', array['EXECUTE'],
    'service_role may execute apply_profile_changes');
select function_privs_are('public', 'delete_profile', array['uuid'], 'anon', '{}'::text[],
    'anon has no right on delete_profile');
select function_privs_are('public', 'delete_profile', array['uuid'], 'authenticated', '{}'::text[],
    'authenticated has no right on delete_profile');
select function_privs_are('public', 'delete_profile', array['uuid'], 'service_role', array['EXECUTE'],
    'service_role may execute delete_profile');
select is_empty($$select 1 from pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) as a
                   where p.oid in ('public.apply_profile_changes(jsonb)'::regprocedure,
                                   'public.delete_profile(uuid)'::regprocedure)
                     and a.grantee = 0$$,
    'PUBLIC has no right on either (the default EXECUTE is revoked)');

select throws_ok($$set local role anon; select public.apply_profile_changes('[]'); reset role$$,
    '42501', null, 'anon calling apply_profile_changes: 42501 (HTTP 401)');
select throws_ok($$set local role authenticated; select public.apply_profile_changes('[]'); reset role$$,
    '42501', null, 'authenticated calling apply_profile_changes: 42501 (HTTP 403)');
select throws_ok($$set local role anon; select public.delete_profile('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'); reset role$$,
    '42501', null, 'anon calling delete_profile: 42501');
select throws_ok($$set local role authenticated; select public.delete_profile('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'); reset role$$,
    '42501', null, 'authenticated calling delete_profile: 42501');
select is(current_user::text, 'postgres', 'the failed calls left the role as it was');

-- service_role works through both, with its own rights only (no superuser).
set local role service_role;
select public.apply_profile_changes($$[
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", "patch": {"is_private": true}, "updated_at": "2030-02-01T00:00:00Z"},
    {"id": "aaaaaaaa-0000-4000-8000-000000000201", "patch": {"username": "tap_grants"}, "updated_at": "2030-02-01T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03", "patch": {"bio": "older"}, "updated_at": "2020-01-01T00:00:00Z"}
  ]$$) as r \gset
select public.delete_profile('aaaaaaaa-0000-4000-8000-000000000201') as d \gset
reset role;
select is(jsonb_path_query_array(:'r'::jsonb, '$.results[*].status'), '["applied", "applied", "conflict"]',
    'service_role: apply_profile_changes updates, creates and reports conflicts with the private row');
select is(:'r'::jsonb #>> '{results,2,row,username}', 'carol',
    'service_role: the conflict row of a private profile is returned');
select is(:'d'::jsonb ->> 'status', 'deleted', 'service_role: delete_profile deletes');

-- --- the tombstones table -------------------------------------------------------------------

select ok((select relrowsecurity from pg_catalog.pg_class where oid = 'profilecache.tombstones'::regclass),
    'tombstones: row-level security is enabled');
select policies_are('profilecache', 'tombstones', array['tombstones_service'],
    'tombstones: one policy, for service_role');
select table_privs_are('profilecache', 'tombstones', 'anon', '{}'::text[], 'tombstones: anon has no rights');
select table_privs_are('profilecache', 'tombstones', 'authenticated', '{}'::text[],
    'tombstones: authenticated has no rights');
select table_privs_are('profilecache', 'tombstones', 'service_role',
    array['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'tombstones: service_role reads and writes them');
select throws_ok($$set local role anon; select * from profilecache.tombstones; reset role$$,
    '42501', null, 'tombstones: anon cannot read them');

-- --- RLS on profiles still applies (alice was made private above) -------------------------------

set local role anon;
select count(*) filter (where is_private) as anon_private,
       coalesce(string_agg(username, ',' order by username), '') as anon_users
  from public.profiles where id::text like '7b3e4a52-%' \gset
reset role;
select is(:anon_private::int, 0, 'RLS: anon sees no private row');
select is(:'anon_users'::text, 'bob',
    'RLS: anon sees the public row (bob), not carol''s, nor alice''s made private through apply_profile_changes');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03", "role": "authenticated"}', true) as claims \gset
select coalesce(string_agg(username, ',' order by username), '') as owner_users
  from public.profiles where id::text like '7b3e4a52-%' \gset
reset role;
select is(:'owner_users'::text, 'bob,carol', 'RLS: an authenticated owner sees their private row and public ones, not others'' private rows');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "role": "authenticated"}', true) as claims \gset
select count(*) as other_private from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03' \gset
reset role;
select is(:other_private::int, 0, 'RLS: another authenticated user does not see carol''s private row');

set local role service_role;
select coalesce(string_agg(username, ',' order by username), '') as service_users
  from public.profiles where id::text like '7b3e4a52-%' \gset
reset role;
select is(:'service_users'::text, 'alice,bob,carol', 'RLS: service_role sees every row');

select throws_ok($$set local role anon; update public.profiles set bio = 'x'; reset role$$,
    '42501', null, 'RLS: anon cannot update profiles');
select throws_ok($$set local role authenticated; update public.profiles set updated_at = now(); reset role$$,
    '42501', null, 'an authenticated user cannot set updated_at, the write-behind guard');
-- --- a table 10_profiles.sql created: its policies and grants --------------------------------

select policies_are('public', 'profiles', array['profiles_select', 'profiles_update_own'],
    'profiles: one SELECT and one UPDATE policy (no restrictive one needed)');
select is((select count(*)::int from pg_catalog.pg_policies
            where schemaname = 'public' and tablename = 'profiles' and cmd = 'SELECT'
              and permissive = 'PERMISSIVE' and 'anon' = any (roles)), 1,
    'profiles: anon has one permissive SELECT policy, not two (Supabase''s linter)');
select table_privs_are('public', 'profiles', 'anon', array['SELECT'], 'profiles: anon may select only');
select table_privs_are('public', 'profiles', 'authenticated', array['SELECT'],
    'profiles: authenticated may select (and update the profile fields: column grants)');
select table_privs_are('public', 'profiles', 'service_role', array['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'profiles: service_role may select, insert, update and delete');

-- An application that lets users delete their own row: the delete leaves a
-- tombstone although authenticated has no rights on the tombstones.
grant delete on table public.profiles to authenticated;
create policy tap_delete_own on public.profiles for delete to authenticated
    using ((select auth.uid()) = id);
select lives_ok($$set local role authenticated;
    select set_config('request.jwt.claims', '{"sub": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "role": "authenticated"}', true);
    delete from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02';
    reset role$$,
    'an owner''s own DELETE through the Data API works');
select isnt_empty($$select 1 from profilecache.tombstones where resource = 'profile' and id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'$$,
    'and leaves a tombstone (the trigger runs as its owner)');

select is(current_user::text, 'postgres', 'every role switch was undone');

select * from finish();
rollback;
