#!/usr/bin/env bash
# Cross-origin calls from headless Chromium ([http] cors_origins): pages of
# two other loopback origins, one listed, call the API with fetch
# (tests/browser/cors.test.js). Skipped while the responder has no CORS
# support (no cors_origins key in etc/profilecache.conf.example).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PC_CHROMIUM=${PC_CHROMIUM:-/usr/bin/chromium}
grep -Eq '^[;[:space:]]*cors_origins[[:space:]]*=' "$PC_ROOT/etc/profilecache.conf.example" ||
	e2e_skip_all "the responder has no [http] cors_origins yet"
[[ -x $PC_CHROMIUM ]] || e2e_skip_all "needs Chromium ($PC_CHROMIUM; scripts/test installs Debian's chromium)"
command -v node >/dev/null || e2e_skip_all "needs node (18 or later)"
[[ -f $PC_ROOT/tests/browser/node_modules/puppeteer-core/package.json ]] ||
	e2e_skip_all "needs puppeteer-core: scripts/test installs it (or: cd tests/browser && PUPPETEER_SKIP_DOWNLOAD=1 npm ci)"
export PC_WEB_SERVER=lighttpd

# Two more free loopback ports for the pages' origins, known before the
# stack's configuration is written.
ports=$(pc_free_port_base) || e2e_bail "no free ports"
PC_ALLOWED_PORT=$ports
PC_OTHER_PORT=$((ports + 1))
PC_CONF_SET="limits.writes_per_minute=0 http.cors_origins=http://127.0.0.1:$PC_ALLOWED_PORT"
e2e_start

TOKEN_ALICE=$(jwt_hs256 "$SAMPLE_PROFILE_ID")
export HOME=$E2E_DIR XDG_CONFIG_HOME=$E2E_DIR/.config XDG_CACHE_HOME=$E2E_DIR/.cache
export PC_CHROMIUM PC_ALLOWED_PORT PC_OTHER_PORT TOKEN_ALICE
node_tap "$PC_ROOT/tests/browser/cors.test.js"
