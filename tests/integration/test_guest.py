"""The test guest on ember: what the guest sees (CPUs, memory, command line,
clock, devices) and how the VM ends."""
import datetime
import os
import re
import signal
import subprocess
import time

import pytest

from emberlib import (EMBER, GUEST_BZIMAGE, GUEST_ELF, GUEST_NOPVH, boot_guest,
                      run_ember)

pytestmark = pytest.mark.usefixtures("kvm")

KERNELS = {"pvh": GUEST_ELF, "elf64": GUEST_NOPVH, "bzimage": GUEST_BZIMAGE}
PROTOCOL = {"pvh": "pvh", "elf64": "bootparams", "bzimage": "bootparams"}


@pytest.mark.parametrize("fmt", KERNELS)
def test_boots_every_kernel_format(fmt):
    r = boot_guest("hello,serial,cmdline", kernel=KERNELS[fmt], exit="poweroff")
    assert r.returncode == 0, r.explain()
    assert r.lines[0] == f"EMBER-GUEST boot={PROTOCOL[fmt]}", r.explain()
    assert "Hello from the ember test guest" in r.lines
    assert r.passed("hello") and r.passed("serial") and r.passed("cmdline"), r.explain()
    assert r.failures() == [] and "DONE" in r.lines


@pytest.mark.parametrize("cpus", [1, 2, 4, 8, 64, 254])
def test_every_vcpu_checks_in(cpus):
    r = boot_guest("smp,cpuid", cpus=cpus, exit="poweroff", extra_cmdline=f"expect_cpus={cpus}")
    assert r.returncode == 0, r.explain()
    assert r.passed("smp"), r.explain()
    assert r.value("madt_cpus") == str(cpus)
    assert r.value("cpus") == str(cpus)
    assert r.value("apic_ids") == ",".join(str(i) for i in range(cpus))
    assert r.value("hypervisor") == "KVMKVMKVM"
    assert r.value("apic_id") == "0"


@pytest.mark.parametrize("fmt", KERNELS)
def test_command_line_arrives_intact(fmt):
    extra = "console=ttyS0 quiet a.b=c,d key=\"quoted value\" ünïcode"
    r = boot_guest("cmdline", kernel=KERNELS[fmt], extra_cmdline=extra)
    assert r.returncode == 0, r.explain()
    assert r.value("cmdline") == f"test=cmdline exit=reset {extra}"


def test_longest_command_line_is_accepted():
    base = "test=cmdline exit=poweroff "
    cmdline = base + "x" * (2047 - len(base))
    r = run_ember(["run", "--kernel", GUEST_ELF, "--memory", 64, "--cmdline", cmdline])
    assert r.returncode == 0, r.explain()
    assert r.value("cmdline") == cmdline


def memory_map(run):
    entries = []
    for value in run.kv("mem"):
        addr, size, kind = value.split(",")
        entries.append((int(addr, 16), int(size, 16), int(kind)))
    return entries


@pytest.mark.parametrize("fmt", KERNELS)
def test_memory_map_small(fmt):
    r = boot_guest("memmap", kernel=KERNELS[fmt], memory=128, exit="poweroff")
    assert r.returncode == 0 and r.passed("memmap"), r.explain()
    assert memory_map(r) == [
        (0, 0x9fc00, 1),
        (0x9fc00, 0x400, 2),
        (0xe0000, 0x20000, 2),
        (0x100000, 127 << 20, 1),
    ]


def test_smallest_memory():
    r = boot_guest("memmap", memory=8, exit="poweroff")
    assert r.returncode == 0 and r.passed("memmap"), r.explain()
    assert r.value("ram_mib") == "7"


@pytest.mark.parametrize("mib", [3072, 4096, 6144])

def test_memory_map_around_the_hole(mib):
    r = boot_guest("memmap", memory=mib, exit="poweroff")
    assert r.returncode == 0 and r.passed("memmap"), r.explain()
    ram = [(a, s) for a, s, t in memory_map(r) if t == 1]
    assert ram[1] == (0x100000, (min(mib, 3072) << 20) - 0x100000)
    if mib > 3072:
        # What does not fit below the 3 GiB hole is above 4 GiB; nothing is lost.
        assert ram[2] == (4 << 30, (mib - 3072) << 20)
    else:
        assert len(ram) == 2
    # The guest wrote and read back the first and last words of every region.
    assert int(r.value("mem_checked")) >= len(ram) - 1


def test_rtc_reads_host_utc():
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    r = boot_guest("rtc")
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert r.returncode == 0 and r.passed("rtc"), r.explain()
    guest = datetime.datetime.strptime(r.value("rtc"), "%Y-%m-%dT%H:%M:%S")
    slack = datetime.timedelta(seconds=2)
    assert before - slack <= guest <= after + slack


