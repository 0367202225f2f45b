#!/bin/bash
# Every test suite 'make check' runs, then the grand total.
set -u
cd "$(dirname "$0")/.."
export TAP_TOTALS
TAP_TOTALS=$(mktemp)
# Contexts made by the tests publish their counters here, not in /dev/shm
# where a real engine's ess-stat would see them.
export ESS_STAT_DIR
ESS_STAT_DIR=$(mktemp -d)
trap 'rm -rf "$TAP_TOTALS" "$ESS_STAT_DIR"' EXIT
rc=0
for target in check-unit check-asan check-install check-python check-kselftest check-gpu; do
	if grep -q "^$target:" tests/build.mk kmod/build.mk cuda/build.mk runtime/build.mk tools/build.mk dist/install.mk tests/kselftest/build.mk 2>/dev/null; then
		echo "== $target"
		make --no-print-directory "$target" || rc=1
	fi
done
awk '{p+=$1; f+=$2; s+=$3} END {printf "TOTAL: %d passed, %d failed, %d skipped\n", p, f, s}' "$TAP_TOTALS"
exit $rc
