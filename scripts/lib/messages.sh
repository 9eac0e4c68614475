# shellcheck shell=bash
# Messages: what the scripts say, and the end of a component's log.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- messages ---------------------------------------------------------------

# A message that cannot be written (stderr a closed pipe, with SIGPIPE ignored)
# is dropped: it never stops what the caller was doing.
pc_log() { printf '%s: %s\n' "${PC_PROG:-profilecache}" "$*" >&2 || :; }
pc_err() { pc_log "error: $*"; return 1; }
pc_die() {
	pc_log "error: $*"
	exit 1
}

# pc__tail_log NAME FILE: print the end of a component's log to stderr.
pc__tail_log() {
	local name=$1 file=$2
	if [[ -s $file ]]; then
		pc_log "last lines of $name's log ($file):"
		tail -n "${PC_TAIL_LINES:-30}" -- "$file" | sed 's/^/    /' >&2
	else
		pc_log "$name's log ($file) is empty"
	fi
}
