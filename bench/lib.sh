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
	trap 'pc_stack_stop "$var/stack" >/dev/null 2>&1 || true; rm -rf -- "$var"' EXIT
	PC_LOG_LEVEL=warn pc_stack_start "$var/stack" "$(pc_free_port_base)" >/dev/null
	# shellcheck disable=SC1091
	. "$var/stack/stack.env"
	. tests/e2e/lib.sh >/dev/null 2>&1 || true
}
