#!/bin/bash
# Install into a staging DESTDIR, then build and run a program against the
# installed library through pkg-config only.  TAP.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
echo "1..8"
n=0
t() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

make --no-print-directory install PREFIX=/usr DESTDIR="$stage" >"$stage.log" 2>&1
rc=$?; t $rc "make install into a staging DESTDIR"
[ $rc = 0 ] || sed 's/^/# /' "$stage.log"
rm -f "$stage.log"
so=$(readelf -d "$stage/usr/lib/libess.so" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ -n "$so" ] && [ -e "$stage/usr/lib/$so" ]; t $? "libess.so carries a soname ($so) that is installed"
export PKG_CONFIG_LIBDIR="$stage/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage"
flags=$(pkg-config --cflags --libs ess 2>&1); rc=$?
t $rc "pkg-config finds ess ($flags)"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$stage/consumer" tests/install/consumer.c $flags 2>&1 | sed 's/^/# /'
t "${PIPESTATUS[0]}" "a program builds against the installed headers and library"
out=$(LD_LIBRARY_PATH="$stage/usr/lib" "$stage/consumer" 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
t $rc "it runs against the installed shared library"

# The DKMS source tree alone builds the module (what dkms does on a kernel
# update), and the udev rule lands where udev reads it.
kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1)
make --no-print-directory install-dkms install-udev DESTDIR="$stage" >/dev/null 2>&1
src=$(ls -d "$stage"/usr/src/ess-* 2>/dev/null | head -1)
if [ -n "$kdir" ] && [ -n "$src" ] && grep -q "PACKAGE_VERSION=\"${src##*/ess-}\"" "$src/dkms.conf"; then
	make -C "$kdir" M="$src" modules >"$stage/dkms.log" 2>&1 && [ -f "$src/ess.ko" ]
	rc=$?
	[ $rc = 0 ] || sed 's/^/# /' "$stage/dkms.log" | tail -20
	t $rc "the DKMS source tree ($src) builds ess.ko"
else
	t 1 "install-dkms made a source tree with dkms.conf (kernel headers: ${kdir:-none})"
fi
grep -q 'KERNEL=="ess".*MODE="0660"' "$stage/etc/udev/rules.d/99-ess.rules" 2>/dev/null
t $? "install-udev puts the rule in /etc/udev/rules.d"
missing=""
for b in "$stage"/usr/bin/*; do
	[ -f "$stage/usr/share/man/man1/$(basename "$b").1" ] || missing="$missing $(basename "$b")"
done
[ -z "$missing" ] && ls "$stage"/usr/bin/ess-* >/dev/null 2>&1
t $? "every installed tool has its man page${missing:+ (missing:$missing)}"
