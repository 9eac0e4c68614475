#!/usr/bin/env bash
# Runs shellcheck at warning level and above over every shell script of the
# tree (those git tracks, or those of the tarball when there is no git): one
# check per file. Needs the shellcheck package (skips without it).
set -euo pipefail
top=${PC_TOP_SRCDIR:-$(cd -- "$(dirname -- "$0")/../.." && pwd)}
cd -- "$top"

if ! command -v shellcheck >/dev/null; then
	echo "1..0 # SKIP shellcheck is not installed (Debian package shellcheck)"
	exit 0
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files '*.sh' scripts/test scripts/run scripts/hosting-bundle bench/run .ci/run | sort -u)
else
	mapfile -t files < <(find scripts tests bench .ci -type f \( -name '*.sh' -o -path scripts/test \
		-o -path scripts/run -o -path scripts/hosting-bundle -o -path bench/run -o -path .ci/run \) \
		-not -path '*/node_modules/*' -not -path 'tests/web/*' | sort)
fi
echo "1..${#files[@]}"
n=0
for f in "${files[@]}"; do
	n=$((n + 1))
	if out=$(shellcheck -x -S warning -f gcc -- "$f" 2>&1); then
		echo "ok $n - $f"
	else
		echo "not ok $n - $f"
		printf '%s\n' "$out" | head -n 20 | sed 's/^/# /'
	fi
done
