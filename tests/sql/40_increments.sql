-- pgTAP: public.profilecache_increment and profilecache_counted, the ledger
-- of counters (schema/postgres/60_increments.sql), on the example
-- configuration's balances (schema/postgres/local/example_resources.sql):
-- alice (…8b01) holds 100, bob (…8b02) has no row. Run by
-- tests/e2e/t_sql.sh as a superuser, in one transaction rolled back at the end.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only on

begin;
set local timezone = 'UTC';
select plan(37);

\set alice '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'
\set bob '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'

-- --- definitions --------------------------------------------------------------------

select has_table('profilecache', 'increments', 'the ledger profilecache.increments exists');
select hasnt_table('public', 'increments', 'and not in public, which the Data API exposes');
select col_is_pk('profilecache', 'increments', array['resource', 'id', 'key'],
    'one row per (resource, id, key)');
select has_function('public', 'profilecache_increment', array['text', 'jsonb'],
    'profilecache_increment(text, jsonb) exists');
select volatility_is('public', 'profilecache_counted', array['text', 'uuid[]', 'text[]'], 'stable',
    'profilecache_counted is stable: one snapshot for the row and the ledger');
select isnt_definer('public', 'profilecache_increment', array['text', 'jsonb'],
    'profilecache_increment is security invoker');
select is((select counters from profilecache.resources where name = 'balance'),
    '{"balance": {"min": 0, "max": null}}'::jsonb, 'the registry holds the counter and its floor');

-- --- applying ---------------------------------------------------------------------------

create temporary table r (n int, doc jsonb);
insert into r select 1, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k1', 'field', 'balance', 'delta', -30,
                                  'at', '2026-12-03T10:00:00Z')));
select is((select doc -> 'results' -> 0 ->> 'status' from r where n = 1), 'applied',
    'a decrement above the floor is applied');
select is((select (doc -> 'results' -> 0 ->> 'value')::bigint from r where n = 1), 70::bigint,
    'the answer has the new value');
select is((select balance from public.balances where user_id = :'alice'), 70::bigint,
    'the row holds it');
select ok((select (field_versions ? 'balance') from public.balances where user_id = :'alice'),
    'the field is versioned, as an outside write is');

-- The same batch again (a flusher that died before recording): nothing more.
insert into r select 2, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k1', 'field', 'balance', 'delta', -30,
                                  'at', '2026-12-03T10:00:00Z')));
select is((select (doc -> 'results' -> 0) - 'message' from r where n = 2),
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k1', 'status', 'applied', 'value', 70,
                                  'duplicate', true, 'code', null),
    'a replayed key answers its first outcome, marked duplicate');
select is((select balance from public.balances where user_id = :'alice'), 70::bigint,
    'and changes nothing');

-- Duplicate keys in one batch, and two keys: each key counts once.
insert into r select 3, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k2', 'field', 'balance', 'delta', 5, 'at', '2026-12-03T10:00:01Z'),
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k2', 'field', 'balance', 'delta', 5, 'at', '2026-12-03T10:00:01Z'),
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k3', 'field', 'balance', 'delta', 5, 'at', '2026-12-03T10:00:02Z')));
select is((select pg_catalog.jsonb_array_length(doc -> 'results') from r where n = 3), 3,
    'one result per increment');
select is((select doc -> 'results' -> 1 ->> 'duplicate' from r where n = 3), 'true',
    'the second k2 of the batch is a duplicate');
select is((select balance from public.balances where user_id = :'alice'), 80::bigint,
    'k2 and k3 added once each');

-- --- the floor ------------------------------------------------------------------------

insert into r select 4, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k4', 'field', 'balance', 'delta', -81, 'at', '2026-12-03T10:00:03Z')));
select is((select doc -> 'results' -> 0 ->> 'status' from r where n = 4), 'rejected',
    'a decrement below the floor is rejected');
select is((select doc -> 'results' -> 0 ->> 'code' from r where n = 4), 'insufficient_balance',
    'as insufficient_balance');
select is((select balance from public.balances where user_id = :'alice'), 80::bigint,
    'the row is unchanged');
select is((select status from profilecache.increments where resource = 'balance' and key = 'k4'),
    'rejected', 'the refusal is recorded');
