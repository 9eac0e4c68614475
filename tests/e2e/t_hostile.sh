#!/usr/bin/env bash
# The hostile-request corpus (tests/e2e/hostile/cases.tsv): each case sent
# through the web server with its expected status. Bodies:
#   -              none
#   @rep:N:C       N copies of C            @json_bio:N   {"bio":"aaa..."} of N a's
#   @hex:HEX       raw bytes                 @nest:N       N '['      @nestobj:N  N '{"a":'
#   @crlf:TEXT     TEXT with \r\n escapes    anything else: literal, where @rep101
#                                            and @rep1001 stand for 101 'é' / 1001 'a'
# A few raw-socket cases (slow and truncated bodies, bad request lines) follow.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

CASES=$(dirname "$0")/hostile/cases.tsv
PC_CONF_SET="limits.writes_per_minute=0"
e2e_start
n=$(grep -cv '^#' "$CASES")
plan $((n + 5))

alice=$SAMPLE_PROFILE_ID
now=$(date +%s)
token() {
	local good
	good=$(jwt_hs256 "$alice")
	case $1 in
	alice) printf 'Bearer %s' "$good" ;;
	garbage) printf 'Bearer garbage' ;;
	expired) printf 'Bearer %s' "$(jwt_hs256 "$alice" authenticated -600)" ;;
	alg_none) printf 'Bearer %s.%s.' "$(printf '{"alg":"none"}' | b64url)" \
		"$(printf '{"sub":"%s","role":"authenticated","aud":"authenticated","exp":%d}' "$alice" $((now + 600)) | b64url)" ;;
	wrong_secret) printf 'Bearer %s' "$(jwt_hs256 "$alice" authenticated 600 authenticated "another-secret-another-secret-another-secret")" ;;
	tampered) printf 'Bearer %s.%s.%s' "${good%%.*}" \
		"$(printf '{"sub":"%s","role":"service_role","exp":%d}' "$alice" $((now + 600)) | b64url)" "${good##*.}" ;;
	wrong_aud) printf 'Bearer %s' "$(jwt_hs256 "$alice" authenticated 600 anon)" ;;
	future_nbf) printf 'Bearer %s' "$(jwt_custom "{\"sub\":\"$alice\",\"role\":\"authenticated\",\"aud\":\"authenticated\",\"exp\":$((now + 7200)),\"nbf\":$((now + 3600))}")" ;;
	# Past [auth] max_token_lifetime (a day by default).
	exp_2_62) printf 'Bearer %s' "$(jwt_custom "{\"sub\":\"$alice\",\"role\":\"authenticated\",\"aud\":\"authenticated\",\"iat\":$now,\"exp\":4611686018427387904}")" ;;
	two_days) printf 'Bearer %s' "$(jwt_hs256 "$alice" authenticated 172800)" ;;
	two_days_no_iat) printf 'Bearer %s' "$(jwt_custom "{\"sub\":\"$alice\",\"role\":\"authenticated\",\"aud\":\"authenticated\",\"exp\":$((now + 172800))}")" ;;
	old_iat) printf 'Bearer %s' "$(jwt_custom "{\"sub\":\"$alice\",\"role\":\"authenticated\",\"aud\":\"authenticated\",\"iat\":$((now - 172800)),\"exp\":$((now + 600))}")" ;;
	empty_bearer) printf 'Bearer ' ;;
	secret_as_bearer) printf 'Bearer %s' "$(admin_key)" ;;
	publishable_as_bearer) printf 'Bearer %s' "$(<"$ANON_KEY_FILE")" ;;
	anonymous) printf 'Bearer %s' "$(jwt_custom "{\"sub\":\"$alice\",\"role\":\"authenticated\",\"aud\":\"authenticated\",\"is_anonymous\":true,\"exp\":$((now + 600))}")" ;;
	legacy_service_role) printf 'Bearer %s' "$(jwt_hs256 "" service_role 600 "")" ;;
	anon_role) printf 'Bearer %s' "$(jwt_hs256 "$alice" anon 600)" ;;
	basic) printf 'Basic YWxpY2U6c2VjcmV0' ;;
	two_bearers) printf 'Bearer %s Bearer %s' "$good" "$good" ;;
	huge_token) printf 'Bearer %s.%s.x' "${good%%.*}" "$(head -c 9000 /dev/zero | tr '\0' A)" ;;
	bad_b64) printf 'Bearer %s.%s.%s' "${good%%.*}" '!!!' "${good##*.}" ;;
	no_sig) printf 'Bearer %s' "${good%.*}" ;;
	esac
}
body_file() {
	local spec=$1 f=$E2E_DIR/body
	case $spec in
	@rep:*) spec=${spec#@rep:}; head -c "${spec%%:*}" /dev/zero | tr '\0' "${spec#*:}" >"$f" ;;
	@json_bio:*) { printf '{"bio":"'; head -c "${spec#@json_bio:}" /dev/zero | tr '\0' a; printf '"}'; } >"$f" ;;
	@hex:*) printf '%s' "${spec#@hex:}" | sed 's/../\\x&/g' | xargs -0 printf '%b' >"$f" ;;
	@nest:*) head -c "${spec#@nest:}" /dev/zero | tr '\0' '[' >"$f" ;;
	@nestobj:*) for _ in $(seq "${spec#@nestobj:}"); do printf '{"a":'; done >"$f" ;;
	@crlf:*) printf '%b' "${spec#@crlf:}" >"$f" ;;
	*) spec=${spec//@rep1001/$(head -c 1001 /dev/zero | tr '\0' a)}
	   spec=${spec//@rep101/$(printf 'é%.0s' $(seq 101))}
	   printf '%s' "$spec" >"$f" ;;
	esac
	printf '%s' "$f"
}

# server_answers DESC: the status the stack's web server answers itself for
# a case, before the responder sees it, where that is outside the case's
# expected statuses; empty for the others.
server_answers() {
	case $WEB_SERVER:$1 in
	# Apache maps the path to a file first: a segment longer than NAME_MAX
	# is "File name too long" (AH00127), answered 403.
	apache-*:"5000-byte path") printf 403 ;;
	# A header line over the limit (8 KiB) is 400 (lighttpd: 431).
	apache-*:"PATCH with 9 KiB token" | nginx:"PATCH with 9 KiB token") printf 400 ;;
	esac
}

