-- The profiles table: one row per user, read through the cache and written
-- behind by the flusher (see DESIGN.md, "Origin").
--
-- Loaded as is into Supabase and into the local database. Idempotent.
--
-- In Supabase, id is usually the user's id and references auth.users(id). There is
-- no foreign key here so that the same file works on a plain local PostgreSQL,
-- which has no auth.users. To add it in Supabase (once, after this file):
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

create table if not exists public.profiles (
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

-- A table made before field versions existed (or the Supabase starter's):
-- its rows get every field at the row's updated_at, which is what the
-- whole-row guard before it meant. Rows written later carry their own.
-- One statement, so atomic: no row written meanwhile is left without.
do $$
begin
    if exists (select from pg_catalog.pg_attribute
                where attrelid = 'public.profiles'::regclass
                  and attname = 'field_versions' and not attisdropped) then
        return;
    end if;
    -- The backfill is not an outside write (see the trigger in 30_apply.sql).
    perform pg_catalog.set_config('profilecache.applying', 'on', true);
    alter table public.profiles add column field_versions jsonb;
    update public.profiles as p
       set field_versions = (select pg_catalog.jsonb_object_agg(f,
                                    (extract(epoch from p.updated_at) * 1000000)::bigint)
                               from pg_catalog.unnest(array['username', 'display_name', 'bio',
                                    'avatar_url', 'gradient', 'is_private']) as f);
    alter table public.profiles alter column field_versions set default '{}'::jsonb;
    alter table public.profiles alter column field_versions set not null;
    perform pg_catalog.set_config('profilecache.applying', '', true);
end
$$;

comment on table public.profiles is
    'User profiles; public rows readable by anyone, private rows by their owner only.';
comment on column public.profiles.id is
    'The user''s id (auth.users.id in Supabase).';
comment on column public.profiles.username is
    'Unique handle, ^[a-z0-9_]{3,30}$; written through to the database, never behind.';
comment on column public.profiles.gradient is
    'One to four lower-case #rrggbb colours, comma-separated.';
comment on column public.profiles.is_private is
    'When true, only the owner and the service role can read the row.';
comment on column public.profiles.updated_at is
    'Server-set: the newest of field_versions, as a timestamp.';
comment on column public.profiles.field_versions is
    'Per editable field, the version (microseconds since the epoch) of the change that last set it; '
    'the write-behind ordering guard.';
