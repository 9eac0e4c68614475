#!/usr/bin/env bash
# profilecache-flush against a real PostgreSQL through pgrest-lite: applied
# writes become synced, newer rows win and are re-cached, an origin outage is
# retried with nothing lost, kill -9 mid-batch and two flushers at once do no
# harm, a poison change is dead-lettered while the rest apply, a deleted
# profile is not resurrected by a late replay, and calls in flight together
# keep each profile's changes in order.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PC_CONF_SET="flush.backoff_base_ms=50 flush.backoff_max=1 limits.writes_per_minute=0"
e2e_start
plan 65

FLUSH=$PC_BUILDDIR/profilecache-flush
alice=$SAMPLE_PROFILE_ID
bob=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02
carol=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03
json=(-H 'Content-Type: application/json')
svc=(-H "apikey: $(admin_key)")
flush() { FLUSH_RC=0; "$FLUSH" --config "$CONFIG_PATH" "$@" >"$VAR_DIR/flush.out" 2>"$VAR_DIR/flush.err" || FLUSH_RC=$?; }
jq_state() { sqlite3 "$JOURNAL_PATH" "select group_concat(state, ',') from (select state from changes where id = '$1' order by seq)"; }
db() { psql_exec "$1"; }

# --- nothing to do --------------------------------------------------------------
flush
is "$FLUSH_RC" 0 "an empty journal: exit 0"
is "$(cat "$VAR_DIR/flush.out" "$VAR_DIR/flush.err")" "" "nothing to do: nothing printed (cron mails nothing)"
flush -v
like "$(cat "$VAR_DIR/flush.err")" 'level=debug event=flush_done applied=0 .* exit=0' "-v: one summary line"

# --- write, flush, synced -----------------------------------------------------------
for i in 1 2 3 4 5; do
	http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data "{\"bio\":\"bio $i\"}"
done
http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data '{"display_name":"Alice F."}'
acked=$(json .profile.updated_at)
flush --dry-run
is "$FLUSH_RC" 0 "--dry-run: exit 0"
is "$(jq -c '.changes[0].patch' "$VAR_DIR/flush.out")" '{"bio":"bio 5","display_name":"Alice F."}' \
	"--dry-run prints the coalesced change"
is "$(jq_state "$alice")" "pending,pending,pending,pending,pending,pending" "--dry-run changed nothing"
flush
is "$FLUSH_RC" 0 "flush: exit 0"
like "$(cat "$VAR_DIR/flush.err")" 'applied=1 .*entries=6 batches=1' "six entries coalesced into one change"
is "$(jq_state "$alice")" "applied,applied,applied,applied,applied,applied" "all entries applied"
is "$(db "select bio || '|' || display_name || '|' || to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') from profiles where id = '$alice'")" \
	"bio 5|Alice F.|$acked" "the row holds the last write and its server-set updated_at"
http GET "/profiles/$alice"
is "$(header X-Cache)/$(json .sync)/$(json .profile.bio)" "HIT/synced/bio 5" "the cached entry became synced"

# --- the database row is newer: conflict, re-cached ---------------------------------
http PATCH "/profiles/$bob" "${json[@]}" "${svc[@]}" --data '{"bio":"older than the row"}'
db "update profiles set bio = 'newer in the database', updated_at = now() + interval '1 hour' where id = '$bob'" >/dev/null
flush
is "$FLUSH_RC" 0 "a conflict is not a failure: exit 0"
like "$(cat "$VAR_DIR/flush.err")" 'event=flush_reconciled id='"$bob" "the reconciliation is logged"
is "$(jq_state "$bob")" conflict "the entry is marked conflict"
is "$(db "select bio from profiles where id = '$bob'")" "newer in the database" "the newer row was not overwritten"
http GET "/profiles/$bob"
is "$(json .profile.bio)/$(json .sync)" "newer in the database/synced" "the database row was re-cached"

# --- origin down: retried, nothing lost ------------------------------------------------
http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data '{"bio":"while the origin is down"}'
pc_stop_origin "$VAR_DIR"
flush
is "$FLUSH_RC" 75 "origin down: exit 75"
is "$(sqlite3 "$JOURNAL_PATH" "select state || ':' || attempts from changes where id = '$alice' order by seq desc limit 1")" \
	"pending:1" "the entry waits for a retry, one attempt counted"
