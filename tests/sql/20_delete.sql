-- pgTAP: public.delete_profile (profilecache_delete for profiles) and tombstones
-- (schema/postgres/30_apply.sql).
-- Run by tests/e2e/t_sql.sh as a superuser, in one transaction rolled back at
-- the end. Uses the sample profiles and ids aaaaaaaa-0000-4000-8000-0000000001NN.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only on

begin;
set local timezone = 'UTC';
select plan(30);

-- --- definitions --------------------------------------------------------------------

select has_table('profilecache', 'tombstones', 'table tombstones exists');
select hasnt_table('public', 'tombstones',
    'and not in public, which the Data API exposes');
select col_is_pk('profilecache', 'tombstones', array['resource', 'id'], 'its primary key is (resource, id)');
select col_type_is('profilecache', 'tombstones', 'deleted_at', 'timestamp with time zone',
    'deleted_at is a timestamptz');
select col_not_null('profilecache', 'tombstones', 'deleted_at', 'deleted_at is not null');
select has_function('public', 'delete_profile', array['uuid'], 'delete_profile(uuid) exists');
select function_returns('public', 'delete_profile', array['uuid'], 'jsonb', 'it returns jsonb');
select volatility_is('public', 'delete_profile', array['uuid'], 'volatile', 'it is volatile');
select isnt_definer('public', 'delete_profile', array['uuid'], 'it is security invoker');

-- --- deleting an existing row -----------------------------------------------------------

select public.delete_profile('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02') as r \gset
select is(:'r'::jsonb - 'deleted_at',
    '{"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "status": "deleted"}'::jsonb,
    'delete: an existing row answers status deleted');
select is((:'r'::jsonb ->> 'deleted_at')::timestamptz, now(),
    'delete: deleted_at is now() when the row is older');
select is_empty($$select 1 from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'$$,
    'delete: the row is gone');
select results_eq(
    $$select deleted_at from profilecache.tombstones where resource = 'profile' and id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'$$,
    $$values (now())$$,
    'delete: a tombstone records deleted_at');

-- A late replay of an older change must not resurrect it.
select public.apply_profile_changes(jsonb_build_array(jsonb_build_object(
    'id', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02', 'patch', jsonb_build_object('bio', 'late'),
    'updated_at', to_char(now() - interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))) as r \gset
select is(:'r'::jsonb -> 'results' -> 0,
    '{"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "status": "deleted", "row": null, "code": null, "message": null}'::jsonb,
    'tombstone: an older change is reported deleted, with row null');
select is_empty($$select 1 from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'$$,
    'tombstone: and the row is not recreated');
select public.apply_profile_changes(jsonb_build_array(jsonb_build_object(
    'id', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02', 'patch', jsonb_build_object('username', 'bob2'),
    'updated_at', to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))) as r \gset
select is(:'r'::jsonb #>> '{results,0,status}', 'deleted',
    'tombstone: a change at exactly deleted_at is deleted too');

-- A change newer than the tombstone recreates the row (the documented rule).
select public.apply_profile_changes(jsonb_build_array(jsonb_build_object(
    'id', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02', 'patch', jsonb_build_object('bio', 'reborn'),
    'updated_at', to_char(now() + interval '1 microsecond', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))) as r \gset
select is(:'r'::jsonb #>> '{results,0,status}', 'applied',
    'tombstone: a change newer than it is applied');
select results_eq(
    $$select bio, username from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'$$,
    $$values ('reborn'::text, null::text)$$,
    'tombstone: it recreates the row with only its own fields');
select isnt_empty($$select 1 from profilecache.tombstones where resource = 'profile' and id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'$$,
    'tombstone: which stays, still blocking older changes');

-- --- a row that is newer than now (a web node's clock ahead) ---------------------------------

select public.apply_profile_changes($$[{"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01",
    "patch": {"bio": "from the future"}, "updated_at": "2099-01-01T00:00:00.000009Z"}]$$) as r \gset
select public.delete_profile('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01') as r \gset
select is(:'r'::jsonb ->> 'deleted_at', '2099-01-01T00:00:00.00001+00:00',
    'delete: deleted_at is just after the row''s updated_at when that is later than now()');
select public.apply_profile_changes($$[{"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01",
    "patch": {"bio": "replayed"}, "updated_at": "2099-01-01T00:00:00.000009Z"}]$$) as r \gset
select is(:'r'::jsonb #>> '{results,0,status}', 'deleted',
    'delete: so even a replay of the last applied change cannot recreate it');

-- --- a missing id --------------------------------------------------------------------

select public.delete_profile('aaaaaaaa-0000-4000-8000-000000000101') as r \gset
select is(:'r'::jsonb ->> 'status', 'not_found', 'missing: delete_profile answers not_found');
select is((:'r'::jsonb ->> 'deleted_at')::timestamptz, now(), 'missing: with deleted_at now()');
select public.apply_profile_changes(jsonb_build_array(jsonb_build_object(
    'id', 'aaaaaaaa-0000-4000-8000-000000000101', 'patch', jsonb_build_object('bio', 'pending create'),
    'updated_at', to_char(now() - interval '1 millisecond', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))) as r \gset
select is(:'r'::jsonb #>> '{results,0,status}', 'deleted',
    'missing: it still leaves a tombstone, so a create still waiting in a journal cannot appear later');

-- --- deleting again ---------------------------------------------------------------------

select public.delete_profile('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01') as r \gset
select is(:'r'::jsonb ->> 'status', 'not_found', 'again: a second delete answers not_found');
select is(:'r'::jsonb ->> 'deleted_at', '2099-01-01T00:00:00.00001+00:00',
    'again: and never moves the tombstone back');
select results_eq(
    $$select count(*)::int from profilecache.tombstones where resource = 'profile' and id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'$$,
    $$values (1)$$,
    'again: one tombstone per id');

select count(*) as tombs, (select count(*) from public.profiles) as rows
  from profilecache.tombstones \gset
select throws_ok($$select public.delete_profile(null)$$, '22004', null,
    'delete_profile(null) raises 22004 (HTTP 400)');
select is((select count(*) from profilecache.tombstones), :tombs::bigint,
    'delete_profile(null) writes no tombstone (check-origin''s read-only probe)');
select is((select count(*) from public.profiles), :rows::bigint,
    'and deletes no row');

select * from finish();
rollback;
