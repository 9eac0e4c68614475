# shellcheck shell=bash
# Shared by the bench scripts: a private stack for one benchmark run.

# bench_stack_start: start a stack under a new directory in /var/tmp (on
# disk, not tmpfs: fsync must cost what it costs), stopped and removed on exit,
# with $PC_CONF_SET applied and the responder logging warnings only. Sets
# $var (the run's scratch directory; the stack lives in $var/stack) and
# exports what stack.env says; the e2e token helpers (jwt_hs256) come along.
bench_stack_start() {
	var=$(mktemp -d /var/tmp/pc-bench.XXXXXX)
	chmod 0711 "$var"
	trap 'bench_peer_stop; pc_stack_stop "$var/stack" >/dev/null 2>&1 || true; rm -rf -- "$var"' EXIT
	PC_LOG_LEVEL=warn pc_stack_start "$var/stack" "$(pc_free_port_base)" >/dev/null
	# shellcheck disable=SC1091
	. "$var/stack/stack.env"
	. tests/e2e/lib.sh >/dev/null 2>&1 || true
}

# bench_peer_install: what the peer needs: Redis, Node.js and npm (Debian's,
# unless a Node.js with npm is already there: one from elsewhere, such as
# NodeSource's, conflicts with Debian's npm package) and bench/peer's modules.
bench_peer_install() {
	local pkgs=(redis-server)
	command -v npm >/dev/null || pkgs+=(nodejs npm)
	pc_install_deps "${pkgs[@]}"
	npm ci --prefix bench/peer --no-audit --no-fund --loglevel=error >/dev/null ||
		pc_die "npm ci in bench/peer failed"
}

# bench_peer_serve URL: give the peer's Redis the profile object the app
# answers at URL (a /profiles/ID URL), so that both answer the same bytes,
# and check that they do. Sets PEER_PROFILE_URL.
bench_peer_serve() {
	local id=${1##*/}
	redis-cli -p "$REDIS_PORT" set "peer:profile:$id" "$(curl -s "$1" | jq -c .profile)" >/dev/null
	PEER_PROFILE_URL=$PEER_URL/profiles/$id
	cmp -s <(curl -s "$PEER_PROFILE_URL") <(curl -s "$1") ||
		pc_die "the peer does not answer the app's bytes for $id"
}

# bench_peer_start WORKERS: Redis and the Node + ioredis peer (bench/peer) on
# two free ports of this run, stopped with the stack; sets PEER_URL and
# REDIS_PORT.
bench_peer_start() {
	local base
	base=$(pc_free_port_base)
	REDIS_PORT=$base PEER_URL=http://127.0.0.1:$((base + 1))/v1
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize yes --pidfile "$var/redis.pid" --logfile "$var/redis.log" ||
		pc_die "redis-server did not start"
	PEER_PORT=$((base + 1)) PEER_WORKERS=$1 REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
		ORIGIN_URL=$ORIGIN_URL SERVICE_KEY=$(<"$SERVICE_KEY_FILE") \
		node bench/peer/server.js >"$var/peer.log" 2>&1 &
	echo $! >"$var/peer.pid"
	for _ in $(seq 100); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "$PEER_URL/profiles/x") == 404 ]] && return 0
		sleep 0.1
	done
	pc_die "the peer did not start: $(tail -n 5 "$var/peer.log")"
}

# bench_peer_stop: stop the peer and its Redis (the EXIT trap calls it too).
bench_peer_stop() {
	[[ -s $var/peer.pid ]] && kill "$(<"$var/peer.pid")" 2>/dev/null
	[[ -s $var/redis.pid ]] && kill "$(<"$var/redis.pid")" 2>/dev/null
	rm -f -- "$var/peer.pid" "$var/redis.pid"
	return 0
}

# bench_wrk URL CONNECTIONS SECONDS THREADS: a plain GET load with wrk;
# prints "rps p50_ms p90_ms p99_ms non2xx".
bench_wrk() {
	wrk -t"$4" -c"$2" -d"$3s" --latency "$1" | awk '
		function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /s$/) return v * 1000
			return v
		}
		/^ +50%/ { p50 = ms($2) } /^ +90%/ { p90 = ms($2) } /^ +99%/ { p99 = ms($2) }
		/^Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
		END { printf "%.0f %.3f %.3f %.3f %d\n", rps, p50, p90, p99, bad + 0 }'
}

