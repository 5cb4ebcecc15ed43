"""Debian's own kernel for tests that need a stock Linux: fetched from the
package archive with `apt-get download` (once per build tree), and small
cpio initramfs archives built without root or external tools."""
import io
import pathlib
import shutil
import subprocess

import pytest

BUSYBOX = "/bin/busybox"


def cpio_newc(entries):
    """A cpio "newc" archive, the format Linux's initramfs code reads.
    entries: (name, mode, data, rdev) with data None for directories and
    device nodes, rdev a (major, minor) pair for device nodes."""
    out = io.BytesIO()

    def put(name, mode, data, ino, rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
        out.write(b"070701" + b"".join(b"%08x" % f for f in fields) + name_b)
        out.write(b"\0" * (-out.tell() % 4))  # the header and name, padded to 4 bytes
        out.write(data)
        out.write(b"\0" * (-out.tell() % 4))  # the data, likewise

    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        put(name, mode, data or b"", ino, rdev)
    put("TRAILER!!!", 0, b"", 0)
    return out.getvalue()


def dirs(*names):
    return [(d, 0o040755, None, (0, 0)) for d in names]


def file(name, data, mode=0o100644):
    return (name, mode, data, (0, 0))


def busybox_entries():
    """/bin/busybox and the device node a console needs."""
    if not pathlib.Path(BUSYBOX).exists():
        pytest.skip("needs busybox-static (scripts/setup.sh installs it)")
    return [("dev/console", 0o020600, None, (5, 1)),
            file("bin/busybox", pathlib.Path(BUSYBOX).read_bytes(), 0o100755)]


def fetch_debian_kernel(cache):
    """The unpacked linux-image package (its root: boot/, lib/modules/),
    downloaded into `cache` unless it is there already."""
    root = cache / "root"
    if list((root / "boot").glob("vmlinuz-*")):
        return root
    if not shutil.which("dpkg-deb"):
        pytest.skip("needs dpkg-deb")
    cache.mkdir(parents=True, exist_ok=True)
    deps = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                          text=True).stdout
    names = [l.split()[1] for l in deps.splitlines() if "Depends: linux-image-" in l]
    if not names:
        pytest.skip("apt-cache knows no linux-image-amd64 package")
    proc = subprocess.run(["apt-get", "download", names[0]], cwd=cache, capture_output=True,
                          text=True, timeout=600)
    debs = list(cache.glob("linux-image-*.deb"))
    if proc.returncode != 0 or not debs:
        pytest.skip(f"apt-get download {names[0]} failed: {proc.stderr.strip()[-300:]}")
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    for deb in debs:
        deb.unlink()
    return root


def kernel_image(root):
    return next((root / "boot").glob("vmlinuz-*"))


def kernel_module(root, name):
    """The path of module `name` (e.g. "kvm-amd") in the unpacked package."""
    found = list((root / "lib" / "modules").glob(f"*/kernel/**/{name}.ko"))
    if not found:
        pytest.skip(f"the kernel package has no {name}.ko")
    return found[0]
