#!/usr/bin/python3
"""emberd at fleet scale: its resident memory with N VMs defined (per-VM
management overhead), and, where /dev/kvm is usable, the time to start N
VMs (the test guest, test=idle, 32 MiB each) and to destroy them again,
as VMs per second. Writes bench/out/manager.{md,json}.

Usage: bench/manager.py [--vms N] [--build DIR] [--out DIR] [--no-start]
"""
import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


class Client:
    """emberd's protocol: one JSON line each way."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(str(path))
        self.f = self.s.makefile("rw")

    def call(self, cmd, **args):
        self.f.write(json.dumps({"cmd": cmd, "args": args}) + "\n")
        self.f.flush()
        reply = json.loads(self.f.readline())
        if not reply["ok"]:
            raise RuntimeError(f"{cmd}: {reply['error']}")
        return reply.get("result")


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def definition(name, guest):
    return {"name": name,
            "boot-source": {"kernel_image_path": str(guest), "boot_args": "test=idle"},
            "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}


def run(args):
    build = pathlib.Path(args.build)
    guest = build / "tests" / "guest" / "guest.elf"
    out = {"vms": args.vms}
    with tempfile.TemporaryDirectory() as d:
        work = pathlib.Path(d)
        sock = work / "d.sock"
        proc = subprocess.Popen([str(build / "src" / "emberd"), "--state-dir", str(work / "s"),
                                 "--socket", str(sock), "--foreground"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not sock.exists():
                time.sleep(0.01)
            c = Client(sock)
            before = rss_kib(proc.pid)
            for i in range(args.vms):
                c.call("define", definition=definition(f"vm{i}", guest))
            after = rss_kib(proc.pid)
            out["rss_kib_empty"] = before
            out["rss_kib_defined"] = after
            out["kib_per_defined_vm"] = (after - before) / args.vms
            if args.start:
                t = time.perf_counter()
                for i in range(args.vms):
                    c.call("start", name=f"vm{i}")
                started = time.perf_counter() - t
                out["rss_kib_running"] = rss_kib(proc.pid)
                out["kib_per_running_vm"] = (out["rss_kib_running"] - before) / args.vms
                t = time.perf_counter()
                for i in range(args.vms):
                    c.call("destroy", name=f"vm{i}")
                destroyed = time.perf_counter() - t
                out.update({"start_s": started, "vms_started_per_s": args.vms / started,
                            "destroy_s": destroyed})
        finally:
            proc.terminate()
            proc.wait()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--vms", type=int, default=50)
    p.add_argument("--build", default=str(ROOT / "build"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    p.add_argument("--no-start", dest="start", action="store_false")
    args = p.parse_args()
    if args.start and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("no /dev/kvm: measuring emberd's memory only (--no-start)", file=sys.stderr)
        args.start = False
    r = run(args)
    lines = ["| measure | value |", "|---|---|"]
    for key, label in [("rss_kib_empty", "emberd resident memory, no VM (KiB)"),
                       ("rss_kib_defined", f"with {args.vms} VMs defined (KiB)"),
                       ("kib_per_defined_vm", "per defined VM (KiB)"),
                       ("kib_per_running_vm", "per running VM, emberd's share (KiB)"),
                       ("vms_started_per_s", "VMs started per second"),
                       ("start_s", f"start {args.vms} VMs (s)"),
                       ("destroy_s", f"destroy {args.vms} VMs (s)")]:
        if key in r:
            lines.append(f"| {label} | {r[key]:,.1f} |")
    text = "\n".join(lines)
    print(text)
    outdir = pathlib.Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "manager.json").write_text(json.dumps(r, indent=1))
    (outdir / "manager.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
