#!/usr/bin/env bash
# scripts/run as a newcomer meets it: the banner's commands work as printed
# (the sample's first read a MISS, then a HIT; a 304; the owner's PATCH; the
# admin's apikey), the stack's flusher makes the write synced, stack.env puts
# profilecache-flush on PATH with its configuration, and Ctrl-C stops every
# part of the stack, also when stdout and stderr are a pipe whose reader is
# gone (scripts/run 2>&1 | head -n 1).
#
# Ctrl-C is SIGINT to the terminal's foreground process group: here each
# scripts/run is a job of its own (set -m) and gets SIGINT as a group.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname -- "$0")/lib.sh"
set -m # each background job in a process group of its own, taking SIGINT

# A shell started in the background without job control (nohup, CI) passes
# SIGINT on ignored, and bash cannot trap a signal ignored on entry: scripts/run
# starts with SIGINT at its default, as it does from a terminal.
RUN=(env --default-signal=INT "$PC_ROOT/scripts/run")
# Bounds on waiting for things that should happen (not timing checks).
START_SECONDS=120
STOP_SECONDS=60

tmp=${PC_TEST_TMP:-/tmp}
E2E_DIR=$(mktemp -d "$tmp/pc-devstack.XXXXXX") || e2e_bail "cannot create a directory in $tmp"
chmod 0711 "$E2E_DIR" # the postgres user keeps its cluster inside
A=$E2E_DIR/var
B=$E2E_DIR/var2
trap _e2e_finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Both stacks copy the template cluster the other e2e tests use.
key=$(pc_pg_template_key) || e2e_bail "cannot read the schema files"
export PC_PG_TEMPLATE=${PC_PG_TEMPLATE:-$tmp/profilecache-pgtpl-$key}
pc_pg_template_ensure "$PC_PG_TEMPLATE" || e2e_bail "cannot build the template cluster"

# e2e_cleanup: run by _e2e_finish after it stopped the stack in $A.
e2e_cleanup() {
	local pg
	[[ -d $B ]] || return 0
	pg=$(pc__pg_root "$B")
	pc_stack_stop "$B" || return 1
	rm -rf -- "$B"
	[[ $pg == /tmp/profilecache-pg.* ]] && rm -rf -- "$pg"
	return 0
}

# stack_var DIR NAME: NAME's value in DIR/stack.env (sourced in a subshell:
# this shell's environment never names the stack's directory).
# shellcheck source=/dev/null
stack_var() { (. "$1/stack.env" && printf '%s\n' "${!2}"); }

# wait_until SECONDS CMD...: poll CMD until it succeeds or SECONDS pass.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# stack_up DIR: the stack in DIR answers /v1/healthz and its flusher runs.
stack_up() {
	[[ -s $1/stack.env && -s $1/run/flush.pid ]] &&
		pc__pid_alive "$1/run/flush.pid" &&
		pc__http_ok "$(stack_var "$1" BASE_URL)/healthz"
}

