#!/bin/bash
# Build the selftest initramfs: busybox-static, the virtio block modules of
# the Debian kernel the guest boots, ess.ko, and the test programs (static,
# or dynamic with their shared libraries).
#
#   tests/qemu/mkinitramfs.sh -o OUT.cpio.gz -k KVER -m ess.ko \
#       [-t TOOL]... [PROGRAM]...
#
# PROGRAMs are run by /init in the order given (each one a TAP program);
# TOOLs are copied to /bin without being run (e.g. the walkthrough's demo).
# The guest's /init is tests/qemu/init.sh and the walkthrough script is
# tests/qemu/walkthrough.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out='' kver='' module=''
tools=()
while getopts "o:k:m:t:" opt; do
	case $opt in
	o) out=$OPTARG ;;
	k) kver=$OPTARG ;;
	m) module=$OPTARG ;;
	t) tools+=("$OPTARG") ;;
	*) echo "usage: $0 -o OUT -k KVER -m ess.ko [-t TOOL]... [PROGRAM]..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$out" ] && [ -n "$kver" ] && [ -n "$module" ] || {
	echo "$0: -o, -k and -m are required" >&2; exit 2; }
[ -f "$module" ] || { echo "$0: no module $module (run 'make module')" >&2; exit 1; }

busybox=$(command -v busybox || true)
[ -x /bin/busybox ] && busybox=/bin/busybox
if [ -z "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q 'static'; then
	# 'file' may be missing; fall back to ldd's verdict.
	if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
		echo "$0: need a static busybox (apt-get install busybox-static)" >&2
		exit 1
	fi
fi

stage=$(mktemp -d)
chmod 755 "$stage"	# other uids must reach /dev and /tmp
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,run,mnt,tests,lib/modules}

cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] && continue
	ln -sf busybox "$stage/bin/$applet"
done
# The kernel looks for /init; tools expect /sbin too.
for applet in poweroff reboot insmod rmmod; do
	ln -sf ../bin/busybox "$stage/sbin/$applet"
done

# Device nodes the kernel needs before devtmpfs is mounted: /init's stdio.
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3

# Virtio block stack, in load order (see reference.md section 5).
moddir=/lib/modules/$kver/kernel
for m in drivers/virtio/virtio_ring drivers/virtio/virtio \
	 drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev \
	 drivers/virtio/virtio_pci drivers/block/virtio_blk; do
	name=$(basename "$m")
	if [ -f "$moddir/$m.ko" ]; then
		cp "$moddir/$m.ko" "$stage/lib/modules/$name.ko"
	elif [ -f "$moddir/$m.ko.xz" ]; then
		xz -dc "$moddir/$m.ko.xz" >"$stage/lib/modules/$name.ko"
	else
		# Built into this kernel: nothing to load.
		continue
	fi
	echo "$name" >>"$stage/lib/modules/order"
done
cp "$module" "$stage/lib/modules/ess.ko"

n=0
for prog in "$@"; do
	[ -x "$prog" ] || { echo "$0: $prog is not an executable" >&2; exit 1; }
	n=$((n + 1))
	name=$(basename "$prog")
	cp "$prog" "$stage/tests/$(printf '%02d' "$n")-$name"
done
for tool in "${tools[@]}"; do
	cp "$tool" "$stage/bin/$(basename "$tool")"
done

# Dynamically linked programs (those using a library Debian ships without a
# static archive, such as ISA-L) bring their shared libraries and loader.
for f in "$@" "${tools[@]}"; do
	ldd "$f" >/dev/null 2>&1 || continue
	for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
		[ -e "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
done

install -m 755 "$here/init.sh" "$stage/init"
install -m 755 "$here/walkthrough.sh" "$stage/bin/walkthrough.sh"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
