#!/usr/bin/env bash
# [auth] jwks_url: ES256 signing keys fetched from a URL (a small HTTP server
# on loopback that the test starts), shared by the node's responders through
# <journal>-jwks.json. A key rotated in is taken without a restart (a token
# naming an unknown kid fetches the set again), a key removed stops verifying
# once the set has expired and been fetched again, and while the URL fails
# (no set yet, 500, garbage) the last good set stays in use and the failure is
# logged. Waits are the configured intervals, nothing else is timed.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || e2e_skip_all "python3 is not installed (scripts/lib.sh lists it)"
e2e_start
plan 52

alice=$SAMPLE_PROFILE_ID
json=(-H 'Content-Type: application/json')
interval=2 # [auth] jwks_refetch_interval
srv=$E2E_DIR/jwks-server
cache=$JWKS_CACHE_FILE
mkdir -p "$srv"

# The key set's server: GET /jwks.json answers with the status in $srv/status
# (default 200), the body $srv/jwks.json (a small JSON error for a 5xx) and
# the Cache-Control header in $srv/cache-control, if any; each request is a
# line of $srv/requests. It listens on a free port, written to $srv/port.
cat >"$E2E_DIR/jwks_server.py" <<'PY'
import http.server
import os
import sys

root = sys.argv[1]


def read(name, default):
    try:
        with open(os.path.join(root, name), 'rb') as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.path.join(root, 'requests'), 'a') as f:
            f.write(self.path + '\n')
        status = int(read('status', b'200'))
        body = read('jwks.json', b'')
        if self.path != '/jwks.json':
            status, body = 404, b'{"error":"not found"}'
        elif status >= 500:
            body = b'{"error":"down"}'
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        cc = read('cache-control', b'')
        if cc:
            self.send_header('Cache-Control', cc.decode())
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write('%s\n' % (fmt % args))


server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
with open(os.path.join(root, 'port.tmp'), 'w') as f:
    f.write('%d\n' % server.server_address[1])
os.rename(os.path.join(root, 'port.tmp'), os.path.join(root, 'port'))
server.serve_forever()
PY
python3 "$E2E_DIR/jwks_server.py" "$srv" 2>"$VAR_DIR/log/jwks-server.log" &
jwks_pid=$!
e2e_cleanup() {
	kill "$jwks_pid" 2>/dev/null || true
	wait "$jwks_pid" 2>/dev/null || true
}
for _ in $(seq 50); do [[ -s $srv/port ]] && break; sleep 0.1; done
[[ -s $srv/port ]] || e2e_bail "the JWKS server did not start"
url=http://127.0.0.1:$(<"$srv/port")/jwks.json

