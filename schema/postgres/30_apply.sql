-- The write path: every change profilecache makes to a declared table,
-- public.profiles included, goes through the functions below (see
-- docs/design.md, "The origin protocol" and "The flusher").
--
-- Loaded as is into Supabase and into the local database, after
-- 10_profiles.sql and 20_policies.sql, as the tables' owner. Idempotent, and
-- one statement, so atomic wherever it runs (see 10_profiles.sql): it stops,
-- changing nothing, when public.profiles does not fit profilecache.
--
--   profilecache.resources        one row per declared table: its resource
--                                 (item) name, the table, the key and owner
--                                 columns, the columns a change may write
--                                 and their JSON types
--   profilecache.tombstones       one row per deleted (resource, id)
--   public.profilecache_apply(text, jsonb)
--                                 apply a batch of a resource's changes
--   public.profilecache_delete(text, uuid)
--                                 delete a row, leaving a tombstone
--   public.apply_profile_changes(jsonb), public.delete_profile(uuid)
--                                 the same for profiles, as earlier
--                                 versions called them
--
-- Profiles are one declared table like any other: their row in the
-- registry is what `profilecache-admin sql` prints for them (below, as it
-- prints it); the other tables' rows are what it prints for the
-- configuration (schema/postgres/local/example_resources.sql for the
-- example). The registry and the tombstones live in the schema
-- profilecache, which no API exposes (PostgREST serves public). Earlier
-- versions kept profiles' tombstones in a table of their own,
-- profile_tombstones (in public, later in profilecache): loading this file
-- moves its rows into profilecache.tombstones and drops it.
--
-- The functions are SECURITY INVOKER and only service_role may execute them:
-- the responder and the flusher call them over PostgREST with the service
-- key (POST /rpc/profilecache_apply {"resource":"profile","changes":[...]},
-- POST /rpc/profilecache_delete {"resource":"profile","id":"..."}, or
-- POST /rpc/apply_profile_changes {"changes":[...]} and POST
-- /rpc/delete_profile {"id":"..."}). They reach only the tables of the
-- registry, which only the tables' owner writes, and name them through
-- regclass and quoted identifiers. Timestamps in their results are
-- rendered in UTC ("2025-01-18T17:42:05.123456+00:00") whatever the
-- session's TimeZone.
--
-- Ordering and concurrency:
--   * A change is applied field by field: a field is written only if the row
--     does not hold a newer version of it (field_versions), so an older change
--     never overwrites a newer value and changes to different fields never
--     conflict; an equal version applies again (replaying a batch is harmless:
--     the same values are written).
--   * A delete leaves a tombstone whose deleted_at is after the deleted row's
--     updated_at; a change not newer than the tombstone is reported as
--     "deleted" and writes nothing, so a late replay never resurrects a row.
--     A change newer than the tombstone recreates the row with only its
--     fields newer than the tombstone (the tombstone stays, and keeps
--     blocking changes older than itself).
--   * A tombstone is written even when there was no row ("not_found"): a
--     create may still be waiting in some node's journal.
--   * Changes to one id that exists are serialised by its row lock. Creating a
--     row and deleting one also take a transaction-scoped advisory lock on
--     (hashtext(resource), hashtext(id)), so a delete and a concurrent
--     create of the same id cannot both win.
--
-- Tombstones are never pruned here. They are tiny; if they ever matter, delete
-- those older than the longest time a change can wait in a journal.
--
-- All of it is one DO block below, first checking that public.profiles fits
-- (the columns and unique indexes that 10_profiles.sql provides).

do $apply$
declare
    v_problems text[];
begin
if pg_catalog.to_regprocedure('profilecache.profiles_problems(boolean)') is null then
    raise exception 'public.profiles is not ready for profilecache'
        using errcode = 'object_not_in_prerequisite_state',
              detail = 'Nothing was changed.',
              hint = 'Load schema/postgres/10_profiles.sql first: it adds what is missing, '
                     'or says what to change.';
end if;
v_problems := profilecache.profiles_problems(false);
if pg_catalog.cardinality(v_problems) > 0 then
    raise exception 'public.profiles is not ready for profilecache: %',
            pg_catalog.array_to_string(v_problems, '; ')
        using errcode = 'object_not_in_prerequisite_state',
              detail = 'Nothing was changed.',
              hint = 'Load schema/postgres/10_profiles.sql first: it adds what is missing, '
                     'or says what to change.';
end if;

-- --- the registry and the tombstones -----------------------------------------------

create schema if not exists profilecache;
revoke all on schema profilecache from public;
grant usage on schema profilecache to service_role;

create table if not exists profilecache.resources (
    name    text primary key,
    tbl     regclass not null unique,
    key     text not null,
    columns text[] not null
);
-- The owner column (null: the key is the owner, or there is none): set once,
-- by the change that creates the row; a change giving an existing row
-- another owner is refused.
alter table profilecache.resources add column if not exists owner text;
-- The JSON type of each column a change may write ({"bio": "string",
-- "is_private": "boolean", ...}): a value of another type (null aside) is
-- refused with 22023 rather than converted.
alter table profilecache.resources add column if not exists types jsonb not null default '{}';

-- A resource's row in the registry cannot be deleted while it has
-- tombstones: they are what keeps a late change from bringing a deleted row
-- back (earlier versions deleted them with it).
create table if not exists profilecache.tombstones (
    resource   text not null constraint tombstones_resource_fkey
                   references profilecache.resources (name)
                   on update cascade on delete restrict,
    id         uuid not null,
    deleted_at timestamptz not null,
    primary key (resource, id)
);
if exists (select from pg_catalog.pg_constraint as c
            where c.conrelid = 'profilecache.tombstones'::regclass
              and c.conname = 'tombstones_resource_fkey' and c.confdeltype <> 'r') then
    alter table profilecache.tombstones
        drop constraint tombstones_resource_fkey,
        add constraint tombstones_resource_fkey foreign key (resource)
            references profilecache.resources (name) on update cascade on delete restrict;