# bench_avatar UPLOADS: a 4000 x 3000 photo-like JPEG (noise over gradients,
# the highest quality under 5.5 MB) uploaded UPLOADS times as multipart through the web server,
# next to vipsthumbnail making the same thumbnail from the same file; adds
# rows with bench/run's row(). Needs the stack with avatar.max_bytes raised.
bench_avatar() {
	local uploads=$1 token url size code before after _
	vips gaussnoise "$var/noise.v" 4000 3000 --sigma 40 --mean 128
	vips xyz "$var/xyz.v" 4000 3000
	vips extract_band "$var/xyz.v" "$var/x.v" 0
	vips linear "$var/x.v" "$var/grad.v" 0.05 0
	vips add "$var/noise.v" "$var/grad.v" "$var/mono.v"
	vips bandjoin "$var/mono.v $var/noise.v $var/grad.v" "$var/rgb.v"
	vips cast "$var/rgb.v" "$var/rgb8.v" uchar
	# The web servers refuse bodies over 6 MiB before reading them: the
	# highest quality that stays under 5.5 MB.
	for q in 90 80 70 60 50 40 30; do
		vips copy "$var/rgb8.v" "$var/photo.jpg[Q=$q]"
		(($(stat -c %s "$var/photo.jpg") < 5500000)) && break
	done
	rm -f "$var"/*.v
	size=$(stat -c %s "$var/photo.jpg")
	token=$(jwt_hs256 "$SAMPLE_PROFILE_ID")
	url="$BASE_URL/profiles/$SAMPLE_PROFILE_ID/avatar"
	before=$(bench_responder_hwm)
	: >"$var/upload.times"
	for _ in $(seq "$uploads"); do
		code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $token" \
			-F "avatar=@$var/photo.jpg;type=image/jpeg" "$url")
		[[ ${code%% *} == 202 ]] || pc_die "avatar upload answered ${code%% *}"
		echo "${code#* }" >>"$var/upload.times"
	done
	after=$(bench_responder_hwm)
	: >"$var/thumb.times"
	for _ in $(seq "$uploads"); do
		/usr/bin/time -f '%e' -a -o "$var/thumb.times" vipsthumbnail "$var/photo.jpg" --size 256x256 \
			--smartcrop centre -o "$var/ref.webp[strip,Q=80]" 2>/dev/null
	done
	row avatar upload 1 "" "$(bench_pct "$var/upload.times" 0.5)" "$(bench_pct "$var/upload.times" 0.9)" "" \
		"$uploads uploads of a $size-byte 12 MP JPEG; responder VmHWM $before kB before, $after kB after"
	row avatar vipsthumbnail 1 "" "$(bench_pct "$var/thumb.times" 0.5)" "$(bench_pct "$var/thumb.times" 0.9)" "" \
		"the same thumbnail from the same file, a process per run"
}

# bench_responders: the pids of this run's responders (the web server's
# children, not another stack's).
bench_responders() {
	pgrep -P "$(cat "$var/stack/run/lighttpd.pid")" -f 'cgi-bin/profilecache.fcgi'
}

# bench_responder_hwm: the largest peak RSS (VmHWM, kB) of the responders.
bench_responder_hwm() {
	local p m=0 v
	for p in $(bench_responders); do
		v=$(awk '/VmHWM/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		((v > m)) && m=$v
	done
	echo "$m"
}

# bench_pct FILE P: the P-quantile (0..1) of the seconds in FILE, in ms.
bench_pct() {
	sort -n "$1" | awk -v p="$2" '{ a[NR] = $1 } END {
		i = int(NR * p + 0.5); if (i < 1) i = 1; printf "%.1f", a[i] * 1000 }'
}

# bench_plots RESULTS_DIR OUT_DIR: PNG plots (gnuplot) of throughput and
# latency percentiles against concurrency from RESULTS_DIR/rows.tsv.
bench_plots() {
	local res=$1 out=$2
	mkdir -p -- "$out"
	# get.dat: c, then rps of static, floor, app hit, app miss, direct
	# origin, the peer's hit; get-latency.dat: c, then p50/p90/p99 of the app
	# hit, the floor, the static file and the peer's hit
	# Concurrencies in the order they were run (ascending).
	awk -F'\t' -v res="$res" '
		function d(s) { return s == "" ? "NaN" : s }
		($1 == "get" || $1 == "miss") {
			v[$1 "/" $2, $3] = $4
			if (!($3 in seen)) { seen[$3] = 1; cs[++n] = $3 }
		}
		$1 == "get" { p50[$2, $3] = $5; p90[$2, $3] = $6; p99[$2, $3] = $7 }
		END {
			for (i = 1; i <= n; i++) {
				x = cs[i]
				printf "%s %s %s %s %s %s %s\n", x, d(v["get/static", x]), d(v["get/floor", x]),
					d(v["get/app", x]), d(v["miss/app", x]), d(v["miss/origin", x]),
					d(v["get/peer", x]) > (res "/get.dat")
				printf "%s %s %s %s %s %s %s %s %s %s %s %s %s\n", x,
					d(p50["app", x]), d(p90["app", x]), d(p99["app", x]),
					d(p50["floor", x]), d(p90["floor", x]), d(p99["floor", x]),
					d(p50["static", x]), d(p90["static", x]), d(p99["static", x]),
					d(p50["peer", x]), d(p90["peer", x]), d(p99["peer", x]) > (res "/get-latency.dat")
			}
		}' "$res/rows.tsv"
	awk -F'\t' '$1 == "put" {
			p[$2, $3] = $5 " " $6 " " $7
			if (!($3 in seen)) { seen[$3] = 1; ws[++n] = $3 }
		}
		END { for (i = 1; i <= n; i++) print ws[i], p["patch", ws[i]], p["sqlite-insert", ws[i]], p["peer-patch", ws[i]] }' \
		"$res/rows.tsv" >"$res/put.dat"
	gnuplot <<-EOF
		set terminal pngcairo size 900,540 font "sans,10"
		set grid
		set key outside right
		set logscale x 2
		set xtics (1, 16, 64)
		set xrange [0.8:80]
		set xlabel "concurrent connections"

		set output "$out/get-throughput.png"
		set title "GET throughput (requests/s) against concurrency"
		set logscale y 10
		set ylabel "requests/s"
		plot "$res/get.dat" using 1:2 with linespoints title "static file (lighttpd)", \
		     "" using 1:3 with linespoints title "floor: FastCGI + one memcached get", \
		     "" using 1:4 with linespoints lw 2 title "profilecache cache hit", \
		     "" using 1:5 with linespoints title "profilecache miss (origin read)", \
		     "" using 1:6 with linespoints title "direct origin read", \
		     "" using 1:7 with linespoints lw 2 dt 4 title "peer: Node http + ioredis hit"

		set output "$out/get-latency.png"
		set title "GET latency percentiles (ms) against concurrency"
		set ylabel "ms"
		plot "$res/get-latency.dat" using 1:2 with linespoints lw 2 title "cache hit p50", \
		     "" using 1:3 with linespoints lw 2 title "cache hit p90", \
		     "" using 1:4 with linespoints lw 2 title "cache hit p99", \
		     "" using 1:5 with linespoints dt 2 title "floor p50", \
		     "" using 1:7 with linespoints dt 2 title "floor p99", \
		     "" using 1:8 with linespoints dt 3 title "static p50", \
		     "" using 1:10 with linespoints dt 3 title "static p99", \
		     "" using 1:11 with linespoints dt 4 title "peer (Node + ioredis) p50", \
		     "" using 1:13 with linespoints dt 4 title "peer (Node + ioredis) p99"

		set output "$out/put-latency.png"
		set title "PATCH acknowledgement vs. SQLite insert loop: latency (ms) against writers"
		set xtics (1, 8)
		set xrange [0.8:10]
		set xlabel "concurrent writers"
		plot "$res/put.dat" using 1:2 with linespoints lw 2 title "PATCH p50", \
		     "" using 1:4 with linespoints lw 2 title "PATCH p99", \
		     "" using 1:5 with linespoints dt 2 title "SQLite insert p50", \
		     "" using 1:7 with linespoints dt 2 title "SQLite insert p99", \
		     "" using 1:8 with linespoints dt 4 title "peer PATCH (database first) p50", \
		     "" using 1:10 with linespoints dt 4 title "peer PATCH (database first) p99"
	EOF
}

# bench_docs REPORT DOC: replace what lies between the bench/run markers in
# DOC with REPORT (and the plots' links).
bench_docs() {
	local report=$1 doc=$2 begin='<!-- bench/run: begin -->' end='<!-- bench/run: end -->'
	grep -qF "$begin" "$doc" && grep -qF "$end" "$doc" || pc_die "$doc has no bench/run markers"
	{
		awk -v m="$begin" '{ print } $0 == m { exit }' "$doc"
		cat "$report"
		printf '\n![GET throughput](bench/get-throughput.png)\n'
		printf '![GET latency](bench/get-latency.png)\n'
		printf '![PATCH latency](bench/put-latency.png)\n\n'
		awk -v m="$end" '$0 == m { on = 1 } on' "$doc"
	} >"$doc.new" && mv -- "$doc.new" "$doc"
}
