# shellcheck shell=bash
# The responder's configuration and the web server in front of it: which
# one, starting and stopping it, what its user may read and write.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- responder and web servers ------------------------------------------------------

# pc__write_responder_config VAR_DIR: VAR_DIR/profilecache.conf from the
# example, with this stack's addresses and paths (avatars in the store
# PC_AVATAR_BACKEND names), then the overrides in PC_CONF_SET
# ("section.key=value ...", keys that the example has), then the sections of
# the file PC_CONF_APPEND names (resource declarations, for instance).
pc__write_responder_config() {
	local var=$1 base
	local -a extra=() store=()
	base=$(pc__port_base "$var") || return 1
	# supabase: public_url is the bucket's public URL (its default, but the
	# example's local one must be replaced).
	[[ $PC_AVATAR_BACKEND != supabase ]] ||
		store=("avatar.backend=supabase"
			"avatar.storage_url=http://127.0.0.1:$((base + 1))/storage/v1"
			"avatar.public_url=http://127.0.0.1:$((base + 1))/storage/v1/object/public/avatars")
	read -r -a extra <<<"${PC_CONF_SET:-}"
	pc__ini_set "$PC_ROOT/etc/profilecache.conf.example" "$var/profilecache.conf" \
		"origin.url=http://127.0.0.1:$((base + 1))" \
		"origin.service_key_file=$var/secrets/service.key" \
		"cache.servers=127.0.0.1:$((base + 2))" \
		"journal.path=$var/journal.db" \
		"auth.jwt_secret_file=$var/secrets/jwt.secret" \
		"avatar.dir=$var/www/avatars" \
		"avatar.public_url=http://127.0.0.1:$base/avatars" \
		"avatar.helper=$PC_BUILDDIR/profilecache-image" \
		"log.level=$PC_LOG_LEVEL" \
		"${store[@]}" "${extra[@]}" || return 1
	[[ -z ${PC_CONF_APPEND:-} ]] || cat -- "$PC_CONF_APPEND" >>"$var/profilecache.conf"
}

# The web servers a stack can run in front of the responder, chosen with
# PC_WEB_SERVER (default lighttpd) when the stack starts, and recorded in
# VAR_DIR/run/web_server:
#   lighttpd      etc/lighttpd/profilecache.conf.in; lighttpd spawns the responders
#   apache-fcgid  etc/apache/profilecache-fcgid.conf.in; mod_fcgid spawns them
#   apache-cgi    etc/apache/profilecache-cgi.conf.in; one responder per request
#   nginx         etc/nginx/profilecache.conf.in; spawn-fcgi starts 4 responders
# lighttpd and its responders keep root's identity (a local stack only).
# Apache refuses to serve as root, so Apache and its responders, and nginx's
# workers and responders for the same setup, run as PC_WEB_USER, the user
# the templates name; pc__grant_web_user lets it read and write what the
# responder needs.
PC_WEB_SERVERS_ALL=(lighttpd apache-fcgid apache-cgi nginx)
PC_WEB_SERVER=${PC_WEB_SERVER:-lighttpd}
PC_WEB_USER=www-data

# pc_web_server_valid NAME: NAME is one of PC_WEB_SERVERS_ALL.
pc_web_server_valid() {
	local s
	for s in "${PC_WEB_SERVERS_ALL[@]}"; do [[ $1 == "$s" ]] && return 0; done
	return 1
}

# pc_web_server VAR_DIR: print the web server of the stack in VAR_DIR (as
# recorded when it started; $PC_WEB_SERVER for a stack never started).
pc_web_server() {
	local s
	s=$(cat "$1/run/web_server" 2>/dev/null) || s=
	printf '%s\n' "${s:-$PC_WEB_SERVER}"
}

# pc__web_proc SERVER: the web server's program name (its pid file is
# VAR_DIR/run/NAME.pid, its log VAR_DIR/log/NAME.log).
pc__web_proc() {
	case $1 in
	apache-*) printf 'apache2\n' ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# pc__web_log SERVER VAR_DIR: where the responder's stderr goes.
pc__web_log() {
	case $1 in
	nginx) printf '%s\n' "$2/log/responder.log" ;;
	*) printf '%s\n' "$2/log/$(pc__web_proc "$1").log" ;;
	esac
}

# pc__web_config SERVER VAR_DIR: the web server's generated configuration.
pc__web_config() {
	case $1 in
	lighttpd) printf '%s\n' "$2/lighttpd.conf" ;;
	apache-*) printf '%s\n' "$2/apache2.conf" ;;
	nginx) printf '%s\n' "$2/nginx.conf" ;;
	esac
}

# pc_start_web VAR_DIR: write the responder's config and start the stack's web
# server (pc_web_server) on 127.0.0.1:PORT_BASE; returns once it answers HTTP.
pc_start_web() {
	local var=$1 server
	server=$(pc_web_server "$var")
	case $server in
	lighttpd) pc__start_lighttpd "$var" ;;
	apache-fcgid) pc__start_apache "$var" fcgid ;;
	apache-cgi) pc__start_apache "$var" cgi ;;
	nginx) pc__start_nginx "$var" ;;
	*) pc_err "unknown web server '$server' (PC_WEB_SERVER: ${PC_WEB_SERVERS_ALL[*]})" ;;
	esac
}

