"""ember's virtio devices with the test guest's driver: the same checks the
guest passes against QEMU's devices (test_guest_virtio_qemu.py), plus the
command line ember writes and its errors for bad disks."""
import fcntl
import os
import subprocess

import pytest

from emberlib import (EMBER, GUEST_ELF, GUEST_IP, TAP, VSOCK_PEER, boot_guest, check_blk_run,
                      check_console_run, check_hostile_run, check_responder_run, check_vsock_run,
                      make_blk_disks, make_disk, netns_with_tap, run_ember,
                      run_responder_and_ping, talk_to_virtio_console)

pytestmark = pytest.mark.usefixtures("kvm")


def test_virtio_rng():
    r = boot_guest("virtio-rng", extra_args=["--rng"])
    assert r.returncode == 0 and r.passed("virtio-rng"), r.explain()
    assert r.value("virtio_rng_bytes") == "256"
    assert r.value("virtio_rng_irqs") == "4", r.explain()
    assert r.failures() == [] and "DONE" in r.lines


@pytest.mark.parametrize("cache", ["", ",cache=none"])
def test_virtio_blk(tmp_path, cache):
    d0, d0_before, d1, d1_before = make_blk_disks(tmp_path)
    r = boot_guest("virtio-blk", extra_args=["--disk", f"{d0},serial=ember-d0{cache}",
                                             "--disk", f"{d1},readonly{cache}"])
    check_blk_run(r, d0, d0_before, d1, d1_before)


def test_virtio_net_host_pings_the_guest(tmp_path):
    mac, pings = "06:00:ac:10:00:02", 3
    with netns_with_tap() as ns:
        cmd = ["ip", "netns", "exec", ns, str(EMBER), "run", "--kernel", str(GUEST_ELF),
               "--memory", "64", "--net", f"tap={TAP},mac={mac}", "--cmdline",
               f"test=virtio-net net_ip={GUEST_IP} net_pings={pings} exit=reset"]
        r, rc, out, received = run_responder_and_ping(cmd, ns, tmp_path, pings)
    check_responder_run(r, rc, out, received, mac, pings)


def test_net_on_a_missing_tap_without_permission_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may create the tap; this checks the refusal for other users")
    r = run_ember(["run", "--kernel", GUEST_ELF, "--net", "tap=ember-nope0"], timeout=5)
    assert r.returncode == 1 and "tap 'ember-nope0'" in r.stderr, r.stderr


