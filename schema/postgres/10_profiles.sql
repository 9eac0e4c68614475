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
-- updated_at is set by the server (microsecond precision) and guards write-behind
-- replays: a change older than the row is never applied.

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
    updated_at   timestamptz not null default now()
);

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
    'Server-set time of the last applied change; the write-behind ordering guard.';
