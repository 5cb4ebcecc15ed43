#!/usr/bin/python3
"""A stand-in for ember, for emberd's tests on hosts without /dev/kvm: the
same command line, an API socket answering what emberd asks (GET /, PATCH
/vm, the power button, snapshot create and load), one thread per vCPU named
vcpuN, and ember's last log line. It runs no guest. Its guest's command line
may say: ignore-power (the power button does nothing), fail-start (ember's
start fails). Its serial console echoes the lines it gets."""
import argparse
import ctypes
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import time

libc = ctypes.CDLL(None)


def log(path, msg):
    with open(path, "a") as f:
        f.write(f"2026-01-01T00:00:00.000000Z [fake:main] INFO main: {msg}\n")


def console_echo():
    """The "guest" on the serial console: says hello, then echoes each line it gets."""
    sys.stdout.write("fake guest console\n")
    sys.stdout.flush()
    for line in sys.stdin:
        sys.stdout.write(f"echo: {line.strip()}\n")
        sys.stdout.flush()


def vcpu_thread(n):
    libc.prctl(15, f"vcpu{n}".encode(), 0, 0, 0)  # PR_SET_NAME
    while True:
        time.sleep(3600)


class Fake:
    def __init__(self, args):
        self.args = args
        self.state = "Not started"
        self.config = {}
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
        threading.Thread(target=console_echo, daemon=True).start()

    def end(self, reason, status):
        log(self.args.log_path, f"the VM stopped: {reason}")
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
                open(b["snapshot_path"], "w").write(json.dumps(fake.config))
                open(b["mem_file_path"], "w").write("memory")
                self.reply(204)
            elif self.path == "/snapshot/load":
                fake.config = json.load(open(b["snapshot_path"]))
                fake.boot()
                self.reply(204)
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
    args = p.parse_args()
    fake = Fake(args)
    signal.signal(signal.SIGTERM, lambda *a: fake.end("signal", 128 + 15))
    socketserver.UnixStreamServer.allow_reuse_address = True
    server = socketserver.UnixStreamServer(args.api_sock, handler(fake))
    server.serve_forever()


main()
