"""emberd and emberctl: definitions, their persistence, the read-only
socket, bad input of every kind, events, concurrent clients, host-check;
and (where this host has /dev/kvm) the lifecycle of real VMs. Every test
runs its own emberd on a temporary state directory."""
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

from emberlib import BUILD, GUEST_ELF, UnixHTTPConnection, kvm_problem

EMBERD = BUILD / "src" / "emberd"
EMBERCTL = BUILD / "src" / "emberctl"


class Emberd:
    def __init__(self, tmp_path, extra=(), wrap=(), sock=None):
        self.dir = tmp_path / "state"
        self.sock = sock or tmp_path / "d.sock"
        self.ro_sock = self.sock.with_name(self.sock.stem + "-ro.sock")
        self.log = open(tmp_path / "emberd.log", "a+")
        self.proc = subprocess.Popen([*wrap, str(EMBERD), "--state-dir", str(self.dir), "--socket",
                                      str(self.sock), "--foreground", *extra],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while not (self.sock.exists() and self.ro_sock.exists()):
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, "emberd never listened"
            time.sleep(0.01)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def ctl(self, *args, sock=None, check=None):
        r = subprocess.run([str(EMBERCTL), *map(str, args)], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "EMBER_SOCKET": str(sock or self.sock)})
        if check is not None:
            assert r.returncode == check, (args, r.returncode, r.stdout, r.stderr)
        return r

    def json(self, *args):
        return json.loads(self.ctl("--json", *args, check=0).stdout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def emberd(tmp_path):
    d = Emberd(tmp_path)
    yield d
    d.stop()


def definition(tmp_path, name="vm1", test="ticker ticks=100000", **extra):
    doc = {"name": name,
           "boot-source": {"kernel_image_path": str(GUEST_ELF),
                           "boot_args": f"test={test} exit=poweroff"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}, **extra}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


def test_define_list_info_undefine(emberd, tmp_path):
    r = emberd.ctl("define", definition(tmp_path), check=0)
    assert r.stdout == "VM 'vm1' defined\n"
    assert emberd.ctl("define", definition(tmp_path), check=0).stdout == "VM 'vm1' redefined\n"
    stored = emberd.dir / "vms" / "vm1.json"
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert json.loads(stored.read_text())["name"] == "vm1"
    assert emberd.json("list") == []  # only running ones without --all
    assert emberd.json("list", "--all") == [{"name": "vm1", "state": "shut off",
                                             "autostart": False, "pid": None}]
    info = emberd.json("info", "vm1")
    assert info["state"] == "shut off" and info["vcpu_count"] == 1 and info["mem_size_mib"] == 64
    assert info["pid"] is None and info["api_socket"] is None
    assert emberd.json("dumpdef", "vm1")["machine-config"]["mem_size_mib"] == 64
    assert "vm1" in emberd.ctl("list", "--all", check=0).stdout
    assert emberd.ctl("undefine", "vm1", check=0).stdout == "VM 'vm1' undefined\n"
    assert not stored.exists() and emberd.json("list", "--all") == []


BAD_DEFINITIONS = [
    ("malformed", "{", "malformed JSON"),
    ("not-object", "[1]", "not an object"),
    ("no-name", json.dumps({"boot-source": {"kernel_image_path": "/k"}}), "'name' must be"),
    ("bad-name", json.dumps({"name": "../x", "boot-source": {"kernel_image_path": "/k"}}),
     "'name' must be"),
    ("no-boot", json.dumps({"name": "vm1"}), "'boot-source' is required"),
    ("bad-drive", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                              "drives": [1]}), "vm1"),
    ("unknown", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                            "colour": "red"}), "unknown field 'colour'"),
    ("autostart-type", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                                   "autostart": "yes"}), "'autostart' must be a boolean"),
    ("logger", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                           "logger": {"log_path": "/x"}}), "emberd's to set"),
    ("network", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                            "network": 5}), "'network' must be the name of a network"),
    ("limits", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                           "limits": {"memory_max_mib": 1}}), "'memory_max_mib' must be"),
    ("jail-type", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                              "jail": 1000}), "jail"),
    ("jail-no-gid", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                                "jail": {"uid": 1000}}), "'gid' is required"),
    ("jail-range", json.dumps({"name": "vm1", "boot-source": {"kernel_image_path": "/k"},
                               "jail": {"uid": -1, "gid": 0}}), "'uid' must be from 0"),
]


@pytest.mark.parametrize("name, text, message", BAD_DEFINITIONS,
                         ids=[b[0] for b in BAD_DEFINITIONS])