def vsock_guest_and_peer(vsock, peer_args):
    """Boots the test guest's vsock test with `--vsock VSOCK` next to vsock-peer."""
    peer = subprocess.Popen([str(VSOCK_PEER), *peer_args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        r = boot_guest("virtio-vsock", extra_args=["--vsock", vsock])
        out, _ = peer.communicate(timeout=70)
    finally:
        peer.kill()
    return r, peer.returncode, out


def test_virtio_vsock_talks_with_a_host_program(tmp_path):
    uds = tmp_path / "v.sock"
    check_vsock_run(*vsock_guest_and_peer(f"cid=3,uds={uds}", [str(uds)]))
    assert not uds.exists()  # ember removes its socket on the way out


def test_vhost_vsock_talks_with_a_host_program():
    if not os.path.exists("/dev/vhost-vsock"):
        pytest.skip("no /dev/vhost-vsock on this host (modprobe vhost_vsock)")
    check_vsock_run(*vsock_guest_and_peer("cid=3", ["--vsock", "3"]))


def test_vsock_without_uds_or_vhost_is_one_line():
    if os.path.exists("/dev/vhost-vsock"):
        pytest.skip("this host has /dev/vhost-vsock: the refusal cannot happen")
    r = run_ember(["run", "--kernel", GUEST_ELF, "--vsock", "cid=3"], timeout=10)
    assert r.returncode == 1, r.explain()
    assert r.stderr.strip().startswith("ember: vsock: /dev/vhost-vsock: No such file"), r.stderr
    assert "modprobe vhost_vsock" in r.stderr



def test_virtio_console_echoes(tmp_path):

    serial = tmp_path / "serial.txt"
    cmd = [str(EMBER), "run", "--kernel", str(GUEST_ELF), "--memory", "64",
           "--console", "virtio", "--serial", f"file={serial}",
           "--cmdline", "test=virtio-console console_lines=2 exit=reset"]
    r = talk_to_virtio_console(cmd, serial, tmp_path / "ember.stderr", [
        ("hello ember\n", ["ECHO hello ember"]),
        ("x" * 100 + "\n", ["ECHO " + "x" * 100]),
    ])
    check_console_run(r, ["hello ember", "x" * 100])


def test_hostile_chain_needs_reset_and_vm_goes_on():
    r = boot_guest("virtio-bad-chain,hello", extra_args=["--rng"])
    assert r.returncode == 0 and r.passed("virtio-bad-chain"), r.explain()
    assert r.value("virtio_needs_reset") == "1"
    assert r.value("virtio_config_irq") == "1"
    assert r.value("virtio_after_reset") == "ok"
    assert r.passed("hello")
    warnings = [l for l in r.stderr.splitlines() if "virtio-rng" in l]
    assert len(warnings) == 1 and "needs a reset" in warnings[0], r.stderr


def test_devices_announced_in_the_order_given(tmp_path):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    make_disk(a, 64 << 10, 0)
    make_disk(b, 64 << 10, 0)
    r = boot_guest("cmdline", extra_args=["--disk", a, "--rng", "--disk", f"{b},readonly"])
    assert r.returncode == 0, r.explain()
    assert r.value("cmdline").endswith(
        " virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"
        " virtio_mmio.device=4K@0xd0002000:7"), r.explain()


def test_missing_disk_is_one_clear_line(tmp_path):
    r = run_ember(["run", "--kernel", GUEST_ELF, "--disk", tmp_path / "nope.img"], timeout=5)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"ember: disk '{tmp_path / 'nope.img'}': No such file or directory"], r.stderr


def test_disk_in_use_is_refused(tmp_path):
    img = tmp_path / "busy.img"
    make_disk(img, 64 << 10, 0)
    with open(img, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        r = run_ember(["run", "--kernel", GUEST_ELF, "--disk", img], timeout=5)
    assert r.returncode == 1
    assert "in use by another process" in r.stderr, r.stderr


def test_directory_as_disk_is_refused(tmp_path):
    r = run_ember(["run", "--kernel", GUEST_ELF, "--disk", tmp_path], timeout=5)
    assert r.returncode == 1 and "ember: disk" in r.stderr, r.stderr


def test_too_many_devices(tmp_path):
    args = ["run", "--kernel", GUEST_ELF, "--rng"]
    for i in range(9):
        img = tmp_path / f"{i}.img"
        make_disk(img, 64 << 10, 0)
        args += ["--disk", img]
    r = run_ember(args, timeout=5)
    assert r.returncode == 1
    assert "10 virtio devices given; this machine has room for 9" in r.stderr, r.stderr
    assert os.path.exists(tmp_path / "0.img")


def test_hostile_guest(tmp_path):
    h0 = make_disk(tmp_path / "h0.img", 64 << 10, 4)
    h1 = make_disk(tmp_path / "h1.img", 64 << 10, 5)
    with netns_with_tap() as ns:
        r = boot_guest("hostile,hello", prefix=["ip", "netns", "exec", ns],
                       extra_args=["--rng", "--disk", tmp_path / "h0.img",
                                   "--disk", f"{tmp_path / 'h1.img'},readonly",
                                   "--net", f"tap={TAP}",
                                   "--vsock", f"cid=3,uds={tmp_path / 'h.vsock'}"])
    check_hostile_run(r)
    assert (tmp_path / "h0.img").read_bytes() == h0  # only reads reached them
    assert (tmp_path / "h1.img").read_bytes() == h1