like "$(sqlite3 "$JOURNAL_PATH" "select last_error from changes where id = '$alice' order by seq desc limit 1")" . \
	"with the reason"
pc_start_origin "$VAR_DIR"
sleep 0.2
flush
is "$FLUSH_RC" 0 "origin back: exit 0"
is "$(db "select bio from profiles where id = '$alice'")" "while the origin is down" "the write arrived"

# --- kill -9 mid-batch, and two flushers at once ------------------------------------------
for i in 1 2 3; do
	http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data "{\"bio\":\"killed $i\"}"
done
http PATCH "/profiles/$bob" "${json[@]}" "${svc[@]}" --data '{"display_name":"Bob K."}'
pc_stop_origin "$VAR_DIR"
pc_start_origin "$VAR_DIR" --delay-ms 3000
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null &
slow=$!
# Until it holds the lock, at most 10 s. Looked up in /proc/locks: trying
# the lock ourselves could make the flusher find it taken and skip its run.
lock_ino=$(stat -c %i "$FLUSH_LOCK_FILE")
for _ in $(seq 200); do
	grep -qE "^[0-9]+: FLOCK .*:$lock_ino 0 EOF" /proc/locks && break
	sleep 0.05
done
flush
is "$FLUSH_RC" 0 "a second flusher exits 0 at once"
like "$(cat "$VAR_DIR/flush.err")" 'flush_skipped' "saying another run holds the lock"
kill -9 "$slow"
wait "$slow" 2>/dev/null || true
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where state = 'pending'")" 4 \
	"killed mid-batch: its entries are still pending"
pc_stop_origin "$VAR_DIR"
pc_start_origin "$VAR_DIR"
sleep 3.1	# the killed request may still be applied by the origin
flush
is "$FLUSH_RC" 0 "the next run finishes"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where state = 'pending'")" 0 "nothing left pending"
is "$(db "select bio from profiles where id = '$alice'")|$(db "select display_name from profiles where id = '$bob'")" \
	"killed 3|Bob K." "every write arrived once, the last one winning"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where state in ('dead', 'conflict') and id = '$alice'")" 0 \
	"the replay was not a conflict (same version, same effect)"

# --- a poison change is dead-lettered, the others apply -------------------------------------
now=$(($(date +%s%N) / 1000))
sqlite3 "$JOURNAL_PATH" "insert into changes (resource, id, patch, updated_at_us, created_at_us)
	values ('profile', '$carol', '{\"nickname\":\"not a field\"}', $now, $now)"
http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data '{"bio":"next to a poison change"}'
http PATCH "/profiles/$bob" "${json[@]}" "${svc[@]}" --data '{"bio":"also next to it"}'
flush
is "$FLUSH_RC" 65 "a dead-lettered change: exit 65"
is "$(jq_state "$carol")" dead "the poison change is dead"
like "$(sqlite3 "$JOURNAL_PATH" "select last_error from changes where id = '$carol'")" unknown_field "with the database's reason"
is "$(db "select bio from profiles where id = '$alice'")|$(db "select bio from profiles where id = '$bob'")" \
	"next to a poison change|also next to it" "the other changes applied"
flush
is "$FLUSH_RC" 0 "the dead entry does not fail later runs"

# --- a change to a profile deleted meanwhile: no resurrection -----------------------------
http PATCH "/profiles/$bob" "${json[@]}" "${svc[@]}" --data '{"bio":"written before the delete"}'
curl -s -o /dev/null -X POST "$ORIGIN_URL/rpc/delete_profile" -H 'Content-Type: application/json' \
	-H "apikey: $(<"$SERVICE_KEY_FILE")" \
	--data "{\"id\":\"$bob\"}"
is "$(db "select count(*) from profiles where id = '$bob'")" 0 "the profile is deleted"
flush
is "$FLUSH_RC" 0 "flush: exit 0"
is "$(db "select count(*) from profiles where id = '$bob'")" 0 "the late replay did not resurrect it"
is "$(sqlite3 "$JOURNAL_PATH" "select state from changes where id = '$bob' order by seq desc limit 1")" cancelled \
	"its entry is cancelled"