end if;
-- The deleted row's owner (its owner column; null without one): the lists
-- filtered on that owner are the ones a delete changes.
alter table profilecache.tombstones add column if not exists owner text;

comment on table profilecache.resources is
    'The tables profilecache writes, declared as data; only their owner changes this.';
comment on table profilecache.tombstones is
    'Deleted ids per resource; a write-behind change not newer than deleted_at is never applied.';

alter table profilecache.resources enable row level security;
alter table profilecache.tombstones enable row level security;
revoke all on table profilecache.resources, profilecache.tombstones from public;
-- Supabase's API roles (and the local stand-in's) see nothing of these.
if exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    revoke all on table profilecache.resources, profilecache.tombstones
        from anon, authenticated;
end if;
grant select on table profilecache.resources to service_role;
grant select, insert, update, delete on table profilecache.tombstones to service_role;
drop policy if exists resources_service on profilecache.resources;
create policy resources_service on profilecache.resources
    for select to service_role using (true);
drop policy if exists tombstones_service on profilecache.tombstones;
create policy tombstones_service on profilecache.tombstones
    for all to service_role using (true) with check (true);

-- --- profilecache_apply ----------------------------------------------------------------
--
-- POST /rpc/profilecache_apply with the body {"resource": "profile",
-- "changes": [...]}, where resource is a name in the registry and each
-- change is
--   {"id": "<uuid>",
--    "patch": {"display_name": "...", "bio": "...", "is_private": true, ...},
--    "updated_at": "2025-01-18T17:42:05.123456Z",
--    "versions": {"bio": 1737222125123456, ...}}
-- patch holds any subset of the registry's columns of the resource ({}
-- too), each a value of the column's JSON type (types) or null. updated_at
-- is RFC 3339 with Z or a +hh:mm offset and at most six fractional digits:
-- the change's newest version. versions (optional) gives a field of the
-- patch its own version in microseconds since the epoch, when a journal
-- coalesced changes made at different times; a field it does not name has
-- the version updated_at.
--
-- Each field is applied unless the row's field already holds a newer version
-- (field_versions); on an equal version the greater JSON text wins, so that
-- every order of arrival ends the same and an exact replay is applied again
-- (harmlessly). The row's updated_at becomes its newest field version. Two
-- changes to different fields therefore never conflict.
--
-- Answer, one result per change, in input order, and the database's clock:
--   {"results": [{"id": "<uuid>", "status": "applied|conflict|deleted|rejected",
--                 "row": {...} | null, "code": null | "...", "message": null | "...",
--                 "applied": ["bio", ...], "superseded": ["display_name", ...]}],
--    "now": 1737222125123456}
-- Every result has the five keys id, status, row, code, message; applied and
-- superseded come with applied and conflict. id is the change's id in
-- canonical lower-case form, or as given (null if not a string) when it is
-- not a UUID. row is the whole row as to_jsonb renders it (timestamps in
-- UTC, trailing zeros of the fraction dropped:
-- "2030-01-01T00:00:00.5+00:00"). now is clock_timestamp() in microseconds,
-- for the caller to measure its clock's offset.
--   applied   at least one field of the change now holds its value and version
--             (or the patch was empty); superseded lists the fields that a
--             newer version already held; row is the row after the write
--   conflict  every field of the patch already held a newer version: nothing
--             of it was written; row is the current row
--   deleted   a tombstone is not older than the change (or than every field
--             of a change that would recreate the row); nothing written; row
--             null
--   rejected  nothing written; row null; message says why; code is one of
--               invalid_change  the change is not an object, id is not a UUID,
--                               updated_at is missing or not RFC 3339 as above,
--                               patch or versions is not an object as above
--               unknown_field   patch names a column the registry does not
--                               list (id, created_at, updated_at, or one
--                               whose migration is not loaded yet: once it
--                               is, profilecache-admin dead retry sends
--                               the change again)
--               owner_conflict  the change gives an existing row another owner
--               <column>_taken  another row holds that value of a column with
--                               a unique index of its own (username_taken:
--                               HTTP 409)
--               <SQLSTATE>      any other data or constraint error: 22023 (a
--                               field of the wrong JSON type), 23514 (a check
--                               constraint; the message names it), 23502
--                               (a not-null column set to null), 23503
--                               (Supabase's foreign key from profiles to
--                               auth.users, if added), ...
--
-- A change for a missing id creates the row: its key, the patched fields, and
-- the table's defaults (is_private false); created_at, where the table has
-- one, is the change's oldest version (or now(), if earlier). A rejected
-- change never undoes the others. Errors that are not about the data
-- (deadlocks, lost connections, missing privileges) fail the whole call,
-- which the flusher retries; so does a resource the registry lacks (55000:
-- the migration that declares it is not loaded yet). A "changes" that is
-- not a JSON array raises 22023 (HTTP 400).
--
-- How: the changes are checked in one statement; then the first change of
-- each id in the batch, unless it sets a column with a unique index, is
-- applied by one set-based UPDATE in one subtransaction; everything else
-- (creates, tombstones, unique columns, owners, later changes to an id
-- already in the batch, and the whole batch again if that UPDATE hit a data
-- error) goes one change at a time, in input order, each in its own
-- subtransaction.
--
-- The function sets profilecache.applying = on while it runs, which tells
-- the triggers below that the write is versioned already. (offset 0 keeps the
-- planner from inlining profilecache_winners once per use of its result.)

-- Which fields of patch win over the row cur (to_jsonb of a row):
-- {"patch": {the winning fields}, "versions": {field: version}, "newest": µs}.
create or replace function public.profilecache_winners(cur jsonb, patch jsonb,
        versions jsonb, version bigint)
    returns jsonb
    language sql
    immutable
    parallel safe
    set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
               'patch', coalesce(pg_catalog.jsonb_object_agg(e.key, e.value), '{}'::jsonb),
               'versions', coalesce(pg_catalog.jsonb_object_agg(e.key, w.v), '{}'::jsonb),
               'newest', pg_catalog.max(w.v))
      from pg_catalog.jsonb_each(patch) as e
     cross join lateral (
        select coalesce((versions ->> e.key)::bigint, version) as v,
               coalesce((cur -> 'field_versions' ->> e.key)::bigint, -1) as held) as w
     where w.v > w.held
        or (w.v = w.held and e.value::text >= coalesce((cur -> e.key)::text, 'null'))
