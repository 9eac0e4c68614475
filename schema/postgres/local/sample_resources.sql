-- Sample rows of the example configuration's declared tables (challenges,
-- journey_progress, balances; etc/profilecache.conf.example), for local development
-- and the black-box tests. LOCAL ONLY; fixed ids; running this again leaves
-- existing rows alone. Owned by alice (SAMPLE_PROFILE_ID) and bob.

insert into public.challenges (id, user_id, title, description, status, due_at,
                               created_at, updated_at)
values
    ('3d1c5a7e-2b4f-4c6d-8e9f-0a1b2c3d4e01', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01',
     'Walk 10k steps', 'Every day this week.', 'active', '2026-12-24 18:00:00+00',
     '2026-11-30 08:00:00+00', '2026-12-01 10:00:00.5+00'),
    ('3d1c5a7e-2b4f-4c6d-8e9f-0a1b2c3d4e02', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02',
     'Read a book', null, 'open', null,
     '2026-11-29 08:00:00+00', '2026-11-29 08:00:00+00')
on conflict do nothing;

insert into public.journey_progress (id, user_id, journey, step, percent, completed_at,
                                     updated_at)
values
    ('4e2d6b8f-3c5a-4d7e-9f0a-1b2c3d4e5f01', '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01',
     'onboarding', 3, 60, null, '2026-12-02 09:30:00+00')
on conflict do nothing;

insert into public.balances (user_id, balance, updated_at)
values
    ('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01', 100, '2026-12-02 09:00:00+00')
on conflict do nothing;