http GET "/profiles/$bob"
is "$HTTP_STATUS" 404 "and a read says 404"

# --- several calls in flight: each profile's changes still arrive in order ------------------
# Six profiles written three times each, interleaved; two changes per call and
# a slow origin keep three calls started together. A batch never takes a
# profile that a call in flight carries, so no entry is sent (and settled)
# twice, none arrives after a newer one (a conflict), and every profile ends
# with its last write.
many=()
for i in 1 2 3 4 5 6; do many+=("7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8c0$i"); done
db "insert into profiles (id, display_name) select unnest('{$(IFS=,; echo "${many[*]}")}'::uuid[]), 'many'" >/dev/null
for round in 1 2 3; do
	for id in "${many[@]}"; do
		http PATCH "/profiles/$id" "${json[@]}" "${svc[@]}" --data "{\"bio\":\"round $round\"}"
	done
done
pc_stop_origin "$VAR_DIR"
pc_start_origin "$VAR_DIR" --delay-ms 300
flush --batch 2 --pipeline 4 -v
is "$FLUSH_RC" 0 "pipelined flush: exit 0"
like "$(cat "$VAR_DIR/flush.err")" 'event=flush_batch_sent changes=2 in_flight=3' "three calls were started together"
like "$(cat "$VAR_DIR/flush.err")" 'event=flush_done applied=[0-9]+ conflicts=0 deleted=0 dead=0 retried=0 entries=18 ' \
	"every entry settled once, none as a conflict"
is "$(sqlite3 "$JOURNAL_PATH" "select group_concat(distinct state) from changes where id like '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8c0%'")" \
	applied "all eighteen entries applied"
is "$(db "select count(*) from profiles where display_name = 'many' and bio = 'round 3'")" 6 \
	"each profile holds its last write"
pc_stop_origin "$VAR_DIR"
pc_start_origin "$VAR_DIR"
flush --pipeline 9
is "$FLUSH_RC" 2 "--pipeline beyond 8 is a usage error"

# --- the database stays away past max_attempts: never given up, an alert ----------------------
PC_CONF_SET="$PC_CONF_SET flush.max_attempts=2"
pc__write_responder_config "$VAR_DIR"
http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data '{"bio":"arrives after the outage"}'
pc_stop_origin "$VAR_DIR"
flush
is "$FLUSH_RC" 75 "first failure: retry later"
sleep 0.2
flush
is "$FLUSH_RC" 75 "second failure reaches max_attempts: still retry later"
is "$(sqlite3 "$JOURNAL_PATH" "select state || ':' || attempts from changes where id = '$alice' order by seq desc limit 1")" \
	"pending:2" "still pending after two attempts: a transport error never dead-letters"
like "$(cat "$VAR_DIR/flush.err")" 'event=flush_retrying id='"$alice"' attempts=2' "past max_attempts it is an alert"
status_out=$("$PC_BUILDDIR/profilecache-admin" --config "$CONFIG_PATH" status 2>&1) && status_rc=0 || status_rc=$?
like "$status_rc/$status_out" '^1/.*max_attempts hit: +1.*attention: 1 entries failed max_attempts' \
	"profilecache-admin status alerts (exit 1) on it"
http GET "/profiles/$alice"
is "$(json .profile.bio)/$(json .sync)" "arrives after the outage/pending" "reads keep showing the acknowledged write"
is "$(sqlite3 "$JOURNAL_PATH" "select value from meta where key = 'last_flush_summary'")" \
	"applied=0 conflicts=0 superseded=0 deleted=0 dead=0 retried=1 batches=1" "the last run is noted for operators"
pc_start_origin "$VAR_DIR"
sleep 0.3
flush
is "$FLUSH_RC/$(db "select bio from profiles where id = '$alice'")" "0/arrives after the outage" \
	"once the database is back the change lands"
like "$(sqlite3 "$JOURNAL_PATH" "select value from meta where key = 'last_flush_at_us'")" '^[0-9]{16}$' \
	"with its time"

