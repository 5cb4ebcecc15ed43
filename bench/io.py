#!/usr/bin/python3
"""Virtio I/O side by side: ember and QEMU microvm run the test guest's
bench-blk and bench-net (tests/guest/bench_io.c: a polling driver, requests
kept in flight, the device's interrupts suppressed), alternating who goes
first, in one run; fio on the same image from the host gives the block
limit. Needs /dev/kvm, root (a tap in a network namespace of its own), fio
and qemu-system-x86_64. Prints medians and ratios and writes
bench/out/io.{json,md}.

  blk   4 KiB random reads, 32 in flight (IOPS); 128 KiB sequential reads,
        then writes, 16 in flight (MB/s); on a raw image filled with data
        (not sparse) in --dir, opened with O_DIRECT by all three: ember
        cache=none, QEMU aio=io_uring with cache.direct=on, fio
        --direct=1 --ioengine=io_uring at the same block sizes and depths
  net   frames from the guest to a tap in a private network namespace, 1514
        bytes (MB/s of frames) and 60 bytes (packets/s); the tap's receive
        counter must show every frame arrived. QEMU uses the same tap with
        vhost=off: ember's network device is in user space too

The host times each phase between the guest's "BENCH <phase> start" and
"done" lines on its serial port.

Usage: bench/io.py [--rounds N] [--disk-mib N] [--blk-ops N] [--blk-mib N]
                   [--net-frames N] [--dir DIR] [--build DIR] [--out DIR]
       bench/io.py --check   tiny counts, QEMU under TCG where there is no
                   /dev/kvm (then without ember): proves the harness runs,
                   measures nothing
"""
import argparse
import contextlib
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
MEMORY_MIB = 128
NETNS = f"ember-bench-{os.getpid()}"
TAP = "benchtap0"
MAC = "06:00:ac:10:00:02"
PHASES = {  # phase: (metric, unit of the value: per second of ops or bytes)
    "blk-randread": ("randread_iops", "ops"),
    "blk-seqread": ("seqread_mbs", "bytes"),
    "blk-seqwrite": ("seqwrite_mbs", "bytes"),
    "net-tx-1514": ("tx_mbs", "bytes"),
    "net-tx-60": ("tx_pps", "ops"),
}
QEMU_BASE = ["-M", "microvm,rtc=on,acpi=off", "-m", str(MEMORY_MIB), "-smp", "1",
             "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
             "-global", "virtio-mmio.force-legacy=false"]


def vmms(build, guest, kvm):
    """name -> function(cmdline, disk or None, tap or None) -> argv."""
    out = {}
    if kvm:
        def ember(cmdline, disk, tap):
            cmd = [str(build / "src" / "ember"), "run", "--kernel", str(guest), "--memory",
                   str(MEMORY_MIB), "--cmdline", cmdline]
            if disk:
                cmd += ["--disk", f"{disk},cache=none"]
            if tap:
                cmd += ["--net", f"tap={tap},mac={MAC}"]
            return cmd
        out["ember"] = ember
    qemu = shutil.which("qemu-system-x86_64")
    if qemu:
        def qemu_cmd(cmdline, disk, tap):
            cmd = [qemu, "-accel", "kvm" if kvm else "tcg", *QEMU_BASE, "-kernel", str(guest),
                   "-append", cmdline]
            if disk:
                cmd += ["-drive", f"id=d0,file={disk},format=raw,if=none,aio=io_uring,"
                        "cache.direct=on", "-device", "virtio-blk-device,drive=d0"]
            if tap:
                cmd += ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no,vhost=off",
                        "-device", f"virtio-net-device,netdev=n0,mac={MAC}"]
            return cmd
        out["qemu"] = qemu_cmd
    return out


def run_guest(cmd, timeout):
    """The guest's phases: {phase: (seconds, ops, bytes)}, timed on arrival of its lines."""
    err = tempfile.TemporaryFile()  # a pipe nobody reads could fill and stall the VMM
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    phases, starts, lines = {}, {}, []
    watchdog = threading.Timer(timeout, proc.kill)  # a silent hang ends too
    watchdog.start()
    try:
        for raw in iter(proc.stdout.readline, b""):
            now = time.perf_counter()
            line = raw.decode(errors="replace").strip()
            lines.append(line)
            words = line.split()
            if words[:1] == ["BENCH"] and len(words) >= 3 and words[2] == "start":
                starts[words[1]] = now
            elif words[:1] == ["BENCH"] and len(words) >= 5 and words[2] == "done":
                kv = dict(w.split("=", 1) for w in words[3:])
                phases[words[1]] = (now - starts[words[1]], int(kv["ops"]), int(kv["bytes"]))
            elif line.startswith("FAIL") or line == "DONE":
                break
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    if not any(l.startswith("PASS bench") for l in lines):
        err.seek(0)
        raise RuntimeError(f"{cmd[0]}: no PASS; console: {lines[-5:]}; stderr: "
                           f"{err.read().decode(errors='replace')[-500:]}")
    return phases


def rates(phases):
    out = {}
    for phase, (seconds, ops, nbytes) in phases.items():
        metric, unit = PHASES[phase]
        per_s = (ops if unit == "ops" else nbytes / 1e6) / seconds
        out[metric] = per_s
    return out


def make_disk(path, mib):
    """Written through, so reads touch real blocks rather than holes."""
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)
        os.fsync(f.fileno())