while IFS=$'\t' read -r expected method path auth ctype header body desc; do
	[[ $expected == \#* || -z $expected ]] && continue
	also=$(server_answers "$desc")
	[[ -n $also ]] && expected+="|$also"
	args=(-s -g -o "$E2E_DIR/out" -w '%{http_code}' -X "$method" --max-time 20)
	[[ $auth != - ]] && args+=(-H "Authorization: $(token "$auth")")
	[[ $ctype != - ]] && args+=(-H "Content-Type: $ctype")
	[[ $ctype == - && $body != - ]] && args+=(-H "Content-Type:")
	[[ $header != - ]] && args+=(-H "$header")
	[[ $body != - ]] && args+=(--data-binary "@$(body_file "$body")")
	[[ $body == - && ($method == POST || $method == PUT || $method == PATCH) ]] && args+=(-H 'Content-Length: 0')
	got=$(curl "${args[@]}" --path-as-is "$HTTP_URL$path" || true)
	if [[ $got =~ ^($expected)$ ]]; then ok 0 "$desc ($got)"; else
		ok 1 "$desc: got $got, expected $expected"
		diag "$(head -c 300 "$E2E_DIR/out")"
	fi
done <"$CASES"

# --- raw sockets: what curl will not send ----------------------------------------
raw() {	# raw REQUEST-BYTES [SECONDS]: the status line's code, or "none"
	local code
	code=$(timeout "${2:-5}" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"; printf "%b" "$1" >&3; head -c 12 <&3' \
		"$PORT_BASE" "$1" 2>/dev/null | awk '{print $2}')
	printf '%s' "${code:-none}"
}
like "$(raw 'GET /v1/healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n')" '^(400|200)$' \
	"negative Content-Length is refused or ignored by the server"
like "$(raw 'PATCH /v1/profiles/'"$alice"' HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"bio"' 3)" \
	'^(none|400|408)$' "a truncated body never reaches the app as a write"
like "$(raw 'GET /v1/healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n')" \
	'^(400|200)$' "chunked with Content-Length (smuggling shape) is refused or handled once"
like "$(raw 'GARBAGE\r\n\r\n')" '^(400|none)$' "a request line of garbage: 400"
is "$(curl -s -o /dev/null -w '%{http_code}' "$BASE_URL/healthz")" 200 "the service is still up after all of it"
