#!/bin/bash
# The default workload of 'make run':
#  1. ess-run: a synthetic DeepSeek-V3.2-Exp decode driven through libess,
#     on the GPU when there is one (CPU backend otherwise), on a /dev/ess
#     region when the module is loaded here (userspace pool otherwise),
#     every slot checked byte for byte;
#  2. the insmod-then-run walkthrough of the kernel module in a QEMU guest
#     (this machine's kernel may not load modules);
#  3. the decode loop, baseline vs ESS: on a GPU the emulated decode step
#     with real kernels (ess-bench-decode --small); without one, the decode
#     simulator's throughput table (ess-sim), the CPU backend having run in 1.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

echo "=== 1. default workload (ess-run)"
"$BUILD/bin/ess-run"

echo
echo "=== 2. kernel module: insmod-then-run in a QEMU guest"
if [ -e /dev/ess ]; then
	echo "(/dev/ess is present on this machine: step 1 used it when it could)"
fi
if command -v qemu-system-x86_64 >/dev/null && ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1; then
	make --no-print-directory walkthrough
else
	echo "skipped: qemu-system-x86_64 or a Debian kernel image is missing (make deps)"
fi

if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU' &&
	[ -x "$BUILD/bin/ess-bench-decode" ]; then
	echo
	echo "=== 3. decode loop on the GPU (ess-bench-decode --small; the full sweep: ess-bench-decode)"
	"$BUILD/bin/ess-bench-decode" --small
elif [ -x "$BUILD/bin/ess-sim" ]; then
	echo
	echo "=== 3. decode simulator (ess-sim, built-in profile; no GPU here for ess-bench-decode)"
	"$BUILD/bin/ess-sim" --trace synthetic
fi
