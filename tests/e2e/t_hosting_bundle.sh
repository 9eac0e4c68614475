#!/usr/bin/env bash
# The shared-hosting bundle (scripts/hosting-bundle, make hosting-bundle):
# unpacked in a directory of its own, with LD_LIBRARY_PATH empty, every
# library of its programs resolves inside the bundle or is a base system's
# (the C library and the compiler's runtime), the image helper normalises an
# image, and the responder answers a CGI request against a real stack.
set -euo pipefail
# One run is enough: the bundle does not depend on the web server.
export PC_WEB_SERVER=lighttpd
# shellcheck source=tests/e2e/lib.sh
. "$(dirname -- "$0")/lib.sh"

command -v patchelf >/dev/null || e2e_skip_all "needs patchelf (apt-get install patchelf)"
command -v vips >/dev/null || e2e_skip_all "needs vips (libvips-tools)"

e2e_start
plan 15

# --- make it, unpack it elsewhere ------------------------------------------------------
rc=0
"$PC_ROOT/scripts/hosting-bundle" --builddir "$PC_BUILDDIR" --out "$E2E_DIR/bundle.tar.gz" \
	2>"$E2E_DIR/bundle.err" || rc=$?
is "$rc" 0 "scripts/hosting-bundle makes a tarball"
((rc == 0)) || diag "$(cat "$E2E_DIR/bundle.err")"
where=$E2E_DIR/some/other/place
mkdir -p -- "$where"
tar -C "$where" -xzf "$E2E_DIR/bundle.tar.gz" || true
top=$(find "$where" -mindepth 1 -maxdepth 1 -type d -name 'profilecache-*' | head -n 1)
top=${top:-$where/missing}
flush=$top/sbin/profilecache-flush
admin=$top/sbin/profilecache-admin
image=$top/libexec/profilecache/profilecache-image
fcgi=$top/libexec/profilecache/cgi-bin/profilecache.fcgi
absent=
for f in "$flush" "$admin" "$image" "$fcgi"; do [[ -x $f ]] || absent+="${f#"$top"/} "; done
is "$absent" "" "it holds the responder, the flusher, the admin tool and the image helper"
ok "$([[ -f $top/share/profilecache/htaccess-cgi && -f $top/share/profilecache/htaccess-fcgid ]] && echo 0 || echo 1)" \
	"and the .htaccess templates"

