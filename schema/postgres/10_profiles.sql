-- The profiles table: one row per user, read through the cache and written
-- behind by the flusher (see docs/design.md, "The origin protocol").
--
-- Loaded as is into Supabase and into the local database, with psql or the
-- SQL editor, as the table's owner (Supabase's postgres role will do; no
-- superuser). Idempotent.
--
-- The whole file is one statement, so it is atomic wherever it runs: alone
-- (its own transaction) or inside a caller's transaction (psql -1, a
-- migration tool, a test that rolls back). It either does all of the below
-- or, when it stops, nothing at all.
--
-- When there is no public.profiles, it creates the table with its row-level
-- security, policies and grants, all at once, so the table never exists
-- unprotected:
--   anon, authenticated  may read rows that are not private (profiles_select)
--   authenticated        may also read, and update, the row whose id is its
--                        own auth.uid() (profiles_select, profiles_update_own),
--                        and only the profile fields, not id nor the
--                        server-set timestamps
--   service_role         select, insert, update, delete (and BYPASSRLS)
-- Supabase's default privileges give anon and authenticated every right on a
-- new table in public; the new table starts from nothing instead, so the
-- rights above are the whole story in Supabase and locally alike. auth.uid()
-- is wrapped in a sub-select so PostgreSQL evaluates it once per query rather
-- than once per row (Supabase's advice for RLS performance).
--
-- When public.profiles exists already (most Supabase projects have one: the
-- user-management starter's has id, updated_at, username, full_name,
-- avatar_url and website), it is an application's table: it first checks
-- every column profilecache uses that is there, and stops, naming each one
-- that does not fit (id not uuid, username not text, no unique index on id,
-- ...), having changed nothing. Otherwise it adds only what is missing:
--   * the columns among username, display_name, bio, avatar_url, gradient,
--     is_private (not null, default false), created_at, updated_at and
--     field_versions that the table lacks, with the checks below (a column
--     the table already has keeps its own type, checks and default);
--   * the new columns of existing rows are filled in one rewrite of the
--     table that fires no trigger of the application's: created_at from the
--     row's updated_at, field_versions with every field at the row's
--     updated_at (what the whole-row guard before field versions meant);
--   * updated_at becomes not null, with the default now() unless it has a
--     default already. Rows whose updated_at is null get now(): profilecache
--     cannot serve a row without one, and it is safe for the application,
--     since from 30_apply.sql on a trigger sets updated_at on every write
--     anyway.
-- It changes no existing column's type, check, comment or data (but for the
-- null updated_at above), and no grant, policy or row-level security setting:
-- 20_policies.sql adds what profilecache needs to those.
--
-- In Supabase, id is usually the user's id and references auth.users(id). A
-- table this file creates has no foreign key, so that the same file works on
-- a plain local PostgreSQL, which has no auth.users. To add it in Supabase
-- (once, after this file):
--
--   alter table public.profiles
--       add constraint profiles_id_fkey
--       foreign key (id) references auth.users (id) on delete cascade;
--
-- Every editable field carries the version of the change that last set it, in
-- field_versions ({"bio": 1735689600000000, ...}, microseconds since the epoch):
-- a write-behind change is applied field by field, each only where the field
-- does not already hold a newer version (30_apply.sql), so two changes to
-- different fields never conflict whatever order they arrive in. updated_at is
-- the newest field version (server-set, microsecond precision).
--
-- It also creates the schema profilecache, which holds what profilecache
-- keeps for itself and no API exposes (PostgREST serves public only): here,
-- the function profilecache.profiles_problems(missing_ok) that the three
-- files use to check the table.

do $profiles$
declare
    -- The columns profilecache adds to an existing table when they are
    -- missing, with their checks, in table order.
    c_add constant text[][] := array[
        ['username', 'text constraint profiles_username_key unique'
                     ' constraint profiles_username_format check (username ~ ''^[a-z0-9_]{3,30}$'')'],
        ['display_name', 'text constraint profiles_display_name_length'
                         ' check (char_length(display_name) <= 100)'],
        ['bio', 'text constraint profiles_bio_length check (char_length(bio) <= 1000)'],
        ['avatar_url', 'text constraint profiles_avatar_url_length check (char_length(avatar_url) <= 2048)'],
        ['gradient', 'text constraint profiles_gradient_format'
                     ' check (gradient ~ ''^#[0-9a-f]{6}(,#[0-9a-f]{6}){0,3}$'')'],
        ['is_private', 'boolean not null default false'],
        ['created_at', 'timestamptz'],
        ['updated_at', 'timestamptz'],
        ['field_versions', 'jsonb']];
    c_comment constant text[][] := array[
        ['username', 'Unique handle, ^[a-z0-9_]{3,30}$; written through to the database, never behind.'],
        ['gradient', 'One to four lower-case #rrggbb colours, comma-separated.'],
        ['is_private', 'When true, only the owner and the service role can read the row.'],
        ['updated_at', 'Server-set: the newest of field_versions, as a timestamp.'],
        ['field_versions', 'Per editable field, the version (microseconds since the epoch) of the change '
                           'that last set it; the write-behind ordering guard.']];
    v_problems  text[];
    v_had       text[];
    v_added     text[] := '{}';
    v_alter     text[] := '{}';
    v_rewrite   text[] := '{}';
    v_since     text;
    i           int;
