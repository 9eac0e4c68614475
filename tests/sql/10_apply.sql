-- pgTAP: public.apply_profile_changes (schema/postgres/30_apply.sql).
-- Run by tests/e2e/t_sql.sh as a superuser, in one transaction rolled back at
-- the end. Uses the sample profiles (schema/postgres/local/sample_profiles.sql)
-- and ids aaaaaaaa-0000-4000-8000-0000000000NN of its own.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only on

begin;
set local timezone = 'UTC';
select plan(54);

-- --- the function's definition -----------------------------------------------------

select has_function('public', 'apply_profile_changes', array['jsonb'],
    'apply_profile_changes(jsonb) exists');
select function_returns('public', 'apply_profile_changes', array['jsonb'], 'jsonb',
    'it returns one jsonb');
select volatility_is('public', 'apply_profile_changes', array['jsonb'], 'volatile',
    'it is volatile');
select isnt_definer('public', 'apply_profile_changes', array['jsonb'],
    'it is security invoker');
select function_lang_is('public', 'apply_profile_changes', array['jsonb'], 'plpgsql',
    'it is plpgsql');

-- --- a missing id: insert -------------------------------------------------------------

select public.apply_profile_changes($$[{"id": "aaaaaaaa-0000-4000-8000-000000000001",
    "patch": {"username": "tap_one", "display_name": "One", "is_private": true},
    "updated_at": "2030-01-01T00:00:00.000001Z"}]$$) as r \gset
select is(:'r'::jsonb #>> '{results,0,status}', 'applied',
    'insert: a change for a missing id is applied');
select results_eq(
    $$select username, display_name, bio, avatar_url, gradient, is_private, updated_at
        from public.profiles where id = 'aaaaaaaa-0000-4000-8000-000000000001'$$,
    $$values ('tap_one'::text, 'One'::text, null::text, null::text, null::text, true,
              '2030-01-01 00:00:00.000001+00'::timestamptz)$$,
    'insert: the row has the patched fields, nulls elsewhere and the change''s updated_at');
select is((select created_at from public.profiles where id = 'aaaaaaaa-0000-4000-8000-000000000001'),
    now(), 'insert: created_at is the default now()');
select is(:'r'::jsonb #> '{results,0,row}',
    (select to_jsonb(p) from public.profiles p where id = 'aaaaaaaa-0000-4000-8000-000000000001'),
    'insert: the result carries the row as written');
select is(:'r'::jsonb #>> '{results,0,row,updated_at}', '2030-01-01T00:00:00.000001+00:00',
    'insert: timestamps are rendered RFC 3339 in UTC with microseconds');
select is(:'r'::jsonb, jsonb_build_object('results', jsonb_build_array(jsonb_build_object(
        'id', 'aaaaaaaa-0000-4000-8000-000000000001', 'status', 'applied',
        'row', :'r'::jsonb #> '{results,0,row}', 'code', null, 'message', null,
        'applied', '["display_name", "is_private", "username"]'::jsonb, 'superseded', '[]'::jsonb)),
        'now', :'r'::jsonb -> 'now'),
    'insert: the document is {"results":[{"id","status","row","code","message","applied","superseded"}],"now"}');
select is((select count(*)::int from public.profiles where id = 'aaaaaaaa-0000-4000-8000-000000000002'
           or id = 'aaaaaaaa-0000-4000-8000-000000000001'), 1,
    'insert: one row, no other');
select public.apply_profile_changes($$[{"id": "aaaaaaaa-0000-4000-8000-000000000002",
    "patch": {}, "updated_at": "2030-01-01T00:00:00Z"}]$$) as r \gset
