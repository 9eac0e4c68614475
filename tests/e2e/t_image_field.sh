#!/usr/bin/env bash
# An image field of a declared resource (type = image): POST
# /v1/{resource}/{id}/{field} stores the normalised image as profiles'
# avatars are, and writes its URL behind; the row's owner and the admin
# may, another user and anonymous callers may not; a field that is not an
# image, or a row that does not exist, is 404; the flusher writes the URL;
# a replaced file is removed only once nothing refers to it (the same
# picture as a profile's avatar stays); deleting the row leaves its file to
# the same check.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

command -v vips >/dev/null || e2e_skip_all "needs vips (libvips-tools)"
decl=$(mktemp "${PC_TEST_TMP:-/tmp}/pc-image.XXXXXX")
cat >"$decl" <<'INI'

[resource posters]
item = poster
owner = user_id
[field posters.id]
type = uuid
policy = readonly
[field posters.user_id]
type = uuid
policy = server
[field posters.title]
type = text
max_length = 80
[field posters.picture]
type = image
[field posters.updated_at]
type = timestamp
policy = server
INI
PC_CONF_APPEND=$decl PC_CONF_SET="limits.writes_per_minute=0 avatar.max_bytes=1048576 avatar.trash_grace=0" e2e_start
rm -f -- "$decl"
plan 21

owner=$SAMPLE_PROFILE_ID
other=0c4b6a1e-8f0a-4d5e-9b2c-3d4e5f6a7b8c
poster=6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f
FLUSH=$PC_BUILDDIR/profilecache-flush
flush() { "$FLUSH" --config "$CONFIG_PATH" >"$VAR_DIR/flush.out" 2>"$VAR_DIR/flush.err"; }
user() { printf 'Authorization: Bearer %s' "$(jwt_hs256 "$1")"; }
img=$(mktemp -d)
e2e_cleanup() { rm -rf -- "$img"; }
(
	cd "$img"
	vips black b.v 120 80 --bands 3
	vips linear b.v red.v "1 1 1" "255 0 0" --uchar
	vips linear b.v blue.v "1 1 1" "0 0 255" --uchar
	vips copy red.v red.png
	vips copy blue.v blue.jpg
) >/dev/null
stored() { printf '%s/%s' "$AVATAR_DIR" "${1#"$HTTP_URL/avatars/"}"; }

"$PC_BUILDDIR/profilecache-admin" --config "$CONFIG_PATH" sql >"$E2E_DIR/resources.sql" ||
	e2e_bail "profilecache-admin sql failed"
PGOPTIONS="-c client_min_messages=warning" "$PC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
	-d "$DATABASE_URL" -f "$E2E_DIR/resources.sql" >/dev/null || e2e_bail "the migration did not load"
psql_exec "insert into public.posters (id, user_id, title) values ('$poster', '$owner', 'Fair')" ||
	e2e_bail "cannot make the poster"

up() { # up WHO-HEADER-ARGS... FILE TYPE PATH
	local path=$1 type=$2 file=$3
	shift 3
	http POST "$path" -H "Content-Type: $type" --data-binary "@$img/$file" "$@"
}

# --- refusals ------------------------------------------------------------------------------
files0=$(find "$AVATAR_DIR" -type f 2>/dev/null | sort)
up "/posters/$poster/picture" image/png red.png
is "$HTTP_STATUS" 401 "no token: 401"
up "/posters/$poster/picture" image/png red.png -H "$(user "$other")"
is "$HTTP_STATUS" 403 "another user's row: 403"
up "/posters/$poster/title" image/png red.png -H "$(user "$owner")"
is "$HTTP_STATUS/$(json .error.message)" "404/no such path under this resource" "a field that is not an image: 404"
up "/posters/$poster/nothing" image/png red.png -H "$(user "$owner")"
is "$HTTP_STATUS" 404 "an undeclared field: 404"
up "/posters/6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e40/picture" image/png red.png -H "$(user "$owner")"
is "$HTTP_STATUS" 404 "a row that does not exist: 404"
up "/posters/$poster/picture" application/json red.png -H "$(user "$owner")"
is "$HTTP_STATUS" 415 "not an image type: 415"
http POST "/posters/$poster/picture" -H "$(user "$owner")" -H 'Content-Type: image/png' --data-binary 'not a png'
is "$HTTP_STATUS" 415 "bytes that are no image: 415"
is "$(find "$AVATAR_DIR" -type f 2>/dev/null | sort)" "$files0" "nothing refused was stored"

# --- an upload -------------------------------------------------------------------------------
up "/posters/$poster/picture" image/png red.png -H "$(user "$owner")"
is "$HTTP_STATUS" 202 "the owner uploads: 202"
red=$(json .poster.picture)
like "$red" "^$HTTP_URL/avatars/.*\\.webp$" "the row's picture is the stored file's URL"
is "$(head -c 4 "$(stored "$red")")" RIFF "the file is a WebP"
is "$(json .poster.title)/$(json .sync)" "Fair/pending" "the rest of the row, pending"
http GET "/posters/$poster"
is "$(json .poster.picture)" "$red" "a read shows it at once"
flush || true
is "$(psql_exec "select picture from public.posters where id = '$poster'")" "$red" "the flusher writes the URL"

# --- the same picture as a profile's avatar: a replaced file stays while that refers to it --------
http POST "/profiles/$owner/avatar" -H "$(user "$owner")" -H 'Content-Type: image/png' --data-binary "@$img/red.png"
is "$(json .profile.avatar_url)" "$red" "the profile's avatar is the same file (content-addressed)"
flush || true
F=(-F "picture=@$img/blue.jpg;type=image/jpeg")
http POST "/posters/$poster/picture" -H "apikey: $(admin_key)" "${F[@]}"
is "$HTTP_STATUS" 202 "the admin uploads another one, as a form part named as the field"
blue=$(json .poster.picture)
isnt "$blue" "$red" "a new file"
flush || true
flush || true
ok "$([[ -f $(stored "$red") ]] && echo 0 || echo 1)" "the replaced file stays: the profile's avatar refers to it"
http DELETE "/posters/$poster" -H "$(user "$owner")"
is "$HTTP_STATUS" 204 "the owner deletes the poster"
flush || true
flush || true
ok "$([[ ! -f $(stored "$blue") ]] && echo 0 || echo 1)" "its file, which nothing refers to now, is removed"
ok "$([[ -f $(stored "$red") ]] && echo 0 || echo 1)" "the avatar's file stays"
