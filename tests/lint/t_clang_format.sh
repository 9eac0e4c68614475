#!/usr/bin/env bash
# Checks that every C file of the tree is as clang-format (14, with the
# tree's .clang-format) writes it: one check per file, the first lines of the
# difference when it is not. Needs the clang-format package (skips without
# it). To fix: clang-format -i --style=file FILE.
set -euo pipefail
top=${PC_TOP_SRCDIR:-$(cd -- "$(dirname -- "$0")/../.." && pwd)}
cd -- "$top"

if ! command -v clang-format >/dev/null; then
	echo "1..0 # SKIP clang-format is not installed (Debian package clang-format)"
	exit 0
fi
# src/journal_schema.h is generated from schema/journal.sql.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'tests/fuzz/*.c' 'bench/*.c' |
		grep -v '^src/journal_schema\.h$' | sort)
else
	mapfile -t files < <(find src tests/unit tests/fuzz bench -maxdepth 1 -type f -name '*.[ch]' \
		-not -name journal_schema.h | sort)
fi
echo "1..${#files[@]}"
n=0
for f in "${files[@]}"; do
	n=$((n + 1))
	if diff=$(clang-format --style=file -- "$f" | diff -u -- "$f" - 2>&1); then
		echo "ok $n - $f"
	else
		echo "not ok $n - $f is not as clang-format writes it"
		printf '%s\n' "$diff" | head -n 20 | sed 's/^/# /'
	fi
done