select is(:'r'::jsonb #>> '{results,0,status}', 'applied', 'insert: an empty patch is applied');
select results_eq(
    $$select is_private, username from public.profiles where id = 'aaaaaaaa-0000-4000-8000-000000000002'$$,
    $$values (false, null::text)$$,
    'insert: it creates a row with the table''s defaults (is_private false)');

-- --- an existing row: update only the patched fields ------------------------------------------

select public.apply_profile_changes($$[{"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01",
    "patch": {"bio": "New bio", "gradient": null},
    "updated_at": "2030-01-02T00:00:00.5Z"}]$$) as r \gset
select is(:'r'::jsonb #>> '{results,0,status}', 'applied', 'update: a newer change is applied');
select results_eq(
    $$select username, display_name, bio, avatar_url, gradient, is_private, created_at, updated_at
        from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'$$,
    $$values ('alice'::text, 'Alice Liddell'::text, 'New bio'::text,
              'https://images.example.com/avatars/7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01.webp'::text,
              null::text, false, '2024-03-02 09:15:27.481516+00'::timestamptz,
              '2030-01-02 00:00:00.5+00'::timestamptz)$$,
    'update: the patched fields change (null included), the others and created_at stay');
select is(:'r'::jsonb #> '{results,0,row}',
    (select to_jsonb(p) from public.profiles p where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'),
    'update: the result carries the row after the write');
select public.apply_profile_changes($$[{"id": "7B3E4A52-1C9D-4F60-9A8E-2D5C6F7A8B01",
    "patch": {"display_name": "Alice"}, "updated_at": "2030-01-02T01:00:00.5+01:00"}]$$) as r \gset
select is(:'r'::jsonb #>> '{results,0,id}', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01',
    'update: an upper-case id is answered in canonical form');
select is(:'r'::jsonb #>> '{results,0,row,display_name}', 'Alice',
    'update: an offset timestamp equal to the row''s (+01:00) applies');

-- --- an older change: conflict ------------------------------------------------------------

select public.apply_profile_changes($$[{"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01",
    "patch": {"bio": "Stale bio"}, "updated_at": "2030-01-02T00:00:00.499999Z"}]$$) as r \gset
select is(:'r'::jsonb #>> '{results,0,status}', 'conflict', 'conflict: an older change is a conflict');
select is((select bio from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'),
    'New bio', 'conflict: nothing is written');
select is(:'r'::jsonb #> '{results,0,row}',
    (select to_jsonb(p) from public.profiles p where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'),
    'conflict: the current row is returned');
select is(:'r'::jsonb #> '{results,0,code}', 'null'::jsonb, 'conflict: code is null');

-- --- replaying a batch with the same updated_at changes nothing --------------------------------

\set batch '[{"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"bio": "first"}, "updated_at": "2030-01-03T00:00:00.000001Z"}, {"id": "aaaaaaaa-0000-4000-8000-000000000003", "patch": {"username": "tap_three", "bio": "three"}, "updated_at": "2030-01-03T00:00:00.000002Z"}, {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"display_name": "Bob", "is_private": true}, "updated_at": "2030-01-03T00:00:00.000003Z"}]'
select public.apply_profile_changes(:'batch') as r1 \gset
select jsonb_agg(to_jsonb(p) order by id) as rows1 from public.profiles p \gset
select public.apply_profile_changes(:'batch') as r2 \gset
select jsonb_agg(to_jsonb(p) order by id) as rows2 from public.profiles p \gset
select is(jsonb_path_query_array(:'r1'::jsonb, '$.results[*].status'), '["applied", "applied", "applied"]',
    'replay: the first run applies all three (two for one id, in order)');
select is(:'rows2'::jsonb, :'rows1'::jsonb, 'replay: running the same batch again leaves every row identical');
select is(jsonb_path_query_array(:'r2'::jsonb, '$.results[*].status'), '["applied", "applied", "applied"]',
    'replay: the second run applies every change again (each field holds that version and value)');
select results_eq(
    $$select bio, display_name, is_private from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'$$,
    $$values ('first'::text, 'Bob'::text, true)$$,
    'replay: changes to one id in a batch apply in order');

-- --- a mixed batch: one change breaks username uniqueness ---------------------------------------

select public.apply_profile_changes($$[
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", "patch": {"bio": "mixed 1"}, "updated_at": "2030-01-04T00:00:00Z"},
    {"id": "aaaaaaaa-0000-4000-8000-000000000003", "patch": {"username": "alice", "bio": "stolen"}, "updated_at": "2030-01-04T00:00:00Z"},
    {"id": "aaaaaaaa-0000-4000-8000-000000000004", "patch": {"username": "tap_four"}, "updated_at": "2030-01-04T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03", "patch": {"bio": "mixed 3"}, "updated_at": "2030-01-04T00:00:00Z"}
  ]$$) as r \gset
select is(jsonb_path_query_array(:'r'::jsonb, '$.results[*].status'),
    '["applied", "rejected", "applied", "applied"]',
    'mixed: only the change that takes a used username is rejected');
select is(:'r'::jsonb #>> '{results,1,code}', 'username_taken', 'mixed: with code username_taken');
select ok(:'r'::jsonb #> '{results,1,row}' = 'null'::jsonb and length(:'r'::jsonb #>> '{results,1,message}') > 0,
    'mixed: a rejected result has row null and a message');
select results_eq(
    $$select username, bio from public.profiles where id = 'aaaaaaaa-0000-4000-8000-000000000003'$$,
    $$values ('tap_three'::text, 'three'::text)$$,
    'mixed: the rejected change wrote nothing, not even its other fields');
select results_eq(
    $$select id::text, bio from public.profiles
       where id in ('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03') order by id$$,
    $$values ('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01', 'mixed 1'), ('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03', 'mixed 3')$$,
    'mixed: the changes before and after it are applied');
select is((select username from public.profiles where id = 'aaaaaaaa-0000-4000-8000-000000000004'), 'tap_four',
    'mixed: the create in the same batch is applied');
select is(jsonb_path_query_array(:'r'::jsonb, '$.results[*].id'),
    '["7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", "aaaaaaaa-0000-4000-8000-000000000003", "aaaaaaaa-0000-4000-8000-000000000004", "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03"]',
    'mixed: results come in input order');

-- A username freed earlier in the batch can be taken later in it.
select public.apply_profile_changes($$[
    {"id": "aaaaaaaa-0000-4000-8000-000000000004", "patch": {"username": "tap_four_b"}, "updated_at": "2030-01-05T00:00:00Z"},
    {"id": "aaaaaaaa-0000-4000-8000-000000000003", "patch": {"username": "tap_four"}, "updated_at": "2030-01-05T00:00:00Z"}
  ]$$) as r \gset
select is(jsonb_path_query_array(:'r'::jsonb, '$.results[*].status'), '["applied", "applied"]',
    'usernames: a username released by an earlier change in the batch can be taken by a later one');

-- --- rejected changes -----------------------------------------------------------------

select public.apply_profile_changes($$[
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", "patch": {"bio": "ok", "email": "x@example.com"}, "updated_at": "2030-01-06T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", "patch": {"updated_at": "2031-01-01T00:00:00Z"}, "updated_at": "2030-01-06T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"bio": "fine"}, "updated_at": "2030-01-06T00:00:00Z"}
  ]$$) as r \gset
select is(jsonb_path_query_array(:'r'::jsonb, '$.results[*].code'), '["unknown_field", "unknown_field", null]',
    'unknown field: a change naming a field that is not editable is rejected (unknown_field)');
select is(:'r'::jsonb #>> '{results,0,message}', 'not an editable field: email',
    'unknown field: the message names it');
select is((select bio from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01'), 'mixed 1',
    'unknown field: none of that change is written');
select is(:'r'::jsonb #>> '{results,2,status}', 'applied', 'unknown field: the rest of the batch is applied');

select public.apply_profile_changes($$[
    {"id": "not-a-uuid", "patch": {"bio": "x"}, "updated_at": "2030-01-07T00:00:00Z"},
    {"id": 42, "patch": {"bio": "x"}, "updated_at": "2030-01-07T00:00:00Z"},
    {"patch": {"bio": "x"}, "updated_at": "2030-01-07T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"bio": "x"}},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"bio": "x"}, "updated_at": "2030-01-07 00:00:00"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"bio": "x"}, "updated_at": "2030-02-30T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"bio": "x"}, "updated_at": "infinity"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"bio": "x"}, "updated_at": "2030-01-07T00:00:00.1234567Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": "bio=x", "updated_at": "2030-01-07T00:00:00Z"},
    "just a string",
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03", "patch": {"bio": "after the bad ones"}, "updated_at": "2030-01-07T00:00:00Z"}
  ]$$) as r \gset
select is(jsonb_path_query_array(:'r'::jsonb, '$.results[0 to 9].code'),
    '["invalid_change", "invalid_change", "invalid_change", "invalid_change", "invalid_change", "invalid_change", "invalid_change", "invalid_change", "invalid_change", "invalid_change"]',
    'malformed: bad or missing id, missing, offset-less, impossible, special or over-precise updated_at, non-object patch or change: invalid_change');
select is(:'r'::jsonb #>> '{results,0,id}', 'not-a-uuid', 'malformed: a bad id string is echoed');
select is(:'r'::jsonb #> '{results,1,id}', 'null'::jsonb, 'malformed: an id that is no string is answered as null');
select is(:'r'::jsonb #>> '{results,10,status}', 'applied', 'malformed: a good change after bad ones is applied');
select is((select bio from public.profiles where id = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02'), 'fine',
    'malformed: none of them wrote anything');

select public.apply_profile_changes($$[
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", "patch": {"bio": 5}, "updated_at": "2030-01-08T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", "patch": {"is_private": "yes"}, "updated_at": "2030-01-08T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", "patch": {"username": "Not Valid"}, "updated_at": "2030-01-08T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02", "patch": {"gradient": "red"}, "updated_at": "2030-01-08T00:00:00Z"},
    {"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03", "patch": {"is_private": null}, "updated_at": "2030-01-08T00:00:00Z"}
  ]$$) as r \gset
select is(jsonb_path_query_array(:'r'::jsonb, '$.results[*].code'), '["22023", "22023", "23514", "23514", "23502"]',
    'data errors: wrong JSON type 22023, check constraint 23514, not null 23502');
select ok(:'r'::jsonb #>> '{results,2,message}' like '%profiles_username_format%',
    'data errors: the message names the constraint');

-- The set-based path falls back to one change at a time when one of its
-- changes breaks a constraint.
select public.apply_profile_changes(jsonb_build_array(
    jsonb_build_object('id', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01', 'patch', jsonb_build_object('bio', 'a'),
                       'updated_at', '2030-01-09T00:00:00Z'),
    jsonb_build_object('id', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02', 'patch', jsonb_build_object('bio', repeat('x', 1001)),
                       'updated_at', '2030-01-09T00:00:00Z'),
    jsonb_build_object('id', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03', 'patch', jsonb_build_object('bio', 'c'),
                       'updated_at', '2030-01-09T00:00:00Z'))) as r \gset
select is(jsonb_path_query_array(:'r'::jsonb, '$.results[*].status'), '["applied", "rejected", "applied"]',
    'fallback: a too-long bio among plain updates is rejected alone');
select results_eq(
    $$select bio from public.profiles where id::text like '7b3e4a52-%' order by id$$,
    $$values ('a'::text), ('fine'), ('c')$$,
    'fallback: the other two are written');

-- --- the argument itself ------------------------------------------------------------

select is(public.apply_profile_changes('[]') - 'now', '{"results": []}'::jsonb, 'an empty array gives no results');
select throws_ok($$select public.apply_profile_changes('{"id": "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"}')$$,
    '22023', 'apply_profile_changes: changes must be a JSON array, not object',
    'an object instead of an array raises 22023 (HTTP 400)');
select throws_ok($$select public.apply_profile_changes(null)$$, '22023', null,
    'null raises 22023');
select throws_ok($$select public.apply_profile_changes('"changes"')$$, '22023', null,
    'a string raises 22023');

-- A batch of 200 takes the set-based path and applies them all.
select public.apply_profile_changes((
    select jsonb_agg(jsonb_build_object(
        'id', 'aaaaaaaa-0000-4000-8001-' || lpad(to_hex(i), 12, '0'),
        'patch', jsonb_build_object('display_name', 'n' || i),
        'updated_at', '2030-01-10T00:00:00Z') order by i)
      from generate_series(1, 200) as i)) as r \gset
select public.apply_profile_changes((
    select jsonb_agg(jsonb_build_object(
        'id', 'aaaaaaaa-0000-4000-8001-' || lpad(to_hex(i), 12, '0'),
        'patch', jsonb_build_object('bio', 'b' || i),
        'updated_at', '2030-01-10T00:00:01Z') order by i)
      from generate_series(1, 200) as i)) as r \gset
select is((select count(*)::int from jsonb_array_elements(:'r'::jsonb -> 'results') as e
            where e ->> 'status' = 'applied'), 200,
    'batch of 200: all applied');
select results_eq(
    $$select count(*)::int from public.profiles
       where id::text like 'aaaaaaaa-0000-4000-8001-%' and bio = 'b' || substr(display_name, 2)$$,
    $$values (200)$$,
    'batch of 200: each row has its own patch merged into the fields set before');

select * from finish();
rollback;
