#!/bin/bash
# One device call: environment, build of the CUDA parts only (no liburing,
# libnuma or libisal needed), GPU tests, compute-sanitizer memcheck and
# racecheck, and the fetch benchmark.  Logs and the table go to $OUT.
#   cuda/gpu-run.sh [tests|bench|all]   (default all)
set -u
what=${1:-all}
OUT=${OUT:-/tmp/ess-out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
{
	date -u
	nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.max,pcie.link.width.max --format=csv
	nvidia-smi topo -m 2>/dev/null | head -8
	nvcc --version | tail -1
	ls /usr/include/liburing.h 2>&1; ldconfig -p | grep -E 'uring|numa|isal' || echo "no uring/numa/isal libs"
	which compute-sanitizer
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
# a clean build here: objects built elsewhere may not match this image
rm -rf build/cuda build/tests/gpu build/bin/ess-bench-fetch build/libess-cuda.a
make -j8 build/libess-cuda.a build/libess-cuda.so build/bin/ess-bench-fetch \
	build/bin/ess-bench-fetch-prof build/bin/ess-bench-fetch-multi build/tests/gpu/fetch-rows build/tests/gpu/manage-rule \
	>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
# libess for the backend test: this image has no liburing/isa-l, so the
# Debian packages carried in .gpu-deps (cuda/gpu-deps.sh) are unpacked here
D=$PWD/.gpu-deps/root
if ls .gpu-deps/*.deb >/dev/null 2>&1; then
	mkdir -p "$D"
	for f in .gpu-deps/*.deb; do dpkg -x "$f" "$D"; done
	rm -f "$D"/usr/lib/x86_64-linux-gnu/liburing.so	# link liburing.a
	export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu
	make -j8 CFLAGS="-O2 -g -Wno-error -I$D/usr/include" \
		ESS_LDFLAGS="-L$D/usr/lib/x86_64-linux-gnu" build/tests/gpu/backend-cuda \
		>>"$OUT/build.log" 2>&1 || echo "backend test not built: see build.log"
fi
rc=0
if [ "$what" != bench ]; then
	TAP_LOGDIR=$OUT/tap tests/tap-run.sh gpu build/tests/gpu/* 2>&1 | tee "$OUT/tests.txt" || rc=1
	for t in build/tests/gpu/*; do
		n=$(basename "$t")
		for tool in memcheck racecheck; do
			ESS_GPU_QUICK=1 timeout 300 compute-sanitizer --tool $tool --error-exitcode 9 \
				"$t" >/tmp/san.log 2>&1
			r=$?
			{ echo "=== $tool $n"; cat /tmp/san.log; } >>"$OUT/san.log"
			echo "sanitizer $tool $n: exit $r, $(grep -c '^ok' /tmp/san.log) ok, $(grep -c '^not ok' /tmp/san.log) not ok; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/san.log | tail -1)" | tee -a "$OUT/tests.txt"
			[ $r = 0 ] || rc=1
		done
	done
fi
if [ "$what" = multi ]; then
	nvidia-smi topo -m
	build/bin/ess-bench-fetch-multi | tee "$OUT/fetch-multi.md" || rc=1
	exit $rc
fi
if [ "$what" != tests ]; then
	build/bin/ess-bench-fetch 4 9 >"$OUT/fetch-table.md" 2>"$OUT/bench.err" || rc=1
	cat "$OUT/fetch-table.md" "$OUT/bench.err"
	build/bin/ess-bench-fetch-prof 4 3 manage 2>&1 | grep -E '^\| (16|64|128) \|.*\|$|phase' | tail -20 >"$OUT/prof.txt"
fi
exit $rc
