-- pgTAP: per-field versions in public.apply_profile_changes, the trigger that
-- versions writes made outside profilecache, and the migration of rows made
-- before field versions existed. Run by tests/e2e/t_sql.sh as a superuser, in
-- one transaction rolled back at the end; ids bbbbbbbb-... are its own.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only on

begin;
set local timezone = 'UTC';
select plan(34);

-- apply ID PATCH UPDATED_AT [VERSIONS]: one change, its result.
create function pg_temp.apply(id text, patch jsonb, ts text, versions jsonb default null)
    returns jsonb language sql as $$
    select public.apply_profile_changes(jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
        'id', id, 'patch', patch, 'updated_at', ts, 'versions', versions)))) -> 'results' -> 0
$$;
create function pg_temp.row(pid text) returns jsonb language sql as $$
    select to_jsonb(p) - 'created_at' from public.profiles p where p.id = pid::uuid
$$;

-- --- two changes to two fields, in both orders --------------------------------------------

select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{}', '2030-01-01T00:00:00Z') as created1 \gset
select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000002', '{}', '2030-01-01T00:00:00Z') as created2 \gset
-- older change first
select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"bio": "A"}', '2030-02-01T00:00:01Z') ->> 'status',
    'applied', 'fields, in order: the older change (bio) applies');
select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"display_name": "B"}', '2030-02-01T00:00:02Z') ->> 'status',
    'applied', 'fields, in order: the newer change (display_name) applies');
-- newer change first: the older one to another field still applies
select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000002', '{"display_name": "B"}', '2030-02-01T00:00:02Z') ->> 'status',
    'applied', 'fields, reversed: the newer change applies');
select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000002', '{"bio": "A"}', '2030-02-01T00:00:01Z') as r \gset
select is(:'r'::jsonb ->> 'status', 'applied',
    'fields, reversed: the older change to another field is applied, not a conflict');
select is(:'r'::jsonb -> 'applied', '["bio"]', 'fields, reversed: applied lists bio');
select is((select pg_temp.row('bbbbbbbb-0000-4000-8000-000000000001') - 'id'),
          (select pg_temp.row('bbbbbbbb-0000-4000-8000-000000000002') - 'id'),
    'fields: both orders end in the same row, versions included');
select is(pg_temp.row('bbbbbbbb-0000-4000-8000-000000000002') ->> 'updated_at', '2030-02-01T00:00:02+00:00',
    'fields: updated_at is the newest field version, whatever the order');
select is(pg_temp.row('bbbbbbbb-0000-4000-8000-000000000002') -> 'field_versions',
    '{"bio": 1896134401000000, "display_name": 1896134402000000}',
    'fields: each field carries its own version');

-- --- one field, two versions, both orders ---------------------------------------------------

select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"bio": "new"}', '2030-02-01T00:00:05Z') ->> 'status',
    'applied', 'one field: the newer value applies');
select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"bio": "old"}', '2030-02-01T00:00:04Z') as r \gset
select is(:'r'::jsonb ->> 'status', 'conflict', 'one field: the older value afterwards is a conflict');
select is(:'r'::jsonb -> 'superseded', '["bio"]', 'one field: superseded lists bio');
select is(pg_temp.row('bbbbbbbb-0000-4000-8000-000000000001') ->> 'bio', 'new', 'one field: the newer value stays');

-- --- a change partly superseded ------------------------------------------------------------

select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"bio": "older", "gradient": "#000000"}',
    '2030-02-01T00:00:03Z') as r \gset
select is(:'r'::jsonb ->> 'status', 'applied', 'partly: a change with one newer field is applied');
select is(:'r'::jsonb -> 'applied', '["gradient"]', 'partly: applied lists the field that was written');
select is(:'r'::jsonb -> 'superseded', '["bio"]', 'partly: superseded lists the field held at a newer version');
select is(pg_temp.row('bbbbbbbb-0000-4000-8000-000000000001') ->> 'bio', 'new', 'partly: bio keeps the newer value');
select is(pg_temp.row('bbbbbbbb-0000-4000-8000-000000000001') ->> 'updated_at', '2030-02-01T00:00:05+00:00',
    'partly: updated_at stays the newest field version');

-- --- versions: a coalesced change carries each field's own version ----------------------

select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"bio": "coalesced old", "display_name": "coalesced new"}',
    '2030-02-01T00:00:09Z', '{"bio": 1896134403000000}') as r \gset
