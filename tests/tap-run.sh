#!/bin/bash
# Run TAP test programs and print totals.
#
#   tests/tap-run.sh SUITE CMD...      each CMD is one test program (a path,
#                                      or a quoted shell command line)
#
# A program passes a test for each "ok" line, fails one for each "not ok"
# line, skips one for each "ok ... # SKIP" line or "1..0 # SKIP" plan.  A
# program that exits non-zero, or prints fewer results than its plan, adds
# one failure.  Totals of every suite run so far are kept in $TAP_TOTALS
# (a file) so tests/run-all.sh can print the grand total.
set -u
suite=$1
shift
pass=0 fail=0 skip=0
logdir=${TAP_LOGDIR:-build/test-logs}
mkdir -p "$logdir"
for cmd in "$@"; do
	name=$(basename "${cmd%% *}")
	log="$logdir/$suite-$name.log"
	bash -c "$cmd" >"$log" 2>&1
	rc=$?
	read -r p f s planned got < <(awk '
		/^[ \t]*#/ { next }
		/^1\.\.0/ && /# *[Ss][Kk][Ii][Pp]/ { s++; plan0=1; next }
		/^1\.\.[0-9]+/ { sub(/^1\.\./, ""); planned += $1 + 0; nplans++; next }
		/^not ok/ { if ($0 ~ /# *TODO/) { s++ } else { f++ }; got++; next }
		/^ok/ { if ($0 ~ /# *[Ss][Kk][Ii][Pp]/) s++; else p++; got++; next }
		END { if (plan0) planned = got; printf "%d %d %d %d %d\n", p, f, s, (nplans ? planned : -1), got }
	' "$log")
	status=ok
	if [ "$rc" != 0 ]; then
		f=$((f + 1)); status="exit $rc"
	elif [ "$planned" -ge 0 ] && [ "$planned" != "$got" ]; then
		f=$((f + 1)); status="planned $planned, ran $got"
	elif [ "$planned" -lt 0 ] && [ "$got" = 0 ] && [ "$s" = 0 ]; then
		f=$((f + 1)); status="no TAP output"
	fi
	if [ "$f" != 0 ]; then
		echo "FAIL  $suite/$name ($status): $p passed, $f failed, $s skipped; log $log"
		grep -E '^not ok|^#' "$log" | head -40 | sed 's/^/      /'
	else
		printf '%-5s %s/%s: %d passed, %d skipped\n' ok "$suite" "$name" "$p" "$s"
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
echo "$suite: $pass passed, $fail failed, $skip skipped"
if [ -n "${TAP_TOTALS:-}" ]; then
	echo "$pass $fail $skip" >>"$TAP_TOTALS"
fi
[ "$fail" = 0 ]
