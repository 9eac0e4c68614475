-- Counters of declared tables (a field with policy = counter, README
-- "Counters"): deltas applied exactly once through a ledger, never
-- last-writer-wins. Loaded once, after 40_changes.sql, as the tables'
-- owner. Idempotent, and one statement.
--
--   profilecache.resources.counters   per declared table, its counter
--                                     columns and their bounds:
--                                     {"balance": {"min": 0, "max": null}}
--   profilecache.increments           the ledger: one row per
--                                     (resource, id, key) ever settled
--   public.profilecache_increment(text, jsonb)
--                                     apply a batch of increments
--   public.profilecache_counted(text, uuid[], text[])
--                                     rows and which of some keys the
--                                     ledger holds, in one snapshot
--
-- profilecache_increment takes {"id","key","field","delta","at"} per
-- increment (at: when the node acknowledged it, RFC 3339) and answers, in
-- input order, {"id","key","status":"applied|rejected|deleted","value",
-- "duplicate","code","message"}, and the database's clock ("now", µs):
--
--   - the ledger already holds the key (a replayed batch, a flusher killed
--     after the commit, a client's retry through another node): the first
--     outcome again, with "duplicate": true, and nothing changes; the same
--     key with another field or delta is rejected (key_reused);
--   - the row was deleted at or after "at": deleted, and recorded;
--   - the new value would leave [min, max]: rejected (insufficient_balance
--     below min, over_limit above max) and recorded, so that the key keeps
--     that outcome wherever it is retried (as is any other refusal of
--     the database: a value out of range, a check);
--   - a missing row is created holding the delta when its key is its owner
--     (or it has none): a user's first credit makes their balance row;
--     otherwise rejected (not_found);
--   - else the field is added to, the increment recorded: applied, with the
--     field's new value.
--
-- Each increment runs under the (resource, id) advisory lock that
-- profilecache_apply and profilecache_delete take, in its own
-- subtransaction: two nodes' calls for one row are serialised, and a
-- refused one undoes nothing else. The update is an outside write to the
-- version trigger (version_outside_write), which versions the field and
-- the row's updated_at as of the database's clock.

do $increments$
declare
    v_problems text[];
begin
-- Like every file after 10_profiles.sql, this one stops, changing nothing,
-- while public.profiles does not fit profilecache.
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
if pg_catalog.to_regprocedure('public.profilecache_apply(text, jsonb)') is null then
    raise exception 'public.profilecache_apply is missing'
        using errcode = 'object_not_in_prerequisite_state',
              detail = 'Nothing was changed.',
              hint = 'Load schema/postgres/30_apply.sql first.';
end if;

alter table profilecache.resources add column if not exists counters jsonb not null default '{}';

create table if not exists profilecache.increments (
    resource   text not null references profilecache.resources (name)
                   on update cascade on delete cascade,
    id         uuid not null,
    key        text not null,
    field      text not null,
    delta      bigint not null,
    status     text not null,
    code       text,
    value      bigint,
    settled_at timestamptz not null default pg_catalog.now(),
    primary key (resource, id, key)
);
alter table profilecache.increments drop constraint if exists increments_status_check;
alter table profilecache.increments add constraint increments_status_check
    check (status in ('applied', 'rejected', 'deleted'));
alter table profilecache.increments enable row level security;
revoke all on table profilecache.increments from public;
if exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    revoke all on table profilecache.increments from anon, authenticated;
end if;
grant select, insert on table profilecache.increments to service_role;
drop policy if exists increments_service on profilecache.increments;
create policy increments_service on profilecache.increments
    for all to service_role using (true) with check (true);

create or replace function public.profilecache_increment(resource text, increments jsonb)
    returns jsonb
    language plpgsql
    volatile
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $$
declare
    v_res      record;
    v_i        jsonb;
    v_id       uuid;
    v_at       timestamptz;
    v_key      text;
    v_field    text;
    v_delta    bigint;
    v_bounds   jsonb;
    v_seen     record;
    v_tomb     timestamptz;
    v_cur      bigint;
    v_exists   boolean;
    v_new      bigint;
    v_code     text;
    v_state    text;
    v_message  text;
    v_results  jsonb[] := '{}';  -- appended in place: a jsonb || would copy it each time
begin
    select r.name, r.tbl, r.key, r.owner, r.counters into v_res
      from profilecache.resources as r where r.name = profilecache_increment.resource;
    if not found then
        raise exception 'profilecache_increment: % is not a declared resource', resource
            using errcode = '55000',
                  hint = 'Load what profilecache-admin sql prints for the configuration.';
    end if;
    if increments is null or pg_catalog.jsonb_typeof(increments) <> 'array' then
        raise exception 'profilecache_increment: increments must be a JSON array, not %',
                coalesce(pg_catalog.jsonb_typeof(increments), 'null')
            using errcode = '22023';
    end if;
    for v_i in select e.i from pg_catalog.jsonb_array_elements(increments) as e(i) loop
        begin
            if pg_catalog.jsonb_typeof(v_i) is distinct from 'object'
               or pg_catalog.jsonb_typeof(v_i -> 'id') is distinct from 'string'
               or pg_catalog.jsonb_typeof(v_i -> 'key') is distinct from 'string'
               or pg_catalog.jsonb_typeof(v_i -> 'field') is distinct from 'string'
               or pg_catalog.jsonb_typeof(v_i -> 'delta') is distinct from 'number'
               or pg_catalog.jsonb_typeof(v_i -> 'at') is distinct from 'string' then
                raise exception 'not an increment' using errcode = '22023';
            end if;
            v_id := (v_i ->> 'id')::uuid;
            v_at := (v_i ->> 'at')::timestamptz;
            v_delta := (v_i ->> 'delta')::bigint;
            v_key := v_i ->> 'key';
            v_field := v_i ->> 'field';
        exception when data_exception then
            v_results := pg_catalog.array_append(v_results, pg_catalog.jsonb_build_object(
                'id', case when pg_catalog.jsonb_typeof(v_i -> 'id') = 'string' then v_i -> 'id' end,
                'key', case when pg_catalog.jsonb_typeof(v_i -> 'key') = 'string' then v_i -> 'key' end,
                'status', 'rejected', 'value', null, 'code', 'invalid_increment',
                'message', 'an increment is {"id","key","field","delta","at"}: a UUID, text, a counter, an integer, a time'));
            continue;
        end;
        v_bounds := v_res.counters -> v_field;
        if v_bounds is null then
            raise exception 'profilecache_increment: %.% is not a counter', resource, v_field
                using errcode = '55000',
                      hint = 'Load what profilecache-admin sql prints for the configuration.';
        end if;
        begin
            perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(v_res.name),
                                                     pg_catalog.hashtext(v_id::text));
            select l.field, l.delta, l.status, l.code, l.value into v_seen
              from profilecache.increments as l
             where l.resource = v_res.name and l.id = v_id and l.key = v_key;
            if found then
                if v_seen.field <> v_field or v_seen.delta <> v_delta then
                    v_results := pg_catalog.array_append(v_results, pg_catalog.jsonb_build_object(
                        'id', v_id, 'key', v_key, 'status', 'rejected', 'value', null,
                        'duplicate', true, 'code', 'key_reused',
                        'message', 'this key was used for another increment'));
                else
                    v_results := pg_catalog.array_append(v_results, pg_catalog.jsonb_build_object(
                        'id', v_id, 'key', v_key, 'status', v_seen.status, 'value', v_seen.value,
                        'duplicate', true, 'code', v_seen.code, 'message', null));
                end if;
                continue;
            end if;
            select t.deleted_at into v_tomb from profilecache.tombstones as t
             where t.resource = v_res.name and t.id = v_id;
            execute pg_catalog.format('select t.%I, true from %s as t where t.%I = $1 for update',
                                      v_field, v_res.tbl, v_res.key)
               into v_cur, v_exists using v_id;
            if v_exists is null and v_tomb is not null and v_tomb >= v_at then
                insert into profilecache.increments (resource, id, key, field, delta, status)
                    values (v_res.name, v_id, v_key, v_field, v_delta, 'deleted');
                v_results := pg_catalog.array_append(v_results, pg_catalog.jsonb_build_object(
                    'id', v_id, 'key', v_key, 'status', 'deleted', 'value', null,
                    'code', null, 'message', null));
                continue;
            end if;
            v_new := coalesce(v_cur, 0) + v_delta;
            v_code := case
                when v_exists is null and v_res.owner is not null then 'not_found'
                when v_bounds ->> 'min' is not null and v_new < (v_bounds ->> 'min')::bigint
                    then 'insufficient_balance'
                when v_bounds ->> 'max' is not null and v_new > (v_bounds ->> 'max')::bigint
                    then 'over_limit'
            end;
            if v_code is not null then
                insert into profilecache.increments (resource, id, key, field, delta, status, code)
                    values (v_res.name, v_id, v_key, v_field, v_delta, 'rejected', v_code);
                v_results := pg_catalog.array_append(v_results, pg_catalog.jsonb_build_object(
                    'id', v_id, 'key', v_key, 'status', 'rejected', 'value', null,
                    'code', v_code, 'message', case v_code
                        when 'not_found' then 'there is no row to add to'
                        when 'over_limit' then 'the counter would pass its maximum'
                        else 'the counter would fall below its minimum' end));
                continue;
            end if;
            if v_exists is null then
                execute pg_catalog.format('insert into %s (%I, %I) values ($1, $2)',
                                          v_res.tbl, v_res.key, v_field)
                  using v_id, v_new;
            else
                execute pg_catalog.format('update %s as t set %I = $2 where t.%I = $1',
                                          v_res.tbl, v_field, v_res.key)
                  using v_id, v_new;
            end if;
            insert into profilecache.increments (resource, id, key, field, delta, status, value)
                values (v_res.name, v_id, v_key, v_field, v_delta, 'applied', v_new);
            v_results := pg_catalog.array_append(v_results, pg_catalog.jsonb_build_object(
                'id', v_id, 'key', v_key, 'status', 'applied', 'value', v_new,
                'code', null, 'message', null));
        exception when data_exception or integrity_constraint_violation then
            get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
            -- Refused for good, whatever node sends the key again.
            insert into profilecache.increments (resource, id, key, field, delta, status, code)
                values (v_res.name, v_id, v_key, v_field, v_delta, 'rejected', v_state)
                on conflict do nothing;
            v_results := pg_catalog.array_append(v_results, pg_catalog.jsonb_build_object(
                'id', v_id, 'key', v_key, 'status', 'rejected', 'value', null,
                'code', v_state, 'message', v_message));
        end;
    end loop;
    return pg_catalog.jsonb_build_object('results', pg_catalog.to_jsonb(v_results),
        'now', (extract(epoch from pg_catalog.clock_timestamp()) * 1000000)::bigint);
