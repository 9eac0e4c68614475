#!/usr/bin/env bash
# The demo page (clients/demo, served by the stack under /demo/) in real
# headless Chromium: Debian's chromium driven by puppeteer-core
# (tests/browser, installed by scripts/test with npm ci; no browser is ever
# downloaded). tests/browser/demo.test.js edits the profile and watches the
# badge go from "Saved (syncing)" to "Saved" as the flusher runs, uploads an
# avatar through the file input, and takes a screenshot
# ($PC_DEMO_SCREENSHOT, default in the test's directory; docs/demo.png is one).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PC_CHROMIUM=${PC_CHROMIUM:-/usr/bin/chromium}
[[ -x $PC_CHROMIUM ]] || e2e_skip_all "needs Chromium ($PC_CHROMIUM; scripts/test installs Debian's chromium)"
command -v node >/dev/null || e2e_skip_all "needs node (18 or later)"
[[ -f $PC_ROOT/tests/browser/node_modules/puppeteer-core/package.json ]] ||
	e2e_skip_all "needs puppeteer-core: scripts/test installs it (or: cd tests/browser && PUPPETEER_SKIP_DOWNLOAD=1 npm ci)"
export PC_WEB_SERVER=lighttpd
PC_CONF_SET="limits.writes_per_minute=0 origin.retry_after=1"
e2e_start
[[ -n ${DEMO_URL:-} ]] || e2e_bail "the stack serves no demo page (PC_DEMO=0?)"

e2e_export_commands
PC_TMP=$E2E_DIR
PC_DEMO_SCREENSHOT=${PC_DEMO_SCREENSHOT:-$E2E_DIR/demo.png}
[[ $PC_DEMO_SCREENSHOT == /* ]] || PC_DEMO_SCREENSHOT=$PWD/$PC_DEMO_SCREENSHOT
export PC_CHROMIUM PC_TMP PC_DEMO_SCREENSHOT
# Chromium wants a writable home for its profile and crash reports.
export HOME=$E2E_DIR XDG_CONFIG_HOME=$E2E_DIR/.config XDG_CACHE_HOME=$E2E_DIR/.cache

start=$SECONDS
node_tap "$PC_ROOT/tests/browser/demo.test.js"
diag "the browser test took $((SECONDS - start)) s; screenshot: $PC_DEMO_SCREENSHOT"
