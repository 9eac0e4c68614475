# shellcheck shell=bash
# A whole stack: its layout, start and stop, stack.env, and more web nodes.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- the stack ------------------------------------------------------------------

# pc__write_env VAR_DIR: VAR_DIR/stack.env (mode 0600: it holds the JWT secret).
# The journal, the files beside it and the avatar directory are the ones the
# responder's config makes the programs use (pc__paths), overrides included.
pc__write_env() {
	local var=$1 base root tmp name server
	local -A paths=()
	base=$(pc__port_base "$var") && pc__paths "$var/profilecache.conf" paths || return 1
	root=$(pc__pg_root "$var")
	server=$(pc_web_server "$var")
	local -A env=(
		[BASE_URL]="http://127.0.0.1:$base/v1"
		[HTTP_URL]="http://127.0.0.1:$base"
		[DATABASE_URL]="postgresql://postgres@127.0.0.1:$((base + 3))/$PC_DB_NAME"
		[ORIGIN_DATABASE_URL]="postgresql://$PC_ORIGIN_DB_USER@127.0.0.1:$((base + 3))/$PC_DB_NAME"
		[MEMCACHED_SERVERS]="127.0.0.1:$((base + 2))"
		[MEMCACHED_PORT]="$((base + 2))"
		[ORIGIN_URL]="http://127.0.0.1:$((base + 1))"
		[SERVICE_KEY_FILE]="$var/secrets/service.key"
		[ANON_KEY_FILE]="$var/secrets/anon.key"
		[JWT_SECRET_FILE]="$var/secrets/jwt.secret"
		[JWT_SECRET]="$(<"$var/secrets/jwt.secret")"
		[JOURNAL_PATH]="${paths[journal]}"
		[JOURNAL_WLOCK_FILE]="${paths[journal_wlock]}"
		[FLUSH_LOCK_FILE]="${paths[flush_lock]}"
		[JWKS_CACHE_FILE]="${paths[jwks_cache]}"
		[METRICS_FILE]="${paths[metrics]}"
		[CONFIG_PATH]="$var/profilecache.conf"
		[LIGHTTPD_CONFIG]="$var/lighttpd.conf"
		[DOCUMENT_ROOT]="$var/www"
		[DEMO_URL]="$([[ -f $var/www/demo/index.html ]] && printf 'http://127.0.0.1:%s/demo/' "$base")"
		[AVATAR_DIR]="${paths[avatar_dir]}"
		[STORAGE_URL]="http://127.0.0.1:$((base + 1))/storage/v1"
		[STORAGE_DIR]="$var/storage"
		[SAMPLE_PROFILE_ID]="$PC_SAMPLE_PROFILE_ID"
		[VAR_DIR]="$var"
		[PORT_BASE]="$base"
		[ORIGIN_LOG]="$var/log/origin.log"
		[LIGHTTPD_LOG]="$var/log/lighttpd.log"
		[MEMCACHED_LOG]="$var/log/memcached.log"
		[POSTGRES_LOG]="$root/postgres.log"
		[PG_DATA]="$root/data"
		[PG_SOCKET_DIR]="$root/run"
		[LIGHTTPD_PID_FILE]="$var/run/lighttpd.pid"
		[ORIGIN_PID_FILE]="$var/run/origin.pid"
		[MEMCACHED_PID_FILE]="$var/run/memcached.pid"
		[POSTGRES_PID_FILE]="$root/data/postmaster.pid"
		[WEB_SERVER]="$server"
		[WEB_CONFIG]="$(pc__web_config "$server" "$var")"
		[WEB_LOG]="$(pc__web_log "$server" "$var")"
		[WEB_PID_FILE]="$var/run/$(pc__web_proc "$server").pid"
		[PROFILECACHE_CONFIG]="$var/profilecache.conf"
		[FLUSH_LOG]="$var/log/flush.log"
		[FLUSH_PID_FILE]="$var/run/flush.pid"
		[BUILD_DIR]="$PC_BUILDDIR"
	)
	tmp=$var/stack.env.tmp
	(
		umask 077
		{
			printf '# profilecache stack in %s, written by scripts/lib.sh. Source it.\n' "$var"
			for name in $(printf '%s\n' "${!env[@]}" | LC_ALL=C sort); do
				printf '%s=%s\n' "$name" "$(pc__shquote "${env[$name]}")"
			done
			# The programs (profilecache-flush, profilecache-admin, ...)
			# on PATH, taking PROFILECACHE_CONFIG when --config is absent.
			# shellcheck disable=SC2016 # $PATH is the sourcing shell's
			printf 'case ":$PATH:" in *:%s:*) ;; *) PATH=%s:$PATH ;; esac\n' \
				"$(pc__shquote "$PC_BUILDDIR")" "$(pc__shquote "$PC_BUILDDIR")"
			printf 'export PATH PROFILECACHE_CONFIG\n'
		} >"$tmp"
	) && mv -f -- "$tmp" "$var/stack.env"
}

