# shellcheck shell=bash
# The flusher loop: profilecache-flush every few seconds, as cron would run it.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- the flusher loop -----------------------------------------------------------

# pc_start_flusher VAR_DIR SECONDS: run profilecache-flush on the stack's
# config every SECONDS (a run, then a pause), as cron would every minute, as
# the user the responders run as (so either can write the journal), in the
# background: its pid (the loop's) in VAR_DIR/run/flush.pid, its output in
# VAR_DIR/log/flush.log. The flusher is silent when there is nothing to do.
# pc_stop_flusher stops the loop and a run in progress (a run killed halfway
# leaves its entries pending, for the next one).
pc_start_flusher() {
	local var=$1 seconds=$2
	local -a as=()
	[[ $seconds =~ ^[0-9]+([.][0-9]+)?$ ]] || pc_err "flusher: bad interval '$seconds'" || return 1
	[[ -x $PC_FLUSH_BIN ]] || pc_err "flusher: $PC_FLUSH_BIN is not built (run make)" || return 1
	if pc__pid_alive "$var/run/flush.pid" bash; then pc_err "a flusher already runs (pid file $var/run/flush.pid)"; return 1; fi
	if ((EUID == 0)) && [[ $(pc_web_server "$var") != lighttpd ]]; then
		as=(setpriv --reuid="$PC_WEB_USER" --regid="$(id -g "$PC_WEB_USER")" --init-groups)
	fi
	# shellcheck disable=SC2016 # expanded by the inner shell
	pc__spawn "$var/run/flush.pid" "$var/log/flush.log" "${as[@]}" bash -c '
		trap "kill \$c 2>/dev/null; exit 0" TERM INT HUP
		while :; do
			"$0" --config "$1" & c=$!
			wait "$c"
			sleep "$2" & c=$!
			wait "$c"
		done' "$PC_FLUSH_BIN" "$var/profilecache.conf" "$seconds"
}

pc_stop_flusher() { pc__stop_pidfile flusher "$1/run/flush.pid" bash; }