# --- answers larger than [origin] max_answer_bytes -------------------------------------------
# A batch whose rows come back larger than an answer may be is sent again in
# halves (it ran, and running it again is safe); a single row too large stays
# pending, retried, until the setting is raised: nothing is given up.
big() { printf '{"bio":"%s %s"}' "$1" "$(head -c 700 /dev/zero | tr '\0' x)"; }
for who in alice carol; do	# bob was deleted above
	http PATCH "/profiles/${!who}" "${json[@]}" "${svc[@]}" --data "$(big "$who")"
done
PC_CONF_SET="$PC_CONF_SET origin.max_answer_bytes=2048"
pc__write_responder_config "$VAR_DIR"
flush -v
is "$FLUSH_RC/$(db "select count(*) from profiles where bio like '% xxxxxxxxxx%'")" "0/2" \
	"two rows of about 1 KiB each, answers of 2 KiB at most: both applied"
like "$(cat "$VAR_DIR/flush.err")" 'event=flush_batch_halved changes=2 ' "the batch of two was sent again in halves"
like "$(cat "$VAR_DIR/flush.err")" 'event=flush_done .* pulled=([2-9]|[1-9][0-9]+) ' \
	"and the rows changed since came back in the pull, asked for fewer at a time"
http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data "$(big again)"
http PATCH "/profiles/$carol" "${json[@]}" "${svc[@]}" --data '{"bio":"short again"}'
PC_CONF_SET="$PC_CONF_SET origin.max_answer_bytes=1024"
pc__write_responder_config "$VAR_DIR"
flush
like "$FLUSH_RC/$(sqlite3 "$JOURNAL_PATH" "select state || ':' || attempts from changes where id = '$alice' order by seq desc limit 1")" \
	'^75/pending:[1-9]' "one row larger than an answer may be: kept pending, retried later with a backoff"
like "$(sqlite3 "$JOURNAL_PATH" "select last_error from changes where id = '$alice' order by seq desc limit 1")" \
	'larger than 1024 bytes' "saying why"
is "$(db "select bio from profiles where id = '$carol'")" "short again" "the other row of its batch landed"
unlike "$(cat "$VAR_DIR/flush.err")" 'flush_origin_failed' "the database is not taken for down"
# The pull of rows changed elsewhere cannot fit even two of them (alice's
# row is larger than an answer may be): it skips ahead rather than failing
# on this and every later run.
like "$(cat "$VAR_DIR/flush.err")" 'event=flush_pull_skipped resource=profiles ' \
	"the pull that cannot fit two rows skips ahead"
unlike "$(cat "$VAR_DIR/flush.err")" 'flush_pull_failed' "instead of failing"
PC_CONF_SET="$PC_CONF_SET origin.max_answer_bytes=1048576"
pc__write_responder_config "$VAR_DIR"
sqlite3 "$JOURNAL_PATH" "update changes set next_attempt_at = 0 where state = 'pending'"
flush
is "$FLUSH_RC/$(db "select bio like 'again %' from profiles where id = '$alice'")" "0/t" \
	"with the setting raised it lands"

# A poison change among an id's changes is found by sending them one at a
# time; when their answer is too large, in as many calls as it takes.
PC_CONF_SET="$PC_CONF_SET origin.max_answer_bytes=2048"
pc__write_responder_config "$VAR_DIR"
http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data "$(big first)"
now=$(($(date +%s%N) / 1000))
sqlite3 "$JOURNAL_PATH" "insert into changes (resource, id, patch, updated_at_us, created_at_us)
	values ('profile', '$alice', '{\"nickname\":\"not a field\"}', $now, $now)"
http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data "$(big second)"
http PATCH "/profiles/$alice" "${json[@]}" "${svc[@]}" --data "$(big third)"
flush -v
# A call whose answer was too large ran: sent again, a change it applied
# along with a newer one of the id is superseded (conflict), not lost.
like "$FLUSH_RC/$(jq_state "$alice" | tr ',' '\n' | tail -n 4 | paste -sd,)" \
	'^65/(applied|conflict),dead,(applied|conflict),applied$' \
	"four changes of one id, answers of 1 KiB each and 2 KiB at most: the poison one is dead, the others reached the database"
is "$(db "select bio like 'third %' from profiles where id = '$alice'")" t "the last one winning"
