"""Running the real ember binary against the test guest, and reading what the
guest reported on its serial port (the line formats of tests/guest)."""
import contextlib
import dataclasses
import os
import pathlib
import shutil
import subprocess
import threading
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


def run_ember(args, input=None, timeout=60, prefix=()):
    """Runs `ember ARGS...` (behind PREFIX, such as `ip netns exec NS`); the serial console
    is stdout."""
    start = time.monotonic()
    proc = subprocess.run([*prefix, str(EMBER), *map(str, args)], input=input,
                          capture_output=True, timeout=timeout, text=True, errors="replace")
    return GuestRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def boot_guest(tests, kernel=GUEST_ELF, cpus=1, memory=64, exit="reset", extra_cmdline="",
               extra_args=(), input=None, timeout=60, prefix=()):
    """Boots the test guest with `test=TESTS` and returns what happened."""
    cmdline = f"test={tests} exit={exit} {extra_cmdline}".strip()
    args = ["run", "--kernel", kernel, "--cpus", cpus, "--memory", memory,
            "--cmdline", cmdline, *extra_args]
    return run_ember(args, input=input, timeout=timeout, prefix=prefix)


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


def make_blk_disks(tmp_path):
    """The two images the guest's virtio-blk test expects: d0 (1 MiB, to be
    written) and d1 (512 KiB, to be attached read-only), with their bytes."""
    d0, d1 = tmp_path / "d0.img", tmp_path / "d1.img"
    return d0, make_disk(d0, 1 << 20, seed=1), d1, make_disk(d1, 512 << 10, seed=2)


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


# A tap device in a network namespace of its own, for the guest's virtio-net
# test: the host side has HOST_IP/24 on TAP, the guest answers on GUEST_IP.
TAP = "tap0"
HOST_IP = "10.0.0.1"
GUEST_IP = "10.0.0.2"


def netns_problem():
    """Why a network namespace with a tap device cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (a network namespace and a tap device)"
    for tool in ("ip", "ping"):
        if not shutil.which(tool):
            return f"{tool} is not installed (iproute2, iputils-ping)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


@contextlib.contextmanager
def netns_with_tap(name_prefix="ember-t"):
    """Yields the name of a fresh network namespace (NAME_PREFIX + pid) holding
    a tap device TAP, up, with HOST_IP/24; the namespace is deleted on exit.
    Run the VMM inside it with `ip netns exec NAME ...`. Skips the test when
    the host cannot do this."""
    import pytest  # here only: emberlib is imported outside pytest too

    problem = netns_problem()
    if problem:
        pytest.skip(problem)
    name = f"{name_prefix}{os.getpid()}"
    # Left over from an earlier run of this process id: start clean.
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    add = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if add.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {add.stderr.strip()}")
    try:
        steps = [
            ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
            ["ip", "addr", "add", f"{HOST_IP}/24", "dev", TAP],
            ["ip", "link", "set", TAP, "up"],
            ["ip", "link", "set", "lo", "up"],
        ]
        for step in steps:
            r = subprocess.run(["ip", "netns", "exec", name, *step], capture_output=True,
                               text=True)
            if r.returncode != 0:
                pytest.skip(f"cannot set up {TAP} in a network namespace: "
                            f"{' '.join(step)}: {r.stderr.strip()}")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def ping_in(netns, address, count=3, wait=5, timeout=60):
    """`ping -c COUNT -W WAIT ADDRESS` in the namespace: (return code, output,
    replies received)."""
    r = subprocess.run(["ip", "netns", "exec", netns, "ping", "-c", str(count), "-W", str(wait),
                        address], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    received = 0
    for line in out.splitlines():
        # iputils: "3 packets transmitted, 3 received, 0% packet loss, time 2003ms"
        if "packets transmitted" in line:
            received = int(line.split(",")[1].split()[0])
    return r.returncode, out, received

class SerialReader:
    """Collects a process's stdout lines in a thread; wait_for() a line."""

    def __init__(self, proc):
        self.lines = []
        self._cond = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def wait_for(self, want, timeout, start=0):
        """True once `want` was a line (at index `start` or later); False at
        the timeout or end of output."""
        with self._cond:
            return self._cond.wait_for(lambda: want in self.lines[start:] or self._done,
                                       timeout) and want in self.lines[start:]

    def index(self, want, start=0):
        """Where `want` first is a line at index `start` or later (it must be)."""
        with self._cond:
            return self.lines.index(want, start)

    def text(self):
        self._thread.join(5)
        with self._cond:
            return "\n".join(self.lines) + "\n"


