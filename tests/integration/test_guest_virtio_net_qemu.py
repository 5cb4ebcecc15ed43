"""The test guest's virtio-net responder against QEMU's virtio-net-device on a
tap: the host pings the guest through it. QEMU runs with TCG inside a network
namespace the test makes, so it needs root, iproute2 and ping, but no
/dev/kvm."""
import json
import shutil
import subprocess

import pytest

from emberlib import (GUEST_ELF, GUEST_IP, TAP, check_responder_run, netns_with_tap,
                      run_responder_and_ping)

QEMU = shutil.which("qemu-system-x86_64")
MAC = "06:00:ac:10:00:02"
PINGS = 3


def qemu_on_tap(ns, cmdline):
    """QEMU microvm (TCG) in namespace `ns`, the test guest's virtio-net on its tap."""
    if not QEMU:
        pytest.skip("qemu-system-x86_64 is not installed")
    return ["ip", "netns", "exec", ns, QEMU,
            "-M", "microvm,rtc=on,acpi=off", "-accel", "tcg", "-m", "128", "-smp", "1",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-no-reboot", "-global", "virtio-mmio.force-legacy=false",
            "-kernel", str(GUEST_ELF), "-append", cmdline,
            "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no,vhost=off",
            "-device", f"virtio-net-device,netdev=n0,mac={MAC}"]


def test_virtio_net_ping(tmp_path):
    with netns_with_tap() as ns:
        cmd = qemu_on_tap(ns, f"test=virtio-net net_ip={GUEST_IP} net_pings={PINGS} exit=reset")
        r, rc, out, received = run_responder_and_ping(cmd, ns, tmp_path, PINGS)
    check_responder_run(r, rc, out, received, MAC, PINGS)


def tap_rx_packets(ns):
    out = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", TAP],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["stats64"]["rx"]["packets"]


def test_bench_net_frames_reach_the_tap():
    """bench/io.py's network phases: every frame the guest sends arrives."""
    with netns_with_tap() as ns:
        cmd = qemu_on_tap(ns, "test=bench-net net_frames=2000 exit=reset")
        before = tap_rx_packets(ns)
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60,
                              stdin=subprocess.DEVNULL)
        arrived = tap_rx_packets(ns) - before
    assert proc.returncode == 0 and "PASS bench-net" in proc.stdout, proc.stdout + proc.stderr
    assert "BENCH net-tx-1514 done ops=2000 bytes=3028000" in proc.stdout
    assert "BENCH net-tx-60 done ops=2000 bytes=120000" in proc.stdout
    assert arrived == 4000, arrived