$$;

-- The result of a change after its write: which of its fields the row r (to_jsonb
-- of the row after the write) holds at the change's value and version.
create or replace function public.profilecache_outcome(r jsonb, patch jsonb,
        versions jsonb, version bigint)
    returns jsonb
    language sql
    immutable
    parallel safe
    set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
               'id', r -> 'id',
               'status', case when pg_catalog.count(*) > 0
                               and pg_catalog.count(*) filter (where w.won) = 0
                              then 'conflict' else 'applied' end,
               'row', r, 'code', null, 'message', null,
               'applied', coalesce(pg_catalog.jsonb_agg(e.key order by e.key)
                                   filter (where w.won), '[]'::jsonb),
               'superseded', coalesce(pg_catalog.jsonb_agg(e.key order by e.key)
                                      filter (where not w.won), '[]'::jsonb))
      from pg_catalog.jsonb_each(patch) as e
     cross join lateral (
        select coalesce((r -> 'field_versions' ->> e.key)::bigint
                            = coalesce((versions ->> e.key)::bigint, version)
                        and r -> e.key = e.value, false) as won) as w
$$;

revoke all on function public.profilecache_winners(jsonb, jsonb, jsonb, bigint)
    from public, anon, authenticated;
revoke all on function public.profilecache_outcome(jsonb, jsonb, jsonb, bigint)
    from public, anon, authenticated;
grant execute on function public.profilecache_winners(jsonb, jsonb, jsonb, bigint) to service_role;
grant execute on function public.profilecache_outcome(jsonb, jsonb, jsonb, bigint) to service_role;

create or replace function public.profilecache_apply(resource text, changes jsonb)
    returns jsonb
    language plpgsql
    volatile
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $$
declare
    v_res       record;     -- the registry's row
    v_unique    text[];     -- its columns with a unique index of their own
    v_created   boolean;    -- whether a create sets created_at
    v_typed     text;       -- step 1's check of the patch's JSON types
    v_canon     text[];     -- its columns whose values the table holds in another form
    -- By input position (1-based): the result once known, and the parsed
    -- change (null when the change was rejected as malformed).
    v_results   jsonb[];
    v_ids       uuid[];
    v_tss       timestamptz[];
    v_patches   jsonb[];
    v_verss     jsonb[];
    -- Parts of those for a range of positions.
    v_r         jsonb[];
    v_i         uuid[];
    v_t         timestamptz[];
    v_p         jsonb[];
    v_v         jsonb[];
    v_fast      int[];  -- positions that step 2 tried
    v_fast_ids  uuid[];
    v_n         int;
    v_from      int;
    v_step      int;
    v_ord       int;
    v_out       jsonb;
    v_id        uuid;
    v_ts        timestamptz;
    v_us        bigint;
    v_oldest    bigint;
    v_patch     jsonb;
    v_vers      jsonb;
    v_cur       jsonb;
    v_base      jsonb;
    v_w         jsonb;
    v_set       jsonb;
    v_row       jsonb;
    v_cols      text;
    v_mcols     text;
    v_tomb      timestamptz;
    v_code      text;
    v_message   text;
    v_attempt   int;
    v_state     text;
    v_cons      text;
    v_col       text;
    v_applying  text := pg_catalog.current_setting('profilecache.applying', true);
