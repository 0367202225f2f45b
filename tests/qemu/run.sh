#!/bin/bash
# Boot the selftest initramfs in QEMU (TCG) and print one TAP stream.
#
#   tests/qemu/run.sh [--walkthrough] [--no-numa] [-i INITRAMFS] [-k VMLINUZ]
#                     [-t SECONDS]
#
# Default: a 2-node NUMA guest (2 CPUs; 1.5 GiB on node 0, 512 MiB on node 1)
# with a scratch raw virtio disk (/dev/vda in the guest) for the O_DIRECT
# tests.  The guest's
# /init (tests/qemu/init.sh) frames each program's TAP between ESS-BEGIN and
# ESS-END markers; this script renumbers every result into a single plan,
# adds a failure for a program that exited non-zero, ran fewer tests than it
# planned or never finished, and one for a guest that never reached its end
# marker (timeout, panic).  The full console log is kept in
# $BUILD/qemu/console-<mode>.log.
#
# --walkthrough boots with esstest=walkthrough and prints the walkthrough's
# transcript instead (exit status: the walkthrough's).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD:-build}
mode=tests numa=1 timeout_s=${ESS_QEMU_TIMEOUT:-420}
initramfs=$BUILD/guest/initramfs.cpio.gz
kernel=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -1)
while [ $# -gt 0 ]; do
	case $1 in
	--walkthrough) mode=walkthrough ;;
	--no-numa) numa=0 ;;
	-i) initramfs=$2; shift ;;
	-k) kernel=$2; shift ;;
	-t) timeout_s=$2; shift ;;
	*) echo "usage: $0 [--walkthrough] [--no-numa] [-i INITRAMFS] [-k VMLINUZ] [-t SECONDS]" >&2
	   exit 2 ;;
	esac
	shift
done

fail_setup() {
	echo "1..1"
	echo "not ok 1 - boot the selftest guest: $1"
	exit 1
}
[ -n "$kernel" ] && [ -r "$kernel" ] || fail_setup "no readable /boot/vmlinuz-*-amd64 (apt-get install linux-image-amd64)"
[ -r "$initramfs" ] || fail_setup "no $initramfs (make check-kselftest builds it)"
command -v qemu-system-x86_64 >/dev/null || fail_setup "no qemu-system-x86_64 (apt-get install qemu-system-x86)"

mkdir -p "$BUILD/qemu"
log=$BUILD/qemu/console-$mode.log
# Private names while running: two runs at once must not share a disk or
# interleave their logs (the last to finish leaves its log in $log).
disk=$(mktemp "$BUILD/qemu/disk-XXXXXX.img")
runlog=$(mktemp "$BUILD/qemu/console-XXXXXX.tmp")
trap 'rm -f "$disk" "$runlog"' EXIT
# Scratch disk with non-trivial contents: the O_DIRECT test compares what
# lands in the region with what a buffered read sees.
head -c $((32 << 20)) /dev/urandom >"$disk"

smp=(-smp 2)
if [ "$numa" = 1 ]; then
	# Node 1 is the smaller one: the test that fills a node to watch an
	# allocation fail midway fills node 1, and TCG zeroes slowly.
	# shellcheck disable=SC2054 # commas belong to the options
	smp=(-smp 2,sockets=2
	     -object memory-backend-ram,id=mem0,size=1536M
	     -object memory-backend-ram,id=mem1,size=512M
	     -numa node,nodeid=0,cpus=0,memdev=mem0
	     -numa node,nodeid=1,cpus=1,memdev=mem1)
fi

timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 2G "${smp[@]}" \
	-nographic -no-reboot \
	-kernel "$kernel" -initrd "$initramfs" \
	-append "console=ttyS0 loglevel=1 panic=-1 esstest=$mode" \
	-drive "file=$disk,format=raw,if=virtio" \
	</dev/null >"$runlog" 2>&1
qrc=$?
mv -f "$runlog" "$log"
rm -f "$disk"

if [ "$mode" = walkthrough ]; then
	tr -d '\r' <"$log" | awk '
		/### ESS-(BEGIN|END)/ { sub(/^.*### ESS-/, "### ESS-") }
		/^### ESS-BEGIN walkthrough/ { on = 1; next }
		/^### ESS-END walkthrough/ { on = 0; rc = $4; done = 1; next }
		on { print }
		END { if (!done) { print "walkthrough did not finish; see the console log"; exit 1 }
		      exit rc }'
	rc=$?
	echo "(console log: $log)"
	exit $rc
fi

tr -d '\r' <"$log" | awk -v qrc="$qrc" -v clog="$log" '
	function emit(okay, desc) {
		n++
		printf "%s %d - %s\n", okay ? "ok" : "not ok", n, desc
		if (!okay) failed++
	}
	function finish(rc) {
		if (rc == -1)
			emit(0, prog ": did not finish")
		else if (rc != 0)
			emit(0, prog ": exited with status " rc (rc == 137 ? " (killed: timeout or SIGKILL)" : ""))
		else if (skipall)
			;
		else if (planned >= 0 && planned != got)
			emit(0, prog ": planned " planned " tests, ran " got)
		else if (planned < 0 && got == 0)
			emit(0, prog ": no TAP output")
		else if (planned < 0)
			emit(0, prog ": no plan (stopped before its end)")
		prog = ""
	}
	# The first marker may follow the terminal reset SeaBIOS leaves behind.
	/### ESS-(BEGIN|END|DONE)/ { sub(/^.*### ESS-/, "### ESS-") }
	/^### ESS-BEGIN / {
		if (prog != "") finish(-1)
		prog = $3; planned = -1; got = 0; skipall = 0
		print "# " prog
		next
	}
	/^### ESS-END / { if (prog != "") finish($4 + 0); next }
	/^### ESS-DONE/ { done = 1; next }
	prog == "" { next }
	/^1\.\.0/ && /# *[Ss][Kk][Ii][Pp]/ {
		reason = $0; sub(/^[^#]*# *[Ss][Kk][Ii][Pp] */, "", reason)
		n++; printf "ok %d - %s # SKIP %s\n", n, prog, reason
		skipall = 1; planned = 0
		next
	}
	/^1\.\.[0-9]+/ { line = $0; sub(/^1\.\./, "", line); planned = line + 0; next }
	/^(not )?ok([ \t]|$)/ {
		okay = ($0 !~ /^not ok/)
		line = $0
		sub(/^(not )?ok[ \t]*/, "", line)
		sub(/^[0-9]+[ \t]*/, "", line)
		sub(/^-[ \t]*/, "", line)
		got++
		n++
		printf "%s %d - %s: %s\n", okay ? "ok" : "not ok", n, prog, line
		if (!okay && line !~ /# *TODO/) failed++
		next
	}
	/^#/ { print "    " $0; next }
	END {
		if (prog != "") {
			print "# " prog " did not finish (guest stopped: see " clog ")"
			finish(-1)
		}
		emit(done, "guest ran every program and reached its end marker (qemu exit " qrc ")")
		printf "1..%d\n", n
	}'
exit 0
