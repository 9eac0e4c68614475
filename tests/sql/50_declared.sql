-- pgTAP: public.profilecache_apply and profilecache_delete on a declared
-- table other than profiles (schema/postgres/30_apply.sql), registered here
-- as profilecache-admin sql registers one: an owner column, a unique column,
-- columns named t and p (the names the functions' SQL gives the row), a
-- number, and created_at. Run by tests/e2e/t_sql.sh as a superuser, in one
-- transaction rolled back at the end.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only on

begin;
set local timezone = 'UTC';
select plan(27);

create table public.tap_items (
    id             uuid primary key,
    owner_id       uuid,
    handle         text constraint tap_items_handle_key unique,
    t              text,
    p              bigint,
    due            timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    field_versions jsonb not null default '{}'
);
insert into profilecache.resources (name, tbl, key, owner, columns, types)
    values ('tap_item', 'public.tap_items', 'id', 'owner_id', '{owner_id,handle,t,p,due}',
            '{"owner_id": "string", "handle": "string", "t": "string", "p": "number", "due": "string"}');
create trigger tap_items_version_outside_write before insert or update on public.tap_items
    for each row execute function profilecache.version_outside_write();
create trigger tap_items_tombstone_outside_delete after delete on public.tap_items
    for each row execute function profilecache.tombstone_outside_delete();

\set one 'dddddddd-0000-4000-8000-000000000001'
\set two 'dddddddd-0000-4000-8000-000000000002'
\set ann 'dddddddd-0000-4000-8000-0000000000a1'
\set bea 'dddddddd-0000-4000-8000-0000000000b2'

-- apply ID PATCH UPDATED_AT [VERSIONS]: one change's result.
create function pg_temp.apply(id text, patch jsonb, ts text, versions jsonb default null)
    returns jsonb language sql as $$
    select public.profilecache_apply('tap_item', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
        'id', id, 'patch', patch, 'updated_at', ts, 'versions', versions)))) -> 'results' -> 0
$$;
create function pg_temp.item(iid text) returns jsonb language sql as $$
    select to_jsonb(i) from public.tap_items i where i.id = iid::uuid
$$;

-- --- create ------------------------------------------------------------------------------

select is(pg_temp.apply(:'one', jsonb_build_object('owner_id', :'ann', 'handle', 'first', 't', 'T1', 'p', 1),
                        '2020-01-01T00:00:00Z') ->> 'status',
    'applied', 'create: a change for a missing id is applied');
select is(pg_temp.item(:'one') - 'field_versions' - 'updated_at' - 'created_at',
    jsonb_build_object('id', :'one', 'owner_id', :'ann', 'handle', 'first', 't', 'T1', 'p', 1, 'due', null),
    'create: the row holds the patch');
select is((pg_temp.item(:'one') ->> 'created_at')::timestamptz, '2020-01-01Z'::timestamptz,
    'create: created_at is the change''s version (it is older than now())');

-- --- the set-based step: columns named t and p -----------------------------------------

select is(public.profilecache_apply('tap_item', jsonb_build_array(
        jsonb_build_object('id', :'one', 'patch', jsonb_build_object('t', 'T2', 'p', 2),
                           'updated_at', '2020-01-02T00:00:00Z'))) #>> '{results,0,status}',
    'applied', 'update: the first change of an id in a batch (the set-based step) applies to t and p');
select is(pg_temp.item(:'one') ->> 't' || '/' || (pg_temp.item(:'one') ->> 'p'), 'T2/2',
    'update: t and p hold the new values');
select is(public.profilecache_apply('tap_item', jsonb_build_array(
        jsonb_build_object('id', :'one', 'patch', '{}'::jsonb, 'updated_at', '2020-01-03T00:00:00Z'),
        jsonb_build_object('id', :'one', 'patch', jsonb_build_object('t', 'OLD'),
                           'updated_at', '2019-01-01T00:00:00Z'))) #>> '{results,1,status}',
    'conflict', 'update: an older change to t, one at a time (the id''s second change), is a conflict');
select is(pg_temp.item(:'one') ->> 't' || '/' || (pg_temp.item(:'one') ->> 'updated_at'),
    'T2/2020-01-02T00:00:00+00:00', 'update: t and updated_at keep the newer version');
