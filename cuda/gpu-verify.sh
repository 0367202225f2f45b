#!/bin/bash
# A short device call that checks the whole GPU side after a change: every
# GPU test once (fetch rows, management rule, CUDA backend against the CPU
# backend, decode kernels and sides), then compute-sanitizer memcheck and
# racecheck on the tests named in ESS_SAN_TESTS (default the two decode tests
# and manage-rule, in that order; ESS_SAN_MANAGE_ONLY=NAME limits the
# sanitized manage-rule to the geometries so named), each step bounded by
# ESS_STEP_TIMEOUT seconds (150) so the logs come back even when a step
# runs long.  Carry .gpu-deps
# (cuda/gpu-deps.sh).  Writes env.txt build.log tests.txt san.log to $OUT;
# exit 0 only if everything passed.
set -u
OUT=${OUT:-/tmp/ess-out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
T=${ESS_STEP_TIMEOUT:-150}
{
	date -u
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
	nvcc --version | tail -1
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
. cuda/gpu-deps-env.sh
if [ $gpu_deps_ok = 0 ]; then
	echo "no .gpu-deps: run cuda/gpu-deps.sh on the build machine and carry .gpu-deps" | tee -a "$OUT/env.txt"
	exit 1
fi
rm -rf build/cuda build/tests/gpu build/libess-cuda.* build/runtime build/libess.a build/libess.so* \
	build/decode build/libess-decode.a build/sim build/libess-sim.a
# the backend test links liburing.a (as cuda/gpu-run.sh builds it)
mv "$D"/usr/lib/x86_64-linux-gnu/liburing.so "$D"/liburing.so.aside
"${mk[@]}" build/tests/gpu/backend-cuda >"$OUT/build.log" 2>&1 || echo "backend test not built: see build.log"
mv "$D"/liburing.so.aside "$D"/usr/lib/x86_64-linux-gnu/liburing.so
tests=(build/tests/gpu/fetch-rows build/tests/gpu/manage-rule build/tests/gpu/decode-kernels
	build/tests/gpu/decode-sides)
"${mk[@]}" build/libess-cuda.so "${tests[@]}" >>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
tests+=(build/tests/gpu/backend-cuda)
rc=0
TAP_LOGDIR=/tmp/ess-tap-verify timeout $((2 * T)) tests/tap-run.sh gpu "${tests[@]}" 2>&1 | tee "$OUT/tests.txt"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
grep -h '^not ok' /tmp/ess-tap-verify/* 2>/dev/null | tee -a "$OUT/tests.txt"
: >"$OUT/san.log"
for t in ${ESS_SAN_TESTS:-decode-kernels decode-sides manage-rule}; do
	for tool in memcheck racecheck; do
		ESS_MANAGE_ONLY=${ESS_SAN_MANAGE_ONLY:-} ESS_GPU_QUICK=1 timeout "$T" compute-sanitizer --tool $tool --error-exitcode 9 \
			"build/tests/gpu/$t" >/tmp/san-verify.log 2>&1
		r=$?
		{ echo "=== $tool $t (exit $r)"; grep -v '^ok' /tmp/san-verify.log | head -200; } >>"$OUT/san.log"
		echo "sanitizer $tool $t: exit $r$([ $r = 124 ] && echo ' (timed out)'), $(grep -c '^ok' /tmp/san-verify.log) ok," \
			"$(grep -c '^not ok' /tmp/san-verify.log) not ok;" \
			"$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/san-verify.log | tail -1)" | tee -a "$OUT/tests.txt"
		[ $r = 0 ] || rc=1
	done
done
exit $rc