# serve STATUS [CACHE-CONTROL] [JWK...]: what the server answers from now on
# (the set of the JWKs given; without any, the set as it was).
serve() {
	printf '%s\n' "$1" >"$srv/status"
	printf '%s\n' "${2:-}" >"$srv/cache-control"
	shift 2
	if (($#)); then
		(IFS=,; printf '{"keys":[%s]}\n' "$*") >"$srv/jwks.json.tmp"
		mv -f -- "$srv/jwks.json.tmp" "$srv/jwks.json"
	fi
}
# fetches: how many requests the server got so far.
fetches() { if [[ -f $srv/requests ]]; then wc -l <"$srv/requests" | tr -d ' '; else echo 0; fi; }
# patch_with TOKEN: PATCH alice's bio with TOKEN; sets HTTP_STATUS.
patch_with() { http PATCH "/profiles/$alice" "${json[@]}" -H "Authorization: Bearer $1" --data '{"bio":"signed"}'; }
# burst N TOKEN: N such PATCHes at once, on N connections (the web server
# hands them to several responders); prints each distinct status once.
burst() {
	local -a to=()
	local i
	for ((i = 0; i < $1; i++)); do to+=(-o /dev/null "$BASE_URL/profiles/$alice"); done
	curl -s -Z --parallel-immediate --parallel-max "$1" -m 20 -w '%{http_code}\n' -X PATCH \
		"${json[@]}" -H "Authorization: Bearer $2" --data '{"bio":"burst"}' "${to[@]}" |
		sort -u | tr '\n' ' '
}
# log_count EVENT [PATTERN]: the responders' log lines of EVENT (matching PATTERN).
log_count() { grep -c -E "event=$1 .*${2:-}" -- "$WEB_LOG" || true; }
restart_web() { pc_stop_web "$VAR_DIR" && pc_start_web "$VAR_DIR" || e2e_bail "the web server did not restart"; }

es256_key "$E2E_DIR/a.pem" && es256_key "$E2E_DIR/b.pem" && es256_key "$E2E_DIR/c.pem" ||
	e2e_bail "openssl cannot make P-256 keys"
jwk_a=$(jwk_es256 "$E2E_DIR/a.pem" key-a)
jwk_b=$(jwk_es256 "$E2E_DIR/b.pem" key-b)
tok_a=$(jwt_es256 "$E2E_DIR/a.pem" key-a "$alice")
tok_b=$(jwt_es256 "$E2E_DIR/b.pem" key-b "$alice")
tok_c=$(jwt_es256 "$E2E_DIR/c.pem" key-c "$alice") # never published
tok_hs=$(jwt_hs256 "$alice")

# --- no set yet: the URL fails and there is no cache file ------------------------------
serve 500 ""
PC_CONF_SET="auth.jwks_url=$url auth.jwks_refetch_interval=$interval auth.jwks_max_age=600"
restart_web
patch_with "$tok_a"
is "$HTTP_STATUS/$(json .error.code)" "503/auth_unavailable" "no key set could be fetched: 503, not 401"
is "$(header Retry-After)" "$interval" "with Retry-After: the refetch interval"
cmp_ok "$(log_count jwks_fetch_failed 'error="HTTP 500" kept="no set yet"')" -ge 1 \
	"the failed fetch is logged"
patch_with "$tok_hs"
is "$HTTP_STATUS" 202 "the JWT secret still verifies HS256 tokens"
[[ -e $cache ]] && got=present || got=absent
is "$got" absent "a failed fetch writes no cache file"

# --- key A published ------------------------------------------------------------------------
serve 200 "public, max-age=600" "$jwk_a"
sleep "$interval"
before=$(fetches)
patch_with "$tok_a"
is "$HTTP_STATUS" 202 "key A published: a token of A writes"
is "$(($(fetches) - before))" 1 "after one fetch"
is "$(stat -c %a "$cache" 2>/dev/null)" 644 "the set is in the cache file beside the journal, mode 0644"
is "$(jq -r '[.keys[].kid] | join(",")' "$cache")/$(jq -r .profilecache.url "$cache")/$(jq -r .profilecache.max_age "$cache")" \
	"key-a/$url/600" "a JWKS with where it came from and for how long (Cache-Control: max-age)"
left=$(find "$(dirname "$JOURNAL_PATH")" -maxdepth 1 -name "${cache##*/}.*" | wc -l)
is "$left" 0 "no temporary file is left"
before=$(fetches)
is "$(burst 12 "$tok_a")" "202 " "12 writes at once, spread over the responders: all 202"
is "$(($(fetches) - before))" 0 "and no more fetches: the responders share the cache file"
is "$(log_count jwks_fetched 'keys=1 max_age=600')" 1 "one jwks_fetched line so far"
patch_with "$tok_b"
is "$HTTP_STATUS/$(json .error.code)" "401/token_unknown_key" "a token of B, not published yet: 401 token_unknown_key"

# --- rotation: A and B published, no restart ------------------------------------------------
serve 200 "public, max-age=600" "$jwk_a" "$jwk_b"
sleep "$interval"
before=$(fetches)
patch_with "$tok_b"
is "$HTTP_STATUS" 202 "B published: its token writes at once (its unknown kid fetched the set)"
is "$(($(fetches) - before))" 1 "after one fetch"
is "$(jq -r '[.keys[].kid] | join(",")' "$cache")" "key-a,key-b" "the cache file holds both keys"
before=$(fetches)
is "$(burst 12 "$tok_b")" "202 " "every responder takes B's tokens"
is "$(($(fetches) - before))" 0 "having read the cache file again, without fetching"
patch_with "$tok_a"
is "$HTTP_STATUS" 202 "A's tokens still work"
# New responders, which never fetched, take the set from the cache file.
restart_web
before=$(fetches)
is "$(burst 12 "$tok_b")/$(burst 12 "$tok_a")" "202 /202 " "after a restart, every responder takes both keys"
is "$(($(fetches) - before))" 0 "from the cache file, without fetching"

# --- made-up kids cost at most one fetch per interval -----------------------------------------
serve 200 "public, max-age=3"
sleep "$interval"
before=$(fetches)
t0=$(date +%s%N)
refused=0
for _ in 1 2 3 4 5 6; do
	patch_with "$tok_c"
	[[ $HTTP_STATUS == 401 ]] && refused=$((refused + 1))
done
ms=$((($(date +%s%N) - t0) / 1000000))
is "$refused" 6 "a token whose kid is not published: 401, six times"
like "$(header WWW-Authenticate)" 'error="invalid_token"' "with WWW-Authenticate"
n=$(($(fetches) - before))
cmp_ok "$n" -ge 1 "the first one fetched the set again"
# At most one per interval (less the file system clock's tick).
cmp_ok "$n" -le $((1 + ms / (interval * 1000 - 100))) "the others did not, within the interval ($n fetches in $ms ms)"

# --- A revoked: only B published -------------------------------------------------------------
serve 200 "public, max-age=3" "$jwk_b"
sleep 4 # the set fetched above (max-age=3) has expired, and the interval passed
patch_with "$tok_a"
is "$HTTP_STATUS/$(json .error.code)" "401/token_unknown_key" "A removed: once the set expired and was fetched, A's tokens get 401 token_unknown_key"
patch_with "$tok_b"
is "$HTTP_STATUS" 202 "B's still work"
is "$(jq -r '[.keys[].kid] | join(",")' "$cache")/$(jq -r .profilecache.max_age "$cache")" "key-b/3" \
	"the cache file holds B alone, for 3 s"
is "$(burst 8 "$tok_a")" "401 " "every responder refuses A's tokens"

# --- the URL fails: the last good set stays ----------------------------------------------------
failed=$(log_count jwks_fetch_failed)
serve 500 ""
sleep 3 # B's set has expired
before=$(fetches)
t0=$(date +%s%N)
patch_with "$tok_b"
is "$HTTP_STATUS" 202 "the URL answers 500 when the set has expired: B's tokens still write"
is "$(($(fetches) - before))" 1 "after one fetch"
cmp_ok "$(log_count jwks_fetch_failed 'error="HTTP 500" kept="the last good set"')" -ge 1 \
	"which is logged: jwks_fetch_failed, HTTP 500, the last good set kept"
patch_with "$tok_a"
is "$HTTP_STATUS" 401 "A's tokens are still refused"
is "$(jq -r '[.keys[].kid] | join(",")' "$cache")" "key-b" "the cache file is left as it was"
is "$(burst 8 "$tok_b")" "202 " "every responder keeps B"
ms=$((($(date +%s%N) - t0) / 1000000))
cmp_ok "$(($(fetches) - before))" -le $((1 + ms / (interval * 1000 - 100))) \
	"asking the failing URL no more than once per interval ($(($(fetches) - before)) in $ms ms)"

printf '<html>Bad gateway</html>\n' >"$srv/jwks.json"
serve 200 ""
sleep "$interval"
patch_with "$tok_b"
is "$HTTP_STATUS" 202 "the URL answers garbage: B's tokens still write"
cmp_ok "$(log_count jwks_fetch_failed 'not valid JSON')" -ge 1 "and the failure is logged"
serve 200 "" '{"kty":"EC","crv":"P-256","kid":"key-x","x":"AAAA","y":"AAAA"}'
sleep "$interval"
patch_with "$tok_b"
is "$HTTP_STATUS" 202 "a set with a malformed key: B's tokens still write"
cmp_ok "$(log_count jwks_fetch_failed 'key 0: bad x or y')" -ge 1 "and the failure is logged"
patch_with "$tok_c"
is "$HTTP_STATUS" 401 "a kid nobody published: still 401"
cmp_ok "$(log_count jwks_fetch_failed)" -ge $((failed + 3)) "every failed fetch was logged"

# --- a restart while the URL fails: the cache file is the set ------------------------------------
serve 500 ""
restart_web
patch_with "$tok_b"
is "$HTTP_STATUS" 202 "after a restart, B's tokens write (the set of the cache file)"
patch_with "$tok_a"
is "$HTTP_STATUS" 401 "and A's are refused"
patch_with "$tok_hs"
is "$HTTP_STATUS" 202 "HS256 tokens too"

# --- the URL works again -------------------------------------------------------------------------------
serve 200 "public, max-age=600" "$jwk_a" "$jwk_b"
sleep "$interval"
patch_with "$tok_a"
is "$HTTP_STATUS" 202 "A published again: its token writes (unknown kid, fetched)"
is "$(jq -r '[.keys[].kid] | join(",")' "$cache")/$(jq -r .profilecache.max_age "$cache")" "key-a,key-b/600" \
	"the cache file has the new set"

# --- nothing secret in the logs; the checks of [auth] jwks_url ------------------------------------
leaks=$(grep -l -F -e "$tok_a" -e "$tok_b" -e "$tok_c" -e "${tok_b##*.}" -- "$VAR_DIR"/log/* 2>/dev/null || true)
is "$leaks" "" "no log holds a token"
conf=$E2E_DIR/remote.conf
pc__ini_set "$CONFIG_PATH" "$conf" "auth.jwks_url=http://192.0.2.10/auth/v1/.well-known/jwks.json"
rc=0
"$PC_BUILDDIR/profilecache-admin" --config "$conf" check-config >"$E2E_DIR/check.out" 2>"$E2E_DIR/check.err" || rc=$?
is "$rc" 78 "check-config refuses a plain-http jwks_url on another machine"
like "$(<"$E2E_DIR/check.err")" '\[auth\] jwks_url: http:// is allowed only to a loopback address' "naming the key"
"$PC_BUILDDIR/profilecache-admin" --config "$CONFIG_PATH" check-config >"$E2E_DIR/check.out" 2>&1 || true
like "$(<"$E2E_DIR/check.out")" 'auth: +secret\+jwks_url' "check-config names jwks_url"
