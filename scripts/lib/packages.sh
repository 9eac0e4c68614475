# shellcheck shell=bash
# Debian packages: what the build, the stacks and the tests need, and
# installing what is missing.
# Part of scripts/lib.sh, which sources every part: source that, not this.

PC_DEB_PACKAGES=(
	build-essential autoconf automake libtool pkg-config
	libfcgi-dev libmemcached-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev
	libjansson-dev libinih-dev libcmocka-dev libssl-dev
	memcached postgresql-15 postgresql-15-pgtap lighttpd libmicrohttpd-dev libpq-dev
	apache2 libapache2-mod-fcgid nginx spawn-fcgi
	curl jq ca-certificates procps faketime python3
	libvips-dev libvips-tools libimage-exiftool-perl
	patchelf
	clang libclang-rt-14-dev
)

# What only the test suite needs (scripts/test): Debian's Chromium for the
# browser tests (tests/e2e/t_browser*.sh drive it with puppeteer-core; no
# browser is ever downloaded) and node for them and the JavaScript client's
# tests, and shellcheck and clang-format for tests/lint. npm is added by
# pc_install_test_deps when no npm command is there.
PC_DEB_TEST_PACKAGES=(chromium nodejs shellcheck clang-format)

# --- Debian packages ----------------------------------------------------------

# pc_missing_packages PKG...: print the packages dpkg does not list as installed.
pc_missing_packages() {
	local pkg
	for pkg in "$@"; do
		if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null) != ii* ]]; then
			printf '%s\n' "$pkg"
		fi
	done
}

# pc_install_deps [PKG...]: install the base packages and PKG... that are
# missing, with one apt-get update first, and nothing when all are there.
# Exits when something is missing and we cannot install it.
pc_install_deps() {
	local -a missing
	command -v dpkg-query >/dev/null ||
		pc_die "dpkg-query not found: these scripts install their dependencies on Debian 12 only"
	mapfile -t missing < <(pc_missing_packages "${PC_DEB_PACKAGES[@]}" "$@")
	((${#missing[@]} == 0)) && return 0
	if ((EUID != 0)); then
		pc_die "missing Debian packages: ${missing[*]}; run as root, or first: sudo apt-get install ${missing[*]}"
	fi
	pc_log "installing missing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || pc_die "apt-get update failed"
	# The packages would start Debian's own apache2, nginx, memcached and
	# PostgreSQL services (and nginx's start, hence its install, fails while
	# Apache holds port 80). Stacks run their own instances: while installing,
	# a policy-rc.d (when there is none) tells the packages to start nothing.
	local policy=/usr/sbin/policy-rc.d made=0 rc=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# Temporary (profilecache scripts/lib.sh): start no service while installing.\nexit 101\n' \
			>"$policy" && chmod 0755 "$policy" && made=1
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
	((made)) && rm -f -- "$policy"
	((rc == 0)) || pc_die "apt-get install failed for: ${missing[*]}"
}

# pc_install_test_deps: pc_install_deps with PC_DEB_TEST_PACKAGES, and npm
# when there is no npm command (a node packaged elsewhere, e.g. NodeSource's,
# brings its own and conflicts with Debian's npm package).
pc_install_test_deps() {
	local -a extra=("${PC_DEB_TEST_PACKAGES[@]}")
	command -v npm >/dev/null || extra+=(npm)
	pc_install_deps "${extra[@]}"
}

# pc_browser_test_setup: install tests/browser's npm packages (puppeteer-core)
# as its package-lock.json pins them (npm ci), unless node_modules already
# matches it. PUPPETEER_SKIP_DOWNLOAD: nothing downloads a browser (the tests
# launch /usr/bin/chromium). A failure is a warning: the browser tests then
# say they skip, and why.
pc_browser_test_setup() {
	local dir=$PC_ROOT/tests/browser
	[[ -f $dir/package-lock.json ]] || return 0
	[[ -f $dir/node_modules/.package-lock.json && ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]] &&
		return 0
	command -v npm >/dev/null || {
		pc_log "warning: no npm: the browser tests will be skipped"
		return 0
	}
	pc_log "npm ci in tests/browser (puppeteer-core; no browser download)"
	(cd -- "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
		pc_log "warning: npm ci failed in $dir: the browser tests will be skipped"
}
