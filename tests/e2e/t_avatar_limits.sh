#!/usr/bin/env bash
# Image work is bounded so that one account cannot stall every reader: at
# most [avatar] max_decodes decodes at once on the node (503 busy past it),
# uploads_per_user at once per account (429 upload_in_progress), and a decode
# past timeout_ms is answered as what it is (422 image_too_slow). A wave of
# slow uploads from several accounts runs while a reader measures its
# latency; its p95 with and without the wave is reported (no timing is
# asserted: the limits are checked by status).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

command -v vips >/dev/null || e2e_skip_all "needs vips (libvips-tools)"
PC_CONF_SET="limits.writes_per_minute=0 avatar.max_bytes=4194304 avatar.max_decodes=1 avatar.uploads_per_user=1"
e2e_start
plan 9

img=$(mktemp -d)
e2e_cleanup() { rm -rf -- "$img"; }
# A 30-megapixel progressive JPEG of noise: small on the wire, slow to
# decode (seconds under the sanitizers).
(
	cd "$img"
	vips black b.v 6000 5000 --bands 3
	vips gaussnoise n.v 6000 5000 --sigma 20
	vips add b.v n.v s.v
	vips copy s.v slow.jpg[Q=60,interlace]
) >/dev/null
# restart_web: the web server and its responders again, with PC_CONF_SET.
restart_web() {
	pc__write_responder_config "$VAR_DIR"
	pc_stop_web "$VAR_DIR"
	pc_start_web "$VAR_DIR" >/dev/null || e2e_bail "the web server did not restart"
}
# Without the sanitizers libvips shrinks a JPEG while loading it and the decode
# is over in well under a second, about as long as mod_fcgid makes a request
# wait when every responder is busy. For the two sections that need uploads to
# overlap, the helper starts 2 s late (then does its real work).
cat >"$E2E_DIR/slow-helper" <<HELPER
#!/bin/sh
sleep 2
exec "$PC_BUILDDIR/profilecache-image" "\$@"
HELPER
chmod 755 "$E2E_DIR/slow-helper"
base_conf=$PC_CONF_SET
PC_CONF_SET="$base_conf avatar.helper=$E2E_DIR/slow-helper"
restart_web
mapfile -t users < <(psql_exec "insert into profiles (id, display_name) select gen_random_uuid(), 'uploader ' || g
	from generate_series(1, 6) g returning id")
W=$E2E_DIR/wave
mkdir -p "$W"

# upload N [TAG]: user N uploads the slow image; the status goes to
# W/upload.N[.TAG].
upload() {
	local u=${users[$1]}
	curl -s -o /dev/null -w '%{http_code}\n' -m 60 -X POST "$BASE_URL/profiles/$u/avatar" \
		-H "Authorization: Bearer $(jwt_hs256 "$u")" -H 'Content-Type: image/jpeg' \
		--data-binary "@$img/slow.jpg" >"$W/upload.$1${2:+.$2}" || true
}

# reader SECONDS FILE: GET a cached profile in a loop, one time_total per line.
reader() {
	local end=$((SECONDS + $1))
	while ((SECONDS < end)); do
		curl -s -o /dev/null -w '%{time_total}\n' "$BASE_URL/profiles/$SAMPLE_PROFILE_ID" || true
	done >"$2"
}
p95() { sort -n "$1" | awk '{ v[NR] = $1 } END { i = int(NR * 0.95); if (i < 1) i = 1; printf "%.1f ms (%d reads)", v[i] * 1000, NR }'; }

# --- one account: a second upload while the first decodes -----------------------------
# The second is sent once the first holds the account's upload place (its
# memcached lock is there), and the attempt counts only if the first still
# held it when the second was answered: a web server may hold either
# request for a while before the responder sees it, so the overlap is
# observed rather than assumed from a sleep.
place_key="pc1:lock:upload:${users[0]}:0"
second="" first_code=""
for attempt in 1 2 3 4 5; do
	rm -f "$W"/upload.0.*
	upload 0 first &
	first=$!
	for _ in $(seq 300); do
		[[ $(pc_memcached_cmd "$MEMCACHED_PORT" "get $place_key") == VALUE* ]] && break
		kill -0 "$first" 2>/dev/null || break
		sleep 0.02
	done
	upload 0 second
	overlapped=no
	[[ $(pc_memcached_cmd "$MEMCACHED_PORT" "get $place_key") == VALUE* ]] && overlapped=yes
	wait "$first"
	if [[ $overlapped == yes ]]; then
		second=$(<"$W/upload.0.second") first_code=$(<"$W/upload.0.first")
		break
	fi
	diag "attempt $attempt: the first upload let go of its place before the second was answered; again"
done
is "$second" 429 "a second upload of one account while its first decodes: 429"
is "$first_code" 202 "the first is stored: 202"

# --- many accounts: the node's decode slots -------------------------------------------
curl -s -o /dev/null "$BASE_URL/profiles/$SAMPLE_PROFILE_ID" # cached
reader 4 "$W/quiet.txt"
rm -f "$W"/upload.*
reader 6 "$W/wave.txt" &
rd=$!
for n in 1 2 3 4 5; do upload "$n" & done
wait "$rd"
wait
codes=$(cat "$W"/upload.* | sort | uniq -c | awk '{ printf "%s%s x %s", sep, $1, $2; sep = ", " }')
diag "a wave of 5 slow uploads from 5 accounts with max_decodes=1: $codes"
diag "reader p95 without the wave: $(p95 "$W/quiet.txt"); during it: $(p95 "$W/wave.txt")"
ok "$([[ $(cat "$W"/upload.* | grep -c '^503$') -ge 1 ]]; echo $?)" "past max_decodes an upload is 503, not a held responder"
ok "$([[ $(cat "$W"/upload.* | grep -c '^202$') -ge 1 ]]; echo $?)" "and at least one of the wave is stored"
is "$(cat "$W"/upload.* | grep -cv '^\(202\|503\)$')" 0 "every upload of the wave is 202 or 503"
ok "$([[ $(grep -c . "$W/wave.txt") -gt 0 ]]; echo $?)" "reads were answered during the wave"
http POST "/profiles/${users[1]}/avatar" -H "Authorization: Bearer $(jwt_hs256 "${users[1]}")" \
	-H 'Content-Type: image/jpeg' --data-binary "@$img/slow.jpg"
is "$HTTP_STATUS/$(header Retry-After)" "202/" "with the wave over, an upload is stored again"

# --- a decode past timeout_ms --------------------------------------------------------
PC_CONF_SET="$base_conf avatar.timeout_ms=100" # and the helper as it is
restart_web
http POST "/profiles/${users[2]}/avatar" -H "Authorization: Bearer $(jwt_hs256 "${users[2]}")" \
	-H 'Content-Type: image/jpeg' --data-binary "@$img/slow.jpg"
is "$HTTP_STATUS/$(json .error.code)" "422/image_too_slow" "a decode past timeout_ms: 422 image_too_slow, not too_many_pixels"
http GET "/profiles/$SAMPLE_PROFILE_ID"
is "$HTTP_STATUS" 200 "reads go on"
