#!/usr/bin/env bash
# Large request bodies are refused before they are stored: an anonymous 10 MB
# PATCH (over the web server's limit, the largest route limit) and a 4 MB one
# (under it, over the route's [limits] max_body) are answered without the
# web server keeping the body on disk, where, shared with the journal, it
# could fill the disk and turn every write into 503. Sent slowly, so that a
# server that stored the body would show it in its temporary directory while
# the request runs.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_start
plan 4

big=$E2E_DIR/big.json
# tmp_bytes: what the web server keeps in its temporary directories now.
tmp_bytes() { du -sb "$VAR_DIR/tmp" 2>/dev/null | cut -f1; }

# send MB: an anonymous PATCH of MB megabytes at 2 MB/s; prints "status
# most-bytes-in-tmp-while-it-ran".
send() {
	local code most=0 now pid
	head -c $(($1 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$big"
	curl -s -o /dev/null -w '%{http_code}' -m 30 --limit-rate 2M -X PATCH \
		"$BASE_URL/profiles/$SAMPLE_PROFILE_ID" -H 'Content-Type: application/json' \
		-H 'Expect:' --data-binary "@$big" >"$E2E_DIR/code" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		now=$(tmp_bytes)
		((now > most)) && most=$now
		sleep 0.2
	done
	wait "$pid" || true
	code=$(<"$E2E_DIR/code")
	printf '%s %s\n' "$code" "$most"
}

base=$(tmp_bytes)
read -r code most < <(send 10)
is "$code" 413 "an anonymous 10 MB PATCH (over the web server's limit): 413"
cmp_ok "$((most - base))" -lt 1048576 "and the web server did not store it (at most $((most - base)) bytes in its tmp)"
read -r code most < <(send 4)
like "$code" '^(401|413)$' "an anonymous 4 MB PATCH (over the route's limit): refused ($code)"
cmp_ok "$((most - base))" -lt 1048576 "and not stored either (at most $((most - base)) bytes in its tmp)"
