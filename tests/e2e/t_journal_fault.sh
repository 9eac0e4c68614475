#!/usr/bin/env bash
# A journal that cannot commit (full or read-only filesystem) turns writes into
# 503 with nothing acknowledged or cached; once the disk is back, writes work.
# The journal lives on a tiny tmpfs mounted for the test.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

mnt=$(mktemp -d /tmp/pc-journal-mnt.XXXXXX)
if ! mount -t tmpfs -o size=256k,mode=0755 tmpfs "$mnt" 2>/dev/null; then
	rmdir "$mnt"
	e2e_skip_all "cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)"
fi
# Called by lib.sh once the stack has stopped.
e2e_cleanup() {
	umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	rmdir "$mnt" 2>/dev/null || true
}
# Kept for the whole script: the restarts below rewrite the config from it.
# The metrics file stays off the tmpfs: its shared mapping would keep the
# filesystem busy for a moment after the responders exit.
PC_CONF_SET="journal.path=$mnt/journal.db journal.busy_timeout_ms=500 metrics.file=$mnt.metrics"
e2e_start
plan 12

id=$SAMPLE_PROFILE_ID
auth=(-H "Authorization: Bearer $(jwt_hs256 "$id")" -H 'Content-Type: application/json')

http PATCH "/profiles/$id" "${auth[@]}" --data '{"bio":"first"}'
is "$HTTP_STATUS" 202 "a write on a healthy journal is acknowledged"

# Fill the filesystem, leaving no room for the WAL to grow.
dd if=/dev/zero of="$mnt/filler" bs=4k count=1000 2>/dev/null || true
http PATCH "/profiles/$id" "${auth[@]}" --data "{\"bio\":\"$(head -c 900 /dev/zero | tr '\0' b)\"}"
is "$HTTP_STATUS" 503 "journal full: 503"
is "$(json .error.code)" unavailable "error code unavailable"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
http GET "/profiles/$id"
is "$(json .profile.bio)" first "nothing of the refused write was cached"

rm -f "$mnt/filler"
# Checked once there is room again: a responder that had not opened the
# journal before the disk filled up (each one under plain CGI, some of
# spawn-fcgi's) cannot open it on a full disk, so its misses are 503.
mc_flush
http GET "/profiles/$id"
is "$(json .profile.bio)" first "nor journaled"
http PATCH "/profiles/$id" "${auth[@]}" --data '{"bio":"after the disk was freed"}'
is "$HTTP_STATUS" 202 "space again: writes are acknowledged"

# A filesystem cannot turn read-only under open files: restart the web
# server (and so the responders) around the remount.
remount() { pc_stop_web "$VAR_DIR" && mount -o "remount,$1" "$mnt" && pc_start_web "$VAR_DIR" >/dev/null; }
remount ro
http PATCH "/profiles/$id" "${auth[@]}" --data '{"bio":"read-only"}'
is "$HTTP_STATUS" 503 "read-only journal: 503"
http GET "/profiles/$id"
is "$(json .profile.bio)" "after the disk was freed" "the refused write is not visible"
remount rw
http PATCH "/profiles/$id" "${auth[@]}" --data '{"bio":"writable again"}'
is "$HTTP_STATUS" 202 "writable again: 202"
is "$(sqlite3 "$mnt/journal.db" "select count(*) from changes where state = 'pending'")" 3 \
	"exactly the three acknowledged writes are in the journal"
is "$(sqlite3 "$mnt/journal.db" "select group_concat(json_extract(patch, '$.bio'), '|') from (select patch from changes order by seq)" | cut -c1-60)" \
	"first|after the disk was freed|writable again" "in order, with their contents"
