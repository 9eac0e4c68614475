#!/usr/bin/env bash
# Benchmark: a 12-megapixel JPEG avatar upload through lighttpd (multipart,
# normalised to a 256 x 256 WebP, stored, journaled) against libvips' own
# vipsthumbnail doing the same resize on the same file in the same run, and
# the responder's peak memory (VmHWM) before and after its first upload.
#
#   bench/avatar.sh [--uploads N]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh
PC_PROG=bench

uploads=20
while (($#)); do
	case $1 in
	--uploads) uploads=$2; shift 2 ;;
	*) pc_die "usage: bench/avatar.sh [--uploads N]" ;;
	esac
done

pc_build
PC_CONF_SET="limits.writes_per_minute=0 avatar.max_bytes=20000000" bench_stack_start

# A 4000 x 3000 photo-like JPEG: smooth gradients plus noise, quality 90.
vips gaussnoise "$var/noise.v" 4000 3000 --sigma 40 --mean 128
vips xyz "$var/xyz.v" 4000 3000
vips extract_band "$var/xyz.v" "$var/x.v" 0
vips linear "$var/x.v" "$var/grad.v" 0.05 0
vips add "$var/noise.v" "$var/grad.v" "$var/mono.v"
vips bandjoin "$var/mono.v $var/noise.v $var/grad.v" "$var/rgb.v"
vips cast "$var/rgb.v" "$var/rgb8.v" uchar
vips copy "$var/rgb8.v" "$var/photo.jpg[Q=90]"
size=$(stat -c %s "$var/photo.jpg")

token=$(jwt_hs256 "$SAMPLE_PROFILE_ID")
url="$BASE_URL/profiles/$SAMPLE_PROFILE_ID/avatar"
hwm() {	# the largest VmHWM of the responder processes, kB
	local p m=0 v
	for p in $(pgrep -f 'cgi-bin/profilecache.fcgi'); do
		v=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		((v > m)) && m=$v
	done
	echo "$m"
}
curl -sf -o /dev/null "$BASE_URL/profiles/$SAMPLE_PROFILE_ID"
before=$(hwm)

: >"$var/times"
for _ in $(seq "$uploads"); do
	code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $token" \
		-F "avatar=@$var/photo.jpg;type=image/jpeg" "$url")
	[[ ${code%% *} == 202 ]] || pc_die "upload answered ${code%% *}"
	echo "${code#* }" >>"$var/times"
done
after=$(hwm)
: >"$var/ref"
for _ in $(seq "$uploads"); do
	/usr/bin/time -f '%e' -a -o "$var/ref" vipsthumbnail "$var/photo.jpg" --size 256x256 \
		--smartcrop centre -o "$var/ref.webp[strip,Q=80]" 2>/dev/null
done

pct() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p+0.5); if (i<1) i=1; printf "%.1f", a[i]*1000}'; }
printf '| | p50 ms | p90 ms |\n|---|---:|---:|\n'
printf '| upload through lighttpd (%s runs) | %s | %s |\n' "$uploads" "$(pct "$var/times" 0.5)" "$(pct "$var/times" 0.9)"
printf '| vipsthumbnail, same file | %s | %s |\n' "$(pct "$var/ref" 0.5)" "$(pct "$var/ref" 0.9)"
printf '\nJPEG %s bytes, 4000 x 3000. Responder peak RSS (VmHWM): %s kB before any upload, %s kB after %s uploads.\n' \
	"$size" "$before" "$after" "$uploads"
