-- The comparison at the heart of tests/cluster/check.sh: what the writers
-- were told against the database and against what each node reads.
--
-- Run by psql in the stack's database from a scenario's directory, which holds
--   writes.tsv  one line per field a PATCH set: node, request (unique in the
--               scenario), profile id, field, value, HTTP status (0: no
--               answer), version (the answer's profile.updated_at; \N unless
--               2xx), and the times the request was sent and answered (µs
--               since the epoch, the harness's clock, never a skewed one)
--   reads.tsv   node, profile id, field, value as GET /v1/profiles/{id} showed
--               it through that node after the final flush ('<null>'; '<http
--               NNN>' when the GET failed)
-- and prints tab-separated rows whose first column says what they are:
--   summary     requests acknowledged lost reordered mismatched tied unanswered
--   lost        a (profile, field) whose database value is not the newest
--               acknowledged one
--   reordered   a write that was sent after another of the same (profile,
--               field) had been acknowledged, yet got an older version
--   mismatch    a node reads a value the database does not hold
--   tied        two acknowledged writes of one (profile, field) share the
--               newest version with different values (either one is expected)
--   unanswered  the database holds the value of a write that got no answer or
--               a 5xx: it may have been committed after all, with a newer
--               version than any acknowledged one, so it is not counted lost
-- is_private has two values only, so a lost boolean may go unnoticed when the
-- database happens to hold the expected one; the text fields are unique.

create temp table writes (
    node    int,
    req     text,
    id      uuid,
    field   text,
    value   text,
    status  int,
    version timestamptz,
    send_us bigint,
    ack_us  bigint
);
create temp table reads (node int, id uuid, field text, value text);
\copy writes from 'writes.tsv'
\copy reads from 'reads.tsv'

-- Acknowledged writes, and writes whose fate nobody knows.
create temp view acked as
    select * from writes where status between 200 and 299 and version is not null;
create temp view unsure as
    select * from writes where status = 0 or status >= 500;

create temp table start as select coalesce(min(send_us), 0) as t0 from writes;

-- w, in one line: value, request, node, version, send and answer times
-- relative to the scenario's first request, status.
create function pg_temp.said(w writes) returns text language sql as $$
    select format('%L (%s on node%s, version %s, sent %s ms, answered %s ms, status %s)',
        w.value, w.req, w.node,
        coalesce(to_char(w.version at time zone 'UTC', 'HH24:MI:SS.US'), '-'),
        (w.send_us - s.t0) / 1000, (w.ack_us - s.t0) / 1000, w.status)
      from start s
$$;

-- Every (profile, field) with an acknowledged write, and the database's value.
create temp table pairs as
select k.id, k.field,
       case when p.id is null then '<no row>'
            else coalesce(pg_catalog.to_jsonb(p) ->> k.field, '<null>')
       end as db
  from (select distinct id, field from acked) k
  left join public.:"table" p on p.id = k.id;

-- The expected value: the acknowledged write with the highest version (more
-- than one row only when two writes share that version).
create temp table expected as
select a.* from acked a
 where a.version = (select max(b.version) from acked b where b.id = a.id and b.field = a.field);

create temp table verdict as
select p.*,
       exists (select 1 from expected e
                where e.id = p.id and e.field = p.field and e.value = p.db) as newest,
       exists (select 1 from unsure u
                where u.id = p.id and u.field = p.field and u.value = p.db) as unanswered
  from pairs p;

-- Causality: Y was sent after X was acknowledged, so Y must be newer. One row
-- per such Y, with the newest X it contradicts.
create temp table reordered as
select distinct on (y.req, y.field) y.id, y.field, row(x.*)::writes as before, row(y.*)::writes as after,
       extract(epoch from x.version - y.version) * 1000 as older_ms
  from acked x
  join acked y on y.id = x.id and y.field = x.field
              and x.ack_us < y.send_us and y.version <= x.version
 order by y.req, y.field, x.version desc;

create temp table mismatch as
select r.node, r.id, r.field, r.value as read, p.db
  from reads r join pairs p using (id, field)
 where r.value is distinct from p.db;

create temp table tied as
select id, field, min(version) as version, string_agg(pg_temp.said(row(e.*)::writes), ' and ' order by req) as writes
  from expected e
 group by id, field
having count(distinct value) > 1;

select 'summary',
       (select count(distinct req) from writes),
       (select count(distinct req) from acked),
       (select count(*) from verdict where not newest and not unanswered),
       (select count(*) from reordered),
       (select count(*) from mismatch),
       (select count(*) from tied),
       (select count(*) from verdict where not newest and unanswered);

select kind, line from (
    select 'lost' as kind, format('%s %s: the database has %L, set by %s; expected %s', v.id, v.field, v.db,
               coalesce((select pg_temp.said(w) from writes w
                          where w.id = v.id and w.field = v.field and w.value = v.db
                          order by w.version desc nulls last limit 1), 'no write of this scenario'),
               (select string_agg(pg_temp.said(row(e.*)::writes), ' or ' order by e.req) from expected e
                 where e.id = v.id and e.field = v.field)) as line
      from verdict v where not newest and not unanswered
    union all
    select 'reordered', format('%s %s: %s was acknowledged before %s was sent, which got a version %s ms older',
               id, field, pg_temp.said(before), pg_temp.said(after), round(older_ms, 3))
      from reordered
    union all
    select 'mismatch', format('node%s reads %s %s = %L, the database has %L', node, id, field, read, db)
      from mismatch
    union all
    select 'tied', format('%s %s: the newest version %s went to %s', id, field,
               to_char(version at time zone 'UTC', 'HH24:MI:SS.US'), writes)
      from tied
    union all
    select 'unanswered', format('%s %s: the database has %L from a write that got no answer: %s',
               v.id, v.field, v.db,
               (select pg_temp.said(row(u.*)::writes) from unsure u
                 where u.id = v.id and u.field = v.field and u.value = v.db limit 1))
      from verdict v where not newest and unanswered
) d
order by kind, line;