def run_responder_and_ping(cmd, ns, tmp_path, pings):
    """Starts `cmd` (a VMM in namespace `ns` booting the guest's virtio-net
    test), pings the guest once it is READY, and waits for the VMM to end.
    Returns (GuestRun, ping status, ping output, replies received)."""
    import pytest  # here only: emberlib is imported outside pytest too

    stderr_path = tmp_path / "vmm.stderr"
    start = time.monotonic()
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, errors="replace")
    serial = SerialReader(proc)

    def run(returncode=None):
        return GuestRun(returncode, serial.text(), stderr_path.read_text(errors="replace"),
                        time.monotonic() - start)

    try:
        if not serial.wait_for("READY virtio-net", 60):
            proc.kill()
            pytest.fail("no READY virtio-net\n" + run(proc.wait()).explain())
        rc, out, received = ping_in(ns, GUEST_IP, count=pings, wait=5)
        # The guest exits once it has sent `pings` echo replies, or after 30 s.
        try:
            returncode = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the VMM did not exit\n" + run(proc.wait()).explain())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    r = run(returncode)
    return r, rc, out, received


def check_responder_run(r, rc, out, received, mac, pings):
    """What the host and the guest's virtio-net test must both see."""
    assert rc == 0 and received == pings, f"ping: status {rc}\n{out}\n{r.explain()}"
    assert r.returncode == 0 and r.passed("virtio-net"), r.explain()
    assert r.failures() == [] and "DONE" in r.lines, r.explain()
    assert r.value("net_mac") == mac
    assert r.value("net_ip") == GUEST_IP
    assert int(r.value("net_echo_replies")) >= pings, r.explain()
    assert int(r.value("net_arp_replies")) >= 1, r.explain()
    assert int(r.value("net_rx_frames")) >= pings + 1, r.explain()


# The guest's virtio-console test (tests/guest/README.md): the VMM's stdin and
# stdout are the virtio console, COM1 goes to a file.
CONSOLE_READY = "READY virtio-console"


@dataclasses.dataclass
class ConsoleRun(GuestRun):
    """A GuestRun whose `stdout` is COM1 (read from its file), plus what the
    guest wrote on its virtio console."""
    console: str = ""

    @property
    def console_lines(self):
        return self.console.splitlines()

    def explain(self):
        return f"{super().explain()}\n--- virtio console ---\n{self.console}"


