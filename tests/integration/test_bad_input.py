"""Bad kernels, initrds and command lines: one clear line on stderr, a
non-zero status, quickly, never a crash. And initrds that are fine arrive
intact."""
import os
import random
import shutil
import struct

import pytest

from emberlib import GUEST_BZIMAGE, GUEST_ELF, GUEST_NOPVH, boot_guest, run_ember

pytestmark = pytest.mark.usefixtures("kvm")

KERNELS = {"pvh": GUEST_ELF, "elf64": GUEST_NOPVH, "bzimage": GUEST_BZIMAGE}


def fnv1a(data):
    h = 0x811c9dc5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xffffffff
    return h


def refused(args, message, status=1):
    """Runs ember, expecting it to refuse with `message` in one stderr line."""
    r = run_ember(["run", "--memory", 64, *args], timeout=10)
    assert r.returncode == status, r.explain()
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("ember: "), r.stderr
    assert message in lines[0], r.stderr
    assert r.stdout == ""
    # "In well under a second": the bound here only catches hangs on a busy machine.
    assert r.seconds < 5
    return r


def write(path, data):
    path.write_bytes(data)
    return path


def patched(tmp_path, source, patches, name="kernel"):
    data = bytearray(source.read_bytes())
    for offset, fmt, value in patches:
        struct.pack_into(fmt, data, offset, value)
    return write(tmp_path / name, bytes(data))


def elf_phdr(path, index):
    data = path.read_bytes()
    phoff, = struct.unpack_from("<Q", data, 32)
    return phoff + index * 56


def first_load(path):
    data = path.read_bytes()
    for i in range(struct.unpack_from("<H", data, 56)[0]):
        off = elf_phdr(path, i)
        if struct.unpack_from("<I", data, off)[0] == 1:
            return off
    raise AssertionError("no PT_LOAD")


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "random", "text", "tiny"])
def test_bad_kernel_files(tmp_path, kind):
    path = tmp_path / "kernel"
    messages = {
        "missing": "cannot open kernel",
        "directory": "is not a regular file",
        "empty": "is empty",
        "random": "not a kernel image",
        "text": "not a kernel image",
        "tiny": "not a kernel image",
    }
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(random.Random(7).randbytes(1 << 20))
    elif kind == "text":
        path.write_text("#!/bin/sh\necho this is not a kernel\n")
    elif kind == "tiny":
        path.write_bytes(b"\x7fE")
    refused(["--kernel", path], messages[kind])


@pytest.mark.parametrize("fmt", KERNELS)
@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 0.8])
def test_truncated_kernels(tmp_path, fmt, fraction):
    data = KERNELS[fmt].read_bytes()
    path = write(tmp_path / "kernel", data[:int(len(data) * fraction)])
    refused(["--kernel", path], "kernel '")


def test_user_space_programs_are_not_kernels():
    for program in ["/bin/true", "/bin/busybox", "/usr/bin/python3"]:
        if os.path.exists(program):
            refused(["--kernel", os.path.realpath(program)], "not a kernel")


@pytest.mark.parametrize("field, patch, message", [
    ("class", (4, "<B", 1), "only 64-bit"),
    ("machine", (18, "<H", 0xb7), "not for x86-64"),
    ("type", (16, "<H", 3), "ET_DYN"),
    ("phentsize", (54, "<H", 40), "program header size"),
    ("phnum", (56, "<H", 0xffff), "program headers"),
    ("phoff", (32, "<Q", 1 << 62), "program headers lie beyond"),
])
def test_corrupt_elf_headers(tmp_path, field, patch, message):
    refused(["--kernel", patched(tmp_path, GUEST_ELF, [patch])], message)


