# shellcheck shell=bash
# Black-box test helpers: a private stack per test script, and TAP output.
#
# Sourced by tests/e2e/t_*.sh. Safe under `set -euo pipefail`: every TAP helper
# returns 0, so a failed check is reported and the script goes on; e2e_start
# bails out ("Bail out!") when the stack cannot start. On exit the stack is
# stopped and its directory removed, unless a check failed, the script failed,
# or PC_KEEP=1: then the directory is kept and the end of each log is printed
# as TAP comments. Sanitizer reports in the logs fail the script.
#
# Environment: PC_WEB_SERVER (the web server in front: lighttpd, the default,
# apache-fcgid, apache-cgi or nginx; stack.env's WEB_SERVER says which one
# runs), PC_TOP_SRCDIR, PC_TOP_BUILDDIR (set by make check; default this
# checkout), PC_TEST_TMP (parent of the temporary directories and of the
# template cluster; default /tmp; must be reachable by the postgres user),
# PC_KEEP=1, PC_CONF_SET (responder config overrides for the next e2e_start:
# "section.key=value ..." with keys from etc/profilecache.conf.example).

PC_ROOT=${PC_TOP_SRCDIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}
PC_BUILDDIR=${PC_TOP_BUILDDIR:-$PC_ROOT}
PC_PROG=${0##*/}
# shellcheck source=scripts/lib.sh
. "$PC_ROOT/scripts/lib.sh"

# The web server's access log (log/access.log, with each request's time):
# when a check fails, it shows what each request got and how long it took.
export PC_ACCESS_LOG=${PC_ACCESS_LOG:-1}

E2E_DIR=
_e2e_planned=-1
_e2e_count=0
_e2e_failed=0

# --- TAP ---------------------------------------------------------------------

# diag LINE...: TAP comments, one per line of each argument.
diag() {
	local arg line
	for arg in "$@"; do
		while IFS= read -r line; do printf '# %s\n' "$line"; done <<<"$arg"
	done
	return 0
}

# plan N: announce N checks.
plan() {
	_e2e_planned=$1
	printf '1..%s\n' "$1"
}

# _e2e_result PASSED DESC: print one numbered result ('#' in DESC escaped, so
# it is never read as a SKIP or TODO directive).
_e2e_result() {
	local desc=${2//\#/\\#}
	_e2e_count=$((_e2e_count + 1))
	if [[ $1 == 1 ]]; then
		printf 'ok %d - %s\n' "$_e2e_count" "$desc"
	else
		_e2e_failed=$((_e2e_failed + 1))
		printf 'not ok %d - %s\n' "$_e2e_count" "$desc"
	fi
	return 0
}

# ok EXIT-CODE DESC: passes when EXIT-CODE is 0 (as in `ok "$?"`).
ok() {
	if [[ $1 == 0 ]]; then _e2e_result 1 "$2"; else
		_e2e_result 0 "$2"
		diag "  exit code: $1"
	fi
}

# is GOT EXPECTED DESC: passes when the strings are equal.
is() {
	if [[ $1 == "$2" ]]; then _e2e_result 1 "$3"; else
		_e2e_result 0 "$3"
		diag "       got: '$1'" "  expected: '$2'"
	fi
}

# isnt GOT UNEXPECTED DESC: passes when the strings differ.
isnt() {
	if [[ $1 != "$2" ]]; then _e2e_result 1 "$3"; else
		_e2e_result 0 "$3"
		diag "       got: '$1'" "  expected anything else"
	fi
}

# like GOT REGEX DESC / unlike GOT REGEX DESC: bash (ERE) regex match.
like() {
	if [[ $1 =~ $2 ]]; then _e2e_result 1 "$3"; else
		_e2e_result 0 "$3"
		diag "       got: '$1'" "  expected to match: $2"
	fi
}
unlike() {
	if ! [[ $1 =~ $2 ]]; then _e2e_result 1 "$3"; else
		_e2e_result 0 "$3"
		diag "       got: '$1'" "  expected not to match: $2"
	fi
}

# cmp_ok GOT OP EXPECTED DESC: integer comparison, OP one of -eq -ne -lt -le
# -gt -ge (e.g. cmp_ok "$stale" -gt 0 "some were stale").
cmp_ok() {
	if [[ $1 =~ ^-?[0-9]+$ ]] && test "$1" "$2" "$3"; then _e2e_result 1 "$4"; else
		_e2e_result 0 "$4"
		diag "  expected: $1 $2 $3"
	fi
}

# skip N REASON: count N checks as skipped.
skip() {
	local i
	for ((i = 0; i < $1; i++)); do
		_e2e_count=$((_e2e_count + 1))
		printf 'ok %d # SKIP %s\n' "$_e2e_count" "$2"
	done
}

# e2e_skip_all REASON: skip the whole script (before plan).
e2e_skip_all() {
	printf '1..0 # SKIP %s\n' "$1"
	exit 0
}

# e2e_bail REASON: stop the script; the test driver reports an error.
e2e_bail() {
	printf 'Bail out! %s\n' "$1"
	exit 1
}

# --- the stack ------------------------------------------------------------------

# e2e_start [PGREST-LITE-ARG...]: start a private stack on free ports in a new
# temporary directory and export what its stack.env says (BASE_URL,
# DATABASE_URL, ORIGIN_LOG, VAR_DIR, ...). Copies a template cluster, built
# once per schema version, instead of running initdb. No apt, no build.
e2e_start() {
	local tmp=${PC_TEST_TMP:-/tmp} key base attempt rc=2
	# make check runs the suite once per web server (PC_E2E_SERVER, set by the
	# wrappers in tests/web/SERVER/); a test that sets PC_WEB_SERVER itself
	# runs in that server's turn only.
	if [[ -n ${PC_E2E_SERVER:-} && $PC_E2E_SERVER != "${PC_WEB_SERVER:-lighttpd}" ]]; then
		e2e_skip_all "runs behind ${PC_WEB_SERVER:-lighttpd} only (in its turn: tests/web/${PC_WEB_SERVER:-lighttpd}/)"
	fi
	E2E_DIR=$(mktemp -d "$tmp/pc-e2e.XXXXXX") || e2e_bail "cannot create a directory in $tmp"
	chmod 0711 "$E2E_DIR" # the postgres user keeps its cluster inside
	trap _e2e_finish EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	key=$(pc_pg_template_key) || e2e_bail "cannot read the schema files"
	export PC_PG_TEMPLATE=${PC_PG_TEMPLATE:-$tmp/profilecache-pgtpl-$key}
	for attempt in 1 2 3 4 5; do
		base=$(pc_free_port_base) || e2e_bail "no free ports"
		rc=0
		pc_stack_start "$E2E_DIR/var" "$base" "$@" || rc=$?
		((rc == 2)) || break # 2: ports taken meanwhile; try others
		diag "ports from $base were taken (attempt $attempt); trying others"
	done
	((rc == 0)) || e2e_bail "the stack did not start (logs above and in $E2E_DIR/var/log)"
	set -a
	# shellcheck source=/dev/null
	. "$E2E_DIR/var/stack.env"
	set +a
	diag "stack: $BASE_URL ports $PORT_BASE-$((PORT_BASE + 3)) in $VAR_DIR"
}

# _e2e_sanitizer_reports: print the logs that hold ASan/LSan/UBSan reports.
_e2e_sanitizer_reports() {
	grep -l -E 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' \
		"$E2E_DIR"/var/log/*.log 2>/dev/null || true
}

# _e2e_dump_logs: the end of each of the stack's logs, as TAP comments.
_e2e_dump_logs() {
	local f
	for f in "$E2E_DIR"/var/log/*; do
		[[ -s $f ]] || continue
		diag "---- ${f##*/} (last ${PC_TAIL_LINES:-60} lines) ----"
		diag "$(tail -n "${PC_TAIL_LINES:-60}" -- "$f")"
	done
}

# _e2e_finish: EXIT trap. Checks the plan and the logs, stops the stack, runs
# the test's e2e_cleanup function if it defines one, keeps
# or removes its directory, and sets the script's exit status.
_e2e_finish() {
	local rc=$? f
	# A subshell forked just before a signal can inherit the trap: only the
	# test script itself cleans up.
	[[ $BASHPID == "$$" ]] || return 0
	trap - EXIT
	if ((_e2e_planned >= 0 && _e2e_count != _e2e_planned)); then
		diag "planned $_e2e_planned checks but ran $_e2e_count"
		rc=1
	fi
	if [[ -n $E2E_DIR && -d $E2E_DIR ]]; then
		pc_stack_stop "$E2E_DIR/var" || rc=1
		# A test's own clean-up (e.g. unmounting), once nothing uses it.
		if declare -F e2e_cleanup >/dev/null; then e2e_cleanup || rc=1; fi
		for f in $(_e2e_sanitizer_reports); do
			diag "sanitizer report in $f:"
			diag "$(grep -A 30 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' -- "$f" | head -n 60)"
			rc=1
		done
		if ((rc != 0 || _e2e_failed > 0)) || [[ ${PC_KEEP:-0} == 1 ]]; then
			_e2e_dump_logs
			diag "kept the stack's directory: $E2E_DIR"
		else
			pc_stack_destroy "$E2E_DIR/var" && rm -rf -- "$E2E_DIR"
		fi
	fi
	exit "$rc"
}

# --- HTTP ---------------------------------------------------------------------

# http METHOD PATH [CURL-ARG...]: one request to BASE_URL/PATH (or to PATH when
# it is a full URL), sent as written (no globbing, no dot-segment squashing).
# Sets HTTP_STATUS (000 when nothing answered), HTTP_BODY, HTTP_HEADERS (the
# header lines, CR removed) and the files HTTP_BODY_FILE, HTTP_HEADERS_FILE.
http() {
	local method=$1 path=$2 url out
	local -a how=(-X "$method")
	shift 2
	case $path in
	http://* | https://*) url=$path ;;
	*) url=$BASE_URL$path ;;
	esac
	HTTP_BODY_FILE=$E2E_DIR/http.body
	HTTP_HEADERS_FILE=$E2E_DIR/http.headers
	: >"$HTTP_BODY_FILE"
	: >"$HTTP_HEADERS_FILE"
	out=$HTTP_BODY_FILE
	[[ $method == GET ]] && how=()
	# A bodiless POST/PUT/PATCH gets "Content-Length: 0" as browsers send it
	# (curl sends none, and lighttpd answers that with 411).
	if [[ $method == @(POST|PUT|PATCH) ]] && ! _e2e_has_body_arg "$@"; then
		how+=(-H 'Content-Length: 0')
	fi
	# curl --head writes the headers where the body would go; a HEAD body is
	# never read anyway.
	[[ $method == HEAD ]] && how=(--head) && out=/dev/null
	HTTP_STATUS=$(curl -s -g --path-as-is -m "${E2E_HTTP_TIMEOUT:-20}" -o "$out" \
		-D "$HTTP_HEADERS_FILE" -w '%{http_code}' "${how[@]}" "$@" "$url" 2>/dev/null) || true
	HTTP_STATUS=${HTTP_STATUS:-000}
	HTTP_BODY=$(cat -- "$HTTP_BODY_FILE")
	# shellcheck disable=SC2034 # read by the tests
	HTTP_HEADERS=$(tr -d '\r' <"$HTTP_HEADERS_FILE")
	return 0
}