def fio(path, rw, bs, depth, seconds):
    """The host's own rate on the image: IOPS for 4k, MB/s otherwise."""
    out = subprocess.run(["fio", "--name=limit", f"--filename={path}", f"--rw={rw}",
                          f"--bs={bs}", f"--iodepth={depth}", "--direct=1",
                          "--ioengine=io_uring", f"--runtime={seconds}", "--time_based",
                          "--output-format=json"],
                         check=True, capture_output=True, text=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["write" if "write" in rw else "read"]
    return side["iops"] if bs == "4k" else side["bw_bytes"] / 1e6


@contextlib.contextmanager
def tap_namespace():
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        subprocess.run(["ip", "-n", NETNS, "tuntap", "add", TAP, "mode", "tap"], check=True)
        subprocess.run(["ip", "-n", NETNS, "link", "set", TAP, "up"], check=True)
        yield
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)


def tap_rx_packets():
    out = subprocess.run(["ip", "-n", NETNS, "-s", "-j", "link", "show", "dev", TAP],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["stats64"]["rx"]["packets"]


def one_round(name, cmd, disk, args, timeout):
    res = rates(run_guest(cmd(f"test=bench-blk blk_ops={args.blk_ops} blk_mib={args.blk_mib} "
                              "exit=reset", disk, None), timeout))
    before = tap_rx_packets()
    net_cmd = ["ip", "netns", "exec", NETNS,
               *cmd(f"test=bench-net net_frames={args.net_frames} exit=reset", None, TAP)]
    res.update(rates(run_guest(net_cmd, timeout)))
    arrived = tap_rx_packets() - before
    if arrived != 2 * args.net_frames:
        raise RuntimeError(f"{name}: the tap received {arrived} of {2 * args.net_frames} frames")
    return res


def run(args, kvm):
    build = pathlib.Path(args.build).resolve()
    cmds = vmms(build, build / "tests" / "guest" / "guest.elf", kvm)
    if not cmds:
        sys.exit("bench/io.py: neither ember (no /dev/kvm) nor qemu-system-x86_64 can run")
    results = {name: {} for name in cmds}
    work = pathlib.Path(tempfile.mkdtemp(prefix="ember-bench-io-", dir=args.dir))
    disk = work / "disk.img"
    try:
        make_disk(disk, args.disk_mib)
        with tap_namespace():
            names = list(cmds)
            for r in range(args.rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                for name in order:
                    for metric, v in one_round(name, cmds[name], disk, args,
                                               args.timeout).items():
                        results[name].setdefault(metric, []).append(v)
                print(f"round {r + 1}/{args.rounds} done", flush=True)
        if shutil.which("fio"):
            secs = 1 if args.check else 5
            results["fio"] = {"randread_iops": [fio(disk, "randread", "4k", 32, secs)],
                              "seqread_mbs": [fio(disk, "read", "128k", 16, secs)],
                              "seqwrite_mbs": [fio(disk, "write", "128k", 16, secs)]}
        else:
            print("fio missing (apt-get install fio): no host limit")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


ROWS = [  # metric, label, format, target against QEMU
    ("randread_iops", "blk 4 KiB random read, depth 32 (IOPS)", "{:,.0f}"),
    ("seqread_mbs", "blk 128 KiB sequential read, depth 16 (MB/s)", "{:,.0f}"),
    ("seqwrite_mbs", "blk 128 KiB sequential write, depth 16 (MB/s)", "{:,.0f}"),
    ("tx_mbs", "net guest to host, 1514-byte frames (MB/s)", "{:,.0f}"),
    ("tx_pps", "net guest to host, 60-byte frames (packets/s)", "{:,.0f}"),
]


def med(results, name, metric):
    values = results.get(name, {}).get(metric)
    return statistics.median(values) if values else None


def table(results):
    def show(fmt, v):
        return fmt.format(v) if v is not None else "n/a"

    def ratio(a, b):
        return f"{a / b:.2f}×" if a is not None and b else "n/a"

    out = ["| metric | ember | QEMU microvm | host fio | ember/QEMU | ember/fio | target |",
           "|---|---|---|---|---|---|---|"]
    for metric, label, fmt in ROWS:
        e, q, f = (med(results, n, metric) for n in ("ember", "qemu", "fio"))
        target = "≥ 1.2× QEMU" + (", IOPS ≥ 0.8× fio" if metric == "randread_iops" else "")
        out.append(f"| {label} | {show(fmt, e)} | {show(fmt, q)} | {show(fmt, f)} | "
                   f"{ratio(e, q)} | {ratio(e, f)} | {target} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--disk-mib", type=int, default=1024)
    p.add_argument("--blk-ops", type=int, default=200000)
    p.add_argument("--blk-mib", type=int, default=2048)
    p.add_argument("--net-frames", type=int, default=1000000)
    p.add_argument("--timeout", type=int, default=600, help="seconds for one VM")
    p.add_argument("--dir", default="/var/tmp", help="where the disk image goes (not tmpfs)")
    p.add_argument("--build", default=str(ROOT / "build"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
    if args.check:
        args.rounds, args.disk_mib, args.blk_ops, args.blk_mib, args.net_frames = 1, 8, 256, 4, 512
        args.timeout = 120
    elif not kvm:
        sys.exit("bench/io.py: no usable /dev/kvm here (bench/io.py --check only checks the "
                 "harness)")
    if os.geteuid() != 0:
        sys.exit("bench/io.py: needs root for its network namespace and tap")
    # SIGTERM unwinds like Ctrl-C: the namespace and the disk image go away.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/io.py: terminated"))
    results = run(args, kvm)
    md = table(results)
    meta = {"date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, "disk_mib": args.disk_mib,
            "blk_ops": args.blk_ops, "blk_mib": args.blk_mib, "net_frames": args.net_frames,
            "host": os.uname().release, "pvm": os.path.exists("/sys/module/kvm_pvm"),
            "kvm": kvm, "check": args.check}
    print(f"\n{meta}\n\n{md}")
    if args.check:
        return  # nothing measured: nothing written over the last real results
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "io.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "io.md").write_text(md + "\n")


if __name__ == "__main__":
    main()