# pc__stack_layout VAR_DIR PORT_BASE: the directories, secrets and port record.
pc__stack_layout() {
	local var=$1 base=$2 d
	for d in log run www www/avatars tmp storage/avatars; do mkdir -p -- "$var/$d" || return 1; done
	mkdir -p -- "$var/secrets" && chmod 0700 "$var/secrets" || return 1
	touch -- "$var/.profilecache-stack"
	printf '%s\n' "$base" >"$var/run/port_base"
	# Supabase's key formats: the secret key (also the responder's admin
	# credential, sent in apikey) and the publishable key.
	pc__ensure_secret "$var/secrets/service.key" sb_secret_ &&
		pc__ensure_secret "$var/secrets/anon.key" sb_publishable_ &&
		pc__ensure_secret "$var/secrets/jwt.secret"
}

# pc__install_demo VAR_DIR: the demo page (clients/demo/ and
# clients/js/profilecache.js) copied to VAR_DIR/www/demo/, and beside it
# demo-config.json: the API's path, the sample profile and a token for its
# owner signed with the stack's JWT secret, valid PC_DEMO_TOKEN_SECONDS
# (default 12 h; every start writes a new one). Only for these local stacks:
# their web server listens on 127.0.0.1, and the token is a sample user's of a
# local database; a deployment has no such file. PC_DEMO=0 leaves it out.
pc__install_demo() {
	local var=$1 dir=$1/www/demo src=$PC_ROOT/clients now token
	rm -rf -- "$dir"
	[[ ${PC_DEMO:-1} == 1 && -f $src/demo/index.html ]] || return 0
	mkdir -p -- "$dir" &&
		cp -- "$src/demo/index.html" "$src/demo/demo.js" "$src/js/profilecache.js" "$dir/" ||
		pc_err "cannot copy the demo page to $dir" || return 1
	now=$(date +%s)
	token=$(pc_jwt_hs256 "$(<"$var/secrets/jwt.secret")" \
		"$(printf '{"sub":"%s","role":"authenticated","aud":"authenticated","iat":%d,"exp":%d}' \
			"$PC_SAMPLE_PROFILE_ID" "$now" "$((now + ${PC_DEMO_TOKEN_SECONDS:-43200}))")") ||
		pc_err "cannot sign the demo's token" || return 1
	printf '{"baseUrl":"/v1","profileId":"%s","token":"%s","expiresAt":%d}\n' \
		"$PC_SAMPLE_PROFILE_ID" "$token" "$((now + ${PC_DEMO_TOKEN_SECONDS:-43200}))" >"$dir/demo-config.json" &&
		chmod -R a+rX -- "$dir"
}

# pc_stack_running VAR_DIR: some part of the stack in VAR_DIR runs.
pc_stack_running() {
	local var=$1
	pc__web_running "$var" ||
		pc__pid_alive "$var/run/flush.pid" bash ||
		pc__pid_alive "$var/run/origin.pid" ||
		pc__pid_alive "$var/run/memcached.pid" ||
		pc__pid_alive "$(pc__pg_root "$var")/data/postmaster.pid"
}

# pc__abspath DIR: create DIR and print its absolute path.
pc__abspath() { mkdir -p -- "$1" && (cd -- "$1" && pwd -P); }

