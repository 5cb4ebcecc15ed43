"""The command line: flags, help, version, host-check and bad flags. None of
these need a VM, so they run on any host."""
import os
import re
import shutil
import subprocess

import pytest

from emberlib import EMBER, GUEST_ELF, kvm_problem, run_ember


USAGE = 2


def test_version():
    r = run_ember(["--version"])
    assert r.returncode == 0
    assert re.fullmatch(r"ember \d+\.\d+\.\d+\n", r.stdout)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(flag):
    r = run_ember([flag])
    assert r.returncode == 0
    for word in ["ember run", "--kernel", "--initrd", "--cmdline", "--cpus", "--memory",
                 "--serial", "host-check", "Ctrl-A x"]:
        assert word in r.stdout


def test_run_help():
    r = run_ember(["run", "--help"])
    assert r.returncode == 0 and "--kernel" in r.stdout


def test_no_arguments_is_a_usage_error():
    r = run_ember([])
    assert r.returncode == USAGE
    assert "Usage" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["run", "--kernel", "k", "--bogus"], "unknown option '--bogus'"),
    (["run", "--kernel"], "needs a value"),
    (["run"], "no kernel given"),
    (["run", "--kernel", "k", "extra"], "unexpected argument 'extra'"),
    (["run", "--kernel", "k", "--cpus", "0"], "--cpus 0 is out of range"),
    (["run", "--kernel", "k", "--cpus", "255"], "--cpus 255 is out of range"),
    (["run", "--kernel", "k", "--cpus", "-1"], "is not a number"),
    (["run", "--kernel", "k", "--cpus", "two"], "is not a number"),
    (["run", "--kernel", "k", "--cpus", "99999999999999999999"], "out of range"),
    (["run", "--kernel", "k", "--memory", "0"], "--memory 0 MiB is out of range"),
    (["run", "--kernel", "k", "--memory", "4"], "out of range"),
    (["run", "--kernel", "k", "--memory", "2000000"], "out of range"),
    (["run", "--kernel", "k", "--memory", "1.5"], "is not a number"),
    (["run", "--kernel", "k", "--memory", "129", "--hugepages"], "2 MiB"),
    (["run", "--kernel", "k", "--serial", "tcp:1"], "stdio, none or file=PATH"),
    (["run", "--kernel", "k", "--serial", "file="], "stdio, none or file=PATH"),
    (["run", "--kernel", "k", "--log-level", "loud"], "--log-level"),
    (["run", "--kernel", "k", "--console", "vga"], "expected serial or virtio"),
    (["run", "--kernel", "k", "--console", "virtio", "--serial", "stdio"],
     "stdio can serve only one"),
    (["run", "--kernel", "k", "--console", "virtio", "--console", "virtio"], "given twice"),
    (["run", "--kernel", "k", "--disk", ""], "--disk: expected PATH"),
    (["run", "--kernel", "k", "--disk", ",readonly"], "--disk: expected PATH"),
    (["run", "--kernel", "k", "--disk", "x.img,rw"], "unknown option 'rw'"),
    (["run", "--kernel", "k", "--disk", "x.img,cache=unsafe"], "unknown option 'cache=unsafe'"),
    (["run", "--kernel", "k", "--disk", "x.img,serial=123456789012345678901"],
     "serial must be 1 to 20"),
    (["run", "--kernel", "k", "--disk", "x.img,serial=a b"], "serial must be"),
    (["run", "--kernel", "k", "--disk", "x.img,bw=0"], "--disk: bw must be a number"),
    (["run", "--kernel", "k", "--disk", "x.img,iops=lots"], "--disk: iops must be a number"),
    (["run", "--kernel", "k", "--net", "tap=t0,pps=0"], "--net: pps must be a number"),
    (["run", "--kernel", "k", "--net", "tap=t0,bw=1e6"], "--net: bw must be a number"),
    (["run", "--kernel", "k", "--rng", "--rng"], "--rng: given twice"),
    (["run", "--kernel", "k", "--vsock", "cid=2,uds=/tmp/v"], "cid must be a number from 3"),
    (["run", "--kernel", "k", "--vsock", "uds=/tmp/v"], "--vsock: expected cid=N[,uds=PATH]"),
    (["run", "--kernel", "k", "--vsock", "cid=3,port=5"], "unknown option 'port=5'"),
    (["run", "--kernel", "k", "--vsock", "cid=3,uds=/v", "--vsock", "cid=4,uds=/w"],
     "--vsock: given twice"),
    (["run", "--kernel", "k", "--vsock", "cid=3,uds=/" + "x" * 100], "longer than 96 bytes"),


    (["run", "--kernel", "k", "--net", "mac=06:00:00:00:00:01"], "--net: expected tap=NAME"),
])
def test_bad_flags(args, message):
    r = run_ember(args, timeout=5)
    assert r.returncode == USAGE, r.explain()
    assert message in r.stderr, r.stderr
    assert r.stdout == ""


