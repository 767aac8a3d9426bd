"""Helpers shared by test_kind.py and test_container.py: free ports, a horizond process started on
a configuration file and stopped by its own handle, dig, HTTP on loopback, a stand-in API server.

Traffic goes only to 127.0.0.0/8. Every wait is bounded.
"""
from __future__ import annotations

import http.server as http_server
import json
import random
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import CheckFailed, stop_process

SUBPROCESS_TIMEOUT = 20.0


def run(argv: list[str], *, stdin: str | None = None, timeout: float = SUBPROCESS_TIMEOUT,
        check: bool = False) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                       stdin=None if stdin is not None else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise CheckFailed(f"{' '.join(argv)} exited {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def free_port(address: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on `address`."""
    for _ in range(200):
        port = random.randrange(20000, 60000)
        held = []
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                held.append(s)
                s.bind((address, port))
            return port
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise CheckFailed("no free port found")


def port_free(address: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def http_get(url: str, timeout: float = 2.0, data: bytes | None = None,
             headers: dict | None = None) -> tuple[int, str, dict]:
    """(status, body, headers) of a GET (or POST with `data`); HTTP errors are results too."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), dict(e.headers)


class Horizond:
    """One horizond process on a configuration file, its output in `log`."""

    def __init__(self, binary: str, config: Path, state: Path, log: Path, admin: str):
        self.binary, self.config, self.state, self.log, self.admin = \
            binary, config, state, log, admin
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0):
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--config", str(self.config), "--state-dir", str(self.state)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CheckFailed(f"horizond exited {self.proc.returncode} at start-up:\n"
                                  + self.tail())
            try:
                if http_get(f"http://{self.admin}/readyz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise CheckFailed(f"horizond's /readyz did not answer within {timeout} s:\n" + self.tail())

    def alive(self):
        if self.proc is None or self.proc.poll() is not None:
            raise CheckFailed("horizond is not running:\n" + self.tail())

    def stop(self) -> int:
        """SIGTERM (then SIGKILL after 10 s); the exit status, 0 if it never started."""
        return stop_process(self.proc, timeout=10.0) if self.proc is not None else 0

    def tail(self, n: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-n:])

    def wait_log(self, needle: str, timeout: float = 10.0, after: int = 0) -> None:
        """Until `needle` appears in the log past byte `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log.read_bytes()[after:].decode(errors="replace"):
                return
            time.sleep(0.05)
        raise CheckFailed(f"no {needle!r} in horizond's log within {timeout} s:\n" + self.tail())


def dig(server: str, port: int, name: str, source: str | None = None, tcp: bool = False,
        qtype: str = "A") -> list[str]:
    """The answer's addresses (sorted), from `source` over UDP or TCP."""
    argv = ["dig", "+short", "+tries=1", "+time=2", "-p", str(port), f"@{server}", name, qtype]
    if source:
        argv += ["-b", source]
    if tcp:
        argv.append("+tcp")
    p = run(argv)
    if p.returncode != 0:
        raise CheckFailed(f"{' '.join(argv)} exited {p.returncode}\n{p.stdout}{p.stderr}")
    return sorted(line for line in p.stdout.split() if line)


class FakeApiServer:
    """A plain-HTTP stand-in for kube-apiserver on 127.0.0.1: GET /version answers JSON with
    the peer it saw (the gate proxies byte for byte, so plain HTTP passes like TLS would)."""

    def __init__(self):
        class Handler(http_server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = json.dumps({"gitVersion": "v1.31.0", "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def curl(url: str, *, resolve: str | None = None, interface: str | None = None,
         max_time: float = 3.0) -> tuple[int, str]:
    """(curl's exit status, body)."""
    argv = ["curl", "-sS", "--max-time", str(max_time), "--noproxy", "*"]
    if resolve:
        argv += ["--resolve", resolve]
    if interface:
        argv += ["--interface", interface]
    p = run(argv + [url], timeout=max_time + 10)
    return p.returncode, p.stdout
