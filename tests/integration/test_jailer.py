"""ember-jailer: Firecracker's jailer flags, and what the jailed ember sees:
its own root holding only the program, its libraries and the device nodes it
uses; a dropped uid/gid with no_new_privs; its cgroups and resource limits;
new mount, PID and network namespaces. ember runs in API mode inside, which
needs no /dev/kvm, so all of it is tested on any host (as root)."""
import os
import pathlib
import signal
import subprocess
import time

import pytest

from emberlib import BUILD, EMBER, EmberAPI

JAILER = BUILD / "src" / "ember-jailer"
NOBODY = 65534
# cgroup v1 (memory and pids hierarchies, as on hybrid hosts such as this one) or v2.
V1 = pathlib.Path("/sys/fs/cgroup/memory").is_dir()
CG_ARGS = ["--cgroup-version", "1" if V1 else "2"]
MEMORY_LIMIT = "memory.limit_in_bytes" if V1 else "memory.max"


def cgroup_dir(controller, *parts):
    return pathlib.Path("/sys/fs/cgroup", controller if V1 else "", *parts)


def cgroup_of(pid, controller):
    for line in pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller in names.split(",")) if V1 else names == "":
            return path
    return None

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the jailer needs root")


# Leak checking needs /proc, which a jail does not have (sanitizer builds only).
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")


def jailer(*args, **kw):
    return subprocess.run([str(JAILER), *map(str, args)], capture_output=True, text=True,
                          timeout=30, env=ENV, **kw)


def base_args(tmp_path, jail_id):
    return ["--id", jail_id, "--exec-file", EMBER, "--uid", NOBODY, "--gid", NOBODY,
            "--chroot-base-dir", tmp_path]