begin
    select r.name, r.tbl, r.key, r.owner, r.columns, r.types into v_res
      from profilecache.resources as r where r.name = profilecache_apply.resource;
    if not found then
        raise exception 'profilecache_apply: % is not a declared resource', resource
            using errcode = '55000',
                  hint = 'Load what profilecache-admin sql prints for the configuration.';
    end if;
    if changes is null or pg_catalog.jsonb_typeof(changes) <> 'array' then
        raise exception 'profilecache_apply: changes must be a JSON array, not %',
                coalesce(pg_catalog.jsonb_typeof(changes), 'null')
            using errcode = '22023',
                  hint = 'POST /rpc/profilecache_apply {"resource":…,"changes":[{"id":…,"patch":{…},"updated_at":…}]}';
    end if;
    v_n := pg_catalog.jsonb_array_length(changes);
    if v_n = 0 then
        return pg_catalog.jsonb_build_object('results', '[]'::jsonb,
            'now', (extract(epoch from pg_catalog.clock_timestamp()) * 1000000)::bigint);
    end if;
    -- Not a SET clause of the function: setting a custom parameter there
    -- takes a superuser, which Supabase's roles are not. Put back before
    -- returning, so later statements of the caller's transaction count as
    -- outside writes again (an error aborts the transaction anyway).
    perform pg_catalog.set_config('profilecache.applying', 'on', true);
    select coalesce(pg_catalog.array_agg(a.attname::text), '{}') into v_unique
      from pg_catalog.pg_index as i
      join pg_catalog.pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
     where i.indrelid = v_res.tbl and i.indisunique and i.indnatts = 1
       and a.attname = any (v_res.columns);
    -- created_at, when the table has one that no change writes.
    v_created := exists (select from pg_catalog.pg_attribute as a
                          where a.attrelid = v_res.tbl and a.attname = 'created_at'
                            and a.attnum > 0 and not a.attisdropped
                            and a.atttypid = 'pg_catalog.timestamptz'::pg_catalog.regtype)
                 and not 'created_at' = any (v_res.columns);
    -- One test per typed column (cheaper than a look at every field of
    -- every patch): a value of another JSON type than the column's, but null.
    select coalesce(pg_catalog.string_agg(pg_catalog.format(
               'pg_catalog.jsonb_typeof(e.c -> ''patch'' -> %L) not in (%L, ''null'')', t.k, t.v),
               ' or '), 'false')
      into v_typed
      from pg_catalog.jsonb_each_text(v_res.types) as t(k, v);
    -- Columns of a type whose text in JSON the table may write otherwise
    -- (times, numbers, ...): not text, boolean, uuid, an integer or jsonb.
    select coalesce(pg_catalog.array_agg(a.attname::text), '{}') into v_canon
      from pg_catalog.pg_attribute as a
     where a.attrelid = v_res.tbl and a.attname = any (v_res.columns)
       and a.atttypid not in ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype,
                              'pg_catalog.bool'::pg_catalog.regtype, 'pg_catalog.uuid'::pg_catalog.regtype,
                              'pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                              'pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.jsonb'::pg_catalog.regtype);
    v_results := pg_catalog.array_fill(null::jsonb, array[v_n]);
    v_ids := pg_catalog.array_fill(null::uuid, array[v_n]);
    v_tss := pg_catalog.array_fill(null::timestamptz, array[v_n]);
    v_patches := pg_catalog.array_fill(null::jsonb, array[v_n]);
    v_verss := pg_catalog.array_fill(null::jsonb, array[v_n]);

    -- 1. Parse and check every change, all in one statement. When a cast
    -- fails (an id that is not a UUID, a date like 2025-02-30), go on one
    -- change at a time, rejecting those that fail.
    v_from := 0;
    v_step := v_n;
    while v_from < v_n loop
        begin
            execute pg_catalog.format($q$
            select pg_catalog.array_agg(x.result order by x.ord),
                   pg_catalog.array_agg(x.id order by x.ord),
                   pg_catalog.array_agg(x.ts order by x.ord),
                   pg_catalog.array_agg(x.patch order by x.ord),
                   pg_catalog.array_agg(x.vers order by x.ord)
              from (select e.ord,
                           case when k.problem is null then (e.c ->> 'id')::uuid end as id,
                           case when k.problem is null then (e.c ->> 'updated_at')::timestamptz end as ts,
                           -- the patch as the table holds it ("...Z" as
                           -- "...+00:00", 1.10 as 1.1), so that values
                           -- compare with the row's
                           case when k.problem is null and (e.c -> 'patch') ?| $6 then
                               (select pg_catalog.jsonb_object_agg(f.key, r.j -> f.key)
                                  from (select pg_catalog.to_jsonb(pg_catalog.jsonb_populate_record(
                                                   null::%s, e.c -> 'patch')) as j) as r,
                                       pg_catalog.jsonb_each(e.c -> 'patch') as f)
                                when k.problem is null then e.c -> 'patch' end as patch,
                           case when k.problem is null then coalesce(e.c -> 'versions', '{}'::jsonb) end as vers,
                           case when k.problem is not null then pg_catalog.jsonb_build_object(
                               'id', case when pg_catalog.jsonb_typeof(e.c -> 'id') = 'string'
                                          then e.c -> 'id' end,
                               'status', 'rejected', 'row', null,
                               'code', k.problem[1], 'message', k.problem[2]) end as result
                      from pg_catalog.jsonb_array_elements($1) with ordinality as e(c, ord)
                     cross join lateral (
                        select case
                            when pg_catalog.jsonb_typeof(e.c) <> 'object' then
                                array['invalid_change', 'a change must be a JSON object {"id","patch","updated_at"}']
                            when pg_catalog.jsonb_typeof(e.c -> 'id') is distinct from 'string' then
                                array['invalid_change', 'id must be a UUID string']
                            -- RFC 3339: 2025-01-18T17:42:05.123456Z or ...+01:00,
                            -- at most 6 fractional digits. Checked by its shape
                            -- (digits mapped to 9, t/z/+/space to T/Z/-/T) and
                            -- not by a regular expression, which costs more than
                            -- all the rest; the cast then checks the values.
                            when pg_catalog.jsonb_typeof(e.c -> 'updated_at') is distinct from 'string'
                              or pg_catalog.translate(e.c ->> 'updated_at', '0123456789tz+ ', '9999999999TZ-T')
                                 not like '9999-99-99T99:99:99_%%'
                              or pg_catalog.substr(pg_catalog.translate(e.c ->> 'updated_at', '0123456789tz+ ',
                                                                        '9999999999TZ-T'), 20)
                                 not in ('Z', '-99:99',
                                         '.9Z', '.9-99:99',
                                         '.99Z', '.99-99:99',
                                         '.999Z', '.999-99:99',
                                         '.9999Z', '.9999-99:99',
                                         '.99999Z', '.99999-99:99',
                                         '.999999Z', '.999999-99:99') then
                                array['invalid_change', 'updated_at must be an RFC 3339 timestamp with an offset (Z or +hh:mm)']
                            when pg_catalog.jsonb_typeof(e.c -> 'patch') is distinct from 'object' then
                                array['invalid_change', 'patch must be a JSON object']
                            when e.c ? 'versions'
                             and (pg_catalog.jsonb_typeof(e.c -> 'versions') <> 'object'
                                  or exists (select from pg_catalog.jsonb_each(e.c -> 'versions') as v
                                              where not (e.c -> 'patch') ? v.key
                                                 or pg_catalog.jsonb_typeof(v.value) <> 'number'
                                                 or v.value::text !~ '^[0-9]{1,17}$')) then
                                array['invalid_change', 'versions must be an object giving fields of the patch '
                                      'their version in whole microseconds since the epoch']
                            when (e.c -> 'patch') - $4 <> '{}'::jsonb then
                                array['unknown_field',
                                      (select 'not an editable field: ' || pg_catalog.string_agg(f, ', ' order by f)
                                         from pg_catalog.jsonb_object_keys((e.c -> 'patch') - $4) as f)]
                            when %s then
                                array['22023',
                                      (select 'wrong JSON type for '
                                              || pg_catalog.string_agg(f.key || ' (' || ($5 ->> f.key)
                                                                       || ' or null)', ', ' order by f.key)
                                         from pg_catalog.jsonb_each(e.c -> 'patch') as f
                                        where pg_catalog.jsonb_typeof(f.value)
                                              not in ('null', coalesce($5 ->> f.key,
                                                                       pg_catalog.jsonb_typeof(f.value))))]
                            end
                        offset 0) as k(problem)
                     where e.ord > $2 and e.ord <= $2 + $3) as x
            $q$, v_res.tbl, v_typed)
              into v_r, v_i, v_t, v_p, v_v
             using changes, v_from, v_step, v_res.columns, v_res.types, v_canon;
            v_results[v_from + 1 : v_from + v_step] := v_r;
            v_ids[v_from + 1 : v_from + v_step] := v_i;
            v_tss[v_from + 1 : v_from + v_step] := v_t;
            v_patches[v_from + 1 : v_from + v_step] := v_p;
            v_verss[v_from + 1 : v_from + v_step] := v_v;
            v_from := v_from + v_step;
        exception when data_exception then
            if v_step > 1 then
                v_step := 1;
            else
                get stacked diagnostics v_message = message_text;
                v_results[v_from + 1] := pg_catalog.jsonb_build_object(
                    'id', case when pg_catalog.jsonb_typeof(changes -> v_from -> 'id') = 'string'
                               then changes -> v_from -> 'id' end,
                    'status', 'rejected', 'row', null,
                    'code', 'invalid_change', 'message', v_message);
                v_from := v_from + 1;
            end if;
        end;
    end loop;

    -- 2. The common case, all at once: the first change of each id in the
    -- batch, unless it sets a unique column (those go one by one, in order,
    -- so that a value freed earlier in the batch can be taken later in it),
    -- applied where the row exists, no tombstone blocks it and it gives the
    -- row no other owner. The winning fields are merged into the current
    -- row: jsonb_populate_record keeps the fields it does not name. Any data
    -- error undoes the whole statement and leaves every change to step 3.
    select coalesce(pg_catalog.array_agg(f.ord), '{}'), coalesce(pg_catalog.array_agg(f.id), '{}')
      into v_fast, v_fast_ids
      from (select distinct on (i.id) i.id, i.ord::int as ord, i.patch
              from unnest(v_ids, v_patches) with ordinality as i(id, patch, ord)
             where i.id is not null
             order by i.id, i.ord) as f
     where not f.patch ?| v_unique;
    if pg_catalog.cardinality(v_fast) > 0 then
        select pg_catalog.string_agg(pg_catalog.quote_ident(c), ', '),
               pg_catalog.string_agg('m.' || pg_catalog.quote_ident(c), ', ')
          into v_cols, v_mcols
          from pg_catalog.unnest(v_res.columns) as c;
        begin
            for v_ord, v_out in execute pg_catalog.format(
                    'with c as ('
                    '    select i.ord::int as ord, i.id, i.ts, i.patch, i.vers,'
                    '           (extract(epoch from i.ts) * 1000000)::bigint as us'
                    '      from unnest($1::uuid[], $2::timestamptz[], $3::jsonb[], $4::jsonb[])'
                    '           with ordinality as i(id, ts, patch, vers, ord)'
                    '     where i.ord = any ($5))'
                    ' update %1$s as p'
                    '    set (%2$s, field_versions, updated_at) ='
                    '        (select %3$s, p.field_versions || (w.x -> ''versions''),'
                    '                greatest(p.updated_at, ''epoch''::timestamptz'
                    '                    + (w.x ->> ''newest'')::bigint * interval ''1 microsecond'')'
                    '           from (select public.profilecache_winners(pg_catalog.to_jsonb(p.*),'
                    '                        c.patch, c.vers, c.us) as x offset 0) as w'
                    '          cross join lateral pg_catalog.jsonb_populate_record(p.*, w.x -> ''patch'') as m)'
                    '   from c'
                    '  where p.%4$I = c.id'
                    '    and p.%4$I = any ($6) '    -- lets the planner use the index
                    '    and not exists (select from profilecache.tombstones as t'
                    '                     where t.resource = %5$L and t.id = c.id and t.deleted_at >= c.ts)'
                    '    and (%6$L is null or not c.patch ? %6$L'
                    '         or pg_catalog.to_jsonb(p.*) ->> %6$L is null'
                    '         or pg_catalog.to_jsonb(p.*) ->> %6$L = c.patch ->> %6$L)'
                    ' returning c.ord, public.profilecache_outcome(pg_catalog.to_jsonb(p.*),'
                    '                                              c.patch, c.vers, c.us)'
                    '                  || pg_catalog.jsonb_build_object(''id'', c.id)',
                    v_res.tbl, v_cols, v_mcols, v_res.key, v_res.name, v_res.owner)
                using v_ids, v_tss, v_patches, v_verss, v_fast, v_fast_ids
            loop
                v_results[v_ord] := v_out;
            end loop;
        exception when data_exception or integrity_constraint_violation then
            foreach v_ord in array v_fast loop
                v_results[v_ord] := null;
            end loop;
        end;
    end if;

    -- 3. Everything else, one change at a time in input order, each in its
    -- own subtransaction: creates, tombstones, unique columns, owners,
    -- repeated ids, and the data errors.
    for v_ord in 1 .. v_n loop
        continue when v_results[v_ord] is not null;
        v_id := v_ids[v_ord];
        v_ts := v_tss[v_ord];
        v_patch := v_patches[v_ord];
        v_vers := v_verss[v_ord];
        v_us := (extract(epoch from v_ts) * 1000000)::bigint;
        v_out := null;
        begin
            v_attempt := 0;
            <<attempt>>
            loop
                v_attempt := v_attempt + 1;
                if v_attempt > 3 then
                    raise exception 'profilecache_apply: %/% keeps changing concurrently', resource, v_id
                        using errcode = '40001';
                end if;
                select t.deleted_at into v_tomb from profilecache.tombstones as t
                 where t.resource = v_res.name and t.id = v_id;
                if v_tomb >= v_ts then
                    v_out := pg_catalog.jsonb_build_object('id', v_id, 'status', 'deleted',
                        'row', null, 'code', null, 'message', null);
                    exit attempt;
                end if;
                execute pg_catalog.format('select pg_catalog.to_jsonb(t.*) from %s as t where t.%I = $1 for update',
                                          v_res.tbl, v_res.key)
                   into v_cur using v_id;
                if v_cur is null then
                    -- Missing: create it, unless a delete got there first.
                    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(v_res.name),
                                                             pg_catalog.hashtext(v_id::text));
                    select t.deleted_at into v_tomb from profilecache.tombstones as t
                     where t.resource = v_res.name and t.id = v_id;
                    continue attempt when v_tomb >= v_ts;
                    -- After a delete every field starts at the tombstone's
                    -- version, so that no value older than the delete returns.
                    v_base := pg_catalog.jsonb_build_object('field_versions',
                        case when v_tomb is null then '{}'::jsonb else
                            (select pg_catalog.jsonb_object_agg(c,
                                        (extract(epoch from v_tomb) * 1000000)::bigint)
                               from pg_catalog.unnest(v_res.columns) as c) end);
                    v_w := public.profilecache_winners(v_base, v_patch, v_vers, v_us);
                    if v_w -> 'patch' = '{}'::jsonb and v_patch <> '{}'::jsonb then
                        v_out := pg_catalog.jsonb_build_object('id', v_id, 'status', 'deleted',
                            'row', null, 'code', null, 'message', null);
                        exit attempt;
                    end if;
                    select coalesce(pg_catalog.min(coalesce((v_vers ->> k)::bigint, v_us)), v_us)
                      into v_oldest
                      from pg_catalog.jsonb_object_keys(v_patch) as k;
                    v_set := (v_w -> 'patch') || pg_catalog.jsonb_build_object(
                        v_res.key, v_id,
                        'field_versions', (v_base -> 'field_versions') || (v_w -> 'versions'),
                        'updated_at', greatest(v_tomb, 'epoch'::timestamptz
                            + coalesce((v_w ->> 'newest')::bigint, v_us) * interval '1 microsecond'));
                    if v_created then
                        v_set := v_set || pg_catalog.jsonb_build_object('created_at',
                            least(pg_catalog.now(), 'epoch'::timestamptz + v_oldest * interval '1 microsecond'));
                    end if;
                    select pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ') into v_cols
                      from pg_catalog.jsonb_object_keys(v_set) as k;
                    execute pg_catalog.format('insert into %s as t (%s) select %s'
                                              ' from pg_catalog.jsonb_populate_record(null::%s, $1)'
                                              ' on conflict (%I) do nothing returning pg_catalog.to_jsonb(t.*)',
                                              v_res.tbl, v_cols, v_cols, v_res.tbl, v_res.key)
                       into v_row using v_set;
                    -- Made meanwhile by a write from outside: start again.
                    continue attempt when v_row is null;
                else
                    -- The owner is set once: another owner for an existing row
                    -- is refused (two users cannot both create one id).
                    if v_res.owner is not null and v_patch ? v_res.owner
                       and v_cur ->> v_res.owner is not null
                       and v_cur ->> v_res.owner is distinct from v_patch ->> v_res.owner then
                        v_out := pg_catalog.jsonb_build_object('id', v_id, 'status', 'rejected',
                            'row', null, 'code', 'owner_conflict',
                            'message', 'the row has another owner');
                        exit attempt;
                    end if;
                    v_w := public.profilecache_winners(v_cur, v_patch, v_vers, v_us);
                    v_row := v_cur;
                    if v_w -> 'patch' <> '{}'::jsonb then
                        v_set := (v_w -> 'patch') || pg_catalog.jsonb_build_object(
                            'field_versions', coalesce(v_cur -> 'field_versions', '{}'::jsonb)
                                              || (v_w -> 'versions'),
                            'updated_at', greatest((v_cur ->> 'updated_at')::timestamptz,
                                'epoch'::timestamptz + (v_w ->> 'newest')::bigint * interval '1 microsecond'));
                        select pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ') into v_cols
                          from pg_catalog.jsonb_object_keys(v_set) as k;
                        execute pg_catalog.format('update %s as t set (%s) = (select %s'
                                                  ' from pg_catalog.jsonb_populate_record(null::%s, $1))'
                                                  ' where t.%I = $2 returning pg_catalog.to_jsonb(t.*)',
                                                  v_res.tbl, v_cols, v_cols, v_res.tbl, v_res.key)
                           into v_row using v_set, v_id;
                    end if;
                end if;
                v_out := public.profilecache_outcome(v_row, v_patch, v_vers, v_us)
                         || pg_catalog.jsonb_build_object('id', v_id);
                exit attempt;
            end loop;
        exception
            when data_exception or integrity_constraint_violation then
                get stacked diagnostics v_state = returned_sqlstate,
                                        v_message = message_text,
                                        v_cons = constraint_name;
                v_code := v_state;
                if v_state = '23505' then
                    -- A value another row holds, in a column unique on its own.
                    select a.attname::text into v_col
                      from pg_catalog.pg_class as ic
                      join pg_catalog.pg_index as i on i.indexrelid = ic.oid
                      join pg_catalog.pg_attribute as a
                        on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                     where ic.relname = v_cons and i.indrelid = v_res.tbl and i.indnatts = 1
                       and a.attname = any (v_res.columns);
                    if v_col is not null then
                        v_code := v_col || '_taken';
                        v_message := v_col || ' is taken';
                    end if;
                end if;
                v_out := pg_catalog.jsonb_build_object('id', v_id, 'status', 'rejected',
                    'row', null, 'code', v_code, 'message', v_message);
        end;
        v_results[v_ord] := v_out;
    end loop;

    perform pg_catalog.set_config('profilecache.applying', coalesce(v_applying, ''), true);
    return pg_catalog.jsonb_build_object('results', pg_catalog.to_jsonb(v_results),
        'now', (extract(epoch from pg_catalog.clock_timestamp()) * 1000000)::bigint);
