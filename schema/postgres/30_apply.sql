-- The write path: every change to public.profiles that profilecache makes goes
-- through the two functions below (see docs/design.md, "The origin protocol"
-- and "The flusher").
--
-- Loaded as is into Supabase and into the local database, after
-- 10_profiles.sql and 20_policies.sql, as the table's owner. Idempotent, and
-- one statement, so atomic wherever it runs (see 10_profiles.sql): it stops,
-- changing nothing, when public.profiles does not fit profilecache.
--
--   profilecache.profile_tombstones     one row per deleted profile id
--   public.apply_profile_changes(jsonb) apply a batch of write-behind changes
--   public.delete_profile(uuid)         delete a profile, leaving a tombstone
--
-- The tombstones live in the schema profilecache, which no API exposes
-- (PostgREST serves public): only the functions below read and write them.
-- Earlier versions kept them in public.profile_tombstones; loading this file
-- moves that table, rows and all, into profilecache.
--
-- Both functions are SECURITY INVOKER and only service_role may execute them:
-- the responder and the flusher call them over PostgREST with the service key
-- (POST /rpc/apply_profile_changes {"changes":[...]}, POST /rpc/delete_profile
-- {"id":"..."}). Timestamps in their results are rendered in UTC
-- ("2025-01-18T17:42:05.123456+00:00") whatever the session's TimeZone.
--
-- Ordering and concurrency:
--   * A change is applied field by field: a field is written only if the row
--     does not hold a newer version of it (field_versions), so an older change
--     never overwrites a newer value and changes to different fields never
--     conflict; an equal version applies again (replaying a batch is harmless:
--     the same values are written).
--   * delete_profile leaves a tombstone whose deleted_at is after the deleted
--     row's updated_at; a change not newer than the tombstone is reported as
--     "deleted" and writes nothing, so a late replay never resurrects a row.
--     A change newer than the tombstone recreates the row (the tombstone stays,
--     and keeps blocking changes older than itself).
--   * A tombstone is written even when there was no row ("not_found"): a
--     create may still be waiting in some node's journal.
--   * Changes to one id that exists are serialised by its row lock. Creating a
--     row and delete_profile also take a transaction-scoped advisory lock on the
--     id (key pair (1886547814 = 'prof', hashtext(id::text))), so a delete and
--     a concurrent create of the same id cannot both win.
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

-- --- tombstones ------------------------------------------------------------------

if pg_catalog.to_regclass('profilecache.profile_tombstones') is null then
    if pg_catalog.to_regclass('public.profile_tombstones') is not null then
        -- Earlier versions' table: moved with its rows, key and grants.
        alter table public.profile_tombstones set schema profilecache;
    else
        create table profilecache.profile_tombstones (
            id         uuid        primary key,
            deleted_at timestamptz not null
        );
    end if;
elsif pg_catalog.to_regclass('public.profile_tombstones') is not null then
    -- Both (an earlier version was loaded again meanwhile): merge, keeping
    -- the later tombstone of an id.
    insert into profilecache.profile_tombstones as t (id, deleted_at)
        select o.id, o.deleted_at from public.profile_tombstones as o
        on conflict (id) do update set deleted_at = greatest(t.deleted_at, excluded.deleted_at);
    drop table public.profile_tombstones;
end if;

comment on table profilecache.profile_tombstones is
    'Deleted profile ids; a write-behind change not newer than deleted_at is never applied.';

grant usage on schema profilecache to service_role;
alter table profilecache.profile_tombstones enable row level security;
-- No policies: anon and authenticated see nothing (and have no grants either);
-- service_role bypasses RLS.
revoke all on table profilecache.profile_tombstones from public, anon, authenticated;
grant all on table profilecache.profile_tombstones to service_role;

