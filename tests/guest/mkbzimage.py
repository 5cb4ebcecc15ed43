#!/usr/bin/env python3
"""Wraps the test guest's flat image in a Linux bzImage.

Usage: mkbzimage.py FLAT.bin IMAGE.elf OUT.bzImage

FLAT.bin is `objcopy -O binary` of IMAGE.elf (the guest linked at 1 MiB
without its PVH note); IMAGE.elf gives the image's extent including .bss.
The result is a real-mode part of 1 + setup_sects sectors, all zeros except
the setup header, followed by FLAT.bin. Nothing in the real-mode part runs:
a VMM using the 64-bit boot protocol loads the payload at 1 MiB and enters
it at offset 0x200. Field offsets and meanings: the Linux kernel's
Documentation/arch/x86/boot.rst ("THE REAL-MODE KERNEL HEADER", protocol 2.15).
"""
import struct
import sys

LOAD_ADDR = 0x100000
ENTRY64_OFFSET = 0x200
SETUP_SECTS = 1
SECTOR = 512
HEADER_END = 0x26C  # first byte after kernel_info_offset (protocol 2.15)
PAGE = 4096

LOADED_HIGH = 0x01
XLF_KERNEL_64 = 0x0001


def elf_extent(elf):
    """Lowest load address and end of memory (p_paddr + p_memsz) of PT_LOAD."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        sys.exit("mkbzimage: not an ELF64 file")
    entry, phoff = struct.unpack_from("<QQ", elf, 0x18)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    start, end = None, 0
    for i in range(phnum):
        p_type, _, _, _, p_paddr, _, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", elf, phoff + i * phentsize)
        if p_type == 1 and p_memsz:  # PT_LOAD
            start = p_paddr if start is None else min(start, p_paddr)
            end = max(end, p_paddr + p_memsz)
    if start is None:
        sys.exit("mkbzimage: ELF has no loadable segment")
    return entry, start, end


def kernel_info(offset, size_total):
    """The 2.15 kernel_info block: "LToP", size, size_total, setup_type_max."""
    return b"LToP" + struct.pack("<III", 16, size_total, 0)


def setup_header(syssize, init_size, kernel_info_offset):
    """The first 1 + SETUP_SECTS sectors, zeros except the setup header."""
    s = bytearray((1 + SETUP_SECTS) * SECTOR)

    def put(fmt, off, *v):
        struct.pack_into("<" + fmt, s, off, *v)

    put("B", 0x1F1, SETUP_SECTS)          # setup_sects
    put("I", 0x1F4, syssize)              # syssize, 16-byte units
    put("H", 0x1FA, 0xFFFF)               # vid_mode: NORMAL_VGA
    put("H", 0x1FE, 0xAA55)               # boot_flag
    put("BB", 0x200, 0xEB, HEADER_END - 0x202)  # jmp over the header: its length
    s[0x202:0x206] = b"HdrS"              # header
    put("H", 0x206, 0x020F)               # version 2.15
    put("B", 0x210, 0)                    # type_of_loader (the loader writes it)
    put("B", 0x211, LOADED_HIGH)          # loadflags: protected-mode code at 1 MiB
    put("I", 0x214, LOAD_ADDR)            # code32_start
    put("I", 0x22C, 0x7FFFFFFF)           # initrd_addr_max
    put("I", 0x230, 0x200000)             # kernel_alignment
    put("B", 0x234, 0)                    # relocatable_kernel: no
    put("B", 0x235, 21)                   # min_alignment: 2^21, as kernel_alignment
    put("H", 0x236, XLF_KERNEL_64)        # xloadflags: 64-bit entry at 0x200
    put("I", 0x238, 2047)                 # cmdline_size
    put("Q", 0x258, LOAD_ADDR)            # pref_address
    put("I", 0x260, init_size)            # init_size
    put("I", 0x264, 0)                    # handover_offset: no EFI handover
    put("I", 0x268, kernel_info_offset)   # kernel_info_offset
    return bytes(s)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2])
    flat = open(sys.argv[1], "rb").read()
    elf = open(sys.argv[2], "rb").read()
    entry, start, end = elf_extent(elf)
    if start != LOAD_ADDR:
        sys.exit(f"mkbzimage: image starts at {start:#x}, not {LOAD_ADDR:#x}")
    if entry != LOAD_ADDR + ENTRY64_OFFSET:
        sys.exit(f"mkbzimage: ELF entry {entry:#x} is not load address + 0x200")
    if len(flat) <= ENTRY64_OFFSET or flat[ENTRY64_OFFSET] not in (0xE9, 0xEB):
        sys.exit("mkbzimage: no jump at offset 0x200 of the flat image")

    # kernel_info goes after the image, 16-byte aligned; it lands in memory
    # the guest's .bss later reuses, which is fine: loaders read it first.
    payload = bytearray(flat)
    payload += bytes(-len(payload) % 16)
    info_offset = len(payload)
    payload += kernel_info(info_offset, 16)
    payload += bytes(-len(payload) % 16)

    init_size = max(end - LOAD_ADDR, len(payload))
    init_size = (init_size + PAGE - 1) // PAGE * PAGE
    header = setup_header(len(payload) // 16, init_size, info_offset)
    with open(sys.argv[3], "wb") as out:
        out.write(header)
        out.write(payload)


if __name__ == "__main__":
    main()
