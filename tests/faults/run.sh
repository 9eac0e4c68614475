#!/usr/bin/env bash
# Fault scenarios on the real stack. Each one runs writers (PATCH of one of
# several fields with unique values) and flushers while a fault is injected,
# restores everything, flushes until the journal is empty, and then checks
# every acknowledged write (2xx, with the updated_at the server gave it)
# against the database, per (profile, field):
#   lost      (profile, field) pairs whose database value is not the newest
#             acknowledged write of that field (must be 0)
#   converged every id reads the same through the app as in the database, and
#             nothing is left pending or dead (must be yes)
# TAP, one check per scenario, plus a report line each.
#
#   tests/faults/run.sh [SCENARIO...]     (default: all; PC_FAULT_SECONDS=8)
set -euo pipefail
# lighttpd respawns the responders killed in kill_responders; the scenarios
# are about the journal, cache and database, not the web server.
export PC_WEB_SERVER=lighttpd
. "$(dirname "$0")/../e2e/lib.sh"

SECONDS_PER=${PC_FAULT_SECONDS:-8}
WRITERS=8
all=(memcached_restart origin_outage postgres_restart kill_responders kill_flusher two_flushers journal_full)
scenarios=("$@")
((${#scenarios[@]})) || scenarios=("${all[@]}")

PC_CONF_SET="limits.writes_per_minute=0 flush.backoff_base_ms=100 flush.backoff_max=1 flush.max_attempts=1000 flush.max_seconds=5 origin.timeout_ms=1000 journal.busy_timeout_ms=1000"
mnt=
if [[ " ${scenarios[*]} " == *" journal_full "* ]]; then
	mnt=$(mktemp -d /tmp/pc-fault-mnt.XXXXXX)
	if mount -t tmpfs -o size=64m tmpfs "$mnt" 2>/dev/null; then
		PC_CONF_SET="$PC_CONF_SET journal.path=$mnt/journal.db"
	else
		rmdir "$mnt"
		mnt=
	fi
fi
e2e_cleanup() { [[ -z $mnt ]] || { umount "$mnt" 2>/dev/null || umount -l "$mnt"; rmdir "$mnt"; } 2>/dev/null || true; }
e2e_start
[[ -z $mnt ]] || JOURNAL_PATH=$mnt/journal.db
plan "${#scenarios[@]}"

svc="apikey: $(admin_key)"
mapfile -t ids < <(psql_exec "insert into profiles (id, display_name) select gen_random_uuid(), 'fault ' || g
	from generate_series(1, 8) g returning id")
FLUSH=$PC_BUILDDIR/profilecache-flush
W=$E2E_DIR/faults
mkdir -p "$W"

# The fields writers set: each write sets one of them (or two, so that
# changes that share a field and changes that do not both occur).
fields=(bio display_name gradient)

# value FIELD N I: a unique valid value for FIELD.
value() {
	case $1 in
	gradient) printf '#%02x%02x%02x' "$2" $(($3 / 256 % 256)) $(($3 % 256)) ;;
	*) printf '%s-w%s-%s' "$s" "$2" "$3" ;;
	esac
}

# writer N SCENARIO: PATCH random ids until the stop file appears; log
# "id <TAB> field <TAB> value <TAB> status <TAB> updated_at" per field set.
writer() {
	local n=$1 s=$2 i=0 id out code f g v w ts
	while [[ ! -e $W/stop ]]; do
		i=$((i + 1))
		id=${ids[RANDOM % ${#ids[@]}]}
		f=${fields[RANDOM % ${#fields[@]}]}
		v=$(value "$f" "$n" "$i")
		body="{\"$f\":\"$v\""
		g=
		if ((RANDOM % 3 == 0)); then
			g=${fields[RANDOM % ${#fields[@]}]}
			[[ $g == "$f" ]] && g= || { w=$(value "$g" "$n" "$i"); body+=",\"$g\":\"$w\""; }
		fi
		out=$(curl -s -m 5 -X PATCH "$BASE_URL/profiles/$id" -H "$svc" \
			-H 'Content-Type: application/json' --data "$body}" -w '\t%{http_code}' || true)
		code=${out##*$'\t'}
		ts=$(if [[ $code == 2* ]]; then jq -r '.profile.updated_at // .updated_at' <<<"${out%$'\t'*}"; else echo -; fi)
		printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$f" "$v" "$code" "$ts"
		[[ -z $g ]] || printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$g" "$w" "$code" "$ts"
	done >"$W/writer$n.log"
}
flusher_loop() {
	while [[ ! -e $W/stop ]]; do "$FLUSH" --config "$CONFIG_PATH" 2>>"$W/flush.log" || true; sleep 0.3; done
}

# check SCENARIO: flush to the end, compare, print the report, set RESULT.
check() {
	local s=$1 requests acked lost=0 converged=yes id want got app i
	for i in $(seq 120); do
		"$FLUSH" --config "$CONFIG_PATH" 2>>"$W/flush.log" || true
		[[ $(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where state = 'pending'") == 0 ]] && break
		sleep 0.5
	done
	cat "$W"/writer*.log >"$W/$s.all"
	requests=$(wc -l <"$W/$s.all")
	acked=$(awk -F'\t' '$4 ~ /^2/' "$W/$s.all" | wc -l)
	for id in "${ids[@]}"; do
		for f in "${fields[@]}"; do
			# The newest acknowledged write of this field, by the version it was given.
			want=$(awk -F'\t' -v id="$id" -v f="$f" '$1 == id && $2 == f && $4 ~ /^2/ {print $5 "\t" $3}' \
				"$W/$s.all" | sort | tail -n 1 | cut -f2)
			[[ -n $want ]] || continue
			got=$(psql_exec "select $f from profiles where id = '$id'")
			if [[ $got != "$want" ]]; then
				lost=$((lost + 1))
				diag "$s: $id.$f: database has '$got', newest acknowledged write was '$want'"
			fi
			app=$(curl -s "$BASE_URL/profiles/$id" | jq -r ".profile.$f")
			[[ $app == "$got" ]] || { converged=no; diag "$s: $id.$f: app shows '$app', database '$got'"; }
		done
	done
	[[ $(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where state in ('pending', 'dead')") == 0 ]] ||
		{ converged=no; diag "$s: entries left pending or dead"; }
	diag "report: scenario=$s field_writes=$requests acknowledged=$acked lost=$lost converged=$converged"
	[[ $lost == 0 && $converged == yes ]] && RESULT=0 || RESULT=1
}

inject() {
	case $1 in
	memcached_restart) sleep 2; pc_stop_memcached "$VAR_DIR"; sleep 2; pc_start_memcached "$VAR_DIR" >/dev/null ;;
	origin_outage) sleep 1; pc_stop_origin "$VAR_DIR"; sleep $((SECONDS_PER / 2)); pc_start_origin "$VAR_DIR" >/dev/null ;;
	postgres_restart) sleep 2; pc_stop_postgres "$VAR_DIR"; sleep 2; pc_start_postgres "$VAR_DIR" >/dev/null ;;
	# Only this stack's processes: other tests may run beside this one.
	kill_responders) for _ in 1 2 3; do sleep 2; pkill -9 -P "$(cat "$VAR_DIR/run/lighttpd.pid")" || true; done ;;
	kill_flusher) for _ in $(seq $((SECONDS_PER * 3))); do sleep 0.3; pkill -9 -f -- "--config $CONFIG_PATH" || true; done ;;
	two_flushers) flusher_loop & ;;	# a second loop beside the usual one, until stop
	journal_full)
		if [[ -z $mnt ]]; then sleep 1; return; fi
		# Shrink the WAL first: writes into a WAL that already has room
		# need no new blocks, so a full disk would go unnoticed.
		sleep 2
		sqlite3 "$JOURNAL_PATH" "pragma busy_timeout = 2000; pragma wal_checkpoint(TRUNCATE)" >/dev/null || true
		dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null || true
		sleep 2; rm -f "$mnt/filler" ;;
	esac
}

for s in "${scenarios[@]}"; do
	if [[ $s == journal_full && -z $mnt ]]; then skip 1 "cannot mount a tmpfs here"; continue; fi
	rm -f "$W"/stop "$W"/writer*.log
	for n in $(seq "$WRITERS"); do writer "$n" "$s" & done
	flusher_loop &
	inject "$s"
	sleep "$SECONDS_PER"
	touch "$W/stop"
	wait
	if [[ $s == journal_full ]]; then
		n503=$(cat "$W"/writer*.log | awk -F'\t' '$4 == 503' | wc -l)
		diag "journal_full: $n503 writes answered 503 while the disk was full"
	fi
	check "$s"
	ok "$RESULT" "$s: nothing acknowledged was lost and the state converged"
done
