#!/usr/bin/env bash
# Benchmark: profilecache-flush replaying journal entries into PostgreSQL end
# to end (journal -> pgrest-lite -> apply_profile_changes -> rows, cache
# updates, entries settled), batch 200 against batch 1 in the same run.
#
#   bench/flush.sh [--entries N] [--entries-batch1 N]
#
# N profiles (default 100000) exist in the database; the journal gets one
# pending change per profile, so nothing is coalesced away: every entry is
# one row update. Batch 1 replays a smaller set (default 5000): at one HTTP
# round trip per change it would take minutes for 100k. Prints a Markdown
# table of changes per second.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh
PC_PROG=bench

entries=100000
entries1=5000
while (($#)); do
	case $1 in
	--entries) entries=$2; shift 2 ;;
	--entries-batch1) entries1=$2; shift 2 ;;
	*) pc_die "usage: bench/flush.sh [--entries N] [--entries-batch1 N]" ;;
	esac
done

pc_build
bench_stack_start
flush=$PC_BUILDDIR/profilecache-flush

psql "$DATABASE_URL" -XAtq -c "insert into public.profiles (id, display_name, updated_at)
	select gen_random_uuid(), 'bench ' || g, now() - interval '1 day'
	from generate_series(1, $entries) g" >/dev/null
psql "$DATABASE_URL" -XAtq -c "vacuum analyze public.profiles" >/dev/null
curl -sf -o /dev/null "$BASE_URL/profiles/$SAMPLE_PROFILE_ID"	# creates the journal

# fill N: one pending change for each of the first N bench profiles.
fill() {
	local n=$1 now
	now=$(($(date +%s%N) / 1000))
	psql "$DATABASE_URL" -XAtq -c "select id from public.profiles
		where display_name like 'bench %' order by display_name limit $n" >"$var/ids"
	sqlite3 "$JOURNAL_PATH" <<-SQL
		create temp table ids (id text);
		.mode csv
		.import $var/ids ids
		begin;
		insert into changes (resource, id, patch, updated_at_us, created_at_us)
		select 'profile', id, json_object('bio', 'replayed ' || rowid), $now + rowid, $now
		from ids;
		commit;
	SQL
}

# run BATCH: replay everything pending; prints "entries seconds".
run() {
	local t0 t1 n
	n=$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where state = 'pending'")
	t0=$(date +%s.%N)
	"$flush" --config "$CONFIG_PATH" --batch "$1" --max-seconds 3600 2>"$var/flush.log" ||
		pc_die "flush failed: $(tail -n 3 "$var/flush.log")"
	t1=$(date +%s.%N)
	left=$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where state = 'pending'")
	((left == 0)) || pc_die "$left entries left pending"
	echo "$n $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')"
}

fill "$entries"
read -r n200 s200 < <(run 200)
applied=$(psql "$DATABASE_URL" -XAtq -c "select count(*) from public.profiles where bio like 'replayed %'")
((applied == entries)) || pc_die "only $applied of $entries rows were updated"
fill "$entries1"
read -r n1 s1 < <(run 1)

r200=$(awk -v n="$n200" -v s="$s200" 'BEGIN{printf "%.0f", n / s}')
r1=$(awk -v n="$n1" -v s="$s1" 'BEGIN{printf "%.0f", n / s}')
printf '| batch | changes | seconds | changes/s |\n|---:|---:|---:|---:|\n'
printf '| 200 | %s | %s | %s |\n| 1 | %s | %s | %s |\n' "$n200" "$s200" "$r200" "$n1" "$s1" "$r1"
printf '\nbatch 200 / batch 1: %sx. %s, %s cores; every change verified in the database.\n' \
	"$(awk -v a="$r200" -v b="$r1" 'BEGIN{printf "%.1f", a / b}')" "$(date -u +%Y-%m-%d)" "$(nproc)"
