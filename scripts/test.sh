#!/usr/bin/env bash
# Runs the whole test suite: builds, then pytest runs the cmocka unit tests
# and the integration tests against the real binaries, twice: against a
# sanitizer build, then against the normal build with the fuzz targets
# (about 20 s each) added. Tests that need what
# this host lacks (/dev/kvm, a host able to boot stock Linux) are skipped
# with the reason. Extra arguments go to pytest (e.g. -k serial).
#
# A few scenarios of the nested-KVM module run too, on any host: the
# hostile guest, a descriptor loop, and every thread's seccomp filter in a
# running VM (about a minute each time; scripts/test-nested.sh runs them all).
set -euo pipefail
cd "$(dirname "$0")/.."
export EMBER_NESTED="${EMBER_NESTED:-1}"
export EMBER_NESTED_ONLY="${EMBER_NESTED_ONLY-hostile,images,badchain,api-ticker}"
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
EMBER_BUILD=build-asan EMBER_NO_FUZZ=1 pytest-3 -q tests "$@"
echo "==> the suite (build), with the fuzzers"
# Debian's pytest, whatever python3 comes first in PATH.
exec pytest-3 -ra tests "$@"