def talk_to_virtio_console(cmd, serial_path, stderr_path, exchanges, ready=CONSOLE_READY,
                           timeout=60):
    """Starts `cmd`, a VMM whose stdin and stdout are the guest's virtio
    console and whose COM1 goes to the file `serial_path` (its stderr to
    `stderr_path`). Waits for the line `ready` on the console (None: does
    not), then for each (text, replies) of `exchanges` writes `text` to the
    console and waits for each line of `replies` on it, in order; then waits
    for the VMM to exit. Waits at most `timeout` seconds for each line and
    for the exit; on a timeout or an early end the VMM is killed and the test
    fails. Returns a ConsoleRun."""
    import pytest  # here only: emberlib is imported outside pytest too

    start = time.monotonic()
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, errors="replace")
    console = SerialReader(proc)

    def run(returncode):
        serial = serial_path.read_text(errors="replace") if serial_path.exists() else ""
        console.text()  # the reader has seen the end of the output
        return ConsoleRun(returncode, serial, stderr_path.read_text(errors="replace"),
                          time.monotonic() - start, "".join(f"{l}\n" for l in console.lines))

    def fail(why):
        proc.kill()
        pytest.fail(f"{why}\n{run(proc.wait()).explain()}")

    try:
        pos = 0
        if ready is not None:
            if not console.wait_for(ready, timeout):
                fail(f"no {ready!r} on the virtio console")
            pos = console.index(ready) + 1
        for text, replies in exchanges:
            try:
                proc.stdin.write(text)
                proc.stdin.flush()
            except OSError as e:
                fail(f"writing {text!r} to the virtio console: {e}")
            for want in replies:
                if not console.wait_for(want, timeout, start=pos):
                    fail(f"no {want!r} on the virtio console after writing {text!r}")
                pos = console.index(want, pos) + 1
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            fail("the VMM did not exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            proc.stdin.close()
        except OSError:
            pass
    return run(returncode)


def check_console_run(r, lines):
    """What the guest's virtio-console test must show after echoing `lines`."""
    assert r.returncode == 0 and r.passed("virtio-console"), r.explain()
    assert r.failures() == [] and "DONE" in r.lines, r.explain()
    assert r.kv("console_line") == lines, r.explain()
    assert r.console_lines == [CONSOLE_READY, *(f"ECHO {l}" for l in lines)], r.explain()
    assert int(r.value("console_irqs")) >= 1, r.explain()
    assert int(r.value("console_offered"), 16) & 1 << 32, r.explain()  # VERSION_1


# virtio-vsock: the host side of the guest's test (tests/tools/vsock_peer.c).
VSOCK_PEER = BUILD / "tests" / "tools" / "vsock-peer"
API_CALL = BUILD / "tests" / "tools" / "api-call"
VSOCK_PEER_LINES = ["peer: guest said ECHO hello from the host",
                    "peer: guest called with hello from the guest", "peer: guest hung up"]


def check_vsock_run(r, peer_rc, peer_out):
    """What the guest's virtio-vsock test and vsock-peer must show after their talk."""
    assert r.returncode == 0 and r.passed("virtio-vsock"), r.explain() + "\n--- peer ---\n" + peer_out
    assert r.value("vsock_cid") == "3", r.explain()
    assert r.value("vsock_from_host") == "hello from the host", r.explain()
    assert r.value("vsock_from_host_service") == "welcome", r.explain()
    assert peer_rc == 0, peer_out
    lines = [l for l in peer_out.splitlines() if not l.startswith("peer: connected")]
    assert lines == VSOCK_PEER_LINES, peer_out


# The Firecracker-compatible API: ember --api-sock, driven over its Unix socket
# with http.client, the way Firecracker's own integration tests drive it.
import http.client
import json
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = str(path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def unix_listening(path):
    """Whether a process accepts connections on the Unix socket `path`."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


class EmberAPI:
    """An `ember --api-sock` process and requests to it."""

    def __init__(self, tmp_path, extra=(), sock=None):
        self.sock = sock or tmp_path / "api.sock"
        self.out = open(tmp_path / "ember.out", "w+")
        self.err = open(tmp_path / "ember.err", "w+")
        self.proc = subprocess.Popen([str(EMBER), "--api-sock", str(self.sock), *extra],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=self.err)
        deadline = time.monotonic() + 10
        while self.proc.poll() is None and not self.listening():
            assert time.monotonic() < deadline, "the API socket never took connections"
            time.sleep(0.01)

    def listening(self):
        return unix_listening(self.sock)

    def request(self, method, path, body=None, raw=None):
        """(status, parsed JSON body or None)"""
        conn = UnixHTTPConnection(self.sock)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        return resp.status, json.loads(text) if text else None

    def put(self, path, body):
        return self.request("PUT", path, body)

    def patch(self, path, body):
        return self.request("PATCH", path, body)

    def get(self, path):
        return self.request("GET", path)

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.close()

    def output(self):
        self.out.seek(0)
        self.err.seek(0)
        return self.out.read(), self.err.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def run(self):
        """The process's outcome as a GuestRun (stdout is the serial console)."""
        out, err = self.output()
        return GuestRun(self.proc.returncode, out, err, 0.0)


# The test guest's hostile test (tests/guest/hostile.c).
HOSTILE_CASES = ["outside_ram", "after_outside_ram", "wraps_around", "huge_length",
                 "after_huge_length", "queue_size_3", "queue_size_over_max", "queue_size_0",
                 "early_notify", "after_early_notify", "config_out_of_range", "notify_flood",
                 "after_notify_flood", "reset_in_flight", "readonly_write", "net_reset_in_flight",
                 "vsock_reset_in_flight", "i8042_flood", "cmos_flood", "canary"]


def check_hostile_run(r):
    """Every case ended well, ember ran on to the guest's own exit, and logged the breakage."""
    assert r.returncode == 0 and r.passed("hostile") and r.passed("hello"), r.explain()
    for case in HOSTILE_CASES:
        assert r.value(f"hostile_{case}") == "ok", r.explain()
    flood = [l for l in r.lines if l.startswith("FLOOD ")]
    assert flood == ["FLOOD " + "." * 65536], r.explain()
    assert "virtio-rng:" in r.stderr and "the device needs a reset" in r.stderr
    assert r.stderr.count("\n") < 20, r.stderr  # one line per device, not per case