end
$$;

comment on function public.profilecache_apply(text, jsonb) is
    'Applies write-behind changes to a declared table field by field, each field only where the row '
    'does not hold a newer version of it, never over a newer tombstone; returns '
    '{"results":[{"id","status","row","code","message","applied","superseded"}],"now"}.';

-- --- profilecache_delete -----------------------------------------------------------------
--
-- POST /rpc/profilecache_delete {"resource":"profile","id":"<uuid>"} →
--   {"id": "<uuid>", "status": "deleted" | "not_found",
--    "deleted_at": "2025-01-18T17:42:05.123457+00:00"}
-- deleted_at is the tombstone's: now(), or just after the deleted row's
-- updated_at if that is later (clock skew), or an existing later tombstone's.
-- A null id is refused with 22004 (HTTP 400) before anything is read or
-- written: a caller can tell that the function is there, and that it may
-- call it, without deleting (profilecache-admin check-origin does so when
-- the origin does not serve its OpenAPI description).

create or replace function public.profilecache_delete(resource text, id uuid)
    returns jsonb
    language plpgsql
    volatile
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $$
declare
    v_res        record;
    v_id         uuid := profilecache_delete.id;
    v_updated_at timestamptz;
    v_deleted_at timestamptz;
begin
    select r.name, r.tbl, r.key into v_res
      from profilecache.resources as r where r.name = profilecache_delete.resource;
    if not found then
        raise exception 'profilecache_delete: % is not a declared resource', resource
            using errcode = '55000';
    end if;
    if v_id is null then
        raise exception 'profilecache_delete: id must not be null' using errcode = '22004';
    end if;
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(v_res.name),
                                             pg_catalog.hashtext(v_id::text));
    execute pg_catalog.format('delete from %s as t where t.%I = $1 returning t.updated_at',
                              v_res.tbl, v_res.key)
       into v_updated_at using v_id;
    insert into profilecache.tombstones as t (resource, id, deleted_at)
        values (v_res.name, v_id, greatest(pg_catalog.now(), v_updated_at + interval '1 microsecond'))
        on conflict on constraint tombstones_pkey
            do update set deleted_at = greatest(t.deleted_at, excluded.deleted_at)
        returning t.deleted_at into v_deleted_at;
    return pg_catalog.jsonb_build_object(
        'id', v_id,
        'status', case when v_updated_at is null then 'not_found' else 'deleted' end,
        'deleted_at', v_deleted_at);
