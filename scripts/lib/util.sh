# shellcheck shell=bash
# Small helpers: secrets, tokens, HTTP probes, templates and INI files.
# Part of scripts/lib.sh, which sources every part: source that, not this.

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

# --- templates and INI files ----------------------------------------------------

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

# pc__paths CONF ARRAY: fill the associative array named ARRAY (the caller's
# "local -A ARRAY") with the files the configuration CONF makes the programs
# use, by the names profilecache-admin paths prints (journal, journal_wlock,
# flush_lock, metrics, avatar_dir, service_key_file, ...): those names, and
# the suffixes of the files beside the journal, live on the C side only.
# Needs the built profilecache-admin, and a configuration that loads.
pc__paths() {
	local -n pc__paths_out=$2
	local out line
	out=$("$PC_BUILDDIR/profilecache-admin" --config "$1" paths) ||
		pc_err "profilecache-admin --config $1 paths failed" || return 1
	pc__paths_out=()
	while IFS= read -r line; do
		[[ $line =~ ^([a-z_]+)=\'(.*)\'$ ]] ||
			pc_err "profilecache-admin paths: unexpected line: $line" || return 1
		# Each value is one single-quoted shell word: ' is written '\''.
		# shellcheck disable=SC2034,SC2004 # the caller's associative array
		pc__paths_out[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]//"'\\''"/"'"}
	done <<<"$out"
}
