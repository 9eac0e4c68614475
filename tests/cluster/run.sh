#!/usr/bin/env bash
# Several web nodes converge (docs/design.md, "Versions and convergence";
# docs/guarantees.md, the "many nodes" column). One PostgreSQL and origin, a memcached ring of two
# servers, and three web nodes, each with its own lighttpd and responders,
# config, journal and flusher. In each scenario writers PATCH write-behind
# fields (bio, display_name, gradient, is_private) of 20 new profiles through
# the nodes, one or two fields per request with unique values, while a fault
# is injected; then every fault is undone, every node's flusher runs until no
# journal has pending entries, each node reads every profile, and
# tests/cluster/check.sh compares (see there): lost, reordered, converged.
# TAP, one check per scenario, plus a report line each.
#
#   tests/cluster/run.sh [SCENARIO...]      (default: all, in this order)
#
#   single_node        control: writers and flusher on node 1 only, no fault
#                      (a failure here is the harness's)
#   flush_orders       bio through node 1, display_name through node 2, the
#                      newer change flushed first; both must stay
#   ryw_window         read-your-writes after memcached lost its data: a
#                      write through node 1 is pending, the cache is flushed,
#                      node 2 fills the entry from the database without it;
#                      how long until node 2 shows it (one run of node 1's
#                      flusher must be enough), for 5 profiles
#   concurrent         2 writers per node, every flusher every 0.3 s
#   cache_flush        ... and flush_all to both memcached servers, twice
#   memcached_restart  ... and one memcached server killed and restarted
#   clock_skew         node 3 (responders and flusher) runs 3 s behind;
#                      6 writers send through the nodes in turn, to 8 profiles
#   kill9              ... node 2's responders killed -9 three times, node
#                      3's flusher killed -9 in each run, while it waits for
#                      the origin (which answers after 0.2 s meanwhile)
#   origin_outage      ... the origin stopped longer than the old retry
#                      budget (flush.max_attempts=3 at 100 ms), then back
#   declared           as concurrent, and flush_all once, for a table
#                      declared in the configuration (the example's
#                      challenges: title and description), not profiles
#   counters           increments of the example's balances (a counter with
#                      min = 0): 2 writers per node send random deltas to 6
#                      rows holding 60, some resent with the same key through
#                      another node, every flusher looping, node 3's killed -9
#                      0.1 s into each run while the origin answers after
#                      0.2 s, and the origin stopped for 2 s; then the ledger
#                      holds every acknowledged key once, each row is its
#                      initial balance plus the deltas the database applied,
#                      every node reads that, and no answer (nor any read
#                      made meanwhile) was below 0
#   avatar_storage     every node stores avatars in the origin's Storage
#                      subset ([avatar] backend = supabase): an avatar
#                      uploaded through node 1 is served at its URL, and
#                      node 2 and node 3 read that URL back, before and after
#                      node 1's flush (no writers, a few seconds)
#
# Environment: PC_CLUSTER_SECONDS (writing time per scenario, default 6),
# PC_CLUSTER_DRAIN_SECONDS (how long the final flushes may take, default 30),
# PC_CLUSTER_DIAG (detail lines per kind, default 10), and those of
# tests/e2e/lib.sh (PC_KEEP=1 keeps the directory: each scenario's
# writes.tsv, reads.tsv and journal counts are in cluster/SCENARIO/).
set -euo pipefail
# lighttpd respawns responders killed with -9, as in tests/faults.
export PC_WEB_SERVER=lighttpd
here=$(cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/../e2e/lib.sh"

T=${PC_CLUSTER_SECONDS:-6}
DRAIN=${PC_CLUSTER_DRAIN_SECONDS:-30}
NPROFILES=20
all=(single_node flush_orders ryw_window concurrent cache_flush memcached_restart clock_skew kill9 origin_outage declared counters avatar_storage)
scenarios=("$@")
((${#scenarios[@]})) || scenarios=("${all[@]}")
# What the writers write: profiles, or in the declared scenario a declared
# table (its URL segment, answer key, table and text fields).
RES=profiles ITEM=profile TABLE=profiles
FIELDS=(bio display_name gradient is_private)
FLUSH=$PC_BUILDDIR/profilecache-flush

# Node 3 runs behind in clock_skew: libfaketime (Debian package faketime) is
# preloaded into its lighttpd, whose responders inherit lighttpd's environment
# (bin-environment only adds to it), and into its flusher; FAKETIME="-3s"
# shifts every clock call by -3 s. ASan must not insist on coming first.
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
SKEW_ENV=(LD_PRELOAD="$FAKETIME_LIB" FAKETIME=-3s
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
SKEWED=0 # the node that runs behind, 0 for none

# As tests/faults: no rate limit, short retries, and a flusher run never
# lasts long. origin_outage's flushers get their own flush settings (FLUSH_SET).
# Avatars in a store every node reaches (avatar_storage); the other
# scenarios write no avatar.
export PC_AVATAR_BACKEND=supabase
# shellcheck disable=SC2034 # read by pc_start_web_node
PC_CONF_SET="limits.writes_per_minute=0 flush.backoff_base_ms=100 flush.backoff_max=1 flush.max_attempts=1000 flush.max_seconds=5 origin.timeout_ms=1000 journal.busy_timeout_ms=1000"
FLUSH_SET=()

MC2=
NODES=(1 2 3)
declare -a NODE_URL
e2e_cleanup() {
	local n
	# Writers and flusher loops still running (a bail-out) stop now.
	[[ -z ${RUN:-} || ! -d $RUN ]] || touch "$RUN/stop"
	wait
	for n in "${NODES[@]}"; do pc_stop_web "$E2E_DIR/node$n"; done
	[[ -z $MC2 ]] || pc_stop_memcached "$MC2"
}
e2e_start
plan "${#scenarios[@]}"
# The stack's own web server is none of the three nodes.
pc_stop_web "$VAR_DIR"

# mc_start DIR: a memcached on a new free port (port base + 2, the way
# pc_start_memcached counts) with its pid and log under DIR.
mc_start() {
	local dir=$1
	mkdir -p -- "$dir/run" "$dir/log"
	for _ in 1 2 3 4 5; do
		pc_free_port_base >"$dir/run/port_base" && pc_start_memcached "$dir" && return 0
	done
	return 1
}
MC2=$E2E_DIR/mc2
mc_start "$MC2" || e2e_bail "the second memcached did not start"
MC_PORTS=("$MEMCACHED_PORT" "$(($(<"$MC2/run/port_base") + 2))")
RING=127.0.0.1:${MC_PORTS[0]},127.0.0.1:${MC_PORTS[1]}
ln -sfn -- "$MC2/log/memcached.log" "$VAR_DIR/log/memcached2.log"

# node_start N: start web node N (on a new free port the first time; node 3
# behind when SKEWED=3). Its logs are linked into the stack's log directory,
# so that a failure shows them.
node_start() {
	local n=$1 dir=$E2E_DIR/node$1 port f
	local -a clock=()
	((n == SKEWED)) && clock=("${SKEW_ENV[@]}")
	for _ in 1 2 3 4 5; do
		port=$(cat "$dir/run/port_base" 2>/dev/null) || port=$(pc_free_port_base) || return 1
		if (
			((${#clock[@]} == 0)) || export "${clock[@]}"
			pc_start_web_node "$dir" "$port" "$VAR_DIR" "$RING"
		); then
			NODE_URL[n]=http://127.0.0.1:$port/v1
			for f in lighttpd.log access.log flush.log; do ln -sfn -- "$dir/log/$f" "$VAR_DIR/log/node$n-$f"; done
			return 0
		fi
		# A port someone took meanwhile: another one (a restart keeps its port).
		[[ -n ${NODE_URL[n]:-} ]] && return 1
		rm -f -- "$dir/run/port_base"
	done
	return 1
}
for n in "${NODES[@]}"; do node_start "$n" || e2e_bail "node $n did not start"; done
diag "nodes: ${NODE_URL[*]}; memcached ring $RING"

SVC="apikey: $(admin_key)"

# --- writing ----------------------------------------------------------------

# patch NODE ID REQ FIELD=VALUE...: PATCH the fields of profile ID through
# NODE as the service role, and print a writes.tsv line per field (see
# tests/cluster/check.sql): the status, the version the answer gave, and the
# times it was sent and answered (µs).
patch() {
	local node=$1 id=$2 req=$3 kv body='' out code ver='\N' t0 t1 v
	shift 3
	for kv in "$@"; do
		v=${kv#*=}
		[[ ${kv%%=*} == is_private ]] || v="\"$v\""
		body+="${body:+,}\"${kv%%=*}\":$v"
	done
	t0=${EPOCHREALTIME//[.,]/}
	out=$(curl -s -m 5 -X PATCH "${NODE_URL[node]}/$RES/$id" -H "$SVC" \
		-H 'Content-Type: application/json' --data "{$body}" -w '\n%{http_code}' 2>/dev/null) || true
	t1=${EPOCHREALTIME//[.,]/}
	code=${out##*$'\n'}
	[[ $code =~ ^[0-9]{3}$ ]] || code=000
	if [[ $code == 2* && $out =~ \"updated_at\":[[:space:]]*\"([^\"]+)\" ]]; then ver=${BASH_REMATCH[1]}; fi
	for kv in "$@"; do
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
			"$node" "$req" "$id" "${kv%%=*}" "${kv#*=}" "$((10#$code))" "$ver" "$t0" "$t1"
	done
}

# field_value FIELD W I: REPLY=FIELD=VALUE, a value that no other write of the
# scenario sets (text: SCENARIO-wW-I; gradient: #WWIIII in hex; is_private:
# true or false at random).
field_value() {
	case $1 in
	gradient) printf -v REPLY 'gradient=#%02x%04x' "$2" "$3" ;;
	is_private) if ((RANDOM % 2)); then REPLY=is_private=true; else REPLY=is_private=false; fi ;;
	*) REPLY=$1=$S-w$2-$3 ;;
	esac
}

# writer W NODE: PATCH one or two random fields of random profiles of the
# scenario until RUN/stop exists, through NODE, or through the nodes in turn
# when NODE is "rotate"; lines in RUN/writes.wW.tsv.
writer() {
	local w=$1 mode=$2 i=0 node a
	local -a set
	while [[ -d $RUN && ! -e $RUN/stop ]]; do
		i=$((i + 1))
		node=$mode
		[[ $mode == rotate ]] && node=${NODES[(w + i) % ${#NODES[@]}]}
		a=$((RANDOM % ${#FIELDS[@]}))
		field_value "${FIELDS[a]}" "$w" "$i"
		set=("$REPLY")
		if ((RANDOM % 2)); then
			field_value "${FIELDS[(a + 1 + RANDOM % (${#FIELDS[@]} - 1)) % ${#FIELDS[@]}]}" "$w" "$i"
			set+=("$REPLY")
		fi
		patch "$node" "${IDS[RANDOM % ${#IDS[@]}]}" "w$w-$i" "${set[@]}"
	done >"$RUN/writes.w$w.tsv"
}

# --- flushing ----------------------------------------------------------------

# flush_node N [KILL]: one run of node N's flusher (in node N's clock), with
# nodeN/flush.conf's settings; with KILL, killed -9 after KILL seconds if it
# still runs then (a line in RUN/kills for each such kill).
flush_node() {
	local n=$1 dir=$E2E_DIR/node$1 pid killer=
	local -a clock=()
	((n == SKEWED)) && clock=("${SKEW_ENV[@]}")
	env "${clock[@]}" "$FLUSH" --config "$dir/flush.conf" 2>>"$dir/log/flush.log" &
	pid=$!
	if [[ -n ${2:-} ]]; then
		(sleep "$2" && pc__running "$pid" && kill -9 "$pid" 2>/dev/null && echo "$pid" >>"$RUN/kills") &
		killer=$!
	fi
	# Quietly: bash would report the kill.
	{ wait "$pid"; } 2>/dev/null || true
	[[ -z $killer ]] || wait "$killer" || true
}

# flusher_loop N [KILL]: node N's flusher every 0.3 s until RUN/stop, each
# run killed -9 after KILL seconds if given.
flusher_loop() {
	while [[ -d $RUN && ! -e $RUN/stop ]]; do
		flush_node "$@"
		sleep 0.3
	done
}

# journal_count N SQL: the answer to SQL from node N's journal, columns
# tab-separated; 0 when the node has no journal yet.
journal_count() {
	local j=$E2E_DIR/node$1/journal.db
	[[ -f $j ]] || { echo 0; return 0; }
	sqlite3 -separator $'\t' -cmd '.timeout 5000' "$j" "$2"
}

# pending_total: entries pending in all journals.
pending_total() {
	local n total=0
	for n in "${NODES[@]}"; do
		total=$((total + $(journal_count "$n" "select count(*) from changes where state = 'pending'")))
	done
	echo "$total"
}

# settle: run every node's flusher until no journal has pending entries, for
# at most DRAIN seconds (check.sh reports what is left).
settle() {
	local deadline=$((SECONDS + DRAIN)) n
	while :; do
		for n in "${NODES[@]}"; do flush_node "$n"; done
		(($(pending_total) == 0)) && return 0
		((SECONDS < deadline)) || { diag "$S: the journals did not drain in $DRAIN s"; return 0; }
		sleep 0.5
	done
}

# collect: what check.sh needs besides writes: each node's reads of every
# profile (reads.tsv) and its journal's counts since the scenario began.
collect() {
	local n id out
	cat "$RUN"/writes.*.tsv >"$RUN/writes.tsv"
	# "node id status body" per GET (a compact JSON body has no tab or
	# newline), then one jq for all of them.
	for n in "${NODES[@]}"; do
		for id in "${IDS[@]}"; do
			out=$(curl -s -m 10 "${NODE_URL[n]}/$RES/$id" -H "$SVC" -w '\t%{http_code}' 2>/dev/null) || true
			out=${out//[$'\r\n']/ } # an error page may have some
			printf '%s\t%s\t%s\t%s\n' "$n" "$id" "${out##*$'\t'}" "${out%$'\t'*}"
		done
	done | jq -R -r --arg item "$ITEM" --argjson fields "$(printf '%s\n' "${FIELDS[@]}" | jq -R . | jq -s .)" \
		'split("\t") as [$n, $id, $code] | (split("\t")[3:] | join("\t")) as $body
		| (if $code == "200" then [$body | fromjson? | .[$item]][0] else null end) as $p
		| $fields[]
		| [$n, $id, ., if $p == null then "<http \($code)>"
			else ($p[.] | if . == null then "<null>" else tostring end) end] | @tsv' >"$RUN/reads.tsv"
	: >"$RUN/dead.tsv"
	for n in "${NODES[@]}"; do
		if [[ ! -f $E2E_DIR/node$n/journal.db ]]; then
			printf '%s\t0\t0\t0\t0\n' "$n" # nothing was ever written through it
			continue
		fi
		journal_count "$n" "select $n,
			(select count(*) from changes where state = 'pending'),
			(select count(*) from changes where state = 'dead' and seq > ${SEQ0[n]}),
			(select count(*) from changes where state = 'conflict' and seq > ${SEQ0[n]}),
			(select count(*) from changes where seq > ${SEQ0[n]})"
		journal_count "$n" "select $n, seq, id, patch, attempts, last_error from changes
			where state = 'dead' and seq > ${SEQ0[n]} order by seq limit 5" >>"$RUN/dead.tsv"
	done >"$RUN/journals.tsv"
}

# --- scenarios -------------------------------------------------------------------

# new_profiles N [AGE]: create N profiles in the database (updated_at AGE ago,
# default now) and print their ids.
new_profiles() {
	local label=display_name
	[[ $TABLE == profiles ]] || label=${FIELDS[0]}
	psql_exec "insert into $TABLE (id, $label, updated_at)
		select gen_random_uuid(), '$S ' || g, now() - interval '${2:-0 s}'
		from generate_series(1, $1) g returning id"
}

# sleep_until US: sleep until the time US (µs since the epoch, EPOCHREALTIME).
sleep_until() {
	local left=$(($1 - ${EPOCHREALTIME//[.,]/}))
	((left <= 0)) || sleep "$((left / 1000000)).$(printf '%06d' $((left % 1000000)))"
}

# mc_flush_all: flush_all to both memcached servers.
mc_flush_all() {
	local p
	for p in "${MC_PORTS[@]}"; do
		[[ $(pc_memcached_cmd "$p" flush_all) == OK ]] || diag "$S: flush_all to memcached on $p failed"
	done
}

# kill_responders N: kill -9 node N's responders (lighttpd's children, by pid).
kill_responders() {
	local -a pids
	mapfile -t pids < <(ps -o pid= --ppid "$(<"$E2E_DIR/node$1/run/lighttpd.pid")" | tr -d ' ')
	((${#pids[@]} == 0)) || kill -9 "${pids[@]}" 2>/dev/null || true
}

# origin_restart [PGREST-LITE-ARG...]: restart the origin (e.g. --delay-ms).
origin_restart() {
	pc_stop_origin "$VAR_DIR" && pc_start_origin "$VAR_DIR" "$@" >/dev/null || e2e_bail "the origin did not restart"
}

# inject: the scenario's fault, within the T seconds the writers run.
inject() {
	case $S in
	cache_flush)
		sleep "$(((T + 2) / 3))"; mc_flush_all
		sleep "$(((T + 2) / 3))"; mc_flush_all ;;
	declared)
		sleep "$(((T + 1) / 2))"; mc_flush_all ;;
	memcached_restart)
		sleep "$(((T + 2) / 3))"
		pc_stop_memcached "$MC2"; sleep 2
		pc_start_memcached "$MC2" >/dev/null || diag "$S: the second memcached did not restart" ;;
	kill9)
		for _ in 1 2 3; do sleep "$((T / 4 > 0 ? T / 4 : 1))"; kill_responders 2; done ;;
	origin_outage)
		sleep 1
		echo "${EPOCHREALTIME//[.,]/}" >"$RUN/outage"
		pc_stop_origin "$VAR_DIR"
		sleep "$((T / 2 > 3 ? T / 2 : 3))"
		echo "${EPOCHREALTIME//[.,]/}" >>"$RUN/outage"
		pc_start_origin "$VAR_DIR" >/dev/null || diag "$S: the origin did not restart" ;;
	esac
}

# flush_orders: per pair of profiles, bio through node 1 then display_name
# through node 2, node 2 flushed first; and display_name through node 2 then
# bio through node 1, node 1 flushed first. The newer change lands first
# each time, and both fields must stay.
flush_orders() {
	local k p q
	for k in 1 2 3; do
		p=${IDS[2 * k - 2]} q=${IDS[2 * k - 1]}
		patch 1 "$p" "a$k" "bio=$S-bio-a$k"
		patch 2 "$p" "b$k" "display_name=$S-name-b$k"
		flush_node 2
		flush_node 1
		patch 2 "$q" "c$k" "display_name=$S-name-c$k"
		patch 1 "$q" "d$k" "bio=$S-bio-d$k"
		flush_node 1
		flush_node 2
	done >"$RUN/writes.orders.tsv"
}

# behind WHAT TIME T1: say how far TIME (a date(1) time) is behind T1 (µs
# since the epoch, the harness's clock); fails unless it is 2 to 6 s (an HTTP
# Date has whole seconds, lighttpd's clock moves once a second, and a loaded
# machine answers late).
behind() {
	local us ms
	us=$(date -u -d "$2" +%s%6N 2>/dev/null) || { diag "$S: $1: no time in '$2'"; return 1; }
	ms=$((($3 - us) / 1000))
	diag "$S: $1 is $ms ms behind the harness's clock"
	((ms >= 2000 && ms <= 6000))
}

# ryw_window: the window in which a node serves a view without another
# node's acknowledged write after memcached lost it (see the header).
# RUN/window gets one "stale ms" line per profile: whether node 2 first
# served the view without the write, and the time from the start of node 1's
# flush run until node 2 showed the write (-1: never).
ryw_window() {
	local k id t0 t1 got stale
	for k in 1 2 3 4 5; do
		id=${IDS[k - 1]}
		patch 1 "$id" "w$k" "bio=$S-bio-$k" >>"$RUN/writes.ryw.tsv"
		mc_flush_all
		got=$(curl -s -m 10 "${NODE_URL[2]}/profiles/$id" -H "$SVC" | jq -r .profile.bio) || got=
		[[ $got == "$S-bio-$k" ]] && stale=0 || stale=1
		t0=${EPOCHREALTIME//[.,]/}
		flush_node 1
		for _ in $(seq 100); do
			got=$(curl -s -m 10 "${NODE_URL[2]}/profiles/$id" -H "$SVC" | jq -r .profile.bio) || got=
			[[ $got == "$S-bio-$k" ]] && break
			sleep 0.05
		done
		t1=${EPOCHREALTIME//[.,]/}
		[[ $got == "$S-bio-$k" ]] || t1=$((t0 - 1000))
		printf '%s\t%s\n' "$stale" "$(((t1 - t0) / 1000))" >>"$RUN/window"
	done
}

# skew_probe: node 3 really runs 3 s behind, seen from outside whatever the
# code does with its clock: each of its responders has the preload in its
# environment, its lighttpd (whose environment they inherit) dates its
# answers about 3 s back, and so does its flusher its log lines. Also shows
# the version a write of a profile last written an hour ago, neither cached
# nor journaled, gets through node 1 and node 3 (the node's own clock,
# unless the code corrects it).
skew_probe() {
	local n id pid date rc=0
	local -a w
	for pid in $(ps -o pid= --ppid "$(<"$E2E_DIR/node3/run/lighttpd.pid")"); do
		# grep reads the NUL-separated file itself: with pipefail, a
		# "tr | grep -q" fails whenever grep stops reading before tr is done.
		grep -qzxF "LD_PRELOAD=$FAKETIME_LIB" "/proc/$pid/environ" ||
			{ diag "$S: node3's responder $pid has no libfaketime: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>&1 | head -c 200); $(tr '\0' '\n' <"/proc/$pid/environ" 2>&1 | grep -E '^LD_PRELOAD|^FAKETIME|No such' | tr '\n' ' ')"; rc=1; }
	done
	date=$(curl -sI "${NODE_URL[3]%/v1}/" | tr -d '\r' | sed -n 's/^[Dd]ate: //p')
	behind "node3's lighttpd (Date header)" "$date" "${EPOCHREALTIME//[.,]/}" || rc=1
	flush_node 3
	date=$(tail -n 1 "$E2E_DIR/node3/log/flush.log" | cut -d' ' -f1)
	behind "node3's flusher (its log line)" "$date" "${EPOCHREALTIME//[.,]/}" || rc=1
	for n in 1 3; do
		id=$(new_profiles 1 '1 hour')
		IFS=$'\t' read -r -a w < <(patch "$n" "$id" probe "bio=$S-probe")
		[[ ${w[6]} != '\N' ]] || { diag "$S: the probe through node$n got status ${w[5]}"; continue; }
		diag "$S: a write through node$n got a version $(((w[7] - $(date -u -d "${w[6]}" +%s%6N)) / 1000)) ms before it was sent"
	done
	((rc == 0)) || diag "$S: libfaketime did not take effect as planned"
	return "$rc"
}

# avatar_storage: see the header. Fails (with a diag line) at the first miss.
avatar_storage() {
	local id url n got code pass
	id=$(new_profiles 1)
	# A 1 x 1 PNG: the helper makes its 256 x 256 WebP.
	base64 -d >"$RUN/a.png" <<<'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='
	got=$(curl -s -m 10 -X POST "${NODE_URL[1]}/profiles/$id/avatar" -H "$SVC" \
		-H 'Content-Type: image/png' --data-binary "@$RUN/a.png" -w '\n%{http_code}') || true
	code=${got##*$'\n'}
	url=$(jq -r .profile.avatar_url <<<"${got%$'\n'*}" 2>/dev/null) || url=
	[[ $code == 202 && $url == "$STORAGE_URL/object/public/avatars/"*.webp ]] ||
		{ diag "$S: the upload through node 1 got $code, avatar_url '$url'"; return 1; }
	code=$(curl -s -m 5 -o "$RUN/a.webp" -w '%{http_code} %{content_type}' "$url") || true
	[[ $code == "200 image/webp" && $(head -c 4 "$RUN/a.webp") == RIFF ]] ||
		{ diag "$S: GET $url: $code"; return 1; }
	for pass in pending flushed; do
		[[ $pass == pending ]] || flush_node 1
		for n in 2 3; do
			got=$(curl -s -m 5 "${NODE_URL[n]}/profiles/$id" -H "$SVC" | jq -r .profile.avatar_url) || true
			[[ $got == "$url" ]] ||
				{ diag "$S: node $n read avatar_url '$got' ($pass), not $url"; return 1; }
		done
	done
	[[ $(psql_exec "select avatar_url from profiles where id = '$id'") == "$url" ]] ||
		{ diag "$S: the database does not hold the URL after node 1's flush"; return 1; }
	diag "$S: $url served, read back through nodes 2 and 3"
}

# lists_agree: every node's list pages of the scenario's rows show what the
# database holds (title and description), once every journal is drained:
# no page is served with an older value than a row's. Pages of 100, newest
# first, until all IDS are seen.
lists_agree() {
	local n off bad=0 seen
	psql_exec "select id || E'\t' || coalesce(title, '<null>') || E'\t' || coalesce(description, '<null>')
		from challenges where id in ($(printf "'%s'," "${IDS[@]}" | sed 's/,$//'))" | sort >"$RUN/lists.db"
	for n in "${NODES[@]}"; do
		: >"$RUN/lists.node$n"
		for off in 0 100 200 300; do
			curl -s -m 10 "${NODE_URL[n]}/challenges?order=created_at.desc&limit=100&offset=$off" -H "$SVC" |
				jq -r '.challenges[] | [.id, (.title // "<null>"), (.description // "<null>")] | @tsv' \
				>>"$RUN/lists.node$n" 2>/dev/null || true
		done
		seen=$(grep -cFf <(printf '%s\n' "${IDS[@]}") "$RUN/lists.node$n") || true
		if ! diff <(grep -Ff <(printf '%s\n' "${IDS[@]}") "$RUN/lists.node$n" | sort) "$RUN/lists.db" >"$RUN/lists.diff$n"; then
			diag "$S: node$n's list pages differ from the database ($seen of ${#IDS[@]} rows seen):"
			diag "$(head -n 6 "$RUN/lists.diff$n")"
			bad=1
		fi
	done
	((bad == 0)) && diag "$S: every node's list pages show the database's values of all ${#IDS[@]} rows"
	return "$bad"
}

# increment NODE ID KEY DELTA REQ: POST one increment as the service role;
# prints a line of RUN/increments.tsv: node, request, key, id, delta, status,
# the answer's value.
increment() {
	local out code value='\N'
	out=$(curl -s -m 5 -X POST "${NODE_URL[$1]}/balances/$2/increments" -H "$SVC" \
		-H "Idempotency-Key: $3" -H 'Content-Type: application/json' \
		--data "{\"delta\":$4}" -w '\n%{http_code}' 2>/dev/null) || true
	code=${out##*$'\n'}
	[[ $code =~ ^[0-9]{3}$ ]] || code=000
	if [[ $code == 202 && $out =~ \"value\":(-?[0-9]+|null) ]]; then value=${BASH_REMATCH[1]}; fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$5" "$3" "$2" "$4" "$((10#$code))" "$value"
}

# incrementer W NODE: random deltas (-40 to 40, not 0) to random rows through
# NODE until RUN/stop; one in five is sent again with its key through the
# next node.
incrementer() {
	local wn=$1 node=$2 i=0 row ikey d
	while [[ -d $RUN && ! -e $RUN/stop ]]; do
		i=$((i + 1))
		row=${IDS[RANDOM % ${#IDS[@]}]} ikey=$S-w$wn-$i d=$((RANDOM % 80 - 40))
		((d != 0)) || d=1
		increment "$node" "$row" "$ikey" "$d" "w$wn-$i"
		((RANDOM % 5)) || increment "$((node % 3 + 1))" "$row" "$ikey" "$d" "w$wn-$i-again"
	done >"$RUN/increments.w$wn.tsv"
}

# balance_reader: GET random balances through random nodes until RUN/stop;
# their values in RUN/reads.balances.
balance_reader() {
	local id n
	while [[ -d $RUN && ! -e $RUN/stop ]]; do
		id=${IDS[RANDOM % ${#IDS[@]}]} n=${NODES[RANDOM % ${#NODES[@]}]}
		curl -s -m 5 "${NODE_URL[n]}/balances/$id" -H "$SVC" | jq -r '.balance.balance // empty' 2>/dev/null || true
	done >"$RUN/reads.balances"
}

# counters_check: see the header's counters. Prints a report line; fails on
# any loss, double count, disagreement or answer below the floor.
counters_check() {
	local n bad=0 acked lost wrong refused below rows stale
	cat "$RUN"/increments.w*.tsv >"$RUN/increments.tsv"
	psql_exec "select key || E'\t' || id || E'\t' || delta || E'\t' || status from profilecache.increments
		where resource = 'balance' and key like '$S-%' order by key" >"$RUN/ledger.tsv"
	# Every acknowledged key is in the ledger, with the delta it was sent with.
	awk -F'\t' '$6 == 202 { print $3 "\t" $4 "\t" $5 }' "$RUN/increments.tsv" | sort -u >"$RUN/acked.tsv"
	acked=$(wc -l <"$RUN/acked.tsv")
	lost=$(cut -f1 "$RUN/acked.tsv" | sort -u | comm -23 - <(cut -f1 "$RUN/ledger.tsv" | sort -u) | wc -l)
	wrong=$(($(comm -23 "$RUN/acked.tsv" <(cut -f1,2,3 "$RUN/ledger.tsv" | sort) | wc -l) - lost))
	# A key refused at every try (409) never reaches the database.
	refused=$(awk -F'\t' '{ s[$3] = s[$3] " " $6 } END { for (k in s) if (s[k] !~ /202|000|503/) print k }' \
		"$RUN/increments.tsv" | sort | comm -12 - <(cut -f1 "$RUN/ledger.tsv" | sort) | wc -l)
	below=$(($(awk -F'\t' '$6 == 202 && $7 != "null" && $7 != "\\N" && $7 < 0' "$RUN/increments.tsv" | wc -l) +
		$(awk '$1 < 0' "$RUN/reads.balances" | wc -l)))
	# Each row: its initial balance plus the deltas the ledger applied.
	rows=$(psql_exec "select count(*) from public.balances b where b.user_id in ($(printf "'%s'," "${IDS[@]}" | sed 's/,$//'))
		and b.balance <> 60 + coalesce((select sum(l.delta) from profilecache.increments l
			where l.resource = 'balance' and l.id = b.user_id and l.status = 'applied' and l.key like '$S-%'), 0)")
	# Every node reads the database's balance, synced.
	stale=0
	for n in "${NODES[@]}"; do
		for id in "${IDS[@]}"; do
			[[ $(curl -s -m 5 "${NODE_URL[n]}/balances/$id" -H "$SVC" | jq -r '"\(.balance.balance) \(.sync)"') == \
				"$(psql_exec "select balance from public.balances where user_id = '$id'") synced" ]] || stale=$((stale + 1))
		done
	done
	diag "$S: acknowledged=$acked applied=$(awk -F'\t' '$4 == "applied"' "$RUN/ledger.tsv" | wc -l)\
 rejected=$(awk -F'\t' '$4 == "rejected"' "$RUN/ledger.tsv" | wc -l) refused=$(awk -F'\t' '$6 == 409' "$RUN/increments.tsv" | wc -l)\
 resent=$(grep -c -- '-again' "$RUN/increments.tsv" || true) reads=$(wc -l <"$RUN/reads.balances") lost=$lost wrong_delta=$wrong refused_applied=$refused below_floor=$below rows_off=$rows stale_reads=$stale"
	((lost == 0 && wrong == 0 && refused == 0 && below == 0 && rows == 0 && stale == 0 && acked > 0)) || bad=1
	return "$bad"
}

# counters: see the header.
counters() {
	local w n id end
	mapfile -t IDS < <(psql_exec "insert into public.balances (user_id, balance)
		select gen_random_uuid(), 60 from generate_series(1, 6) returning user_id")
	for id in "${IDS[@]}"; do curl -s -o /dev/null -H "$SVC" "${NODE_URL[1]}/balances/$id" || true; done
	origin_restart --delay-ms 200
	end=$((${EPOCHREALTIME//[.,]/} + T * 1000000))
	rm -f -- "$RUN/stop"
	for w in 1 2 3 4 5 6; do incrementer "$w" "${NODES[(w - 1) / 2]}" & done
	balance_reader &
	flusher_loop 1 & flusher_loop 2 & flusher_loop 3 0.1 &
	sleep "$(((T + 1) / 2))"
	pc_stop_origin "$VAR_DIR"
	sleep 2
	pc_start_origin "$VAR_DIR" --delay-ms 200 >/dev/null || diag "$S: the origin did not restart"
	sleep_until "$end"
	touch "$RUN/stop"
	wait
	origin_restart
	settle
	counters_check
}

# run S: one scenario, its check and its TAP line.
run() {
	local n w id end t rc=0 began=$SECONDS
	S=$1 RUN=$E2E_DIR/cluster/$1
	RES=profiles ITEM=profile TABLE=profiles FIELDS=(bio display_name gradient is_private)
	[[ $S != declared ]] || { RES=challenges ITEM=challenge TABLE=challenges FIELDS=(title description); }
	mkdir -p -- "$RUN"
	declare -ga SEQ0=()
	for n in "${NODES[@]}"; do
		SEQ0[n]=$(journal_count "$n" "select coalesce(max(seq), 0) from changes")
	done
	FLUSH_SET=()
	[[ $S == origin_outage ]] && FLUSH_SET=(flush.max_attempts=3 flush.backoff_base_ms=100 flush.backoff_max=1)
	for n in "${NODES[@]}"; do
		pc__ini_set "$E2E_DIR/node$n/profilecache.conf" "$E2E_DIR/node$n/flush.conf" "${FLUSH_SET[@]}"
	done
	if [[ $S == counters ]]; then
		counters || rc=1
		diag "$S: $((SECONDS - began)) s"
		ok "$rc" "$S: every acknowledged increment counted once, on every node and in the database"
		return 0
	fi
	if [[ $S == avatar_storage ]]; then
		avatar_storage || rc=1
		diag "$S: $((SECONDS - began)) s"
		ok "$rc" "$S: an avatar stored through node 1 is served and read back through every node"
		return 0
	fi
	if [[ $S == clock_skew ]]; then
		[[ -r $FAKETIME_LIB ]] || { skip 1 "$S: no $FAKETIME_LIB (Debian package faketime)"; return 0; }
		SKEWED=3
		pc_stop_web "$E2E_DIR/node3" && node_start 3 || e2e_bail "node 3 did not restart behind"
		skew_probe || rc=1
	fi
	# clock_skew: fewer profiles, so that a (profile, field) is often written
	# through two nodes within the 3 s of skew.
	mapfile -t IDS < <(new_profiles "$([[ $S == clock_skew ]] && echo 8 || echo "$NPROFILES")")

	if [[ $S == origin_outage ]]; then
		# Cached before the outage, so writes through any node stay 202.
		for id in "${IDS[@]}"; do curl -s -o /dev/null -H "$SVC" "${NODE_URL[1]}/profiles/$id" || true; done
	fi
	if [[ $S == flush_orders ]]; then
		flush_orders
	elif [[ $S == ryw_window ]]; then
		ryw_window
		if awk -F'\t' '$2 < 0 { bad = 1 } END { exit bad }' "$RUN/window"; then
			diag "$S: $(awk -F'\t' '{ s += $1; if ($2 > m) m = $2 } END {
				printf "%d of %d views after the cache loss lacked the write; node 2 showed it at most %d ms after node 1 began its flush run", s, NR, m }' "$RUN/window")"
		else
			diag "$S: node 2 never showed node 1's write after node 1's flush run"
			rc=1
		fi
	else
		[[ $S != kill9 ]] || origin_restart --delay-ms 200
		end=$((${EPOCHREALTIME//[.,]/} + T * 1000000))
		rm -f -- "$RUN/stop"
		case $S in
		single_node) for w in 1 2 3 4; do writer "$w" 1 & done ;;
		clock_skew) for w in 1 2 3 4 5 6; do writer "$w" rotate & done ;;
		*) for w in 1 2 3 4 5 6; do writer "$w" "${NODES[(w - 1) / 2]}" & done ;;
		esac
		case $S in
		single_node) flusher_loop 1 & ;;
		# Node 3's flusher is killed 0.1 s into each run: one with something
		# to send then waits for apply_profile_changes (the origin answers
		# after 0.2 s meanwhile), which the database may still carry out.
		# Its journal is flushed only by the final flushes.
		kill9) flusher_loop 1 & flusher_loop 2 & flusher_loop 3 0.1 & ;;
		*) for n in "${NODES[@]}"; do flusher_loop "$n" & done ;;
		esac
		inject
		sleep_until "$end"
		touch "$RUN/stop"
		wait
		[[ $S != kill9 ]] || origin_restart
	fi
	t=$SECONDS
	settle
	diag "$S: the final flushes took $((SECONDS - t)) s"
	collect
	case $S in
	kill9)
		touch "$RUN/kills"
		diag "$S: node2's responders killed 3 times, node3's flusher $(wc -l <"$RUN/kills") times in a run" ;;
	origin_outage)
		diag "$S: $(awk -F'\t' -v from="$(sed -n 1p "$RUN/outage")" -v to="$(sed -n 2p "$RUN/outage")" '
			$8 >= from && $8 <= to { r[$2] = $6 }
			END { for (q in r) { n++; if (r[q] !~ /^2/) { bad++; c[r[q]]++ } }
			      printf "%d of %d writes sent during the outage were not acknowledged", bad, n
			      for (s in c) printf "; %d got %s", c[s], s }' "$RUN/writes.tsv")" ;;
	esac
	PC_PG_BIN=$PC_PG_BIN CLUSTER_TABLE=$TABLE "$here/check.sh" "$RUN" "$S" || rc=1
	[[ $S != declared ]] || lists_agree || rc=1
	if [[ $S == clock_skew ]]; then
		SKEWED=0
		pc_stop_web "$E2E_DIR/node3" && node_start 3 || e2e_bail "node 3 did not restart"
		# Its clock is right again: the next flusher run measures that (until
		# then the responders would move their clock by the 3 s measured
		# while it ran behind, and node 3's flusher may not finish a run in
		# the next scenario).
		flush_node 3
	fi
	diag "$S: $((SECONDS - began)) s"
	ok "$rc" "$S: every acknowledged write converged on every node"
}

for s in "${scenarios[@]}"; do
	[[ " ${all[*]} " == *" $s "* ]] || e2e_bail "unknown scenario: $s (${all[*]})"
	run "$s"
done
