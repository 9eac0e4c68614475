#!/usr/bin/env bash
# Cross-origin calls ([http] cors_origins): preflights answered by the
# responder behind the web server (204 with exactly the allow headers for a
# listed origin, none for another or a lookalike), the CORS headers on every
# kind of answer the responder makes (200, 202, 304, 401, 404, 405, 413, 429,
# 503), "*" for reads only, hostile Origin values never echoed, and no CORS
# header at all without the option. OPTIONS without a preflight is 204 with
# Allow; on an unknown path 404. A POST without a body length is 411 behind
# every web server.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

app=https://app.example.com
dev=http://localhost:5173
PC_CONF_SET="http.cors_origins=$app,$dev limits.writes_per_minute=1 limits.max_body=4096"
e2e_start
plan 68

alice=$SAMPLE_PROFILE_ID
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
json=(-H 'Content-Type: application/json')
methods="GET, HEAD, PUT, PATCH, DELETE"
allow_headers="authorization, content-type, if-match, if-none-match, idempotency-key, apikey, x-client-info"
expose="ETag, X-Cache, Retry-After, WWW-Authenticate, Location, Idempotent-Replayed"

# cors_headers: the Access-Control-* headers of the last answer, one
# "name: value" a line, names in lower case, sorted.
cors_headers() {
	awk '/^HTTP\// { n = 0; delete h }
		{ i = index($0, ":"); k = tolower(substr($0, 1, i - 1))
		  if (k ~ /^access-control-/) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); h[n++] = k ": " v } }
		END { for (j = 0; j < n; j++) print h[j] }' <<<"$HTTP_HEADERS" | LC_ALL=C sort
}
# vary: the last answer's Vary, without spaces (Apache joins the names with
# "," alone).
vary() { header Vary | tr -d ' '; }
# preflight ORIGIN METHOD PATH [HEADERS]: a browser's preflight.
preflight() {
	http OPTIONS "$3" -H "Origin: $1" -H "Access-Control-Request-Method: $2" \
		${4:+-H "Access-Control-Request-Headers: $4"}
}
# from ORIGIN METHOD PATH [CURL-ARG...]: an actual request from ORIGIN.
from() {
	local o=$1
	shift
	http "$1" "$2" -H "Origin: $o" "${@:3}"
}
# raw_origin ORIGIN: a GET of alice's profile with ORIGIN sent byte for byte
# (curl would not send a CR inside a header); prints the answer's headers.
raw_origin() {
	local hostport=${BASE_URL#http://}
	hostport=${hostport%%/*}
	exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
	printf 'GET %s/profiles/%s HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nConnection: close\r\n\r\n' \
		"${BASE_URL#http://"$hostport"}" "$alice" "$hostport" "$1" >&3
	timeout 20 cat <&3 >"$E2E_DIR/raw.out" || true
	exec 3<&-
	tr -d '\r' <"$E2E_DIR/raw.out" | awk '/^$/ { exit } { print }'
}
# allow_origin_lines HEADERS: how many Access-Control-Allow-Origin or
# X-Injected lines HEADERS hold.
allow_origin_lines() {
	grep -ciE '^(access-control-allow-origin|x-injected):' <<<"$1" || true
}

# --- preflights -------------------------------------------------------------------
preflight "$app" PATCH "/profiles/$alice" "authorization,content-type"
is "$HTTP_STATUS" 204 "preflight from a listed origin: 204"
is "$(cors_headers)" "access-control-allow-headers: $allow_headers
access-control-allow-methods: $methods
access-control-allow-origin: $app
access-control-max-age: 600" "exactly the allow headers, the origin echoed"
is "$(vary)" "Origin,Access-Control-Request-Method" "varies on Origin and the requested method"
is "$(header Allow)" "$methods, OPTIONS" "with Allow"
is "$(header Access-Control-Allow-Credentials)" "" "no Allow-Credentials (no cookies)"
is "$(wc -c <"$HTTP_BODY_FILE")" 0 "and no body"
preflight "$dev" DELETE "/profiles/$alice" "authorization"
is "$(header Access-Control-Allow-Origin)" "$dev" "the second listed origin (http, a port)"
preflight "$app" POST "/profiles/$alice/avatar" "authorization"
is "$HTTP_STATUS/$(header Access-Control-Allow-Methods)" "204/POST" "the avatar path allows POST"
preflight "$app" GET /healthz
is "$(header Access-Control-Allow-Methods)" "GET, HEAD" "healthz allows GET and HEAD"

preflight https://evil.test PATCH "/profiles/$alice" "authorization"
is "$HTTP_STATUS" 204 "preflight from an origin not listed: 204"
is "$(cors_headers)" "" "without any allow header"
is "$(vary)" "Origin,Access-Control-Request-Method" "still varies on Origin"
preflight "$app" POST "/profiles/$alice"
is "$HTTP_STATUS/$(cors_headers)" "204/" "a method the path does not accept: no allow headers"
preflight "$app" PATCH /nothing/here
is "$HTTP_STATUS" 404 "a preflight on an unknown path is 404"
is "$(header Access-Control-Allow-Methods)" "" "without allow headers"

bad=""
for o in https://app.example.com.evil.test https://evil.test.app.example.com \
	http://app.example.com https://app.example.com:8443 https://app.example.com:443 \
	HTTPS://APP.EXAMPLE.COM https://app.example.com/ https://app.example.co \
	null "$app,$dev" "*" "$app:"; do
	preflight "$o" GET "/profiles/$alice"
	[[ -z $(cors_headers) ]] || bad="$bad [$o]"
	from "$o" GET "/profiles/$alice"
	[[ -z $(header Access-Control-Allow-Origin) ]] || bad="$bad [$o GET]"
done
is "$bad" "" "lookalike origins (host, scheme, port, case, path, null, lists) are not echoed"

# --- OPTIONS without a preflight ----------------------------------------------------
http OPTIONS "/profiles/$alice"
is "$HTTP_STATUS" 204 "OPTIONS without a preflight: 204"
is "$(header Allow)" "$methods, OPTIONS" "with Allow"
is "$(header Access-Control-Allow-Origin)" "" "no Allow-Origin without Origin"
http OPTIONS /healthz -H "Origin: $app"
is "$HTTP_STATUS/$(header Allow)" "204/GET, HEAD, OPTIONS" "OPTIONS on healthz lists its methods"
is "$(header Access-Control-Allow-Origin)" "$app" "a listed origin's OPTIONS is answered with Allow-Origin"
http OPTIONS /nothing/here
is "$HTTP_STATUS" 404 "OPTIONS on an unknown path: 404"

# --- actual requests: every answer carries the headers ----------------------------------
from "$app" GET "/profiles/$alice"
is "$HTTP_STATUS" 200 "GET from a listed origin: 200"
is "$(cors_headers)" "access-control-allow-origin: $app
access-control-expose-headers: $expose" "Allow-Origin echoed, ETag, X-Cache, Retry-After exposed"
is "$(vary)" "Authorization,apikey,Origin" "Vary: Origin joins the route's Vary"
etag=$(header ETag)
like "$etag" '^"[0-9a-f]{16}"$' "with an ETag to read"
from "$app" HEAD "/profiles/$alice"
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" "200/$app" "HEAD too"
from "$app" GET "/profiles/$alice" -H "If-None-Match: $etag"
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" "304/$app" "304"
is "$(header Access-Control-Expose-Headers)" "$expose" "304 exposes the headers too"
from https://evil.test GET "/profiles/$alice"
is "$HTTP_STATUS" 200 "GET from an origin not listed is answered"
is "$(cors_headers)" "" "without CORS headers (the browser hides it)"
is "$(vary)" "Authorization,apikey,Origin" "varying on Origin"

from "$app" PATCH "/profiles/$alice" "${json[@]}" \
	-H "Authorization: Bearer $(jwt_hs256 "$alice")" --data '{"bio":"from the web app"}'
is "$HTTP_STATUS" 202 "PATCH from a listed origin: 202"
is "$(cors_headers)" "access-control-allow-origin: $app
access-control-expose-headers: $expose" "PATCH answer carries the headers"
like "$(header ETag)" '^"[0-9a-f]{16}"$' "and an ETag"
is "$(vary)" "Origin" "Vary: Origin"
from "$app" PATCH "/profiles/$alice" "${json[@]}" --data '{"bio":"x"}'
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" "401/$app" "401"
like "$(header WWW-Authenticate)" '^Bearer' "with WWW-Authenticate (exposed)"
from "$app" GET /nothing/here
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" "404/$app" "404"
is "$(header Access-Control-Expose-Headers)" "$expose" "404 exposes the headers"
from "$app" DELETE /healthz
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" "405/$app" "405"
is "$(header Allow)" "GET, HEAD, OPTIONS" "405 lists OPTIONS among the methods"
# The same mistake gets the same status behind every web server; lighttpd
# and Apache answer it themselves, without the responder's headers.
is "$(curl -s -o /dev/null -w '%{http_code}' -m 20 -X POST -H "Origin: $app" "$BASE_URL/profiles/$alice")" \
	411 "a POST without a body length: 411"
from "$app" PATCH "/profiles/$bob" "${json[@]}" \
	-H "Authorization: Bearer $(jwt_hs256 "$bob")" --data "{\"bio\":\"$(head -c 5000 /dev/zero | tr '\0' x)\"}"
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" "413/$app" "413 from the responder"
codes=""
for i in 1 2 3; do
	from "$app" PATCH "/profiles/$bob" "${json[@]}" \
		-H "Authorization: Bearer $(jwt_hs256 "$bob")" --data "{\"bio\":\"write $i\"}"
	codes="$codes$HTTP_STATUS "
	[[ $HTTP_STATUS != 429 ]] || break
done
like "$codes" '429 $' "past writes_per_minute: 429 ($codes)"
is "$(header Access-Control-Allow-Origin)" "$app" "429 carries Allow-Origin"
like "$(header Retry-After)" '^[0-9]+$' "and Retry-After, which is exposed"
pc_stop_origin "$VAR_DIR"
from "$app" GET /healthz
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" "503/$app" "503"
pc_start_origin "$VAR_DIR" >/dev/null || e2e_bail "the origin did not restart"

# --- hostile values ------------------------------------------------------------------
out=$(raw_origin "$app"$'\rX-Injected: yes')
is "$(allow_origin_lines "$out")" 0 "an Origin with a CR in it is not echoed"
long="https://$(head -c 4000 /dev/zero | tr '\0' a).example.com"
from "$long" GET "/profiles/$alice"
is "$(header Access-Control-Allow-Origin)" "" "a 4000-byte Origin is not echoed"

# restart_web SETTINGS: the web server and its responders again, configured
# with SETTINGS (PC_CONF_SET).
restart_web() {
	PC_CONF_SET=$1
	pc__write_responder_config "$VAR_DIR"
	pc_stop_web "$VAR_DIR"
	pc_start_web "$VAR_DIR" >/dev/null || e2e_bail "the web server did not restart"
}

# --- "*": any origin may read, only listed ones may write --------------------------------
restart_web "http.cors_origins=*,$app http.cors_max_age=120"
any=https://anyone.example.net:8080
from "$any" GET "/profiles/$alice"
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" "200/$any" "*: a GET from anywhere, the origin echoed"
is "$(header Access-Control-Expose-Headers)" "$expose" "with the exposed headers"
preflight "$any" GET "/profiles/$alice" "authorization"
is "$(cors_headers)" "access-control-allow-headers: $allow_headers
access-control-allow-methods: GET, HEAD
access-control-allow-origin: $any
access-control-max-age: 120" "*: a GET preflight allowed, for reads only, max age from the config"
preflight "$any" PATCH "/profiles/$alice" "authorization,content-type"
is "$HTTP_STATUS/$(cors_headers)" "204/" "*: a PATCH preflight is not allowed"
from "$any" PATCH "/profiles/$alice" "${json[@]}" --data '{"bio":"x"}'
is "$(header Access-Control-Allow-Origin)" "" "*: nor an actual PATCH's answer"
preflight "$app" PATCH "/profiles/$alice" "authorization"
is "$(header Access-Control-Allow-Methods)" "$methods" "a listed origin beside * may write"
bad=""
for o in null "https://a.test x" "https://a.test/" "https://a.test:0" "https://a.test:65536" \
	"https://user@a.test" "file://" "https://" "HTTPS://A.TEST" "javascript:alert(1)" "$long"; do
	from "$o" GET "/profiles/$alice"
	[[ -z $(header Access-Control-Allow-Origin) ]] || bad="$bad [$o]"
done
is "$bad" "" "*: null and malformed origins are not echoed"
out=$(raw_origin "https://a.test"$'\rX-Injected: yes')
is "$(allow_origin_lines "$out")" 0 "*: an Origin with a CR in it is not echoed"
is "$(raw_origin https://a.test | grep -i '^access-control-allow-origin:')" \
	"Access-Control-Allow-Origin: https://a.test" "(the same request without the CR gets it)"
from "http://[::1]:3000" GET /healthz
is "$(header Access-Control-Allow-Origin)" "http://[::1]:3000" "*: an IPv6 origin is"

# --- not set: no CORS header at all ----------------------------------------------------
restart_web ""
from "$app" GET "/profiles/$alice"
is "$HTTP_STATUS/$(cors_headers)" "200/" "cors_origins unset: no CORS headers"
is "$(vary)" "Authorization,apikey" "and no Vary: Origin"
preflight "$app" PATCH "/profiles/$alice" "authorization"
is "$HTTP_STATUS/$(cors_headers)" "204/" "a preflight is 204 without allow headers"
is "$(vary)" "" "not varying"
is "$(header Allow)" "$methods, OPTIONS" "with Allow"
from "$app" GET /nothing/here
is "$HTTP_STATUS/$(cors_headers)" "404/" "nor on errors"
http OPTIONS /nothing/here -H "Origin: $app" -H "Access-Control-Request-Method: GET"
is "$HTTP_STATUS" 404 "OPTIONS on an unknown path: 404"

# A wrong list stops the responder at start, naming the key.
conf=$E2E_DIR/bad.conf
bad=""
for v in "https://app.example.com/" "https://APP.example.com" "https://app.example.com:443" \
	"http://a.test:80" null "app.example.com" "https://a.test/path"; do
	pc__ini_set "$VAR_DIR/profilecache.conf" "$conf" "http.cors_origins=$v" 2>/dev/null
	out=$("$PC_BUILDDIR/cgi-bin/profilecache.fcgi" --config "$conf" </dev/null 2>&1 >/dev/null) && rc=0 || rc=$?
	[[ $rc == 78 && $out == *"[http] cors_origins"* ]] || bad="$bad [$v: $rc $out]"
done
is "$bad" "" "an entry that is not scheme://host[:port] is refused at start (exit 78, the key named)"