# --- every library resolves inside the bundle or is a base system's ------------------------------
base=$("$PC_ROOT/scripts/hosting-bundle" --base-libs)
top=$(readlink -f -- "$top")
# resolved BINARY: "soname path" for each library ldd finds for BINARY with
# LD_LIBRARY_PATH empty, the path without ".." ("not" when not found).
resolved() {
	local name arrow path
	while read -r name arrow path _; do
		[[ $arrow == "=>" ]] || continue
		[[ $path == not ]] || path=$(readlink -f -- "$path")
		printf '%s %s\n' "$name" "$path"
	done < <(env LD_LIBRARY_PATH= ldd "$1" 2>&1)
}
# outside BINARY: the libraries resolved neither inside the bundle nor to a
# base one, and those not found.
outside() {
	local name path
	while read -r name path; do
		[[ $path == "$top"/lib/* ]] && continue
		[[ $path != not && $name =~ $base ]] && continue
		printf '%s=>%s ' "$name" "$path"
	done < <(resolved "$1")
}
for f in "$fcgi" "$image" "$flush" "$admin"; do
	is "$(outside "$f")" "" "${f##*/}: every library is the bundle's or a base system's"
done
like "$(resolved "$fcgi")" "libfcgi\.so[.0-9]* $top/lib/" "the responder loads the bundle's libfcgi"
like "$(resolved "$image")" "libvips\.so[.0-9]* $top/lib/" "the image helper loads the bundle's libvips"

# --- the image helper normalises an image --------------------------------------------------
(cd "$E2E_DIR" && vips black b.v 300 200 --bands 3 && vips linear b.v red.v "1 1 1" "255 0 0" --uchar &&
	vips copy red.v in.png) >/dev/null 2>&1 || diag "vips could not make the test image"
rc=0
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= "$image" --size 64 --max-pixels 1000000 --quality 80 \
	--max-bytes 1000000 --type image/png <"$E2E_DIR/in.png" >"$E2E_DIR/out.webp" 2>"$E2E_DIR/image.err" || rc=$?
is "$rc" 0 "the bundle's image helper exits 0"
is "$(vipsheader -f width "$E2E_DIR/out.webp" 2>/dev/null)x$(vipsheader -f height "$E2E_DIR/out.webp" 2>/dev/null)/$(head -c 4 "$E2E_DIR/out.webp" 2>/dev/null)" \
	"64x64/RIFF" "it wrote a 64 x 64 WebP"

# --- the responder answers a CGI request --------------------------------------------------------
rc=0
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= PROFILECACHE_CONFIG="$CONFIG_PATH" GATEWAY_INTERFACE=CGI/1.1 \
	REQUEST_METHOD=GET REQUEST_URI="/v1/profiles/$SAMPLE_PROFILE_ID" SCRIPT_NAME= \
	PATH_INFO="/v1/profiles/$SAMPLE_PROFILE_ID" SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
	"$fcgi" </dev/null >"$E2E_DIR/cgi.out" 2>"$E2E_DIR/cgi.err" || rc=$?
is "$rc" 0 "the bundle's responder, run as CGI, exits 0"
out=$(tr -d '\r' <"$E2E_DIR/cgi.out")
like "$out" '"username":"alice"' "and answers the sample profile, read through memcached and the origin"

# docs/shared-hosting.md, step 5: in the document root, a wrapper that runs
# the bundle's responder in place.
mkdir -p -- "$E2E_DIR/public_html/api"
printf '#!/bin/sh\nexec %s "$@"\n' "$fcgi" >"$E2E_DIR/public_html/api/profiles.fcgi"
chmod 0755 "$E2E_DIR/public_html/api/profiles.fcgi"
# The configuration as an argument, as htaccess-fcgid's FcgidWrapper gives it.
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= GATEWAY_INTERFACE=CGI/1.1 \
	REQUEST_METHOD=GET REQUEST_URI="/api/profiles.fcgi/v1/profiles/$SAMPLE_PROFILE_ID" \
	SCRIPT_NAME=/api/profiles.fcgi PATH_INFO="/v1/profiles/$SAMPLE_PROFILE_ID" SERVER_PROTOCOL=HTTP/1.1 \
	REMOTE_ADDR=127.0.0.1 "$E2E_DIR/public_html/api/profiles.fcgi" --config "$CONFIG_PATH" \
	</dev/null >"$E2E_DIR/cgi.out" 2>"$E2E_DIR/cgi.err" || true
like "$(tr -d '\r' <"$E2E_DIR/cgi.out")" '"username":"alice"' \
	"a wrapper in the document root runs it under a sub-path, passing --config on"
# A query without '=' is also the CGI program's last arguments (RFC 3875
# 4.4), as Apache's mod_cgi passes them: they must not choose anything.
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= GATEWAY_INTERFACE=CGI/1.1 \
	REQUEST_METHOD=GET REQUEST_URI="/api/profiles.fcgi/v1/profiles/$SAMPLE_PROFILE_ID?--config+/nonexistent" \
	QUERY_STRING=--config+/nonexistent \
	SCRIPT_NAME=/api/profiles.fcgi PATH_INFO="/v1/profiles/$SAMPLE_PROFILE_ID" SERVER_PROTOCOL=HTTP/1.1 \
	REMOTE_ADDR=127.0.0.1 "$E2E_DIR/public_html/api/profiles.fcgi" --config "$CONFIG_PATH" \
	--config /nonexistent </dev/null >"$E2E_DIR/cgi.out" 2>"$E2E_DIR/cgi.err" || true
like "$(tr -d '\r' <"$E2E_DIR/cgi.out")" '"username":"alice"' \
	"the words of a query without '=' given as arguments are not options"
