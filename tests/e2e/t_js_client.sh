#!/usr/bin/env bash
# The JavaScript client (clients/js/profilecache.js) against the real stack:
# node --test runs clients/js/test/*.test.js, each top-level test reported
# here as one TAP check. The tests run the flusher and stop and start the
# origin and the web server themselves, through the commands passed in the
# environment.
set -euo pipefail
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
lib=$(pc__shquote "$PC_ROOT/scripts/lib.sh")
var=$(pc__shquote "$VAR_DIR")
PC_FLUSH_CMD="$(pc__shquote "$PC_BUILDDIR/profilecache-flush") --config $(pc__shquote "$CONFIG_PATH")"
PC_ORIGIN_STOP_CMD=". $lib && pc_stop_origin $var"
PC_ORIGIN_START_CMD=". $lib && pc_start_origin $var"
PC_WEB_STOP_CMD=". $lib && pc_stop_web $var"
PC_WEB_START_CMD=". $lib && pc_start_web $var"
PC_PSQL=$PC_PG_BIN/psql
export TOKEN_ALICE TOKEN_BOB PC_FLUSH_CMD PC_ORIGIN_STOP_CMD PC_ORIGIN_START_CMD \
	PC_WEB_STOP_CMD PC_WEB_START_CMD PC_PSQL PC_TOP_BUILDDIR=$PC_BUILDDIR

# node_test FILE...: run each file with node's test runner (TAP), one check
# per top-level test, the runner's output as comments when one failed.
node_test() {
	local f out rc line
	for f in "$@"; do
		out=$E2E_DIR/${f##*/}.tap
		rc=0
		(cd -- "$E2E_DIR" && timeout 120 node --test-reporter=tap "$f") >"$out" 2>&1 || rc=$?
		while IFS= read -r line; do
			# Top-level results only: subtests are indented.
			if [[ $line =~ ^(not\ )?ok\ [0-9]+\ -\ (.*)$ ]]; then
				if [[ -z ${BASH_REMATCH[1]} ]]; then _e2e_result 1 "${BASH_REMATCH[2]}"; else
					_e2e_result 0 "${BASH_REMATCH[2]}"
				fi
			fi
		done <"$out"
		is "$rc" 0 "node ${f##*/}: exit 0"
		((rc == 0)) || diag "$(cat -- "$out")"
	done
	plan "$_e2e_count"
}

node_test "$PC_ROOT"/clients/js/test/*.test.js
