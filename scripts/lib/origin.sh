# shellcheck shell=bash
# The origin: pgrest-lite in front of the stack's database.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- origin (pgrest-lite) -----------------------------------------------------------

# pc_start_origin VAR_DIR [PGREST-LITE-ARG...]: pgrest-lite on
# 127.0.0.1:PORT_BASE+1 against the stack's database, extra arguments (e.g.
# --delay-ms 300) passed through, log in VAR_DIR/log/origin.log. It serves the
# Supabase Storage subset too, at http://127.0.0.1:PORT_BASE+1/storage/v1, its
# objects under VAR_DIR/storage (one directory per bucket: "avatars").
pc_start_origin() {
	local var=$1 base port
	shift
	base=$(pc__port_base "$var") || return 1
	port=$((base + 1))
	[[ -x $PC_ORIGIN_BIN ]] || pc_err "origin: $PC_ORIGIN_BIN is not built (run make)" || return 1
	if pc_port_listening "$port"; then pc_err "origin: port $port is already taken"; return 1; fi
	pc__spawn "$var/run/origin.pid" "$var/log/origin.log" "$PC_ORIGIN_BIN" \
		--listen "127.0.0.1:$port" \
		--db "postgresql://$PC_ORIGIN_DB_USER@127.0.0.1:$((base + 3))/$PC_DB_NAME" \
		--service-key-file "$var/secrets/service.key" \
		--anon-key-file "$var/secrets/anon.key" \
		--storage-dir "$var/storage" "$@" || return 1
	# Any answer will do: a GET /profiles would be counted as an origin read.
	pc__wait "origin (pgrest-lite)" "$var/log/origin.log" "$var/run/origin.pid" \
		pc__http_answers "http://127.0.0.1:$port/"
}

pc_stop_origin() { pc__stop_pidfile origin "$1/run/origin.pid" "${PC_ORIGIN_BIN##*/}"; }
