#!/usr/bin/env bash
# Who may write, and how the service key reaches the origin, as Supabase's
# API keys want it: a secret key (sb_secret_...) travels in apikey only and
# is refused as a bearer token, by the responder and by the local origin; a
# legacy JWT key travels both ways. Anonymous users and legacy service_role
# tokens may not write unless [auth] says so; the secret key in apikey is
# the admin credential. An http:// origin that is not this machine is
# refused at start.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# The origin logs the names of the headers it gets.
e2e_start --log-headers
plan 121

alice=$SAMPLE_PROFILE_ID
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
carol=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03 # private
json=(-H 'Content-Type: application/json')
secret=$(admin_key)
publishable=$(<"$ANON_KEY_FILE")
now=$(date +%s)
FLUSH=$PC_BUILDDIR/profilecache-flush
# anonymous SUB: a token of Supabase's anonymous sign-ins.
anonymous() {
	jwt_custom "{\"sub\":\"$1\",\"role\":\"authenticated\",\"aud\":\"authenticated\",\"is_anonymous\":true,\"exp\":$((now + 3600))}"
}
legacy=$(jwt_hs256 "" service_role 3600 "")
# origin_requests: the origin's log lines for profilecache's own requests.
origin_requests() { grep -E 'path=/(profiles|rpc/)' -- "$ORIGIN_LOG" || true; }
# restart_web: the web server and its responders again, with PC_CONF_SET.
restart_web() { pc_stop_web "$VAR_DIR" && pc_start_web "$VAR_DIR" || e2e_bail "the web server did not restart"; }

is "${secret:0:10}/${publishable:0:15}" "sb_secret_/sb_publishable_" "the stack has Supabase's key formats"

# --- the origin gets the secret key in apikey, never as a bearer token ----------------------
mc_flush
http GET "/profiles/$bob"
is "$HTTP_STATUS" 200 "a cache miss is read from the origin"
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $(jwt_hs256 "$alice")" \
	--data '{"bio":"flushed with the secret key"}'
is "$HTTP_STATUS" 202 "the owner writes"
rc=0
"$FLUSH" --config "$CONFIG_PATH" >/dev/null 2>"$E2E_DIR/flush.err" || rc=$?
is "$rc" 0 "the flusher applies it"
is "$(psql_exec "select bio from public.profiles where id = '$alice'")" "flushed with the secret key" \
	"and the database has it"
reqs=$(origin_requests)
cmp_ok "$(grep -c 'path=/rpc/apply_profile_changes status=200' <<<"$reqs")" -ge 1 "the origin answered the flusher's call"
is "$(grep -c 'path=/profiles.* status=200 ' <<<"$reqs" | tr -d ' ')" "$(grep -c 'path=/profiles' <<<"$reqs")" \
	"and every read"
is "$(grep -cv 'headers=.*apikey' <<<"$reqs")" 0 "every origin request carried apikey"
is "$(grep -c 'headers=.*authorization' <<<"$reqs")" 0 "and none an Authorization header"

# --- anonymous users ------------------------------------------------------------------------
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $(anonymous "$alice")" --data '{"bio":"anonymous"}'
is "$HTTP_STATUS/$(json .error.code)" "403/anonymous_not_allowed" "an anonymous user may not write, by default"
http PUT "/profiles/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f1" "${json[@]}" \
	-H "Authorization: Bearer $(anonymous 0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f1)" --data '{"username":"squatter"}'
is "$HTTP_STATUS/$(json .error.code)" "403/anonymous_not_allowed" "nor create a profile and claim a username"
http DELETE "/profiles/$alice" -H "Authorization: Bearer $(anonymous "$alice")"
is "$HTTP_STATUS" 403 "nor delete"
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $(jwt_hs256 "$alice" anon)" --data '{"bio":"anon role"}'
is "$HTTP_STATUS/$(json .error.code)" "403/token_wrong_role" "a token whose role is not authenticated may not write"

