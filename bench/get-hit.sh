#!/usr/bin/env bash
# Benchmark: GET /v1/profiles/{id} cache hits through lighttpd, against the
# same lighttpd serving the same bytes as a static file, in the same run.
#
#   bench/get-hit.sh [--duration SECONDS] [--connections "16 64"] [--threads N]
#                    [--servers "lighttpd apache-fcgid apache-cgi nginx"]
#
# With --servers, the same is done behind each web server in turn (each with
# its own static-file reference), in one run.
#
# Builds an optimised responder (no debug, no sanitizers), starts a private
# stack on loopback in a temporary directory, runs wrk against both URLs at
# each concurrency, prints a Markdown table (rps, p50, p99, ratio) and stops
# the stack. Installs wrk when it is missing. Results vary with the machine;
# the ratio to the static file is what carries across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh
PC_PROG=bench

duration=10
conns="16 64"
threads=2
servers=lighttpd
while (($#)); do
	case $1 in
	--duration) duration=$2; shift 2 ;;
	--connections) conns=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--servers) servers=$2; shift 2 ;;
	*) pc_die "usage: bench/get-hit.sh [--duration S] [--connections \"16 64\"] [--threads N] [--servers LIST]" ;;
	esac
done

pc_install_deps wrk
pc_build
printf '| server | concurrency | app rps | app p50 ms | app p99 ms | static rps | static p50 ms | static p99 ms | app/static rps |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for server in $servers; do
	export PC_WEB_SERVER=$server
	var=$(mktemp -d /var/tmp/pc-bench.XXXXXX)
	chmod 0711 "$var"
	trap 'pc_stack_stop "$var" >/dev/null 2>&1 || true; rm -rf -- "$var"' EXIT
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
	for c in $conns; do
		read -r arps ap50 _ ap99 abad < <(bench_wrk "$url" "$c" "$duration" "$threads")
		read -r srps sp50 _ sp99 sbad < <(bench_wrk "$static" "$c" "$duration" "$threads")
		((abad == 0 && sbad == 0)) || pc_log "warning: $server: non-2xx answers: app $abad, static $sbad"
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$server" "$c" "$arps" "$ap50" "$ap99" \
			"$srps" "$sp50" "$sp99" "$(awk -v a="$arps" -v s="$srps" 'BEGIN{printf "%.2f", a / s}')"
	done
	pc_stack_stop "$var" >/dev/null 2>&1 || true
	rm -rf -- "$var"
	trap - EXIT
done
printf '\n%s, %s cores, wrk -t%s -d%ss, body %s bytes\n' \
	"$(date -u +%Y-%m-%d)" "$(nproc)" "$threads" "$duration" "$size"
