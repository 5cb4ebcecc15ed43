"""ember's Firecracker-compatible API (ember --api-sock), over its Unix
socket with http.client: the socket's rules, pre-boot configuration, every
kind of bad request, and (where this host has /dev/kvm) booting, pausing and
resuming the test guest through it."""
import json
import os
import pathlib
import re
import signal
import socket
import stat
import subprocess
import struct
import time
import zlib

import pytest

from emberlib import EMBER, GUEST_ELF, EmberAPI, kvm_problem, run_ember

USAGE = 2


@pytest.fixture
def api(tmp_path):
    a = EmberAPI(tmp_path, extra=["--id", "vm-under-test"])
    yield a
    a.close()


def test_socket_is_private_and_goes_away_on_sigterm(api):
    assert stat.S_IMODE(os.stat(api.sock).st_mode) == 0o600
    api.proc.send_signal(signal.SIGTERM)
    assert api.wait(10) == 128 + signal.SIGTERM
    assert not api.sock.exists()


def test_instance_info(api):
    assert api.get("/") == (200, {"id": "vm-under-test", "state": "Not started",
                                  "vmm_version": api.get("/version")[1]["firecracker_version"],
                                  "app_name": "ember"})


def test_stale_socket_is_replaced_live_one_refused(tmp_path):
    sock = tmp_path / "api.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()  # the file stays, nobody listens: stale
    a = EmberAPI(tmp_path, sock=sock)
    try:
        assert a.get("/")[0] == 200
        r = run_ember(["--api-sock", sock], timeout=10)
        assert r.returncode == 1
        assert r.stderr.strip() == (f"ember: API socket '{sock}': another process listens on it")
        assert a.get("/")[0] == 200  # the first one is untouched
    finally:
        a.close()


def test_console_socket_is_private_served_before_boot_and_removed(tmp_path):
    """--console-sock (an ember extension): made before the API socket, mode 0600, a client
    taken even before the VM starts, the newest client kept; gone when ember ends."""
    con = tmp_path / "console.sock"
    a = EmberAPI(tmp_path, extra=["--console-sock", str(con)])
    try:
        assert stat.S_ISSOCK(con.stat().st_mode) and stat.S_IMODE(con.stat().st_mode) == 0o600
        first, second = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
        first.connect(str(con))
        first.settimeout(10)
        second.connect(str(con))
        assert first.recv(16) == b""  # the second client took the console over
        assert a.get("/")[0] == 200
        r = run_ember(["--api-sock", tmp_path / "other.sock", "--console-sock", con], timeout=10)
        assert r.returncode == 1 and r.stderr.strip() == (
            f"ember: console socket '{con}': another process listens on it"), r.stderr
        first.close()
        second.close()
        a.proc.send_signal(signal.SIGTERM)
        assert a.wait(10) == 128 + signal.SIGTERM
        assert not con.exists()
    finally:
        a.close()


def test_console_socket_path_must_be_usable(tmp_path):
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    for args in (["--api-sock", tmp_path / "api.sock"], ["run", "--kernel", GUEST_ELF]):
        r = run_ember([*args, "--console-sock", path], timeout=10)
        assert r.returncode == 1 and \
            f"console socket '{path}': exists and is not a socket" in r.stderr, r.stderr
        assert path.read_text() == "keep me"
        assert not (tmp_path / "api.sock").exists()
    r = run_ember(["--api-sock", tmp_path / "api.sock", "--console-sock"], timeout=10)
    assert r.returncode == USAGE and "needs a value" in r.stderr


def test_a_file_at_the_socket_path_is_refused(tmp_path):
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    r = run_ember(["--api-sock", path], timeout=10)
    assert r.returncode == 1 and "exists and is not a socket" in r.stderr
    assert path.read_text() == "keep me"


@pytest.mark.parametrize("args, message", [
    ([], "--api-sock PATH is needed"),
    (["--no-api"], "--no-api needs --config-file"),
    (["--api-sock"], "needs a value"),
    (["--api-sock", "/tmp/x", "--bogus"], "unknown option '--bogus'"),
    (["--api-sock", "/tmp/x", "--id", "x" * 65], "--id must be 1 to 64"),
])
def test_bad_flags(args, message):
    r = run_ember(["--id", "a", *args] if not args else args, timeout=10)
    assert r.returncode == USAGE, r.explain()
    assert message in r.stderr


