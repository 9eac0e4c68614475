#!/usr/bin/env bash
# Benchmark: GET /v1/profiles/{id} cache hits through lighttpd, against the
# same lighttpd serving the same bytes as a static file, and against the peer
# (bench/peer: Node http + ioredis cache-aside, the same bytes from Redis),
# in the same run.
#
#   bench/get-hit.sh [--duration SECONDS] [--connections "16 64"] [--threads N]
#                    [--servers "lighttpd apache-fcgid apache-cgi nginx"]
#                    [--peer-workers N] [--warmup SECONDS]
#
# With --servers, the same is done behind each web server in turn (each with
# its own static-file reference and its own peer), in one run.
#
# Builds an optimised responder (no debug, no sanitizers), starts a private
# stack on loopback in a temporary directory, loads the app for --warmup
# seconds (default 2) at the highest concurrency (mod_fcgid starts its
# processes on demand), runs wrk against the three URLs at each concurrency,
# prints a Markdown table (rps, p50, p99, ratios) and stops the stack. The
# peer runs --peer-workers cluster workers (default 4, the responders
# spawn-fcgi starts). Installs wrk, Redis and Node.js when they are missing.
# Results vary with the machine; the ratios are what carry across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh
PC_PROG=bench

duration=10
conns="16 64"
threads=2
servers=lighttpd
peer_workers=4
warmup=2
while (($#)); do
	case $1 in
	--duration) duration=$2; shift 2 ;;
	--connections) conns=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--servers) servers=$2; shift 2 ;;
	--peer-workers) peer_workers=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	*) pc_die "usage: bench/get-hit.sh [--duration S] [--connections \"16 64\"] [--threads N] [--servers LIST] [--peer-workers N] [--warmup S]" ;;
	esac
done

pc_install_deps wrk
bench_peer_install
pc_build
printf '| server | concurrency | app rps | app p50 ms | app p99 ms | peer rps | peer p99 ms | static rps | static p99 ms | app/peer rps | app/static rps |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for server in $servers; do
	export PC_WEB_SERVER=$server
	var=$(mktemp -d /var/tmp/pc-bench.XXXXXX)
	chmod 0711 "$var"
	trap 'bench_peer_stop; pc_stack_stop "$var" >/dev/null 2>&1 || true; rm -rf -- "$var"' EXIT
	base=$(pc_free_port_base)
	PC_LOG_LEVEL=warn pc_stack_start "$var" "$base" >/dev/null
	# shellcheck disable=SC1091
	. "$var/stack.env"
	url="$BASE_URL/profiles/$SAMPLE_PROFILE_ID"
	mkdir -p "$var/www/bench"
	curl -sf -o /dev/null "$url"	# the miss that fills the cache
	curl -sf -o "$var/www/bench/profile.json" "$url"
	chmod -R a+rX "$var/www/bench"
	static="$HTTP_URL/bench/profile.json"
	size=$(stat -c %s "$var/www/bench/profile.json")
	cmp -s <(curl -s "$static") <(curl -s "$url") || pc_die "$server: static file and app body differ"
	hits=$(curl -s -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')
	[[ $hits == HIT ]] || pc_die "$server: expected a cache hit, got X-Cache: $hits"
	# The peer serves the same profile object from Redis.
	bench_peer_start "$peer_workers"
	bench_peer_serve "$url"
	peer=$PEER_PROFILE_URL
	max_c=$(printf '%s\n' $conns | sort -n | tail -n 1)
	if ((warmup > 0)); then
		# wrk wants at least as many connections as threads.
		t=$((max_c < threads ? max_c : threads))
		bench_wrk "$url" "$max_c" "$warmup" "$t" >/dev/null
		bench_wrk "$peer" "$max_c" "$warmup" "$t" >/dev/null
	fi
	for c in $conns; do
		t=$((c < threads ? c : threads))
		read -r arps ap50 _ ap99 abad < <(bench_wrk "$url" "$c" "$duration" "$t")
		read -r prps _ _ pp99 pbad < <(bench_wrk "$peer" "$c" "$duration" "$t")
		read -r srps _ _ sp99 sbad < <(bench_wrk "$static" "$c" "$duration" "$t")
		((abad == 0 && pbad == 0 && sbad == 0)) ||
			pc_log "warning: $server: non-2xx answers: app $abad, peer $pbad, static $sbad"
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$server" "$c" \
			"$arps" "$ap50" "$ap99" "$prps" "$pp99" "$srps" "$sp99" \
			"$(awk -v a="$arps" -v p="$prps" 'BEGIN{printf "%.2f", a / p}')" \
			"$(awk -v a="$arps" -v s="$srps" 'BEGIN{printf "%.2f", a / s}')"
	done
	bench_peer_stop
	pc_stack_stop "$var" >/dev/null 2>&1 || true
	rm -rf -- "$var"
	trap - EXIT
done
printf '\n%s, %s cores, wrk -t%s -d%ss, body %s bytes\n' \
	"$(date -u +%Y-%m-%d)" "$(nproc)" "$threads" "$duration" "$size"