end
$$;

comment on function public.profilecache_delete(text, uuid) is
    'Deletes a row of a declared table and leaves a tombstone so no older change can recreate it; '
    'returns {"id","status":"deleted"|"not_found","deleted_at"}.';

-- --- writes made outside profilecache ---------------------------------------------------
--
-- An UPDATE or INSERT that does not come through profilecache_apply (the
-- dashboard, another service, an owner's direct UPDATE through the Data
-- API) gets versions too: every registered column it changes is stamped
-- with a hybrid clock, after every version the row already holds and not
-- before clock_timestamp(), so it takes part in the per-field order like
-- any change. field_versions itself cannot be set from outside. A delete
-- made outside (the dashboard, a cascade from auth.users, an application
-- whose policies let users delete their own row) leaves a tombstone, so
-- that no change still waiting in a journal brings the row back; it runs
-- as its owner (SECURITY DEFINER, in the unexposed schema, executable by
-- nobody else), so that a delete by a role without rights on the
-- tombstones still leaves one instead of failing. profilecache-admin sql
-- attaches both to each declared table.
create or replace function profilecache.version_outside_write()
    returns trigger
    language plpgsql
    security definer    -- reads the registry, whatever role writes
    set search_path = ''
as $fn$
declare
    v_cols text[];
    v_new  jsonb;
    v_old  jsonb;
    v_us   bigint;
    v_f    text;