-- Credited meanwhile, the same key still keeps its outcome.
insert into r select 5, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k5', 'field', 'balance', 'delta', 100, 'at', '2026-12-03T10:00:04Z'),
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k4', 'field', 'balance', 'delta', -81, 'at', '2026-12-03T10:00:03Z')));
select is((select doc -> 'results' -> 1 ->> 'status' from r where n = 5), 'rejected',
    'a refused key stays refused, whatever the balance is now');
select is((select balance from public.balances where user_id = :'alice'), 180::bigint,
    'only the credit counted');
-- The same key for another delta: a client's mistake, not applied.
insert into r select 6, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'k5', 'field', 'balance', 'delta', 1, 'at', '2026-12-03T10:00:05Z')));
select is((select doc -> 'results' -> 0 ->> 'code' from r where n = 6), 'key_reused',
    'a key used again for another delta is rejected as key_reused');
select is((select balance from public.balances where user_id = :'alice'), 180::bigint,
    'and changes nothing');

-- --- rows -----------------------------------------------------------------------------

insert into r select 7, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'bob', 'key', 'b1', 'field', 'balance', 'delta', 25, 'at', '2026-12-03T10:00:06Z')));
select is((select balance from public.balances where user_id = :'bob'), 25::bigint,
    'a credit to a missing row creates it (the key is its owner)');
insert into r select 8, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', 'aaaaaaaa-0000-4000-8000-000000000301', 'key', 'n1', 'field',
                                  'balance', 'delta', -1, 'at', '2026-12-03T10:00:07Z')));
select is((select doc -> 'results' -> 0 ->> 'code' from r where n = 8), 'insufficient_balance',
    'a debit of a missing row is refused by the floor');
select public.profilecache_delete('balance', :'bob') is not null as deleted \gset
insert into r select 9, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'bob', 'key', 'b2', 'field', 'balance', 'delta', 5,
                                  'at', '2000-01-01T00:00:00Z')));
select is((select doc -> 'results' -> 0 ->> 'status' from r where n = 9), 'deleted',
    'an increment older than the row''s delete is deleted');
select is_empty($$select 1 from public.balances where user_id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'$$,
    'and does not bring the row back');
select is((select status from profilecache.increments where resource = 'balance' and key = 'b2'),
    'deleted', 'the delete''s outcome is recorded for the key');
insert into r select 11, public.profilecache_increment('balance', pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('id', :'alice', 'key', 'ov', 'field', 'balance',
                                  'delta', 9223372036854775807, 'at', '2026-12-03T10:00:08Z')));
select is((select doc -> 'results' -> 0 ->> 'code' from r where n = 11), '22003',
    'an increment past bigint is rejected with the database''s code');
select is((select status || ' ' || code from profilecache.increments where resource = 'balance' and key = 'ov'),
    'rejected 22003', 'and recorded, so that no retry can apply it later');

-- --- bad input ------------------------------------------------------------------------

insert into r select 10, public.profilecache_increment('balance', '[{"id":"x","key":"k","field":"balance","delta":1,"at":"2026-12-03T10:00:00Z"}, 7]');
select is((select pg_catalog.jsonb_path_query_array(doc, '$.results[*].code') from r where n = 10),
    '["invalid_increment", "invalid_increment"]'::jsonb, 'malformed increments are rejected one by one');
select throws_ok($$select public.profilecache_increment('balance', '[{"id":"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01","key":"k","field":"updated_at","delta":1,"at":"2026-12-03T10:00:00Z"}]')$$,
    '55000', null, 'a field that is not a counter fails the call (a migration not loaded)');
select throws_ok($$select public.profilecache_increment('nothing', '[]')$$, '55000', null,
    'an undeclared resource fails the call');

-- --- profilecache_counted -------------------------------------------------------------

select is((public.profilecache_counted('balance', array[:'alice'::uuid, :'bob'::uuid],
                                      array['k1', 'k4', 'zz']) -> 'settled'),
    pg_catalog.jsonb_build_object(:'alice', '{"k1": "applied", "k4": "rejected"}'::jsonb),
    'counted: which keys the ledger holds, and how, per row');
select is((public.profilecache_counted('balance', array[:'alice'::uuid, :'bob'::uuid], null) -> 'rows'
           -> 0 ->> 'balance')::bigint,
    180::bigint, 'counted: the rows that exist, as they are');

-- --- grants ---------------------------------------------------------------------------

select ok(not pg_catalog.has_function_privilege('authenticated',
    'public.profilecache_increment(text, jsonb)', 'execute'),
    'authenticated cannot call profilecache_increment');

select * from finish();
rollback;
