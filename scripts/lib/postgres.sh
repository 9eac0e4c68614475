# shellcheck shell=bash
# PostgreSQL: a stack's cluster, built from the schema files or copied
# from a template.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- PostgreSQL -----------------------------------------------------------------

# pc__as_pg CMD...: run CMD as the postgres system user when we are root (initdb
# and the server refuse root), from / so that the cwd is always reachable.
pc__as_pg() {
	if ((EUID == 0)); then
		(cd / && pc__close_fds && exec runuser -u postgres -- "$@")
	else
		(cd / && pc__close_fds && exec "$@")
	fi
}

# pc__pg_chown PATH...: give PATH to the postgres user (when we are root).
pc__pg_chown() {
	((EUID == 0)) || return 0
	chown postgres:postgres -- "$@"
}

# pc_schema_files: print the SQL files a local database is made of, in load
# order: the Supabase shim, the numbered files, the tables of the example
# configuration's declared resources (what profilecache-admin sql prints for
# it), the sample rows.
pc_schema_files() {
	local dir=$PC_ROOT/schema/postgres f
	[[ -f $dir/local/supabase_compat.sql ]] || pc_err "missing $dir/local/supabase_compat.sql" || return 1
	printf '%s\n' "$dir/local/supabase_compat.sql"
	compgen -G "$dir/[0-9][0-9]_*.sql" | LC_ALL=C sort
	for f in example_resources sample_profiles sample_resources; do
		[[ -f $dir/local/$f.sql ]] && printf '%s\n' "$dir/local/$f.sql"
	done
	return 0
}

