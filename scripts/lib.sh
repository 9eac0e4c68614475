# shellcheck shell=bash
# Shared shell functions: Debian dependencies, the build, and a local stack.
#
# Sourced by scripts/run, scripts/test and tests/e2e/lib.sh. It sets no shell
# options. Functions that start or stop things print a message naming the part
# that failed and return non-zero instead of exiting, so callers can clean up.
#
# A stack is PostgreSQL 15, memcached, pgrest-lite (the local origin) and a
# web server running the responder (lighttpd, Apache with mod_fcgid or mod_cgi,
# or nginx with spawn-fcgi: PC_WEB_SERVER, see pc_start_web), all on
# 127.0.0.1, ports PORT_BASE+0..3:
#   +0 web server   +1 pgrest-lite   +2 memcached   +3 PostgreSQL
# Everything a stack owns lives under its VAR_DIR:
#   stack.env           shell-sourceable summary for tests and people; it also
#                       puts the build's programs on PATH and exports
#                       PROFILECACHE_CONFIG
#   profilecache.conf   responder config, from etc/profilecache.conf.example
#   lighttpd.conf       from etc/lighttpd/profilecache.conf.in      } the one
#   apache2.conf        from etc/apache/profilecache-*.conf.in      } of the
#   nginx.conf          from etc/nginx/profilecache.conf.in         } stack's
#   lighttpd.d/ apache2.d/ nginx.d/   optional additions (*.conf)   } server
#   journal.db          the responder's journal
#   secrets/            service.key (sb_secret_...), anon.key (sb_publishable_...),
#                       jwt.secret (0600; 0640 and group www-data behind
#                       Apache or nginx)
#   www/                document root for static files; www/demo/ the demo page
#                       (pc__install_demo)
#   storage/            the origin's Storage objects, one directory per bucket
#   log/                one log per component (the responder's stderr goes to
#                       the web server's, or to responder.log behind nginx;
#                       flush.log: the flusher loop scripts/run starts)
#   run/                pid files, the port base, the web server's name, the
#                       FastCGI socket, Apache's and nginx's runtime files
#   pg/                 PostgreSQL: data/, run/ (socket), postgres.log; when the
#                       postgres user cannot reach VAR_DIR, pg.location names a
#                       directory under /tmp that holds the same
#   tmp/                the web server's request body buffers

PC_ROOT=${PC_ROOT:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)}
PC_BUILDDIR=${PC_BUILDDIR:-${PC_TOP_BUILDDIR:-$PC_ROOT}}
PC_PG_BIN=${PC_PG_BIN:-/usr/lib/postgresql/15/bin}
PC_FCGI_BIN=${PC_FCGI_BIN:-$PC_BUILDDIR/cgi-bin/profilecache.fcgi}
PC_ORIGIN_BIN=${PC_ORIGIN_BIN:-$PC_BUILDDIR/tools/pgrest-lite/pgrest-lite}
PC_FLUSH_BIN=${PC_FLUSH_BIN:-$PC_BUILDDIR/profilecache-flush}
PC_ORIGIN_DB_USER=${PC_ORIGIN_DB_USER:-authenticator}
PC_WAIT_SECONDS=${PC_WAIT_SECONDS:-30}
PC_LOG_LEVEL=${PC_LOG_LEVEL:-info}
# Where responders store avatars: local (VAR_DIR/www/avatars, served by the web
# server) or supabase (the origin's Storage subset, a bucket every node shares).
PC_AVATAR_BACKEND=${PC_AVATAR_BACKEND:-local}
PC_MEMCACHED_MB=${PC_MEMCACHED_MB:-64}
PC_DB_NAME=profilecache
PC_SAMPLE_PROFILE_ID=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01
# Bump when the way a template cluster is built changes, to invalidate old ones.
PC_PG_TEMPLATE_FORMAT=1