# _e2e_has_body_arg CURL-ARG...: some argument gives curl a request body.
_e2e_has_body_arg() {
	local a
	for a in "$@"; do
		case $a in
		-d* | --data* | --json | -F* | --form* | -T* | --upload-file) return 0 ;;
		esac
	done
	return 1
}

# header NAME: the value of response header NAME (any case) of the last
# http call's final response; empty when absent.
header() {
	awk -v n="$1" 'BEGIN { n = tolower(n) }
		/^HTTP\// { v = "" }
		{ sub(/\r$/, ""); i = index($0, ":")
		  if (i > 1 && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v) } }
		END { print v }' "$HTTP_HEADERS_FILE"
}

# json FILTER: jq -r FILTER on the last response body; empty if it is not JSON.
json() { jq -r "$1" <<<"$HTTP_BODY" 2>/dev/null || true; }

# e2e_export_commands: export shell commands that a test in another language
# runs to act on the stack: PC_FLUSH_CMD (the flusher, once),
# PC_ORIGIN_STOP_CMD, PC_ORIGIN_START_CMD, PC_WEB_STOP_CMD, PC_WEB_START_CMD,
# and PC_PSQL (psql; DATABASE_URL is exported by e2e_start).
e2e_export_commands() {
	local lib var
	lib=$(pc__shquote "$PC_ROOT/scripts/lib.sh")
	var=$(pc__shquote "$VAR_DIR")
	PC_FLUSH_CMD="$(pc__shquote "$PC_BUILDDIR/profilecache-flush") --config $(pc__shquote "$CONFIG_PATH")"
	PC_ORIGIN_STOP_CMD=". $lib && pc_stop_origin $var"
	PC_ORIGIN_START_CMD=". $lib && pc_start_origin $var"
	PC_WEB_STOP_CMD=". $lib && pc_stop_web $var"
	PC_WEB_START_CMD=". $lib && pc_start_web $var"
	PC_PSQL=$PC_PG_BIN/psql
	# scripts/lib.sh finds the built programs there.
	PC_TOP_BUILDDIR=$PC_BUILDDIR
	export PC_FLUSH_CMD PC_ORIGIN_STOP_CMD PC_ORIGIN_START_CMD PC_WEB_STOP_CMD \
		PC_WEB_START_CMD PC_PSQL PC_TOP_BUILDDIR
}

