#!/usr/bin/python3
"""A stand-in for ember, for emberd's tests on hosts without /dev/kvm: the
same command line, an API socket answering what emberd asks (GET /, PATCH
/vm, the power button, snapshot create and load), one thread per vCPU named
vcpuN, and ember's last log line. It runs no guest. Its guest's command line
may say: ignore-power (the power button does nothing), fail-start (ember's
start fails), refuse-migration (a receiver refuses it), slow-snapshot (a
snapshot takes 1.5 s). Its serial console
echoes the lines it gets; with --console-sock, as ember, a client of that
socket takes stdin and stdout over.

Migration (PUT /ember/migration/send and /receive, GET /ember/migration)
goes over a Unix socket in its own made-up stream: the sender sends the VM's
config as a JSON line, then "RAM" in slow chunks, so that progress shows;
the receiver answers "ok" or why not."""
import argparse
import ctypes
import http.server
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time

libc = ctypes.CDLL(None)


def log(path, msg):
    with open(path, "a") as f:
        f.write(f"2026-01-01T00:00:00.000000Z [fake:main] INFO main: {msg}\n")


class Console:
    """stdin and stdout, the console; with a socket, its newest client becomes both, and
    between clients they are /dev/null (as ember's --console-sock)."""

    def __init__(self, path):
        self.clients = 0
        self.arrived = threading.Condition()
        if path:
            self.srv = socket.socket(socket.AF_UNIX)
            old = os.umask(0o177)
            self.srv.bind(path)
            os.umask(old)
            self.srv.listen(4)
            threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            c, _ = self.srv.accept()
            with self.arrived:
                os.dup2(c.fileno(), 0)
                os.dup2(c.fileno(), 1)
                c.close()
                self.clients += 1
                self.arrived.notify_all()

    def read(self):
        """The next bytes typed; at a client's end, waits for the next one."""
        while True:
            seen = self.clients
            data = os.read(0, 4096)
            if data:
                return data
            with self.arrived:
                if not hasattr(self, "srv"):
                    return b""
                if self.clients == seen:  # no newer client yet: nothing until one comes
                    null = os.open("/dev/null", os.O_RDWR)
                    os.dup2(null, 0)
                    os.dup2(null, 1)
                    os.close(null)
                    self.arrived.wait_for(lambda: self.clients != seen)


def console_echo(con):
    """The "guest" on the serial console: says hello, then echoes each line it gets."""
    os.write(1, b"fake guest console\n")
    pending = b""
    while data := con.read():
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                os.write(1, b"echo: " + line.strip() + b"\n")
            except BrokenPipeError:
                pass  # the client just left: lost, as on ember


def vcpu_thread(n):
    libc.prctl(15, f"vcpu{n}".encode(), 0, 0, 0)  # PR_SET_NAME
    while True:
        time.sleep(3600)


RAM = 8 << 20
CHUNK = 1 << 20


