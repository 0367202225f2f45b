#!/bin/sh
# Install what ESS needs to build and test on Debian 12, from Debian's own
# archive only.  Idempotent: packages already present are not touched, and
# apt-get runs only when something is missing.
set -eu

PKGS="build-essential make pkg-config perl cpio kmod
      linux-image-amd64 linux-headers-amd64 linux-source-6.1
      qemu-system-x86 busybox-static
      liburing-dev libnuma-dev libisal-dev fio sparse e2fsprogs python3"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
