"""The benchmark harnesses run (they measure nothing here: see bench/)."""
import os
import shutil
import subprocess
import sys

import pytest

from emberlib import BUILD, ROOT


def test_io_benchmark_harness_runs():
    """bench/io.py --check: tiny counts; QEMU under TCG, ember too where /dev/kvm is usable."""
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    if os.geteuid() != 0:
        pytest.skip("bench/io.py needs root for its network namespace")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "io.py"), "--check",
                        "--build", str(BUILD), "--dir", str(BUILD)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [l for l in r.stdout.splitlines() if l.startswith("| blk") or l.startswith("| net")]
    assert len(rows) == 5, r.stdout
    for row in rows:
        qemu = row.split("|")[3].strip()
        assert qemu != "n/a" and float(qemu.replace(",", "")) > 0, row
