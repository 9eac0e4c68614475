# shellcheck shell=bash
# Shared shell functions: Debian dependencies, the build, and a local stack.
#
# The one file to source: it sets the defaults below and sources the parts in
# scripts/lib/, one concern each (found beside this file, wherever it is
# sourced from):
#   messages.sh     pc_log, pc_err, pc_die
#   packages.sh     Debian packages (pc_install_deps)
#   build.sh        pc_build
#   process.sh      daemons by pid file, waiting, free ports
#   util.sh         secrets, tokens, HTTP probes, templates and INI files
#   postgres.sh     memcached.sh  origin.sh  flusher.sh   one part each
#   web.sh          the responder's config, the web server's choice, start, stop
#   web_servers.sh  lighttpd, Apache, nginx and spawn-fcgi
#   stack.sh        a whole stack (pc_stack_start, pc_stack_stop, ...)
#
# Sourced by scripts/run, scripts/test and tests/e2e/lib.sh. It sets no shell
# options. Functions that start or stop things print a message naming the part
# that failed and return non-zero instead of exiting, so callers can clean up.
#
# A stack is PostgreSQL 15, memcached, pgrest-lite (the local origin) and a
# web server running the responder (lighttpd, Apache with mod_fcgid or mod_cgi,
# or nginx with spawn-fcgi: PC_WEB_SERVER, see pc_start_web), all on
# 127.0.0.1, ports PORT_BASE+0..3:
#   +0 web server   +1 pgrest-lite   +2 memcached   +3 PostgreSQL
# Everything a stack owns lives under its VAR_DIR:
#   stack.env           shell-sourceable summary for tests and people; it also
#                       puts the build's programs on PATH and exports
#                       PROFILECACHE_CONFIG
#   profilecache.conf   responder config, from etc/profilecache.conf.example
#   lighttpd.conf       from etc/lighttpd/profilecache.conf.in      } the one
#   apache2.conf        from etc/apache/profilecache-*.conf.in      } of the
#   nginx.conf          from etc/nginx/profilecache.conf.in         } stack's
#   lighttpd.d/ apache2.d/ nginx.d/   optional additions (*.conf)   } server
#   journal.db          the responder's journal
#   secrets/            service.key (sb_secret_...), anon.key (sb_publishable_...),
#                       jwt.secret (0600; 0640 and group www-data behind
#                       Apache or nginx)
#   www/                document root for static files; www/demo/ the demo page
#                       (pc__install_demo)
#   storage/            the origin's Storage objects, one directory per bucket
#   log/                one log per component (the responder's stderr goes to
#                       the web server's, or to responder.log behind nginx;
#                       flush.log: the flusher loop scripts/run starts)
#   run/                pid files, the port base, the web server's name, the
#                       FastCGI socket, Apache's and nginx's runtime files
#   pg/                 PostgreSQL: data/, run/ (socket), postgres.log; when the
#                       postgres user cannot reach VAR_DIR, pg.location names a
#                       directory under /tmp that holds the same
#   tmp/                the web server's request body buffers

PC_ROOT=${PC_ROOT:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)}
PC_BUILDDIR=${PC_BUILDDIR:-${PC_TOP_BUILDDIR:-$PC_ROOT}}
PC_PG_BIN=${PC_PG_BIN:-/usr/lib/postgresql/15/bin}
PC_FCGI_BIN=${PC_FCGI_BIN:-$PC_BUILDDIR/cgi-bin/profilecache.fcgi}
PC_ORIGIN_BIN=${PC_ORIGIN_BIN:-$PC_BUILDDIR/tools/pgrest-lite/pgrest-lite}
PC_FLUSH_BIN=${PC_FLUSH_BIN:-$PC_BUILDDIR/profilecache-flush}
PC_ORIGIN_DB_USER=${PC_ORIGIN_DB_USER:-authenticator}
PC_WAIT_SECONDS=${PC_WAIT_SECONDS:-30}
PC_LOG_LEVEL=${PC_LOG_LEVEL:-info}
# Where responders store avatars: local (VAR_DIR/www/avatars, served by the web
# server) or supabase (the origin's Storage subset, a bucket every node shares).
PC_AVATAR_BACKEND=${PC_AVATAR_BACKEND:-local}
PC_MEMCACHED_MB=${PC_MEMCACHED_MB:-64}
PC_DB_NAME=profilecache
PC_SAMPLE_PROFILE_ID=7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01
# Bump when the way a template cluster is built changes, to invalidate old ones.
PC_PG_TEMPLATE_FORMAT=1


# The parts. pc__lib is this file's directory/lib, whatever the caller's cwd.
pc__lib=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/lib || return 1
# shellcheck source=scripts/lib/messages.sh
. "$pc__lib/messages.sh" || return 1
# shellcheck source=scripts/lib/packages.sh
. "$pc__lib/packages.sh" || return 1
# shellcheck source=scripts/lib/build.sh
. "$pc__lib/build.sh" || return 1
# shellcheck source=scripts/lib/process.sh
. "$pc__lib/process.sh" || return 1
# shellcheck source=scripts/lib/util.sh
. "$pc__lib/util.sh" || return 1
# shellcheck source=scripts/lib/postgres.sh
. "$pc__lib/postgres.sh" || return 1
# shellcheck source=scripts/lib/memcached.sh
. "$pc__lib/memcached.sh" || return 1
# shellcheck source=scripts/lib/origin.sh
. "$pc__lib/origin.sh" || return 1
# shellcheck source=scripts/lib/flusher.sh
. "$pc__lib/flusher.sh" || return 1
# shellcheck source=scripts/lib/web.sh
. "$pc__lib/web.sh" || return 1
# shellcheck source=scripts/lib/web_servers.sh
. "$pc__lib/web_servers.sh" || return 1
# shellcheck source=scripts/lib/stack.sh
. "$pc__lib/stack.sh" || return 1
unset pc__lib
