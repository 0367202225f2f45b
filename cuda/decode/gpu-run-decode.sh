#!/bin/bash
# The decode benchmark's whole GPU run, in one device call (carry .gpu-deps,
# made here by cuda/gpu-deps.sh: the GPU image lacks isa-l, which the trace
# reader links):
#   cuda/decode/gpu-run-decode.sh [tests|bench|all]   (default all)
# Writes to $OUT: env.txt build.log tests.txt san.log decode-small.md
# decode-table.md decode.csv.  Exit 0 only if every step passed.
# Extra benchmark options: ESS_DECODE_ARGS (e.g. "-c 32K,64K -l 2").
set -u
what=${1:-all}
OUT=${OUT:-/tmp/ess-out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
{
	date -u
	nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.max,pcie.link.width.max --format=csv
	nvcc --version | tail -1
	free -g | head -2
	which compute-sanitizer
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
. cuda/gpu-deps-env.sh
if [ $gpu_deps_ok = 0 ] && [ ! -e /usr/include/isa-l/crc.h ]; then
	echo "no isa-l here: run cuda/gpu-deps.sh on the build machine and carry .gpu-deps" | tee -a "$OUT/env.txt"
	exit 1
fi
# a clean build: objects built elsewhere may not match this image
rm -rf build/cuda build/decode build/tests/gpu build/libess-cuda.a build/libess-decode.a \
	build/libess-sim.a build/sim build/bin/ess-bench-decode
"${mk[@]}" build/bin/ess-bench-decode build/tests/gpu/decode-kernels build/tests/gpu/decode-sides \
	>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
T="build/tests/gpu/decode-kernels build/tests/gpu/decode-sides"
rc=0
if [ "$what" != bench ]; then
	TAP_LOGDIR=/tmp/ess-tap-decode tests/tap-run.sh gpu $T 2>&1 | tee "$OUT/tests.txt" || rc=1
	cat /tmp/ess-tap-decode/* >>"$OUT/tests.txt" 2>/dev/null
	: >"$OUT/san.log"
	for t in $T; do
		for tool in memcheck racecheck; do
			timeout ${ESS_SAN_TIMEOUT:-240} compute-sanitizer --tool $tool --error-exitcode 9 "$t" \
				>/tmp/san-decode.log 2>&1
			r=$?
			{ echo "=== $tool $t"; cat /tmp/san-decode.log; } >>"$OUT/san.log"
			echo "sanitizer $tool $(basename "$t"): exit $r, $(grep -c '^ok' /tmp/san-decode.log) ok," \
				"$(grep -c '^not ok' /tmp/san-decode.log) not ok;" \
				"$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/san-decode.log | tail -1)" |
				tee -a "$OUT/tests.txt"
			[ $r = 0 ] || rc=1
		done
	done
	# the benchmark itself under memcheck, smallest run
	timeout ${ESS_SAN_TIMEOUT:-240} compute-sanitizer --tool memcheck --error-exitcode 9 \
		build/bin/ess-bench-decode --small --steps 6 --warm 2 >/tmp/san-decode.log 2>&1
	r=$?
	{ echo "=== memcheck ess-bench-decode --small"; cat /tmp/san-decode.log; } >>"$OUT/san.log"
	echo "sanitizer memcheck ess-bench-decode --small: exit $r" | tee -a "$OUT/tests.txt"
	[ $r = 0 ] || rc=1
fi
if [ "$what" != tests ]; then
	# the simulator's profile of this card: its HBM sets the budget
	prof=()
	if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H100; then
		prof=(-p sim/profiles/h100.profile)
	fi
	timeout 60 build/bin/ess-bench-decode "${prof[@]}" --small >"$OUT/decode-small.md" 2>&1 || rc=1
	cat "$OUT/decode-small.md"
	# shellcheck disable=SC2086
	timeout ${ESS_DECODE_TIMEOUT:-420} build/bin/ess-bench-decode "${prof[@]}" --csv "$OUT/decode.csv" \
		${ESS_DECODE_ARGS:-} >"$OUT/decode-table.md" 2>&1 || rc=1
	cat "$OUT/decode-table.md"
fi
exit $rc
