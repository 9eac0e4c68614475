#!/usr/bin/env bash
# Benchmark: PATCH acknowledgement latency and throughput at 1 and 8
# concurrent writers through lighttpd, journal with synchronous=FULL, next to
# a plain SQLite insert loop (one transaction per row, same table, same
# pragmas) on the same disk in the same run.
#
#   bench/put.sh [--duration SECONDS] [--writers "1 8"]
#
# Each write is acknowledged only after its journal commit (fsync) returned.
# The profiles written are cached first, as a user editing their own profile
# would find them. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh
PC_PROG=bench

duration=10
writers="1 8"
while (($#)); do
	case $1 in
	--duration) duration=$2; shift 2 ;;
	--writers) writers=$2; shift 2 ;;
	*) pc_die "usage: bench/put.sh [--duration S] [--writers \"1 8\"]" ;;
	esac
done

pc_install_deps wrk
pc_build
PC_CONF_SET="limits.writes_per_minute=0" bench_stack_start
cc -O2 -o "$var/sqlite-insert" bench/sqlite-insert.c -lsqlite3

# 64 profiles, cached.
ids=$(psql "$DATABASE_URL" -XAtq -c "insert into public.profiles (id, display_name)
	select gen_random_uuid(), 'bench ' || g from generate_series(1, 64) g returning id" | paste -sd,)
for id in ${ids//,/ }; do curl -sf -o /dev/null "$BASE_URL/profiles/$id"; done
export PUT_IDS=$ids
PUT_TOKEN=$(jwt_hs256 "" service_role 3600 "")
export PUT_TOKEN

printf '| writers | PATCH rps | PATCH p50 ms | PATCH p99 ms | SQLite insert rps | insert p50 ms | insert p99 ms |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|\n'
for w in $writers; do
	t=$((w < 2 ? 1 : 2))
	read -r _ prps pp50 pp99 perr < <(wrk -t"$t" -c"$w" -d"${duration}s" -s bench/put.lua \
		"$HTTP_URL" | grep '^RESULT')
	((perr == 0)) || pc_log "warning: $perr non-2xx answers"
	rm -f "$var/ref.db"*
	read -r _ srps sp50 sp99 < <("$var/sqlite-insert" "$var/ref.db" "$w" "$duration")
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$w" "$prps" "$pp50" "$pp99" "$srps" "$sp50" "$sp99"
done
journal=$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes")
printf '\n%s, %s cores, %ss per run, journal synchronous=FULL on %s, %s journal rows written\n' \
	"$(date -u +%Y-%m-%d)" "$(nproc)" "$duration" "$(df --output=fstype "$var" | tail -1)" "$journal"
