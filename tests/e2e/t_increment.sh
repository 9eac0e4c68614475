#!/usr/bin/env bash
# Counters: the example configuration's balances (policy = counter, min = 0,
# read = owner), through the web server, memcached, the journal, the flusher
# and PostgreSQL's ledger (schema/postgres/60_increments.sql). Increments are
# acknowledged with the provisional value, answered again for a retried key
# (also after the flush, and with the fate the database gave them), refused
# below the floor (at once, and by the database when other writes took the
# value down meanwhile: then dead and shown as failed), counted once however
# often they are replayed (a flusher that died after the database's commit),
# counted in by a read that rebuilds the entry, and kept above the floor by
# concurrent requests. Bad, oversized, unauthorised and hostile requests are
# refused with nothing counted.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# Concurrent debits of one row wait for its lock in turn: on a loaded
# machine eight of them can take longer than the default second's wait.
PC_CONF_SET="cache.lock_wait_ms=10000"
e2e_start
plan 87

alice=$SAMPLE_PROFILE_ID
bob=0c4b6a1e-8f0a-4d5e-9b2c-3d4e5f6a7b8c
FLUSH=$PC_BUILDDIR/profilecache-flush
flush() { "$FLUSH" --config "$CONFIG_PATH" >"$VAR_DIR/flush.out" 2>"$VAR_DIR/flush.err"; }
user() { printf 'Authorization: Bearer %s' "$(jwt_hs256 "$1")"; }
json_h='Content-Type: application/json'
# inc WHO ID KEY BODY [CURL-ARG...]: POST /balances/ID/increments.
inc() {
	local caller=$1 id=$2 ikey=$3 body=$4
	shift 4
	local -a auth=()
	case $caller in
	admin) auth=(-H "apikey: $(admin_key)") ;;
	none) ;;
	*) auth=(-H "$(user "$caller")") ;;
	esac
	if [[ -n $ikey ]]; then auth+=(-H "Idempotency-Key: $ikey"); fi
	http POST "/balances/$id/increments" -H "$json_h" "${auth[@]}" -d "$body" "$@"
}
db_balance() { psql_exec "select balance from public.balances where user_id = '$1'"; }
state_of() { sqlite3 "$JOURNAL_PATH" "select state from changes where resource = 'balance/increment' and json_extract(patch, '\$.key') = '$1'"; }

# --- reading -------------------------------------------------------------------------
http GET "/balances/$alice" -H "$(user "$alice")"
is "$HTTP_STATUS" 200 "the owner reads their balance"
is "$(json .balance.balance)" 100 "the sample row holds 100"
is "$(json .sync)" synced "synced"
http GET "/balances/$alice" -H "$(user "$bob")"
is "$HTTP_STATUS" 404 "another user does not see it (read = owner)"

# --- refused requests ----------------------------------------------------------------
inc none "$alice" k0 '{"delta":-1}'
is "$HTTP_STATUS" 401 "no credentials: 401"
inc "$bob" "$alice" k0 '{"delta":-1}'
is "$HTTP_STATUS" 403 "another user's balance: 403"
inc "$alice" "$alice" '' '{"delta":-1}'
is "$HTTP_STATUS" 400 "no Idempotency-Key: 400"
is "$(json .error.code)" idempotency_key_required "idempotency_key_required"
inc "$alice" "$alice" 'two words' '{"delta":-1}'
is "$(json .error.code)" invalid_idempotency_key "a key with a space: invalid_idempotency_key"
inc "$alice" "$alice" "$(printf 'k%.0s' {1..65})" '{"delta":-1}'
is "$(json .error.code)" invalid_idempotency_key "a key of 65 characters is refused"
inc "$alice" "$alice" k0 'not json'
is "$HTTP_STATUS" 400 "a body that is not JSON: 400"
inc "$alice" "$alice" k0 '[1]'
is "$HTTP_STATUS" 400 "a body that is not an object: 400"
inc "$alice" "$alice" k0 '{"delta":0}'
is "$HTTP_STATUS:$(json .error.fields.delta)" "422:required: a whole number, not 0, of at most 10^15 either way" \
	"a zero delta: 422, naming delta"
