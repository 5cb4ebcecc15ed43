#!/usr/bin/env bash
# Sets up ember on Debian 12: installs the build and test dependencies,
# builds everything, and boots the demo VM (the test guest says hello and
# powers off). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

packages=(
	build-essential meson ninja-build pkg-config acpica-tools
	libcmocka-dev liburing-dev libjson-c-dev libmicrohttpd-dev libseccomp-dev zlib1g-dev
	python3 python3-pytest
	qemu-system-x86 fio busybox-static e2fsprogs iproute2 iputils-ping nftables dnsmasq-base
	clang libclang-rt-14-dev
)
echo "==> installing: ${packages[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
	"${packages[@]}" >/dev/null

echo "==> building"
if [ -d build ]; then
	meson setup --reconfigure build >/dev/null
else
	meson setup build >/dev/null
fi
ninja -C build

echo "==> ember host-check"
build/src/ember host-check || true

if [ ! -e /dev/kvm ]; then
	echo "==> no /dev/kvm on this machine: built, but the demo VM cannot boot here"
	exit 0
fi
echo "==> booting the demo VM"
build/src/ember run --kernel build/tests/guest/guest.elf --memory 64 \
	--cmdline "test=hello exit=poweroff"
echo "==> the demo VM powered off; ember exited with status 0"