# pc_pg_template_key: print a short hash of everything a fresh database depends
# on (schema files' names and contents, PostgreSQL's version, this builder).
pc_pg_template_key() {
	local -a files
	mapfile -t files < <(pc_schema_files) && ((${#files[@]})) || return 1
	{
		printf '%s\n' "$PC_PG_TEMPLATE_FORMAT" "${files[@]##*/}"
		"$PC_PG_BIN/postgres" --version
		cat -- "${files[@]}"
	} | sha256sum | cut -c1-16
}

# pc__pg_write_conf ROOT LISTEN PORT: the per-stack settings, included from
# postgresql.conf and rewritten at each start (a copied cluster gets its own).
pc__pg_write_conf() {
	local root=$1
	mkdir -p -- "$root/run" && pc__pg_chown "$root/run" || return 1
	cat >"$root/data/stack.conf" <<-EOF || return 1
		# Written by scripts/lib.sh at each start.
		listen_addresses = '$2'
		port = $3
		unix_socket_directories = '$root/run'
	EOF
	pc__pg_chown "$root/data/stack.conf"
}

# pc__pg_ctl ROOT ARG...: pg_ctl on ROOT/data as the postgres user.
pc__pg_ctl() {
	local root=$1
	shift
	pc__as_pg "$PC_PG_BIN/pg_ctl" -D "$root/data" "$@"
}

# pc__pg_start ROOT: start the cluster (settings from stack.conf), wait for it.
pc__pg_start() {
	local root=$1
	pc__pg_ctl "$root" -l "$root/postgres.log" -w -t "$PC_WAIT_SECONDS" start >/dev/null ||
		{
			pc_log "error: PostgreSQL in $root/data did not start"
			pc__tail_log PostgreSQL "$root/postgres.log"
			return 1
		}
}

# pc__pg_stop ROOT: fast shutdown when the cluster runs; nothing otherwise.
pc__pg_stop() {
	local root=$1
	[[ -f $root/data/postmaster.pid ]] || return 0
	pc__pg_ctl "$root" status >/dev/null 2>&1 || return 0
	pc__pg_ctl "$root" -m fast -w -t 60 stop >/dev/null
}

# pc__psql ROOT PORT DB ARG...: psql as superuser over the cluster's socket.
pc__psql() {
	local root=$1 port=$2 db=$3
	shift 3
	"$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$root/run" -p "$port" -U postgres -d "$db" "$@"
}

# pc__pg_build_cluster ROOT: initdb ROOT/data (trust auth, UTF-8), create the
# database and load the schema with the server on a private socket only, stop
# it. ROOT must exist and belong to the postgres user.
pc__pg_build_cluster() {
	local root=$1 port=5432 f key
	local -a files
	key=$(pc_pg_template_key) && mapfile -t files < <(pc_schema_files) || return 1
	pc_log "creating a PostgreSQL cluster in $root/data"
	pc__as_pg "$PC_PG_BIN/initdb" -D "$root/data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 >"$root/initdb.log" 2>&1 ||
		{
			pc__tail_log initdb "$root/initdb.log"
			return 1
		}
	printf "\n# profilecache: this stack's port and sockets\ninclude_if_exists = 'stack.conf'\n" \
		>>"$root/data/postgresql.conf"
	pc__pg_write_conf "$root" "" "$port" && pc__pg_start "$root" || return 1
	if ! pc__psql "$root" "$port" postgres -c "CREATE DATABASE $PC_DB_NAME" >/dev/null; then
		pc__pg_stop "$root"
		return 1
	fi
	for f in "${files[@]}"; do
		if ! pc__psql "$root" "$port" "$PC_DB_NAME" -f "$f" >"$root/schema.log" 2>&1; then
			pc_log "error: loading $f failed:"
			sed 's/^/    /' "$root/schema.log" >&2
			pc__pg_stop "$root"
			return 1
		fi
	done
	printf '%s\n' "$key" >"$root/schema.key"
	pc__pg_stop "$root"
}

# pc_pg_template_ensure DIR: make DIR a stopped cluster root with the schema
# loaded (DIR/data) unless it already is one. Callers in parallel wait on
# DIR.lock; the first builds the cluster next to DIR and renames it into place.
pc_pg_template_ensure() {
	local tpl=$1 tmp lockfd rc=0
	[[ -f $tpl/ready ]] && return 0
	mkdir -p -- "$(dirname -- "$tpl")" || return 1
	exec {lockfd}>"$tpl.lock" || return 1
	flock "$lockfd"
	if [[ ! -f $tpl/ready ]]; then
		rm -rf -- "$tpl"
		tmp=$(mktemp -d "$tpl.tmp.XXXXXX") && chmod 0755 "$tmp" && pc__pg_chown "$tmp" &&
			pc__pg_build_cluster "$tmp" && touch "$tmp/ready" && mv -- "$tmp" "$tpl" || rc=1
		[[ -n $tmp && -d $tmp ]] && rm -rf -- "$tmp"
	fi
	exec {lockfd}>&-
	return "$rc"
}

# pc__pg_root VAR_DIR: print the stack's cluster root.
pc__pg_root() {
	if [[ -f $1/pg.location ]]; then cat -- "$1/pg.location"; else printf '%s\n' "$1/pg"; fi
}

# pc__pg_prepare_root VAR_DIR: make the cluster root exist and belong to the
# postgres user; when that user cannot reach VAR_DIR (e.g. under /root), use a
# new directory under /tmp and record it in VAR_DIR/pg.location.
pc__pg_prepare_root() {
	local var=$1 root
	root=$(pc__pg_root "$var")
	[[ -d $root/data ]] && return 0
	[[ -f $var/pg.location ]] && rm -f -- "$var/pg.location"
	root=$var/pg
	mkdir -p -- "$root" && chmod 0755 "$root" && pc__pg_chown "$root" || return 1
	if pc__as_pg test -w "$root" -a -x "$root"; then return 0; fi
	rmdir -- "$root"
	root=$(mktemp -d /tmp/profilecache-pg.XXXXXX) && chmod 0755 "$root" && pc__pg_chown "$root" || return 1
	printf '%s\n' "$root" >"$var/pg.location"
	pc_log "the postgres user cannot reach $var; PostgreSQL's files are in $root"
}

# pc_start_postgres VAR_DIR: create the cluster on first use (a copy of
# $PC_PG_TEMPLATE when that is set, else initdb and the schema), then start it
# on 127.0.0.1:PORT_BASE+3.
pc_start_postgres() {
	local var=$1 base root port key
	base=$(pc__port_base "$var") && pc__pg_prepare_root "$var" || return 1
	root=$(pc__pg_root "$var")
	port=$((base + 3))
	if [[ ! -f $root/data/PG_VERSION ]]; then
		if [[ -n ${PC_PG_TEMPLATE:-} ]]; then
			pc_pg_template_ensure "$PC_PG_TEMPLATE" || return 1
			cp -a -- "$PC_PG_TEMPLATE/data" "$root/data" &&
				cp -- "$PC_PG_TEMPLATE/schema.key" "$root/schema.key" || return 1
		else
			pc__pg_build_cluster "$root" || return 1
		fi
	fi
	key=$(pc_pg_template_key 2>/dev/null) || key=
	if [[ -n $key && $key != "$(cat "$root/schema.key" 2>/dev/null)" ]]; then
		pc_log "warning: the schema files changed since the database in $root was created;" \
			"scripts/run --reset recreates it (its data is lost)"
	fi
	ln -sfn -- "$root/postgres.log" "$var/log/postgres.log"
	pc__pg_write_conf "$root" 127.0.0.1 "$port" && pc__pg_start "$root" || return 1
	pc__wait PostgreSQL "$root/postgres.log" "" \
		"$PC_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d "$PC_DB_NAME"
}

# pc_stop_postgres VAR_DIR: fast shutdown of the stack's cluster, if it runs.
pc_stop_postgres() {
	local root
	root=$(pc__pg_root "$1")
	pc__pg_stop "$root" || pc_err "PostgreSQL in $root/data did not stop"
}