-- --- apply_profile_changes ------------------------------------------------------------
--
-- POST /rpc/apply_profile_changes with the body {"changes": [...]}, where each
-- change is
--   {"id": "<uuid>",
--    "patch": {"username": "...", "display_name": "...", "bio": "...",
--              "avatar_url": "...", "gradient": "...", "is_private": true},
--    "updated_at": "2025-01-18T17:42:05.123456Z",
--    "versions": {"bio": 1737222125123456, ...}}
-- patch holds any subset of those six fields ({} too): text fields take a
-- string or null, is_private a boolean. updated_at is RFC 3339 with Z or a
-- +hh:mm offset and at most six fractional digits: the change's newest
-- version. versions (optional) gives a field of the patch its own version in
-- microseconds since the epoch, when a journal coalesced changes made at
-- different times; a field it does not name has the version updated_at.
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
-- not a UUID. row is the whole profiles row as to_jsonb renders it
-- (timestamps in UTC, trailing zeros of the fraction dropped:
-- "2030-01-01T00:00:00.5+00:00"). now is clock_timestamp() in microseconds,
-- for the caller to measure its clock's offset.
--   applied   at least one field of the change now holds its value and version
--             (or the patch was empty); superseded lists the fields that a
--             newer version already held; row is the row after the write
--   conflict  every field of the patch already held a newer version: nothing
--             of it was written; row is the current row
--   deleted   a tombstone is not older than the change; nothing written; row null
--   rejected  nothing written; row null; message says why; code is one of
--               invalid_change  the change is not an object, id is not a UUID,
--                               updated_at is missing or not RFC 3339 as above,
--                               patch or versions is not an object as above
--               unknown_field   patch names a field that is not editable
--                               (including id, created_at, updated_at)
--               username_taken  another row has that username (HTTP 409)
--               <SQLSTATE>      any other data or constraint error: 22023 (a
--                               field of the wrong JSON type), 23514 (a check
--                               constraint; the message names it), 23502
--                               (is_private null), 23503 (Supabase's foreign
--                               key to auth.users, if added), ...
--
-- A change for a missing id creates the row: id, the patched fields, and the
-- table's defaults (is_private false); created_at is the change's oldest
-- version (or now(), if earlier). A rejected change never undoes the others.
-- Errors that are not about the data (deadlocks, lost connections, missing
-- privileges) fail the whole call, which the flusher retries. A "changes"
-- that is not a JSON array raises 22023 (HTTP 400).
--
-- How: the changes are checked in one statement; then the first change of
-- each id in the batch, unless it sets username, is applied by one set-based
-- UPDATE in one subtransaction; everything else (creates, tombstones,
-- usernames, later changes to an id already in the batch, and the whole
-- batch again if that UPDATE hit a data error) goes one change at a time, in
-- input order, each in its own subtransaction.
--
-- The function sets profilecache.applying = on while it runs, which tells
-- the trigger below that the write is versioned already. (offset 0 keeps the
-- planner from inlining profilecache_winners once per use of its result.)

-- Which fields of patch win over the row cur (to_jsonb of a profiles row):
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

create or replace function public.apply_profile_changes(changes jsonb)
    returns jsonb
    language plpgsql
    volatile
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $$
declare
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
    v_res       jsonb;
    v_id        uuid;
    v_ts        timestamptz;
    v_us        bigint;
    v_oldest    bigint;
    v_patch     jsonb;
    v_vers      jsonb;
    v_tomb      timestamptz;
    v_code      text;
    v_message   text;
    v_attempt   int;
    v_state     text;
    v_cons      text;
    v_applying  text := pg_catalog.current_setting('profilecache.applying', true);
