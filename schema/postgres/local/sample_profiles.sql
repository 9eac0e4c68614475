-- Sample profiles for local development and the black-box tests.
--
-- LOCAL ONLY. The ids are fixed (tests refer to them); running this again
-- leaves existing rows alone.
--   ...8b01  alice  public   (SAMPLE_PROFILE_ID)
--   ...8b02  bob    public
--   ...8b03  carol  private

insert into public.profiles
    (id, username, display_name, bio, avatar_url, gradient, is_private,
     created_at, updated_at)
values
    ('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01', 'alice', 'Alice Liddell',
     'Backend engineer. Coffee, caches and curious rabbit holes.',
     'https://images.example.com/avatars/7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01.webp',
     '#ff7a59,#ffb347', false,
     '2024-03-02 09:15:27.481516+00', '2025-01-18 17:42:05.123456+00'),
    ('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02', 'bob', 'Bob Martínez',
     'Climbs rocks on weekends, ships code on weekdays.',
     'https://images.example.com/avatars/7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02.webp',
     '#1e3a8a,#3b82f6,#93c5fd', false,
     '2024-05-11 14:03:51.902114+00', '2024-12-30 08:20:44.000001+00'),
    ('7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03', 'carol', 'Carol',
     'This profile is private.',
     null,
     null, true,
     '2024-07-23 21:48:09.314159+00', '2024-07-23 21:48:09.314159+00')
on conflict do nothing;