end
$$;

-- STABLE: its two reads share the calling statement's snapshot, so a
-- counter's value and the keys the ledger holds are of one moment (an
-- increment applied in between would be counted twice, or not at all).
-- {"rows": [the rows of ids that exist], "settled": {"<id>": {"<key>":
-- "applied|rejected|deleted"}}} for the keys asked about.
create or replace function public.profilecache_counted(resource text, ids uuid[], keys text[])
    returns jsonb
    language plpgsql
    stable
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $$
declare
    v_res  record;
    v_rows jsonb;
    v_seen jsonb;
begin
    select r.name, r.tbl, r.key into v_res
      from profilecache.resources as r where r.name = profilecache_counted.resource;
    if not found then
        raise exception 'profilecache_counted: % is not a declared resource', resource
            using errcode = '55000';
    end if;
    execute pg_catalog.format('select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t)), ''[]'')'
                              ' from %s as t where t.%I = any ($1)', v_res.tbl, v_res.key)
       into v_rows using coalesce(ids, '{}');
    select coalesce(pg_catalog.jsonb_object_agg(s.id, s.keys), '{}') into v_seen
      from (select l.id, pg_catalog.jsonb_object_agg(l.key, l.status) as keys
              from profilecache.increments as l
             where l.resource = v_res.name and l.id = any (coalesce(ids, '{}'))
               and l.key = any (coalesce(keys, '{}'))
             group by l.id) as s;
    return pg_catalog.jsonb_build_object('rows', v_rows, 'settled', v_seen);
end
$$;
drop function if exists public.profilecache_counted(text, uuid, text[]);

revoke all on function public.profilecache_increment(text, jsonb) from public;
revoke all on function public.profilecache_counted(text, uuid[], text[]) from public;
if exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    revoke all on function public.profilecache_increment(text, jsonb) from anon, authenticated;
    revoke all on function public.profilecache_counted(text, uuid[], text[]) from anon, authenticated;
end if;
grant execute on function public.profilecache_increment(text, jsonb) to service_role;
grant execute on function public.profilecache_counted(text, uuid[], text[]) to service_role;

notify pgrst, 'reload schema';
end
$increments$;