begin
    -- Not a SET clause of the function: setting a custom parameter there
    -- takes a superuser, which Supabase's roles are not. Put back before
    -- returning, so later statements of the caller's transaction count as
    -- outside writes again (an error aborts the transaction anyway).
    perform pg_catalog.set_config('profilecache.applying', 'on', true);
    if changes is null or pg_catalog.jsonb_typeof(changes) <> 'array' then
        raise exception 'apply_profile_changes: changes must be a JSON array, not %',
                coalesce(pg_catalog.jsonb_typeof(changes), 'null')
            using errcode = '22023',
                  hint = 'POST /rpc/apply_profile_changes {"changes":[{"id":…,"patch":{…},"updated_at":…}]}';
    end if;
    v_n := pg_catalog.jsonb_array_length(changes);
    if v_n = 0 then
        perform pg_catalog.set_config('profilecache.applying', coalesce(v_applying, ''), true);
        return pg_catalog.jsonb_build_object('results', '[]'::jsonb,
            'now', (extract(epoch from pg_catalog.clock_timestamp()) * 1000000)::bigint);
    end if;
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
            select pg_catalog.array_agg(x.result order by x.ord),
                   pg_catalog.array_agg(x.id order by x.ord),
                   pg_catalog.array_agg(x.ts order by x.ord),
                   pg_catalog.array_agg(x.patch order by x.ord),
                   pg_catalog.array_agg(x.vers order by x.ord)
              into v_r, v_i, v_t, v_p, v_v
              from (select e.ord,
                           case when k.problem is null then (e.c ->> 'id')::uuid end as id,
                           case when k.problem is null then (e.c ->> 'updated_at')::timestamptz end as ts,
                           case when k.problem is null then e.c -> 'patch' end as patch,
                           case when k.problem is null then coalesce(e.c -> 'versions', '{}'::jsonb) end as vers,
                           case when k.problem is not null then pg_catalog.jsonb_build_object(
                               'id', case when pg_catalog.jsonb_typeof(e.c -> 'id') = 'string'
                                          then e.c -> 'id' end,
                               'status', 'rejected', 'row', null,
                               'code', k.problem[1], 'message', k.problem[2]) end as result
                      from pg_catalog.jsonb_array_elements(changes) with ordinality as e(c, ord)
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
                                 not like '9999-99-99T99:99:99_%'
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
                            when (e.c -> 'patch') - '{username,display_name,bio,avatar_url,gradient,is_private}'::text[]
                                 <> '{}'::jsonb then
                                array['unknown_field',
                                      (select 'not an editable field: ' || pg_catalog.string_agg(f, ', ' order by f)
                                         from pg_catalog.jsonb_object_keys((e.c -> 'patch')
                                              - '{username,display_name,bio,avatar_url,gradient,is_private}'::text[]) as f)]
                            when pg_catalog.jsonb_typeof(e.c -> 'patch' -> 'username') not in ('string', 'null')
                              or pg_catalog.jsonb_typeof(e.c -> 'patch' -> 'display_name') not in ('string', 'null')
                              or pg_catalog.jsonb_typeof(e.c -> 'patch' -> 'bio') not in ('string', 'null')
                              or pg_catalog.jsonb_typeof(e.c -> 'patch' -> 'avatar_url') not in ('string', 'null')
                              or pg_catalog.jsonb_typeof(e.c -> 'patch' -> 'gradient') not in ('string', 'null')
                              or pg_catalog.jsonb_typeof(e.c -> 'patch' -> 'is_private') not in ('boolean', 'null') then
                                array['22023',
                                      (select 'wrong JSON type for ' || pg_catalog.string_agg(f.key, ', ' order by f.key)
                                              || ' (text fields take a string or null, is_private a boolean)'
                                         from pg_catalog.jsonb_each(e.c -> 'patch') as f
                                        where pg_catalog.jsonb_typeof(f.value) not in
                                              (case f.key when 'is_private' then 'boolean' else 'string' end, 'null'))]
                            end
                        offset 0) as k(problem)
                     where e.ord > v_from and e.ord <= v_from + v_step) as x;
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
    -- batch, unless it sets username (those go one by one, in order, so that
    -- two changes cannot race for a username), applied where the row exists
    -- and no tombstone blocks it. The winning fields are merged into the
    -- current row: jsonb_populate_record keeps the fields it does not name.
    -- Any data error undoes the whole statement and leaves every change to
    -- step 3.
    select coalesce(pg_catalog.array_agg(f.ord), '{}'), coalesce(pg_catalog.array_agg(f.id), '{}')
      into v_fast, v_fast_ids
      from (select distinct on (i.id) i.id, i.ord::int as ord, i.patch
              from unnest(v_ids, v_patches) with ordinality as i(id, patch, ord)
             where i.id is not null
             order by i.id, i.ord) as f
     where not f.patch ? 'username';
    if pg_catalog.cardinality(v_fast) > 0 then
        begin
            for v_ord, v_res in
                with c as (
                    select i.ord::int as ord, i.id, i.ts, i.patch, i.vers,
                           (extract(epoch from i.ts) * 1000000)::bigint as us
                      from unnest(v_ids, v_tss, v_patches, v_verss)
                           with ordinality as i(id, ts, patch, vers, ord)
                     where i.ord = any (v_fast)
                )
                update public.profiles as p
                   set (username, display_name, bio, avatar_url, gradient, is_private,
                        field_versions, updated_at) =
                       (select m.username, m.display_name, m.bio, m.avatar_url, m.gradient,
                               m.is_private, p.field_versions || (w.x -> 'versions'),
                               greatest(p.updated_at, 'epoch'::timestamptz
                                   + (w.x ->> 'newest')::bigint * interval '1 microsecond')
                          from (select public.profilecache_winners(pg_catalog.to_jsonb(p),
                                       c.patch, c.vers, c.us) as x offset 0) as w
                         cross join lateral pg_catalog.jsonb_populate_record(p, w.x -> 'patch') as m)
                  from c
                 where p.id = c.id
                   and p.id = any (v_fast_ids) -- lets the planner use the index
                   and not exists (select from profilecache.profile_tombstones as t
                                    where t.id = c.id and t.deleted_at >= c.ts)
                returning c.ord, public.profilecache_outcome(pg_catalog.to_jsonb(p.*),
                                                             c.patch, c.vers, c.us)
            loop
                v_results[v_ord] := v_res;
            end loop;
        exception when data_exception or integrity_constraint_violation then
            foreach v_ord in array v_fast loop
                v_results[v_ord] := null;
            end loop;
        end;
    end if;

    -- 3. Everything else, one change at a time in input order, each in its
    -- own subtransaction: creates, tombstones, usernames, repeated ids, and
    -- the data errors.
    for v_ord in 1 .. v_n loop
        continue when v_results[v_ord] is not null;
        v_id := v_ids[v_ord];
        v_ts := v_tss[v_ord];
        v_patch := v_patches[v_ord];
        v_vers := v_verss[v_ord];
        v_us := (extract(epoch from v_ts) * 1000000)::bigint;
        v_res := null;
        begin
            v_attempt := 0;
            <<attempt>>
            loop
                v_attempt := v_attempt + 1;
                if v_attempt > 3 then
                    raise exception 'apply_profile_changes: % keeps changing concurrently', v_id
                        using errcode = '40001';
                end if;
                select t.deleted_at into v_tomb
                  from profilecache.profile_tombstones as t where t.id = v_id;
                if v_tomb >= v_ts then
                    v_res := pg_catalog.jsonb_build_object('id', v_id, 'status', 'deleted',
                        'row', null, 'code', null, 'message', null);
                    exit attempt;
                end if;
                perform from public.profiles as p where p.id = v_id for update;
                if not found then
                    -- Missing: create it, unless a delete_profile got there
                    -- first. Fields older than a tombstone stay deleted.
                    perform pg_catalog.pg_advisory_xact_lock(1886547814,
                                                             pg_catalog.hashtext(v_id::text));
                    select t.deleted_at into v_tomb
                      from profilecache.profile_tombstones as t where t.id = v_id;
                    continue attempt when v_tomb >= v_ts;
                    select coalesce(pg_catalog.min(coalesce((v_vers ->> k)::bigint, v_us)), v_us)
                      into v_oldest
                      from pg_catalog.jsonb_object_keys(v_patch) as k;
                    insert into public.profiles (id, created_at, updated_at, field_versions)
                        values (v_id,
                                least(pg_catalog.now(), 'epoch'::timestamptz
                                                 + v_oldest * interval '1 microsecond'),
                                coalesce(v_tomb, 'epoch'::timestamptz
                                                 + v_oldest * interval '1 microsecond'),
                                case when v_tomb is null then '{}'::jsonb else
                                    (select pg_catalog.jsonb_object_agg(f,
                                             (extract(epoch from v_tomb) * 1000000)::bigint)
                                       from pg_catalog.unnest(array['username', 'display_name',
                                            'bio', 'avatar_url', 'gradient', 'is_private']) as f)
                                end)
                        on conflict (id) do nothing;
                end if;
                update public.profiles as p
                   set (username, display_name, bio, avatar_url, gradient, is_private,
                        field_versions, updated_at) =
                       (select m.username, m.display_name, m.bio, m.avatar_url, m.gradient,
                               m.is_private, p.field_versions || (w.x -> 'versions'),
                               greatest(p.updated_at, 'epoch'::timestamptz
                                   + (w.x ->> 'newest')::bigint * interval '1 microsecond')
                          from (select public.profilecache_winners(pg_catalog.to_jsonb(p),
                                       v_patch, v_vers, v_us) as x offset 0) as w
                         cross join lateral pg_catalog.jsonb_populate_record(p, w.x -> 'patch') as m)
                 where p.id = v_id
                returning public.profilecache_outcome(pg_catalog.to_jsonb(p.*), v_patch, v_vers, v_us)
                     into v_res;
                exit attempt when found;
            end loop;
        exception
            when data_exception or integrity_constraint_violation then
                get stacked diagnostics v_state = returned_sqlstate,
                                        v_message = message_text,
                                        v_cons = constraint_name;
                if v_state = '23505' and v_cons = 'profiles_username_key' then
                    v_code := 'username_taken';
                    v_message := 'username is taken';
                else
                    v_code := v_state;
                end if;
                v_res := pg_catalog.jsonb_build_object('id', v_id, 'status', 'rejected',
                    'row', null, 'code', v_code, 'message', v_message);
        end;
        v_results[v_ord] := v_res;
    end loop;

    perform pg_catalog.set_config('profilecache.applying', coalesce(v_applying, ''), true);
    return pg_catalog.jsonb_build_object('results', pg_catalog.to_jsonb(v_results),
        'now', (extract(epoch from pg_catalog.clock_timestamp()) * 1000000)::bigint);
