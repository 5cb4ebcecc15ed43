"""The test guest's virtio-mmio driver against QEMU's devices: a second
implementation to hold ember's against. QEMU runs with TCG, so no /dev/kvm
is needed."""
import shutil
import subprocess
import time

import pytest

from emberlib import GUEST_ELF, GuestRun, check_blk_run, make_blk_disks

QEMU = shutil.which("qemu-system-x86_64")


def boot_qemu(tests, devices):
    if not QEMU:
        pytest.skip("qemu-system-x86_64 is not installed")
    # microvm's virtio-mmio is legacy unless asked; with acpi=off QEMU appends
    # virtio_mmio.device= words to the command line, first -device first.
    cmd = [QEMU, "-M", "microvm,rtc=on,acpi=off", "-accel", "tcg", "-m", "128", "-smp", "1",
           "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
           "-global", "virtio-mmio.force-legacy=false",
           "-kernel", str(GUEST_ELF), "-append", f"test={tests} exit=reset", *devices]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60,
                          stdin=subprocess.DEVNULL)
    return GuestRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def test_virtio_rng():
    r = boot_qemu("virtio-rng", ["-device", "virtio-rng-device"])
    assert r.returncode == 0 and r.passed("virtio-rng"), r.explain()
    assert r.value("virtio_rng_bytes") == "256"
    assert r.value("virtio_rng_irqs") == "4", r.explain()  # one per request
    assert r.failures() == [] and "DONE" in r.lines


# Both ways the driver runs: with the ring features QEMU offers by default and
# without them (direct descriptors only, no event index).
@pytest.mark.parametrize("ring_features", ["", ",indirect_desc=off,event_idx=off"])
def test_virtio_blk(tmp_path, ring_features):
    d0, d0_before, d1, d1_before = make_blk_disks(tmp_path)
    r = boot_qemu("virtio-blk", [
        "-drive", f"id=d0,file={d0},format=raw,if=none",
        "-device", f"virtio-blk-device,drive=d0,serial=ember-d0{ring_features}",
        "-drive", f"id=d1,file={d1},format=raw,if=none,readonly=on",
        "-device", f"virtio-blk-device,drive=d1{ring_features}",
    ])
    check_blk_run(r, d0, d0_before, d1, d1_before)


def test_virtio_bad_chain():
    r = boot_qemu("virtio-bad-chain", ["-device", "virtio-rng-device"])
    assert r.returncode == 0 and r.passed("virtio-bad-chain"), r.explain()
    assert r.value("virtio_needs_reset") == "1"
    assert r.value("virtio_config_irq") == "1"  # virtio 1.2, 2.1.2
    assert r.value("virtio_after_reset") == "ok"


def test_virtio_missing_device():
    r = boot_qemu("virtio-rng,virtio-blk,virtio-bad-chain", [])
    assert r.returncode == 0 and "DONE" in r.lines, r.explain()
    assert r.failures() == ["FAIL virtio-rng: no virtio-rng device",
                            "FAIL virtio-blk: no virtio-blk device",
                            "FAIL virtio-bad-chain: no virtio-rng device"]


def test_bench_blk_phases(tmp_path):
    """bench/io.py's block phases run against QEMU's device (nothing is measured)."""
    disk = tmp_path / "bench.img"
    disk.write_bytes(bytes(1 << 20))
    r = boot_qemu("bench-blk blk_ops=2000 blk_mib=4", [
        "-drive", f"id=d0,file={disk},format=raw,if=none",
        "-device", "virtio-blk-device,drive=d0"])
    assert r.returncode == 0 and r.passed("bench-blk") and r.failures() == [], r.explain()
    for phase, ops in [("blk-randread", 2000), ("blk-seqread", 32), ("blk-seqwrite", 32)]:
        assert f"BENCH {phase} done ops={ops} " in r.stdout, r.explain()
