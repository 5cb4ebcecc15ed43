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
