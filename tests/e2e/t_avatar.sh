#!/usr/bin/env bash
# POST /v1/profiles/{id}/avatar through lighttpd: real images made here (JPEG
# with GPS EXIF and a rotation, PNG with alpha, GIF, WebP) and hostile ones;
# the stored file is a metadata-free square WebP, content-addressed, served
# as an immutable static file; the old file goes only after the new URL is
# in the database.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

command -v vips >/dev/null && command -v exiftool >/dev/null ||
	e2e_skip_all "needs vips (libvips-tools) and exiftool (libimage-exiftool-perl)"
PC_CONF_SET="limits.writes_per_minute=0 avatar.max_bytes=1048576 avatar.trash_grace=0"
e2e_start
plan 42

id=$SAMPLE_PROFILE_ID
owner=(-H "Authorization: Bearer $(jwt_hs256 "$id")")
FLUSH=$PC_BUILDDIR/profilecache-flush
img=$(mktemp -d)
e2e_cleanup() { rm -rf -- "$img"; }

# --- images ---------------------------------------------------------------------------
(
	cd "$img"
	vips black b.v 200 300 --bands 3
	vips linear b.v red.v "1 1 1" "255 0 0" --uchar
	vips linear b.v blue.v "1 1 1" "0 0 255" --uchar
	vips join red.v blue.v rb.v horizontal	# 400 x 300: red left, blue right
	vips copy rb.v photo.jpg[Q=90]
	exiftool -q -overwrite_original -n -GPSLatitude=48.8584 -GPSLatitudeRef=N \
		-GPSLongitude=2.2945 -GPSLongitudeRef=E -Orientation=6 -Make=TestCam photo.jpg
	vips black a.v 300 300 --bands 4
	vips linear a.v alpha.v "1 1 1 1" "0 128 0 100" --uchar
	vips copy alpha.v alpha.png
	vips copy rb.v anim.gif
	vips copy rb.v pic.webp
	head -c 2500 photo.jpg >truncated.jpg
	printf 'GIF89a<html><script>alert(1)</script></html>' >polyglot.gif
	: >empty.png
	printf '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>' >pic.svg
	head -c 1200000 /dev/urandom >big.jpg
	# A JPEG whose frame header claims 50000 x 50000 pixels.
	cp photo.jpg bomb.jpg
	off=$(LC_ALL=C grep -obUaP '\xff\xc0' bomb.jpg | head -n 1 | cut -d: -f1)
	printf '\xc3\x50\xc3\x50' | dd of=bomb.jpg bs=1 seek=$((off + 5)) conv=notrunc 2>/dev/null
) >/dev/null
like "$(exiftool -s -s -s -GPSLatitude "$img/photo.jpg")" '48 deg' "the test JPEG carries GPS EXIF"

upload_raw() { http POST "/profiles/$id/avatar" "${owner[@]}" -H "Content-Type: $1" --data-binary "@$img/$2"; }
stored() { printf '%s/%s' "$AVATAR_DIR" "${1#"$HTTP_URL/avatars/"}"; }

# --- refusals -----------------------------------------------------------------------------
http POST "/profiles/$id/avatar" -H 'Content-Type: image/jpeg' --data-binary "@$img/photo.jpg"
is "$HTTP_STATUS" 401 "no token: 401"
http POST "/profiles/7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02/avatar" "${owner[@]}" -H 'Content-Type: image/jpeg' --data-binary "@$img/photo.jpg"
is "$HTTP_STATUS" 403 "another user's profile: 403"
upload_raw application/json photo.jpg
is "$HTTP_STATUS" 415 "application/json: 415"
upload_raw image/jpeg big.jpg
is "$HTTP_STATUS" 413 "over max_bytes: 413"
upload_raw image/jpeg truncated.jpg
is "$HTTP_STATUS" 415 "a truncated JPEG: 415"
upload_raw image/gif polyglot.gif
is "$HTTP_STATUS" 415 "a GIF/HTML polyglot: 415"
upload_raw image/jpeg alpha.png
is "$HTTP_STATUS" 415 "PNG bytes sent as image/jpeg: 415"
upload_raw image/png empty.png
is "$HTTP_STATUS" 415 "zero bytes: 415"
upload_raw image/svg+xml pic.svg
is "$HTTP_STATUS" 415 "SVG: 415"
upload_raw image/png pic.svg
is "$HTTP_STATUS" 415 "SVG sent as image/png: 415"
upload_raw image/jpeg bomb.jpg
is "$HTTP_STATUS" 422 "a 50000 x 50000 header: 422"
is "$(json .error.code)" too_many_pixels "error code too_many_pixels"
http POST "/profiles/$id/avatar" "${owner[@]}" -H 'Content-Type: multipart/form-data' --data-binary "@$img/photo.jpg"
is "$HTTP_STATUS" 400 "multipart without a boundary: 400"
printf -- '--XyZ\r\nContent-Disposition: form-data; name="avatar"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' >"$img/open.txt"
cat "$img/photo.jpg" >>"$img/open.txt"
http POST "/profiles/$id/avatar" "${owner[@]}" -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary "@$img/open.txt"
is "$HTTP_STATUS" 400 "an unterminated part: 400"
http POST "/profiles/$id/avatar" "${owner[@]}" -F "name=x" -F "other=@$img/photo.jpg;type=image/jpeg"
is "$HTTP_STATUS" 400 "a form without an avatar part: 400"
is "$(ls -A "$AVATAR_DIR" | wc -l)" 0 "nothing refused was stored"
is "$(sqlite3 "$JOURNAL_PATH" "select count(*) from changes" 2>/dev/null || echo 0)" 0 "nor journaled"