inc "$alice" "$alice" k0 '{"delta":1.5}'
is "$HTTP_STATUS" 422 "a fractional delta: 422"
inc "$alice" "$alice" k0 '{"delta":"-1"}'
is "$HTTP_STATUS" 422 "a delta as a string: 422"
inc "$alice" "$alice" k0 '{"delta":-10000000000000000}'
is "$HTTP_STATUS" 422 "a delta past 10^15: 422"
inc "$alice" "$alice" k0 '{"delta":-1,"field":"updated_at"}'
is "$(json .error.fields.field)" "not a counter" "a field that is not a counter: 422"
inc "$alice" "$alice" k0 '{"delta":-1,"balance":5}'
is "$HTTP_STATUS" 422 "an unknown member: 422"
inc "$alice" "$alice" k0 '{"delta":-1,"delta":-2}'
is "$HTTP_STATUS" 400 "a duplicated member: 400"
inc "$alice" "$alice" k0 "{\"delta\":-1,\"pad\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}"
is "$HTTP_STATUS" 413 "an oversized body: 413"
http POST "/balances/$alice/increments" -H "$(user "$alice")" -H "Idempotency-Key: k0" \
	-H 'Content-Type: text/plain' -d '{"delta":-1}'
is "$HTTP_STATUS" 415 "not application/json: 415"
inc "$alice" "$alice" k0 '{"delta":5}'
is "$HTTP_STATUS" 403 "a user may not credit themselves (user_delta = negative)"
inc "$alice" "${alice^^}" k0 '{"delta":-1}'
is "$HTTP_STATUS" 400 "an upper-case id: 400"
http POST "/challenges/3d1c5a7e-2b4f-4c6d-8e9f-0a1b2c3d4e01/increments" -H "$json_h" \
	-H "apikey: $(admin_key)" -H "Idempotency-Key: k0" -d '{"delta":1}'
is "$HTTP_STATUS" 404 "a resource without a counter has no increments"
http GET "/balances/$alice/increments" -H "$(user "$alice")"
is "$HTTP_STATUS" 405 "GET of the increments: 405"
http PATCH "/balances/$alice" -H "$json_h" -H "$(user "$alice")" -d '{"balance":1000}'
is "$HTTP_STATUS" 422 "a user's PATCH of a counter: 422"
is "$(json .error.fields.balance)" "a counter: send POST .../increments" "that says to use increments"
is "$(db_balance "$alice")" 100 "nothing refused changed the database"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes")" 0 "nor the journal"

# --- an increment, and the same key again --------------------------------------------
inc "$alice" "$alice" k1 '{"delta":-30}'
is "$HTTP_STATUS" 202 "a debit is accepted: 202"
is "$HTTP_BODY" '{"increment":{"key":"k1","field":"balance","delta":-30,"value":70},"sync":"pending"}' \
	"with the provisional value"
first=$HTTP_BODY
http GET "/balances/$alice" -H "$(user "$alice")"
is "$(json .balance.balance):$(json .sync)" "70:pending" "a read shows it at once, pending"
inc "$alice" "$alice" k1 '{"delta":-30}'
is "$HTTP_STATUS:$HTTP_BODY" "202:$first" "the same key again: the first answer"
is "$(header Idempotent-Replayed)" true "marked Idempotent-Replayed"
http GET "/balances/$alice" -H "$(user "$alice")"
is "$(json .balance.balance)" 70 "and nothing counted twice"
inc "$alice" "$alice" k1 '{"delta":-20}'
is "$HTTP_STATUS:$(json .error.code)" "422:idempotency_key_reused" "the key with another delta: 422"
inc admin "$alice" a1 '{"delta":50}'
is "$HTTP_STATUS:$(json .increment.value)" "202:120" "the admin credits: 120"
inc "$alice" "$alice" k2 '{"delta":-121}'
is "$HTTP_STATUS:$(json .error.code)" "409:insufficient_balance" "below the floor: 409 insufficient_balance"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes")" 2 "only the two accepted are journaled"
is "$(db_balance "$alice")" 100 "the database has none of it yet"

# --- the flush ------------------------------------------------------------------------
rc=0
flush || rc=$?
is "$rc" 0 "the flusher runs"
is "$(db_balance "$alice")" 120 "the database holds 100 - 30 + 50"
is "$(psql_exec "select string_agg(key || '=' || status, ',' order by key) from profilecache.increments where id = '$alice'")" \
	"a1=applied,k1=applied" "the ledger has each key once"
is "$(state_of k1),$(state_of a1)" "applied,applied" "the journal entries are applied"
http GET "/balances/$alice" -H "$(user "$alice")"
is "$(json .balance.balance):$(json .sync)" "120:synced" "the cached entry is the database's, synced"
inc "$alice" "$alice" k1 '{"delta":-30}'
is "$HTTP_STATUS:$(json .sync):$(json .increment.value)" "202:synced:70" \
	"the key after the flush: its first answer, now synced"
flush
is "$(db_balance "$alice")" 120 "a second flush changes nothing"

