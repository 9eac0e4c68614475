#!/usr/bin/env bash
# Responders with threads ([http] threads = 4) behind nginx keeping its
# FastCGI connections open (fastcgi_keep_conn with an upstream keepalive
# pool): concurrent reads and writes are each answered, every acknowledged
# write is in the journal once, no thread's journal connection upsets
# another's; SIGTERM lets the request in progress finish with its answer,
# wakes the threads idle in accept() or on a kept connection, and each
# process exits 0.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# spawn-fcgi's processes, which nginx reaches through one socket. Every
# origin request takes 3 s (the origin timeout raised to 10 s), so a cache
# miss is a slow request. Forty writes wait for the journal in turn: longer
# than the default 2 s on a loaded machine.
export PC_WEB_SERVER=nginx
PC_CONF_SET="http.threads=4 origin.timeout_ms=10000 journal.busy_timeout_ms=10000" \
	e2e_start --delay-ms 3000
plan 12

mapfile -t pids < <(tr -s ' \n' '\n' <"$VAR_DIR/run/spawn-fcgi.pid" | grep .)
threads() { find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
counts=""
for pid in "${pids[@]}"; do counts="$counts$(threads "$pid") "; done
is "$counts" "$(printf '5 %.0s' "${pids[@]}")" \
	"each of the ${#pids[@]} processes runs 4 serving threads and its main thread"

# nginx keeps its connections to them open between requests.
sed -i -e "s|^http {|http {\n    upstream profilecache_kept { server unix:$VAR_DIR/run/profilecache.sock; keepalive 4; }|" \
	-e "s|fastcgi_pass unix:$VAR_DIR/run/profilecache.sock;|fastcgi_pass profilecache_kept;\n            fastcgi_keep_conn on;|" \
	"$VAR_DIR/nginx.conf"
nginx -p "$VAR_DIR/" -c "$VAR_DIR/nginx.conf" -s reload 2>/dev/null
sleep 1
http GET "/profiles/$SAMPLE_PROFILE_ID"
is "$HTTP_STATUS" 200 "a read through kept connections"

# --- concurrent reads and writes ---------------------------------------------------
json=(-H 'Content-Type: application/json')
svc=(-H "apikey: $(admin_key)")
before=$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes")
for w in 1 2 3 4 5 6 7 8; do
	(
		for i in 1 2 3 4 5; do
			curl -s -o /dev/null -w '%{http_code}\n' -X PATCH "$BASE_URL/profiles/$SAMPLE_PROFILE_ID" \
				"${json[@]}" "${svc[@]}" --data "{\"bio\":\"writer $w, write $i\"}"
			curl -s -o /dev/null -w '%{http_code}\n' "$BASE_URL/profiles/$SAMPLE_PROFILE_ID"
		done
	) >"$E2E_DIR/w$w.codes" &
done
wait
codes=$(cat "$E2E_DIR"/w*.codes | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
is "$codes" "200:40 202:40 " "8 clients, 40 writes and 40 reads at once: each answered"
is "$(($(sqlite3 "$JOURNAL_PATH" "select count(*) from changes") - before))" 40 \
	"each acknowledged write is in the journal once"
is "$(sqlite3 "$JOURNAL_PATH" "select count(distinct json_extract(patch, '\$.bio')) from changes where json_extract(patch, '\$.bio') like 'writer %'")" 40 \
	"with its own value"
http GET "/profiles/$SAMPLE_PROFILE_ID"
is "$(json .profile.bio)" "$(sqlite3 "$JOURNAL_PATH" "select json_extract(patch, '\$.bio') from changes where json_extract(patch, '\$.bio') like 'writer %' order by updated_at_us desc limit 1")" \
	"a read shows the newest of them"
unlike "$(cat "$VAR_DIR/log/responder.log")" 'journal_error|malformed|fcgi_accept_failed' \
	"no thread's journal connection upset another's"

# --- SIGTERM during a request ------------------------------------------------------
# A cache miss: one thread waits 3 s for the origin while the others idle in
# accept() or on a kept connection; the signal comes 1 s into it.
mc_flush
slow=$E2E_DIR/slow
curl -s -m 20 -o "$slow.body" -w '%{http_code}' "$BASE_URL/profiles/$SAMPLE_PROFILE_ID" \
	>"$slow.status" 2>/dev/null &
curl_pid=$!
sleep 1
kill -TERM "${pids[@]}"
wait "$curl_pid" || true
is "$(cat "$slow.status")" 200 "the request in progress is answered"
is "$(jq -r .profile.id "$slow.body" 2>/dev/null)" "$SAMPLE_PROFILE_ID" "with the row"
left=${#pids[@]}
for _ in $(seq 1 100); do
	left=0
	for pid in "${pids[@]}"; do pc__running "$pid" && left=$((left + 1)); done
	((left == 0)) && break
	sleep 0.1
done
is "$left" 0 "every process ends, its idle threads woken"
is "$(grep -c 'event=fcgi_stop signal=TERM' "$VAR_DIR/log/responder.log")" "${#pids[@]}" \
	"each logs the stop (exit 0)"
unlike "$(cat "$VAR_DIR/log/responder.log")" 'fcgi_accept_failed|startup_failed' "and no failure"
