"""Running the real ember binary against the test guest, and reading what the
guest reported on its serial port (the line formats of tests/guest)."""
import dataclasses
import os
import pathlib
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("EMBER_BUILD", ROOT / "build")).resolve()

EMBER = BUILD / "src" / "ember"
GUEST_ELF = BUILD / "tests" / "guest" / "guest.elf"
GUEST_NOPVH = BUILD / "tests" / "guest" / "guest-nopvh.elf"
GUEST_BZIMAGE = BUILD / "tests" / "guest" / "guest.bzImage"


def kvm_problem():
    """Why /dev/kvm cannot be used here, or None when it can."""
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm on this host"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not readable and writable by this user"
    return None


def is_pvm_host():
    """PVM's KVM emulates guest ring-0 code (see DESIGN.md)."""
    return os.path.exists("/sys/module/kvm_pvm")


@dataclasses.dataclass
class GuestRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self):
        return [l.rstrip("\r") for l in self.stdout.split("\n")]

    def kv(self, key):
        """Every value the guest reported for `key`, in order."""
        prefix = f"KV {key}="
        return [l[len(prefix):] for l in self.lines if l.startswith(prefix)]

    def value(self, key):
        values = self.kv(key)
        assert len(values) == 1, f"expected one {key}, got {values}\n{self.stdout}"
        return values[0]

    def passed(self, test):
        return f"PASS {test}" in self.lines

    def failures(self):
        return [l for l in self.lines if l.startswith("FAIL")]

    def explain(self):
        return (f"status {self.returncode} after {self.seconds:.2f}s\n"
                f"--- serial ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")


def run_ember(args, input=None, timeout=60):
    """Runs `ember ARGS...`; the serial console is stdout."""
    start = time.monotonic()
    proc = subprocess.run([str(EMBER), *map(str, args)], input=input, capture_output=True,
                          timeout=timeout, text=True, errors="replace")
    return GuestRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def boot_guest(tests, kernel=GUEST_ELF, cpus=1, memory=64, exit="reset", extra_cmdline="",
               extra_args=(), input=None, timeout=60):
    """Boots the test guest with `test=TESTS` and returns what happened."""
    cmdline = f"test={tests} exit={exit} {extra_cmdline}".strip()
    args = ["run", "--kernel", kernel, "--cpus", cpus, "--memory", memory,
            "--cmdline", cmdline, *extra_args]
    return run_ember(args, input=input, timeout=timeout)


# Disk images for the guest's virtio-blk test (tests/guest/README.md).
SECTOR = 512


def fnv1a(data):
    h = 0x811c9dc5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xffffffff
    return h


def written_sector(s):
    """What the guest's virtio-blk test writes to sector s."""
    data = bytearray((s * 7 + i) & 0xff for i in range(SECTOR))
    data[:16] = f"EMBER-BLK s={s}".ljust(16).encode()
    return bytes(data)


def make_disk(path, size, seed):
    """A zero image whose sectors 8..15 hold bytes the guest must read back."""
    data = bytearray(size)
    data[8 * SECTOR:16 * SECTOR] = bytes((i * 31 + seed) & 0xff for i in range(8 * SECTOR))
    path.write_bytes(bytes(data))
    return bytes(data)


def blk_image_after(before):
    """A writable disk's image after the guest's virtio-blk test."""
    return b"".join(written_sector(s) for s in range(8)) + before[8 * SECTOR:]


def check_blk_run(r, d0, d0_before, d1, d1_before):
    """What the guest's virtio-blk test must report for a writable disk d0
    (serial ember-d0) and a read-only disk d1, and what they hold after."""
    check_blk_report(r, d0_before, d1_before)
    assert d0.read_bytes() == blk_image_after(d0_before)
    assert d1.read_bytes() == d1_before


def check_blk_report(r, d0_before, d1_before):
    """What the guest must report for those two disks."""
    assert r.returncode == 0 and r.passed("virtio-blk"), r.explain()
    assert r.failures() == [] and "DONE" in r.lines
    assert r.value("blk0_capacity") == str(len(d0_before) // SECTOR)
    assert r.value("blk1_capacity") == str(len(d1_before) // SECTOR)
    assert r.value("blk0_id") == "ember-d0"
    assert r.value("blk0_ro") == "0" and r.value("blk1_ro") == "1"
    assert r.value("blk0_read_fnv1a") == f"{fnv1a(d0_before[8 * SECTOR:16 * SECTOR]):x}"
    assert r.value("blk1_read_fnv1a") == f"{fnv1a(d1_before[8 * SECTOR:16 * SECTOR]):x}"
    assert r.value("blk0_write") == "ok"
    assert r.value("blk1_ro_write") == "ioerr"
    assert r.value("blk0_past_end") == "ioerr" and r.value("blk1_past_end") == "ioerr"
    # One interrupt per request: GET_ID, read, write, flush, read-back,
    # past-end read; read-only: GET_ID, read, refused write, past-end read.
    assert r.value("blk0_irqs") == "6" and r.value("blk1_irqs") == "4", r.explain()