# pc_stack_start VAR_DIR PORT_BASE [PGREST-LITE-ARG...]: start PostgreSQL,
# memcached, the origin and the web server named by PC_WEB_SERVER (default
# lighttpd) with the responder, wait until GET /v1/healthz is 200 and write
# VAR_DIR/stack.env. Returns 2 without touching anything when the stack
# already runs, a port is taken or the web server is unknown, and 2 after
# stopping what it started when a part found its port taken meanwhile; on any
# other failure stops what it started and returns 1.
pc_stack_start() {
	local var=$1 base=$2 busy
	shift 2
	pc_web_server_valid "$PC_WEB_SERVER" ||
		pc_err "unknown web server '$PC_WEB_SERVER' (PC_WEB_SERVER: ${PC_WEB_SERVERS_ALL[*]})" || return 2
	[[ $base =~ ^[0-9]+$ ]] && ((base >= 1024 && base <= 65531)) ||
		pc_err "port base must be a number from 1024 to 65531, not '$base'" || return 2
	var=$(pc__abspath "$var") || pc_err "cannot create $var" || return 2
	[[ $var != *[\"\\$'\n']* ]] || pc_err "VAR_DIR may not contain quotes, backslashes or newlines: $var" || return 2
	((${#var} <= 80)) || pc_err "VAR_DIR is too long for unix socket paths (max 80 chars): $var" || return 2
	if pc_stack_running "$var"; then
		pc_err "a stack is already running in $var (stop it with: scripts/run --stop --var $var)"
		return 2
	fi
	busy=$(pc_ports_busy "$base")
	[[ -z $busy ]] || pc_err "port(s) ${busy% } already in use (the stack needs $base-$((base + 3)); pick another --port-base)" || return 2
	if ! pc__stack_start_parts "$var" "$base" "$@"; then
		pc_stack_stop "$var"
		# Free a moment ago is not free now: another stack starting at the
		# same time can take a port first (a part then logs the bind's
		# failure, or refuses to start on a port someone else now listens
		# on, which the ports still taken show). Tell the caller to pick
		# others.
		if grep -qis 'address already in use' "$var"/log/* ||
			[[ -n $(pc_ports_busy "$base") ]]; then
			pc_err "a port of $base-$((base + 3)) was taken while the stack started"
			return 2
		fi
		return 1
	fi
}

pc__stack_start_parts() {
	local var=$1 base=$2 proc
	shift 2
	proc=$(pc__web_proc "$PC_WEB_SERVER")
	pc__stack_layout "$var" "$base" &&
		printf '%s\n' "$PC_WEB_SERVER" >"$var/run/web_server" &&
		pc_start_postgres "$var" &&
		pc_start_memcached "$var" &&
		pc_start_origin "$var" "$@" &&
		pc__install_demo "$var" &&
		pc_start_web "$var" &&
		pc__write_env "$var" &&
		pc__wait "responder (GET /v1/healthz through $PC_WEB_SERVER)" \
			"$(pc__web_log "$PC_WEB_SERVER" "$var")" "$var/run/$proc.pid" \
			pc__http_ok "http://127.0.0.1:$base/v1/healthz"
}

# pc_stack_stop VAR_DIR: stop every part the stack in VAR_DIR runs, by its pid
# file (never by name). Safe to call again and on a partial stack.
pc_stack_stop() {
	local var=$1 rc=0
	[[ -d $var ]] || return 0
	pc_stop_flusher "$var" || rc=1
	pc_stop_web "$var" || rc=1
	pc_stop_origin "$var" || rc=1
	pc_stop_memcached "$var" || rc=1
	pc_stop_postgres "$var" || rc=1
	return "$rc"
}

# pc_stack_destroy VAR_DIR: stop the stack and delete VAR_DIR and its cluster.
# Refuses a directory that no stack was ever started in.
pc_stack_destroy() {
	local var=$1 root
	[[ -d $var ]] || return 0
	[[ -f $var/.profilecache-stack ]] || pc_err "$var does not look like a stack's directory; not deleting it" || return 1
	pc_stack_stop "$var" || return 1
	if [[ -f $var/pg.location ]]; then
		root=$(<"$var/pg.location")
		[[ $root == /tmp/profilecache-pg.* ]] && rm -rf -- "$root"
	fi
	rm -rf -- "$var"
}

# pc_start_web_node NODE_DIR PORT STACK_VAR_DIR CACHE_SERVERS: one more web
# node beside the stack in STACK_VAR_DIR, as another machine would run it: a
# web server (PC_WEB_SERVER) with its responders on 127.0.0.1:PORT, and its
# own config, journal (NODE_DIR/journal.db) and logs under NODE_DIR, but the
# stack's origin and secrets and the memcached servers CACHE_SERVERS
# ("host:port,host:port", the ring every node shares). PC_CONF_SET applies on
# top. The node's flusher is profilecache-flush --config
# NODE_DIR/profilecache.conf; pc_stop_web NODE_DIR stops the node. Returns once
# its GET /v1/healthz answers 200.
pc_start_web_node() {
	local dir=$1 port=$2 stack=$3 servers=$4 base d proc conf
	base=$(pc__port_base "$stack") || return 1
	dir=$(pc__abspath "$dir") || pc_err "cannot create $1" || return 1
	for d in log run www/avatars tmp; do mkdir -p -- "$dir/$d" || return 1; done
	# Only PORT itself is used: pc__write_responder_config's other ports
	# (PORT+1.., the stack's own) are replaced by the stack's below.
	printf '%s\n' "$port" >"$dir/run/port_base" &&
		printf '%s\n' "$PC_WEB_SERVER" >"$dir/run/web_server" || return 1
	proc=$(pc__web_proc "$PC_WEB_SERVER")
	conf="origin.url=http://127.0.0.1:$((base + 1)) cache.servers=$servers"
	conf+=" origin.service_key_file=$stack/secrets/service.key auth.jwt_secret_file=$stack/secrets/jwt.secret"
	[[ $PC_AVATAR_BACKEND != supabase ]] ||
		conf+=" avatar.storage_url=http://127.0.0.1:$((base + 1))/storage/v1 avatar.public_url=http://127.0.0.1:$((base + 1))/storage/v1/object/public/avatars"
	PC_CONF_SET="$conf ${PC_CONF_SET:-}" pc_start_web "$dir" &&
		pc__wait "node $dir (GET /v1/healthz through $PC_WEB_SERVER)" \
			"$(pc__web_log "$PC_WEB_SERVER" "$dir")" "$dir/run/$proc.pid" \
			pc__http_ok "http://127.0.0.1:$port/v1/healthz"
}