def test_unhandled_accesses_read_all_ones_and_are_logged_once():
    r = boot_guest("unhandled", extra_args=["--log-level", "info"])
    assert r.returncode == 0 and r.passed("unhandled"), r.explain()
    logged = [l for l in r.stderr.splitlines() if "unhandled" in l]
    assert len(logged) == 3, r.stderr  # port 0x2f8, port 0x2fd, MMIO 0xd0001000; once each
    assert any("0x2fd" in l for l in logged) and any("0xd0001000" in l for l in logged)


def test_unhandled_accesses_are_quiet_by_default():
    r = boot_guest("unhandled")
    assert r.returncode == 0 and r.stderr == "", r.explain()


@pytest.mark.parametrize("method", ["reset", "poweroff", "triple", "acpi-reset"])
def test_guest_ends_the_vm_with_status_0(method):
    r = boot_guest("hello", exit=method, extra_args=["--log-level", "info"])
    assert r.returncode == 0, r.explain()
    assert r.lines[-2] == "DONE" and r.failures() == [], r.explain()
    if method == "triple":
        assert "triple fault" in r.stderr


def test_guest_exception_then_reset():
    r = boot_guest("exception,hello", exit="reset")
    assert r.returncode == 0, r.explain()
    assert any(l.startswith("FAIL exception 6 ") for l in r.lines), r.explain()
    assert "PASS hello" not in r.lines


def test_emulation_failure_is_one_clear_error():
    r = boot_guest("emulation-failure", exit="poweroff")
    assert r.returncode == 1, r.explain()
    assert r.kv("expect") == ["emulation-failure"]
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1, r.stderr
    assert re.fullmatch(r"ember: vcpu0: KVM internal error: emulation failure at rip 0x[0-9a-f]+ "
                        r"\(cs 0x8, 64-bit mode\); instruction bytes: f0 48 0f c7 0e( [0-9a-f]{2})*",
                        lines[0]), lines[0]


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                         (signal.SIGHUP, 129)])
def test_signal_stops_a_halted_guest(sig, status):
    """A guest that halts for ever must not keep ember from ending."""
    proc = subprocess.Popen([str(EMBER), "run", "--kernel", str(GUEST_ELF), "--memory", "64",
                             "--cpus", "2", "--cmdline", "test=idle"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        out = b""
        while b"IDLE" not in out and time.monotonic() < deadline:
            out += proc.stdout.read1(4096)
        assert b"IDLE" in out
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == status
        assert proc.stderr.read() == b""
    finally:
        proc.kill()
        proc.wait()


def test_serial_to_file(tmp_path):
    log = tmp_path / "console.log"
    r = boot_guest("hello", extra_args=["--serial", f"file={log}"])
    assert r.returncode == 0, r.explain()
    assert r.stdout == ""
    assert "Hello from the ember test guest" in log.read_text()


def test_serial_none():
    r = boot_guest("hello", extra_args=["--serial", "none"])
    assert r.returncode == 0, r.explain()
    assert r.stdout == "" and r.stderr == ""


def test_serial_file_in_missing_directory(tmp_path):
    r = boot_guest("hello", extra_args=["--serial", f"file={tmp_path}/no/such/dir/log"])
    assert r.returncode == 1
    assert "--serial: cannot open" in r.stderr


def test_memory_beyond_host_ram_is_reserved_lazily():
    """A 64 GiB guest on a smaller host works: RAM is only touched on demand."""
    r = boot_guest("memmap", memory=65536, exit="poweroff")
    assert r.returncode == 0 and r.passed("memmap"), r.explain()
    assert r.value("ram_mib") == str(65536 - 1)


@pytest.fixture
def hugepages():
    """Reserves 2 MiB huge pages for one test and gives them back."""
    path = "/proc/sys/vm/nr_hugepages"
    if os.geteuid() != 0:
        pytest.skip("reserving huge pages needs root")
    with open(path) as f:
        before = int(f.read())
    with open(path, "w") as f:
        f.write(str(before + 40))
    try:
        with open(path) as f:
            if int(f.read()) < before + 32:
                pytest.skip("the host could not reserve 32 huge pages")
        yield
    finally:
        with open(path, "w") as f:
            f.write(str(before))


def test_hugepage_backed_guest(hugepages):
    r = boot_guest("memmap", memory=64, exit="poweroff", extra_args=["--hugepages"])
    assert r.returncode == 0 and r.passed("memmap"), r.explain()
    r = boot_guest("memmap", memory=1024, exit="poweroff", extra_args=["--hugepages"])
    assert r.returncode == 1 and "huge pages" in r.stderr, r.explain()


def test_closed_stdout():
    """Started with stdout closed, ember must not take its own next file
    (/dev/kvm) for stdout and write the guest's console there: the output
    goes nowhere, quietly, and the guest ends normally."""
    proc = subprocess.run(f"exec 1>&-; {EMBER} run --kernel {GUEST_ELF} --memory 64 "
                          f"--cmdline 'test=hello exit=poweroff'", shell=True, timeout=30,
                          stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0
    assert proc.stderr == ""

