#!/usr/bin/env bash
# Throughput of public.apply_profile_changes through psql: one call, and one
# commit, per batch, as over PostgREST.
#
#   tests/sql/bench_apply.sh [DATABASE-URL]      (default: $DATABASE_URL)
#
# Environment: BENCH_CHANGES (default 100000 changes in all), BENCH_BATCH
# (200), BENCH_IDS (10000 profiles). Three timed runs of generated calls:
#   create  BENCH_IDS changes that create the profiles (username, display_name):
#           a change that sets username takes the one-by-one path
#   update  the other BENCH_CHANGES - BENCH_IDS changes (bio, display_name),
#           each batch with distinct ids, each id newer than in the batch before:
#           the set-based path
#   replay  the update calls again: the last change of each id applies again
#           (same updated_at), all earlier ones are conflicts
# The figures include psql sending each batch as a literal, PostgreSQL parsing
# the JSON, applying, committing and returning the whole results document.
#
# Uses ids bbbbbbbb-0000-4000-8000-* and usernames bench_*, deleted (with their
# tombstones) before and after. Needs a superuser or service_role. Exits
# non-zero when a create or update change was not "applied".
set -euo pipefail

url=${1:-${DATABASE_URL:?usage: $0 DATABASE-URL (or set DATABASE_URL)}}
changes=${BENCH_CHANGES:-100000}
batch=${BENCH_BATCH:-200}
ids=${BENCH_IDS:-10000}
psql=${PC_PG_BIN:-/usr/lib/postgresql/15/bin}/psql
[[ -x $psql ]] || psql=psql
((changes > ids)) || { echo "BENCH_CHANGES must be more than BENCH_IDS" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

q() { "$psql" -X -q -At -v ON_ERROR_STOP=1 -d "$url" "$@"; }

cleanup_sql="delete from public.profiles where id::text like 'bbbbbbbb-0000-4000-8000-%';
delete from profilecache.tombstones where resource = 'profile' and id::text like 'bbbbbbbb-0000-4000-8000-%';"
q -c "$cleanup_sql"

# gen FROM TO FILE: one line per batch of changes FROM..TO-1: the call, and a
# tally of the statuses it returned. Change i is for profile i % ids, at
# 2030-01-01 + i ms.
gen() {
	q -v from="$1" -v to="$2" -v batch="$batch" -v ids="$ids" -o "$3" <<-'EOF'
		select format(
		    'select string_agg(s || '' '' || n, '' '') from (select r->>''status'' as s, count(*) as n from pg_catalog.jsonb_array_elements(public.apply_profile_changes(%L::jsonb)->''results'') as r group by 1) as t;',
		    pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		        'id', 'bbbbbbbb-0000-4000-8000-' || lpad(to_hex(i % :ids), 12, '0'),
		        'patch', case when i < :ids
		                      then pg_catalog.jsonb_build_object('username', 'bench_' || i,
		                                                        'display_name', 'Bench ' || i)
		                      else pg_catalog.jsonb_build_object('bio', 'bio number ' || i,
		                                                        'display_name', 'Bench ' || i)
		                 end,
		        'updated_at', to_char(('2030-01-01 00:00:00+00'::timestamptz + i * interval '1 millisecond')
		                              at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
		        order by i))
		  from generate_series(:from, :to - 1) as i
		 group by (i - :from) / :batch
		 order by (i - :from) / :batch;
	EOF
}

# run LABEL FILE COUNT MUST-ALL-APPLY: time the calls in FILE; print a summary.
run() {
	local label=$1 file=$2 count=$3 strict=$4 t0 t1 secs
	t0=$(date +%s.%N)
	q -f "$file" >"$tmp/out.$label"
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	awk -v label="$label" -v secs="$secs" -v total="$count" -v batch="$batch" -v strict="$strict" '
		{ for (i = 1; i < NF; i += 2) n[$i] += $(i + 1) }
		END {
			line = ""
			for (s in n) line = line " " s "=" n[s]
			printf "%-7s %6d changes in batches of %d: %7.3f s = %6.0f changes/s;%s\n",
				label, total, batch, secs, total / secs, line
			exit (strict && n["applied"] != total)
		}' "$tmp/out.$label"
}

gen 0 "$ids" "$tmp/create.sql"
gen "$ids" "$changes" "$tmp/update.sql"
rc=0
t0=$(date +%s.%N)
run create "$tmp/create.sql" "$ids" 1 || rc=1
run update "$tmp/update.sql" $((changes - ids)) 1 || rc=1
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$changes" \
	'BEGIN { printf "total   %6d changes: %7.3f s = %6.0f changes/s\n", n, b - a, n / (b - a) }'
run replay "$tmp/update.sql" $((changes - ids)) 0 || rc=1
q -c "$cleanup_sql"
exit "$rc"
