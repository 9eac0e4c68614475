-- Changes made outside profilecache reach the caches: every flusher run asks
-- for the rows changed and the profiles deleted since its last run (see
-- docs/design.md, "Versions and convergence"), so the staleness after an outside
-- write is at most one cron interval without any webhook.
--
-- The same for every declared table: profilecache_resource_changes below.
--
-- Loaded as is into Supabase and into the local database, after
-- 30_apply.sql, as the table's owner. Idempotent, and one statement, so
-- atomic wherever it runs (see 10_profiles.sql): it stops, changing nothing,
-- when public.profiles does not fit profilecache.
--
-- POST /rpc/profilecache_changed_since {"since": "<timestamptz>", "max": 500}
--   {"rows": [<profiles rows changed at or after since, oldest first, at
--             most max>],
--    "deleted": ["<uuid>", ...],   -- tombstones at or after since
--    "now": "<the database's clock when the query began, UTC>"}
-- The caller keeps a cursor: the last row's updated_at when it got max rows
-- (there is more), else now minus a margin for transactions that were still
-- open. Rows it saw already come again; refreshing a cache entry twice is
-- harmless.

do $changes$
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

create or replace function public.profilecache_changed_since(since timestamptz, max integer)
    returns jsonb
    language sql
    stable
    security invoker
    set search_path = ''
    set "TimeZone" = 'UTC'
as $$
    select pg_catalog.jsonb_build_object(
        'rows', coalesce((select pg_catalog.jsonb_agg(pg_catalog.to_jsonb(p.*) order by p.updated_at)
                            from (select * from public.profiles as q
                                   where q.updated_at >= since
                                   order by q.updated_at
                                   limit greatest(1, least(max, 1000))) as p), '[]'::jsonb),
        'deleted', coalesce((select pg_catalog.jsonb_agg(t.id)
                               from profilecache.tombstones as t
                              where t.resource = 'profile' and t.deleted_at >= since), '[]'::jsonb),
        'now', pg_catalog.now())
$$;

comment on function public.profilecache_changed_since(timestamptz, integer) is
    'Profiles changed and deleted since a time, for profilecache-flush to refresh the caches; '
    'returns {"rows":[...],"deleted":[...],"now"}.';

revoke all on function public.profilecache_changed_since(timestamptz, integer)
    from public, anon, authenticated;
grant execute on function public.profilecache_changed_since(timestamptz, integer) to service_role;

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

notify pgrst, 'reload schema';
end
$changes$;