# pc_stop_web VAR_DIR: stop whichever web server (and responders) the stack
# in VAR_DIR runs, by pid file. Safe to call again.
pc_stop_web() {
	local var=$1 rc=0
	pc__stop_pidfile lighttpd "$var/run/lighttpd.pid" lighttpd || rc=1
	pc__stop_pidfile apache2 "$var/run/apache2.pid" apache2 || rc=1
	pc__stop_pidfile nginx "$var/run/nginx.pid" nginx || rc=1
	pc__stop_pids responder "$var/run/spawn-fcgi.pid" "${PC_FCGI_BIN##*/}" || rc=1
	return "$rc"
}

# pc__web_running VAR_DIR: some web server or responder of the stack runs.
pc__web_running() {
	pc__pid_alive "$1/run/lighttpd.pid" || pc__pid_alive "$1/run/apache2.pid" ||
		pc__pid_alive "$1/run/nginx.pid" || pc__pids_alive "$1/run/spawn-fcgi.pid"
}

# Kept for callers written before the choice of web server: they restart the
# stack's web server, whichever it is.
pc_start_lighttpd() { pc_start_web "$@"; }
pc_stop_lighttpd() { pc_stop_web "$@"; }

# pc__grant_web_user VAR_DIR: when we are root, let PC_WEB_USER read the
# responder's config and secret files (group-readable: the responder refuses
# world-readable secrets) and write the journal's directory, its files (also
# those root's flusher or admin tool made) and the avatar directory, as a
# deployment must (etc/apache/*.conf.in). Paths come from the responder's
# config through profilecache-admin paths (pc__paths), so overrides
# (PC_CONF_SET) are followed and the names of the files beside the journal
# are the C side's. Changes only what is not so already (a journal on a
# read-only filesystem stays as it is).
pc__grant_web_user() {
	local var=$1 wuser=$PC_WEB_USER conf=$1/profilecache.conf group key f d journal metrics avatars
	local -A paths=()
	((EUID == 0)) || return 0
	id -u "$wuser" >/dev/null 2>&1 || pc_err "the web server's user $wuser does not exist" || return 1
	group=$(id -gn "$wuser")
	pc__paths "$conf" paths || return 1
	for key in service_key_file jwt_secret_file jwks_file metrics_token_file; do
		f=${paths[$key]}
		[[ -n $f && -f $f ]] || continue
		pc__grant "$f" "" "$group" 040 || return 1
		d=$(dirname -- "$f")
		runuser -u "$wuser" -- test -x "$d" || pc__grant "$d" "" "$group" 010 || return 1
	done
	journal=${paths[journal]}
	metrics=${paths[metrics]}
	for d in "$(dirname -- "$journal")" "$(dirname -- "$metrics")" "$var/tmp"; do
		# $var/tmp: Apache keeps large request bodies in TMPDIR.
		[[ -d $d ]] || mkdir -p -- "$d" || return 1
		pc__grant "$d" "" "$group" 070 || return 1
	done
	for key in journal journal_wal journal_shm journal_wlock journal_sync flush_lock metrics \
		jwks_cache jwks_lock row_lock decode_slots; do
		f=${paths[$key]}
		[[ -n $f && -e $f ]] || continue
		pc__grant "$f" "$wuser" "$group" 000 || return 1
	done
	# The responder opens the journal at its first use; created now, by the
	# web server's user, it is never one that root's flusher or sqlite3 made.
	if [[ ! -e $journal ]]; then
		runuser -u "$wuser" -- "$PC_BUILDDIR/profilecache-admin" --config "$conf" init >/dev/null ||
			pc_err "profilecache-admin init (as $wuser) could not create the journal $journal" || return 1
	fi
	avatars=${paths[avatar_dir]}
	[[ -n $avatars ]] || return 0
	[[ -d $avatars ]] || mkdir -p -- "$avatars" || return 1
	# Its subdirectories too (a responder running as root made them).
	while IFS= read -r -d '' d; do
		pc__grant "$d" "$wuser" "$group" 070 || return 1
	done < <(find "$avatars" -type d -print0)
}

# pc__grant PATH OWNER GROUP GROUP-BITS: make PATH belong to OWNER (unless
# empty) and GROUP, with at least GROUP-BITS (octal, e.g. 070) for the group,
# and nothing for others when the bits include read of a file (a secret);
# touches nothing that is so already.
pc__grant() {
	local path=$1 owner=$2 group=$3 bits=$4 have_u have_g mode
	read -r have_u have_g mode < <(stat -c '%U %G %a' -- "$path") || return 1
	if [[ -n $owner && $have_u != "$owner" ]] || [[ $have_g != "$group" ]]; then
		chown "${owner:-$have_u}:$group" -- "$path" || return 1
	fi
	if (((8#$mode & 8#$bits) != 8#$bits)); then
		chmod "g+$(pc__bits_letters "$bits")" -- "$path" || return 1
	fi
	if [[ -f $path && $bits == 040 ]] && ((8#$mode & 8#007)); then
		chmod o-rwx -- "$path" || return 1
	fi
	return 0
}

# pc__bits_letters GROUP-BITS: 070 -> rwx, 040 -> r, 010 -> x, 060 -> rw.
pc__bits_letters() {
	local b=$((8#$1 >> 3)) l=
	((b & 4)) && l+=r
	((b & 2)) && l+=w
	((b & 1)) && l+=x
	printf '%s\n' "$l"
}

# pc__check_config NAME LOG CMD...: run a web server's configuration test;
# on failure print its output and return 1.
pc__check_config() {
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 && return 0
	pc_log "error: $name rejects its configuration:"
	sed 's/^/    /' "$log" >&2
	return 1
}