begin
    if pg_catalog.current_setting('profilecache.applying', true) = 'on' then
        return new;
    end if;
    select r.columns into v_cols from profilecache.resources as r where r.tbl = tg_relid;
    v_new := pg_catalog.to_jsonb(new);
    v_us := (extract(epoch from pg_catalog.clock_timestamp()) * 1000000)::bigint;
    if tg_op = 'UPDATE' then
        v_old := pg_catalog.to_jsonb(old);
        new.field_versions := coalesce(old.field_versions, '{}'::jsonb);
        v_us := greatest(v_us, (extract(epoch from old.updated_at) * 1000000)::bigint + 1,
                    (select pg_catalog.max(v.value::text::bigint) + 1
                       from pg_catalog.jsonb_each(old.field_versions) as v));
    else
        new.field_versions := '{}'::jsonb;
    end if;
    foreach v_f in array coalesce(v_cols, '{}') loop
        -- An insert versions what it sets; a null, or false (the boolean
        -- columns' default), it leaves to whatever change comes, however old.
        if (tg_op = 'INSERT' and v_new -> v_f is distinct from 'null'::jsonb
                and v_new -> v_f is distinct from 'false'::jsonb)
           or (tg_op = 'UPDATE' and v_new -> v_f is distinct from v_old -> v_f) then
            new.field_versions := new.field_versions || pg_catalog.jsonb_build_object(v_f, v_us);
        end if;
    end loop;
    if tg_op = 'INSERT' or new.field_versions is distinct from old.field_versions then
        new.updated_at := 'epoch'::timestamptz + v_us * interval '1 microsecond';
    else
        new.updated_at := old.updated_at;   -- nothing versioned changed
    end if;
    return new;
end
$fn$;

create or replace function profilecache.tombstone_outside_delete()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
as $fn$
declare
    v_name  text;
    v_key   text;
    v_owner text;
begin
    if pg_catalog.current_setting('profilecache.applying', true) = 'on' then
        return old;
    end if;
    select r.name, r.key, r.owner into v_name, v_key, v_owner from profilecache.resources as r
     where r.tbl = tg_relid;
    if v_name is not null then
        insert into profilecache.tombstones as t (resource, id, deleted_at, owner)
            values (v_name, (pg_catalog.to_jsonb(old) ->> v_key)::uuid,
                    greatest(pg_catalog.now(), old.updated_at + interval '1 microsecond'),
                    pg_catalog.to_jsonb(old) ->> coalesce(v_owner, v_key))
            on conflict on constraint tombstones_pkey
                do update set deleted_at = greatest(t.deleted_at, excluded.deleted_at),
                              owner = coalesce(excluded.owner, t.owner);
    end if;
    return old;
end
$fn$;

revoke all on function profilecache.version_outside_write() from public;
revoke all on function profilecache.tombstone_outside_delete() from public;


revoke all on function public.profilecache_apply(text, jsonb) from public;
revoke all on function public.profilecache_delete(text, uuid) from public;
if exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    revoke all on function public.profilecache_apply(text, jsonb) from anon, authenticated;
    revoke all on function public.profilecache_delete(text, uuid) from anon, authenticated;
end if;
grant execute on function public.profilecache_apply(text, jsonb) to service_role;
grant execute on function public.profilecache_delete(text, uuid) to service_role;

-- --- profiles, declared as data -------------------------------------------------------
--
-- What profilecache-admin sql prints for profiles (src/profile.c declares
-- them; a test checks that this is it, byte for byte).
-- [resource profiles]: GET /v1/profiles/{id}, answers {"profile": ...}
-- (the table is 10_profiles.sql's, which adopts an existing one)
insert into profilecache.resources (name, tbl, key, owner, columns, types)
    values ('profile', 'public."profiles"', 'id', null, '{"username","display_name","bio","avatar_url","gradient","is_private"}', '{"username": "string", "display_name": "string", "bio": "string", "avatar_url": "string", "gradient": "string", "is_private": "boolean"}')
    on conflict (name) do update
        set tbl = excluded.tbl, key = excluded.key, owner = excluded.owner,
            columns = excluded.columns, types = excluded.types;
drop trigger if exists profiles_version_outside_write on public."profiles";
create trigger profiles_version_outside_write before insert or update on public."profiles"
    for each row execute function profilecache.version_outside_write();
drop trigger if exists profiles_tombstone_outside_delete on public."profiles";
create trigger profiles_tombstone_outside_delete after delete on public."profiles"
    for each row execute function profilecache.tombstone_outside_delete();

-- Earlier versions' profile tombstones join the others, keeping the later
-- tombstone of an id; their own trigger functions go (the triggers above
-- replaced theirs).
if pg_catalog.to_regclass('public.profile_tombstones') is not null then
    insert into profilecache.tombstones as t (resource, id, deleted_at, owner)
        select 'profile', o.id, o.deleted_at, o.id::text from public.profile_tombstones as o
        on conflict on constraint tombstones_pkey
            do update set deleted_at = greatest(t.deleted_at, excluded.deleted_at);
    drop table public.profile_tombstones;
end if;
if pg_catalog.to_regclass('profilecache.profile_tombstones') is not null then
    insert into profilecache.tombstones as t (resource, id, deleted_at, owner)
        select 'profile', o.id, o.deleted_at, o.id::text from profilecache.profile_tombstones as o
        on conflict on constraint tombstones_pkey
            do update set deleted_at = greatest(t.deleted_at, excluded.deleted_at);
    drop table profilecache.profile_tombstones;
end if;
if pg_catalog.to_regprocedure('public.profiles_version_outside_write()') is not null then
    drop function public.profiles_version_outside_write();
end if;
if pg_catalog.to_regprocedure('profilecache.profiles_tombstone_outside_delete()') is not null then
    drop function profilecache.profiles_tombstone_outside_delete();
end if;
if pg_catalog.to_regprocedure('public.profiles_tombstone_outside_delete()') is not null then
    drop function public.profiles_tombstone_outside_delete();
end if;

-- --- apply_profile_changes, delete_profile ------------------------------------------------
--
-- The profile API of earlier versions, which their flushers call:
-- POST /rpc/apply_profile_changes {"changes":[...]} is profilecache_apply
-- for the resource "profile", and POST /rpc/delete_profile {"id":"..."} is
-- profilecache_delete for it (a null id: 22004, before anything is read or
-- written).

create or replace function public.apply_profile_changes(changes jsonb)
    returns jsonb
    language plpgsql
    volatile
    security invoker
    set search_path = ''
as $$
begin
    if changes is null or pg_catalog.jsonb_typeof(changes) <> 'array' then
        raise exception 'apply_profile_changes: changes must be a JSON array, not %',
                coalesce(pg_catalog.jsonb_typeof(changes), 'null')
            using errcode = '22023',
                  hint = 'POST /rpc/apply_profile_changes {"changes":[{"id":…,"patch":{…},"updated_at":…}]}';
    end if;
    return public.profilecache_apply('profile', changes);
end
$$;

comment on function public.apply_profile_changes(jsonb) is
    'profilecache_apply(''profile'', changes): applies write-behind profile changes field by field; '
    'returns {"results":[{"id","status","row","code","message","applied","superseded"}],"now"}.';

create or replace function public.delete_profile(id uuid)
    returns jsonb
    language plpgsql
    volatile
    security invoker
    set search_path = ''
as $$
begin
    if delete_profile.id is null then
        raise exception 'delete_profile: id must not be null' using errcode = '22004';
    end if;
    return public.profilecache_delete('profile', delete_profile.id);
end
$$;

comment on function public.delete_profile(uuid) is
    'profilecache_delete(''profile'', id): deletes a profile and leaves a tombstone so no older '
    'change can recreate it; returns {"id","status":"deleted"|"not_found","deleted_at"}.';

revoke all on function public.apply_profile_changes(jsonb) from public, anon, authenticated;
revoke all on function public.delete_profile(uuid) from public, anon, authenticated;
grant execute on function public.apply_profile_changes(jsonb) to service_role;
grant execute on function public.delete_profile(uuid) to service_role;

-- PostgREST (Supabase) caches the schema; have it see these functions now.
notify pgrst, 'reload schema';
end
$apply$;
