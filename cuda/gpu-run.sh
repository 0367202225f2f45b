#!/bin/bash
# One device call: environment, build of the CUDA parts (no liburing,
# libnuma or libisal needed), GPU tests, the fetch benchmark, the Python
# example through a shared libess, then compute-sanitizer memcheck and
# racecheck (slowest, last).  Logs and tables go to $OUT.
#   cuda/gpu-run.sh [tests|bench|all|multi|manage]   (default all)
# manage: the management kernel's test, table and phase clocks only
# (ESS_SAN=1: and compute-sanitizer on its test when it passed;
# ESS_SAN_RACE_ONLY=text: racecheck only the geometries named with text).
# ESS_BASELINE=dir: a dir/manage.cu (an earlier management kernel, e.g.
# `git show REV:cuda/manage.cu`) is built into the benchmark too and its
# management table written to baseline.md, for a before/after on one card.
# At most 8 files come back from $OUT: env.txt build.log tests.txt
# fetch-table.md prof.txt python.txt san.log baseline.md.
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
make -j16 build/libess-cuda.a build/libess-cuda.so build/bin/ess-bench-fetch \
	build/bin/ess-bench-fetch-prof build/bin/ess-bench-fetch-multi build/tests/gpu/fetch-rows build/tests/gpu/manage-rule \
	>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