def test_pre_boot_configuration_and_vm_config(api, tmp_path):
    kernel, disk = str(GUEST_ELF), str(tmp_path / "root.img")
    assert api.put("/boot-source", {"kernel_image_path": kernel,
                                    "boot_args": "console=ttyS0"}) == (204, None)
    assert api.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 256, "smt": False,
                                       "track_dirty_pages": True}) == (204, None)
    assert api.patch("/machine-config", {"mem_size_mib": 512}) == (204, None)
    assert api.put("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": disk,
                                      "is_root_device": True, "is_read_only": False}) == (204, None)
    assert api.put("/network-interfaces/net1", {"iface_id": "net1", "host_dev_name": "tap0",
                                                "guest_mac": "06:00:AC:10:00:02"}) == (204, None)
    assert api.put("/vsock", {"guest_cid": 3, "uds_path": str(tmp_path / "v.sock")}) == (204, None)
    assert api.put("/entropy", {}) == (204, None)
    status, cfg = api.get("/vm/config")
    assert status == 200
    assert cfg["boot-source"] == {"kernel_image_path": kernel, "initrd_path": None,
                                  "boot_args": "console=ttyS0"}
    assert cfg["machine-config"] == {"vcpu_count": 2, "mem_size_mib": 512, "smt": False,
                                     "track_dirty_pages": True, "huge_pages": "None"}
    assert [d["drive_id"] for d in cfg["drives"]] == ["rootfs"]
    assert cfg["network-interfaces"][0]["guest_mac"] == "06:00:ac:10:00:02"
    assert cfg["vsock"]["guest_cid"] == 3 and cfg["entropy"] == {}
    assert api.get("/machine-config")[1]["mem_size_mib"] == 512


BAD = [
    ("PUT", "/boot-source", "{", 400, "malformed JSON"),
    ("PUT", "/boot-source", "", 400, "the body is empty"),
    ("PUT", "/boot-source", '{"kernel_image_path": "k", "extra": 1}', 400, "unknown field 'extra'"),
    ("PUT", "/boot-source", '{"kernel_image_path": ["k"]}', 400, "must be a string"),
    ("PUT", "/machine-config", '{"vcpu_count": 1}', 400, "'mem_size_mib' is required"),
    ("PUT", "/machine-config", '{"vcpu_count": 9999, "mem_size_mib": 64}', 400, "vcpu_count"),
    ("PUT", "/drives/a%2Fb", "{}", 400, "Invalid request method and/or path"),
    ("GET", "/nowhere", None, 400, "Invalid request method and/or path: GET /nowhere"),
    ("DELETE", "/boot-source", None, 400, "Invalid request method and/or path"),
    ("PUT", "/actions", '{"action_type": "InstanceStart"}', 400, "no boot source"),
    ("PATCH", "/vm", '{"state": "Paused"}', 400, "not running"),
    ("PUT", "/ember/power-button", "{}", 400, "not running"),
    ("PUT", "/snapshot/load", "{}", 400, "'snapshot_path' is required"),
    ("PUT", "/snapshot/create", '{"snapshot_path": "/s", "mem_file_path": "/m"}', 400,
     "must be paused"),
    ("PUT", "/actions", '{"action_type": "FlushMetrics"}', 400, "metrics are not configured"),
    ("PUT", "/metrics", '{"metrics_path": "/nonexistent/m"}', 400, "No such file"),
    ("PUT", "/logger", '{"log_path": "/nonexistent/log"}', 400, "No such file"),
    ("PUT", "/boot-source", '{"kernel_image_path": "' + "k" * 70000 + '"}', 413, "larger than"),
    ("PUT", "/boot-source", '{"a":' * 100 + "1" + "}" * 100, 400, "malformed JSON"),
]


@pytest.mark.parametrize("method, path, body, status, fault", BAD)
def test_bad_requests_get_a_fault_message(api, method, path, body, status, fault):
    got, reply = api.request(method, path, raw=body)
    assert got == status, reply
    assert fault in reply["fault_message"], reply
    assert api.get("/")[0] == 200  # and ember serves on


def raw_exchange(api, data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(api.sock))
    s.sendall(data)
    s.settimeout(10)
    reply = s.recv(4096)
    s.close()
    return reply


def seccomp_modes(pid):
    """Thread name -> Seccomp mode (0 none, 2 filter) for each thread of `pid`."""
    modes = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        mode = [l.split()[1] for l in status.splitlines() if l.startswith("Seccomp:")][0]
        modes[f"{(task / 'comm').read_text().strip()}/{task.name}"] = int(mode)
    return modes


def test_the_api_thread_filters_itself(api):
    assert api.get("/")[0] == 200
    modes = seccomp_modes(api.proc.pid)
    # The API thread is filtered; the main thread gets its filter once a VM runs.
    assert sorted(modes.values()) == [0, 2], modes


def test_seccomp_can_be_relaxed_for_debugging(tmp_path):
    a = EmberAPI(tmp_path, extra=["--seccomp-level", "0"])
    try:
        assert a.get("/")[0] == 200
        assert set(seccomp_modes(a.proc.pid).values()) == {0}
    finally:
        a.close()
    r = run_ember(["--api-sock", tmp_path / "x.sock", "--seccomp-level", "3"], timeout=10)
    assert r.returncode == USAGE and "--seccomp-level must be 0, 1 or 2" in r.stderr


