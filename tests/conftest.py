"""Shared pytest fixtures: what this host can run."""
import pytest

from debian import fetch_debian_kernel
from emberlib import BUILD, kvm_problem


@pytest.fixture
def kvm():
    problem = kvm_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def build_dir():
    if not (BUILD / "build.ninja").exists():
        pytest.fail(f"no build in {BUILD}: run scripts/test.sh (or meson setup build)")
    return BUILD


@pytest.fixture(scope="session")
def debian_root():
    """Debian's kernel package, unpacked; downloaded once per build tree."""
    return fetch_debian_kernel(BUILD / "debian-kernel")
