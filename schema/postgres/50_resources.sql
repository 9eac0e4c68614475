-- Tables besides profiles, declared as data (README, "Other tables"): the
-- registry of declared tables, their tombstones, and the two functions every
-- change to them goes through. `profilecache-admin sql` prints, for the
-- tables a configuration declares, the tables (or the columns to add) and
-- their rows in the registry; this file is loaded once, after 30_apply.sql,
-- as the tables' owner. Idempotent, and one statement, so atomic wherever
-- it runs (see 10_profiles.sql).
--
--   profilecache.resources        one row per declared table: its resource
--                                 (item) name, the table, the key column and
--                                 the columns a change may write
--   profilecache.tombstones       one row per deleted (resource, id)
--   public.profilecache_apply(text, jsonb)
--                                 apply a batch of a resource's changes
--   public.profilecache_delete(text, uuid)
--                                 delete a row, leaving a tombstone
--   public.profilecache_resource_changes(text, timestamptz, integer)
--                                 rows changed and deleted since a time
--
-- Both functions are SECURITY INVOKER and only service_role may execute them
-- (POST /rpc/profilecache_apply {"resource":"challenge","changes":[...]},
-- POST /rpc/profilecache_delete {"resource":"challenge","id":"..."}). They
-- reach only the tables of the registry, which only the tables' owner
-- writes, and name them through regclass and quoted identifiers.
--
-- profilecache_apply takes the changes of apply_profile_changes
-- (30_apply.sql): {"id","patch","updated_at"[,"versions"]}, and answers the
-- same way, one result per change in input order, and the database's clock:
--   {"results": [{"id","status":"applied|conflict|deleted|rejected","row",
--                 "code","message"[,"applied","superseded"]}], "now": µs}
-- A field is written only when the row does not hold a newer version of it
-- (field_versions; on an equal version the greater JSON text wins), so every
-- order of arrival ends the same and a replay is harmless. A change for a
-- missing id creates the row (the table's defaults for the rest). A change
-- not newer than the id's tombstone is "deleted" and writes nothing; a row
-- recreated after a delete takes only fields newer than the tombstone. A
-- change that gives an existing row another owner is rejected
-- (owner_conflict). A resource or column the registry does not list fails
-- the whole call (55000: the migration is not loaded; the caller retries). A
-- change the database refuses as data (SQLSTATE classes 22 and 23) is
-- rejected with the SQLSTATE as its code, and undoes nothing else.
-- Changes are applied one at a time, each in its own subtransaction, under a
-- transaction-scoped advisory lock on (resource, id), as deletes are.

do $resources$
declare
    v_problems text[];
begin
-- Declared tables go through the functions of 30_apply.sql too, and the files
-- load in order: like every file after 10_profiles.sql, this one stops,
-- changing nothing, while public.profiles does not fit profilecache.
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
if pg_catalog.to_regprocedure('public.profilecache_winners(jsonb, jsonb, jsonb, bigint)') is null then
    raise exception 'public.profilecache_winners is missing'
        using errcode = 'object_not_in_prerequisite_state',
              detail = 'Nothing was changed.',
              hint = 'Load schema/postgres/30_apply.sql first.';
end if;

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

create table if not exists profilecache.tombstones (
    resource   text not null references profilecache.resources (name)
                   on update cascade on delete cascade,
    id         uuid not null,
    deleted_at timestamptz not null,
    primary key (resource, id)
);
-- The deleted row's owner (its owner column; null without one): the lists
-- filtered on that owner are the ones a delete changes.
alter table profilecache.tombstones add column if not exists owner text;

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

create or replace function public.profilecache_apply(resource text, changes jsonb)
    returns jsonb
    language plpgsql
    volatile
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $$
declare
    v_res      record;
    v_c        jsonb;
    v_id       uuid;
    v_ts       timestamptz;
    v_us       bigint;
    v_patch    jsonb;
    v_vers     jsonb;
    v_cur      jsonb;
    v_base     jsonb;
    v_w        jsonb;
    v_set      jsonb;
    v_row      jsonb;
    v_cols     text;
    v_bad      text;
    v_tomb     timestamptz;
    v_state    text;
    v_message  text;
    v_results  jsonb := '[]';
    v_applying text := pg_catalog.current_setting('profilecache.applying', true);
begin
    -- A resource or a column the registry lacks is a migration not loaded
    -- yet (55000, not a data error): the whole call fails and is retried.
    select r.name, r.tbl, r.key, r.columns, r.owner into v_res
      from profilecache.resources as r where r.name = profilecache_apply.resource;
    if not found then
        raise exception 'profilecache_apply: % is not a declared resource', resource
            using errcode = '55000',
                  hint = 'Load what profilecache-admin sql prints for the configuration.';
    end if;
    if changes is null or pg_catalog.jsonb_typeof(changes) <> 'array' then
        raise exception 'profilecache_apply: changes must be a JSON array, not %',
                coalesce(pg_catalog.jsonb_typeof(changes), 'null')
            using errcode = '22023';
    end if;
    perform pg_catalog.set_config('profilecache.applying', 'on', true);
    for v_c in select e.c from pg_catalog.jsonb_array_elements(changes) as e(c) loop
        if pg_catalog.jsonb_typeof(v_c) is distinct from 'object'
           or pg_catalog.jsonb_typeof(v_c -> 'id') is distinct from 'string'
           or pg_catalog.jsonb_typeof(v_c -> 'updated_at') is distinct from 'string'
           or pg_catalog.jsonb_typeof(v_c -> 'patch') is distinct from 'object'
           or pg_catalog.jsonb_typeof(coalesce(v_c -> 'versions', '{}')) <> 'object' then
            v_results := v_results || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'id', case when pg_catalog.jsonb_typeof(v_c -> 'id') = 'string' then v_c -> 'id' end,
                'status', 'rejected', 'row', null, 'code', 'invalid_change',
                'message', 'a change is {"id","patch","updated_at"[,"versions"]}'));
            continue;
        end if;
        begin
            v_id := (v_c ->> 'id')::uuid;
            v_ts := (v_c ->> 'updated_at')::timestamptz;
        exception when data_exception then
            v_results := v_results || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'id', v_c -> 'id', 'status', 'rejected', 'row', null,
                'code', 'invalid_change', 'message', 'id must be a UUID, updated_at a time'));
            continue;
        end;
        v_us := (extract(epoch from v_ts) * 1000000)::bigint;
        v_patch := v_c -> 'patch';
        v_vers := coalesce(v_c -> 'versions', '{}');
        select k into v_bad from pg_catalog.jsonb_object_keys(v_patch) as k
         where k <> all (v_res.columns) limit 1;
        if v_bad is not null then
            raise exception 'profilecache_apply: %.% is not a column a change may write', resource, v_bad
                using errcode = '55000',
                      hint = 'Load what profilecache-admin sql prints for the configuration.';
        end if;
        begin
            perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(v_res.name),
                                                     pg_catalog.hashtext(v_id::text));
            select t.deleted_at into v_tomb from profilecache.tombstones as t
             where t.resource = v_res.name and t.id = v_id;
            if v_tomb is not null and v_tomb >= v_ts then
                v_results := v_results || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                    'id', v_id, 'status', 'deleted', 'row', null, 'code', null, 'message', null));
                continue;
            end if;
            execute pg_catalog.format('select pg_catalog.to_jsonb(t) from %s as t where t.%I = $1 for update',
                                      v_res.tbl, v_res.key)
               into v_cur using v_id;
            -- The owner is set once: another owner for an existing row is
            -- refused (two users cannot both create one id).
            if v_cur is not null and v_res.owner is not null and v_patch ? v_res.owner
               and v_cur ->> v_res.owner is not null
               and v_cur ->> v_res.owner is distinct from v_patch ->> v_res.owner then
                v_results := v_results || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                    'id', v_id, 'status', 'rejected', 'row', null, 'code', 'owner_conflict',
                    'message', 'the row has another owner'));
                continue;
            end if;
            -- A row recreated after a delete: every field starts at the
            -- tombstone's version, so no value older than the delete returns.
            if v_cur is null and v_tomb is not null then
                v_base := pg_catalog.jsonb_build_object('field_versions',
                    (select pg_catalog.jsonb_object_agg(c,
                                (extract(epoch from v_tomb) * 1000000)::bigint)
                       from pg_catalog.unnest(v_res.columns) as c));
            else
                v_base := coalesce(v_cur, '{}');
            end if;
            v_w := public.profilecache_winners(v_base, v_patch, v_vers, v_us);
            if v_cur is null and v_w -> 'patch' = '{}' and v_patch <> '{}' then
                v_results := v_results || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                    'id', v_id, 'status', 'deleted', 'row', null, 'code', null, 'message', null));
                continue;
            end if;
            if v_cur is null or v_w -> 'patch' <> '{}' then
                v_set := (v_w -> 'patch') || pg_catalog.jsonb_build_object(
                    'field_versions', coalesce(v_cur -> 'field_versions', '{}') || (v_w -> 'versions'),
                    'updated_at', greatest((v_cur ->> 'updated_at')::timestamptz,
                                           timestamptz 'epoch' + coalesce((v_w ->> 'newest')::bigint, v_us)
                                                                 * interval '1 microsecond'));
                if v_cur is null then
                    v_set := v_set || pg_catalog.jsonb_build_object(v_res.key, v_id);
                end if;
                select pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ') into v_cols
                  from pg_catalog.jsonb_object_keys(v_set) as k;
                if v_cur is null then
                    execute pg_catalog.format('insert into %s (%s) select %s from pg_catalog.jsonb_populate_record(null::%s, $1)',
                                              v_res.tbl, v_cols, v_cols, v_res.tbl)
                      using v_set;
                else
                    execute pg_catalog.format('update %s as t set (%s) = (select %s from pg_catalog.jsonb_populate_record(null::%s, $1)) where t.%I = $2',
                                              v_res.tbl, v_cols, v_cols, v_res.tbl, v_res.key)
                      using v_set, v_id;
                end if;
            end if;
            execute pg_catalog.format('select pg_catalog.to_jsonb(t) from %s as t where t.%I = $1',
                                      v_res.tbl, v_res.key)
               into v_row using v_id;
            v_results := v_results || pg_catalog.jsonb_build_array(
                public.profilecache_outcome(v_row, v_patch, v_vers, v_us)
                || pg_catalog.jsonb_build_object('id', v_id));
        exception when data_exception or integrity_constraint_violation then
            get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
            v_results := v_results || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'id', v_id, 'status', 'rejected', 'row', null,
                'code', v_state, 'message', v_message));
        end;
    end loop;
    perform pg_catalog.set_config('profilecache.applying', coalesce(v_applying, ''), true);
    return pg_catalog.jsonb_build_object('results', v_results,
        'now', (extract(epoch from pg_catalog.clock_timestamp()) * 1000000)::bigint);