def test_bad_definitions_are_refused(emberd, tmp_path, name, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    r = emberd.ctl("define", path, check=1)
    assert message in r.stderr and r.stderr.startswith("emberctl: "), r.stderr
    assert list((emberd.dir / "vms").iterdir()) == []  # nothing half-created


@pytest.mark.parametrize("verb", ["start", "destroy", "info", "undefine", "suspend", "resume",
                                  "shutdown", "dumpdef"])
def test_unknown_vm(emberd, verb):
    r = emberd.ctl(verb, "nope", check=1)
    assert r.stderr == "emberctl: no VM named 'nope'\n"


def test_commands_that_need_a_running_vm(emberd, tmp_path):
    emberd.ctl("define", definition(tmp_path), check=0)
    for verb, message in [("destroy", "is shut off"), ("suspend", "is shut off"),
                          ("shutdown", "is shut off"), ("resume", "is shut off")]:
        assert message in emberd.ctl(verb, "vm1", check=1).stderr
    assert "is shut off" in emberd.ctl("snapshot", "vm1", "s1", check=1).stderr
    assert "must be a name" in emberd.ctl("restore", "vm1", "../x", check=1).stderr
    assert "has no snapshot 'never'" in emberd.ctl("restore", "vm1", "never", check=1).stderr


def test_read_only_socket_reads_but_refuses_changes(emberd, tmp_path):
    emberd.ctl("define", definition(tmp_path), check=0)
    ro = emberd.ro_sock
    assert stat.S_IMODE(os.stat(ro).st_mode) == 0o666
    assert stat.S_IMODE(os.stat(emberd.sock).st_mode) == 0o600
    assert "vm1" in emberd.ctl("list", "--all", sock=ro, check=0).stdout
    assert emberd.ctl("info", "vm1", sock=ro, check=0).returncode == 0
    for args in [("start", "vm1"), ("destroy", "vm1"), ("undefine", "vm1"),
                 ("define", definition(tmp_path, "vm2")), ("autostart", "vm1")]:
        r = emberd.ctl(*args, sock=ro, check=1)
        assert "not allowed on the read-only socket" in r.stderr, r.stderr
    assert [v["name"] for v in emberd.json("list", "--all")] == ["vm1"]


def test_definitions_and_autostart_survive_a_restart(tmp_path):
    d = Emberd(tmp_path)
    d.ctl("define", definition(tmp_path), check=0)
    d.ctl("autostart", "vm1", check=0)
    d.stop()
    assert not d.sock.exists() and not d.ro_sock.exists()
    d = Emberd(tmp_path)
    try:
        vms = d.json("list", "--all")
        assert [(v["name"], v["autostart"]) for v in vms] == [("vm1", True)] or \
            [(v["name"], v["state"]) for v in vms] == [("vm1", "running")]
        d.ctl("autostart", "vm1", "--disable", check=0)
        assert d.json("dumpdef", "vm1")["autostart"] is False
    finally:
        d.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing users needs root")
def test_group_may_use_the_read_write_socket(tmp_path):
    """--group: the read-write socket is 0660 for that group; a user in it may drive
    emberd, one outside may not (and still reads through the read-only socket)."""
    import grp
    gid = grp.getgrnam("nogroup").gr_gid
    sock = pathlib.Path(f"/tmp/ember-group-test-{os.getpid()}.sock")  # reachable by others
    d = Emberd(tmp_path, extra=["--group", "nogroup"], sock=sock)
    try:
        st, ro = d.sock.stat(), d.ro_sock.stat()
        assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == gid
        assert stat.S_IMODE(ro.st_mode) == 0o666

        def as_user(groups, *args):
            def drop():
                os.setgroups(groups)
                os.setgid(1)
                os.setuid(65534)
            return subprocess.run([str(EMBERCTL), *args], capture_output=True, text=True,
                                  timeout=30, preexec_fn=drop,
                                  env={**os.environ, "EMBER_SOCKET": str(d.sock)})
        d.ctl("define", definition(tmp_path), check=0)
        r = as_user([gid], "autostart", "vm1")  # a change: the read-write socket's
        assert r.returncode == 0 and d.json("list", "--all")[0]["autostart"], r.stderr
        r = as_user([], "list")
        assert r.returncode == 1 and "Permission denied" in r.stderr, r.stderr
        r = as_user([], "--socket", str(d.ro_sock), "list", "--all")
        assert r.returncode == 0 and "vm1" in r.stdout, r.stderr
        r = as_user([], "--socket", str(d.ro_sock), "autostart", "vm1")
        assert r.returncode == 1 and "read-only socket" in r.stderr, r.stderr
    finally:
        d.stop()
    r = subprocess.run([str(EMBERD), "--state-dir", str(tmp_path / "s2"), "--socket",
                        str(tmp_path / "x.sock"), "--group", "no-such-group", "--foreground"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "group 'no-such-group': no such group" in r.stderr, r.stderr


def test_one_emberd_per_state_directory(emberd, tmp_path):
    r = subprocess.run([str(EMBERD), "--state-dir", str(emberd.dir), "--socket",
                        str(tmp_path / "other.sock"), "--foreground"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "another emberd uses the state directory" in r.stderr
    r = subprocess.run([str(EMBERD), "--state-dir", str(tmp_path / "s2"), "--socket",
                        str(emberd.sock), "--foreground"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and "another process listens on it" in r.stderr
    assert emberd.ctl("list", check=0).returncode == 0


def test_concurrent_clients(emberd, tmp_path):
    paths = [definition(tmp_path, f"vm{i}") for i in range(8)]
    results = []

    def define(p):
        results.append(emberd.ctl("define", p).returncode)
        results.append(emberd.ctl("list", "--all").returncode)

    threads = [threading.Thread(target=define, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0] * 16
    assert sorted(v["name"] for v in emberd.json("list", "--all")) == [f"vm{i}" for i in range(8)]
    for i in range(8):  # every file whole
        assert json.loads((emberd.dir / "vms" / f"vm{i}.json").read_text())["name"] == f"vm{i}"


def test_events_stream_and_log(emberd, tmp_path):
    follower = subprocess.Popen([str(EMBERCTL), "events"], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "EMBER_SOCKET": str(emberd.ro_sock)})
    time.sleep(0.3)
    emberd.ctl("define", definition(tmp_path), check=0)
    emberd.ctl("undefine", "vm1", check=0)
    lines = [follower.stdout.readline().strip() for _ in range(2)]
    follower.kill()
    follower.wait()
    assert lines == ["defined vm1", "undefined vm1"]
    logged = [json.loads(l) for l in (emberd.dir / "events.log").read_text().splitlines()]
    assert [(e["event"], e["vm"]) for e in logged] == [("defined", "vm1"), ("undefined", "vm1")]
    assert all(isinstance(e["time_ms"], int) for e in logged)


def raw_exchange(path, data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    s.sendall(data)
    s.settimeout(10)
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    s.close()
    return reply


@pytest.mark.parametrize("data, message", [
    (b"hello\n", "malformed request"),
    (b'{"cmd": 5}\n', "malformed request"),
    (b'{"cmd": "list", "args": 3}\n', "'args' must be an object"),
    (b'{"cmd": "fly"}\n', "'name' is required"),
    (b'{"cmd": "fly", "args": {"name": "x"}}\n', "no VM named 'x'"),
    (b'{"cmd": "define", "args": {}}\n', "'definition' is required"),
    (b"x" * (1 << 20) + b"y" * 5000 + b"\n", "request line too long"),
], ids=["not-json", "cmd-type", "args-type", "no-name", "unknown-vm", "no-definition",
        "too-long"])
def test_protocol_garbage_is_answered_and_emberd_goes_on(emberd, data, message):
    reply = json.loads(raw_exchange(emberd.sock, data))
    assert reply["ok"] is False and message in reply["error"], reply
    assert emberd.ctl("list", check=0).returncode == 0 and emberd.proc.poll() is None


def test_emberctl_usage_and_unreachable_daemon(emberd, tmp_path):
    assert emberd.ctl(check=2).returncode == 2
    assert "unknown verb 'fly'" in emberd.ctl("fly", check=2).stderr
    assert emberd.ctl("start", check=2).returncode == 2
    assert emberd.ctl("list", "--everything", check=2).returncode == 2
    r = emberd.ctl("list", sock=tmp_path / "nobody.sock", check=1)
    assert "cannot reach emberd at" in r.stderr
    emberd.ctl("define", definition(tmp_path), check=0)
    assert "--timeout must be" in emberd.ctl("shutdown", "vm1", "--timeout", "0", check=1).stderr
    assert "VM 'vm1' is shut off" in emberd.ctl("migrate", "vm1", "unix:/x", check=1).stderr
    assert emberd.ctl("start", "vm1", "--incoming", check=2).returncode == 2
    assert "has no console (it is not running" in emberd.ctl("console", "vm1", check=1).stderr
    assert "manages" in subprocess.run([str(EMBERD), "--help"], capture_output=True,
                                       text=True).stderr


def test_host_check(tmp_path):
    r = subprocess.run([str(EMBERCTL), "host-check"], capture_output=True, text=True, timeout=30)
    assert r.returncode in (0, 1)
    names = [l[6:40].strip() for l in r.stdout.splitlines()
             if l[:4] in ("PASS", "WARN", "FAIL") and l[4] == " "]
    for check in ["/dev/kvm", "EPT/NPT (two-level paging)", "nested virtualization", "IOMMU",
                  "tun", "vhost-vsock", "vhost-net"]:
        assert check in names, r.stdout
    assert any(n.startswith("cgroup") for n in names), r.stdout
    j = json.loads(subprocess.run([str(EMBERCTL), "--json", "host-check"], capture_output=True,
                                  text=True, timeout=30).stdout)
    assert {c["result"] for c in j} <= {"PASS", "WARN", "FAIL"} and len(j) == len(names)
    assert (r.returncode == 1) == any(c["result"] == "FAIL" for c in j)


@pytest.mark.skipif(os.path.exists("/dev/kvm"), reason="this host has /dev/kvm")
def test_start_without_kvm_is_a_clean_refusal(emberd, tmp_path):
    emberd.ctl("define", definition(tmp_path), check=0)
    r = emberd.ctl("start", "vm1", check=1)
    assert "cannot start 'vm1'" in r.stderr and "/dev/kvm" in r.stderr, r.stderr
    assert emberd.json("info", "vm1")["state"] == "shut off"


# --- with VMs (needs /dev/kvm) -------------------------------------------------------


def wait_state(d, name, state, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = d.json("info", name)
        if info["state"] == state:
            return info
        time.sleep(0.05)
    raise AssertionError(f"{name} never became {state}: {d.json('info', name)}")


@pytest.mark.usefixtures("kvm")
def test_lifecycle(emberd, tmp_path):
    emberd.ctl("define", definition(tmp_path), check=0)
    assert emberd.ctl("start", "vm1", check=0).stdout == "VM 'vm1' started\n"
    info = emberd.json("info", "vm1")
    assert info["state"] == "running" and info["pid"] > 0
    assert [v["vcpu"] for v in info["vcpus"]] == [0] and info["vcpus"][0]["cpu"] >= 0
    assert "already running" in emberd.ctl("start", "vm1", check=1).stderr
    emberd.ctl("suspend", "vm1", check=0)
    assert emberd.json("info", "vm1")["state"] == "paused"
    emberd.ctl("resume", "vm1", check=0)
    emberd.ctl("snapshot", "vm1", "s1", check=0)
    assert emberd.json("info", "vm1")["state"] == "running"
    emberd.ctl("destroy", "vm1", check=0)
    assert emberd.json("info", "vm1")["state"] == "shut off"
    emberd.ctl("restore", "vm1", "s1", check=0)
    assert emberd.json("info", "vm1")["state"] == "running"
    emberd.ctl("destroy", "vm1", check=0)
    events = [json.loads(l)["event"] for l in (emberd.dir / "events.log").read_text().splitlines()]
    assert events == ["defined", "started", "paused", "resumed", "snapshot", "destroyed",
                      "restored", "destroyed"]


@pytest.mark.usefixtures("kvm")
def test_shutdown_honoured_and_ignored(emberd, tmp_path):
    emberd.ctl("define", definition(tmp_path, "honours", test="power-button"), check=0)
    emberd.ctl("define", definition(tmp_path, "ignores", test="ticker ticks=100000"), check=0)
    emberd.ctl("start", "honours", check=0)
    emberd.ctl("start", "ignores", check=0)
    time.sleep(1)  # the power-button test routes the interrupt first
    r = emberd.ctl("shutdown", "honours", "--timeout", "20", check=0)
    assert r.stdout == "VM 'honours' shut down\n"
    r = emberd.ctl("shutdown", "ignores", "--timeout", "2", check=0)
    assert r.stdout == "VM 'ignores' did not shut down in time: destroyed\n"


@pytest.mark.usefixtures("kvm")
def test_restart_keeps_vms_and_notices_crashes(tmp_path):
    d = Emberd(tmp_path)
    d.ctl("define", definition(tmp_path, "a"), check=0)
    d.ctl("define", definition(tmp_path, "b"), check=0)
    d.ctl("start", "a", check=0)
    d.ctl("start", "b", check=0)
    pid_a, pid_b = d.json("info", "a")["pid"], d.json("info", "b")["pid"]
    d.stop()
    os.kill(pid_b, signal.SIGKILL)  # crashes while emberd is away
    time.sleep(0.2)
    d = Emberd(tmp_path)
    try:
        assert d.json("info", "a")["state"] == "running" and d.json("info", "a")["pid"] == pid_a
        assert d.json("info", "b")["state"] == "crashed"
        os.kill(pid_a, signal.SIGKILL)  # and one under the new emberd's eyes
        wait_state(d, "a", "crashed")
        d.ctl("start", "a", check=0)
        d.ctl("destroy", "a", check=0)
    finally:
        d.stop()


@pytest.mark.usefixtures("kvm")
def test_two_vms_cannot_write_one_disk(emberd, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    drive = [{"drive_id": "d", "path_on_host": str(disk), "is_root_device": False,
              "is_read_only": False}]
    emberd.ctl("define", definition(tmp_path, "a", drives=drive), check=0)
    emberd.ctl("define", definition(tmp_path, "b", drives=drive), check=0)
    emberd.ctl("start", "a", check=0)
    r = emberd.ctl("start", "b", check=1)
    assert f"disk '{disk}' is in use by VM 'a'" in r.stderr
    emberd.ctl("destroy", "a", check=0)


# --- emberd's own logic, with a stand-in for ember (any host) -------------------------
#
# tests/tools/fake-ember.py answers emberd as ember would and runs no guest:
# what these tests check is emberd (processes, states, events, cgroups,
# pinning), not ember, whose own tests are above and in test_api.py.

FAKE_EMBER = pathlib.Path(__file__).resolve().parent.parent / "tools" / "fake-ember.py"


@pytest.fixture
def fake(tmp_path):
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    yield d
    for v in d.json("list"):
        d.ctl("destroy", v["name"])
    d.stop()


def events_of(d):
    return [(e["event"], e["vm"]) for e in
            map(json.loads, (d.dir / "events.log").read_text().splitlines())]


def test_fake_lifecycle(fake, tmp_path):
    fake.ctl("define", definition(tmp_path, **{"machine-config": {"vcpu_count": 2,
                                                                  "mem_size_mib": 64}}), check=0)
    fake.ctl("start", "vm1", check=0)
    deadline = time.monotonic() + 5
    while len((info := fake.json("info", "vm1"))["vcpus"]) < 2:  # threads name themselves
        assert time.monotonic() < deadline, info
        time.sleep(0.02)
    assert info["state"] == "running" and os.path.exists(f"/proc/{info['pid']}")
    assert sorted(v["vcpu"] for v in info["vcpus"]) == [0, 1]
    assert info["api_socket"].endswith("/run/vm1/api.sock")
    assert "is running: destroy or shut it down first" in fake.ctl("undefine", "vm1",
                                                                    check=1).stderr
    fake.ctl("suspend", "vm1", check=0)
    assert fake.json("list")[0]["state"] == "paused"
    fake.ctl("resume", "vm1", check=0)
    fake.ctl("snapshot", "vm1", "s1", check=0)
    assert (fake.dir / "snapshots" / "vm1" / "s1.snap").exists()
    fake.ctl("destroy", "vm1", check=0)
    assert not os.path.exists(f"/proc/{info['pid']}")
    fake.ctl("restore", "vm1", "s1", check=0)
    assert fake.json("info", "vm1")["state"] == "running"
    fake.ctl("destroy", "vm1", check=0)
    assert events_of(fake) == [("defined", "vm1"), ("started", "vm1"), ("paused", "vm1"),
                               ("resumed", "vm1"), ("snapshot", "vm1"), ("destroyed", "vm1"),
                               ("restored", "vm1"), ("destroyed", "vm1")]


def test_fake_shutdown_honoured_and_ignored(fake, tmp_path):
    fake.ctl("define", definition(tmp_path, "honours", test="x"), check=0)
    fake.ctl("define", definition(tmp_path, "ignores", test="x ignore-power"), check=0)
    fake.ctl("start", "honours", check=0)
    fake.ctl("start", "ignores", check=0)
    r = fake.ctl("shutdown", "honours", "--timeout", "10", check=0)
    assert r.stdout == "VM 'honours' shut down\n"
    r = fake.ctl("shutdown", "ignores", "--timeout", "1", check=0)
    assert r.stdout == "VM 'ignores' did not shut down in time: destroyed\n"
    assert ("shutdown", "honours") in events_of(fake)
    assert ("destroyed", "ignores") in events_of(fake)
    assert fake.json("list") == []


@pytest.fixture
def fakes(tmp_path):
    """Two emberds with stand-in embers: a migration's source and its destination."""
    ds = []
    for side in ("src", "dst"):
        (tmp_path / side).mkdir()
        ds.append(Emberd(tmp_path / side, extra=["--ember", str(FAKE_EMBER)]))
    yield ds
    for d in ds:
        for v in d.json("list"):
            d.ctl("destroy", v["name"])
        d.stop()


def ctl_in_background(d, *args):
    return subprocess.Popen([str(EMBERCTL), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "EMBER_SOCKET": str(d.sock)})


def wait_migration(d, name, state, timeout=10):
    deadline = time.monotonic() + timeout
    while (mig := d.json("info", name).get("migration") or {}).get("state") != state:
        assert time.monotonic() < deadline, mig
        time.sleep(0.02)
    return mig


def test_fake_migration_between_two_emberds(fakes, tmp_path):
    src, dst = fakes
    src.ctl("define", definition(tmp_path), check=0)
    # The receiver's own definition decides the incoming VM's taps and vsock path.
    dst.ctl("define", definition(tmp_path, **{
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap-b"}],
        "vsock": {"guest_cid": 3, "uds_path": str(tmp_path / "b.vsock")}}), check=0)
    src.ctl("start", "vm1", check=0)
    url = f"unix:{tmp_path / 'mig.sock'}"
    incoming = ctl_in_background(dst, "--json", "start", "vm1", "--incoming", url,
                                 "--timeout", "30")
    mig = wait_migration(dst, "vm1", "listening")
    assert mig["role"] == "receive" and mig["url"] == url
    assert dst.json("info", "vm1")["state"] == "paused"
    assert "VM 'vm1' is migrating" in dst.ctl("suspend", "vm1", check=1).stderr
    sender = ctl_in_background(src, "migrate", "vm1", url, "--verbose")
    mig = wait_migration(src, "vm1", "copying")
    assert mig["role"] == "send" and mig["ram_bytes"] == 8 << 20, mig
    assert "VM 'vm1' is migrating" in src.ctl("snapshot", "vm1", "s", check=1).stderr
    assert wait_migration(dst, "vm1", "copying")["role"] == "receive"
    out, err = sender.communicate(timeout=30)
    assert sender.returncode == 0, err
    assert re.fullmatch(r"VM 'vm1' migrated to unix:\S+: 1200 ms, 5 ms paused, 8 rounds, "
                        r"8\.0 MiB\n", out), out
    assert re.search(r"'vm1': copying, \d\.\d of 8\.0 MiB, round \d, 64 dirty pages", err), err
    out, err = incoming.communicate(timeout=30)
    assert incoming.returncode == 0 and json.loads(out) == {}, err
    wait_state(src, "vm1", "shut off")
    info = dst.json("info", "vm1")
    assert info["state"] == "running" and "migration" not in info
    assert ("migrating", "vm1") in events_of(src) and ("migrated", "vm1") in events_of(src)
    assert events_of(dst)[-2:] == [("incoming", "vm1"), ("started", "vm1")]
    dst.ctl("suspend", "vm1", check=0)  # an ordinary VM again
    asked = (dst.dir / "run" / "vm1" / "ember.log").read_text()
    assert "receive overrides: " + json.dumps({
        "network_overrides": [{"host_dev_name": "tap-b", "iface_id": "eth0"}],
        "vsock_override": {"uds_path": str(tmp_path / "b.vsock")}}, sort_keys=True) in asked


def test_fake_migration_failures_leave_the_source_running(fakes, tmp_path):
    src, dst = fakes
    src.ctl("define", definition(tmp_path, test="x refuse-migration"), check=0)
    dst.ctl("define", definition(tmp_path, test="x"), check=0)
    src.ctl("start", "vm1", check=0)
    url = f"unix:{tmp_path / 'mig.sock'}"
    r = src.ctl("migrate", "vm1", url, check=1)
    assert "cannot connect to" in r.stderr, r.stderr
    assert src.json("info", "vm1")["state"] == "running"

    incoming = ctl_in_background(dst, "start", "vm1", "--incoming", url)
    wait_migration(dst, "vm1", "listening")
    r = src.ctl("migrate", "vm1", url, check=1)
    assert "the receiver failed: the receiver says no" in r.stderr, r.stderr
    out, err = incoming.communicate(timeout=30)
    assert incoming.returncode == 1 and "the receiver says no" in err, err
    info = src.json("info", "vm1")
    assert info["state"] == "running" and "migration" not in info
    assert dst.json("info", "vm1")["state"] == "shut off"
    assert ("migration-failed", "vm1") in events_of(src)
    assert events_of(dst)[-1] == ("migration-failed", "vm1")

    r = dst.ctl("start", "vm1", "--incoming", url, "--timeout", "1", check=1)
    assert "no sender came" in r.stderr, r.stderr
    assert dst.json("info", "vm1")["state"] == "shut off"
    # A client that hangs up while it waits: emberd carries on without it.
    incoming = ctl_in_background(dst, "start", "vm1", "--incoming", url, "--timeout", "1")
    wait_migration(dst, "vm1", "listening")
    incoming.kill()
    incoming.wait()
    wait_state(dst, "vm1", "shut off")
    assert dst.json("version")["emberd"]

    for args, message in [(("migrate", "vm1", "ftp:x"), "must be unix:PATH or tcp:ADDRESS:PORT"),
                          (("migrate", "vm9", url), "no VM named 'vm9'"),
                          (("start", "vm1", "--incoming", url, "--timeout", "0"),
                           "'timeout_s' must be from 1 to 86400"),
                          (("migrate", "vm1"), "Usage:")]:
        r = src.ctl(*args) if args[0] == "migrate" else dst.ctl(*args)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)
    r = src.ctl("migrate", "vm1", url, sock=src.ro_sock, check=1)
    assert "not allowed on the read-only socket" in r.stderr
    assert dst.ctl("migrate", "vm1", url, check=1).stderr.endswith("VM 'vm1' is shut off\n")


def proc_status(pid):
    return dict(l.split(":", 1) for l in pathlib.Path(f"/proc/{pid}/status").read_text()
                .splitlines())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="the jailer needs root")
def test_a_jailed_vm_runs_in_its_jail_as_its_uid(emberd, tmp_path):
    """ember under ember-jailer, with the VM's files linked in; without KVM looked at while
    it waits for an incoming migration (a boot fails at InstanceStart, for /dev/kvm)."""
    disk, ro = tmp_path / "disk.img", tmp_path / "ro.img"
    for f, mode in [(disk, 0o600), (ro, 0o644)]:
        f.write_bytes(bytes(1 << 20))
        f.chmod(mode)
    drives = [{"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True,
               "is_read_only": False},
              {"drive_id": "data", "path_on_host": str(ro), "is_root_device": False,
               "is_read_only": True}]
    emberd.ctl("define", definition(tmp_path, jail={"uid": 65534, "gid": 65534},
                                    drives=drives), check=0)
    root = emberd.dir / "jail" / "ember" / "vm1" / "root"
    log = emberd.dir / "run" / "vm1" / "ember.log"
    if kvm_problem():
        r = emberd.ctl("start", "vm1", check=1)
        assert "/dev/kvm" in r.stderr, r.stderr
        text = log.read_text()
        assert "PUT /drives/rootfs: 204" in text and "PUT /boot-source: 204" in text, text
        assert not root.parent.exists()  # the jail goes with the failed start
    url = f"tcp:127.0.0.1:{free_port()}"
    incoming = ctl_in_background(emberd, "start", "vm1", "--incoming", url, "--timeout", "60")
    wait_migration(emberd, "vm1", "listening")
    info = emberd.json("info", "vm1")
    status = proc_status(info["pid"])
    assert status["Uid"].split() == ["65534"] * 4 and status["Gid"].split() == ["65534"] * 4
    assert status["NoNewPrivs"].strip() == "1" and status["CapEff"].strip() == "0" * 16, status
    tasks = {(pathlib.Path(t) / "comm").read_text().strip(): proc_status(pathlib.Path(t).name)
             for t in map(str, pathlib.Path(f"/proc/{info['pid']}/task").iterdir())}
    assert tasks["api"]["Seccomp"].strip() == "2", tasks.keys()  # (the rest filter at boot)
    seen, jail = os.stat(f"/proc/{info['pid']}/root"), root.stat()
    assert (seen.st_dev, seen.st_ino) == (jail.st_dev, jail.st_ino)  # its / is the jail
    assert info["jail_root"] == str(root)
    assert (root / "drive-rootfs").stat().st_ino == disk.stat().st_ino
    assert disk.stat().st_uid == 65534  # written: handed to the jail's uid
    assert ro.stat().st_uid == 0 and (root / "drive-data").stat().st_ino == ro.stat().st_ino
    assert (root / "kernel").read_bytes() == GUEST_ELF.read_bytes()
    assert (emberd.dir / "run" / "vm1" / "api.sock").is_symlink()
    r = emberd.ctl("migrate", "vm1", f"unix:{tmp_path / 'm.sock'}", check=1)
    assert "is migrating" in r.stderr  # (a jailed VM would be refused unix: URLs)
    emberd.ctl("destroy", "vm1", check=0)
    incoming.communicate(timeout=30)
    assert incoming.returncode == 1
    assert not root.parent.exists() and disk.exists() and ro.exists()
    assert emberd.json("info", "vm1")["state"] == "shut off"


def test_fake_incoming_migration_left_by_an_emberd_restart_is_stopped(tmp_path):
    """The job waiting for an incoming VM goes with emberd; the next emberd stops that
    ember (the migration fails, so the VM runs on at its source) and says so."""
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    d.ctl("define", definition(tmp_path), check=0)
    incoming = ctl_in_background(d, "start", "vm1", "--incoming", f"unix:{tmp_path / 'm.sock'}")
    wait_migration(d, "vm1", "listening")
    pid = d.json("info", "vm1")["pid"]
    d.stop()
    _, err = incoming.communicate(timeout=10)
    assert incoming.returncode == 1 and "emberd went away" in err, err
    assert os.path.exists(f"/proc/{pid}")  # emberd's end leaves its VMs running
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    try:
        assert d.json("info", "vm1")["state"] == "shut off"
        wait_gone(pid)
        assert events_of(d)[-1] == ("migration-failed", "vm1")
    finally:
        d.stop()


def test_a_jailed_vm_is_refused_unix_migration_urls(fake, tmp_path):
    fake.ctl("define", definition(tmp_path, jail={"uid": 1000, "gid": 1000}), check=0)
    r = fake.ctl("start", "vm1", "--incoming", f"unix:{tmp_path / 'm.sock'}", check=1)
    assert "a jailed VM migrates over tcp:ADDRESS:PORT" in r.stderr, r.stderr
    assert fake.json("info", "vm1")["state"] == "shut off"


def test_fake_snapshot_is_a_job_emberd_serves_others_meanwhile(fake, tmp_path):
    fake.ctl("define", definition(tmp_path, test="x slow-snapshot"), check=0)
    fake.ctl("start", "vm1", check=0)
    saving = ctl_in_background(fake, "snapshot", "vm1", "s1", "--verbose")
    deadline = time.monotonic() + 10
    while "snapshot" not in (info := fake.json("info", "vm1")):
        assert time.monotonic() < deadline, info
        time.sleep(0.02)
    assert info["snapshot"]["name"] == "s1" and info["snapshot"]["elapsed_ms"] >= 0
    started = time.monotonic()
    assert fake.json("list")[0]["name"] == "vm1"  # emberd is not held up by the snapshot
    assert time.monotonic() - started < 1
    r = fake.ctl("suspend", "vm1", check=1)
    assert "VM 'vm1' is saving a snapshot" in r.stderr, r.stderr
    out, err = saving.communicate(timeout=30)
    assert saving.returncode == 0 and out == "VM 'vm1' saved as 's1'\n", err
    assert "'vm1': saving 's1', " in err, err
    info = fake.json("info", "vm1")
    assert info["state"] == "running" and "snapshot" not in info
    assert (fake.dir / "snapshots" / "vm1" / "s1.snap").exists()
    assert events_of(fake)[-1] == ("snapshot", "vm1")


def test_fake_start_failure_shows_embers_reason(fake, tmp_path):
    fake.ctl("define", definition(tmp_path, test="x fail-start"), check=0)
    r = fake.ctl("start", "vm1", check=1)
    assert r.stderr == "emberctl: cannot start 'vm1': ember: fake start failure (fail-start)\n"
    assert fake.json("info", "vm1")["state"] == "shut off"


def test_fake_restart_finds_vms_again_and_notices_their_ends(tmp_path):
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    for name in ("runs", "dies", "stops", "later"):
        d.ctl("define", definition(tmp_path, name, test="x"), check=0)
        d.ctl("start", name, check=0)
    pids = {n: d.json("info", n)["pid"] for n in ("runs", "dies", "stops", "later")}
    sock = d.json("info", "stops")["api_socket"]
    d.stop()  # the VMs run on without emberd
    os.kill(pids["dies"], signal.SIGKILL)
    conn = UnixHTTPConnection(pathlib.Path(sock))  # a clean power-off meanwhile
    conn.request("PUT", "/ember/power-button", body="{}")
    assert conn.getresponse().status == 204
    for pid in (pids["dies"], pids["stops"]):
        wait_gone(pid)
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    try:
        states = {v["name"]: (v["state"], v["pid"]) for v in d.json("list", "--all")}
        assert states == {"runs": ("running", pids["runs"]), "later": ("running", pids["later"]),
                          "dies": ("crashed", None), "stops": ("shut off", None)}
        os.kill(pids["later"], signal.SIGKILL)  # under the new emberd's eyes
        wait_state(d, "later", "crashed")
        d.ctl("destroy", "runs", check=0)
        crashed = [json.loads(l) for l in (d.dir / "events.log").read_text().splitlines()
                   if '"crashed"' in l]
        assert [e["vm"] for e in crashed] == ["dies", "later"]
        assert all("ember ended" in e["detail"] for e in crashed)
    finally:
        d.stop()


def wait_gone(pid, timeout=10):
    """Until `pid` ended (a zombie nobody reaps counts: this host's init may not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"{pid} still runs")


def test_fake_autostart(tmp_path):
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    d.ctl("define", definition(tmp_path, autostart=True), check=0)
    d.ctl("define", definition(tmp_path, "manual"), check=0)
    d.stop()
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    try:
        assert {v["name"]: v["state"] for v in d.json("list", "--all")} == {
            "vm1": "running", "manual": "shut off"}
        d.ctl("destroy", "vm1", check=0)
    finally:
        d.stop()


def test_fake_disks_are_not_shared_for_writing(fake, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(4096))

    def drive(ro):
        return [{"drive_id": "d", "path_on_host": str(disk), "is_root_device": False,
                 "is_read_only": ro}]

    fake.ctl("define", definition(tmp_path, "a", drives=drive(False)), check=0)
    fake.ctl("define", definition(tmp_path, "b", drives=drive(False)), check=0)
    fake.ctl("define", definition(tmp_path, "r1", drives=drive(True)), check=0)
    fake.ctl("define", definition(tmp_path, "r2", drives=drive(True)), check=0)
    fake.ctl("start", "a", check=0)
    assert f"disk '{disk}' is in use by VM 'a'" in fake.ctl("start", "b", check=1).stderr
    assert "in use by VM 'a'" in fake.ctl("start", "r1", check=1).stderr
    fake.ctl("destroy", "a", check=0)
    fake.ctl("start", "r1", check=0)
    fake.ctl("start", "r2", check=0)  # readers share
    assert "in use by VM" in fake.ctl("start", "a", check=1).stderr


def cgroup_file(pid, controller, name):
    """The file `name` of the cgroup `pid` is in for `controller` (v1 or v2)."""
    for line in pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if ctrls == "" and pathlib.Path("/sys/fs/cgroup/cgroup.controllers").exists():
            return pathlib.Path("/sys/fs/cgroup" + path) / name
        if controller in ctrls.split(","):
            mount = "/sys/fs/cgroup/" + ctrls
            return pathlib.Path(mount + path) / name
    raise AssertionError(f"{pid} is in no {controller} cgroup")


def affinity(tid):
    status = pathlib.Path(f"/proc/{tid}/status").read_text()
    return [l.split()[1] for l in status.splitlines() if l.startswith("Cpus_allowed_list")][0]


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_fake_limits_and_pinning(fake, tmp_path):
    fake.ctl("define", definition(tmp_path, **{
        "machine-config": {"vcpu_count": 2, "mem_size_mib": 64},
        "limits": {"memory_max_mib": 256, "cpu_quota_pct": 50, "cpu_weight": 200},
        "vcpu_pinning": ["0"]}), check=0)
    fake.ctl("start", "vm1", check=0)
    deadline = time.monotonic() + 5
    while len((info := fake.json("info", "vm1"))["vcpus"]) < 2:  # threads name themselves
        assert time.monotonic() < deadline, info
        time.sleep(0.02)
    pid = info["pid"]
    v2 = pathlib.Path("/sys/fs/cgroup/cgroup.controllers").exists() and \
        "memory" in pathlib.Path("/sys/fs/cgroup/cgroup.controllers").read_text()
    mem = cgroup_file(pid, "memory", "memory.max" if v2 else "memory.limit_in_bytes")
    assert "ember/vm1" in str(mem) and int(mem.read_text()) == 256 << 20
    if v2:
        assert cgroup_file(pid, "cpu", "cpu.max").read_text().split() == ["50000", "100000"]
        assert cgroup_file(pid, "cpu", "cpu.weight").read_text().strip() == "200"
    else:
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert cgroup_file(pid, "cpu", "cpu.shares").read_text().strip() == "2048"
    vcpus = {v["vcpu"]: v for v in info["vcpus"]}
    assert vcpus[0]["affinity"] == "0" and affinity(vcpus[0]["tid"]) == "0"
    assert affinity(vcpus[1]["tid"]) == affinity(pid)  # not pinned
    # Changed on the running VM, and kept in the definition.
    fake.ctl("setlimit", "vm1", "memory_max_mib", "512", check=0)
    assert int(mem.read_text()) == 512 << 20
    fake.ctl("vcpupin", "vm1", "1", "1", check=0)
    assert affinity(vcpus[1]["tid"]) == "1"
    d = fake.json("dumpdef", "vm1")
    assert d["limits"]["memory_max_mib"] == 512 and d["vcpu_pinning"][1] == "1"
    for args, message in [(("setlimit", "vm1", "memory_max_mib", "1"), "from 16"),
                          (("setlimit", "vm1", "colour", "3"), "unknown field 'colour'"),
                          (("vcpupin", "vm1", "7", "0"), "has vCPUs 0 to 1"),
                          (("vcpupin", "vm1", "0", "x"), "not a CPU list")]:
        assert message in fake.ctl(*args, check=1).stderr
    fake.ctl("destroy", "vm1", check=0)
    assert not mem.parent.exists()  # the VM's cgroup went with it


@pytest.mark.parametrize("extra, message", [
    ({"limits": {"memory_max_mib": "lots"}}, "'memory_max_mib' must be an integer"),
    ({"limits": {"cpuset": "0-"}}, "'cpuset' must be a CPU list"),
    ({"limits": 5}, "'limits' must be an object"),
    ({"vcpu_pinning": ["0", "z"]}, "vcpu_pinning[1]"),
    ({"vcpu_pinning": "0"}, "must be an array"),
])
def test_bad_limits_are_refused(emberd, tmp_path, extra, message):
    r = emberd.ctl("define", definition(tmp_path, **extra), check=1)
    assert message in r.stderr, r.stderr


# --- networks (root, in a network namespace of the test's own) ---------------------


def in_netns(d, *cmd):
    return subprocess.run(["nsenter", "-t", str(d.proc.pid), "-n", *cmd], capture_output=True,
                          text=True, timeout=30)


def network(tmp_path, name="net0", **extra):
    doc = {"name": name, "ipv4": "10.77.0.1/24", "nat": True,
           "dhcp": {"start": "10.77.0.100", "end": "10.77.0.200"}, **extra}
    path = tmp_path / f"{name}.net.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def netd(tmp_path):
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("dnsmasq"):
        pytest.skip("networks need root, nft and dnsmasq (scripts/setup.sh installs them)")
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)], wrap=["unshare", "-n"])
    yield d
    for v in d.json("list"):
        d.ctl("destroy", v["name"])
    for n in d.json("net-list"):
        d.ctl("net-destroy", n["name"])
    d.stop()


def test_network_lifecycle_with_a_vm(netd, tmp_path):
    assert netd.ctl("net-define", network(tmp_path), check=0).stdout == "network 'net0' defined\n"
    assert netd.json("net-list") == []
    netd.ctl("net-start", "net0", check=0)
    [n] = netd.json("net-list")
    assert (n["name"], n["state"], n["bridge"], n["ipv4"]) == ("net0", "active", "em-net0",
                                                               "10.77.0.1/24")
    assert "10.77.0.1/24" in in_netns(netd, "ip", "-br", "addr", "show", "em-net0").stdout
    rules = in_netns(netd, "nft", "list", "table", "ip", "ember_net0").stdout
    assert "ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade" in rules
    pid = int((netd.dir / "netrun" / "net0" / "dnsmasq.pid").read_text())
    assert "10.77.0.100,10.77.0.200" in pathlib.Path(f"/proc/{pid}/cmdline").read_text()
    # A VM on the network: its interface's tap is on the bridge while it runs.
    netd.ctl("define", definition(tmp_path, network="net0", **{"network-interfaces": [
        {"iface_id": "eth0", "host_dev_name": "vm1tap0", "guest_mac": "06:00:00:00:00:01"}]}),
             check=0)
    netd.ctl("start", "vm1", check=0)
    link = in_netns(netd, "ip", "-d", "link", "show", "vm1tap0").stdout
    assert "master em-net0" in link and "tun type tap" in link
    assert netd.json("net-info", "net0")["vms"] == ["vm1"]
    assert "has 1 running VM(s)" in netd.ctl("net-destroy", "net0", check=1).stderr
    assert "is active: destroy it first" in netd.ctl("net-undefine", "net0", check=1).stderr
    netd.ctl("destroy", "vm1", check=0)
    assert in_netns(netd, "ip", "link", "show", "vm1tap0").returncode != 0
    netd.ctl("net-destroy", "net0", check=0)
    assert in_netns(netd, "ip", "link", "show", "em-net0").returncode != 0
    assert in_netns(netd, "nft", "list", "table", "ip", "ember_net0").returncode != 0
    deadline = time.monotonic() + 5
    while pathlib.Path(f"/proc/{pid}/cmdline").exists() and \
            "Z" not in pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, "dnsmasq outlived its network"
        time.sleep(0.05)
    netd.ctl("net-undefine", "net0", check=0)
    assert netd.json("net-list", "--all") == []
    events = [e for e, _ in events_of(netd) if e.startswith("net-")]
    assert events == ["net-defined", "net-started", "net-destroyed", "net-undefined"]


def test_vm_needs_its_network_up(netd, tmp_path):
    netd.ctl("define", definition(tmp_path, network="net9"), check=0)
    assert "no network named 'net9'" in netd.ctl("start", "vm1", check=1).stderr
    netd.ctl("net-define", network(tmp_path, "net9"), check=0)
    assert "network 'net9' is not active" in netd.ctl("start", "vm1", check=1).stderr
    assert netd.json("info", "vm1")["state"] == "shut off"


def test_networks_stay_up_across_an_emberd_restart_and_read_only_may_look(netd, tmp_path):
    netd.ctl("net-define", network(tmp_path, autostart=True), check=0)
    netd.ctl("net-start", "net0", check=0)
    assert netd.ctl("net-list", sock=netd.ro_sock, check=0).returncode == 0
    assert "read-only" in netd.ctl("net-destroy", "net0", sock=netd.ro_sock, check=1).stderr
    assert "already active" in netd.ctl("net-start", "net0", check=1).stderr


@pytest.mark.parametrize("doc, message", [
    ({"name": "n", "ipv4": "10.0.0.1"}, "'ipv4' must be"),
    ({"name": "n", "ipv4": "10.0.0.1/31"}, "'ipv4' must be"),
    ({"name": "n", "ipv4": "300.0.0.1/24"}, "'ipv4' must be"),
    ({"name": "n", "ipv4": "10.0.0.1/24", "bridge": "a-name-far-too-long"}, "'bridge'"),
    ({"name": "n", "ipv4": "10.0.0.1/24", "nat": "yes"}, "'nat' must be a boolean"),
    ({"name": "n", "ipv4": "10.0.0.1/24", "dhcp": {"start": "x"}}, "'dhcp' must be"),
    ({"name": "n", "ipv4": "10.0.0.1/24", "mtu": 9000}, "unknown field 'mtu'"),
    ({"ipv4": "10.0.0.1/24"}, "'name' must be"),
])
def test_bad_networks_are_refused(emberd, tmp_path, doc, message):
    path = tmp_path / "bad.net.json"
    path.write_text(json.dumps(doc))
    assert message in emberd.ctl("net-define", path, check=1).stderr
    assert list((emberd.dir / "networks").iterdir()) == []


def console_session(d, typed):
    """`emberctl console vm1`: types each of `typed`, leaves with Ctrl-]; what it printed."""
    env = {**os.environ, "EMBER_SOCKET": str(d.sock)}
    con = subprocess.Popen([str(EMBERCTL), "console", "vm1"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    for line in typed:
        time.sleep(0.3)
        con.stdin.write(line)
        con.stdin.flush()
    time.sleep(0.5)
    con.stdin.write(b"\x1d")
    con.stdin.flush()
    out, err = con.communicate(timeout=10)
    assert con.returncode == 0, err
    return out


def test_fake_console_comes_back_after_an_emberd_restart(tmp_path):
    """ember serves its console on run/NAME/console.sock too: a new emberd connects there,
    so the console works again and console.log goes on (appended to, not restarted)."""
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    d.ctl("define", definition(tmp_path, test="x"), check=0)
    d.ctl("start", "vm1", check=0)
    sock = d.dir / "run" / "vm1" / "console.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert b"echo: before" in console_session(d, [b"before\n"])
    d.stop()
    d = Emberd(tmp_path, extra=["--ember", str(FAKE_EMBER)])
    try:
        assert b"echo: after" in console_session(d, [b"after\n"])
        log = (d.dir / "run" / "vm1" / "console.log").read_bytes()
        assert b"fake guest console" in log and b"echo: before" in log and \
            b"echo: after" in log, log
        d.ctl("destroy", "vm1", check=0)
        assert not sock.exists()
    finally:
        d.stop()


def test_fake_console_attach_type_detach(fake, tmp_path):
    fake.ctl("define", definition(tmp_path), check=0)
    fake.ctl("start", "vm1", check=0)
    env = {**os.environ, "EMBER_SOCKET": str(fake.sock)}
    con = subprocess.Popen([str(EMBERCTL), "console", "vm1"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    time.sleep(0.3)
    second = fake.ctl("console", "vm1", check=1)  # one client at a time
    assert "another client has its console" in second.stderr
    assert "not allowed on the read-only socket" in fake.ctl("console", "vm1",
                                                              sock=fake.ro_sock, check=1).stderr
    con.stdin.write(b"hello console\n")
    con.stdin.flush()
    time.sleep(0.5)
    con.stdin.write(b"\x1d")  # Ctrl-]: leave; the VM runs on
    con.stdin.flush()
    out, err = con.communicate(timeout=10)
    assert con.returncode == 0, err
    assert b"Connected to VM 'vm1'; escape character is ^]" in err
    assert b"echo: hello console" in out
    log = (fake.dir / "run" / "vm1" / "console.log").read_bytes()
    assert b"fake guest console" in log and b"echo: hello console" in log
    assert fake.json("info", "vm1")["state"] == "running"
    # Free again for the next client; and it ends when the VM does.
    con = subprocess.Popen([str(EMBERCTL), "console", "vm1"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    time.sleep(0.3)
    fake.ctl("destroy", "vm1", check=0)
    out, err = con.communicate(timeout=10)
    assert con.returncode == 0, err