class Fake:
    def __init__(self, args):
        self.args = args
        self.console = Console(args.console_sock)  # before the API socket, as ember
        self.state = "Not started"
        self.config = {}
        self.migration = {"state": "none"}
        if args.config_file:
            self.config = json.load(open(args.config_file))
            self.boot()

    def boot_args(self):
        return (self.config.get("boot-source") or {}).get("boot_args") or ""

    def boot(self):
        if "fail-start" in self.boot_args():
            print("ember: fake start failure (fail-start)", file=sys.stderr)
            sys.exit(1)
        for n in range((self.config.get("machine-config") or {}).get("vcpu_count", 1)):
            threading.Thread(target=vcpu_thread, args=(n,), daemon=True).start()
        self.state = "Running"
        threading.Thread(target=console_echo, args=(self.console,), daemon=True).start()

    def progress(self, role, url, state, **figures):
        self.migration = {"state": state, "role": role, "url": url, "elapsed_ms": 0,
                          "ram_bytes": RAM, "bytes": 0, "rounds": 0, "dirty_pages": 0,
                          **figures}

    def send(self, url):
        """(status, reply) once the receiver answered; on success ember ends."""
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(url.removeprefix("unix:"))
        except OSError as e:
            return 400, {"fault_message": f"migration: cannot connect to '{url}': {e.strerror}"}
        self.progress("send", url, "copying")
        s.sendall(json.dumps(self.config).encode() + b"\n")
        for sent in range(CHUNK, RAM + 1, CHUNK):
            s.sendall(b"\0" * CHUNK)
            self.migration.update(bytes=sent, rounds=sent // CHUNK, dirty_pages=64)
            time.sleep(0.15)
        s.shutdown(socket.SHUT_WR)
        answer = s.makefile().readline().strip()
        self.progress("send", url, "finishing")
        if answer != "ok":
            self.migration = {"state": "failed", "error": answer}
            return 400, {"fault_message": f"migration: the receiver failed: {answer}"}
        return 200, {"total_ms": 1200, "downtime_ms": 5, "bytes": RAM, "rounds": 8,
                     "last_round_pages": 64}

    def receive(self, url, timeout):
        path = url.removeprefix("unix:")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(timeout)
        self.progress("receive", url, "listening")
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            return 400, {"fault_message": f"migration: no sender came to '{url}' in {timeout} s"}
        finally:
            listener.close()
            os.unlink(path)
        self.progress("receive", url, "copying")
        f = conn.makefile("rb")
        config = json.loads(f.readline())
        got = 0
        while chunk := f.read(CHUNK):
            got += len(chunk)
            self.migration["bytes"] = got
        refused = "refuse-migration" in (config.get("boot-source") or {}).get("boot_args", "")
        conn.sendall(b"the receiver says no\n" if refused else b"ok\n")
        conn.close()
        if refused:
            return 400, {"fault_message": "migration: the receiver says no"}
        self.config = config
        self.boot()
        return 204, None

    def end(self, reason, status):
        log(self.args.log_path, f"the VM stopped: {reason}")
        if self.args.console_sock:
            os.unlink(self.args.console_sock)
        os._exit(status)


def handler(fake):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, status, body=None):
            data = json.dumps(body).encode() if body is not None else b""
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                pass  # the client hung up after the status it wanted: its business

        def body(self):
            n = int(self.headers.get("Content-Length", 0))
            return json.loads(self.rfile.read(n) or b"{}")

        def do_GET(self):
            if self.path == "/ember/migration":
                self.reply(200, fake.migration)
                return
            self.reply(200, {"id": fake.args.id, "state": fake.state, "app_name": "fake-ember"})

        def do_PATCH(self):
            fake.state = "Paused" if self.body().get("state") == "Paused" else "Running"
            self.reply(204)

        def do_PUT(self):
            b = self.body()
            if self.path == "/ember/power-button":
                self.reply(204)
                if "ignore-power" not in fake.boot_args():
                    fake.end("poweroff", 0)  # the reply is on its way; the "guest" powers off
            elif self.path == "/snapshot/create":
                if "slow-snapshot" in fake.boot_args():
                    time.sleep(1.5)  # a large memory file being written
                open(b["snapshot_path"], "w").write(json.dumps(fake.config))
                open(b["mem_file_path"], "w").write("memory")
                self.reply(204)
            elif self.path == "/snapshot/load":
                fake.config = json.load(open(b["snapshot_path"]))
                fake.boot()
                self.reply(204)
            elif self.path == "/ember/migration/send":
                status, reply = fake.send(b["url"])
                self.reply(status, reply)
                if status == 200:
                    fake.end("migrated", 0)
            elif self.path == "/ember/migration/receive":
                overrides = {k: b[k] for k in ("network_overrides", "vsock_override") if k in b}
                log(fake.args.log_path, "receive overrides: " + json.dumps(overrides,
                                                                            sort_keys=True))
                self.reply(*fake.receive(b["url"], b.get("timeout_s", 300)))
            else:
                self.reply(400, {"fault_message": f"fake-ember: no {self.path}"})
    return H


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--api-sock", required=True)
    p.add_argument("--id")
    p.add_argument("--log-path", required=True)
    p.add_argument("--level")
    p.add_argument("--config-file")
    p.add_argument("--console-sock")
    args = p.parse_args()
    fake = Fake(args)
    signal.signal(signal.SIGTERM, lambda *a: fake.end("signal", 128 + 15))
    # Threads: progress is asked for while a migration's request waits, as with ember.
    server = socketserver.ThreadingUnixStreamServer(args.api_sock, handler(fake))
    server.daemon_threads = True
    server.serve_forever()


main()
