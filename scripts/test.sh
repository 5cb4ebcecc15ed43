#!/usr/bin/env bash
# Runs the whole test suite: builds, then pytest runs the cmocka unit tests
# and the integration tests against the real binaries, twice: against a
# sanitizer build, then against the normal build with the fuzz targets
# (about 20 s each) added. Tests that need what
# this host lacks (/dev/kvm, a host able to boot stock Linux) are skipped
# with the reason. Extra arguments go to pytest (e.g. -k serial).
#
# The nested-KVM module (ember inside a VM whose CPU QEMU emulates with
# SVM, so real KVM on any host) runs too: every scenario in the normal pass
# (about seven minutes), a few in the sanitizer pass (the hostile guest, a
# descriptor loop, every thread's seccomp filter in a running VM), which
# then checks each ember's exit for leaks after a real VM lifetime.
# EMBER_NESTED_ONLY=a,b picks the scenarios of both passes.
set -euo pipefail
cd "$(dirname "$0")/.."
export EMBER_NESTED="${EMBER_NESTED:-1}"
asan_nested="${EMBER_NESTED_ONLY-hostile,images,badchain,api-ticker}"
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
ninja -C build
# First the same suite against an ASan+UBSan build of everything (the
# freestanding test guest excepted): a memory error, undefined behaviour or a
# leak at exit makes ember fail its test.
if [ ! -d build-asan ]; then
	meson setup build-asan -Db_sanitize=address,undefined \
		-Dc_args=-fno-sanitize-recover=all >/dev/null
fi
ninja -C build-asan
echo "==> the suite against the sanitizer build (build-asan)"
EMBER_BUILD=build-asan EMBER_NO_FUZZ=1 EMBER_NESTED_ONLY="$asan_nested" pytest-3 -q tests "$@"
echo "==> the suite (build), with the fuzzers"
# Debian's pytest, whatever python3 comes first in PATH.
exec pytest-3 -ra tests "$@"
