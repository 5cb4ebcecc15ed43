#!/usr/bin/python3
"""Snapshots, restores and live migration, ember and QEMU side by side in one
run, on the test guest with 256 MiB of RAM. Needs /dev/kvm. Prints medians
and ratios and writes bench/out/lifecycle.{json,md}.

  snapshot    time to write a paused, idle guest's snapshot (ember: PUT
              /snapshot/create; QEMU: `migrate` to a file), and the files' size
              on disk (allocated blocks: both skip nothing / ember skips zero pages)
  restore     process start to the guest running again from that snapshot
              (ember: PUT /snapshot/load with resume_vm; QEMU: -incoming from
              the file, then `cont`); for ember also the load request alone
  migrate     total time and downtime of a live migration over a Unix socket
              between two processes on this host, an idle guest (test=idle)
              and a busy one (test=memhog: 32 MiB rewritten over and over);
              QEMU's own figures come from query-migrate

Usage: bench/lifecycle.py [--rounds N] [--build DIR] [--out DIR]
"""
import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from emberlib import UnixHTTPConnection, unix_listening  # noqa: E402

MEMORY_MIB = 256


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512


# --- ember ---------------------------------------------------------------------


class Ember:
    def __init__(self, build, work, name):
        self.sock = work / f"{name}.sock"
        self.out = open(work / f"{name}.out", "w+")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([str(build / "src" / "ember"), "--api-sock", str(self.sock)],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        wait_for(self.listening, what="ember's API socket")

    def listening(self):
        return unix_listening(self.sock)

    def call(self, method, path, body=None):
        conn = UnixHTTPConnection(self.sock)
        conn.request(method, path, body=json.dumps(body) if body is not None else None)
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {text!r}")
        return json.loads(text) if text else None

    def boot(self, guest, test):
        self.call("PUT", "/boot-source", {"kernel_image_path": str(guest),
                                          "boot_args": f"test={test}"})
        self.call("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEMORY_MIB})
        self.call("PUT", "/actions", {"action_type": "InstanceStart"})
        marker = "IDLE" if test == "idle" else "READY"
        wait_for(lambda: marker in pathlib.Path(self.out.name).read_text(), what=marker)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.out.close()


def ember_snapshot_restore(build, guest, work):
    snap, mem = work / "e.snap", work / "e.mem"
    src = Ember(build, work, "src")
    try:
        src.boot(guest, "idle")
        src.call("PATCH", "/vm", {"state": "Paused"})
        t = time.perf_counter()
        src.call("PUT", "/snapshot/create", {"snapshot_path": str(snap), "mem_file_path": str(mem)})
        snapshot_ms = (time.perf_counter() - t) * 1000
    finally:
        src.close()
    dst = Ember(build, work, "dst")
    try:
        t = time.perf_counter()
        dst.call("PUT", "/snapshot/load", {"snapshot_path": str(snap), "resume_vm": True,
                                           "mem_backend": {"backend_type": "File",
                                                           "backend_path": str(mem)}})
        now = time.perf_counter()
        load_ms, restore_ms = (now - t) * 1000, (now - dst.t0) * 1000
    finally:
        dst.close()
    size = allocated_bytes(snap) + allocated_bytes(mem)
    return {"snapshot_ms": snapshot_ms, "restore_ms": restore_ms, "load_ms": load_ms,
            "snapshot_bytes": size}


def ember_migrate(build, guest, work, test):
    src, dst = Ember(build, work, "msrc"), Ember(build, work, "mdst")
    url = f"unix:{work / 'mig.sock'}"
    try:
        src.boot(guest, test)
        recv = threading.Thread(target=dst.call, args=("PUT", "/ember/migration/receive",
                                                       {"url": url}))
        recv.start()
        wait_for(lambda: (work / "mig.sock").exists(), what="the receiver")
        stats = src.call("PUT", "/ember/migration/send", {"url": url})
        recv.join()
        return {"total_ms": stats["total_ms"], "downtime_ms": stats["downtime_ms"]}
    finally:
        src.close()
        dst.close()


# --- QEMU ----------------------------------------------------------------------


class Qemu:
    def __init__(self, work, name, guest, test, extra=()):
        self.qmp_path = work / f"{name}.qmp"
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [shutil.which("qemu-system-x86_64"), "-M", "microvm", "-accel", "kvm",
             "-m", str(MEMORY_MIB), "-smp", "1", "-nodefaults", "-no-user-config",
             "-nographic", "-serial", "file:" + str(work / f"{name}.out"), "-no-reboot",
             "-kernel", str(guest), "-append", f"test={test}",
             "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.qmp_path.exists, what="QEMU's QMP socket")
        self.s = socket.socket(socket.AF_UNIX)
        wait_for(self._connect, what="QMP")
        self.f = self.s.makefile("rw")
        self.f.readline()  # greeting
        self.cmd("qmp_capabilities")

    def _connect(self):
        try:
            self.s.connect(str(self.qmp_path))
            return True
        except OSError:
            return False

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            reply = json.loads(self.f.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error']}")

    def status(self):
        return self.cmd("query-status")["status"]

    def migration_done(self):
        info = self.cmd("query-migrate")
        if info.get("status") == "failed":
            raise RuntimeError(f"QEMU migration failed: {info}")
        return info if info.get("status") == "completed" else None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.s.close()


def qemu_snapshot_restore(guest, work):
    path = work / "q.state"
    src = Qemu(work, "qsrc", guest, "idle")
    try:
        wait_for(lambda: "IDLE" in (work / "qsrc.out").read_text(), what="IDLE")
        src.cmd("stop")
        t = time.perf_counter()
        src.cmd("migrate", uri=f"exec:cat > {path}")
        wait_for(src.migration_done, what="QEMU's snapshot")
        snapshot_ms = (time.perf_counter() - t) * 1000
    finally:
        src.close()
    dst = Qemu(work, "qdst", guest, "idle", ["-incoming", f"exec:cat {path}"])
    try:
        wait_for(lambda: dst.status() == "paused", what="QEMU's incoming state")
        dst.cmd("cont")
        wait_for(lambda: dst.status() == "running", what="QEMU running")
        restore_ms = (time.perf_counter() - dst.t0) * 1000
    finally:
        dst.close()
    return {"snapshot_ms": snapshot_ms, "restore_ms": restore_ms,
            "snapshot_bytes": allocated_bytes(path)}


def qemu_migrate(guest, work, test):
    sock = work / "qmig.sock"
    dst = Qemu(work, "qmdst", guest, test, ["-incoming", f"unix:{sock}"])
    src = Qemu(work, "qmsrc", guest, test)
    try:
        marker = "IDLE" if test == "idle" else "READY"
        wait_for(lambda: marker in (work / "qmsrc.out").read_text(), what=marker)
        src.cmd("migrate", uri=f"unix:{sock}")
        wait_for(src.migration_done, timeout=120, what="QEMU's migration")
        info = src.migration_done()
        return {"total_ms": info["total-time"], "downtime_ms": info["downtime"]}
    finally:
        src.close()
        dst.close()


# --- the run -------------------------------------------------------------------


def one_round(build, guest, with_qemu):
    out = {}
    with tempfile.TemporaryDirectory() as d:
        work = pathlib.Path(d)
        out["ember"] = ember_snapshot_restore(build, guest, work)
        for test in ("idle", "memhog"):
            out["ember"].update({f"{test}_{k}": v for k, v in
                                 ember_migrate(build, guest, work, test).items()})
        if with_qemu:
            out["qemu"] = qemu_snapshot_restore(guest, work)
            for test in ("idle", "memhog"):
                out["qemu"].update({f"{test}_{k}": v for k, v in
                                    qemu_migrate(guest, work, test).items()})
    return out


ROWS = [("snapshot_ms", "snapshot of a paused idle guest (ms)"),
        ("snapshot_bytes", "snapshot files, allocated (bytes)"),
        ("restore_ms", "process start to running from the snapshot (ms)"),
        ("load_ms", "ember: the load request alone (ms)"),
        ("idle_total_ms", "migration, idle guest: total (ms)"),
        ("idle_downtime_ms", "migration, idle guest: downtime (ms)"),
        ("memhog_total_ms", "migration, busy guest: total (ms)"),
        ("memhog_downtime_ms", "migration, busy guest: downtime (ms)")]


def table(rounds):
    def med(vmm, key):
        values = [r[vmm][key] for r in rounds if vmm in r and key in r[vmm]]
        return statistics.median(values) if values else None

    lines = ["| measure | ember | QEMU | ember/QEMU |", "|---|---|---|---|"]
    for key, label in ROWS:
        e, q = med("ember", key), med("qemu", key)
        ratio = f"{e / q:.2f}x" if e is not None and q else "-"
        lines.append(f"| {label} | {e:,.1f} | {q:,.1f} | {ratio} |" if q is not None
                     else f"| {label} | {e:,.1f} | - | - |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--build", default=str(ROOT / "build"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = p.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("bench/lifecycle.py: needs /dev/kvm")
    build = pathlib.Path(args.build)
    guest = build / "tests" / "guest" / "guest.elf"
    with_qemu = shutil.which("qemu-system-x86_64") is not None
    rounds = [one_round(build, guest, with_qemu) for _ in range(args.rounds)]
    text = table(rounds)
    print(text)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "lifecycle.json").write_text(json.dumps(rounds, indent=1))
    (out / "lifecycle.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