@pytest.mark.parametrize("field, offset, fmt, value, message", [
    ("paddr below 1 MiB", 24, "<Q", 0x7000, "below 1 MiB"),
    ("paddr beyond RAM", 24, "<Q", 1 << 40, "does not fit in guest RAM"),
    ("memsz beyond RAM", 40, "<Q", 1 << 30, "does not fit in guest RAM"),
    ("memsz wraps", 40, "<Q", (1 << 64) - 4096, "does not fit in guest RAM"),
    ("filesz beyond file", 32, "<Q", 1 << 30, "larger in the file"),
    ("offset beyond file", 8, "<Q", 1 << 40, "beyond the end of the file"),
])
def test_corrupt_segments(tmp_path, field, offset, fmt, value, message):
    load = first_load(GUEST_ELF)
    refused(["--kernel", patched(tmp_path, GUEST_ELF, [(load + offset, fmt, value)])], message)


@pytest.mark.parametrize("offset, fmt, value, message", [
    (0x1fe, "<H", 0x1234, "not a bzImage"),
    (0x206, "<H", 0x0204, "too old"),
    (0x236, "<H", 0, "no 64-bit entry"),
    (0x211, "<B", 0, "zImage"),
    (0x260, "<I", 0xfff00000, "raise --memory"),
    (0x1f4, "<I", 0x0fffffff, "truncated"),
])
def test_corrupt_bzimage_headers(tmp_path, offset, fmt, value, message):
    path = patched(tmp_path, GUEST_BZIMAGE, [(offset, fmt, value)])
    refused(["--kernel", path], message)


def test_kernel_bigger_than_ram(tmp_path):
    load = first_load(GUEST_ELF)
    path = patched(tmp_path, GUEST_ELF, [(load + 40, "<Q", 100 << 20)])
    refused(["--kernel", path], "does not fit in guest RAM")


def test_command_line_too_long():
    refused(["--kernel", GUEST_ELF, "--cmdline", "x" * 2048], "at most 2047")
    refused(["--kernel", GUEST_BZIMAGE, "--cmdline", "x" * 5000], "at most 2047")


def test_command_line_with_control_characters():
    refused(["--kernel", GUEST_ELF, "--cmdline", "test=hello\nexit=reset"],
            "control characters")


@pytest.mark.parametrize("kind, message", [
    ("missing", "cannot open initrd"),
    ("directory", "is not a regular file"),
    ("empty", "is empty"),
    ("random", "neither a cpio archive"),
    ("elf", "neither a cpio archive"),
])
def test_bad_initrds(tmp_path, kind, message):
    path = tmp_path / "initrd"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(b"\x00\x01" + random.Random(1).randbytes(4096))
    elif kind == "elf":
        shutil.copy(GUEST_ELF, path)
    refused(["--kernel", GUEST_ELF, "--initrd", path], message)


def test_initrd_bigger_than_ram(tmp_path):
    path = tmp_path / "initrd"
    with open(path, "wb") as f:
        f.write(b"070701")
        f.truncate(80 << 20)  # sparse: no disk used
    refused(["--kernel", GUEST_ELF, "--initrd", path], "does not fit in guest RAM")


def test_hugepages_without_reserved_pages():
    with open("/proc/sys/vm/nr_hugepages") as f:
        if int(f.read()) != 0:
            pytest.skip("this host has huge pages reserved")
    refused(["--kernel", GUEST_ELF, "--hugepages"], "huge pages")


@pytest.mark.parametrize("fmt", KERNELS)
@pytest.mark.parametrize("header", [b"070701", b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd"])
def test_initrd_arrives_intact(tmp_path, fmt, header):
    data = header + random.Random(len(header)).randbytes(12 * 1024 - len(header))
    path = write(tmp_path / "initrd", data)
    r = boot_guest("initrd", kernel=KERNELS[fmt], memory=64, extra_args=["--initrd", path])
    assert r.returncode == 0 and r.passed("initrd"), r.explain()
    addr, size = (int(v, 16) for v in r.value("initrd").split(","))
    assert size == len(data)
    assert addr % 4096 == 0 and addr >= 1 << 20 and addr + size <= 64 << 20
    assert int(r.value("initrd_fnv1a"), 16) == fnv1a(data)
