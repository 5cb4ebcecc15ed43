#!/usr/bin/python3
"""Side-by-side benchmark: ember, QEMU microvm and the floor (bench/floor.c)
run the same test guest, alternating, in one run. Prints medians and ratios
and writes bench/out/results.{json,md} and a PNG chart.

  start      process start to the guest's first serial line (test=hello)
  pio        port-I/O exits per second from a ring-3 guest loop (test=bench-pio)
  rss        resident memory of the VMM process beyond guest RAM, guest idle

Usage: bench/run.py [--rounds N] [--iters N] [--build DIR] [--out DIR]
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
MEMORY_MIB = 128


def vmm_commands(build, guest):
    qemu = shutil.which("qemu-system-x86_64")
    cmds = {
        "ember": lambda cmdline: [str(build / "src" / "ember"), "run", "--kernel", str(guest),
                                  "--memory", str(MEMORY_MIB), "--cmdline", cmdline],
        "floor": lambda cmdline: [str(build / "bench" / "floor"), str(guest), cmdline,
                                  str(MEMORY_MIB)],
    }
    if qemu:
        cmds["qemu"] = lambda cmdline: [qemu, "-M", "microvm", "-accel", "kvm", "-m",
                                        str(MEMORY_MIB), "-smp", "1", "-nodefaults",
                                        "-no-user-config", "-nographic", "-serial", "stdio",
                                        "-no-reboot", "-kernel", str(guest), "-append", cmdline]
    return cmds


class Guest:
    """A VMM process whose stdout (the guest's serial port) is read line by line."""

    def __init__(self, cmd):
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.buf = b""

    def wait_for(self, marker, timeout=120):
        """Seconds since process start when `marker` appeared on the console."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timeout waiting for {marker!r}: {self.buf[-500:]!r}")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"VMM ended before {marker!r}: {self.buf[-500:]!r}")
            self.buf += chunk
        return time.perf_counter() - self.t0

    def finish(self):
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def measure_start(cmd):
    g = Guest(cmd("test=hello exit=reset"))
    try:
        return g.wait_for(b"EMBER-GUEST")
    finally:
        g.finish()


def measure_pio(cmd, iters):
    g = Guest(cmd(f"test=bench-pio iters={iters} exit=reset"))
    try:
        start = g.wait_for(b"BENCH pio start")
        end = g.wait_for(b"BENCH pio end")
        return iters / (end - start)
    finally:
        g.finish()


def rss_beyond_guest_ram(pid):
    """KiB resident in all mappings but the guest-RAM one (the big anonymous one)."""
    total = ram = 0
    size = 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
                total += rss
                if size >= MEMORY_MIB * 1024:
                    ram += rss
    return total - ram


def measure_rss(cmd):
    g = Guest(cmd("test=idle"))
    try:
        g.wait_for(b"IDLE")
        time.sleep(0.2)  # let the VMM settle in its idle state
        return rss_beyond_guest_ram(g.proc.pid)
    finally:
        g.kill()


def run(args):
    build = pathlib.Path(args.build).resolve()
    guest = build / "tests" / "guest" / "guest.elf"
    cmds = vmm_commands(build, guest)
    results = {name: {"start_ms": [], "pio_per_s": [], "rss_kib": []} for name in cmds}
    names = list(cmds)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for name in order:
            res = results[name]
            res["start_ms"].append(measure_start(cmds[name]) * 1000)
            res["pio_per_s"].append(measure_pio(cmds[name], args.iters))
            res["rss_kib"].append(measure_rss(cmds[name]))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    return results


def med(values):
    return statistics.median(values)


def table(results):
    def ratio(a, b):
        return f"{a / b:.2f}x" if b else "n/a"

    e, f = results["ember"], results["floor"]
    q = results.get("qemu")
    rows = [
        ("start to first serial line (ms)", "start_ms", "{:.1f}", "≤ 0.15× QEMU"),
        ("PIO exits per second (ring-3 loop)", "pio_per_s", "{:,.0f}", "≥ 0.97× floor"),
        ("VMM RSS beyond guest RAM (KiB)", "rss_kib", "{:,.0f}", "≤ 2048 KiB"),
    ]
    out = ["| metric | ember | QEMU microvm | floor | ember/QEMU | ember/floor | target |",
           "|---|---|---|---|---|---|---|"]
    for label, key, fmt, target in rows:
        qv = med(q[key]) if q else None
        out.append(f"| {label} | {fmt.format(med(e[key]))} | "
                   f"{fmt.format(qv) if q else 'n/a'} | {fmt.format(med(f[key]))} | "
                   f"{ratio(med(e[key]), qv) if q else 'n/a'} | "
                   f"{ratio(med(e[key]), med(f[key]))} | {target} |")
    return "\n".join(out)


def chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (apt-get install python3-matplotlib): no chart")
        return
    keys = [("start_ms", "start to first line (ms)"), ("pio_per_s", "PIO exits/s"),
            ("rss_kib", "RSS beyond guest RAM (KiB)")]
    names = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, (key, title) in zip(axes, keys):
        ax.bar(names, [med(results[n][key]) for n in names],
               color=["#d9480f" if n == "ember" else "#868e96" for n in names])
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--iters", type=int, default=100000)
    p.add_argument("--build", default=str(ROOT / "build"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = p.parse_args()
    results = run(args)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = table(results)
    meta = {"date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, "iters": args.iters,
            "host": os.uname().release, "pvm": os.path.exists("/sys/module/kvm_pvm")}
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "results.md").write_text(md + "\n")
    chart(results, out / "results.png")
    print(f"\n{meta}\n\n{md}")


if __name__ == "__main__":
    main()
