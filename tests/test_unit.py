"""Runs the cmocka unit tests that Meson built, one pytest case per program."""
import json
import subprocess

import pytest

from emberlib import BUILD


def unit_tests():
    try:
        out = subprocess.run(["meson", "introspect", "--tests", str(BUILD)],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [t for t in json.loads(out) if any(s.endswith(":unit") for s in t["suite"])]


UNIT_TESTS = unit_tests()


def test_unit_tests_were_found():
    assert len(UNIT_TESTS) >= 10, f"expected the cmocka tests in {BUILD}"


@pytest.mark.parametrize("test", UNIT_TESTS, ids=[t["name"] for t in UNIT_TESTS])
def test_unit(test):
    proc = subprocess.run(test["cmd"], capture_output=True, text=True, timeout=60,
                          cwd=test.get("workdir") or None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
