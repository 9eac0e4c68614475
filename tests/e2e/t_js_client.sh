#!/usr/bin/env bash
# The JavaScript client (clients/js/profilecache.js) against the real stack:
# node --test runs clients/js/test/*.test.js, each top-level test reported
# here as one TAP check. The tests run the flusher and stop and start the
# origin and the web server themselves, through the commands passed in the
# environment.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || e2e_skip_all "needs node (18 or later)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
	e2e_skip_all "needs node 18 or later (node:test, fetch)"
# The client speaks HTTP only: one web server is enough.
export PC_WEB_SERVER=lighttpd
PC_CONF_SET="limits.writes_per_minute=0 origin.retry_after=1 avatar.trash_grace=0"
e2e_start

TOKEN_ALICE=$(jwt_hs256 "$SAMPLE_PROFILE_ID")
TOKEN_BOB=$(jwt_hs256 7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02)
export TOKEN_ALICE TOKEN_BOB
e2e_export_commands

node_tap "$PC_ROOT"/clients/js/test/*.test.js