def test_host_check():
    r = run_ember(["host-check"], timeout=10)
    lines = r.stdout.strip().split("\n")
    verdicts = [l.split()[0] for l in lines[:-1]]
    assert set(verdicts) <= {"PASS", "WARN", "FAIL"}
    assert any("/dev/kvm" in l for l in lines)
    assert any("KVM_CAP_IRQCHIP" in l for l in lines) or kvm_problem()
    assert any("hardware virtualization" in l for l in lines) or kvm_problem()
    assert any("PVM" in l for l in lines) or kvm_problem()
    fails = verdicts.count("FAIL")
    assert lines[-1].endswith(f"{fails} check(s) failed")
    assert r.returncode == (1 if fails else 0)
    if kvm_problem() is None:
        assert fails == 0, r.stdout


def in_mount_namespace(script):
    """Runs a shell script as root in a private mount namespace."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to hide /dev/kvm")
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True,
                          text=True, timeout=10)


def test_missing_dev_kvm():
    r = in_mount_namespace(f"mount -t tmpfs none /dev && {EMBER} run --kernel {GUEST_ELF}; "
                           f"echo status=$?; {EMBER} host-check; echo status=$?")
    out = r.stdout.splitlines()
    assert "status=1" == out[0], r.stdout + r.stderr
    assert "/dev/kvm does not exist" in r.stderr
    assert any(l.startswith("FAIL  /dev/kvm") and "missing" in l for l in out)
    assert out[-1] == "status=1"


def test_dev_kvm_that_is_not_kvm():
    # A fresh /dev holding only null, with /dev/kvm a second null device:
    # works whether or not this host has a /dev/kvm to hide.
    r = in_mount_namespace("mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && "
                           f"mknod -m 666 /dev/kvm c 1 3 && {EMBER} run --kernel {GUEST_ELF}")
    assert r.returncode == 1, r.stderr

    assert "/dev/kvm is not a KVM device" in r.stderr


def test_rebase_snap_applies_the_diff_data_only(tmp_path):
    base, diff = tmp_path / "base.mem", tmp_path / "diff.mem"
    base.write_bytes(b"A" * 4096 + b"B" * 4096 + b"C" * 4096 + b"D" * 4096)
    with open(diff, "wb") as f:  # sparse: data only in the third page
        f.truncate(4 * 4096)
        f.seek(2 * 4096)
        f.write(b"\0" * 100 + b"x" * 3996)
    r = run_ember(["rebase-snap", "--diff-file", diff, "--base-file", base], timeout=10)
    assert r.returncode == 0, r.explain()
    assert base.read_bytes() == (b"A" * 4096 + b"B" * 4096 + b"\0" * 100 + b"x" * 3996
                                 + b"D" * 4096)


@pytest.mark.parametrize("args, status, message", [
    (["rebase-snap"], 2, "needs --base-file and --diff-file"),
    (["rebase-snap", "--base-file"], 2, "needs a value"),
    (["rebase-snap", "--base", "x"], 2, "unknown option '--base'"),
    (["rebase-snap", "--base-file", "BASE", "--diff-file", "SHORT"], 1, "are not memory files"),
    (["rebase-snap", "--base-file", "BASE", "--diff-file", "NONE"], 1, "No such file"),
])
def test_rebase_snap_refusals(tmp_path, args, status, message):
    (tmp_path / "BASE").write_bytes(b"A" * 8192)
    (tmp_path / "SHORT").write_bytes(b"B" * 4096)
    args = [str(tmp_path / a) if a in ("BASE", "SHORT", "NONE") else a for a in args]
    r = run_ember(args, timeout=10)
    assert r.returncode == status and message in r.stderr, r.explain()
    assert (tmp_path / "BASE").read_bytes() == b"A" * 8192
