"""The test guest's virtio-net responder against QEMU's virtio-net-device on a
tap: the host pings the guest through it. QEMU runs with TCG inside a network
namespace the test makes, so it needs root, iproute2 and ping, but no
/dev/kvm."""
import shutil

import pytest

from emberlib import (GUEST_ELF, GUEST_IP, TAP, check_responder_run, netns_with_tap,
                      run_responder_and_ping)

QEMU = shutil.which("qemu-system-x86_64")
MAC = "06:00:ac:10:00:02"
PINGS = 3


def test_virtio_net_ping(tmp_path):
    if not QEMU:
        pytest.skip("qemu-system-x86_64 is not installed")
    with netns_with_tap() as ns:
        cmd = ["ip", "netns", "exec", ns, QEMU,
               "-M", "microvm,rtc=on,acpi=off", "-accel", "tcg", "-m", "128", "-smp", "1",
               "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
               "-no-reboot", "-global", "virtio-mmio.force-legacy=false",
               "-kernel", str(GUEST_ELF),
               "-append", f"test=virtio-net net_ip={GUEST_IP} net_pings={PINGS} exit=reset",
               "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no,vhost=off",
               "-device", f"virtio-net-device,netdev=n0,mac={MAC}"]
        r, rc, out, received = run_responder_and_ping(cmd, ns, tmp_path, PINGS)
    check_responder_run(r, rc, out, received, MAC, PINGS)