select is(:'r'::jsonb -> 'applied', '["display_name"]', 'versions: the field at its newer version is written');
select is(:'r'::jsonb -> 'superseded', '["bio"]', 'versions: the field at its own older version loses');
select is(public.apply_profile_changes($$[{"id": "bbbbbbbb-0000-4000-8000-000000000001",
    "patch": {"bio": "x"}, "updated_at": "2030-02-01T00:00:09Z", "versions": {"bio": 1.5}}]$$) #>> '{results,0,code}',
    'invalid_change', 'versions: a version that is not whole microseconds is refused');

-- --- equal versions -----------------------------------------------------------------------

select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"bio": "new"}', '2030-02-01T00:00:05Z') ->> 'status',
    'applied', 'equal: an exact replay is applied again');
select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"gradient": "#111111"}', '2030-02-01T00:00:03Z') as r \gset
select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000002', '{"gradient": "#111111"}', '2030-02-01T00:00:03Z') as r \gset
select pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000002', '{"gradient": "#000000"}', '2030-02-01T00:00:03Z') as r \gset
select is(pg_temp.row('bbbbbbbb-0000-4000-8000-000000000001') ->> 'gradient',
          pg_temp.row('bbbbbbbb-0000-4000-8000-000000000002') ->> 'gradient',
    'equal: two values at one version end the same whatever order they came in');

-- --- tombstones ------------------------------------------------------------------------------

select public.delete_profile('bbbbbbbb-0000-4000-8000-000000000002') ->> 'deleted_at' as tomb \gset
select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000002', '{"bio": "late"}', '2020-02-01T00:00:10Z') ->> 'status',
    'deleted', 'tombstone: a change older than the delete is not applied');
select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000002', '{"bio": "reborn", "display_name": "old"}',
    '2999-01-01T00:00:00Z', jsonb_build_object('display_name', 1577836800000000)) -> 'applied',
    '["bio"]', 'tombstone: a newer change recreates the row, without its fields older than the delete');

-- --- writes made outside profilecache ----------------------------------------------------------

update public.profiles set display_name = 'from the dashboard' where id = 'bbbbbbbb-0000-4000-8000-000000000001';
select ok((pg_temp.row('bbbbbbbb-0000-4000-8000-000000000001') #>> '{field_versions,display_name}')::bigint
          > 1896134409000000,
    'outside: a direct UPDATE stamps the field after every version the row held');
select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000001', '{"display_name": "queued before"}',
    '2030-02-01T00:00:09Z') ->> 'status', 'conflict', 'outside: a change older than the direct UPDATE loses');
update public.profiles set field_versions = '{}', updated_at = '2000-01-01Z'
 where id = 'bbbbbbbb-0000-4000-8000-000000000001';
select ok(pg_temp.row('bbbbbbbb-0000-4000-8000-000000000001') -> 'field_versions' <> '{}'
          and pg_temp.row('bbbbbbbb-0000-4000-8000-000000000001') ->> 'updated_at' > '2030',
    'outside: field_versions and updated_at cannot be set from outside');

insert into public.profiles (id, bio) values ('bbbbbbbb-0000-4000-8000-000000000003', 'signed up');
select is(pg_temp.row('bbbbbbbb-0000-4000-8000-000000000003') -> 'field_versions' ?| array['display_name', 'is_private'],
    false, 'outside: an INSERT versions only what it sets, not nulls and defaults');
select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000003', '{"display_name": "queued while away"}',
    '2020-01-01T00:00:00Z') ->> 'status', 'applied',
    'outside: so an older queued change to another field still applies');
delete from public.profiles where id = 'bbbbbbbb-0000-4000-8000-000000000003';
select is(pg_temp.apply('bbbbbbbb-0000-4000-8000-000000000003', '{"bio": "late replay"}',
    '2020-01-02T00:00:00Z') ->> 'status', 'deleted',
    'outside: a DELETE made outside leaves a tombstone, so a late replay does not bring the row back');
select is((select count(*)::int from pg_catalog.pg_proc
            where pronamespace = 'public'::regnamespace
              and pg_catalog.array_to_string(proconfig, ',') like '%profilecache.%'), 0,
    'no function sets a custom parameter in its definition (that takes a superuser, which Supabase''s roles are not)');

-- --- migration: rows made before field versions --------------------------------------------

alter table public.profiles drop column field_versions;
\ir ../../schema/postgres/10_profiles.sql
select is((select count(*)::int from public.profiles where field_versions is null), 0,
    'migration: every row gets field versions');
select is((select field_versions ->> 'bio' from public.profiles where username = 'alice'),
          (select (extract(epoch from updated_at) * 1000000)::bigint::text from public.profiles where username = 'alice'),
    'migration: an existing row''s fields are at its updated_at');
select is(pg_temp.apply('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01', '{"bio": "after migration"}', '2999-01-01T00:00:00Z') ->> 'status',
    'applied', 'migration: a newer change applies to a migrated row');

select * from finish();
rollback;
