#!/bin/bash
# Per-kernel time of the decode benchmark's step under Nsight Compute, one
# device call (carry .gpu-deps, see gpu-run-decode.sh):
#   cuda/decode/gpu-prof.sh [CTX ...]      (default 8K 128K)
# Prints, per context and side, each kernel's median duration and DRAM
# bytes over the profiled launches; the raw CSV goes to $OUT/ncu-CTX.csv.
set -u
OUT=${OUT:-/tmp/ess-out}
mkdir -p "$OUT"
. cuda/gpu-deps-env.sh
"${mk[@]}" build/bin/ess-bench-decode build/tests/gpu/decode-kernels build/tests/gpu/decode-sides \
	>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
# ESS_PROF_TESTS=1: the decode GPU tests first (a kernel change is checked
# before it is timed)
if [ -n "${ESS_PROF_TESTS:-}" ]; then
	for t in build/tests/gpu/decode-kernels build/tests/gpu/decode-sides; do
		timeout 120 "$t" | grep -v '^ok' || echo "$t: all ok"
	done
fi
ctxs=("$@")
[ ${#ctxs[@]} -gt 0 ] || ctxs=(8K 128K)
for c in "${ctxs[@]}"; do
	timeout 240 ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes.sum --csv \
		-c "${ESS_PROF_KERNELS:-60}" build/bin/ess-bench-decode -c "$c" -l 1 --steps 3 --warm 1 --reps 1 \
		${ESS_DECODE_ARGS:-} >"$OUT/ncu-$c.csv" 2>"$OUT/ncu-$c.err"
	echo "## $c (ncu exit $?)"
	python3 - "$OUT/ncu-$c.csv" <<'EOF'
import csv, sys, collections, statistics
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
if not rows:
    sys.exit("no kernels profiled")
h = rows[0]
ki, mi, vi, ui = (h.index(x) for x in ('Kernel Name', 'Metric Name', 'Metric Value', 'Metric Unit'))
gi = h.index('Grid Size') if 'Grid Size' in h else None
d = collections.OrderedDict()
for r in rows[1:]:
    key = (r[ki].split('(')[0][:36], r[gi] if gi is not None else '')
    d.setdefault(key, collections.defaultdict(list))[r[mi] + ' ' + r[ui]].append(float(r[vi].replace(',', '')))
print('| kernel | grid | launches | median time | median DRAM |')
print('|---|---|---|---|---|')
for (k, g), m in d.items():
    t = [x for n, v in m.items() if n.startswith('gpu__time') for x in v]
    b = [x for n, v in m.items() if n.startswith('dram') for x in v]
    tu = [n for n in m if n.startswith('gpu__time')][0].split()[1]
    bu = [n for n in m if n.startswith('dram')][0].split()[1]
    print('| %s | %s | %d | %.1f %s | %.1f %s |' % (k, g, len(t), statistics.median(t), tu, statistics.median(b), bu))
EOF
	tail -3 "$OUT/ncu-$c.err"
done