# stack_pids DIR: every pid the stack's pid files name (PostgreSQL's too).
stack_pids() {
	local f
	for f in "$1"/run/*.pid "$(pc__pg_root "$1")/data/postmaster.pid"; do
		[[ -s $f ]] && grep -E '^[0-9]+$' -- "$f" | head -n 20
	done
	return 0
}

# procs_naming DIR: pids of processes (not this shell) whose command line or
# environment names DIR: the web server, the responders, the origin,
# PostgreSQL, the flusher.
procs_naming() {
	local p pid
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		if grep -qsF -- "$1" "$p/cmdline" "$p/environ" 2>/dev/null; then printf '%s ' "$pid"; fi
	done
	return 0
}

# check_stopped DIR PIDS... : nothing of the stack in DIR is left.
check_stopped() {
	local dir=$1 pid alive=() base p busy=
	shift
	for pid in "$@"; do pc__running "$pid" && alive+=("$pid"); done
	is "${alive[*]}" "" "$(basename -- "$dir"): every process of the pid files is gone"
	is "$(procs_naming "$dir")" "" "$(basename -- "$dir"): no process names the stack's directory"
	base=$(<"$dir/run/port_base")
	for ((p = base; p < base + 4; p++)); do pc_port_listening "$p" && busy+="$p "; done
	is "$busy" "" "$(basename -- "$dir"): its four ports are closed"
	is "$(compgen -G "$dir/run/*.pid" | tr '\n' ' ')" "" "$(basename -- "$dir"): the pid files were removed by the stop"
}

# group_gone PGID: no process is left in the process group.
group_gone() { ! pgrep -g "$1" >/dev/null; }

# interrupt PGID: Ctrl-C to the group, then wait (bounded) until it is gone;
# a group still there then is killed, and interrupt fails.
interrupt() {
	kill -INT -- "-$1" 2>/dev/null || true
	wait_until "$STOP_SECONDS" group_gone "$1" && return 0
	diag "process group $1 still runs $STOP_SECONDS s after SIGINT: $(pgrep -a -g "$1")"
	kill -KILL -- "-$1" 2>/dev/null || true
	return 1
}

plan 20

# --- a stack in the foreground, stdout to a file -------------------------------------------
base=$(pc_free_port_base) || e2e_bail "no free ports"
"${RUN[@]}" --no-build --var "$A" --port-base "$base" --server "$PC_WEB_SERVER" \
	>"$E2E_DIR/banner" 2>"$E2E_DIR/run.err" &
job=$!
wait_until "$START_SECONDS" grep -q 'Ctrl-C stops everything' "$E2E_DIR/banner" ||
	e2e_bail "scripts/run printed no banner: $(tail -n 20 "$E2E_DIR/run.err")"
banner=$(<"$E2E_DIR/banner")
like "$banner" 'flusher runs every 2 s' "the banner says the flusher runs, and how often"

# The banner's own lines, run as printed.
run_line() {
	local line
	line=$(grep -m1 -E -- "$1" "$E2E_DIR/banner") || return 1
	eval "$line" 2>/dev/null | tr -d '\r'
}
first=$(run_line '^    curl -i http')
second=$(run_line '^    curl -i http')
is "$(sed -n 's/^X-Cache: //p' <<<"$first")/$(sed -n 's/^X-Cache: //p' <<<"$second")" "MISS/HIT" \
	"the sample's first read is a MISS, the second a HIT: nothing read it before"
like "$(run_line 'If-None-Match')" '^HTTP/1\.1 304' "the conditional read answers 304"
write=$(run_line '-X PATCH')
like "$(head -n 1 <<<"$write")" '^HTTP/1\.1 202' "the owner's PATCH as printed: 202"
like "$write" '"sync":"pending"' "the write is pending"
like "$(run_line 'apikey: ')" '"is_private":true' "the admin's apikey example reads the private profile"

# The stack's flusher sends it: poll (a few flusher runs at most).
E2E_BASE=$(stack_var "$A" BASE_URL)
synced() {
	http GET "$E2E_BASE/profiles/$PC_SAMPLE_PROFILE_ID"
	[[ $(json .sync) == synced ]]
}
wait_until 60 synced || true
is "$(json .sync)/$(json .profile.bio)" "synced/Edited from the quick start." "the flusher made the write synced"
DATABASE_URL=$(stack_var "$A" DATABASE_URL) # psql_exec's
export DATABASE_URL
is "$(psql_exec "select bio from profiles where id = '$PC_SAMPLE_PROFILE_ID'")" "Edited from the quick start." \
	"the database holds it"

# stack.env: the programs on PATH, their configuration in PROFILECACHE_CONFIG.
rc=0
# shellcheck disable=SC2016 # expanded by the inner shell
out=$(env -i HOME="$HOME" PATH=/usr/sbin:/usr/bin:/sbin:/bin bash -c \
	'. "$0/stack.env" && command -v profilecache-flush && profilecache-flush && profilecache-admin status' "$A" 2>&1) || rc=$?
is "$rc/$(head -n 1 <<<"$out")" "0/$PC_BUILDDIR/profilecache-flush" \
	"after . stack.env, profilecache-flush is the build's, on PATH, and runs with no --config"
like "$out" 'pending: +0' "profilecache-admin finds the journal through PROFILECACHE_CONFIG"

# Ctrl-C.
stopped_pids=$(stack_pids "$A")
rc=0
if interrupt "$job"; then wait "$job" || rc=$?; else rc=timeout; fi
is "$rc" 130 "scripts/run ends on SIGINT, with 130"
# shellcheck disable=SC2086 # a list of pids
check_stopped "$A" $stopped_pids

# --- stdout and stderr a pipe whose reader is gone ---------------------------------------
base=$(pc_free_port_base) || e2e_bail "no free ports"
"${RUN[@]}" --no-build --var "$B" --port-base "$base" --server "$PC_WEB_SERVER" 2>&1 |
	head -n 1 >"$E2E_DIR/first" &
pgid=$(ps -o pgid= "$!" | tr -d ' ')
wait_until "$START_SECONDS" stack_up "$B" || e2e_bail "the stack behind | head did not come up (logs in $B/log)"
# The banner went to the closed pipe; scripts/run goes on to watch the stack
# (watch_stack's "sleep 1", after the banner) and the stack keeps running.
watching() { pgrep -g "$1" -f '^sleep 1$' >/dev/null; }
rc=0
wait_until "$START_SECONDS" watching "$pgid" || rc=$?
pc__pid_alive "$B/run/flush.pid" || rc=1
ok "$rc" "| head -n 1: past the banner, scripts/run watches the stack, which runs on"
stopped_pids=$(stack_pids "$B")
if interrupt "$pgid"; then wait || true; fi
# shellcheck disable=SC2086 # a list of pids
check_stopped "$B" $stopped_pids