PC_DEB_PACKAGES=(
	build-essential autoconf automake libtool pkg-config
	libfcgi-dev libmemcached-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev
	libjansson-dev libinih-dev libcmocka-dev libssl-dev
	memcached postgresql-15 postgresql-15-pgtap lighttpd libmicrohttpd-dev libpq-dev
	apache2 libapache2-mod-fcgid nginx spawn-fcgi
	curl jq ca-certificates procps faketime python3
	libvips-dev libvips-tools libimage-exiftool-perl
	patchelf
	clang libclang-rt-14-dev
)

# What only the test suite needs (scripts/test): Debian's Chromium for the
# browser tests (tests/e2e/t_browser*.sh drive it with puppeteer-core; no
# browser is ever downloaded) and node for them and the JavaScript client's
# tests. npm is added by pc_install_test_deps when no npm command is there.
PC_DEB_TEST_PACKAGES=(chromium nodejs)

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

# --- Debian packages ----------------------------------------------------------

# pc_missing_packages PKG...: print the packages dpkg does not list as installed.
pc_missing_packages() {
	local pkg
	for pkg in "$@"; do
		if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null) != ii* ]]; then
			printf '%s\n' "$pkg"
		fi
	done
}

# pc_install_deps [PKG...]: install the base packages and PKG... that are
# missing, with one apt-get update first, and nothing when all are there.
# Exits when something is missing and we cannot install it.
pc_install_deps() {
	local -a missing
	command -v dpkg-query >/dev/null ||
		pc_die "dpkg-query not found: these scripts install their dependencies on Debian 12 only"
	mapfile -t missing < <(pc_missing_packages "${PC_DEB_PACKAGES[@]}" "$@")
	((${#missing[@]} == 0)) && return 0
	if ((EUID != 0)); then
		pc_die "missing Debian packages: ${missing[*]}; run as root, or first: sudo apt-get install ${missing[*]}"
	fi
	pc_log "installing missing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || pc_die "apt-get update failed"
	# The packages would start Debian's own apache2, nginx, memcached and
	# PostgreSQL services (and nginx's start, hence its install, fails while
	# Apache holds port 80). Stacks run their own instances: while installing,
	# a policy-rc.d (when there is none) tells the packages to start nothing.
	local policy=/usr/sbin/policy-rc.d made=0 rc=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# Temporary (profilecache scripts/lib.sh): start no service while installing.\nexit 101\n' \
			>"$policy" && chmod 0755 "$policy" && made=1
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
	((made)) && rm -f -- "$policy"
	((rc == 0)) || pc_die "apt-get install failed for: ${missing[*]}"
}

# pc_install_test_deps: pc_install_deps with PC_DEB_TEST_PACKAGES, and npm
# when there is no npm command (a node packaged elsewhere, e.g. NodeSource's,
# brings its own and conflicts with Debian's npm package).
pc_install_test_deps() {
	local -a extra=("${PC_DEB_TEST_PACKAGES[@]}")
	command -v npm >/dev/null || extra+=(npm)
	pc_install_deps "${extra[@]}"
}

# pc_browser_test_setup: install tests/browser's npm packages (puppeteer-core)
# as its package-lock.json pins them (npm ci), unless node_modules already
# matches it. PUPPETEER_SKIP_DOWNLOAD: nothing downloads a browser (the tests
# launch /usr/bin/chromium). A failure is a warning: the browser tests then
# say they skip, and why.
pc_browser_test_setup() {
	local dir=$PC_ROOT/tests/browser
	[[ -f $dir/package-lock.json ]] || return 0
	[[ -f $dir/node_modules/.package-lock.json && ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]] &&
		return 0
	command -v npm >/dev/null || {
		pc_log "warning: no npm: the browser tests will be skipped"
		return 0
	}
	pc_log "npm ci in tests/browser (puppeteer-core; no browser download)"
	(cd -- "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
		pc_log "warning: npm ci failed in $dir: the browser tests will be skipped"
}

# --- build ------------------------------------------------------------------

# pc_build [CONFIGURE-ARG...]: build the tree in PC_ROOT. Runs autoreconf when
# there is no configure script, and configure (then make clean, since flags
# changed) when there is no Makefile or the arguments differ from those the
# tree is configured with (config.status --config). Exits on failure.
pc_build() {
	local want have=
	want=$(printf '%q ' "$@")
	(
		cd -- "$PC_ROOT" || exit 1
		# autoreconf and configure talk a lot ("installing build-aux/...",
		# "checking for ..."): their output goes to a log, shown on failure.
		if [[ ! -x configure ]]; then
			pc_log "autoreconf -fi"
			mkdir -p build-aux
			autoreconf -fi >build-aux/pc-autoreconf.log 2>&1 || {
				cat build-aux/pc-autoreconf.log >&2
				pc_die "autoreconf failed"
			}
		fi
		# What the tree is really configured with, whoever ran configure.
		[[ -x config.status ]] && have=$(eval "printf '%q ' $(./config.status --config)")
		if [[ ! -f Makefile || $have != "$want" ]]; then
			pc_log "./configure $*"
			./configure "$@" >build-aux/pc-configure.log 2>&1 || {
				tail -n 40 build-aux/pc-configure.log >&2
				pc_die "./configure failed (full output: $PC_ROOT/build-aux/pc-configure.log)"
			}
			make clean >/dev/null
		fi
		pc_log "make -j${PC_MAKE_JOBS:-2}"
		make -j"${PC_MAKE_JOBS:-2}" || pc_die "make failed"
	) || exit 1
}

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

# --- helpers ------------------------------------------------------------------

# pc__random_hex NBYTES: print NBYTES random bytes as hex.
pc__random_hex() { od -An -vtx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# pc__ensure_secret FILE [PREFIX]: create FILE (mode 0600) with PREFIX and 32
# random bytes in hex unless it exists and starts with PREFIX; existing
# secrets survive restarts (a key written before PREFIX was asked for is
# replaced: origin and responder read the same file).
pc__ensure_secret() {
	local prefix=${2:-}
	[[ -s $1 && $(head -c "${#prefix}" -- "$1") == "$prefix" ]] && return 0
	(umask 077 && printf '%s%s' "$prefix" "$(pc__random_hex 32)" >"$1") || pc_err "cannot write $1"
}

# pc_b64url: base64url without padding, from stdin.
pc_b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# pc_jwt_hs256 SECRET PAYLOAD: print an HS256 token over PAYLOAD (JSON), as
# Supabase signs with the project's JWT secret.
pc_jwt_hs256() {
	local h p s
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | pc_b64url) &&
		p=$(printf '%s' "$2" | pc_b64url) &&
		s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt "key:$1" -binary | pc_b64url) ||
		return 1
	printf '%s.%s.%s' "$h" "$p" "$s"
}

# pc__shquote STRING: print STRING single-quoted for any POSIX shell.
pc__shquote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# pc_owner_token VAR_DIR SUB: print a token that the stack in VAR_DIR takes as
# user SUB's, valid for PC_TOKEN_SECONDS (default 12 h, under [auth]
# max_token_lifetime's default of a day): profilecache-admin token, with the
# stack's configuration and so its JWT secret. The one place that makes the
# tokens scripts/run prints.
pc_owner_token() {
	"$PC_BUILDDIR/profilecache-admin" --config "$1/profilecache.conf" token \
		--sub "$2" --ttl "${PC_TOKEN_SECONDS:-43200}"
}

# pc__port_base VAR_DIR: print the port base the stack in VAR_DIR was started with.
pc__port_base() {
	local base
	base=$(cat "$1/run/port_base" 2>/dev/null) || pc_err "no stack was started in $1" || return 1
	[[ $base =~ ^[0-9]+$ ]] || pc_err "bad port base in $1/run/port_base" || return 1
	printf '%s\n' "$base"
}

# pc_http_code URL [CURL-ARG...]: print the HTTP status of a GET (000 when
# nothing answered).
pc_http_code() {
	local url=$1 code
	shift
	code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$@" "$url" 2>/dev/null) || true
	printf '%s\n' "${code:-000}"
}
pc__http_answers() { [[ $(pc_http_code "$1") != 000 ]]; }
pc__http_ok() { [[ $(pc_http_code "$1") == 200 ]]; }

# pc_memcached_cmd PORT COMMAND: send one text-protocol command to memcached on
# 127.0.0.1:PORT and print the first line of the answer (no CR).
pc_memcached_cmd() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
		printf "%s\r\n" "$1" >&3
		IFS= read -r line <&3 && printf "%s\n" "$line"' "$1" "$2" 2>/dev/null | tr -d '\r'
}
pc__memcached_ready() { [[ $(pc_memcached_cmd "$1" version) == VERSION* ]]; }

# pc__render FILE_IN FILE_OUT NAME=VALUE...: copy FILE_IN to FILE_OUT with each
# @NAME@ replaced by VALUE; fails if a placeholder is left over.
pc__render() {
	local in=$1 out=$2 text kv left
	shift 2
	text=$(<"$in") || return 1
	for kv in "$@"; do
		text=${text//"@${kv%%=*}@"/"${kv#*=}"}
	done
	left=$(grep -o '@[A-Z_][A-Z_]*@' <<<"$text" | sort -u | tr '\n' ' ') || true # none: grep fails
	[[ -z $left ]] || pc_err "$in: no value for $left" || return 1
	printf '%s\n' "$text" >"$out"
}

# pc__ini_set FILE_IN FILE_OUT SECTION.KEY=VALUE...: copy an INI file, replacing
# the value of each named key in its section and keeping every other line, so
# the example config stays the reference. Fails if a key is not in FILE_IN.
pc__ini_set() {
	local in=$1 out=$2 kv line section='' key
	local -A want=()
	shift 2
	for kv in "$@"; do want[${kv%%=*}]=${kv#*=}; done
	while IFS= read -r line || [[ -n $line ]]; do
		if [[ $line =~ ^[[:space:]]*\[([^]]+)\] ]]; then
			section=${BASH_REMATCH[1]}
		elif [[ $line =~ ^[[:space:]]*\;?[[:space:]]*([A-Za-z0-9_.]+)[[:space:]]*= ]]; then
			# A commented-out key ("; key = ...") is set by uncommenting it.
			key=$section.${BASH_REMATCH[1]}
			if [[ -v want[$key] ]]; then
				line="${BASH_REMATCH[1]} = ${want[$key]}"
				unset "want[$key]"
			fi
		fi
		printf '%s\n' "$line"
	done <"$in" >"$out"
	((${#want[@]} == 0)) || pc_err "$in has no key(s): ${!want[*]}"
}

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

# pc__ini_get FILE SECTION.KEY: print the value of KEY in SECTION of an INI
# file (the last one; empty when it is not set).
pc__ini_get() {
	awk -v want="$2" '
		/^[ \t]*[;#]/ { next }
		/^[ \t]*\[/ { s = $0; sub(/^[ \t]*\[/, "", s); sub(/\].*$/, "", s); next }
		{ i = index($0, "="); if (i == 0) next
		  k = substr($0, 1, i - 1); v = substr($0, i + 1)
		  gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
		  if (s "." k == want) r = v }
		END { print r }' "$1"
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

# pc__grant_web_user VAR_DIR: when we are root, let PC_WEB_USER read the
# responder's config and secret files (group-readable: the responder refuses
# world-readable secrets) and write the journal's directory, its files (also
# those root's flusher or admin tool made) and the avatar directory, as a
# deployment must (etc/apache/*.conf.in). Paths come from the responder's
# config, so overrides (PC_CONF_SET) are followed. Changes only what is not
# so already (a journal on a read-only filesystem stays as it is).
pc__grant_web_user() {
	local var=$1 wuser=$PC_WEB_USER conf=$1/profilecache.conf group key f d journal metrics avatars
	((EUID == 0)) || return 0
	id -u "$wuser" >/dev/null 2>&1 || pc_err "the web server's user $wuser does not exist" || return 1
	group=$(id -gn "$wuser")
	for key in origin.service_key_file auth.jwt_secret_file auth.jwks_file metrics.token_file; do
		f=$(pc__ini_get "$conf" "$key")
		[[ -n $f && -f $f ]] || continue
		pc__grant "$f" "" "$group" 040 || return 1
		d=$(dirname -- "$f")
		runuser -u "$wuser" -- test -x "$d" || pc__grant "$d" "" "$group" 010 || return 1
	done
	journal=$(pc__ini_get "$conf" journal.path)
	metrics=$(pc__ini_get "$conf" metrics.file)
	metrics=${metrics:-$journal-metrics}
	for d in "$(dirname -- "$journal")" "$(dirname -- "$metrics")" "$var/tmp"; do
		# $var/tmp: Apache keeps large request bodies in TMPDIR.
		[[ -d $d ]] || mkdir -p -- "$d" || return 1
		pc__grant "$d" "" "$group" 070 || return 1
	done
	for f in "$journal" "$journal-wal" "$journal-shm" "$journal-wlock" "$journal-sync" "$journal-flush.lock" "$metrics" \
		"$journal-jwks.json" "$journal-jwks.lock"; do
		[[ -e $f ]] || continue
		pc__grant "$f" "$wuser" "$group" 000 || return 1
	done
	# The responder opens the journal at its first use; created now, by the
	# web server's user, it is never one that root's flusher or sqlite3 made.
	if [[ ! -e $journal ]]; then
		runuser -u "$wuser" -- "$PC_BUILDDIR/profilecache-admin" --config "$conf" init >/dev/null ||
			pc_err "profilecache-admin init (as $wuser) could not create the journal $journal" || return 1
	fi
	avatars=$(pc__ini_get "$conf" avatar.dir)
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

# --- lighttpd

# pc__write_lighttpd_config VAR_DIR: VAR_DIR/lighttpd.conf from the template,
# plus lighttpd.d/accesslog.conf when PC_ACCESS_LOG=1.
pc__write_lighttpd_config() {
	local var=$1 base
	base=$(pc__port_base "$var") || return 1
	mkdir -p -- "$var/lighttpd.d" || return 1
	pc__render "$PC_ROOT/etc/lighttpd/profilecache.conf.in" "$var/lighttpd.conf" \
		"PORT=$base" \
		"DOCUMENT_ROOT=$var/www" \
		"ERROR_LOG=$var/log/lighttpd.log" \
		"UPLOAD_DIR=$var/tmp" \
		"FCGI_BIN=$PC_FCGI_BIN" \
		"FCGI_SOCKET=$var/run/profilecache.sock" \
		"PROFILECACHE_CONFIG=$var/profilecache.conf" \
		"CONF_D=$var/lighttpd.d" || return 1
	rm -f -- "$var/lighttpd.d/accesslog.conf"
	if [[ ${PC_ACCESS_LOG:-0} == 1 ]]; then
		cat >"$var/lighttpd.d/accesslog.conf" <<-EOF
			server.modules += ( "mod_accesslog" )
			accesslog.filename = "$var/log/access.log"
		EOF
	fi
}

# pc__start_lighttpd VAR_DIR: write the responder's and lighttpd's configs and
# run lighttpd (foreground mode, in the background) on 127.0.0.1:PORT_BASE.
pc__start_lighttpd() {
	local var=$1 base
	base=$(pc__port_base "$var") || return 1
	[[ -x $PC_FCGI_BIN ]] || pc_err "responder: $PC_FCGI_BIN is not built (run make)" || return 1
	if pc_port_listening "$base"; then pc_err "lighttpd: port $base is already taken"; return 1; fi
	pc__write_responder_config "$var" && pc__write_lighttpd_config "$var" || return 1
	pc__check_config lighttpd "$var/log/lighttpd-check.log" lighttpd -tt -f "$var/lighttpd.conf" || return 1
	pc__spawn "$var/run/lighttpd.pid" "$var/log/lighttpd.log" lighttpd -D -f "$var/lighttpd.conf" || return 1
	pc__wait lighttpd "$var/log/lighttpd.log" "$var/run/lighttpd.pid" \
		pc__http_answers "http://127.0.0.1:$base/"
}

# --- Apache (mod_fcgid or mod_cgi)

# pc__write_apache_config VAR_DIR FLAVOUR: VAR_DIR/apache2.conf from
# etc/apache/profilecache-FLAVOUR.conf.in, plus apache2.d/accesslog.conf when
# PC_ACCESS_LOG=1.
pc__write_apache_config() {
	local var=$1 flavour=$2 base
	base=$(pc__port_base "$var") || return 1
	mkdir -p -- "$var/apache2.d" "$var/run/apache2" || return 1
	pc__render "$PC_ROOT/etc/apache/profilecache-$flavour.conf.in" "$var/apache2.conf" \
		"PORT=$base" \
		"SERVER_ROOT=$var" \
		"RUN_DIR=$var/run/apache2" \
		"DOCUMENT_ROOT=$var/www" \
		"ERROR_LOG=$var/log/apache2.log" \
		"FCGI_BIN=$PC_FCGI_BIN" \
		"PROFILECACHE_CONFIG=$var/profilecache.conf" \
		"CONF_D=$var/apache2.d" || return 1
	rm -f -- "$var/apache2.d/accesslog.conf"
	if [[ ${PC_ACCESS_LOG:-0} == 1 ]]; then
		cat >"$var/apache2.d/accesslog.conf" <<-EOF
			CustomLog "$var/log/access.log" "%h %t \"%r\" %>s %b %{ms}Tms"
		EOF
	fi
}

# pc__start_apache VAR_DIR FLAVOUR: write the configs and run Apache in the
# foreground (in the background) on 127.0.0.1:PORT_BASE, as PC_WEB_USER.
pc__start_apache() {
	local var=$1 flavour=$2 base
	base=$(pc__port_base "$var") || return 1
	[[ -x $PC_FCGI_BIN ]] || pc_err "responder: $PC_FCGI_BIN is not built (run make)" || return 1
	if pc_port_listening "$base"; then pc_err "apache2: port $base is already taken"; return 1; fi
	pc__write_responder_config "$var" && pc__write_apache_config "$var" "$flavour" &&
		pc__grant_web_user "$var" || return 1
	pc__check_config apache2 "$var/log/apache2-check.log" apache2 -t -f "$var/apache2.conf" || return 1
	# TMPDIR: where mod_fcgid keeps request bodies above FcgidMaxRequestInMem.
	pc__spawn "$var/run/apache2.pid" "$var/log/apache2.log" \
		env TMPDIR="$var/tmp" apache2 -f "$var/apache2.conf" -DFOREGROUND || return 1
	pc__wait apache2 "$var/log/apache2.log" "$var/run/apache2.pid" \
		pc__http_answers "http://127.0.0.1:$base/"
}

# --- nginx and spawn-fcgi

# pc__write_nginx_config VAR_DIR: VAR_DIR/nginx.conf from the template, plus
# nginx.d/accesslog.conf when PC_ACCESS_LOG=1.
pc__write_nginx_config() {
	local var=$1 base
	base=$(pc__port_base "$var") || return 1
	mkdir -p -- "$var/nginx.d" "$var/run/nginx" "$var/tmp/nginx" || return 1
	pc__render "$PC_ROOT/etc/nginx/profilecache.conf.in" "$var/nginx.conf" \
		"PORT=$base" \
		"PID_FILE=$var/run/nginx/nginx.pid" \
		"ERROR_LOG=$var/log/nginx.log" \
		"TEMP_DIR=$var/tmp/nginx" \
		"DOCUMENT_ROOT=$var/www" \
		"FCGI_SOCKET=$var/run/profilecache.sock" \
		"CONF_D=$var/nginx.d" || return 1
	rm -f -- "$var/nginx.d/accesslog.conf"
	if [[ ${PC_ACCESS_LOG:-0} == 1 ]]; then
		printf 'access_log %s profilecache;\n' "$var/log/access.log" >"$var/nginx.d/accesslog.conf"
	fi
}

# pc__start_spawn_fcgi VAR_DIR: 4 responders on VAR_DIR/run/profilecache.sock,
# started by spawn-fcgi as the etc/nginx template says, their pids in
# run/spawn-fcgi.pid and their stderr in log/responder.log.
pc__start_spawn_fcgi() {
	local var=$1 sock=$1/run/profilecache.sock log=$1/log/responder.log
	local -a who=()
	if pc__pids_alive "$var/run/spawn-fcgi.pid"; then pc_err "responders already run (pids in $var/run/spawn-fcgi.pid)"; return 1; fi
	rm -f -- "$sock"
	touch -- "$log" || return 1
	if ((EUID == 0)); then
		who=(-u "$PC_WEB_USER" -U "$PC_WEB_USER" -G "$(id -gn "$PC_WEB_USER")")
		chown "$PC_WEB_USER" -- "$log" || return 1
	fi
	# spawn-fcgi forks the responders and exits; setsid: they are in a
	# session of their own, out of reach of a Ctrl-C meant for the caller.
	# shellcheck disable=SC2016 # expanded by the inner shell
	(
		pc__close_fds
		trap - PIPE
		exec env PROFILECACHE_CONFIG="$var/profilecache.conf" setsid spawn-fcgi \
			-s "$sock" -M 0660 "${who[@]}" -F 4 -P "$var/run/spawn-fcgi.pid" \
			-- /bin/sh -c 'exec "$0" 2>>"$1"' "$PC_FCGI_BIN" "$log"
	) </dev/null >>"$var/log/spawn-fcgi.log" 2>&1 || {
		pc_log "error: spawn-fcgi could not start the responders"
		pc__tail_log spawn-fcgi "$var/log/spawn-fcgi.log"
		return 1
	}
}

# pc__start_nginx VAR_DIR: write the configs, start the responders with
# spawn-fcgi, then nginx in the foreground (in the background) on
# 127.0.0.1:PORT_BASE.
pc__start_nginx() {
	local var=$1 base
	local -a nginx
	base=$(pc__port_base "$var") || return 1
	[[ -x $PC_FCGI_BIN ]] || pc_err "responder: $PC_FCGI_BIN is not built (run make)" || return 1
	if pc_port_listening "$base"; then pc_err "nginx: port $base is already taken"; return 1; fi
	pc__write_responder_config "$var" && pc__write_nginx_config "$var" &&
		pc__grant_web_user "$var" || return 1
	# -e: the error log from the start, before the configuration is read.
	nginx=(nginx -p "$var/" -c "$var/nginx.conf" -e "$var/log/nginx.log")
	pc__check_config nginx "$var/log/nginx-check.log" "${nginx[@]}" -t -q || return 1
	pc__start_spawn_fcgi "$var" || return 1
	pc__spawn "$var/run/nginx.pid" "$var/log/nginx.log" "${nginx[@]}" -g 'daemon off;' || return 1
	pc__wait nginx "$var/log/nginx.log" "$var/run/nginx.pid" \
		pc__http_answers "http://127.0.0.1:$base/"
}

# --- the stack ------------------------------------------------------------------

# pc__write_env VAR_DIR: VAR_DIR/stack.env (mode 0600: it holds the JWT secret).
pc__write_env() {
	local var=$1 base root tmp name server
	base=$(pc__port_base "$var") || return 1
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
		[JOURNAL_PATH]="$var/journal.db"
		[CONFIG_PATH]="$var/profilecache.conf"
		[LIGHTTPD_CONFIG]="$var/lighttpd.conf"
		[DOCUMENT_ROOT]="$var/www"
		[DEMO_URL]="$([[ -f $var/www/demo/index.html ]] && printf 'http://127.0.0.1:%s/demo/' "$base")"
		[AVATAR_DIR]="$var/www/avatars"
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
# already runs, a port is taken or the web server is unknown; on any other
# failure stops what it started and returns 1.
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