# --- a JPEG with GPS and a rotation --------------------------------------------------------
upload_raw image/jpeg photo.jpg
is "$HTTP_STATUS" 202 "a JPEG: 202"
is "$(json .sync)" pending "the new URL waits in the journal"
url_a=$(json .profile.avatar_url)
like "$url_a" "^$HTTP_URL/avatars/[0-9a-f]{2}/[0-9a-f]{64}\\.webp\$" "avatar_url is content-addressed under the public URL"
file_a=$(stored "$url_a")
is "$(sha256sum "$file_a" | cut -c1-64)" "$(basename "$file_a" .webp)" "the name is the SHA-256 of the bytes"
is "$(vipsheader -f width "$file_a")x$(vipsheader -f height "$file_a")" 256x256 "256 x 256"
is "$(head -c 4 "$file_a")$(head -c 12 "$file_a" | tail -c 4)" RIFFWEBP "WebP"
is "$(exiftool -s -s -s -GPSLatitude -Make -Orientation "$file_a" | wc -l)" 0 "no GPS, no EXIF at all"
if grep -q -a -E 'EXIF|XMP ' "$file_a"; then r=1; else r=0; fi
is "$r" 0 "no EXIF or XMP chunk in the file"
# Rotated 90 degrees clockwise, red (left) is now on top and blue below.
top=$(vips getpoint "$file_a" 128 20 | awk '{print ($1 > 150 && $3 < 100) ? "red" : "other"}')
bottom=$(vips getpoint "$file_a" 128 235 | awk '{print ($3 > 150 && $1 < 100) ? "blue" : "other"}')
is "$top/$bottom" red/blue "auto-rotated by the EXIF orientation"
status=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$url_a")
is "$status" "200 image/webp" "lighttpd serves it as a static file"
like "$(curl -s -D - -o /dev/null "$url_a" | tr -d '\r' | grep -i '^cache-control:')" 'immutable' \
	"with a long, immutable cache lifetime"

# --- the old file goes once the new URL is applied ---------------------------------------
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null
is "$(psql_exec "select avatar_url from profiles where id = '$id'")" "$url_a" "the flush wrote the URL"
http POST "/profiles/$id/avatar" "${owner[@]}" -F "avatar=@$img/alpha.png;type=image/png"
is "$HTTP_STATUS" 202 "a PNG with alpha through multipart (part \"avatar\"): 202"
url_b=$(json .profile.avatar_url)
file_b=$(stored "$url_b")
is "$(vipsheader -f bands "$file_b")" 4 "alpha is kept"
ok "$([[ -f $file_a ]]; echo $?)" "the previous file stays while the new URL is pending"
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null
ok "$([[ ! -e $file_a ]]; echo $?)" "and is removed once the new URL is in the database"
ok "$([[ -f $file_b ]]; echo $?)" "the new file stays"
http GET "/profiles/$id"
is "$(json .profile.avatar_url)/$(json .sync)" "$url_b/synced" "GET shows the new avatar, synced"

# --- other formats --------------------------------------------------------------------------
http POST "/profiles/$id/avatar" "${owner[@]}" -F "file=@$img/anim.gif;type=image/gif"
is "$HTTP_STATUS" 202 "a GIF through multipart (part \"file\"): 202"
upload_raw image/webp pic.webp
is "$HTTP_STATUS" 202 "a WebP body: 202"
upload_raw 'image/jpeg; charset=binary' photo.jpg
is "$HTTP_STATUS" 202 "media type parameters are ignored"
is "$(json .profile.avatar_url)" "$url_a" "the same image gets the same URL"
is "$(find "$AVATAR_DIR" -name '*.tmp' | wc -l)" 0 "no temporary files left behind"
is "$(ldd "$PC_BUILDDIR/cgi-bin/profilecache.fcgi" | grep -c vips)" 0 \
	"the responder does not link libvips (the helper process does)"
