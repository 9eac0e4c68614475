#!/usr/bin/env bash
# [avatar] backend = supabase against the stand-in's Storage subset (pgrest-lite
# --storage-dir): the upload lands in the bucket and avatar_url is under its
# public URL, which serves the WebP; a replaced object is deleted by the flush
# only when nothing refers to it; the stand-in refuses uploads without the key.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

command -v vips >/dev/null || e2e_skip_all "needs vips (libvips-tools)"
PC_AVATAR_BACKEND=supabase
PC_CONF_SET="limits.writes_per_minute=0 avatar.trash_grace=0"
e2e_start
plan 20

id=$SAMPLE_PROFILE_ID
owner=(-H "Authorization: Bearer $(jwt_hs256 "$id")")
FLUSH=$PC_BUILDDIR/profilecache-flush
public=$STORAGE_URL/object/public/avatars
(
	cd "$E2E_DIR"
	vips black b.v 64 64 --bands 3
	vips linear b.v red.v "1 1 1" "255 0 0" --uchar
	vips linear b.v blue.v "1 1 1" "0 0 255" --uchar
	vips copy red.v red.png
	vips copy blue.v blue.png
) >/dev/null
object() { printf '%s/avatars/%s' "$STORAGE_DIR" "${1#"$public/"}"; }

# --- upload -----------------------------------------------------------------------------
http POST "/profiles/$id/avatar" "${owner[@]}" -F "avatar=@$E2E_DIR/red.png;type=image/png"
is "$HTTP_STATUS" 202 "an upload with backend = supabase: 202"
url_a=$(json .profile.avatar_url)
like "$url_a" "^$public/[0-9a-f]{2}/[0-9a-f]{64}\\.webp\$" \
	"avatar_url is content-addressed under the bucket's public URL"
is "$(ls -A "$AVATAR_DIR" | wc -l)" 0 "nothing went to the local directory"
ok "$([[ -f $(object "$url_a") ]]; echo $?)" "the object is in the bucket"
like "$(grep 'path=/storage/v1/object/avatars/' "$ORIGIN_LOG" | tail -n 1)" 'method=POST .*status=200' \
	"uploaded with POST /object/avatars/{path}"
curl -s -o "$E2E_DIR/got.webp" -D "$E2E_DIR/got.h" "$url_a"
like "$(head -n 1 "$E2E_DIR/got.h")" ' 200' "GET of avatar_url: 200"
like "$(tr -d '\r' <"$E2E_DIR/got.h" | grep -i '^content-type:')" 'image/webp' "as image/webp"
like "$(tr -d '\r' <"$E2E_DIR/got.h" | grep -i '^cache-control:')" 'max-age=31536000' \
	"with the long cache lifetime sent as cache-control"
is "$(sha256sum "$E2E_DIR/got.webp" | cut -c1-64)" "$(basename "$url_a" .webp)" \
	"the bytes are the WebP its name is the hash of"
is "$(head -c 4 "$E2E_DIR/got.webp")" RIFF "a RIFF (WebP) file"

# --- the replaced object goes only when unreferenced ------------------------------------
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null
http POST "/profiles/$id/avatar" "${owner[@]}" -F "avatar=@$E2E_DIR/blue.png;type=image/png"
is "$HTTP_STATUS" 202 "a second upload: 202"
url_b=$(json .profile.avatar_url)
# Another profile refers to the first object: it must stay.
other=dddddddd-0000-4000-8000-000000000002
psql_exec "insert into profiles (id, avatar_url) values ('$other', '$url_a')" >/dev/null
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null
is "$(psql_exec "select avatar_url from profiles where id = '$id'")" "$url_b" "the flush wrote the new URL"
is "$(curl -s -o /dev/null -w '%{http_code}' "$url_a")" 200 \
	"the replaced object stays while another profile refers to it"
# Unreferenced now, and its removal note comes again with the next upload.
psql_exec "delete from profiles where id = '$other'" >/dev/null
http POST "/profiles/$id/avatar" "${owner[@]}" -F "avatar=@$E2E_DIR/red.png;type=image/png"
is "$(json .profile.avatar_url)" "$url_a" "the same image gets the same URL"
http POST "/profiles/$id/avatar" "${owner[@]}" -F "avatar=@$E2E_DIR/blue.png;type=image/png"
is "$(json .profile.avatar_url)" "$url_b" "back to the second image"
"$FLUSH" --config "$CONFIG_PATH" 2>/dev/null
is "$(curl -s -o /dev/null -w '%{http_code}' "$url_a")" 400 \
	"unreferenced, it is deleted by the flush (Storage answers 400 ...)"
is "$(curl -s "$url_a" | jq -r '.statusCode + " " + .error')" "404 not_found" \
	"... with statusCode 404, not_found"
like "$(grep 'method=DELETE path=/storage/v1/object/avatars ' "$ORIGIN_LOG" | tail -n 1)" 'status=200' \
	"deleted with DELETE /object/avatars {prefixes}"
is "$(curl -s -o /dev/null -w '%{http_code}' "$url_b")" 200 "the current object stays"

# --- the stand-in's refusals --------------------------------------------------------------
code=$(curl -s -o "$E2E_DIR/r.json" -w '%{http_code}' -X POST -H 'Content-Type: image/webp' \
	--data-binary "@$E2E_DIR/got.webp" "$STORAGE_URL/object/avatars/x/y.webp")
is "$code $(jq -r .message "$E2E_DIR/r.json")" "401 No API key found in request" \
	"an upload without the key: 401"
