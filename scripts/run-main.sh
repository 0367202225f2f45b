#!/bin/bash
# The default workload of 'make run':
#  1. ess-run: a synthetic DeepSeek-V3.2-Exp decode driven through libess,
#     on the GPU when there is one (CPU backend otherwise), on a /dev/ess
#     region when the module is loaded here (userspace pool otherwise),
#     every slot checked byte for byte;
#  2. the insmod-then-run walkthrough of the kernel module in a QEMU guest
#     (this machine's kernel may not load modules);
#  3. the decode simulator's throughput table, baseline vs ESS.
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

if [ -x "$BUILD/bin/ess-sim" ]; then
	echo
	echo "=== 3. decode simulator (ess-sim, built-in profile)"
	"$BUILD/bin/ess-sim" --trace synthetic
fi