def test_http_garbage_and_idle_clients_do_not_stop_it(api):
    # Idle clients and one stuck in a half-sent binary request hold no one up.
    idle = [socket.socket(socket.AF_UNIX) for _ in range(5)]
    for s in idle:
        s.connect(str(api.sock))
    idle[0].sendall(b"\x00\xff NOT HTTP AT ALL\r\n")
    assert api.get("/")[0] == 200
    # A line that is no request is dropped; impossible lengths and chunking are refused.
    assert raw_exchange(api, b"GARBAGE\r\n\r\n") == b""
    assert raw_exchange(api, b"PUT /vm HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 99999999999999999999\r\n\r\n").startswith(
                            b"HTTP/1.1 413")
    assert raw_exchange(api, b"PUT /vm HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                        b"\r\n\r\nzz\r\n").startswith(b"HTTP/1.1 400")
    for s in idle:
        s.close()
    assert api.get("/")[0] == 200 and api.proc.poll() is None


@pytest.mark.skipif(os.path.exists("/dev/kvm"), reason="this host has /dev/kvm")
def test_instance_start_without_kvm_is_a_clean_refusal(api):
    api.put("/boot-source", {"kernel_image_path": str(GUEST_ELF)})
    status, reply = api.put("/actions", {"action_type": "InstanceStart"})
    assert status == 400 and "/dev/kvm" in reply["fault_message"]
    assert api.get("/")[1]["state"] == "Not started"


def test_run_with_an_api_socket(tmp_path):
    sock = tmp_path / "api.sock"
    proc = subprocess.Popen([str(EMBER), "run", "--kernel", str(GUEST_ELF), "--memory", "64",
                             "--cmdline", "test=ticker ticks=30 exit=poweroff",
                             "--api-sock", str(sock)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    if kvm_problem():
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 1 and "/dev/kvm" in err, err
    else:
        api = EmberAPI.__new__(EmberAPI)
        api.sock = sock
        deadline = time.monotonic() + 10
        while not api.listening():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        assert api.get("/")[1]["state"] == "Running"
        assert api.patch("/vm", {"state": "Paused"}) == (204, None)
        assert api.patch("/vm", {"state": "Resumed"}) == (204, None)
        assert api.put("/boot-source", {"kernel_image_path": "k"})[0] == 400
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "PASS ticker" in out, err
    assert not sock.exists()


def metrics_lines(path):
    return [json.loads(l) for l in path.read_text().splitlines()]


def test_metrics_lines_carry_what_changed(api, tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("")
    assert api.put("/metrics", {"metrics_path": str(path)}) == (204, None)
    assert api.put("/metrics", {"metrics_path": str(path)})[0] == 400  # once only
    api.get("/")
    api.get("/nowhere")
    assert api.put("/actions", {"action_type": "FlushMetrics"}) == (204, None)
    assert api.put("/actions", {"action_type": "FlushMetrics"}) == (204, None)
    api.proc.send_signal(signal.SIGTERM)
    assert api.wait(10) == 128 + signal.SIGTERM
    first, second, last = metrics_lines(path)
    # Counts since the previous line; the faults include the second PUT /metrics.
    assert first["api_server"] == {"requests": 5, "faults": 2}, first
    assert second["api_server"] == {"requests": 1, "faults": 0}, second
    assert last["api_server"] == {"requests": 0, "faults": 0}  # written at the end
    assert set(first) == {"utc_timestamp_ms", "vcpu", "block", "net", "vsock", "api_server",
                          "virtio"}
    assert first["utc_timestamp_ms"] <= second["utc_timestamp_ms"] <= last["utc_timestamp_ms"]


def test_metrics_path_flag(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("")
    a = EmberAPI(tmp_path, extra=["--metrics-path", str(path)])
    try:
        assert a.put("/actions", {"action_type": "FlushMetrics"}) == (204, None)
        assert metrics_lines(path)[0]["api_server"]["requests"] == 1
    finally:
        a.close()
    r = run_ember(["--api-sock", tmp_path / "y.sock", "--metrics-path", tmp_path / "none"],
                  timeout=10)
    assert r.returncode == 1 and "--metrics-path" in r.stderr and "No such file" in r.stderr


def test_log_file_lines_name_time_thread_level_and_module(api, tmp_path):
    log = tmp_path / "ember.log"
    log.write_text("")
    assert api.put("/logger", {"log_path": str(log), "level": "Info"}) == (204, None)
    api.get("/nowhere")
    lines = log.read_text().splitlines()
    assert lines, "nothing logged"
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z "
                         r"\[vm-under-test:api\] INFO api: ")
    assert all(pattern.match(l) for l in lines), lines
    assert lines[-1].endswith("Invalid request method and/or path: GET /nowhere")


def test_config_file_errors_are_one_line(tmp_path):
    cfg = tmp_path / "vm.json"
    for text, message in [("{", "malformed JSON"), ('{"drives": []}', "'boot-source' is required"),
                          ('{"boot-source": {"kernel_image_path": "k"}, "balloon": {}}',
                           "'balloon' is not supported")]:
        cfg.write_text(text)
        r = run_ember(["--no-api", "--config-file", cfg], timeout=10)
        assert r.returncode == 1, r.explain()
        assert r.stderr.startswith(f"ember: config file '{cfg}': ") and message in r.stderr
        assert r.stderr.count("\n") == 1


# --- snapshot files ----------------------------------------------------------


def tag(name):
    return int.from_bytes(name.encode(), "little")


def snapshot_image(records, version=1, arch=1):
    """An ember snapshot file (src/snapshot/snapfile.h) holding `records`."""
    body = b""
    for name, inst, data in records:
        body += struct.pack("<IIQ", tag(name), inst, len(data)) + data
        body += b"\0" * (-len(data) % 8)
    head = b"EMBERSNP" + struct.pack("<IIQI", version, arch, len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


DESCRIPTION = {"kernel": str(GUEST_ELF), "initrd": None, "cmdline": "test=ticker", "cpus": 1,
               "mem_mib": 64, "hugepages": False, "serial": 0, "serial_given": False,
               "serial_path": None, "console_virtio": False, "track_dirty_pages": False,
               "devices": []}


def with_description(desc=None):
    return [("CONF", 0, json.dumps(desc or DESCRIPTION).encode())]


def damaged(image, offset, xor=0x01):
    b = bytearray(image)
    b[offset] ^= xor
    return bytes(b)


GOOD = snapshot_image(with_description())
CORRUPT_SNAPSHOTS = [
    ("missing", None, "No such file"),
    ("empty", b"", "too short"),
    ("text", b"not a snapshot at all, just some text" * 3, "bad magic"),
    ("version", snapshot_image(with_description(), version=7), "format version 7"),
    ("arch", snapshot_image(with_description(), arch=2), "another architecture"),
    ("header", damaged(GOOD, 9), "header checksum"),
    ("body", damaged(GOOD, len(GOOD) - 12), "checksum mismatch"),
    ("truncated", GOOD[:-8], "announced"),
    ("no-description", snapshot_image([("RAMS", 0, bytes(8))]), "no VM description"),
    ("bad-description", snapshot_image(with_description({**DESCRIPTION, "cpus": "one"})),
     "'cpus' must be an integer"),
    ("no-memory-file", GOOD, "memory file"),
]


@pytest.mark.parametrize("name, image, message", CORRUPT_SNAPSHOTS,
                         ids=[c[0] for c in CORRUPT_SNAPSHOTS])
def test_corrupt_snapshots_are_refused(api, tmp_path, name, image, message):
    path = tmp_path / "vm.snap"
    if image is not None:
        path.write_bytes(image)
    status, reply = api.put("/snapshot/load", {"snapshot_path": str(path),
                                               "mem_backend": {"backend_type": "File",
                                                               "backend_path": str(tmp_path / "m")},
                                               "resume_vm": True})
    assert status == 400 and message in reply["fault_message"], reply
    # Nothing changed: ember still waits for a configuration or another snapshot.
    assert api.get("/")[1]["state"] == "Not started"
    assert api.get("/vm/config")[1]["boot-source"] is None
    assert api.put("/boot-source", {"kernel_image_path": str(GUEST_ELF)}) == (204, None)


NET_Eth0 = {"kind": 2, "id": "eth0", "tap": "tap-old", "mac": "06:00:ac:10:00:02", "bw": 0,
            "ops": 0}
VSOCK_UDS = {"kind": 4, "id": "v", "cid": 3, "uds": "/tmp/old.vsock"}
VSOCK_VHOST = {"kind": 4, "id": "v", "cid": 3}


@pytest.mark.parametrize("devices, overrides, message", [
    ([NET_Eth0], {"network_overrides": [{"iface_id": "eth9", "host_dev_name": "tap-new"}]},
     "network_overrides: the VM has no interface 'eth9'"),
    ([NET_Eth0], {"network_overrides": [{"iface_id": "eth0", "host_dev_name": "x" * 16}]},
     "host_dev_name must be 1 to 15 characters"),
    ([NET_Eth0], {"network_overrides": [{"iface_id": "eth0"}]}, "'host_dev_name' is required"),
    ([NET_Eth0], {"network_overrides": ["eth0"]}, "network_overrides"),
    ([NET_Eth0], {"network_overrides": [{"iface_id": "eth0", "host_dev_name": "t"}] * 17},
     "at most 16 entries"),
    ([NET_Eth0], {"vsock_override": {"uds_path": "/tmp/new.vsock"}},
     "vsock_override: the VM has no vsock device"),
    ([VSOCK_VHOST], {"vsock_override": {"uds_path": "/tmp/new.vsock"}},
     "the kernel's vhost-vsock, which has no socket path"),
    ([VSOCK_UDS], {"vsock_override": {}}, "'uds_path' is required"),
    ([VSOCK_UDS], {"vsock_override": {"uds_path": "/" + "x" * 200}}, "uds_path must be 1 to 96"),
])
def test_bad_snapshot_load_overrides(api, tmp_path, devices, overrides, message):
    """Firecracker's network_overrides and vsock_override on a snapshot load, refused with
    the reason when they do not fit the snapshot; ember stays ready for another try."""
    path = tmp_path / "vm.snap"
    path.write_bytes(snapshot_image(with_description({**DESCRIPTION, "devices": devices})))
    (tmp_path / "m").write_bytes(bytes(64 << 20))
    status, reply = api.put("/snapshot/load", {
        "snapshot_path": str(path), "mem_backend": {"backend_type": "File",
                                                    "backend_path": str(tmp_path / "m")},
        **overrides})
    assert status == 400 and message in reply["fault_message"], reply
    assert api.get("/")[1]["state"] == "Not started"


@pytest.mark.skipif(os.path.exists("/dev/kvm"), reason="this host has /dev/kvm")
def test_fitting_snapshot_load_overrides_are_taken(api, tmp_path):
    """Overrides that fit go through to building the VM (which needs /dev/kvm here)."""
    path = tmp_path / "vm.snap"
    path.write_bytes(snapshot_image(with_description({**DESCRIPTION,
                                                      "devices": [NET_Eth0, VSOCK_UDS]})))
    (tmp_path / "m").write_bytes(bytes(64 << 20))
    status, reply = api.put("/snapshot/load", {
        "snapshot_path": str(path), "mem_backend": {"backend_type": "File",
                                                    "backend_path": str(tmp_path / "m")},
        "network_overrides": [{"iface_id": "eth0", "host_dev_name": "tap-new"}],
        "vsock_override": {"uds_path": str(tmp_path / "new.vsock")}})
    assert status == 400 and "/dev/kvm" in reply["fault_message"], reply


# --- with a VM (needs /dev/kvm) ---------------------------------------------


def boot_through_api(api, tests, extra_cmdline=""):
    assert api.put("/boot-source", {"kernel_image_path": str(GUEST_ELF),
                                    "boot_args": f"test={tests} {extra_cmdline}"}) == (204, None)
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
    assert api.put("/actions", {"action_type": "InstanceStart"}) == (204, None)


def wait_for_line(api, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out, _ = api.output()
        if text in out:
            return out
        time.sleep(0.05)
    raise AssertionError(f"no '{text}' in:\n{api.output()[0]}")


def ticks(out):
    return [int(l.split()[1]) for l in out.replace("\r", "").split("\n") if l.startswith("TICK ")]


@pytest.mark.usefixtures("kvm")
def test_getting_started_boots_the_test_guest(api):
    boot_through_api(api, "hello,cmdline", "exit=poweroff")
    assert api.wait(30) == 0
    r = api.run()
    assert r.passed("hello") and "DONE" in r.lines, r.explain()
    assert r.value("cmdline").startswith("test=hello,cmdline exit=poweroff"), r.explain()


@pytest.mark.usefixtures("kvm")
def test_pause_stops_the_guest_and_resume_goes_on(api):
    boot_through_api(api, "ticker", "ticks=40 exit=poweroff")
    wait_for_line(api, "TICK 3")
    assert api.patch("/vm", {"state": "Paused"}) == (204, None)
    assert api.get("/")[1]["state"] == "Paused"
    before = ticks(api.output()[0])
    time.sleep(1.0)
    assert ticks(api.output()[0]) == before  # not a tick while paused
    assert api.patch("/vm", {"state": "Resumed"}) == (204, None)
    wait_for_line(api, f"TICK {before[-1] + 2}")
    assert api.wait(30) == 0
    seen = ticks(api.run().stdout)
    assert seen == list(range(1, 41)), seen  # no reset, nothing lost


@pytest.mark.usefixtures("kvm")
def test_send_ctrl_alt_del_reaches_the_keyboard(api):
    boot_through_api(api, "ctrl-alt-del", "exit=poweroff")
    wait_for_line(api, "READY ctrl-alt-del")
    assert api.put("/actions", {"action_type": "SendCtrlAltDel"}) == (204, None)
    assert api.wait(30) == 0
    r = api.run()
    assert r.passed("ctrl-alt-del") and r.value("kbd") == "1d,38,e0,53,e0,d3,b8,9d", r.explain()


@pytest.mark.usefixtures("kvm")
def test_power_button_reaches_the_guest(api):
    boot_through_api(api, "power-button", "exit=poweroff")
    wait_for_line(api, "READY power-button")
    assert api.put("/ember/power-button", {}) == (204, None)
    assert api.wait(30) == 0
    r = api.run()
    assert r.passed("power-button") and r.value("pwrbtn_irqs") == "1", r.explain()


@pytest.mark.usefixtures("kvm")
def test_config_file_boots_without_an_api(tmp_path):
    cfg = tmp_path / "vm.json"
    cfg.write_text(json.dumps({
        "boot-source": {"kernel_image_path": str(GUEST_ELF),
                        "boot_args": "test=hello exit=poweroff"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}))
    r = run_ember(["--no-api", "--config-file", cfg], timeout=60)
    assert r.returncode == 0 and r.passed("hello"), r.explain()


def snapshot_paths(tmp_path):
    return {"snapshot_path": str(tmp_path / "vm.snap"), "mem_file_path": str(tmp_path / "vm.mem")}


@pytest.mark.usefixtures("kvm")
def test_snapshot_restores_into_a_new_process(tmp_path):
    (tmp_path / "a").mkdir()
    first = EmberAPI(tmp_path / "a")
    try:
        boot_through_api(first, "ticker", "ticks=40 exit=poweroff")
        wait_for_line(first, "TICK 5")
        files = snapshot_paths(tmp_path)
        status, reply = first.put("/snapshot/create", files)
        assert status == 400 and "must be paused" in reply["fault_message"]
        assert first.patch("/vm", {"state": "Paused"}) == (204, None)
        assert first.put("/snapshot/create", {"snapshot_type": "Full", **files}) == (204, None)
        before = ticks(first.output()[0])
    finally:
        first.close()
    for f in files.values():
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    (tmp_path / "b").mkdir()
    second = EmberAPI(tmp_path / "b")
    try:
        assert second.put("/snapshot/load", {
            "snapshot_path": files["snapshot_path"],
            "mem_backend": {"backend_type": "File", "backend_path": files["mem_file_path"]},
            "resume_vm": True}) == (204, None)
        assert second.get("/")[1]["state"] == "Running"
        assert second.get("/vm/config")[1]["machine-config"]["mem_size_mib"] == 64
        assert second.wait(60) == 0
        r = second.run()
    finally:
        second.close()
    after = ticks(r.stdout)
    assert r.passed("ticker") and "READY" not in r.stdout, r.explain()  # not booted again
    assert after == list(range(before[-1] + 1, 41)), (before, after)  # no reset, none lost


@pytest.mark.usefixtures("kvm")
def test_snapshot_loaded_paused_waits_for_resume(tmp_path):
    (tmp_path / "a").mkdir()
    first = EmberAPI(tmp_path / "a")
    files = snapshot_paths(tmp_path)
    try:
        boot_through_api(first, "ticker", "ticks=20 exit=poweroff")
        wait_for_line(first, "TICK 2")
        assert first.patch("/vm", {"state": "Paused"}) == (204, None)
        assert first.put("/snapshot/create", files) == (204, None)
    finally:
        first.close()
    (tmp_path / "b").mkdir()
    second = EmberAPI(tmp_path / "b")
    try:
        assert second.put("/snapshot/load", {**files, "resume_vm": False}) == (204, None)
        assert second.get("/")[1]["state"] == "Paused"
        time.sleep(0.5)
        assert ticks(second.output()[0]) == []
        assert second.patch("/vm", {"state": "Resumed"}) == (204, None)
        assert second.wait(60) == 0
        assert second.run().passed("ticker")
    finally:
        second.close()


# --- migration (ember's extension) -------------------------------------------


def mig_msg(kind, payload=b""):
    return struct.pack("<IIQ", kind, 0, len(payload)) + payload


MIG_HELLO = mig_msg(1, b"EMBERMIG" + struct.pack("<II", 1, 1))
MIG_CONFIG = mig_msg(2, json.dumps({**DESCRIPTION, "mem_mib": 16}).encode())


def fake_sender(path, stream, result):
    """Connects to the receiver at `path` once it listens, sends `stream`, keeps its answer."""
    deadline = time.monotonic() + 10
    s = socket.socket(socket.AF_UNIX)
    while True:
        try:
            s.connect(str(path))
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    try:
        s.sendall(stream)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(20)
        result["answer"] = s.recv(4096)
    except OSError as e:
        result["answer"] = repr(e).encode()
    finally:
        s.close()


BAD_STREAMS = [
    ("garbage", b"GET / HTTP/1.1\r\n\r\n" + bytes(64), "malformed message header"),
    ("not-ember", mig_msg(1, b"QEMUQEMU" + struct.pack("<II", 1, 1)), "not an ember"),
    ("version", mig_msg(1, b"EMBERMIG" + struct.pack("<II", 9, 1)), "stream version 9"),
    ("no-config", MIG_HELLO + mig_msg(5), "no VM description"),
    ("bad-config", MIG_HELLO + mig_msg(2, b"{"), "malformed JSON"),
    ("pages-beyond-ram", MIG_HELLO + MIG_CONFIG + mig_msg(3, struct.pack("<Q", 4096) + bytes(4096)),
     "pages beyond the VM's RAM"),
    ("short-pages", MIG_HELLO + MIG_CONFIG + mig_msg(3, bytes(100)), "malformed pages"),
    ("no-state", MIG_HELLO + MIG_CONFIG + mig_msg(5), "no VM state came"),
    ("bad-state", MIG_HELLO + MIG_CONFIG + mig_msg(4, damaged(GOOD, 40)), "checksum mismatch"),
    ("unknown", MIG_HELLO + MIG_CONFIG + mig_msg(77), "unexpected message 77"),
    ("cut-short", MIG_HELLO + MIG_CONFIG + mig_msg(3, struct.pack("<Q", 0) + bytes(4096))[:-100],
     "the stream broke"),
]


@pytest.mark.parametrize("name, stream, message", BAD_STREAMS, ids=[b[0] for b in BAD_STREAMS])
def test_bad_migration_streams_are_refused(api, tmp_path, name, stream, message):
    import threading
    path, result = tmp_path / "mig.sock", {}
    t = threading.Thread(target=fake_sender, args=(path, stream, result))
    t.start()
    status, reply = api.put("/ember/migration/receive", {"url": f"unix:{path}", "timeout_s": 10})
    t.join()
    assert status == 400 and message in reply["fault_message"], reply
    # The sender hears why (unless the stream was cut before it could listen).
    assert message.encode() in result["answer"] or name == "cut-short", result
    assert not path.exists()  # the one-shot socket is gone
    assert api.get("/")[1]["state"] == "Not started"
    assert api.get("/vm/config")[1]["boot-source"] is None


@pytest.mark.parametrize("body, message", [
    ({"url": "bogus"}, "must be unix:PATH or tcp:ADDRESS:PORT"),
    ({"url": "tcp:localhost:4000"}, "not a numeric IPv4 or IPv6 address"),
    ({"url": "tcp:127.0.0.1:99999"}, "needs ADDRESS:PORT"),
    ({"url": "unix:/tmp/x", "timeout_s": 0}, "'timeout_s' must be from 1 to 86400"),
    ({"url": "unix:/tmp/x", "extra": 1}, "unknown field 'extra'"),
])
def test_bad_migration_requests(api, body, message):
    status, reply = api.put("/ember/migration/receive", body)
    assert status == 400 and message in reply["fault_message"], reply


def test_migration_receive_times_out_and_send_needs_a_vm(api, tmp_path):
    status, reply = api.put("/ember/migration/receive",
                            {"url": f"unix:{tmp_path / 'm.sock'}", "timeout_s": 1})
    assert status == 400 and "no sender came" in reply["fault_message"], reply
    assert not (tmp_path / "m.sock").exists()
    status, reply = api.put("/ember/migration/send", {"url": f"unix:{tmp_path / 'm.sock'}"})
    assert status == 400 and "not running" in reply["fault_message"], reply


def receive_in_background(api, path, timeout_s):
    """PUT /ember/migration/receive on its own thread, once ember listens at `path`:
    (the thread, {"reply": (status, body)} once it answered)."""
    import threading
    got = {}

    def receive():
        got["reply"] = api.put("/ember/migration/receive",
                               {"url": f"unix:{path}", "timeout_s": timeout_s})

    t = threading.Thread(target=receive)
    t.start()
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return t, got


def test_the_api_serves_progress_while_a_migration_comes_in(api, tmp_path):
    """The receive request waits; meanwhile GET / and GET /ember/migration answer, and
    everything else is refused as busy. A sender that stalls, then breaks off, ends it."""
    assert api.get("/ember/migration") == (200, {"state": "none"})
    path = tmp_path / "mig.sock"
    t, got = receive_in_background(api, path, 20)
    status, progress = api.get("/ember/migration")
    assert status == 200 and progress["state"] == "listening", progress
    assert progress["role"] == "receive" and progress["url"] == f"unix:{path}", progress
    assert api.get("/")[1]["state"] == "Not started"
    for method, route, body in [("PUT", "/boot-source", {"kernel_image_path": "/k"}),
                                ("PATCH", "/vm", {"state": "Paused"}), ("GET", "/vm/config", None),
                                ("PUT", "/ember/migration/receive", {"url": "unix:/tmp/other"})]:
        status, reply = api.request(method, route, body)
        assert status == 400 and "busy: a migration is in progress" in reply["fault_message"], route
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    page = mig_msg(3, struct.pack("<Q", 2) + b"\x11" * 4096)
    s.sendall(MIG_HELLO + MIG_CONFIG + page + page[:100])  # then it stalls mid-message
    deadline = time.monotonic() + 10
    while api.get("/ember/migration")[1]["bytes"] < 4096:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    status, progress = api.get("/ember/migration")
    assert progress["state"] == "copying" and progress["ram_bytes"] == 16 << 20, progress
    assert progress["elapsed_ms"] >= 0 and t.is_alive()
    s.close()
    t.join(30)
    status, reply = got["reply"]
    assert status == 400 and "the stream broke" in reply["fault_message"], reply
    status, progress = api.get("/ember/migration")
    assert progress["state"] == "failed" and "the stream broke" in progress["error"], progress
    assert api.get("/")[1]["state"] == "Not started"
    assert api.put("/boot-source", {"kernel_image_path": "/k"})[0] == 204  # no longer busy


@pytest.mark.parametrize("when", ["listening", "mid-stream"])
def test_a_stop_signal_ends_a_migration_at_once(api, tmp_path, when):
    """SIGTERM while ember waits for a sender (300 s allowed) or for a stalled sender's next
    bytes (30 s allowed): the migration gives up at once, the request hears why, ember
    ends as signalled and its migration socket is gone."""
    path = tmp_path / "mig.sock"
    t, got = receive_in_background(api, path, 300)
    deadline = time.monotonic() + 10
    s = socket.socket(socket.AF_UNIX)
    if when == "mid-stream":
        s.connect(str(path))
        page = mig_msg(3, struct.pack("<Q", 2) + bytes(4096))
        s.sendall(MIG_HELLO + MIG_CONFIG + page[:100])  # then it stalls mid-message
        while api.get("/ember/migration")[1]["state"] != "copying":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    start = time.monotonic()
    api.proc.send_signal(signal.SIGTERM)
    assert api.wait(10) == 128 + signal.SIGTERM
    assert time.monotonic() - start < 5
    t.join(10)
    status, reply = got["reply"]
    assert status == 400 and "ember is stopping (a signal came)" in reply["fault_message"], reply
    assert not path.exists()
    s.close()


@pytest.mark.skipif(os.path.exists("/dev/kvm"), reason="this host has /dev/kvm")
def test_a_whole_stream_without_kvm_is_refused_to_the_sender(api, tmp_path):
    import threading
    state = snapshot_image(with_description({**DESCRIPTION, "mem_mib": 16}))
    stream = (MIG_HELLO + MIG_CONFIG + mig_msg(3, struct.pack("<Q", 1) + b"\x5a" * 4096)
              + mig_msg(4, state) + mig_msg(5))
    path, result = tmp_path / "mig.sock", {}
    t = threading.Thread(target=fake_sender, args=(path, stream, result))
    t.start()
    status, reply = api.put("/ember/migration/receive", {"url": f"unix:{path}"})
    t.join()
    assert status == 400 and "/dev/kvm" in reply["fault_message"], reply
    kind, _, length = struct.unpack("<IIQ", result["answer"][:16])
    code = struct.unpack("<I", result["answer"][16:20])[0]
    assert kind == 6 and code != 0 and b"/dev/kvm" in result["answer"][20:], result


def test_migration_receive_overrides(api, tmp_path):
    """The receiver may put the incoming VM on other taps or another vsock path
    (Firecracker's load overrides, on PUT /ember/migration/receive): refused at once when
    malformed, and told to the sender when they do not fit the VM that came."""
    import threading
    status, reply = api.put("/ember/migration/receive", {
        "url": f"unix:{tmp_path / 'm.sock'}", "network_overrides": [{"iface_id": "eth0"}]})
    assert status == 400 and "'host_dev_name' is required" in reply["fault_message"], reply
    state = snapshot_image(with_description({**DESCRIPTION, "mem_mib": 16,
                                             "devices": [NET_Eth0]}))
    stream = MIG_HELLO + mig_msg(2, json.dumps({**DESCRIPTION, "mem_mib": 16,
                                                "devices": [NET_Eth0]}).encode()) \
        + mig_msg(4, state) + mig_msg(5)
    path, result = tmp_path / "mig.sock", {}
    t = threading.Thread(target=fake_sender, args=(path, stream, result))
    t.start()
    status, reply = api.put("/ember/migration/receive", {
        "url": f"unix:{path}",
        "network_overrides": [{"iface_id": "eth9", "host_dev_name": "tap-b"}]})
    t.join()
    message = "network_overrides: the VM has no interface 'eth9'"
    assert status == 400 and message in reply["fault_message"], reply
    assert message.encode() in result["answer"], result
    assert api.get("/")[1]["state"] == "Not started"


@pytest.mark.usefixtures("kvm")
def test_boot_timer_logs_the_guest_boot_time():
    r = run_ember(["run", "--kernel", GUEST_ELF, "--memory", "64", "--boot-timer", "--log-level",
                   "info", "--cmdline", "test=boot-timer exit=poweroff"], timeout=60)
    assert r.returncode == 0 and r.passed("boot-timer"), r.explain()
    assert re.search(r"Guest-boot-time = +\d+ us \d+ ms, +\d+ CPU us \d+ CPU ms", r.stderr), \
        r.explain()
    # Without the flag the port is not there: nothing is logged.
    r = run_ember(["run", "--kernel", GUEST_ELF, "--memory", "64", "--log-level", "info",
                   "--cmdline", "test=boot-timer exit=poweroff"], timeout=60)
    assert r.returncode == 0 and "Guest-boot-time" not in r.stderr, r.explain()
