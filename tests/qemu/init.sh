#!/bin/sh
# /init of the selftest guest (busybox sh).
#
# Mounts the pseudo filesystems, loads the virtio block stack and ess.ko,
# then either runs every /tests/* program in order (the default) or the
# walkthrough (kernel command line esstest=walkthrough), and powers off.
#
# Each program's output is framed for tests/qemu/run.sh:
#   ### ESS-BEGIN <name>
#   ...its TAP...
#   ### ESS-END <name> <exit status>
# and the run ends with "### ESS-DONE".  Kernel warnings found in dmesg are
# reported as the failing TAP program "kernel-log".
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The Debian kernel does not mount devtmpfs on its own (CONFIG_DEVTMPFS_MOUNT
# applies to the root filesystem only, never to an initramfs).
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
exec </dev/console >/dev/console 2>&1

mode=tests
for arg in $(cat /proc/cmdline); do
	case $arg in
	esstest=*) mode=${arg#esstest=} ;;
	esac
done
# A hung program must not hang the guest: the others still run.
per_test_timeout=180

begin() { echo "### ESS-BEGIN $1"; }
end() { echo "### ESS-END $1 $2"; }

load_virtio() {
	vok=1
	for m in $(cat /lib/modules/order 2>/dev/null); do
		insmod "/lib/modules/$m.ko" || { vok=0; echo "# insmod $m failed"; }
	done
	i=0
	while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ $vok = 1 ] && [ -b /dev/vda ]
}

if [ "$mode" = walkthrough ]; then
	# The walkthrough loads ess.ko itself, in front of the reader.
	load_virtio
	cd /tmp || exit 1
	begin walkthrough
	sh /bin/walkthrough.sh
	end walkthrough $?
	echo "### ESS-DONE"
	poweroff -f
fi

# Guest setup as a TAP program of its own, so a module that fails to load
# shows up as one clear failure.
begin guest-setup
echo "1..3"
if load_virtio; then
	echo "ok 1 - virtio block stack loaded, /dev/vda present"
else
	echo "not ok 1 - virtio block stack loaded, /dev/vda present"
fi
if insmod /lib/modules/ess.ko; then
	echo "ok 2 - insmod ess.ko"
else
	echo "not ok 2 - insmod ess.ko"
fi
i=0
while [ ! -c /dev/ess ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ -c /dev/ess ] && [ -d /sys/kernel/ess ]; then
	echo "ok 3 - /dev/ess and /sys/kernel/ess exist"
else
	echo "not ok 3 - /dev/ess and /sys/kernel/ess exist"
fi
end guest-setup 0

# Free memory as ess-leak counts it: MemFree plus per-cpu free lists, after
# dropping caches and compacting (which drains those lists).
free_kb() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo 1 >/proc/sys/vm/compact_memory
	echo $(($(awk '/^MemFree:/ {print $2}' /proc/meminfo) + \
		$(awk '$1 == "count:" {n += $2} END {print n * 4}' /proc/zoneinfo)))
}

# Where the leak check starts from (ess-leak compares against it).
{
	echo "memfree_kb $(free_kb)"
	echo "nr_regions $(cat /sys/kernel/ess/nr_regions 2>/dev/null || echo -1)"
	echo "pinned_bytes $(cat /sys/kernel/ess/pinned_bytes 2>/dev/null || echo -1)"
} >/run/ess-baseline

export ESS_TEST_DISK=/dev/vda
cd /tmp || exit 1

for t in /tests/*; do
	[ -x "$t" ] || continue
	name=${t##*/}
	name=${name#[0-9][0-9]-}
	begin "$name"
	timeout -s KILL "$per_test_timeout" "$t"
	rc=$?
	# Which program a leak follows, should ess-leak find one.
	echo "# free memory after $name: $(free_kb) kB, regions $(cat /sys/kernel/ess/nr_regions 2>/dev/null), uptime $(cut -d" " -f1 /proc/uptime) s"
	end "$name" $rc
done

# Any kernel warning during the run fails it, whatever the programs said.
begin kernel-log
echo "1..1"
pat='WARNING:|BUG:|kernel BUG|Oops|general protection|KASAN|UBSAN|lockdep|possible circular|refcount_t|Call Trace|hung_task|soft lockup|Kernel panic'
if dmesg | grep -E "$pat" >/tmp/kernel-warnings; then
	echo "not ok 1 - no kernel WARN/BUG/Oops/KASAN/UBSAN/lockdep in dmesg"
	sed 's/^/# /' /tmp/kernel-warnings | head -40
	echo "# full dmesg around the first report:"
	first=$(dmesg | grep -n -E "$pat" | head -1 | cut -d: -f1)
	dmesg | tail -n +$((first > 5 ? first - 5 : 1)) | head -80 | sed 's/^/# /'
else
	echo "ok 1 - no kernel WARN/BUG/Oops/KASAN/UBSAN/lockdep in dmesg"
fi
end kernel-log 0
echo "### ESS-DONE"
sync
poweroff -f