end
$$;

comment on function public.apply_profile_changes(jsonb) is
    'Applies write-behind profile changes field by field, each field only where the row does not '
    'hold a newer version of it, never over a newer tombstone; returns '
    '{"results":[{"id","status","row","code","message","applied","superseded"}],"now"}.';

revoke all on function public.apply_profile_changes(jsonb) from public, anon, authenticated;
grant execute on function public.apply_profile_changes(jsonb) to service_role;

-- --- writes made outside profilecache ---------------------------------------------------
--
-- An UPDATE or INSERT that does not come through apply_profile_changes (the
-- dashboard, another service, an owner's direct UPDATE through the Data API)
-- gets versions too: every field it changes is stamped with a hybrid clock,
-- after every version the row already holds and not before clock_timestamp(),
-- so it takes part in the per-field order like any change. field_versions
-- itself cannot be set from outside.

create or replace function public.profiles_version_outside_write()
    returns trigger
    language plpgsql
    set search_path = ''
as $$
declare
    v_new jsonb;
    v_old jsonb;
    v_us  bigint;
    v_f   text;
begin
    if pg_catalog.current_setting('profilecache.applying', true) = 'on' then
        return new;
    end if;
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
    foreach v_f in array array['username', 'display_name', 'bio', 'avatar_url', 'gradient',
                               'is_private'] loop
        -- An insert versions what it sets; a default or a null it leaves
        -- to whatever change comes, however old.
        if (tg_op = 'INSERT' and v_new -> v_f is distinct from 'null'::jsonb
                and (v_f <> 'is_private' or v_new -> v_f <> 'false'::jsonb))
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
$$;

revoke all on function public.profiles_version_outside_write() from public, anon, authenticated;

if exists (select from pg_catalog.pg_trigger as t
            where t.tgrelid = 'public.profiles'::regclass and t.tgname = 'profiles_version_outside_write') then
    drop trigger profiles_version_outside_write on public.profiles;
end if;
create trigger profiles_version_outside_write
    before insert or update on public.profiles
    for each row execute function public.profiles_version_outside_write();

-- A delete made outside (the dashboard, a cascade from auth.users, an
-- application whose policies let users delete their own row) leaves a
-- tombstone too, so that no change still waiting in a journal brings the row
-- back. delete_profile writes its own; this one then changes nothing. It runs
-- as its owner (SECURITY DEFINER, in the unexposed schema, executable by
-- nobody else), so that a delete by a role without rights on the tombstones
-- still leaves one instead of failing.
create or replace function profilecache.profiles_tombstone_outside_delete()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
as $$
begin
    insert into profilecache.profile_tombstones as t (id, deleted_at)
        values (old.id, greatest(pg_catalog.now(), old.updated_at + interval '1 microsecond'))
        on conflict on constraint profile_tombstones_pkey
            do update set deleted_at = greatest(t.deleted_at, excluded.deleted_at);
    return old;
end
$$;

revoke all on function profilecache.profiles_tombstone_outside_delete() from public, anon, authenticated;

if exists (select from pg_catalog.pg_trigger as t
            where t.tgrelid = 'public.profiles'::regclass and t.tgname = 'profiles_tombstone_outside_delete') then
    drop trigger profiles_tombstone_outside_delete on public.profiles;
end if;
create trigger profiles_tombstone_outside_delete
    after delete on public.profiles
    for each row execute function profilecache.profiles_tombstone_outside_delete();
-- Earlier versions kept it in public.
if pg_catalog.to_regprocedure('public.profiles_tombstone_outside_delete()') is not null then
    drop function public.profiles_tombstone_outside_delete();
end if;

-- --- delete_profile -----------------------------------------------------------------
--
-- POST /rpc/delete_profile {"id":"<uuid>"} →
--   {"id": "<uuid>", "status": "deleted" | "not_found",
--    "deleted_at": "2025-01-18T17:42:05.123457+00:00"}
-- deleted_at is the tombstone's: now(), or just after the deleted row's
-- updated_at if that is later (clock skew), or an existing later tombstone's.
-- A null id ({"id": null}) is refused with 22004 (HTTP 400) before anything
-- is read or written: a caller can tell that the function is there, and that
-- it may call it, without deleting (profilecache-admin check-origin does so
-- when the origin does not serve its OpenAPI description).

create or replace function public.delete_profile(id uuid)
    returns jsonb
    language plpgsql
    volatile
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $$
declare
    v_id         uuid := delete_profile.id;
    v_updated_at timestamptz;
    v_deleted_at timestamptz;
begin
    if v_id is null then
        raise exception 'delete_profile: id must not be null' using errcode = '22004';
    end if;
    perform pg_catalog.pg_advisory_xact_lock(1886547814, pg_catalog.hashtext(v_id::text));
    delete from public.profiles as p where p.id = v_id returning p.updated_at into v_updated_at;
    insert into profilecache.profile_tombstones as t (id, deleted_at)
        values (v_id, greatest(pg_catalog.now(), v_updated_at + interval '1 microsecond'))
        on conflict on constraint profile_tombstones_pkey
            do update set deleted_at = greatest(t.deleted_at, excluded.deleted_at)
        returning t.deleted_at into v_deleted_at;
    return pg_catalog.jsonb_build_object(
        'id', v_id,
        'status', case when v_updated_at is null then 'not_found' else 'deleted' end,
        'deleted_at', v_deleted_at);
end
$$;

comment on function public.delete_profile(uuid) is
    'Deletes a profile and leaves a tombstone so no older change can recreate it; '
    'returns {"id","status":"deleted"|"not_found","deleted_at"}.';

revoke all on function public.delete_profile(uuid) from public, anon, authenticated;
grant execute on function public.delete_profile(uuid) to service_role;

-- PostgREST (Supabase) caches the schema; have it see these functions now.
notify pgrst, 'reload schema';
end
$apply$;
