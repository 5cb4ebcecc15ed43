"""The libFuzzer targets (fuzz/), each for a bounded time: EMBER_FUZZ_SECONDS
(default 20) per target here; scripts/fuzz.sh runs them for as long as
wanted. A crash fails the test with libFuzzer's report; its input is kept in
build-fuzz/crashes/."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("EMBER_FUZZ_SECONDS", "20"))
TARGETS = ["kernel", "virtqueue", "json", "api", "vsock", "net", "console", "snapshot", "blk"]


@pytest.mark.skipif(os.environ.get("EMBER_NO_FUZZ") == "1",
                    reason="EMBER_NO_FUZZ=1: the fuzzers run in the other pass of scripts/test.sh")
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(target):
    if not shutil.which("clang"):
        pytest.skip("needs clang and libclang-rt (scripts/setup.sh installs them)")
    r = subprocess.run([str(ROOT / "scripts" / "fuzz.sh"), str(SECONDS), target],
                       capture_output=True, text=True, timeout=SECONDS * 3 + 600)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"fuzz_{target}: " in r.stdout
