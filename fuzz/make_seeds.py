#!/usr/bin/env python3
"""Writes the binary seed inputs of the fuzz targets into OUTDIR/<target>/:
virtio-vsock packet lists and virtqueue rings built the way a driver would,
and the test guest's kernel images from the build (BUILD, default build)."""
import os
import pathlib
import shutil
import struct
import sys


def record(data, segs=1):
    """A harness record: 2-byte length, segment count - 1, the bytes (virtio_harness.h)."""
    return struct.pack("<HB", len(data), segs - 1) + data


def vsock_packet(op, src_port, dst_port, payload=b"", dst_cid=2, src_cid=3, flags=0,
                 buf_alloc=65536, fwd_cnt=0):
    hdr = struct.pack("<QQIIIHHIII", src_cid, dst_cid, src_port, dst_port, len(payload), 1, op,
                      flags, buf_alloc, fwd_cnt)
    return record(hdr + payload)


def vsock_seeds():
    connect = vsock_packet(1, 1000, 1)  # REQUEST to the listening host port 1
    talk = vsock_packet(5, 1000, 1, b"hello host\n")
    credit = vsock_packet(7, 1000, 1)
    shut = vsock_packet(4, 1000, 1, flags=3)
    rst = vsock_packet(3, 1000, 1)
    return {
        "connect-talk-close": bytes([16]) + connect + talk + credit + shut,
        "refused": bytes([4]) + vsock_packet(1, 7, 9) + vsock_packet(5, 7, 9, b"x"),
        "reset": bytes([8]) + connect + rst + talk,
        "no-buffers": bytes([0]) + connect + talk,
        "other-cid": bytes([2]) + vsock_packet(1, 5, 6, dst_cid=9),
    }


def virtqueue_seed(size, chains, indirect_at=None):
    """Settings byte, then RAM: descriptors at 0, avail ring at 0x1000, used at 0x2000."""
    ram = bytearray(0x3000)
    heads, i = [], 0
    for n in chains:
        heads.append(i)
        for k in range(n):
            flags = (1 if k < n - 1 else 0) | (2 if k == n - 1 else 0)
            struct.pack_into("<QIHH", ram, 16 * i, 0x8000 + 0x100 * i, 64, flags, i + 1)
            i += 1
    struct.pack_into("<HH", ram, 0x1000, 0, len(heads))
    for j, h in enumerate(heads):
        struct.pack_into("<H", ram, 0x1004 + 2 * j, h)
    log2 = size.bit_length() - 2  # size = 2 << (settings & 7)
    return bytes([log2 | 0x18]) + bytes(ram)


def net_seeds():
    header = bytes(12)  # virtio_net_hdr_v1, no offloads
    frame = bytes.fromhex("ffffffffffff060000000001") + b"\x08\x06" + bytes(46)
    out = record(header + frame, 2) + record(header + frame)
    back = record(header + frame)
    return {"out-only": bytes([8]) + out,
            "out-and-in": bytes([8]) + out + b"\0\0" + back + back,
            "merged-in": bytes([0x80 | 4]) + b"\0\0" + record(header + bytes(3000))}


def console_seeds():
    return {"lines": bytes([4]) + record(b"hello\n") + record(b"two segments\n", 2),
            "no-buffers": bytes([0]) + record(b"x" * 200, 3)}


def snapshot_seeds():
    """Snapshot bodies (fuzz_snapshot wraps them in a valid header): records of a VM."""
    def rec(tag, inst, data):
        return struct.pack("<IIQ", int.from_bytes(tag, "little"), inst, len(data)) + data \
            + b"\0" * (-len(data) % 8)
    desc = (b'{"kernel":"/k","initrd":null,"cmdline":"console=ttyS0","cpus":2,"mem_mib":64,'
            b'"hugepages":false,"serial":0,"serial_given":false,"serial_path":null,'
            b'"console_virtio":false,"track_dirty_pages":true,"devices":[{"kind":0,"id":"rootfs",'
            b'"path":"/r","root":true,"readonly":false,"direct":false,"serial":null,"bw":0,'
            b'"ops":0},{"kind":2,"id":"eth0","tap":"tap0","mac":"06:00:00:00:00:01","bw":0,'
            b'"ops":0},{"kind":4,"id":null,"cid":3,"uds":"/v.sock"},{"kind":1,"id":null}]}')
    body = rec(b"CONF", 0, desc) + rec(b"RAMS", 0, struct.pack("<Q", 64 << 20)) \
        + rec(b"REGS", 0, bytes(144))
    return {"vm": bytes([0]) + body, "empty": bytes([0])}


def main():
    out = pathlib.Path(sys.argv[1])
    build = pathlib.Path(os.environ.get("BUILD", "build"))
    seeds = {"vsock": vsock_seeds(), "net": net_seeds(), "console": console_seeds(),
             "snapshot": snapshot_seeds(),
             "virtqueue": {"two-chains": virtqueue_seed(16, [1, 3]),
                           "full-ring": virtqueue_seed(8, [1] * 8)}}
    for target, files in seeds.items():
        (out / target).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / target / name).write_bytes(data)
    (out / "kernel").mkdir(parents=True, exist_ok=True)
    for image in ["guest.elf", "guest-nopvh.elf", "guest.bzImage"]:
        src = build / "tests" / "guest" / image
        if src.exists():
            shutil.copy(src, out / "kernel" / image)


main()
