# shellcheck shell=bash
# Each web server: lighttpd, Apache (mod_fcgid or mod_cgi), nginx with
# spawn-fcgi.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- lighttpd

# pc__write_lighttpd_config VAR_DIR: VAR_DIR/lighttpd.conf from the template,
# plus lighttpd.d/accesslog.conf when PC_ACCESS_LOG=1.
pc__write_lighttpd_config() {
	local var=$1 base
	base=$(pc__port_base "$var") || return 1
	mkdir -p -- "$var/lighttpd.d" || return 1
	pc__render "$PC_ROOT/etc/lighttpd/profilecache.conf.in" "$var/lighttpd.conf" \
		"PORT=$base" \
		"DOCUMENT_ROOT=$var/www" \
		"ERROR_LOG=$var/log/lighttpd.log" \
		"UPLOAD_DIR=$var/tmp" \
		"FCGI_BIN=$PC_FCGI_BIN" \
		"FCGI_SOCKET=$var/run/profilecache.sock" \
		"PROFILECACHE_CONFIG=$var/profilecache.conf" \
		"CONF_D=$var/lighttpd.d" || return 1
	rm -f -- "$var/lighttpd.d/accesslog.conf"
	if [[ ${PC_ACCESS_LOG:-0} == 1 ]]; then
		cat >"$var/lighttpd.d/accesslog.conf" <<-EOF
			server.modules += ( "mod_accesslog" )
			accesslog.filename = "$var/log/access.log"
		EOF
	fi
}

# pc__start_lighttpd VAR_DIR: write the responder's and lighttpd's configs and
# run lighttpd (foreground mode, in the background) on 127.0.0.1:PORT_BASE.
pc__start_lighttpd() {
	local var=$1 base
	base=$(pc__port_base "$var") || return 1
	[[ -x $PC_FCGI_BIN ]] || pc_err "responder: $PC_FCGI_BIN is not built (run make)" || return 1
	if pc_port_listening "$base"; then pc_err "lighttpd: port $base is already taken"; return 1; fi
	pc__write_responder_config "$var" && pc__write_lighttpd_config "$var" || return 1
	pc__check_config lighttpd "$var/log/lighttpd-check.log" lighttpd -tt -f "$var/lighttpd.conf" || return 1
	pc__spawn "$var/run/lighttpd.pid" "$var/log/lighttpd.log" lighttpd -D -f "$var/lighttpd.conf" || return 1
	pc__wait lighttpd "$var/log/lighttpd.log" "$var/run/lighttpd.pid" \
		pc__http_answers "http://127.0.0.1:$base/"
}

# --- Apache (mod_fcgid or mod_cgi)

# pc__write_apache_config VAR_DIR FLAVOUR: VAR_DIR/apache2.conf from
# etc/apache/profilecache-FLAVOUR.conf.in, plus apache2.d/accesslog.conf when
# PC_ACCESS_LOG=1.
pc__write_apache_config() {
	local var=$1 flavour=$2 base
	base=$(pc__port_base "$var") || return 1
	mkdir -p -- "$var/apache2.d" "$var/run/apache2" || return 1
	pc__render "$PC_ROOT/etc/apache/profilecache-$flavour.conf.in" "$var/apache2.conf" \
		"PORT=$base" \
		"SERVER_ROOT=$var" \
		"RUN_DIR=$var/run/apache2" \
		"DOCUMENT_ROOT=$var/www" \
		"ERROR_LOG=$var/log/apache2.log" \
		"FCGI_BIN=$PC_FCGI_BIN" \
		"PROFILECACHE_CONFIG=$var/profilecache.conf" \
		"CONF_D=$var/apache2.d" || return 1
	rm -f -- "$var/apache2.d/accesslog.conf"
	if [[ ${PC_ACCESS_LOG:-0} == 1 ]]; then
		cat >"$var/apache2.d/accesslog.conf" <<-EOF
			CustomLog "$var/log/access.log" "%h %t \"%r\" %>s %b %{ms}Tms"
		EOF
	fi
}

# pc__start_apache VAR_DIR FLAVOUR: write the configs and run Apache in the
# foreground (in the background) on 127.0.0.1:PORT_BASE, as PC_WEB_USER.
pc__start_apache() {
	local var=$1 flavour=$2 base
	base=$(pc__port_base "$var") || return 1
	[[ -x $PC_FCGI_BIN ]] || pc_err "responder: $PC_FCGI_BIN is not built (run make)" || return 1
	if pc_port_listening "$base"; then pc_err "apache2: port $base is already taken"; return 1; fi
	pc__write_responder_config "$var" && pc__write_apache_config "$var" "$flavour" &&
		pc__grant_web_user "$var" || return 1
	pc__check_config apache2 "$var/log/apache2-check.log" apache2 -t -f "$var/apache2.conf" || return 1
	# TMPDIR: where mod_fcgid keeps request bodies above FcgidMaxRequestInMem.
	pc__spawn "$var/run/apache2.pid" "$var/log/apache2.log" \
		env TMPDIR="$var/tmp" apache2 -f "$var/apache2.conf" -DFOREGROUND || return 1
	pc__wait apache2 "$var/log/apache2.log" "$var/run/apache2.pid" \
		pc__http_answers "http://127.0.0.1:$base/"
}

