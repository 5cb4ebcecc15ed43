#!/usr/bin/env bash
# Runs the whole test suite: builds, then pytest runs the cmocka unit tests
# and the integration tests against the real binaries. Tests that need what
# this host lacks (/dev/kvm, a host able to boot stock Linux) are skipped
# with the reason. Extra arguments go to pytest (e.g. -k serial).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
ninja -C build
# Debian's pytest, whatever python3 comes first in PATH.
exec pytest-3 -ra tests "$@"
