# shellcheck shell=bash
# memcached: a stack's cache server, and one command at a time to it.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# pc_memcached_cmd PORT COMMAND: send one text-protocol command to memcached on
# 127.0.0.1:PORT and print the first line of the answer (no CR).
pc_memcached_cmd() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
		printf "%s\r\n" "$1" >&3
		IFS= read -r line <&3 && printf "%s\n" "$line"' "$1" "$2" 2>/dev/null | tr -d '\r'
}
pc__memcached_ready() { [[ $(pc_memcached_cmd "$1" version) == VERSION* ]]; }

# --- memcached ----------------------------------------------------------------

# pc_start_memcached VAR_DIR: memcached on 127.0.0.1:PORT_BASE+2, TCP only.
pc_start_memcached() {
	local var=$1 base port
	local -a user=()
	base=$(pc__port_base "$var") || return 1
	port=$((base + 2))
	if ((EUID == 0)); then
		if id memcache >/dev/null 2>&1; then user=(-u memcache); else user=(-u nobody); fi
	fi
	if pc_port_listening "$port"; then pc_err "memcached: port $port is already taken"; return 1; fi
	pc__spawn "$var/run/memcached.pid" "$var/log/memcached.log" \
		memcached -l 127.0.0.1 -p "$port" -U 0 -m "$PC_MEMCACHED_MB" -c 1024 "${user[@]}" || return 1
	pc__wait memcached "$var/log/memcached.log" "$var/run/memcached.pid" pc__memcached_ready "$port"
}

pc_stop_memcached() { pc__stop_pidfile memcached "$1/run/memcached.pid" memcached; }