# libess for the backend test and the Python example: this image has no
# liburing/isa-l, so the Debian packages carried in .gpu-deps
# (cuda/gpu-deps.sh) are unpacked here
D=$PWD/.gpu-deps/root
libess=no
if ls .gpu-deps/*.deb >/dev/null 2>&1; then
	rm -rf build/runtime build/libess.a build/libess.so*
	mkdir -p "$D"
	for f in .gpu-deps/*.deb; do dpkg -x "$f" "$D"; done
	export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu
	mk="make -j16 CFLAGS=-O2\ -g\ -Wno-error\ -I$D/usr/include ESS_LDFLAGS=-L$D/usr/lib/x86_64-linux-gnu"
	# the test links liburing.a, the shared libess liburing.so.2
	mv "$D"/usr/lib/x86_64-linux-gnu/liburing.so "$D"/liburing.so.aside
	eval "$mk build/tests/gpu/backend-cuda" >>"$OUT/build.log" 2>&1 || echo "backend test not built: see build.log"
	mv "$D"/liburing.so.aside "$D"/usr/lib/x86_64-linux-gnu/liburing.so
	eval "$mk shlib" >>"$OUT/build.log" 2>&1 && libess=yes || echo "shared libess not built: see build.log"
fi
rc=0
# ESS_BASELINE=dir: dir/manage.cu (and its own launcher when dir has
# dir/manage_launch.cu) built into the benchmark, its management table to
# baseline.md; arguments are environment settings for that run.
baseline_table() {
	[ -n "${ESS_BASELINE:-}" ] && [ -f "$ESS_BASELINE/manage.cu" ] || return 0
	local bl_launch=cuda/manage_launch.cu
	[ -f "$ESS_BASELINE/manage_launch.cu" ] && bl_launch=$ESS_BASELINE/manage_launch.cu
	# a baseline from after the cluster kernel brings its own copy of it
	local bl_cluster=
	[ -f "$ESS_BASELINE/manage_cluster.cu" ] && bl_cluster=$ESS_BASELINE/manage_cluster.cu
	nvcc -O3 -std=c++17 -Iinclude -Icuda -gencode arch=compute_90,code=sm_90 \
		-o build/bin/ess-bench-fetch-baseline cuda/bench.cu cuda/fetch.cu \
		cuda/fetch_launch.cu "$ESS_BASELINE/manage.cu" "$bl_launch" $bl_cluster \
		>>"$OUT/build.log" 2>&1 &&
	env "$@" build/bin/ess-bench-fetch-baseline 1 9 manage >"$OUT/baseline.md" 2>&1
}
if [ "$what" = manage ]; then
	# the management kernel alone: its test, its table (and ESS_BASELINE's
	# at batch 64, 10%), phase clocks, then compute-sanitizer on its test
	build/tests/gpu/manage-rule >"$OUT/tests.txt" 2>&1 || rc=1
	grep -E '^not ok|^1\.\.' "$OUT/tests.txt"; echo "manage-rule: $(grep -c '^ok' "$OUT/tests.txt") ok"
	build/bin/ess-bench-fetch 1 9 manage >"$OUT/fetch-table.md" 2>&1 || rc=1
	cat "$OUT/fetch-table.md"
	ESS_BENCH_ONE=1 build/bin/ess-bench-fetch-prof 1 3 manage 2>&1 | grep -E '^\| 64 \|.*\|$|phase|inside' >"$OUT/prof.txt"
	cat "$OUT/prof.txt"
	baseline_table ESS_BENCH_ONE=1
	[ -f "$OUT/baseline.md" ] && cat "$OUT/baseline.md"
	if [ -n "${ESS_SAN:-}" ] && [ $rc = 0 ]; then
		for tool in memcheck racecheck; do
			only=
			[ $tool = racecheck ] && only=${ESS_SAN_RACE_ONLY:-}
			ESS_MANAGE_ONLY=$only ESS_GPU_QUICK=1 timeout ${ESS_SAN_TIMEOUT:-300} compute-sanitizer --tool $tool --error-exitcode 9 \
				build/tests/gpu/manage-rule >/tmp/san.log 2>&1
			r=$?
			{ echo "=== $tool manage-rule"; cat /tmp/san.log; } >>"$OUT/san.log"
			echo "sanitizer $tool manage-rule: exit $r, $(grep -c '^ok' /tmp/san.log) ok, $(grep -c '^not ok' /tmp/san.log) not ok; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/san.log | tail -1)" | tee -a "$OUT/tests.txt"
			[ $r = 0 ] || rc=1
		done
	fi
	exit $rc
fi
if [ "$what" != bench ]; then
	TAP_LOGDIR=/tmp/ess-tap tests/tap-run.sh gpu build/tests/gpu/* 2>&1 | tee "$OUT/tests.txt" || rc=1
	cat /tmp/ess-tap/* >>"$OUT/tests.txt" 2>/dev/null
fi
if [ "$what" = multi ]; then
	nvidia-smi topo -m
	build/bin/ess-bench-fetch-multi | tee "$OUT/fetch-multi.md" || rc=1
	exit $rc
fi
if [ "$what" != tests ]; then
	build/bin/ess-bench-fetch 4 9 >"$OUT/fetch-table.md" 2>&1 || rc=1
	# experiment: gather through the bulk copy unit (a stuck or faulting
	# run costs only itself)
	timeout 90 build/bin/ess-bench-fetch 4 9 bulk 2>&1 | sed -n '/^## Experiment/,$p' >>"$OUT/fetch-table.md"
	# experiment: gather rate against host-address locality
	timeout 90 build/bin/ess-bench-fetch 4 9 locality 2>&1 | sed -n '/^## Experiment/,$p' >>"$OUT/fetch-table.md"
	cat "$OUT/fetch-table.md"
	ESS_BENCH_ONE=1 build/bin/ess-bench-fetch-prof 1 3 manage 2>&1 | grep -E '^\| (16|64|128) \|.*\|$|phase|inside' | tail -20 >"$OUT/prof.txt"
	baseline_table
fi
if [ "$what" = all ]; then
	# the PyTorch example through the Python binding, on the GPU
	if [ $libess = yes ]; then
		ESS_LIB=$PWD/build/libess.so ESS_CUDA_LIB=$PWD/build/libess-cuda.so PYTHONUNBUFFERED=1 \
			timeout 300 python3 python/examples/resolve_torch.py --tap --steps 4 2>&1 | tee "$OUT/python.txt"
		[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	fi
fi
if [ "$what" != bench ]; then
	for t in build/tests/gpu/*; do
		n=$(basename "$t")
		for tool in memcheck racecheck; do
			ESS_GPU_QUICK=1 timeout ${ESS_SAN_TIMEOUT:-300} compute-sanitizer --tool $tool --error-exitcode 9 \
				"$t" >/tmp/san.log 2>&1
			r=$?
			{ echo "=== $tool $n"; cat /tmp/san.log; } >>"$OUT/san.log"
			echo "sanitizer $tool $n: exit $r, $(grep -c '^ok' /tmp/san.log) ok, $(grep -c '^not ok' /tmp/san.log) not ok; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/san.log | tail -1)" | tee -a "$OUT/tests.txt"
			[ $r = 0 ] || rc=1
		done
	done
fi
exit $rc
