#!/usr/bin/env bash
# The responder's life cycle: SIGTERM (what mod_fcgid and lighttpd send) lets
# the request in progress finish with its answer, even one blocked in a system
# call (a write waiting for the journal's lock), then the process exits 0;
# processes idle in accept() exit at once; lighttpd starts new ones. A bad
# configuration stops the responder at start with exit status 78 and a
# message on stderr (the web server's error log) that names the key.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# lighttpd, which spawns the responders and logs how each one exited. Every
# origin request takes 4 s (well inside the origin timeout, raised to 10 s), so
# a cache miss is a slow request. A write waits up to 10 s for the journal.
export PC_WEB_SERVER=lighttpd
PC_CONF_SET="origin.timeout_ms=10000 journal.busy_timeout_ms=10000" e2e_start --delay-ms 4000
plan 21

# responders: the pids of lighttpd's responder processes (its children
# running profilecache.fcgi), one per line.
responders() {
	local pid exe
	for pid in $(ps -o pid= --ppid "$(<"$LIGHTTPD_PID_FILE")"); do
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
		[[ ${exe##*/} == profilecache.fcgi ]] && pc__running "$pid" && printf '%s\n' "$pid"
	done
	return 0
}

# alive PID...: print how many of PID... still run.
alive() {
	local pid n=0
	for pid in "$@"; do pc__running "$pid" && n=$((n + 1)); done
	printf '%s\n' "$n"
}

# exits_logged STATUS: how many "child exited: STATUS" lines lighttpd logged.
exits_logged() {
	local n
	n=$(grep -c "child exited: $1 " -- "$LIGHTTPD_LOG" 2>/dev/null) || true
	printf '%s\n' "${n:-0}"
}

# --- SIGTERM during a request ---------------------------------------------------

mapfile -t pids < <(responders)
cmp_ok "${#pids[@]}" -ge 2 "lighttpd runs several responders (${pids[*]})"
exited0=$(exits_logged 0)
signalled0=$(grep -c 'child signalled' -- "$LIGHTTPD_LOG" 2>/dev/null) || signalled0=0

# A cache miss on the sample profile: one responder waits 4 s for the origin.
mc_flush
slow=$E2E_DIR/slow
curl -s -m 20 -o "$slow.body" -w '%{http_code}' "$BASE_URL/profiles/$SAMPLE_PROFILE_ID" \
	>"$slow.status" 2>/dev/null &
curl_pid=$!
sleep 1.5 # the request reaches a responder (a loaded machine is slow to)
t0=$(date +%s%N)
kill -TERM "${pids[@]}"

# The idle ones leave at once; the busy one is still at work.
deadline=$((SECONDS + 5))
while (($(alive "${pids[@]}") > 1 && SECONDS < deadline)); do sleep 0.05; done
in_progress=1
kill -0 "$curl_pid" 2>/dev/null && in_progress=0
idle_ms=$((($(date +%s%N) - t0) / 1000000))
is "$(alive "${pids[@]}")" 1 "the idle responders exited on SIGTERM; the busy one went on"
ok "$in_progress" "the idle ones were gone while the request was still in progress (after ${idle_ms} ms)"

wait "$curl_pid" || true
is "$(<"$slow.status")" 200 "the request in progress got its answer"
is "$(jq -r .profile.id <"$slow.body" 2>/dev/null)" "$SAMPLE_PROFILE_ID" "with the profile"

deadline=$((SECONDS + 5))
while (($(alive "${pids[@]}") > 0 && SECONDS < deadline)); do sleep 0.05; done
is "$(alive "${pids[@]}")" 0 "then the busy responder exited too"

# lighttpd reaps its children when it next looks at them; allow it a moment.
deadline=$((SECONDS + 10))
while (($(exits_logged 0) - exited0 < ${#pids[@]} && SECONDS < deadline)); do sleep 0.1; done
is "$(($(exits_logged 0) - exited0))" "${#pids[@]}" "lighttpd logged exit status 0 for each of them"
signalled=$(grep -c 'child signalled' -- "$LIGHTTPD_LOG" 2>/dev/null) || signalled=0
is "$((signalled - signalled0))" 0 "none was killed by the signal"
# The responders' stderr is lighttpd's error log.
stops=$(grep -c 'profilecache.fcgi\[[0-9]*\] level=info event=fcgi_stop signal=TERM' -- "$LIGHTTPD_LOG") || stops=0
is "$stops" "${#pids[@]}" "each logged event=fcgi_stop signal=TERM to lighttpd's error log"

http GET /healthz
is "$HTTP_STATUS" 200 "lighttpd started new responders: healthz is 200"
mapfile -t fresh < <(responders)
cmp_ok "${#fresh[@]}" -ge 1 "new responder processes run (${fresh[*]})"

# --- SIGTERM while a write waits for the journal's lock ----------------------------
# The signal must not cut short a system call the request is blocked in: here
# the flock() on the journal's writers' lock, which an EINTR would turn into a
# 503 for a write that should have been accepted.

tok=$(jwt_hs256 "$SAMPLE_PROFILE_ID")
patch=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')
http PATCH "/profiles/$SAMPLE_PROFILE_ID" "${patch[@]}" --data '{"bio":"before the signal"}'
is "$HTTP_STATUS" 202 "a first write creates the journal"

mapfile -t pids < <(responders)
exited0=$(exits_logged 0)
locked=$E2E_DIR/locked
# Another writer holds the lock for 3 s ([journal] busy_timeout_ms is 10 s).
flock "$JOURNAL_WLOCK_FILE" -c "touch '$locked'; sleep 3" &
lock_pid=$!
while [[ ! -e $locked ]]; do sleep 0.02; done
curl -s -m 20 -o "$slow.body" -w '%{http_code}' -X PATCH "${patch[@]}" \
	--data '{"bio":"written across a SIGTERM"}' "$BASE_URL/profiles/$SAMPLE_PROFILE_ID" \
	>"$slow.status" 2>/dev/null &
curl_pid=$!
sleep 1.5 # the write reaches the lock (a loaded machine is slow to)
kill -TERM "${pids[@]}"
wait "$curl_pid" || true
wait "$lock_pid" || true
is "$(<"$slow.status")" 202 "a write waiting for the journal's lock is still accepted"
is "$(jq -r .profile.bio <"$slow.body" 2>/dev/null)" "written across a SIGTERM" "with its change"
deadline=$((SECONDS + 10))
while (($(exits_logged 0) - exited0 < ${#pids[@]} && SECONDS < deadline)); do sleep 0.1; done
is "$(($(exits_logged 0) - exited0))" "${#pids[@]}" "and every responder exited 0"

# --- SIGTERM while idle, and SIGUSR1 (libfcgi's graceful stop) ------------------------

# lighttpd starts new responders after the last ones exited: wait for them.
for _ in $(seq 100); do
	mapfile -t pids < <(responders)
	((${#pids[@]})) && break
	sleep 0.1
done
kill -USR1 "${pids[@]}"
deadline=$((SECONDS + 5))
while (($(alive "${pids[@]}") > 0 && SECONDS < deadline)); do sleep 0.05; done
is "$(alive "${pids[@]}")" 0 "idle responders exit on SIGUSR1 too"

# --- a bad configuration -----------------------------------------------------------

bad=$E2E_DIR/bad.conf
cp -- "$CONFIG_PATH" "$bad"
printf '[cache]\nno_such_key = 1\n' >>"$bad"
rc=0
env -i PATH="$PATH" PROFILECACHE_CONFIG="$bad" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
	REQUEST_URI=/v1/healthz SCRIPT_NAME= PATH_INFO=/v1/healthz \
	"$PC_FCGI_BIN" </dev/null >"$E2E_DIR/cgi.out" 2>"$E2E_DIR/cgi.err" || rc=$?
is "$rc" 78 "a CGI run with an unknown key exits 78 (EX_CONFIG)"
like "$(<"$E2E_DIR/cgi.err")" "level=error event=config_invalid .*unknown key \[cache\] no_such_key" \
	"stderr names the key"
is "$(wc -c <"$E2E_DIR/cgi.out")" 0 "and nothing was written as a response"

pc__ini_set "$CONFIG_PATH" "$bad" 'cache.fresh_ttl=0'
rc=0
env -i PATH="$PATH" PROFILECACHE_CONFIG="$bad" REQUEST_METHOD=GET \
	"$PC_FCGI_BIN" </dev/null >/dev/null 2>"$E2E_DIR/cgi.err" || rc=$?
like "$rc $(<"$E2E_DIR/cgi.err")" "^78 .*\[cache\] fresh_ttl must be a whole number from 1 to 2592000" \
	"a value out of range: 78, naming the key and its range"

rc=0
env -i PATH="$PATH" REQUEST_METHOD=GET "$PC_FCGI_BIN" </dev/null >/dev/null 2>"$E2E_DIR/cgi.err" || rc=$?
like "$rc $(<"$E2E_DIR/cgi.err")" "^78 .*event=config_missing" \
	"no configuration at all: 78, config_missing"
