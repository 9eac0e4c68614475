#!/usr/bin/env bash
# Shared hosting: the responder under a sub-path, /api/profiles.fcgi/v1/...,
# set up by one of etc/apache/htaccess-{cgi,fcgid} in the document root (the
# one of the stack's Apache flavour), with a config of its own passed the way
# that file says. GET and PUT reach the app, the Authorization header too, and
# a CORS preflight (OPTIONS) is answered by the app.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

case ${PC_WEB_SERVER:-} in
apache-cgi) flavour=cgi ;;
apache-fcgid) flavour=fcgid ;;
*) e2e_skip_all "the .htaccess variants are Apache's (PC_WEB_SERVER=apache-cgi or apache-fcgid)" ;;
esac
PC_CONF_SET="limits.writes_per_minute=0"
e2e_start
plan 18

id=$SAMPLE_PROFILE_ID
api=$DOCUMENT_ROOT/api
sub=$HTTP_URL/api/profiles.fcgi/v1

# The sub-path's own config: another cache prefix, so that its answers show
# which config the responder there was started with, and CORS for one origin.
sed -e 's/^prefix = .*/prefix = pcsub1:/' \
	-e 's|^;cors_origins = .*|cors_origins = https://app.example.com|' \
	"$CONFIG_PATH" >"$VAR_DIR/subpath.conf"
mkdir -p "$api"
cp "$PC_FCGI_BIN" "$api/profiles.fcgi"
pc__render "$PC_ROOT/etc/apache/htaccess-$flavour" "$api/.htaccess" \
	"FCGI_BIN=$api/profiles.fcgi" "PROFILECACHE_CONFIG=$VAR_DIR/subpath.conf"
# What a shared host allows (the stack's Apache allows no overrides at all).
cat >"$VAR_DIR/apache2.d/subpath.conf" <<EOF
<Directory "$api">
    AllowOverride FileInfo AuthConfig Options=ExecCGI
</Directory>
EOF
pc_stop_web "$VAR_DIR"
pc_start_web "$VAR_DIR" >/dev/null || e2e_bail "Apache did not restart with the sub-path"

# --- reads ----------------------------------------------------------------------
http GET "$BASE_URL/profiles/$id"
is "$HTTP_STATUS $(header X-Cache)" "200 MISS" "the main mount reads the sample profile"
http GET "$BASE_URL/profiles/$id"
is "$(header X-Cache)" HIT "and caches it under its prefix"

http GET "$sub/healthz"
is "$HTTP_STATUS" 200 "healthz under the sub-path"
http GET "$sub/profiles/$id?x=1"
is "$HTTP_STATUS" 200 "GET under the sub-path, with a query"
is "$(json .profile.username)" alice "the app routed the path after SCRIPT_NAME"
is "$(header X-Cache)" MISS "a miss: the responder there runs with the sub-path's config"
http GET "$sub/profiles/$id"
is "$(header X-Cache)" HIT "then a hit"
etag=$(header ETag)

http GET "$sub/nothing/here"
is "$HTTP_STATUS $(json .error.code)" "404 not_found" "an unknown route there is the app's 404"
http GET "$HTTP_URL/api/profiles.fcgi"
is "$HTTP_STATUS $(json .error.code)" "404 not_found" "the script's own URL is the app's 404"

# --- a CORS preflight reaches the app and comes back whole -----------------------------
http OPTIONS "$sub/profiles/$id" -H 'Origin: https://app.example.com' \
	-H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: authorization'
is "$HTTP_STATUS $(header Access-Control-Allow-Origin)" "204 https://app.example.com" \
	"a preflight under the sub-path: 204 from the app"
is "$(header Access-Control-Allow-Methods)" "GET, HEAD, PUT, PATCH, DELETE" "with the path's methods"

# --- writes: the Authorization header reaches the app ------------------------------
http PUT "$sub/profiles/$id" -H 'Content-Type: application/json' --data '{"bio":"no token"}'
is "$HTTP_STATUS" 401 "PUT without a token: 401"
http PUT "$sub/profiles/$id" -H "Authorization: Bearer $(jwt_hs256 "$id")" \
	-H 'Content-Type: application/json' -H "If-Match: $etag" \
	--data '{"username":"alice","bio":"from a sub-path"}'
is "$HTTP_STATUS" 202 "PUT with the owner's token: 202"
is "$(json .profile.bio)/$(json .sync)" "from a sub-path/pending" "the write is acknowledged"
http GET "$sub/profiles/$id"
is "$(json .profile.bio)" "from a sub-path" "GET there shows it"
is "$(sqlite3 "$JOURNAL_PATH" "select json_extract(patch, '$.bio') from changes where state = 'pending'")" \
	"from a sub-path" "it is in the journal"
mc_flush
http GET "$BASE_URL/profiles/$id"
is "$(json .profile.bio)/$(json .sync)" "from a sub-path/pending" "and the main mount reads it from the same journal"

# --- the responders behind it ------------------------------------------------------
# responders: how many processes run the sub-path's copy of the binary.
responders() { pgrep -c -u "$PC_WEB_USER" -f "^$api/profiles.fcgi( |\$)" || true; }
if [[ $flavour == fcgid ]]; then
	cmp_ok "$(responders)" -ge 1 "mod_fcgid keeps the sub-path's responders running"
else
	# A CGI responder may finish its after-response work first.
	for _ in 1 2 3 4 5 6 7 8 9 10; do [[ $(responders) == 0 ]] && break; sleep 0.2; done
	is "$(responders)" 0 "plain CGI: no responder outlives its request"
fi
