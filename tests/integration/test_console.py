"""The serial console: input from stdin reaches the guest's UART (with its
interrupt), and on a terminal ember runs raw, obeys Ctrl-A x and restores
the terminal afterwards."""
import os
import pty
import select
import subprocess
import termios
import time

import pytest

from emberlib import EMBER, GUEST_ELF

pytestmark = pytest.mark.usefixtures("kvm")


def read_until(fd_or_file, marker, timeout=30):
    """Reads from a pipe or a pty master until `marker` appears."""
    fd = fd_or_file if isinstance(fd_or_file, int) else fd_or_file.fileno()
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {marker!r} within {timeout}s; got {out!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # a pty whose other side closed
            chunk = b""
        if not chunk:
            raise AssertionError(f"end of output before {marker!r}; got {out!r}")
        out += chunk
    return out


def start(args, **kw):
    return subprocess.Popen([str(EMBER), "run", "--kernel", str(GUEST_ELF), "--memory", "64",
                             *args], **kw)


def test_echo_through_the_uart_interrupt():
    proc = start(["--cmdline", "test=echo exit=poweroff"], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = read_until(proc.stdout, b"READY echo")
        proc.stdin.write(b"hello world\n")
        proc.stdin.flush()
        # The guest now waits in HLT, so what follows must come by interrupt; and
        # it is more than the 16-byte FIFO at once: ember must hold back, not drop.
        out += read_until(proc.stdout, b"ECHO hello world")
        long_line = "0123456789abcdef" * 8
        proc.stdin.write(f"{long_line}\nquit\n".encode())
        proc.stdin.flush()
        out = (out + read_until(proc.stdout, b"DONE")).decode()

        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    lines = [l.rstrip("\r") for l in out.split("\n")]
    assert "ECHO hello world" in lines
    assert f"ECHO {long_line}" in lines
    assert "PASS echo" in lines
    irqs = [int(l.split("=")[1]) for l in lines if l.startswith("KV echo_irqs=")]
    assert irqs and irqs[0] > 0, out


def test_stdin_at_end_of_file_leaves_the_guest_running():
    proc = start(["--cmdline", "test=echo exit=poweroff"], stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(proc.stdout, b"READY echo")
        time.sleep(0.2)
        assert proc.poll() is None
        proc.terminate()
        assert proc.wait(timeout=10) == 143
    finally:
        proc.kill()
        proc.wait()


def test_regular_file_as_stdin(tmp_path):
    """A file cannot be polled; ember feeds it as the UART drains."""
    data = tmp_path / "input"
    data.write_text("".join(f"line {i}\n" for i in range(20)) + "quit\n")
    with open(data, "rb") as stdin:
        proc = start(["--cmdline", "test=echo exit=poweroff"], stdin=stdin,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"PASS echo" in out
    # Bytes that arrive before the guest enables its FIFO may be lost, as on a
    # real 16550; everything after that must arrive in order.
    assert b"ECHO line 19" in out


class Pty:
    def __init__(self):
        self.master, self.slave = pty.openpty()

    def close(self):
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def tty():
    t = Pty()
    yield t
    t.close()


def test_raw_mode_ctrl_a_x_and_restore(tty):
    before = termios.tcgetattr(tty.slave)
    proc = start(["--cmdline", "test=idle"], stdin=tty.slave, stdout=tty.slave,
                 stderr=subprocess.PIPE)
    try:
        read_until(tty.master, b"IDLE")
        during = termios.tcgetattr(tty.slave)
        lflag = during[3]
        assert not lflag & termios.ICANON and not lflag & termios.ECHO
        assert not lflag & termios.ISIG  # Ctrl-C goes to the guest
        os.write(tty.master, b"\x01h")
        assert b"Ctrl-A x" in proc.stderr.read1(4096)
        os.write(tty.master, b"\x03\x01x")  # Ctrl-C does nothing to ember; Ctrl-A x quits
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert termios.tcgetattr(tty.slave) == before


def test_terminal_restored_after_guest_error(tty):
    before = termios.tcgetattr(tty.slave)
    proc = start(["--cmdline", "test=emulation-failure"], stdin=tty.slave, stdout=tty.slave,
                 stderr=subprocess.PIPE)
    assert proc.wait(timeout=30) == 1
    assert b"emulation failure" in proc.stderr.read()
    assert termios.tcgetattr(tty.slave) == before


def test_terminal_restored_after_sigterm(tty):
    before = termios.tcgetattr(tty.slave)
    proc = start(["--cmdline", "test=idle"], stdin=tty.slave, stdout=tty.slave,
                 stderr=subprocess.PIPE)
    try:
        read_until(tty.master, b"IDLE")
        proc.terminate()
        assert proc.wait(timeout=10) == 143
    finally:
        proc.kill()
        proc.wait()
    assert termios.tcgetattr(tty.slave) == before
