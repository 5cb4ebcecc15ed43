#!/usr/bin/env bash
# Runs ember on a real (non-PVM) KVM where this host has none: QEMU emulates
# an AMD CPU with SVM (TCG), Debian's kernel loads kvm-amd inside it, and
# ember boots the test guest and Debian's kernel there (test_nested_kvm.py).
# About two minutes. Opt-in because QEMU 7.2's emulated SVM sometimes hangs
# the outer VM; a hang fails the run after at most ten minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
ninja -C build
EMBER_NESTED=1 exec pytest-3 -ra tests/integration/test_nested_kvm.py "$@"