# node_tap FILE...: run each JavaScript test file with node's test runner
# (node:test) from E2E_DIR, for at most PC_NODE_TEST_SECONDS (default 120)
# each: every top-level test is one check here, then one check that node
# exited 0; node's whole output is shown (as comments) when it did not. Ends
# with the plan, which is only known then.
node_tap() {
	local f out rc line
	for f in "$@"; do
		out=$E2E_DIR/${f##*/}.tap
		rc=0
		(cd -- "$E2E_DIR" && timeout "${PC_NODE_TEST_SECONDS:-120}" node --test-reporter=tap "$f") >"$out" 2>&1 || rc=$?
		while IFS= read -r line; do
			# Top-level results only: subtests are indented.
			[[ $line =~ ^(not\ )?ok\ [0-9]+\ -\ (.*)$ ]] || continue
			if [[ -z ${BASH_REMATCH[1]} ]]; then _e2e_result 1 "${BASH_REMATCH[2]}"; else
				_e2e_result 0 "${BASH_REMATCH[2]}"
			fi
		done <"$out"
		is "$rc" 0 "node ${f##*/}: exit 0"
		((rc == 0)) || diag "$(cat -- "$out")"
	done
	plan "$_e2e_count"
}

# --- the stack's parts ------------------------------------------------------------

# origin_reads: how many GET /profiles requests the origin has answered so far
# (health probes included: compare two counts).
origin_reads() {
	local n
	n=$(grep -c 'method=GET path=/profiles' -- "$ORIGIN_LOG" 2>/dev/null) || true
	printf '%s\n' "${n:-0}"
}

# psql_exec SQL: run SQL in the stack's database as superuser; prints the rows
# unaligned (-At). Fails on an SQL error.
psql_exec() {
	"$PC_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$1"
}

# metric NAME{LABELS}: its value in the responder's /metrics now (0 when absent).
metric() {
	curl -s -m 20 "$BASE_URL/metrics" | awk -v k="$1" '$1 == k {v = $2} END {print v + 0}'
}

# minute_start: wait until at most 45 s of the current UTC minute have gone,
# so that what follows falls in one rate-limit window (a calendar minute).
minute_start() { while ((10#$(date -u +%S) > 45)); do sleep 1; done; }

# mc_flush: empty the stack's memcached.
mc_flush() {
	[[ $(pc_memcached_cmd "$MEMCACHED_PORT" flush_all) == OK ]] || diag "memcached flush_all failed"
}

# --- tokens -------------------------------------------------------------------------

# admin_key: the stack's secret key (sb_secret_...), which the responder takes
# in the apikey header as the admin credential ([auth] secret_key_file, here
# the origin's service key).
admin_key() { cat -- "$SERVICE_KEY_FILE"; }

# b64url: base64url without padding, from stdin.
b64url() { pc_b64url; }

# jwt_hs256 SUB [ROLE] [EXPIRES_IN] [AUD] [SECRET]: a Supabase-style user token
# signed with the stack's JWT secret (or SECRET). EXPIRES_IN may be negative.
jwt_hs256() {
	local sub=$1 role=${2:-authenticated} exp_in=${3:-3600} aud=${4:-authenticated}
	local now
	now=$(date +%s)
	pc_jwt_hs256 "${5:-$JWT_SECRET}" "$(printf '{"sub":"%s","role":"%s","aud":"%s","iat":%d,"exp":%d}' \
		"$sub" "$role" "$aud" "$now" "$((now + exp_in))")"
}

# jwt_custom PAYLOAD [SECRET]: an HS256 token over any payload, signed with the
# stack's JWT secret (or SECRET).
jwt_custom() { pc_jwt_hs256 "${2:-$JWT_SECRET}" "$1"; }

# es256_key FILE: a new P-256 private key (PEM) in FILE.
es256_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# jwk_es256 FILE KID: the public JWK of the key in FILE, as Supabase lists it.
# The DER public key ends with the point's x and y, 32 bytes each.
jwk_es256() {
	local der=$E2E_DIR/jwk.der x y
	openssl pkey -in "$1" -pubout -outform DER -out "$der" || return 1
	x=$(tail -c 64 "$der" | head -c 32 | b64url)
	y=$(tail -c 32 "$der" | b64url)
	printf '{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"%s","x":"%s","y":"%s"}' "$2" "$x" "$y"
}

# jwt_es256 FILE KID SUB [EXPIRES_IN]: a Supabase-style user token signed with
# the key in FILE and naming KID. JWS wants the signature as r||s, 32 bytes
# each; openssl writes DER, whose two integers asn1parse prints in hex.
jwt_es256() {
	local key=$1 kid=$2 sub=$3 exp_in=${4:-3600} now header payload hex=
	local part line
	now=$(date +%s)
	header=$(printf '{"alg":"ES256","typ":"JWT","kid":"%s"}' "$kid" | b64url)
	payload=$(printf '{"sub":"%s","role":"authenticated","aud":"authenticated","iat":%d,"exp":%d}' \
		"$sub" "$now" "$((now + exp_in))" | b64url)
	printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$key" -out "$E2E_DIR/sig.der" || return 1
	while IFS= read -r line; do
		[[ $line == *INTEGER*:* ]] || continue
		part=000000000000000000000000000000000000000000000000000000000000000${line##*:}
		hex+=${part: -64}
	done < <(openssl asn1parse -inform DER -in "$E2E_DIR/sig.der")
	((${#hex} == 128)) || return 1
	printf '%s.%s.%s' "$header" "$payload" "$(printf '%b' "$(sed 's/../\\x&/g' <<<"$hex")" | b64url)"
}
