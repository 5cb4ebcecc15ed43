"""The test guest's virtio-console test against QEMU's virtio-serial-device
with a virtconsole on port 0: QEMU's stdin and stdout are the virtio console,
COM1 goes to a file. QEMU runs with TCG, so no /dev/kvm is needed."""
import shutil

import pytest

from emberlib import CONSOLE_READY, GUEST_ELF, check_console_run, talk_to_virtio_console

QEMU = shutil.which("qemu-system-x86_64")
LONG = "".join(chr(ord("a") + i % 26) for i in range(100))  # two 64-byte receive buffers
MAX = "M" * 120  # the longest line the guest takes


def run_qemu(tmp_path, exchanges, cmdline="", devices=None, ready=CONSOLE_READY):
    if not QEMU:
        pytest.skip("qemu-system-x86_64 is not installed")
    if devices is None:
        devices = ["-device", "virtio-serial-device", "-device", "virtconsole,chardev=c0"]
    serial = tmp_path / "serial.txt"
    # -display none, not -nographic: nothing but the virtconsole may use stdio.
    cmd = [QEMU, "-M", "microvm,rtc=on,acpi=off", "-accel", "tcg", "-m", "128", "-smp", "1",
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
           "-serial", f"file:{serial}", "-global", "virtio-mmio.force-legacy=false",
           "-chardev", "stdio,id=c0,signal=off", *devices,
           "-kernel", str(GUEST_ELF),
           "-append", " ".join(w for w in ("test=virtio-console", cmdline, "exit=reset") if w)]
    return talk_to_virtio_console(cmd, serial, tmp_path / "qemu.stderr", exchanges, ready=ready)


# The default console_lines=1, with the ring features QEMU offers by default
# and without them.
@pytest.mark.parametrize("ring_features", ["", ",indirect_desc=off,event_idx=off"])
def test_virtio_console_echo(tmp_path, ring_features):
    r = run_qemu(tmp_path, [("hello ember\n", ["ECHO hello ember"])],
                 devices=["-device", f"virtio-serial-device{ring_features}",
                          "-device", "virtconsole,chardev=c0"])
    check_console_run(r, ["hello ember"])


# A line across two receive buffers; "\r\n" as one line end; two lines in
# one write; the longest line; an empty line is skipped.
def test_virtio_console_lines(tmp_path):
    r = run_qemu(tmp_path, [
        ("hello ember\n", ["ECHO hello ember"]),
        (f"{LONG}\r\nthird\n\n", [f"ECHO {LONG}", "ECHO third"]),
        (f"{MAX}\r", [f"ECHO {MAX}"]),
    ], cmdline="console_lines=4")
    check_console_run(r, ["hello ember", LONG, "third", MAX])


def test_virtio_console_line_too_long(tmp_path):
    r = run_qemu(tmp_path, [("x" * 121 + "\n", [])], cmdline="console_lines=1")
    assert r.returncode == 0 and "DONE" in r.lines, r.explain()
    assert r.failures() == ["FAIL virtio-console: a line longer than 120 bytes (0 of 1 lines)"], \
        r.explain()
    assert r.kv("console_line") == [] and r.console_lines == [CONSOLE_READY], r.explain()


def test_virtio_console_missing_device(tmp_path):
    r = run_qemu(tmp_path, [], devices=[], ready=None)
    assert r.returncode == 0 and "DONE" in r.lines, r.explain()
    assert r.failures() == ["FAIL virtio-console: no virtio-console device"], r.explain()
    assert r.console_lines == [], r.explain()
