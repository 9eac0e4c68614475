# shellcheck shell=bash
# The build: autoreconf, configure and make in PC_ROOT.
# Part of scripts/lib.sh, which sources every part: source that, not this.

# --- build ------------------------------------------------------------------

# pc_build [CONFIGURE-ARG...]: build the tree in PC_ROOT. Runs autoreconf when
# there is no configure script, and configure (then make clean, since flags
# changed) when there is no Makefile or the arguments differ from those the
# tree is configured with (config.status --config). Exits on failure.
pc_build() {
	local want have=
	want=$(printf '%q ' "$@")
	(
		cd -- "$PC_ROOT" || exit 1
		# autoreconf and configure talk a lot ("installing build-aux/...",
		# "checking for ..."): their output goes to a log, shown on failure.
		if [[ ! -x configure ]]; then
			pc_log "autoreconf -fi"
			mkdir -p build-aux
			autoreconf -fi >build-aux/pc-autoreconf.log 2>&1 || {
				cat build-aux/pc-autoreconf.log >&2
				pc_die "autoreconf failed"
			}
		fi
		# What the tree is really configured with, whoever ran configure.
		[[ -x config.status ]] && have=$(eval "printf '%q ' $(./config.status --config)")
		if [[ ! -f Makefile || $have != "$want" ]]; then
			pc_log "./configure $*"
			./configure "$@" >build-aux/pc-configure.log 2>&1 || {
				tail -n 40 build-aux/pc-configure.log >&2
				pc_die "./configure failed (full output: $PC_ROOT/build-aux/pc-configure.log)"
			}
			make clean >/dev/null
		fi
		pc_log "make -j${PC_MAKE_JOBS:-2}"
		make -j"${PC_MAKE_JOBS:-2}" || pc_die "make failed"
	) || exit 1
}
