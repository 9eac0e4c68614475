#!/usr/bin/env bash
# The checker of tests/cluster/run.sh, for one scenario whose writers have
# stopped and whose journals were flushed to the end:
#
#   tests/cluster/check.sh DIR SCENARIO
#
# DIR holds writes.tsv and reads.tsv (see check.sql) and journals.tsv (per
# node: node, entries still pending, entries of this scenario that are dead,
# that ended as 'conflict', all entries of this scenario) and dead.tsv (a few
# dead entries: node, seq, id, patch, attempts, last error). Needs
# DATABASE_URL (the stack's, superuser) and psql (PC_PG_BIN); CLUSTER_TABLE
# names the table written (default profiles).
#
# For every (profile, field) with an acknowledged (2xx) write the expected
# value is that of the acknowledged write with the highest version (the
# answer's profile.updated_at). It prints TAP comments and the line
#   report: scenario=NAME acknowledged=N lost=N reordered=N converged=yes|no
#   lost       (profile, field) pairs whose database value differs from expected
#   reordered  writes sent after another write of that (profile, field) had
#              been acknowledged, yet given an older version (a newer write
#              could lose)
#   converged  every node reads the database's value of every pair, and no
#              journal has pending or dead entries
# and exits 0 when lost=0, reordered=0 and converged=yes, else 1. It only
# reads, so it can be run again by hand on a kept stack (PC_KEEP=1).
set -euo pipefail

dir=$1 scenario=$2
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
psql=${PC_PG_BIN:-/usr/lib/postgresql/15/bin}/psql
max=${PC_CLUSTER_DIAG:-10} # detail lines shown per kind

diag() { sed 's/^/# /'; }

rows=$(cd -- "$dir" && "$psql" -X -q -At -F $'\t' -v ON_ERROR_STOP=1 -v table="${CLUSTER_TABLE:-profiles}" \
	-d "$DATABASE_URL" -f "$here/check.sql") || {
	echo "$scenario: the checker's SQL failed" | diag
	exit 1
}
IFS=$'\t' read -r _ requests acked lost reordered mismatched tied unanswered <<<"$(grep '^summary' <<<"$rows")"

# The details, at most $max lines of each kind.
for kind in lost reordered mismatch tied unanswered; do
	n=$(grep -c "^$kind"$'\t' <<<"$rows") || true
	((n)) || continue
	printf '%s: %s %s:\n' "$scenario" "$n" "$kind"
	grep "^$kind"$'\t' <<<"$rows" | cut -f2- | head -n "$max" | sed 's/^/  /'
	((n <= max)) || printf '  ... and %s more\n' "$((n - max))"
done | diag

converged=yes
((mismatched == 0)) || converged=no
while IFS=$'\t' read -r node pending dead conflict entries; do
	printf '%s: node%s journal: %s entries, %s conflict, %s dead, %s pending\n' \
		"$scenario" "$node" "$entries" "$conflict" "$dead" "$pending" | diag
	if ((pending)); then
		converged=no
		echo "$scenario: node$node's journal never drained: $pending entries still pending after the final flushes" | diag
	fi
	((dead == 0)) || converged=no
done <"$dir/journals.tsv"
if [[ -s $dir/dead.tsv ]]; then
	echo "$scenario: dead entries (node seq id patch attempts last_error):" | diag
	sed 's/^/  /' "$dir/dead.tsv" | diag
fi
printf '%s: %s requests, %s acknowledged; %s pairs tied, %s held by an unanswered write\n' \
	"$scenario" "$requests" "$acked" "$tied" "$unanswered" | diag
echo "report: scenario=$scenario acknowledged=$acked lost=$lost reordered=$reordered converged=$converged" | diag
[[ $lost == 0 && $reordered == 0 && $converged == yes ]]