# --- a read that rebuilds the entry counts pending increments in -----------------------
inc "$alice" "$alice" k3 '{"delta":-20}'
is "$(json .increment.value)" 100 "a debit to 100"
mc_flush
http GET "/balances/$alice" -H "$(user "$alice")"
is "$(json .balance.balance):$(json .sync)" "100:pending" \
	"memcached emptied: the database's 120 with this node's pending -20"

# --- a flusher that died after the database's commit -----------------------------------
psql_exec "select public.profilecache_increment('balance', '[{\"id\":\"$alice\",\"key\":\"k3\",\"field\":\"balance\",\"delta\":-20,\"at\":\"2026-12-03T12:00:00Z\"}]')" >/dev/null
is "$(db_balance "$alice")" 100 "the database has k3 (the journal does not know it yet)"
mc_flush
http GET "/balances/$alice" -H "$(user "$alice")"
is "$(json .balance.balance)" 100 "a rebuild does not count k3 twice (the ledger says it is in)"
flush
is "$(db_balance "$alice"):$(state_of k3)" "100:applied" "the replay counts once, and k3 is applied"

# --- the database refuses what other writes made impossible ----------------------------
inc "$alice" "$alice" k4 '{"delta":-100}'
is "$HTTP_STATUS:$(json .increment.value)" "202:0" "a debit to exactly 0 is accepted"
psql_exec "update public.balances set balance = 60 where user_id = '$alice'"
flush || true	# a dead-lettered entry makes its exit status non-zero
is "$(state_of k4)" dead "the database refused it below the floor: dead"
is "$(db_balance "$alice")" 60 "the balance is what the other write left"
inc "$alice" "$alice" k4 '{"delta":-100}'
is "$HTTP_STATUS:$(json .sync):$(json .error.code)" "202:failed:insufficient_balance" \
	"its key answers failed, insufficient_balance"
http GET "/balances/$alice" -H "$(user "$alice")"
is "$(json .balance.balance)" 60 "and the cache is corrected"

# --- concurrent debits never cross the floor ------------------------------------------
for i in 1 2 3 4 5 6 7 8; do
	(
		curl -s -o /dev/null -w '%{http_code}\n' -X POST "$BASE_URL/balances/$alice/increments" \
			-H "$json_h" -H "$(user "$alice")" -H "Idempotency-Key: c$i" -d '{"delta":-10}'
	) >"$E2E_DIR/c$i.status" &
