-- The declared resources' tables, printed by profilecache-admin sql
-- from the configuration. Load schema/postgres/30_apply.sql first
-- (and 60_increments.sql for a table with a counter).
-- Idempotent: a table that exists gets only the columns it lacks (an
-- existing column of another type is left as it is: check it).
begin;

-- [resource profiles]: GET /v1/profiles/{id}, answers {"profile": ...}
-- (the table is 10_profiles.sql's, which adopts an existing one)
insert into profilecache.resources (name, tbl, key, owner, columns, types)
    values ('profile', 'public."profiles"', 'id', null, '{"username","display_name","bio","avatar_url","gradient","is_private"}', '{"username": "string", "display_name": "string", "bio": "string", "avatar_url": "string", "gradient": "string", "is_private": "boolean"}')
    on conflict (name) do update
        set tbl = excluded.tbl, key = excluded.key, owner = excluded.owner,
            columns = excluded.columns, types = excluded.types;
drop trigger if exists profiles_version_outside_write on public."profiles";
create trigger profiles_version_outside_write before insert or update on public."profiles"
    for each row execute function profilecache.version_outside_write();
drop trigger if exists profiles_tombstone_outside_delete on public."profiles";
create trigger profiles_tombstone_outside_delete after delete on public."profiles"
    for each row execute function profilecache.tombstone_outside_delete();

-- [resource challenges]: GET /v1/challenges/{id}, answers {"challenge": ...}
create table if not exists public."challenges" (
    "id" uuid primary key default gen_random_uuid()
);
alter table public."challenges" add column if not exists "user_id" uuid;
alter table public."challenges" add column if not exists "title" text;
alter table public."challenges" drop constraint if exists challenges_title_length;
alter table public."challenges" add constraint challenges_title_length check (pg_catalog.char_length("title") <= 120) not valid;
alter table public."challenges" add column if not exists "description" text;
alter table public."challenges" drop constraint if exists challenges_description_length;
alter table public."challenges" add constraint challenges_description_length check (pg_catalog.char_length("description") <= 2000) not valid;
alter table public."challenges" add column if not exists "status" text;
alter table public."challenges" drop constraint if exists challenges_status_values;
alter table public."challenges" add constraint challenges_status_values check ("status" in ('open', 'active', 'done')) not valid;
alter table public."challenges" add column if not exists "due_at" timestamptz;
alter table public."challenges" add column if not exists "created_at" timestamptz not null default pg_catalog.now();
alter table public."challenges" add column if not exists "updated_at" timestamptz not null default pg_catalog.now();
alter table public."challenges" add column if not exists field_versions jsonb not null default '{}';
create index if not exists challenges_user_id on public."challenges" ("user_id");
alter table public."challenges" enable row level security;
drop policy if exists challenges_read on public."challenges";
create policy challenges_read on public."challenges" for select to anon, authenticated
    using (true);
grant select on table public."challenges" to anon, authenticated;
grant select, insert, update, delete on table public."challenges" to service_role;
insert into profilecache.resources (name, tbl, key, owner, columns, types)
    values ('challenge', 'public."challenges"', 'id', 'user_id', '{"user_id","title","description","status","due_at"}', '{"user_id": "string", "title": "string", "description": "string", "status": "string", "due_at": "string"}')
    on conflict (name) do update
        set tbl = excluded.tbl, key = excluded.key, owner = excluded.owner,
            columns = excluded.columns, types = excluded.types;
drop trigger if exists challenges_version_outside_write on public."challenges";
create trigger challenges_version_outside_write before insert or update on public."challenges"
    for each row execute function profilecache.version_outside_write();
drop trigger if exists challenges_tombstone_outside_delete on public."challenges";
create trigger challenges_tombstone_outside_delete after delete on public."challenges"
    for each row execute function profilecache.tombstone_outside_delete();

-- [resource journey_progress]: GET /v1/journey_progress/{id}, answers {"journey_progress": ...}
create table if not exists public."journey_progress" (
    "id" uuid primary key default gen_random_uuid()
);
alter table public."journey_progress" add column if not exists "user_id" uuid;
alter table public."journey_progress" add column if not exists "journey" text;
alter table public."journey_progress" drop constraint if exists journey_progress_journey_length;
alter table public."journey_progress" add constraint journey_progress_journey_length check (pg_catalog.char_length("journey") <= 64) not valid;
alter table public."journey_progress" add column if not exists "step" bigint;
alter table public."journey_progress" add column if not exists "percent" bigint;
alter table public."journey_progress" add column if not exists "completed_at" timestamptz;
alter table public."journey_progress" add column if not exists "updated_at" timestamptz not null default pg_catalog.now();
alter table public."journey_progress" add column if not exists field_versions jsonb not null default '{}';
create index if not exists journey_progress_user_id on public."journey_progress" ("user_id");
alter table public."journey_progress" enable row level security;
drop policy if exists journey_progress_read on public."journey_progress";
create policy journey_progress_read on public."journey_progress" for select to authenticated
    using ((select auth.uid()) = "user_id");
grant select on table public."journey_progress" to anon, authenticated;
grant select, insert, update, delete on table public."journey_progress" to service_role;
insert into profilecache.resources (name, tbl, key, owner, columns, types)
    values ('journey_progress', 'public."journey_progress"', 'id', 'user_id', '{"user_id","journey","step","percent","completed_at"}', '{"user_id": "string", "journey": "string", "step": "number", "percent": "number", "completed_at": "string"}')
    on conflict (name) do update
        set tbl = excluded.tbl, key = excluded.key, owner = excluded.owner,
            columns = excluded.columns, types = excluded.types;
drop trigger if exists journey_progress_version_outside_write on public."journey_progress";
create trigger journey_progress_version_outside_write before insert or update on public."journey_progress"
    for each row execute function profilecache.version_outside_write();
drop trigger if exists journey_progress_tombstone_outside_delete on public."journey_progress";
create trigger journey_progress_tombstone_outside_delete after delete on public."journey_progress"
    for each row execute function profilecache.tombstone_outside_delete();

-- [resource balances]: GET /v1/balances/{user_id}, answers {"balance": ...}
create table if not exists public."balances" (
    "user_id" uuid primary key default gen_random_uuid()
);
alter table public."balances" add column if not exists "balance" bigint not null default 0;
alter table public."balances" drop constraint if exists balances_balance_bounds;
alter table public."balances" add constraint balances_balance_bounds check ("balance" >= 0) not valid;
alter table public."balances" add column if not exists "updated_at" timestamptz not null default pg_catalog.now();
alter table public."balances" add column if not exists field_versions jsonb not null default '{}';
alter table public."balances" enable row level security;
drop policy if exists balances_read on public."balances";
create policy balances_read on public."balances" for select to authenticated
    using ((select auth.uid()) = "user_id");
grant select on table public."balances" to anon, authenticated;
grant select, insert, update, delete on table public."balances" to service_role;
insert into profilecache.resources (name, tbl, key, owner, columns, types, counters)
    values ('balance', 'public."balances"', 'user_id', null, '{"balance"}', '{"balance": "number"}', '{"balance": {"min": 0, "max": null}}')
    on conflict (name) do update
        set tbl = excluded.tbl, key = excluded.key, owner = excluded.owner,
            columns = excluded.columns, types = excluded.types, counters = excluded.counters;
drop trigger if exists balances_version_outside_write on public."balances";
create trigger balances_version_outside_write before insert or update on public."balances"
    for each row execute function profilecache.version_outside_write();
drop trigger if exists balances_tombstone_outside_delete on public."balances";
create trigger balances_tombstone_outside_delete after delete on public."balances"
    for each row execute function profilecache.tombstone_outside_delete();

notify pgrst, 'reload schema';
commit;