end
$$;

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

-- POST /rpc/profilecache_resource_changes {"resource","since","max"}: as
-- profilecache_changed_since (40_changes.sql) for a declared table: its
-- rows changed at or after since (oldest first, at most max), the ids
-- deleted since, and the database's clock.
create or replace function public.profilecache_resource_changes(resource text,
        since timestamptz, max integer)
    returns jsonb
    language plpgsql
    stable
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $fn$
declare
    v_res  record;
    v_rows jsonb;
begin
    select r.name, r.tbl into v_res
      from profilecache.resources as r where r.name = profilecache_resource_changes.resource;
    if not found then
        raise exception 'profilecache_resource_changes: % is not a declared resource', resource
            using errcode = '55000';
    end if;
    execute pg_catalog.format(
        'select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(p.*) order by p.updated_at), ''[]'')'
        '  from (select * from %s as q where q.updated_at >= $1'
        '         order by q.updated_at limit $2) as p', v_res.tbl)
       into v_rows using since, greatest(1, least(max, 1000));
    return pg_catalog.jsonb_build_object(
        'rows', v_rows,
        'deleted', coalesce((select pg_catalog.jsonb_agg(t.id)
                               from profilecache.tombstones as t
                              where t.resource = v_res.name and t.deleted_at >= since),
                            '[]'::jsonb),
        'deleted_owners', coalesce((select pg_catalog.jsonb_object_agg(t.id, t.owner)
                                      from profilecache.tombstones as t
                                     where t.resource = v_res.name and t.deleted_at >= since),
                                   '{}'::jsonb),
        'now', pg_catalog.now());
end
$fn$;

revoke all on function public.profilecache_resource_changes(text, timestamptz, integer) from public;
if exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    revoke all on function public.profilecache_resource_changes(text, timestamptz, integer)
        from anon, authenticated;
end if;
grant execute on function public.profilecache_resource_changes(text, timestamptz, integer)
    to service_role;

-- A write that does not come through profilecache_apply (the dashboard,
-- another service) gets versions too, as profiles' do (30_apply.sql): every
-- registered column it changes is stamped after every version the row
-- holds and not before clock_timestamp(); field_versions itself cannot be
-- set from outside. A delete made outside leaves a tombstone, so that no
-- change still waiting in a journal brings the row back. profilecache-admin
-- sql attaches both to each declared table.
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

-- PostgREST (Supabase) caches the schema; have it see these functions now.
notify pgrst, 'reload schema';
end
$resources$;