@pytest.mark.parametrize("args, message", [
    ([], "--id, --exec-file, --uid and --gid are required"),
    (["--id", "a/b"], "--id must be 1 to 64 letters"),
    (["--id", "x" * 65], "--id must be"),
    (["--uid", "-1"], "--uid must be a number"),
    (["--cgroup-version", "3"], "--cgroup-version must be 1 or 2"),
    (["--cgroup", "memory"], "--cgroup: expected FILE=VALUE"),
    (["--cgroup", "../x.y=1"], "--cgroup: expected FILE=VALUE"),
    (["--resource-limit", "cores=1"], "--resource-limit: expected fsize=N or no-file=N"),
    (["--parent-cgroup", "../up"], "--parent-cgroup must be a relative path"),
    (["--bogus"], "unknown option '--bogus'"),
])
def test_bad_flags(tmp_path, args, message):
    r = jailer(*args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("ember-jailer: ") and message in r.stderr, r.stderr


def test_missing_program_and_relative_base(tmp_path):
    r = jailer("--id", "a", "--exec-file", tmp_path / "nope", "--uid", "1", "--gid", "1")
    assert r.returncode == 2 and "No such file or directory" in r.stderr
    r = jailer(*base_args("relative/dir", "a"))
    assert r.returncode == 2 and "must be an absolute path" in r.stderr


def test_refuses_to_run_unprivileged(tmp_path):
    r = jailer(*base_args(tmp_path, "a"), user=NOBODY)
    assert r.returncode == 1 and "must run as root" in r.stderr


def wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def status_of(pid):
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields


def api_in(root):
    api = EmberAPI.__new__(EmberAPI)
    api.sock = root / "api.sock"
    deadline = time.monotonic() + 10
    while not api.listening():
        assert time.monotonic() < deadline, "the jailed API never answered"
        time.sleep(0.02)
    return api


def test_jailed_ember_in_new_pid_namespace(tmp_path):
    for controller in ["memory", "pids"]:  # left by an earlier run that was killed
        for d in [cgroup_dir(controller, "ember/jail-1"), cgroup_dir(controller, "ember")]:
            if d.exists():
                d.rmdir()
    proc = subprocess.Popen([str(JAILER), *map(str, base_args(tmp_path, "jail-1")), *CG_ARGS,
                             "--cgroup", f"{MEMORY_LIMIT}=268435456",
                             "--cgroup", "pids.max=64", "--resource-limit", "no-file=128",
                             "--new-pid-ns", "--", "--api-sock", "/api.sock"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    root = tmp_path / "ember" / "jail-1" / "root"
    try:
        wait_for(root / "ember.pid")
        pid = int((root / "ember.pid").read_text())
        api = api_in(root)
        assert api.get("/")[1]["id"] == "jail-1"  # the jail's id reaches ember
        st = status_of(pid)
        assert st["Uid"] == [str(NOBODY)] * 4 and st["Gid"] == [str(NOBODY)] * 4
        assert st["NoNewPrivs"] == ["1"]
        assert st["NSpid"][1] == "1"  # PID 1 of its own namespace
        assert cgroup_of(pid, "memory") == "/ember/jail-1"
        assert cgroup_of(pid, "pids") == "/ember/jail-1"
        assert (cgroup_dir("memory", "ember/jail-1", MEMORY_LIMIT).read_text()
                == "268435456\n")
        limits = pathlib.Path(f"/proc/{pid}/limits").read_text()
        assert [l for l in limits.splitlines() if l.startswith("Max open files")][0].split()[3:5] \
            == ["128", "128"]
        for ns in ["mnt", "pid"]:
            assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
        # Its root: the program, its libraries, the device nodes; nothing of the host.
        top = sorted(p.name for p in root.iterdir())
        assert set(top) <= {"api.sock", "dev", "ember", "ember.pid", "lib", "lib64", "usr",
                            "proc"}, top
        # Sanitizer builds mount /proc inside the jail (for the sanitizers): empty out here.
        assert "proc" not in top or not any((root / "proc").iterdir())
        devs = sorted(str(p.relative_to(root)) for p in (root / "dev").rglob("*") if p.is_char_device())
        assert set(devs) <= {"dev/kvm", "dev/net/tun", "dev/urandom", "dev/null",
                             "dev/vhost-vsock"}, devs
        assert ("dev/kvm" in devs) == os.path.exists("/dev/kvm")
        fds = os.listdir(f"/proc/{pid}/fd")
        assert len(fds) < 12, fds  # the jailer's own fds did not leak in
        os.kill(pid, signal.SIGTERM)
        assert proc.wait(10) == 128 + signal.SIGTERM
    finally:
        proc.kill()  # and the jailed ember with it (its parent-death signal)
        proc.wait()
    # The jailer waited for it, then removed its cgroups.
    assert not cgroup_dir("memory", "ember/jail-1").exists()


def test_daemonized_in_a_network_namespace(tmp_path):
    ns = f"ember-jail-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        r = jailer(*base_args(tmp_path, "jail-2"), "--netns", f"/var/run/netns/{ns}",
                   "--daemonize", "--new-pid-ns", "--", "--api-sock", "/api.sock")
        assert r.returncode == 0, r.stderr  # detached at once
        root = tmp_path / "ember" / "jail-2" / "root"
        pid = int((root / "ember.pid").read_text())
        api_in(root)
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/var/run/netns/{ns}").st_ino
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert stat[3] == str(pid)  # its own session (setsid)
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        subprocess.run(["ip", "netns", "delete", ns])


def test_an_old_jail_root_is_not_reused(tmp_path):
    root = tmp_path / "ember" / "jail-5" / "root"
    root.mkdir(parents=True)
    (root / "lib").symlink_to("/etc")  # what a hostile earlier tenant could leave
    r = jailer(*base_args(tmp_path, "jail-5"), "--", "--api-sock", "/api.sock")
    assert r.returncode == 1 and "remove it, or use another --id" in r.stderr, r.stderr
    assert os.path.islink(root / "lib")  # nothing was followed or touched


def test_a_refused_cgroup_value_leaves_nothing_behind(tmp_path):
    r = jailer(*base_args(tmp_path, "jail-3"), *CG_ARGS, "--parent-cgroup", "ember-test-undo",
               "--cgroup", "pids.max=64", "--cgroup", f"{MEMORY_LIMIT}=banana")
    assert r.returncode == 1, r.stderr
    assert f"cannot set {MEMORY_LIMIT} to 'banana'" in r.stderr
    for controller in ["pids", "memory"]:
        assert not cgroup_dir(controller, "ember-test-undo").exists()


def test_killing_a_waiting_jailer_ends_its_ember(tmp_path):
    proc = subprocess.Popen([str(JAILER), *map(str, base_args(tmp_path, "jail-4")),
                             "--new-pid-ns", "--", "--api-sock", "/api.sock"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    root = tmp_path / "ember" / "jail-4" / "root"
    wait_for(root / "ember.pid")
    pid = int((root / "ember.pid").read_text())
    api_in(root)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() < deadline, "ember outlived its jailer"
        time.sleep(0.02)