# --- a refused token is told why --------------------------------------------------------------
# refused CODE DESC AUTH-HEADER-VALUE: a PATCH of alice's profile with it
# answers 401 CODE, with the challenge of RFC 6750 and a message that does
# not quote the credential.
refused() {
	local cred=$3 quoted
	http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: $cred" --data '{"bio":"refused"}'
	is "$HTTP_STATUS/$(json .error.code)" "401/$1" "$2: 401 $1"
	like "$(header WWW-Authenticate)" "^Bearer realm=\"profilecache\", error=\"invalid_token\", error_description=\"[^\"]+\"\$" \
		"$1: WWW-Authenticate names invalid_token, with a description"
	cred=${cred#* }
	quoted=0
	[[ $HTTP_BODY$(header WWW-Authenticate) != *"${cred:0:12}"* &&
		$HTTP_BODY$(header WWW-Authenticate) != *"${cred: -12}"* ]] || quoted=1
	ok "$quoted" "$1: the answer does not quote the credential"
}
iat=$now
claims() { printf '{"sub":"%s","role":"authenticated","aud":"authenticated","iat":%d,"exp":%d%s}' "$alice" "$iat" "$((now + 3600))" "${1:-}"; }
http PATCH "/profiles/$alice" "${json[@]}" --data '{"bio":"nothing"}'
is "$HTTP_STATUS/$(json .error.code)" "401/missing_credentials" "no credentials at all: 401 missing_credentials"
is "$(header WWW-Authenticate)" 'Bearer realm="profilecache"' "challenged without an error, as RFC 6750 asks"
refused token_malformed "a token that is not three parts" "Bearer not-a-jwt-at-all"
like "$(json .error.message)" 'three base64url parts' "the message says what a JWT looks like"
refused token_malformed "a token without exp" "Bearer $(jwt_custom "{\"sub\":\"$alice\",\"role\":\"authenticated\",\"aud\":\"authenticated\"}")"
like "$(json .error.message)" 'missing exp$' "and which part is wrong"
refused token_malformed "Basic credentials" "Basic YWxpY2U6c2VjcmV0"
refused token_unsupported_alg "alg none" "Bearer $(printf '{"alg":"none","typ":"JWT"}' | b64url).$(claims | b64url)."
h=$(printf '{"alg":"HS512","typ":"JWT"}' | b64url)
p=$(claims | b64url)
refused token_unsupported_alg "HS512" \
	"Bearer $h.$p.$(printf '%s.%s' "$h" "$p" | openssl dgst -sha512 -mac HMAC -macopt "key:$JWT_SECRET" -binary | b64url)"
es256_key "$E2E_DIR/es.pem"
refused token_unknown_key "an ES256 token whose kid the node has no key for" "Bearer $(jwt_es256 "$E2E_DIR/es.pem" no-such-kid "$alice")"
refused token_bad_signature "HS256 signed with another secret" \
	"Bearer $(jwt_hs256 "$alice" authenticated 3600 authenticated another-secret-another-secret-0123456789)"
good=$(jwt_hs256 "$alice")
refused token_bad_signature "a payload changed after signing" "Bearer ${good%%.*}.$(claims ',"x":1' | b64url).${good##*.}"
refused token_expired "an expired token" "Bearer $(jwt_hs256 "$alice" authenticated -600)"
refused token_not_yet_valid "nbf an hour ahead" "Bearer $(jwt_custom "$(claims ",\"nbf\":$((now + 3600))")")"
iat=$((now + 3600))
refused token_not_yet_valid "iat an hour ahead" "Bearer $(jwt_custom "$(claims)")"
iat=$((now - 2 * 86400))
refused token_lifetime_too_long "a token that lives two days (max_token_lifetime is a day)" "Bearer $(jwt_custom "$(claims)")"
iat=$now
refused token_wrong_audience "aud anon" "Bearer $(jwt_hs256 "$alice" authenticated 3600 anon)"
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $(jwt_custom "$(claims)")" --data '{"bio":"well-formed"}'
is "$HTTP_STATUS" 202 "the same claims, untouched and fresh: 202"

# --- legacy service_role tokens -----------------------------------------------------------------
http PATCH "/profiles/$bob" "${json[@]}" -H "Authorization: Bearer $legacy" --data '{"bio":"legacy"}'
is "$HTTP_STATUS/$(json .error.code)" "403/legacy_service_role_refused" \
	"a legacy service_role token is refused, by default"
http DELETE "/profiles/$bob" -H "Authorization: Bearer $legacy"
is "$HTTP_STATUS" 403 "also for a delete"

# --- the secret key ---------------------------------------------------------------------------
http PATCH "/profiles/$bob" "${json[@]}" -H "apikey: $secret" --data '{"bio":"set with the secret key"}'
is "$HTTP_STATUS/$(json .profile.bio)" "202/set with the secret key" "the secret key in apikey writes any profile"
http GET "/profiles/$carol" -H "apikey: $secret"
is "$HTTP_STATUS" 200 "and reads a private one"
like "$(header Vary)" '(^|,) *apikey *(,|$)' "the answer varies with apikey"
http GET "/profiles/$carol"
is "$HTTP_STATUS" 404 "which stays 404 without it"
http GET "/profiles/$carol" -H "apikey: $publishable"
is "$HTTP_STATUS" 404 "or with the publishable key"
http PATCH "/profiles/$bob" "${json[@]}" -H "Authorization: Bearer $secret" --data '{"bio":"as bearer"}'
is "$HTTP_STATUS/$(json .error.code)" "401/api_key_as_bearer" "the secret key as a bearer token: 401"
like "$(header WWW-Authenticate)" 'error="invalid_token"' "with WWW-Authenticate"
http PATCH "/profiles/$bob" "${json[@]}" -H "apikey: $secret" -H "Authorization: Bearer $secret" --data '{"bio":"both"}'
is "$HTTP_STATUS" 401 "also next to it in apikey"
http PATCH "/profiles/$bob" "${json[@]}" -H "apikey: ${secret}x" --data '{"bio":"wrong"}'
is "$HTTP_STATUS/$(json .error.code)" "401/invalid_api_key" "a wrong secret key: 401"
is "$(header Cache-Control)" no-store "an answer to a request with an apikey is for no cache"
http PATCH "/profiles/$bob" "${json[@]}" -H "apikey: ${secret%?}" --data '{"bio":"short"}'
is "$HTTP_STATUS" 401 "a shorter one too"
http PATCH "/profiles/$bob" "${json[@]}" -H "apikey: $publishable" --data '{"bio":"publishable"}'
is "$HTTP_STATUS/$(json .error.code)" "401/missing_credentials" "the publishable key grants nothing"
http PATCH "/profiles/$bob" "${json[@]}" -H "apikey: $secret" -H "Authorization: Bearer $(jwt_hs256 "$alice")" \
	--data '{"bio":"alice with the key"}'
is "$HTTP_STATUS/$(json .error.code)" "403/forbidden" "with a user's token next to it, the token says who asks"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where id = '$bob'")" 1 \
	"and only the secret key's change was journaled for bob"

# --- profilecache-admin token ------------------------------------------------------------------
ADMIN=$PC_BUILDDIR/profilecache-admin
# mint CONFIG ARG...: profilecache-admin token's output in $minted, its exit
# code in $rc, its stderr in $E2E_DIR/token.err.
mint() {
	local conf=$1
	shift
	rc=0
	minted=$("$ADMIN" --config "$conf" token "$@" 2>"$E2E_DIR/token.err") || rc=$?
}
# payload TOKEN: the token's decoded claims.
payload() {
	local p=${1#*.}
	p=${p%%.*}
	while ((${#p} % 4)); do p+="="; done
	printf '%s' "$p" | tr -- '-_' '+/' | base64 -d
}
mint "$CONFIG_PATH" --sub "$alice"
is "$rc/$(wc -l <<<"$minted" | tr -d ' ')" "0/1" "token: one line on stdout, exit 0"
is "$(payload "$minted" | jq -c '[.sub, .role, .aud, .exp - .iat]')" "[\"$alice\",\"authenticated\",\"authenticated\",3600]" \
	"sub, role authenticated, aud, and an hour to live by default"
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $minted" --data '{"bio":"minted"}'
is "$HTTP_STATUS/$(json .profile.bio)" "202/minted" "the responder takes the minted token: 202"
http PATCH "/profiles/$bob" "${json[@]}" -H "Authorization: Bearer $minted" --data '{"bio":"minted"}'
is "$HTTP_STATUS/$(json .error.code)" "403/forbidden" "for its own profile only"
mint "$CONFIG_PATH" --sub "$alice" --ttl 86400
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $minted" --data '{"bio":"a day"}'
is "$rc/$HTTP_STATUS" "0/202" "--ttl max_token_lifetime (a day): minted and taken"
mint "$CONFIG_PATH" --sub "$alice" --ttl 86401
is "$rc/$minted" "1/" "--ttl past max_token_lifetime: refused, nothing printed"
like "$(<"$E2E_DIR/token.err")" 'over \[auth\] max_token_lifetime \(86400\)' "naming max_token_lifetime"
mint "$CONFIG_PATH" --sub "$alice" --role anon
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $minted" --data '{"bio":"anon"}'
is "$rc/$HTTP_STATUS/$(json .error.code)" "0/403/token_wrong_role" "a minted anon token may not write: 403 token_wrong_role"
mint "$CONFIG_PATH" --sub "Alice"
is "$rc/$minted" "2/" "a sub that is not a lower-case UUID: usage error"
elsewhere=$E2E_DIR/elsewhere.conf
pc__ini_set "$CONFIG_PATH" "$elsewhere" "origin.url=https://192.0.2.10/rest/v1"
mint "$elsewhere" --sub "$alice"
is "$rc/$minted" "1/" "an origin not on this machine: refused without --dev"
like "$(<"$E2E_DIR/token.err")" 'not on this machine.*--dev' "saying so, and what to add"
mint "$elsewhere" --sub "$alice" --dev
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $minted" --data '{"bio":"dev"}'
is "$rc/$HTTP_STATUS" "0/202" "with --dev: minted (and taken here, with the same secret)"
nosecret=$E2E_DIR/nosecret.conf
sed -E '/^[[:space:]]*jwt_secret_file[[:space:]]*=/d' "$CONFIG_PATH" >"$nosecret"
mint "$nosecret" --sub "$alice"
is "$rc/$minted" "1/" "no jwt_secret_file: refused"
like "$(<"$E2E_DIR/token.err")" 'no \[auth\] jwt_secret_file.*only Supabase Auth' "saying a JWKS cannot be minted for"
unlike "$(<"$E2E_DIR/token.err")" "$JWT_SECRET" "the secret is never printed"

# --- [auth] issuer ----------------------------------------------------------------------------
PC_CONF_SET="auth.issuer=https://issuer.test/auth/v1"
restart_web
refused token_wrong_issuer "iss of another project" "Bearer $(jwt_custom "$(claims ',"iss":"https://other.test/auth/v1"')")"
refused token_wrong_issuer "no iss" "Bearer $(jwt_custom "$(claims)")"
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $(jwt_custom "$(claims ',"iss":"https://issuer.test/auth/v1"')")" \
	--data '{"bio":"right issuer"}'
is "$HTTP_STATUS" 202 "the configured iss: 202"
mint "$CONFIG_PATH" --sub "$alice"
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $minted" --data '{"bio":"minted with iss"}'
is "$(payload "$minted" | jq -r .iss)/$HTTP_STATUS" "https://issuer.test/auth/v1/202" "a minted token carries the configured iss: 202"

# --- switched on ------------------------------------------------------------------------------
PC_CONF_SET="auth.allow_anonymous=true auth.accept_legacy_service_role=true"
restart_web
http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $(anonymous "$alice")" --data '{"bio":"anonymous"}'
is "$HTTP_STATUS/$(json .profile.bio)" "202/anonymous" "allow_anonymous: an anonymous user writes their own profile"
http PATCH "/profiles/$bob" "${json[@]}" -H "Authorization: Bearer $(anonymous "$alice")" --data '{"bio":"anonymous"}'
is "$HTTP_STATUS/$(json .error.code)" "403/forbidden" "and nobody else's"
http PATCH "/profiles/$bob" "${json[@]}" -H "Authorization: Bearer $legacy" --data '{"bio":"legacy"}'
is "$HTTP_STATUS/$(json .profile.bio)" "202/legacy" "accept_legacy_service_role: the legacy token writes any profile"
http GET "/profiles/$carol" -H "Authorization: Bearer $legacy"
is "$HTTP_STATUS" 200 "and reads a private one"
PC_CONF_SET=
restart_web
http PATCH "/profiles/$bob" "${json[@]}" -H "Authorization: Bearer $legacy" --data '{"bio":"legacy again"}'
is "$HTTP_STATUS" 403 "switched off again: refused"

leaks=$(grep -l -F -e "$secret" -e "$legacy" -- "$VAR_DIR"/log/* 2>/dev/null || true)
is "$leaks" "" "no log holds the secret key or a token"

# --- the local origin is as strict as Supabase -------------------------------------------------
rows="$ORIGIN_URL/profiles?select=id&limit=1"
is "$(pc_http_code "$rows" -H "apikey: $secret")" 200 "origin: the secret key in apikey: 200"
is "$(pc_http_code "$rows" -H "apikey: $publishable")" 200 "origin: the publishable key in apikey: 200"
http GET "$rows" -H "apikey: $secret" -H "Authorization: Bearer $secret"
is "$HTTP_STATUS/$(json .code)" "401/PGRST301" "origin: the secret key as a bearer token: 401 PGRST301"
like "$(json .message)" 'Expected 3 parts in JWT; got 1' "as PostgREST words it"
is "$(pc_http_code "$rows" -H "apikey: $publishable" -H "Authorization: Bearer $publishable")" 401 \
	"origin: the publishable key as a bearer token: 401"
is "$(pc_http_code "$rows" -H "Authorization: Bearer $secret")" 401 "origin: no apikey: 401"
is "$(pc_http_code "$rows" -H "apikey: sb_secret_wrong")" 401 "origin: a wrong key: 401"

# --- a legacy JWT key travels both ways --------------------------------------------------------
pc_stop_web "$VAR_DIR"
pc_stop_origin "$VAR_DIR"
old_key=$secret
jwt_key=$(jwt_custom "{\"iss\":\"supabase\",\"role\":\"service_role\",\"iat\":$now,\"exp\":$((now + 86400))}")
printf '%s' "$jwt_key" >"$SERVICE_KEY_FILE" # in place: its mode and group stay
pc_start_origin "$VAR_DIR" --log-headers || e2e_bail "the origin did not restart"
restart_web
before=$(origin_requests | wc -l)
mc_flush
http GET "/profiles/$bob"
is "$HTTP_STATUS" 200 "with a legacy JWT service key, the origin still answers"
last=$(origin_requests | tail -n +$((before + 1)) | grep 'path=/profiles' | tail -n 1)
like "$last" 'headers=.*apikey' "the key went in apikey"
like "$last" 'headers=.*authorization' "and as the bearer token"
is "$(pc_http_code "$rows" -H "apikey: $jwt_key" -H "Authorization: Bearer $jwt_key")" 200 \
	"origin: a legacy JWT key both ways: 200"
http PATCH "/profiles/$bob" "${json[@]}" -H "apikey: $old_key" --data '{"bio":"old key"}'
is "$HTTP_STATUS" 401 "the responder takes no secret key when the service key is none"

# --- an http:// origin elsewhere is refused at start ---------------------------------------------
remote=$E2E_DIR/remote.conf
pc__ini_set "$CONFIG_PATH" "$remote" "origin.url=http://192.0.2.10:3000/rest/v1"
rc=0
env -i PATH="$PATH" PROFILECACHE_CONFIG="$remote" REQUEST_METHOD=GET REQUEST_URI=/v1/healthz \
	"$PC_FCGI_BIN" </dev/null >"$E2E_DIR/cgi.out" 2>"$E2E_DIR/cgi.err" || rc=$?
is "$rc" 78 "the responder refuses a plain-http origin on another machine: exit 78"
like "$(<"$E2E_DIR/cgi.err")" 'event=config_invalid .*\[origin\] url: http:// is allowed only to a loopback address' \
	"naming [origin] url"
is "$(wc -c <"$E2E_DIR/cgi.out" | tr -d ' ')" 0 "and answering nothing"
rc=0
"$FLUSH" --config "$remote" >/dev/null 2>&1 || rc=$?
is "$rc" 78 "so does the flusher"
rc=0
"$PC_BUILDDIR/profilecache-admin" --config "$remote" check-config >/dev/null 2>&1 || rc=$?
is "$rc" 78 "and check-config"
pc__ini_set "$CONFIG_PATH" "$remote" "origin.url=https://192.0.2.10/rest/v1"
rc=0
"$PC_BUILDDIR/profilecache-admin" --config "$remote" check-config >/dev/null 2>&1 || rc=$?
is "$rc" 0 "https:// to it is fine"
pc__ini_set "$CONFIG_PATH" "$remote" "origin.url=http://localhost:$((PORT_BASE + 1))"
rc=0
"$PC_BUILDDIR/profilecache-admin" --config "$remote" check-config >/dev/null 2>&1 || rc=$?
is "$rc" 0 "so is http://localhost"
