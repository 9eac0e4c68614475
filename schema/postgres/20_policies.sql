-- Row-level security and grants that profilecache adds to public.profiles,
-- whoever created the table, in Supabase's role model.
--
-- Loaded as is into Supabase and into the local database, after
-- 10_profiles.sql, as the table's owner. Idempotent, and one statement, so
-- atomic wherever it runs (see 10_profiles.sql).
--
-- It takes nothing away: no grant is revoked, no policy of anyone else's is
-- dropped or changed, row-level security is never switched off. What it does:
--   * Stops, changing nothing, when public.profiles does not fit profilecache
--     (10_profiles.sql was not loaded, or stopped) or has row-level security
--     disabled: with it off, anyone the table is granted to would read
--     private profiles through the Data API, and switching it on here could
--     lock the application out of its own table. Enable it once the
--     application's policies allow what it does.
--   * Private rows stay private whatever else the table's policies allow:
--     when another permissive policy lets anon or authenticated read (the
--     Supabase starter's "Public profiles are viewable by everyone." does,
--     for every row), the restrictive policy profiles_private_rows hides a
--     row whose is_private is true from everyone but its owner (the
--     service role bypasses row-level security). A table 10_profiles.sql
--     created has the one permissive profiles_select policy with the same
--     condition instead, so it needs none.
--   * profilecache's own policies of earlier versions, profiles_select_public
--     and profiles_select_own (two permissive SELECT policies for the same
--     roles, which Supabase's linter flags), become the one profiles_select.
--   * service_role, which the responder and the flusher act as, gets select,
--     insert, update and delete on the table (it has BYPASSRLS).
-- What anon and authenticated may do to an existing table stays the
-- application's business: 10_profiles.sql gives them rights only on a table
-- it creates.
--
-- auth.uid() is wrapped in a sub-select so PostgreSQL evaluates it once per
-- query rather than once per row (Supabase's advice for RLS performance).

do $policies$
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
    if not (select c.relrowsecurity from pg_catalog.pg_class as c
             where c.oid = 'public.profiles'::regclass) then
        raise exception 'public.profiles has row-level security disabled'
            using errcode = 'object_not_in_prerequisite_state',
                  detail = 'Nothing was changed. With it off, every role the table is granted to '
                           'reads private profiles through the Data API.',
                  hint = 'Enable it once your policies allow what your application does '
                         '(alter table public.profiles enable row level security), '
                         'then load schema/postgres/20_policies.sql again.';
    end if;

    -- profilecache's two SELECT policies of earlier versions become one.
    if exists (select from pg_catalog.pg_policy as p
                where p.polrelid = 'public.profiles'::regclass
                  and p.polname in ('profiles_select_public', 'profiles_select_own')) then
        drop policy if exists profiles_select_public on public.profiles;
        drop policy if exists profiles_select_own on public.profiles;
        drop policy if exists profiles_select on public.profiles;
        create policy profiles_select on public.profiles
            for select
            to anon, authenticated
            using (is_private = false or (select auth.uid()) = id);
    end if;

    -- Another permissive policy lets anon or authenticated read: keep private
    -- rows from them all the same.
    if exists (select from pg_catalog.pg_policy as p
                where p.polrelid = 'public.profiles'::regclass
                  and p.polpermissive and p.polcmd in ('r', '*')
                  and p.polname <> 'profiles_select'
                  and (p.polroles = array[0::oid]
                       or p.polroles && array['anon'::regrole::oid, 'authenticated'::regrole::oid])) then
        if exists (select from pg_catalog.pg_policy as p
                    where p.polrelid = 'public.profiles'::regclass
                      and p.polname = 'profiles_private_rows') then
            drop policy profiles_private_rows on public.profiles;
        end if;
        create policy profiles_private_rows on public.profiles
            as restrictive
            for select
            to anon, authenticated
            using (is_private = false or (select auth.uid()) = id);
    end if;

    grant usage on schema public to service_role;
    grant select, insert, update, delete on table public.profiles to service_role;
end
$policies$;