select ok((pg_temp.item(:'one') #>> '{field_versions,t}')::bigint = 1577923200000000,
    'update: t''s version stays the newer change''s');

-- A value the table holds in another form (a time with Z, which it renders
-- +00:00) is applied, not reported superseded.
select is(pg_temp.apply(:'one', jsonb_build_object('due', '2030-01-01T00:00:00Z', 'p', 3),
                        '2020-01-03T00:00:01Z') -> 'applied',
    '["due", "p"]', 'forms: a time in Z is applied');
select is(pg_temp.item(:'one') ->> 'due' || '/' || (pg_temp.item(:'one') ->> 'p'),
    '2030-01-01T00:00:00+00:00/3', 'forms: and held as the table holds them');

-- --- data the database refuses -------------------------------------------------------------

select is(jsonb_path_query_array(public.profilecache_apply('tap_item', jsonb_build_array(
        jsonb_build_object('id', :'one', 'patch', jsonb_build_object('p', 'five'),
                           'updated_at', '2020-01-04T00:00:00Z'),
        jsonb_build_object('id', :'one', 'patch', jsonb_build_object('t', 5),
                           'updated_at', '2020-01-04T00:00:00Z'),
        jsonb_build_object('id', :'one', 'patch', jsonb_build_object('nickname', 'x'),
                           'updated_at', '2020-01-04T00:00:00Z'))), '$.results[*].code'),
    '["22023", "22023", "unknown_field"]', 'types: a string for a number, a number for text: 22023; an unregistered column: unknown_field');
select is(pg_temp.item(:'one') ->> 't' || '/' || (pg_temp.item(:'one') ->> 'p'), 'T2/3',
    'types: nothing of them is written');
select is(pg_temp.apply(:'two', jsonb_build_object('owner_id', :'bea', 'handle', 'first'),
                        '2020-01-05T00:00:00Z') - 'id' - 'row' - 'status',
    '{"code": "handle_taken", "message": "handle is taken"}',
    'unique: a value another row holds in a unique column is <column>_taken');
select is(pg_temp.item(:'two'), null, 'unique: and the row is not created');

-- --- the owner ---------------------------------------------------------------------------------

select is(public.profilecache_apply('tap_item', jsonb_build_array(
        jsonb_build_object('id', :'one', 'patch', jsonb_build_object('owner_id', :'bea', 't', 'mine now'),
                           'updated_at', '2020-01-06T00:00:00Z'))) #>> '{results,0,code}',
    'owner_conflict', 'owner: a change giving a row another owner is refused, in the set-based step too');
select is(pg_temp.apply(:'one', jsonb_build_object('owner_id', :'bea', 't', 'mine now'),
                        '2020-01-06T00:00:00Z') ->> 'code',
    'owner_conflict', 'owner: and one at a time');
select is(pg_temp.apply(:'one', jsonb_build_object('owner_id', :'ann', 't', 'T3'),
                        '2020-01-06T00:00:00Z') ->> 'status',
    'applied', 'owner: the same owner again is applied');

-- --- delete, tombstone, recreate -----------------------------------------------------------------

select is(public.profilecache_delete('tap_item', :'one') ->> 'status', 'deleted', 'delete: the row is deleted');
select is((select owner from profilecache.tombstones where resource = 'tap_item' and id = :'one'), :'ann',
    'delete: the tombstone names the owner');
select is(pg_temp.apply(:'one', jsonb_build_object('t', 'late'), '2020-01-07T00:00:00Z') ->> 'status',
    'deleted', 'tombstone: a change older than the delete is deleted');
select is(pg_temp.apply(:'one', jsonb_build_object('t', 'reborn', 'p', 9), '2999-01-01T00:00:00Z',
                        jsonb_build_object('p', 1577836800000000)) -> 'applied',
    '["t"]', 'recreate: only the fields newer than the tombstone are written');
select is(pg_temp.apply(:'one', jsonb_build_object('p', 10), '2999-01-02T00:00:00Z',
                        jsonb_build_object('p', 1577836800000001)) ->> 'status',
    'conflict', 'recreate: the recreated row''s other fields stay at the tombstone''s version');
select is(pg_temp.item(:'one') ->> 'p', null, 'recreate: so p stays unset');

select throws_ok($$delete from profilecache.resources where name = 'tap_item'$$, '23503', null,
    'tombstones: the registry row of a resource with tombstones cannot be deleted');

-- --- a created_at that changes write ---------------------------------------------------------------

update profilecache.resources set columns = columns || '{created_at}'::text[],
                                  types = types || '{"created_at": "string"}'
 where name = 'tap_item';
select is(pg_temp.apply(:'two', jsonb_build_object('owner_id', :'bea', 'created_at', '2001-01-01T00:00:00Z'),
                        '2020-01-08T00:00:00Z') -> 'applied',
    '["created_at", "owner_id"]', 'created_at declared: the change''s value is written');
select is((pg_temp.item(:'two') ->> 'created_at')::timestamptz, '2001-01-01Z'::timestamptz,
    'created_at declared: and kept, not replaced by the create''s time');

-- --- the resource ------------------------------------------------------------------------------------

select throws_ok($$select public.profilecache_apply('no_such_thing', '[]')$$, '55000', null,
    'a resource the registry lacks fails the whole call (55000: a migration not loaded; retried)');

select * from finish();
rollback;
