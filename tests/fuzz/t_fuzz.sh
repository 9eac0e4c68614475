#!/usr/bin/env bash
# Fuzz every parser of untrusted bytes with libFuzzer (clang, ASan + UBSan)
# for a bounded time each, starting from the corpora in tests/fuzz/corpus.
# TAP: one check per fuzzer; a crash, leak, sanitizer report or timeout fails it
# and leaves the crashing input in the run's directory.
#
#   PC_FUZZ_SECONDS=20 tests/fuzz/t_fuzz.sh          (default: 15 s each)
#   PC_FUZZ_SECONDS=3600 PC_FUZZ_ONLY=jwt tests/fuzz/t_fuzz.sh   (a long run of one)
#
# New inputs are written to a copy of the corpus; merge interesting ones back
# by hand (./fuzz_NAME -merge=1 tests/fuzz/corpus/NAME NEWDIR).
set -euo pipefail

here=$(cd -- "$(dirname -- "$0")" && pwd)
top=${PC_TOP_SRCDIR:-$(cd -- "$here/../.." && pwd)}
build=${PC_TOP_BUILDDIR:-$top}
seconds=${PC_FUZZ_SECONDS:-15}
fuzzers=(request profile resource jwt jwks config cache_entry multipart)
[[ -n ${PC_FUZZ_ONLY:-} ]] && fuzzers=("$PC_FUZZ_ONLY")

if ! command -v clang >/dev/null ||
	! printf 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
	clang -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
	echo "1..0 # SKIP clang with libFuzzer (clang, libclang-rt-14-dev) is not installed"
	exit 0
fi
echo "1..${#fuzzers[@]}"

work=$(mktemp -d /tmp/pc-fuzz.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
# UNITTESTS: the fuzzers, as the unit tests, may call what src/result.h's
# UNITTEST marks.
# shellcheck disable=SC2054 # commas inside an option, not between elements
flags=(-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
	-include "$build/autoconf.h" -I "$top/src" -I "$build/src" -I "$build"
	-DPC_LIBEXECDIR='"/nonexistent"' -DUNITTESTS)
libs=$(pkg-config --libs libmemcached libcurl jansson inih sqlite3 libcrypto fcgi)
cflags=$(pkg-config --cflags libmemcached libcurl jansson inih sqlite3 libcrypto fcgi)

# The library's sources, instrumented for the fuzzer but without its main.
objs=()
for src in "$top"/src/*.c; do
	case ${src##*/} in main_*.c | image.c) continue ;; esac
	obj=$work/${src##*/}.o
	# shellcheck disable=SC2086
	clang "${flags[@]}" -fsanitize=fuzzer-no-link $cflags -c "$src" -o "$obj"
	objs+=("$obj")
done

n=0
for f in "${fuzzers[@]}"; do
	n=$((n + 1))
	bin=$work/fuzz_$f
	# shellcheck disable=SC2086
	if ! clang "${flags[@]}" -fsanitize=fuzzer $cflags "$here/fuzz_$f.c" "${objs[@]}" \
		$libs -o "$bin" 2>"$work/build_$f.log"; then
		echo "not ok $n - fuzz_$f builds"
		sed 's/^/# /' "$work/build_$f.log" | head -n 30
		continue
	fi
	mkdir -p "$work/corpus_$f"
	cp -r "$here/corpus/$f/." "$work/corpus_$f/" 2>/dev/null || true
	if (cd "$work" && "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "corpus_$f") >"$work/run_$f.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/run_$f.log")
		echo "ok $n - fuzz_$f: ${runs:-?} inputs in ${seconds}s, no finding"
	else
		echo "not ok $n - fuzz_$f found a failure"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$work/run_$f.log" | head -n 20 | sed 's/^/# /'
		mkdir -p "$top/tests/fuzz/findings"
		cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$top/tests/fuzz/findings/" 2>/dev/null || true
	fi
done
