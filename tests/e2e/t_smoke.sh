#!/usr/bin/env bash
# Smoke test: a whole stack starts, /v1/healthz answers 200, a sample profile
# is served, a malformed id is refused, and lighttpd serves static files.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_start
plan 8

http GET /healthz
is "$HTTP_STATUS" 200 "healthz is 200"
is "$(json .status)" ok "healthz says ok"

http GET "/profiles/$SAMPLE_PROFILE_ID"
is "$HTTP_STATUS" 200 "the sample profile is 200"
is "$(json .profile.username)" alice "it is alice's"
is "$(json .profile.id)" "$SAMPLE_PROFILE_ID" "with the id asked for"

http GET /profiles/not-a-uuid
is "$HTTP_STATUS" 400 "a malformed id is 400"
is "$(json .error.code)" invalid_id "with error code invalid_id"

printf 'static\n' >"$DOCUMENT_ROOT/smoke.txt"
http GET "$HTTP_URL/smoke.txt"
is "$HTTP_STATUS $HTTP_BODY" "200 static" "lighttpd serves files outside /v1/ from the document root"
