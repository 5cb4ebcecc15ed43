"""A stock Linux guest: Debian's own kernel (fetched at test time with
`apt-get download`) and a busybox initramfs, booted by ember to the init
prompt with two vCPUs, then powered off from inside.

On a PVM host (kvm_pvm) guest ring-0 code is emulated and a stock kernel
cannot boot (see DESIGN.md), so there the full boot is skipped with that
reason. What such a host can check is the start: the same kernel, unpacked
to its vmlinux and entered through PVH, prints its banner, reads ember's
e820 map, ACPI tables and MADT, and later stops on an instruction the
emulator lacks, which ember must report as one clear error."""
import lzma
import os
import struct
import pathlib
import subprocess
import tempfile
import time

import pytest

from debian import busybox_entries, cpio_newc, dirs, file, kernel_image
from emberlib import EMBER, is_pvm_host

pytestmark = pytest.mark.usefixtures("kvm")

PROMPT = b"ember-linux# "
INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "EMBER-LINUX cpus=$(grep -c ^processor /proc/cpuinfo) kernel=$(uname -r)"
export PS1='ember-linux# '
exec setsid cttyhack sh
"""


def busybox_initramfs(path):
    entries = dirs("bin", "dev", "proc", "sys") + busybox_entries()
    path.write_bytes(cpio_newc(entries + [file("init", INIT.encode(), 0o100755)]))


@pytest.fixture(scope="module")
def debian_kernel(debian_root):
    return kernel_image(debian_root)


def extract_vmlinux(bzimage, out):
    """The ELF vmlinux inside a bzImage (its xz payload, boot protocol 2.08+)."""
    data = bzimage.read_bytes()
    setup = ((data[0x1f1] or 4) + 1) * 512
    offset, length = struct.unpack_from("<II", data, 0x248)
    payload = data[setup + offset:setup + offset + length]
    if not payload.startswith(b"\xfd7zXZ\x00"):
        pytest.skip("this kernel's payload is not xz-compressed")
    # The payload ends with the kernel's size after the xz stream: stop at the stream's end.
    out.write_bytes(lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload))

    return out


def read_until(proc, marker, timeout, seen):
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"no {marker!r}; console so far:\n"
                                 + seen.decode(errors="replace")[-3000:])
        seen += os.read(proc.stdout.fileno(), 65536)
    return seen


@pytest.mark.skipif(is_pvm_host(), reason="PVM host (kvm_pvm): guest ring-0 code is emulated "
                    "and a stock Linux kernel cannot boot here (see DESIGN.md); this test runs "
                    "on VT-x/AMD-V hosts, and scripts/test-nested.sh boots the same kernel under "
                    "nested KVM")
def test_debian_kernel_boots_to_the_init_prompt(debian_kernel):
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        kernel = debian_kernel
        initrd = work / "initramfs.cpio"
        busybox_initramfs(initrd)
        proc = subprocess.Popen(
            [str(EMBER), "run", "--kernel", str(kernel), "--initrd", str(initrd),
             "--cpus", "2", "--memory", "512",
             "--cmdline", "console=ttyS0 rdinit=/init panic=-1 reboot=acpi quiet"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            seen = read_until(proc, PROMPT, 300, b"")
            assert b"EMBER-LINUX cpus=2" in seen
            proc.stdin.write(b"poweroff -f\n")
            proc.stdin.flush()
            assert proc.wait(timeout=60) == 0, proc.stderr.read()
        finally:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(not is_pvm_host(), reason="the full boot test covers hosts with VT-x/AMD-V")
def test_debian_kernel_starts_on_a_pvm_host(debian_kernel, tmp_path):
    """As far as PVM goes: the banner, ember's memory map and ACPI tables as the
    kernel reads them, then the kernel's first int3 (its alternatives self-test),
    which PVM's emulator cannot run: ember must end with status 1 and one line
    naming it, not hang."""
    vmlinux = extract_vmlinux(debian_kernel, tmp_path / "vmlinux")
    cmdline = "console=ttyS0 earlyprintk=serial,ttyS0 noxsave clearcpuid=cx16 panic=-1"
    # Emulated ring 0 runs about a million instructions a second: this takes a minute.
    proc = subprocess.run(
        [str(EMBER), "run", "--kernel", str(vmlinux), "--cpus", "2", "--memory", "512",
         "--cmdline", cmdline],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=900)
    text = proc.stdout.decode(errors="replace")
    assert "Linux version 6." in text, text[-3000:]
    assert f"Command line: {cmdline}" in text
    assert "BIOS-e820: [mem 0x0000000000100000-0x000000001fffffff] usable" in text
    assert "ACPI: RSDP 0x00000000000E0000 000024 (v02 EMBER )" in text
    for table in ["XSDT", "FACP", "DSDT", "APIC"]:
        assert f"ACPI: {table} 0x00000000000E" in text
    assert "IOAPIC[0]: apic_id 2" in text
    assert "smpboot: Allowing 2 CPUs" in text
    assert proc.returncode == 1, text[-3000:]
    err = proc.stderr.decode().strip().split("\n")
    assert len(err) == 1, err
    assert "emulation failure at rip 0xffffffff" in err[0] and "instruction bytes: cc" in err[0]
