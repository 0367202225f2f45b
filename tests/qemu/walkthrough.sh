#!/bin/sh
# The insmod-then-run walkthrough, run inside the QEMU guest (busybox sh)
# by /init when the kernel command line says esstest=walkthrough.
# 'make walkthrough' boots it; Documentation/admin-guide describes the same
# steps for a real machine.
step() { echo; echo "==> $*"; }
run() { echo "\$ $*"; "$@"; }
show_dir() {
	for f in "$1"/*; do
		[ -f "$f" ] || continue
		printf '  %-26s %s\n' "${f##*/}" "$(cat "$f" 2>&1)"
	done
}
set -u
rc=0

step "Load the module"
run insmod /lib/modules/ess.ko || { echo "insmod failed"; exit 1; }
run ls -l /dev/ess
run lsmod

step "Global state and knobs: /sys/kernel/ess/"
show_dir /sys/kernel/ess

step "Tune a knob: faster heat aging (heat_decay_pct 25 -> 50), and a bad value"
echo '$ echo 50 > /sys/kernel/ess/heat_decay_pct'
echo 50 >/sys/kernel/ess/heat_decay_pct || rc=1
echo "  heat_decay_pct is now $(cat /sys/kernel/ess/heat_decay_pct)"
echo '$ echo 101 > /sys/kernel/ess/heat_decay_pct'
echo 101 >/sys/kernel/ess/heat_decay_pct && rc=1
echo "  (rejected) heat_decay_pct is still $(cat /sys/kernel/ess/heat_decay_pct)"
echo 25 >/sys/kernel/ess/heat_decay_pct

step "Create a named 8 MiB region, map it, write to it; the process then exits"
run ess-region-demo create kv-cache 8 || rc=1

step "The region outlives its creator: /sys/kernel/ess/regions/"
run ls /sys/kernel/ess/regions
for d in /sys/kernel/ess/regions/*; do
	[ -d "$d" ] || continue
	echo "  $d:"
	show_dir "$d"
done
echo "  pinned_bytes $(cat /sys/kernel/ess/pinned_bytes), nr_regions $(cat /sys/kernel/ess/nr_regions)"

step "A new process attaches by name and finds the contents (warm restart)"
run ess-region-demo attach kv-cache || rc=1

step "Attach is exclusive: while one process holds the region, another gets EBUSY"
run ess-region-demo exclusive kv-cache || rc=1

step "An anonymous region lives only as long as its process"
run ess-region-demo anon 4 || rc=1
echo "  nr_regions after it exited: $(cat /sys/kernel/ess/nr_regions)"

step "Destroy the named region"
run ess-region-demo destroy kv-cache || rc=1
echo "  nr_regions $(cat /sys/kernel/ess/nr_regions), pinned_bytes $(cat /sys/kernel/ess/pinned_bytes)"
run ls /sys/kernel/ess/regions

step "Unload the module"
run rmmod ess || rc=1
[ -e /dev/ess ] && { echo "  /dev/ess still there"; rc=1; }
echo
if [ $rc = 0 ]; then echo "walkthrough: done"; else echo "walkthrough: FAILED"; fi
exit $rc
