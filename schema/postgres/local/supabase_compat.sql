-- Supabase compatibility shim for a plain local PostgreSQL: the roles and auth.*
-- functions that the schema files and pgrest-lite expect.
--
-- LOCAL ONLY: never load this into Supabase, which already has all of it.
-- Idempotent: safe to run again. Must run as a superuser (it creates roles).
--
-- Roles, as in Supabase:
--   anon           requests without a user (anon key)
--   authenticated  requests carrying a user JWT
--   service_role   the service key; BYPASSRLS, so row policies do not apply
--   authenticator  the login role a PostgREST-style server connects as; it has
--                  no rights of its own (NOINHERIT) and switches with SET ROLE.

do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
end
$$;

-- Re-assert the attributes in case a role existed with different ones.
alter role anon nologin noinherit;
alter role authenticated nologin noinherit;
alter role service_role nologin noinherit bypassrls;
alter role authenticator login noinherit;

-- Granting a role that is already granted only raises a notice.
grant anon, authenticated, service_role to authenticator;

grant usage on schema public to anon, authenticated, service_role;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

-- The claims of the request's JWT, set per transaction by the HTTP server:
--   select set_config('request.jwt.claims', '{"sub":"…","role":"authenticated"}', true);
-- The request.jwt.claim(.sub) settings are the pre-PostgREST-9 spelling; Supabase
-- still reads them first, and so do these copies of its functions.

create or replace function auth.uid() returns uuid
    language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create or replace function auth.role() returns text
    language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

create or replace function auth.jwt() returns jsonb
    language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.jwt()
    to anon, authenticated, service_role;
