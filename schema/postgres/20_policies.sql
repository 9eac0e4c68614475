-- Row-level security and grants for public.profiles, in Supabase's role model.
--
-- Loaded as is into Supabase and into the local database. Idempotent.
--
--   anon, authenticated  may read rows that are not private
--   authenticated        may also read, and update, the row whose id is its own
--                        auth.uid()
--   service_role         everything (it has BYPASSRLS, so policies do not apply)
--
-- auth.uid() is wrapped in a sub-select so PostgreSQL evaluates it once per query
-- rather than once per row (Supabase's advice for RLS performance).

alter table public.profiles enable row level security;

drop policy if exists profiles_select_public on public.profiles;
create policy profiles_select_public on public.profiles
    for select
    to anon, authenticated
    using (is_private = false);

drop policy if exists profiles_select_own on public.profiles;
create policy profiles_select_own on public.profiles
    for select
    to authenticated
    using ((select auth.uid()) = id);

drop policy if exists profiles_update_own on public.profiles;
create policy profiles_update_own on public.profiles
    for update
    to authenticated
    using ((select auth.uid()) = id)
    with check ((select auth.uid()) = id);

-- Supabase's default privileges grant every right on new public tables to anon
-- and authenticated and leave the rest to RLS. Start from nothing instead, so
-- that the rights below are the whole story in Supabase and locally alike.
grant usage on schema public to anon, authenticated, service_role;
revoke all on table public.profiles from anon, authenticated;

grant select on table public.profiles to anon, authenticated;
-- Owners may edit their profile fields; id and the server-set timestamps are
-- not theirs to change.
grant update (username, display_name, bio, avatar_url, gradient, is_private)
    on table public.profiles to authenticated;
grant all on table public.profiles to service_role;
