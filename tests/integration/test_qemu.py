"""The test guest is a guest, not an ember accessory: QEMU's microvm boots
it through the same PVH entry and it passes the same checks there."""
import shutil
import subprocess

import pytest

from emberlib import GUEST_ELF, GuestRun

pytestmark = pytest.mark.usefixtures("kvm")

QEMU = shutil.which("qemu-system-x86_64")


def boot_qemu(tests, cpus=1, memory=128, exit="poweroff"):
    if not QEMU:
        pytest.skip("qemu-system-x86_64 is not installed")
    # microvm has no CMOS clock unless asked, and no i8042: reset ends in a triple fault.
    cmd = [QEMU, "-M", "microvm,rtc=on", "-accel", "kvm", "-m", str(memory), "-smp", str(cpus),
           "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
           "-kernel", str(GUEST_ELF), "-append", f"test={tests} exit={exit}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60,
                          stdin=subprocess.DEVNULL)
    return GuestRun(proc.returncode, proc.stdout, proc.stderr, 0.0)


@pytest.mark.parametrize("cpus", [1, 4])
def test_guest_passes_under_qemu(cpus):
    r = boot_qemu("hello,serial,smp,cmdline,memmap,rtc,cpuid", cpus=cpus)
    assert r.returncode == 0, r.explain()
    assert r.lines[0] == "EMBER-GUEST boot=pvh"
    for test in ["hello", "serial", "smp", "cmdline", "memmap", "rtc", "cpuid"]:
        assert r.passed(test), r.explain()
    assert r.value("cpus") == str(cpus)
    assert r.failures() == [] and "DONE" in r.lines


def test_guest_resets_under_qemu():
    r = boot_qemu("hello", exit="reset")
    assert r.returncode == 0 and "DONE" in r.lines, r.explain()