begin
    if pg_catalog.to_regnamespace('profilecache') is null then
        create schema profilecache;
    end if;
    comment on schema profilecache is
        'profilecache''s own tables and functions; not exposed by the Data API.';

    -- What keeps public.profiles from serving profilecache, one line per
    -- column: types, the unique indexes the functions rely on, and (unless
    -- missing_ok) the columns that are not there. Empty when it fits.
    create or replace function profilecache.profiles_problems(missing_ok boolean)
        returns text[]
        language sql
        stable
        set search_path = ''
    as $fn$
        with t as (
            select c.oid, c.relkind from pg_catalog.pg_class as c
             where c.oid = pg_catalog.to_regclass('public.profiles')
        ), need (ord, name, type, addable) as (
            values (1, 'id', 'uuid', false), (2, 'username', 'text', true),
                   (3, 'display_name', 'text', true), (4, 'bio', 'text', true),
                   (5, 'avatar_url', 'text', true), (6, 'gradient', 'text', true),
                   (7, 'is_private', 'boolean', true),
                   (8, 'created_at', 'timestamp with time zone', true),
                   (9, 'updated_at', 'timestamp with time zone', true),
                   (10, 'field_versions', 'jsonb', true)
        ), col as (
            select n.ord, n.name, n.type, n.addable, a.attnum,
                   pg_catalog.format_type(a.atttypid, a.atttypmod) as has_type,
                   a.attgenerated <> '' as generated,
                   -- a unique, immediate index on this column alone, as
                   -- ON CONFLICT and a unique constraint need
                   exists (select from pg_catalog.pg_index as i
                            where i.indrelid = t.oid and i.indisunique and i.indimmediate
                              and i.indpred is null and i.indnatts = 1
                              and i.indkey[0] = a.attnum) as is_unique
              from need as n cross join t
              left join pg_catalog.pg_attribute as a
                on a.attrelid = t.oid and a.attname = n.name and a.attnum > 0
               and not a.attisdropped
        )
        select coalesce(pg_catalog.array_agg(p.problem order by p.ord), '{}')
          from (select 0 as ord,
                       case when t.oid is null then 'there is no table public.profiles'
                            when t.relkind not in ('r', 'p') then 'public.profiles is not a table'
                       end as problem
                  from (select) as one left join t on true
                union all
                select c.ord,
                       case when c.attnum is null then
                                case when not (missing_ok and c.addable)
                                     then c.name || ' is missing' end
                            when c.has_type <> c.type
                             and not (c.type = 'text' and c.has_type like 'character varying%') then
                                pg_catalog.format('%s is %s, profilecache needs %s',
                                                  c.name, c.has_type, c.type)
                            when c.generated then
                                c.name || ' is a generated column, profilecache writes it'
                            when c.name = 'id' and not c.is_unique then
                                'id is neither the primary key nor unique on its own'
                            when c.name = 'username' and not c.is_unique then
                                'username is not unique (add: alter table public.profiles'
                                ' add constraint profiles_username_key unique (username))'
                       end
                  from col as c
                 where exists (select from t where t.relkind in ('r', 'p'))) as p
         where p.problem is not null
    $fn$;
    revoke all on function profilecache.profiles_problems(boolean) from public;
    comment on function profilecache.profiles_problems(boolean) is
        'What keeps public.profiles from serving profilecache (each column that is missing or does not '
        'fit); empty when it fits. missing_ok: columns 10_profiles.sql adds are not problems.';

    -- --- no table yet: profilecache's own ------------------------------------------
    if pg_catalog.to_regclass('public.profiles') is null then
        create table public.profiles (
            id           uuid        primary key,
            username     text        constraint profiles_username_key unique
                                     constraint profiles_username_format
                                         check (username ~ '^[a-z0-9_]{3,30}$'),
            display_name text        constraint profiles_display_name_length
                                         check (char_length(display_name) <= 100),
            bio          text        constraint profiles_bio_length
                                         check (char_length(bio) <= 1000),
            avatar_url   text        constraint profiles_avatar_url_length
                                         check (char_length(avatar_url) <= 2048),
            gradient     text        constraint profiles_gradient_format
                                         check (gradient ~ '^#[0-9a-f]{6}(,#[0-9a-f]{6}){0,3}$'),
            is_private   boolean     not null default false,
            created_at   timestamptz not null default now(),
            updated_at   timestamptz not null default now(),
            field_versions jsonb     not null default '{}'::jsonb
        );
        comment on table public.profiles is
            'User profiles; public rows readable by anyone, private rows by their owner only.';
        comment on column public.profiles.id is 'The user''s id (auth.users.id in Supabase).';
        for i in 1 .. pg_catalog.array_length(c_comment, 1) loop
            execute pg_catalog.format('comment on column public.profiles.%I is %L',
                                      c_comment[i][1], c_comment[i][2]);
        end loop;

        alter table public.profiles enable row level security;
        create policy profiles_select on public.profiles
            for select
            to anon, authenticated
            using (is_private = false or (select auth.uid()) = id);
        create policy profiles_update_own on public.profiles
            for update
            to authenticated
            using ((select auth.uid()) = id)
            with check ((select auth.uid()) = id);

        grant usage on schema public to anon, authenticated, service_role;
        revoke all on table public.profiles from anon, authenticated;
        grant select on table public.profiles to anon, authenticated;
        grant update (username, display_name, bio, avatar_url, gradient, is_private)
            on table public.profiles to authenticated;
        grant select, insert, update, delete on table public.profiles to service_role;
        return;
    end if;

    -- --- an existing table: check, then add what is missing ---------------------------
    v_problems := profilecache.profiles_problems(true);
    if pg_catalog.cardinality(v_problems) > 0 then
        raise exception 'public.profiles does not fit profilecache: %',
                pg_catalog.array_to_string(v_problems, '; ')
            using errcode = 'object_not_in_prerequisite_state',
                  detail = 'Nothing was changed.',
                  hint = 'Change those columns (profilecache needs id uuid, unique; username, '
                         'display_name, bio, avatar_url, gradient text; is_private boolean; '
                         'created_at, updated_at timestamptz; field_versions jsonb), '
                         'then load schema/postgres/10_profiles.sql again.';
    end if;

    select pg_catalog.array_agg(a.attname::text) into v_had
      from pg_catalog.pg_attribute as a
     where a.attrelid = 'public.profiles'::regclass and a.attnum > 0 and not a.attisdropped;
    for i in 1 .. pg_catalog.array_length(c_add, 1) loop
        continue when c_add[i][1] = any (v_had);
        v_added := v_added || c_add[i][1];
        v_alter := v_alter || pg_catalog.format('add column %I %s', c_add[i][1], c_add[i][2]);
    end loop;
    if pg_catalog.cardinality(v_added) = 0 then
        return;
    end if;
    execute 'alter table public.profiles ' || pg_catalog.array_to_string(v_alter, ', ');

    -- Fill the new columns of existing rows. ALTER COLUMN ... TYPE with USING
    -- rewrites the table once and fires no trigger (an UPDATE would fire the
    -- application's, and bump its updated_at), and nothing can depend on a
    -- column made a moment ago. The fields' version is the row's updated_at,
    -- or now() where it has none.
    v_since := case when 'updated_at' = any (v_had) then 'coalesce(updated_at, now())'
                    else 'now()' end;
    if 'created_at' = any (v_added) then
        v_rewrite := v_rewrite || ('alter column created_at type timestamptz using ' || v_since);
    end if;
    if 'updated_at' = any (v_added) then
        v_rewrite := v_rewrite || 'alter column updated_at type timestamptz using now()'::text;
    end if;
    if 'field_versions' = any (v_added) then
        -- (no sub-select: a USING expression may not hold one)
        v_rewrite := v_rewrite || pg_catalog.format(
            'alter column field_versions type jsonb using pg_catalog.jsonb_build_object('
            '''username'', %1$s, ''display_name'', %1$s, ''bio'', %1$s, ''avatar_url'', %1$s, '
            '''gradient'', %1$s, ''is_private'', %1$s)',
            '(extract(epoch from ' || v_since || ') * 1000000)::bigint');
    end if;
    if pg_catalog.cardinality(v_rewrite) > 0 then
        execute 'alter table public.profiles ' || pg_catalog.array_to_string(v_rewrite, ', ');
    end if;

    -- updated_at: the application's own column may hold nulls. Only those rows
    -- are written (the application's triggers fire for them; profilecache's,
    -- if 30_apply.sql was loaded before, is told this is no outside write).
    if 'updated_at' = any (v_had)
       and exists (select from public.profiles where updated_at is null) then
        perform pg_catalog.set_config('profilecache.applying', 'on', true);
        update public.profiles set updated_at = now() where updated_at is null;
        perform pg_catalog.set_config('profilecache.applying', '', true);
    end if;
    if not exists (select from pg_catalog.pg_attrdef as d
                     join pg_catalog.pg_attribute as a
                       on a.attrelid = d.adrelid and a.attnum = d.adnum
                    where d.adrelid = 'public.profiles'::regclass and a.attname = 'updated_at') then
        alter table public.profiles alter column updated_at set default now();
    end if;
    alter table public.profiles alter column updated_at set not null;
    if 'created_at' = any (v_added) then
        alter table public.profiles alter column created_at set default now(),
                                    alter column created_at set not null;
    end if;
    if 'field_versions' = any (v_added) then
        alter table public.profiles alter column field_versions set default '{}'::jsonb,
                                    alter column field_versions set not null;
    end if;

    for i in 1 .. pg_catalog.array_length(c_comment, 1) loop
        continue when not (c_comment[i][1] = any (v_added));
        execute pg_catalog.format('comment on column public.profiles.%I is %L',
                                  c_comment[i][1], c_comment[i][2]);
    end loop;
    raise notice 'public.profiles: added %', pg_catalog.array_to_string(v_added, ', ');
end
$profiles$;
