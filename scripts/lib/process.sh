# shellcheck shell=bash
# Processes and ports: daemons started in a session of their own, waited
# for, stopped by pid file (never by name); free ports.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- processes ----------------------------------------------------------------

# pc__running PID: the process exists and is not a zombie.
pc__running() {
	local stat
	[[ $1 =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

# pc__pid_alive PIDFILE [EXE]: PIDFILE names a running process and, when EXE
# is given, that process's executable is named EXE (a pid reused by some other
# program is not ours).
pc__pid_alive() {
	local pidfile=$1 exe=${2:-} pid path
	[[ -s $pidfile ]] || return 1
	pid=$(<"$pidfile")
	pc__running "$pid" || return 1
	[[ -z $exe ]] && return 0
	path=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	path=${path% (deleted)}
	[[ ${path##*/} == "$exe" ]]
}

# pc__close_fds: close every descriptor above 2 in the current (sub)shell, so
# a daemon does not keep a caller's pipe open (the test driver reads a test's
# output until every writer is gone).
pc__close_fds() {
	local fd
	for fd in "/proc/$BASHPID/fd"/*; do
		fd=${fd##*/}
		((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
	done
	return 0
}

# pc__spawn PIDFILE LOGFILE CMD...: run CMD in the background, in a session of
# its own (a Ctrl-C meant for the caller does not reach it) and not as a child
# of the caller; stdin from /dev/null, stdout and stderr appended to LOGFILE,
# its pid in PIDFILE.
pc__spawn() {
	local pidfile=$1 logfile=$2 i
	shift 2
	rm -f -- "$pidfile"
	# The inner "&" inside a subshell that returns at once: the daemon is not
	# our child, so a caller's bare "wait" does not wait for it.
	(
		pc__close_fds
		# A caller that ignores SIGPIPE (scripts/run) must not pass that on.
		trap - PIPE
		# shellcheck disable=SC2016 # expanded by the inner shell
		setsid bash -c 'echo "$$" >"$0" && exec "$@"' "$pidfile" "$@" &
	) </dev/null >>"$logfile" 2>&1
	for ((i = 0; i < 100; i++)); do
		[[ -s $pidfile ]] && return 0
		sleep 0.05
	done
	pc_err "could not start $1 (no pid file $pidfile)"
}

# pc__stop_pidfile NAME PIDFILE EXE: SIGTERM the process, SIGKILL it after
# 10 s, remove PIDFILE. A pid file naming a dead or foreign process is only
# removed.
pc__stop_pidfile() {
	local name=$1 pidfile=$2 exe=$3 pid i
	if ! pc__pid_alive "$pidfile" "$exe"; then
		rm -f -- "$pidfile"
		return 0
	fi
	pid=$(<"$pidfile")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		pc__running "$pid" || break
		sleep 0.1
	done
	if pc__running "$pid"; then
		pc_log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f -- "$pidfile"
}

# pc__wait NAME LOGFILE PIDFILE CMD...: poll CMD until it succeeds (return 0),
# or the process in PIDFILE (may be "") is gone, or PC_WAIT_SECONDS pass; then
# name the component, print the end of its log and return 1.
pc__wait() {
	local name=$1 logfile=$2 pidfile=$3 why deadline
	shift 3
	deadline=$((SECONDS + PC_WAIT_SECONDS))
	while :; do
		"$@" && return 0
		if [[ -n $pidfile ]] && ! pc__pid_alive "$pidfile"; then
			why="exited during startup"
			break
		fi
		if ((SECONDS >= deadline)); then
			why="not ready after ${PC_WAIT_SECONDS} s"
			break
		fi
		sleep 0.1
	done
	pc_log "error: $name $why"
	pc__tail_log "$name" "$logfile"
	return 1
}

# --- ports ------------------------------------------------------------------

# pc_port_listening PORT: some socket listens on TCP PORT (any address, v4 or
# v6), according to /proc/net/tcp*.
pc_port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p="$hex" 'FNR > 1 { split($2, a, ":"); if (a[2] == p && $4 == "0A") f = 1 }
		END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# pc_ports_busy BASE: print the ports of BASE..BASE+3 that are taken.
pc_ports_busy() {
	local p
	for ((p = $1; p < $1 + 4; p++)); do
		pc_port_listening "$p" && printf '%s ' "$p"
	done
	return 0
}

# pc_free_port_base: print a random base with BASE..BASE+3 free, from 20000 up
# to the start of the kernel's ephemeral range (so that outgoing connections
# never take a port a later stack wants).
pc_free_port_base() {
	local lo=20000 hi=32000 eph base i
	read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph=32768
	((eph - 4 > lo)) && hi=$((eph - 4))
	for ((i = 0; i < 100; i++)); do
		base=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		[[ -z $(pc_ports_busy "$base") ]] && {
			printf '%s\n' "$base"
			return 0
		}
	done
	pc_err "found no 4 free consecutive ports in $lo-$hi"
}

# pc__pids_alive PIDFILE: some pid listed in PIDFILE (one per line) runs.
pc__pids_alive() {
	local pid
	[[ -s $1 ]] || return 1
	while read -r pid || [[ -n $pid ]]; do pc__running "$pid" && return 0; done <"$1"
	return 1
}

# pc__stop_pids NAME PIDFILE EXE: pc__stop_pidfile for a pid file listing
# several processes (spawn-fcgi -F N): SIGTERM those that still run EXE,
# SIGKILL what is left after 10 s, remove PIDFILE.
pc__stop_pids() {
	local name=$1 pidfile=$2 exe=$3 pid path i alive
	local -a pids=()
	[[ -f $pidfile ]] || return 0
	while read -r pid || [[ -n $pid ]]; do
		pc__running "$pid" || continue
		path=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
		path=${path% (deleted)}
		[[ ${path##*/} == "$exe" ]] && pids+=("$pid")
	done <"$pidfile"
	((${#pids[@]})) && kill -TERM "${pids[@]}" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		alive=0
		for pid in "${pids[@]}"; do pc__running "$pid" && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if pc__running "$pid"; then
			pc_log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	rm -f -- "$pidfile"
}