# --- nginx and spawn-fcgi

# pc__write_nginx_config VAR_DIR: VAR_DIR/nginx.conf from the template, plus
# nginx.d/accesslog.conf when PC_ACCESS_LOG=1.
pc__write_nginx_config() {
	local var=$1 base
	base=$(pc__port_base "$var") || return 1
	mkdir -p -- "$var/nginx.d" "$var/run/nginx" "$var/tmp/nginx" || return 1
	pc__render "$PC_ROOT/etc/nginx/profilecache.conf.in" "$var/nginx.conf" \
		"PORT=$base" \
		"PID_FILE=$var/run/nginx/nginx.pid" \
		"ERROR_LOG=$var/log/nginx.log" \
		"TEMP_DIR=$var/tmp/nginx" \
		"DOCUMENT_ROOT=$var/www" \
		"FCGI_SOCKET=$var/run/profilecache.sock" \
		"CONF_D=$var/nginx.d" || return 1
	rm -f -- "$var/nginx.d/accesslog.conf"
	if [[ ${PC_ACCESS_LOG:-0} == 1 ]]; then
		printf 'access_log %s profilecache;\n' "$var/log/access.log" >"$var/nginx.d/accesslog.conf"
	fi
}

# pc__start_spawn_fcgi VAR_DIR: 4 responders on VAR_DIR/run/profilecache.sock,
# started by spawn-fcgi as the etc/nginx template says, their pids in
# run/spawn-fcgi.pid and their stderr in log/responder.log.
pc__start_spawn_fcgi() {
	local var=$1 sock=$1/run/profilecache.sock log=$1/log/responder.log
	local -a who=()
	if pc__pids_alive "$var/run/spawn-fcgi.pid"; then pc_err "responders already run (pids in $var/run/spawn-fcgi.pid)"; return 1; fi
	rm -f -- "$sock"
	touch -- "$log" || return 1
	if ((EUID == 0)); then
		who=(-u "$PC_WEB_USER" -U "$PC_WEB_USER" -G "$(id -gn "$PC_WEB_USER")")
		chown "$PC_WEB_USER" -- "$log" || return 1
	fi
	# spawn-fcgi forks the responders and exits; setsid: they are in a
	# session of their own, out of reach of a Ctrl-C meant for the caller.
	# shellcheck disable=SC2016 # expanded by the inner shell
	(
		pc__close_fds
		trap - PIPE
		exec env PROFILECACHE_CONFIG="$var/profilecache.conf" setsid spawn-fcgi \
			-s "$sock" -M 0660 "${who[@]}" -F 4 -P "$var/run/spawn-fcgi.pid" \
			-- /bin/sh -c 'exec "$0" 2>>"$1"' "$PC_FCGI_BIN" "$log"
	) </dev/null >>"$var/log/spawn-fcgi.log" 2>&1 || {
		pc_log "error: spawn-fcgi could not start the responders"
		pc__tail_log spawn-fcgi "$var/log/spawn-fcgi.log"
		return 1
	}
}

# pc__start_nginx VAR_DIR: write the configs, start the responders with
# spawn-fcgi, then nginx in the foreground (in the background) on
# 127.0.0.1:PORT_BASE.
pc__start_nginx() {
	local var=$1 base
	local -a nginx
	base=$(pc__port_base "$var") || return 1
	[[ -x $PC_FCGI_BIN ]] || pc_err "responder: $PC_FCGI_BIN is not built (run make)" || return 1
	if pc_port_listening "$base"; then pc_err "nginx: port $base is already taken"; return 1; fi
	pc__write_responder_config "$var" && pc__write_nginx_config "$var" &&
		pc__grant_web_user "$var" || return 1
	# -e: the error log from the start, before the configuration is read.
	nginx=(nginx -p "$var/" -c "$var/nginx.conf" -e "$var/log/nginx.log")
	pc__check_config nginx "$var/log/nginx-check.log" "${nginx[@]}" -t -q || return 1
	pc__start_spawn_fcgi "$var" || return 1
	pc__spawn "$var/run/nginx.pid" "$var/log/nginx.log" "${nginx[@]}" -g 'daemon off;' || return 1
	pc__wait nginx "$var/log/nginx.log" "$var/run/nginx.pid" \
		pc__http_answers "http://127.0.0.1:$base/"
}