done
wait
codes=$(cat "$E2E_DIR"/c*.status | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
is "$codes" "202:6 409:2 " "8 concurrent debits of 10 from 60: 6 accepted, 2 refused"
http GET "/balances/$alice" -H "$(user "$alice")"
is "$(json .balance.balance)" 0 "the provisional balance is 0, not below"
flush
is "$(db_balance "$alice")" 0 "the database agrees after the flush"
is "$(psql_exec "select count(*) from profilecache.increments where id = '$alice' and key like 'c%' and status = 'applied'")" 6 \
	"six applied in the ledger"

# --- memcached down: this node's processes still take turns on a row ------------------
# Nothing locks the row in memcached: the node's own lock (beside the
# journal) keeps two debits from being checked against the same balance.
# Three rounds, each 8 debits of 10 sent at once from 30 (the token made
# beforehand, so that they do arrive together).
pc_stop_memcached "$VAR_DIR"
as_alice=$(user "$alice") rounds=""
for round in 1 2 3; do
	flush || true # exits 65 when the database refused debits: checked below
	psql_exec "update public.balances set balance = 30 where user_id = '$alice'"
	for i in 1 2 3 4 5 6 7 8; do
		(
			curl -s -o /dev/null -w '%{http_code}\n' -X POST "$BASE_URL/balances/$alice/increments" \
				-H "$json_h" -H "$as_alice" -H "Idempotency-Key: d$round-$i" -d '{"delta":-10}'
		) >"$E2E_DIR/d$i.status" &
	done
	wait
	rounds="$rounds$(cat "$E2E_DIR"/d*.status | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')/ "
done
is "$rounds" "202:3 409:5 / 202:3 409:5 / 202:3 409:5 / " \
	"memcached down: 8 concurrent debits of 10 from 30, three times: 3 accepted, 5 refused each time"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where resource = 'balance/increment' and state = 'pending' and json_extract(patch, '\$.key') like 'd3-%'")" 3 \
	"the journal holds the three acknowledged debits, and no more"
http GET "/balances/$alice" -H "$as_alice"
is "$HTTP_STATUS/$(json .balance.balance)" 200/0 "read from the database and the pending debits: 0, not below"
pc_start_memcached "$VAR_DIR"
flush
is "$(db_balance "$alice")/$(psql_exec "select count(*) from profilecache.increments where id = '$alice' and key like 'd3-%' and status = 'applied'")" \
	0/3 "the database agrees after the flush: three applied, none refused"

# --- the ledger function called concurrently: each key counts once ----------------------
# 8 sessions at once, each sending the same 20 keys (+1 each) to one row,
# in its own order: the row ends 20 higher, the ledger has 20 keys.
carol=1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5
psql_exec "insert into public.balances (user_id, balance) values ('$carol', 0)"
for _ in 1 2 3 4 5 6 7 8; do
	(
		incs=$(for k in $(seq 1 20 | shuf); do
			printf '{"id":"%s","key":"p%s","field":"balance","delta":1,"at":"2026-12-03T12:00:00Z"},' "$carol" "$k"
		done)
		psql_exec "select public.profilecache_increment('balance', '[${incs%,}]')" >/dev/null
	) &
done
wait
is "$(db_balance "$carol"):$(psql_exec "select count(*) from profilecache.increments where id = '$carol'")" "20:20" \
	"8 concurrent calls with the same 20 keys: each key counted once"

# --- a row made by its first credit, and the admin's absolute set -----------------------
inc admin "$bob" b1 '{"delta":25}'
is "$HTTP_STATUS:$(json .increment.value)" "202:25" "a credit to a user without a row: 25"
http GET "/balances/$bob" -H "$(user "$bob")"
is "$HTTP_STATUS:$(json .balance.balance)" "200:25" "their row reads 25 before any flush"
flush
is "$(db_balance "$bob")" 25 "the flush creates the row"
http PATCH "/balances/$bob" -H "$json_h" -H "apikey: $(admin_key)" -d '{"balance":500}'
is "$HTTP_STATUS" 202 "the admin sets a counter outright (a versioned change)"
flush
is "$(db_balance "$bob")" 500 "and the flush writes it"
inc "$bob" "$bob" b2 '{"delta":-1}'
is "$(json .increment.value)" 499 "increments count from there"
flush
is "$(db_balance "$bob")" 499 "499 in the database"

# --- the database away -----------------------------------------------------------------
pc_stop_origin "$VAR_DIR"
mc_flush
inc admin "$bob" b3 '{"delta":1}'
is "$HTTP_STATUS:$(json .increment.value)" "202:null" \
	"the database away and nothing cached: a credit is journaled, its value unknown"
inc "$bob" "$bob" b4 '{"delta":-1}'
is "$HTTP_STATUS" 503 "a debit cannot be checked against the floor: 503"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes where json_extract(patch, '\$.key') = 'b4'")" 0 \
	"and is not journaled"
flush || true
sqlite3 "$JOURNAL_PATH" "update changes set next_attempt_at = 0 where state = 'pending'"
is "$(state_of b3)" pending "the flush keeps the credit while the database is away"
pc_start_origin "$VAR_DIR"
flush
is "$(db_balance "$bob"):$(state_of b3)" "500:applied" "and applies it once it is back"

# --- a delete takes the row's pending increments with it -----------------------------
inc admin "$bob" b5 '{"delta":7}'
is "$HTTP_STATUS" 202 "an increment pending"
http DELETE "/balances/$bob" -H "apikey: $(admin_key)"
is "$HTTP_STATUS" 204 "the admin deletes the row"
is "$(state_of b5)" cancelled "the pending increment is cancelled with it"
http GET "/balances/$bob" -H "$(user "$bob")"
is "$HTTP_STATUS" 404 "and nothing brings the row back"
flush
is "$(psql_exec "select count(*) from public.balances where user_id = '$bob'")" 0 "not the flush either"

# --- a batch holds no more increments than their results fit in one answer --------------
PC_CONF_SET="${PC_CONF_SET:-} origin.max_answer_bytes=1024"
pc__write_responder_config "$VAR_DIR"
before=$(db_balance "$alice")
# Keys of 64 characters: six results in one answer would pass 1 KiB.
for k in 1 2 3 4 5 6; do inc admin "$alice" "$(printf 'capped-%057d' "$k")" '{"delta":1}'; done
"$FLUSH" --config "$CONFIG_PATH" -v >"$VAR_DIR/flush.out" 2>"$VAR_DIR/flush.err" || true
like "$(cat "$VAR_DIR/flush.err")" 'event=flush_done applied=6 .* retried=0 .* batches=3 ' \
	"answers of 1 KiB at most: six increments in three calls, all applied"
is "$(($(db_balance "$alice") - before))" 6 "each counted once"

# --- metrics ---------------------------------------------------------------------------
http GET /metrics
like "$HTTP_BODY" 'route="resource_increment",resource="balances",status="202"' \
	"increments are counted under their own route and their resource"
