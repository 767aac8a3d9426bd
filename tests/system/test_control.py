#!/usr/bin/env python3
"""System test of the control plane: a real horizond driven by horizonctl, raw HTTP and the AWS CLI.

Starts `horizond --config FILE --state-dir DIR` (the config in a Kubernetes ConfigMap layout:
FILE -> ..data/horizond.toml, ..data -> a timestamped directory) with two clusters: `aews`
(public+private, IPv4 only, update_duration "2s") and `pubc` (public, dual-stack, "0s"). Checks:
horizonctl's command line and output shapes; describe-cluster piped through jq/cut into dig; every
EKS error case with its exact text, through horizonctl (exit 254) and raw HTTP (status and
x-amzn-ErrorType); the seed lab's flow (public+private -> public -> public+private -> private) with
dig from inside (127.10.0.5) and outside (127.0.0.1, ::1) before, during and after each update;
restart after SIGTERM and kill -9 (also in the middle of updates); explain and CHAOS TXT; reload by
SIGHUP, by ConfigMap symlink swap, of an invalid file, under a steady query load; /metrics; and the
same workflow through the real AWS CLI (`aws eks ... --endpoint-url`, dummy credentials).

Traffic goes only to 127.0.0.0/8 and ::1. Python 3.11 and dnspython (harness.py), plus dig, jq,
bash and the AWS CLI as external commands.

usage: test_control.py --horizond PATH --horizonctl PATH [--aws PATH] [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 unless one failed.
"""
from __future__ import annotations

import functools
import http.client as http_client
import http.server as http_server
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import harness
from harness import (AAAA, A, CheckFailed, Checks, DigResult, Http, aws_cli, aws_env, clean_env,
                     expect_running, framed_log_tail, free_port, http_status, make_query,
                     parse_args, read_log, run_script, server_for, shown, start_process,
                     stop_process, udp_answer)

# ------------------------------------------------------------------------------------------------
# What the test configures and expects

INSIDE = "127.10.0.5"  # in 127.10.0.0/16, one of both clusters' vpc_cidrs
OUTSIDE = "127.0.0.1"
OUTSIDE6 = "::1"

AEWS = "aews"
AEWS_EP = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com"
AEWS_PRIVATE = ["192.168.1.10", "192.168.2.10"]
AEWS_PUBLIC = ["203.0.113.10", "203.0.113.20"]
PUBC = "pubc"
PUBC_EP = "0123456789ABCDEF0123456789ABCDEF.yl4.us-east-1.eks.amazonaws.com"
PUBC_PRIVATE = ["10.0.1.10", "fd00::10"]
PUBC_PUBLIC = ["198.51.100.7", "2001:db8::7"]
LAB_CIDR = "203.0.113.5/32"  # the seed lab's "$(curl -s ipinfo.io/ip)/32"

SUBPROCESS_TIMEOUT = 15.0  # any single dig/horizonctl/aws invocation
TIME_BUDGET = 300.0        # checks still pending after this many seconds fail as "not run"
UPDATE_SECONDS = 2.0       # aews's update_duration
START_TIMEOUT = 10.0

EXIT_USAGE, EXIT_SERVICE, EXIT_OTHER = 252, 254, 255

# EKS-FACTS §4
BOTH_FALSE = "Both private and public endpoint access cannot be false"
NO_OP = ("Cluster is already at the desired configuration with endpointPrivateAccess: {priv} , "
         "endpointPublicAccess: {pub}, and Public Endpoint Restrictions: [{cidrs}]")
INVALID_CIDRS = "The following CIDRs are invalid in publicAccessCidrs: {}"
TOO_MANY = "publicAccessCidrs can contain at most 40 CIDR blocks"
IN_PROGRESS = "Cannot EndpointAccessUpdate because cluster {} currently has an update in progress"
NOT_FOUND = "No cluster found for name: {}."

MODES = {  # access mode -> (endpointPublicAccess, endpointPrivateAccess)
    "public": (True, False),
    "public+private": (True, True),
    "private": (False, True),
}


def toml_list(items) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def config_text(*, ttl: int = 60, aews_mode: str = "public+private", pubc_mode: str = "public",
                aews_duration: str = "2s", extra: str = "") -> str:
    return "\n".join([
        "# written by tests/system/test_control.py",
        "[server]",
        f'listen = ["127.0.0.1:{ENV.port}", "[::1]:{ENV.port}"]',
        f'admin_listen = "127.0.0.1:{ENV.admin_port}"',
        "workers = 2",
        "",
        "[[cluster]]",
        f'name = "{AEWS}"',
        'region = "ap-northeast-2"',
        f'endpoint = "{AEWS_EP}"',
        'vpc_cidrs = ["192.168.0.0/16", "127.10.0.0/16"]',
        "private_ips = " + toml_list(AEWS_PRIVATE),
        "public_ips = " + toml_list(AEWS_PUBLIC),
        f'access_mode = "{aews_mode}"',
        f"ttl = {ttl}",
        f'update_duration = "{aews_duration}"',
        "",
        "[[cluster]]",
        f'name = "{PUBC}"',
        'region = "us-east-1"',
        f'endpoint = "{PUBC_EP}"',
        'vpc_cidrs = ["10.0.0.0/16", "127.10.0.0/16"]',
        "private_ips = " + toml_list(PUBC_PRIVATE),
        "public_ips = " + toml_list(PUBC_PUBLIC),
        f'access_mode = "{pubc_mode}"',
        f"ttl = {ttl}",
        'update_duration = "0s"',
        extra,
    ]) + "\n"


# ------------------------------------------------------------------------------------------------
# Failures and subprocesses


run = functools.partial(harness.run, timeout=SUBPROCESS_TIMEOUT)


class Env:
    horizond: str = ""
    horizonctl: str = ""
    aws: str | None = None
    tmp: Path = Path()
    cfgdir: Path = Path()   # the ConfigMap volume
    config: Path = Path()   # cfgdir/horizond.toml (-> ..data/horizond.toml)
    state: Path = Path()
    log: Path = Path()
    port: int = 0
    admin_port: int = 0
    proc: subprocess.Popen | None = None
    data_serial: int = 0
    ttl: int = 60
    aews_duration: str = "2s"
    aews_mode_file: str = "public+private"
    pubc_mode_file: str = "public"
    aews_updates: list[str] = []  # update ids, oldest first
    pubc_updates: list[str] = []

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"


ENV = Env()


# ------------------------------------------------------------------------------------------------
# horizonctl, raw HTTP, the AWS CLI


def ctl(*args: str, output: str | None = None, endpoint: str | None = None,
        env: dict | None = None, timeout: float = SUBPROCESS_TIMEOUT) -> subprocess.CompletedProcess:
    cmd = [ENV.horizonctl, "--endpoint-url", endpoint or ENV.admin_url]
    if output:
        cmd += ["--output", output]
    return run(cmd + list(args), env=env or clean_env(), timeout=timeout)


def ctl_json(*args: str) -> dict:
    p = ctl(*args)
    if p.returncode != 0 or p.stderr:
        raise CheckFailed(f"horizonctl failed\n{shown(p)}")
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise CheckFailed(f"horizonctl printed no JSON ({e})\n{shown(p)}") from None


def ctl_error(args: list[str], error_type: str, operation: str, message: str):
    """horizonctl exits 254 with exactly the AWS CLI's error line on stderr, nothing on stdout."""
    p = ctl(*args)
    want = f"\nAn error occurred ({error_type}) when calling the {operation} operation: {message}\n"
    if p.returncode != EXIT_SERVICE or p.stderr != want or p.stdout:
        raise CheckFailed(f"expected exit {EXIT_SERVICE}, no stdout and stderr {want!r}\n{shown(p)}")


def http(method: str, path: str, body=None, *, timeout: float = 5.0, port: int | None = None) -> Http:
    """The admin API: `body` as JSON (bytes as they are)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return harness.http(method, f"http://127.0.0.1:{port or ENV.admin_port}{path}", data,
                        headers={"Content-Type": "application/json"} if data else {},
                        timeout=timeout)


def http_error(method: str, path: str, body, status: int, error_type: str, message: str | None):
    """The EKS REST error shape: status, x-amzn-ErrorType and {"__type", "message"}."""
    r = http(method, path, body)
    where = f"{method} {path} {json.dumps(body) if body is not None else ''}"
    if r.status != status:
        raise CheckFailed(f"{where}: HTTP {r.status}, expected {status}\n{r.text}")
    header = r.headers.get("x-amzn-errortype", "")
    if header.split(":")[0] != error_type:
        raise CheckFailed(f"{where}: x-amzn-ErrorType {header!r}, expected {error_type!r}")
    j = r.json()
    if j.get("__type", "").split("#")[-1] != error_type:
        raise CheckFailed(f"{where}: __type {j.get('__type')!r}, expected {error_type!r}")
    if message is not None and j.get("message") != message:
        raise CheckFailed(f"{where}: message {j.get('message')!r}, expected {message!r}")
    if message is None and not j.get("message"):
        raise CheckFailed(f"{where}: no message in {j}")


def aws(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    if ENV.aws is None:
        raise CheckFailed("the AWS CLI (aws) is not installed")
    return run([ENV.aws, *args, "--endpoint-url", ENV.admin_url], env=aws_env(ENV.tmp / "aws"),
               timeout=timeout)


def bash(script: str, env: dict[str, str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    return run(["bash", "-o", "pipefail", "-c", script], env=env, timeout=timeout,
               shell_text=script)


# ------------------------------------------------------------------------------------------------
# DNS: dig for the named checks, raw UDP for the tight loops


def dig(name: str, *, src: str = OUTSIDE, qtype: str = "A", qclass: str = "IN",
        tcp: bool = False) -> DigResult:
    d = harness.dig("dig", server_for(src), ENV.port, name, qtype, src=src, tcp=tcp, qclass=qclass)
    if d.status is None:
        d.fail("dig got no answer")
    return d


def dig_a_both(name: str, src: str) -> DigResult:
    """A and AAAA together: the addresses of the answered set, any family."""
    a = dig(name, src=src, qtype="A")
    aaaa = dig(name, src=src, qtype="AAAA")
    for d in (a, aaaa):
        if d.status != "NOERROR":
            d.fail(f"status {d.status}, expected NOERROR")
    a.answer += aaaa.answer
    a.out += "\n" + aaaa.out
    return a


def expect_answer(name: str, src: str, want: list[str], *, ttl: int | None = None, tcp=False):
    d = dig(name, src=src, qtype="A", tcp=tcp)
    if d.status != "NOERROR":
        d.fail(f"status {d.status}, expected NOERROR")
    want4 = sorted(a for a in want if ":" not in a)
    if d.addresses() != want4:
        d.fail(f"answer {d.addresses()} from {src}, expected {want4}")
    if ttl is not None and any(r[1] != ttl for r in d.answer):
        d.fail(f"TTL {[r[1] for r in d.answer]}, expected {ttl}")
    return d




class Udp:
    def __init__(self, src: str):
        self.sock = socket.socket(socket.AF_INET6 if ":" in src else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((src, 0))
        self.dest = (server_for(src), ENV.port)

    def ask(self, name: str, qid: int, timeout: float = 1.0) -> tuple[int, list[str], list[int]] | None:
        """One query, its answer (rcode, addresses, TTLs), or None after `timeout`."""
        self.sock.sendto(make_query(qid, name), self.dest)
        m = udp_answer(self.sock, qid, timeout)  # a late answer to an earlier query is skipped
        if m is None:
            return None
        if not m.qr:
            raise ValueError("QR not set")
        return m.rcode, m.addresses(), [r.ttl for r in m.section("an") if r.type in (A, AAAA)]

    def close(self):
        self.sock.close()


def quick_addresses(name: str, src: str) -> list[str]:
    u = Udp(src)
    try:
        got = u.ask(name, random.randrange(65536), 2.0)
    finally:
        u.close()
    if got is None or got[0] != 0:
        raise CheckFailed(f"no NOERROR answer for {name} from {src}: {got}")
    return got[1]


# ------------------------------------------------------------------------------------------------
# The server


def write_config_in_place(text: str):
    """Rewrites the file the ConfigMap link points to (an in-place edit, for SIGHUP)."""
    target = ENV.config.resolve()
    target.write_text(text)


def swap_config(text: str):
    """As the kubelet updates a ConfigMap volume: a new timestamped directory, a new `..data_tmp`
    link to it renamed over `..data` (atomic), then the old directory removed."""
    ENV.data_serial += 1
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.") + f"{ENV.data_serial:09d}"
    new = ENV.cfgdir / stamp
    new.mkdir()
    (new / "horizond.toml").write_text(text)
    old = (ENV.cfgdir / "..data").resolve() if (ENV.cfgdir / "..data").exists() else None
    tmp_link = ENV.cfgdir / "..data_tmp"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(stamp, tmp_link)
    os.replace(tmp_link, ENV.cfgdir / "..data")
    if not ENV.config.is_symlink():
        os.symlink("..data/horizond.toml", ENV.config)
    if old is not None and old != new.resolve():
        shutil.rmtree(old)


def current_config(**overrides) -> str:
    args = {"ttl": ENV.ttl, "aews_mode": ENV.aews_mode_file, "pubc_mode": ENV.pubc_mode_file,
            "aews_duration": ENV.aews_duration}
    args.update(overrides)
    return config_text(**args)


def start_server():
    """Starts horizond on the config and state dir in ENV; returns once DNS and /healthz answer."""
    ENV.proc = start_process(
        [ENV.horizond, "--config", str(ENV.config), "--state-dir", str(ENV.state)], ENV.log,
        timeout=START_TIMEOUT, ready=lambda: quick_ok(AEWS_EP, OUTSIDE) and
        http_status(f"{ENV.admin_url}/healthz") == 200)


def quick_ok(name: str, src: str) -> bool:
    """Whether `name` gets NOERROR over UDP from `src` within 0.2 s (a readiness check)."""
    u = Udp(src)
    try:
        got = u.ask(name, 7, 0.2)
    finally:
        u.close()
    return got is not None and got[0] == 0


def stop_server(sig: int = signal.SIGTERM) -> int:
    return stop_process(ENV.proc, timeout=10, sig=sig, must_exit=True)


def log_text() -> str:
    return read_log(ENV.log)


def readyz() -> dict:
    r = http("GET", "/readyz")
    return r.json() | {"_status": r.status}


def generation() -> int:
    j = readyz()
    g = j.get("generation")
    if not isinstance(g, int):
        raise CheckFailed(f"/readyz has no integer generation: {j}")
    return g


# ------------------------------------------------------------------------------------------------
# Cluster state helpers


def describe(name: str = AEWS) -> dict:
    return ctl_json("describe-cluster", "--name", name)["cluster"]


def vpc_of(name: str = AEWS) -> dict:
    return describe(name)["resourcesVpcConfig"]


def mode_of(vpc: dict) -> str:
    for mode, (pub, priv) in MODES.items():
        if (vpc["endpointPublicAccess"], vpc["endpointPrivateAccess"]) == (pub, priv):
            return mode
    raise CheckFailed(f"no access mode has {vpc}")


def expected_sets(mode: str, private: list[str], public: list[str]) -> tuple[list[str], list[str]]:
    """(inside, outside) answers per EKS-FACTS §2 (private_outside = "private-ips")."""
    if mode == "public":
        return public, public
    if mode == "public+private":
        return private, public
    return private, private


def expect_views(mode: str):
    inside, outside = expected_sets(mode, AEWS_PRIVATE, AEWS_PUBLIC)
    expect_answer(AEWS_EP, INSIDE, inside)
    expect_answer(AEWS_EP, OUTSIDE, outside)
    expect_answer(AEWS_EP, OUTSIDE6, outside, tcp=True)


def update(name: str, vpc_arg: str) -> dict:
    """horizonctl update-cluster-config; returns the update, checked for the EKS shape."""
    j = ctl_json("update-cluster-config", "--name", name, "--resources-vpc-config", vpc_arg)
    u = j.get("update")
    if not isinstance(u, dict):
        raise CheckFailed(f"no update in {j}")
    if list(u) != ["id", "status", "type", "params", "createdAt", "errors"]:
        raise CheckFailed(f"update members {list(u)}, expected the EKS Update shape in its order")
    try:
        uuid.UUID(u["id"])
    except ValueError:
        raise CheckFailed(f"update id {u['id']!r} is not a UUID") from None
    if u["status"] != "InProgress" or u["type"] != "EndpointAccessUpdate" or u["errors"] != []:
        raise CheckFailed(f"a new update should be InProgress EndpointAccessUpdate without errors: {u}")
    check_iso(u["createdAt"], "update.createdAt")
    (ENV.aews_updates if name == AEWS else ENV.pubc_updates).append(u["id"])
    return u


def params_of(u: dict) -> dict[str, str]:
    return {p["type"]: p["value"] for p in u["params"]}


def wait_update(name: str, update_id: str, timeout: float = 20.0) -> float:
    t0 = time.monotonic()
    p = ctl("wait", "update-successful", "--name", name, "--update-id", update_id,
            "--timeout", f"{int(timeout)}s", timeout=timeout + 10)
    if p.returncode != 0 or p.stdout or p.stderr:
        raise CheckFailed(f"wait update-successful should exit 0 silently\n{shown(p)}")
    return time.monotonic() - t0


ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?[+-]\d\d:\d\d$")


def check_iso(value, what: str):
    if not isinstance(value, str) or not ISO_RE.match(value):
        raise CheckFailed(f"{what} {value!r} is not an ISO 8601 timestamp as the AWS CLI prints it "
                          f"(2026-11-25T14:48:41.123000+00:00)")


# ------------------------------------------------------------------------------------------------
# The checks. Each is a function that raises CheckFailed; `server` ones need horizond running.

CHECKS = Checks()
check = CHECKS


# --- horizonctl on its own


@check("cli.help", server=False)
def _():
    for args in (["--help"], ["help"], ["describe-cluster", "help"]):
        p = run([ENV.horizonctl, *args])
        if p.returncode != 0 or not p.stdout.startswith("usage: horizonctl") or \
                "update-cluster-config" not in p.stdout or "wait update-successful" not in p.stdout:
            raise CheckFailed(f"expected exit 0 and the usage text\n{shown(p)}")


@check("cli.version", server=False)
def _():
    p = run([ENV.horizonctl, "--version"])
    if p.returncode != 0 or not re.fullmatch(r"horizonctl \d+\.\d+\.\d+\n", p.stdout):
        raise CheckFailed(f"expected exit 0 and 'horizonctl X.Y.Z'\n{shown(p)}")


@check("cli.usage-errors-exit-252", server=False)
def _():
    url = "http://127.0.0.1:9"  # never contacted: usage errors come first
    cases = [
        ([], "the following arguments are required: command"),
        (["describe-cluster"], "the following arguments are required: --name"),
        (["describe-update", "--name", "aews"], "the following arguments are required: --update-id"),
        (["describe-cluster", "--name", "a", "--bogus"], "Unknown options: --bogus"),
        (["describe-cluster", "--name"], "argument --name: expected one argument"),
        (["frobnicate"], "Invalid choice 'frobnicate'"),
        (["--output", "xml", "list-clusters"], "argument --output: Invalid choice"),
        (["wait", "cluster-active", "--name", "a"], "Invalid choice 'cluster-active'"),
        (["update-cluster-config", "--name", "aews", "--resources-vpc-config",
          "endpointPublicAccess=yes"],
         "\nParameter validation failed:\nInvalid type for parameter "
         "resourcesVpcConfig.endpointPublicAccess, value: yes, type: <class 'str'>, valid types: "
         "<class 'bool'>\n"),
        (["update-cluster-config", "--name", "aews", "--resources-vpc-config",
          "endpointPublicAccess=true,,"],
         "\nError parsing parameter '--resources-vpc-config': Expected: '=', received: 'EOF' for "
         "input:\nendpointPublicAccess=true,,\n                           ^\n"),
    ]
    for args, want in cases:
        cmd = [ENV.horizonctl, "--endpoint-url", url, *args]
        p = run(cmd, env=clean_env())
        if p.returncode != EXIT_USAGE or want not in p.stderr or p.stdout:
            raise CheckFailed(f"expected exit {EXIT_USAGE} and {want!r} on stderr\n{shown(p)}")
    return f"({len(cases)} cases)"


@check("cli.connection-refused-exit-255", server=False)
def _():
    port = free_port(udp=False)  # nothing listens there
    url = f"http://127.0.0.1:{port}"
    p = run([ENV.horizonctl, "--endpoint-url", url, "describe-cluster", "--name", "aews"],
            env=clean_env())
    if p.returncode != EXIT_OTHER or f'"{url}/clusters/aews"' not in p.stderr or \
            "admin_listen" not in p.stderr or p.stdout:
        raise CheckFailed(f"expected exit {EXIT_OTHER} naming {url}/clusters/aews and suggesting "
                          f"admin_listen\n{shown(p)}")


class Recorder(http_server.BaseHTTPRequestHandler):
    """A stand-in admin API that records what horizonctl sends."""
    seen: list[tuple[str, str, dict[str, str], str]] = []

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        Recorder.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              body))
        out = json.dumps({"clusters": ["recorded"]} if self.command == "GET" else
                         {"update": {"errors": [], "id": "u-1", "status": "InProgress"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@check("cli.requests-token-and-env", server=False)
def _():
    srv = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        Recorder.seen.clear()
        env = clean_env(HORIZON_ENDPOINT_URL=url, HORIZON_TOKEN="from-env")
        p = run([ENV.horizonctl, "list-clusters"], env=env)
        if p.returncode != 0 or json.loads(p.stdout) != {"clusters": ["recorded"]}:
            raise CheckFailed(f"list-clusters via $HORIZON_ENDPOINT_URL failed\n{shown(p)}")
        p = run([ENV.horizonctl, "--token", "from-flag", "update-cluster-config", "--name", "aews",
                 "--resources-vpc-config",
                 'endpointPublicAccess=true,publicAccessCidrs="203.0.113.5/32,198.51.100.0/24",'
                 'endpointPrivateAccess=TRUE'], env=env)
        if p.returncode != 0:
            raise CheckFailed(f"update-cluster-config against the recorder failed\n{shown(p)}")
        (m1, path1, h1, _), (m2, path2, h2, body2) = Recorder.seen
        if (m1, path1) != ("GET", "/clusters") or h1.get("authorization") != "Bearer from-env":
            raise CheckFailed(f"first request {m1} {path1} {h1}: expected GET /clusters with "
                              f"'Authorization: Bearer from-env'")
        if (m2, path2) != ("POST", "/clusters/aews/update-config") or \
                h2.get("authorization") != "Bearer from-flag":
            raise CheckFailed(f"second request {m2} {path2} {h2}: expected POST "
                              f"/clusters/aews/update-config with 'Authorization: Bearer from-flag'")
        body = json.loads(body2)
        want = {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.5/32", "198.51.100.0/24"],
                "endpointPrivateAccess": True}
        if body.get("resourcesVpcConfig") != want:
            raise CheckFailed(f"request body {body2}, expected resourcesVpcConfig {want}")
        uuid.UUID(body.get("clientRequestToken", ""))
    finally:
        srv.shutdown()
        srv.server_close()


# --- start-up and reading


@check("server.start", server=False)
def _():
    ENV.port = free_port("127.0.0.1", "::1")
    ENV.admin_port = free_port(udp=False)
    ENV.cfgdir.mkdir()
    ENV.state.mkdir()
    swap_config(current_config())
    start_server()
    return f"dns port {ENV.port}, admin port {ENV.admin_port}"


@check("api.healthz-readyz")
def _():
    r = http("GET", "/healthz")
    if r.status != 200:
        raise CheckFailed(f"/healthz: HTTP {r.status} {r.text!r}")
    j = readyz()
    if j["_status"] != 200 or j.get("ready") is not True or not isinstance(j.get("generation"), int):
        raise CheckFailed(f"/readyz: {j}, expected HTTP 200 with ready true and a generation")


@check("ctl.list-clusters")
def _():
    p = ctl("list-clusters")
    want = json.dumps({"clusters": [AEWS, PUBC]}, indent=4) + "\n"
    if p.returncode != 0 or p.stdout != want or p.stderr:
        raise CheckFailed(f"expected exactly {want!r}\n{shown(p)}")
    p = ctl("list-clusters", output="text")
    if p.returncode != 0 or p.stdout != f"CLUSTERS\t{AEWS}\nCLUSTERS\t{PUBC}\n":
        raise CheckFailed(f"text output\n{shown(p)}")


CLUSTER_ORDER = ["name", "arn", "createdAt", "version", "endpoint", "roleArn", "resourcesVpcConfig",
                 "kubernetesNetworkConfig", "logging", "identity", "status", "certificateAuthority",
                 "clientRequestToken", "platformVersion", "tags", "encryptionConfig",
                 "connectorConfig", "id", "health", "outpostConfig", "accessConfig"]


@check("ctl.describe-cluster")
def _():
    p = ctl("describe-cluster", "--name", AEWS)
    if p.returncode != 0 or p.stderr:
        raise CheckFailed(shown(p))
    if not p.stdout.startswith('{\n    "cluster": {\n        "name": "aews",\n'):
        raise CheckFailed(f"not the AWS CLI's 4-space JSON starting with cluster.name\n{shown(p)}")
    c = json.loads(p.stdout)["cluster"]
    known = [k for k in c if k in CLUSTER_ORDER]
    if known != [k for k in CLUSTER_ORDER if k in c]:
        raise CheckFailed(f"members in the order {list(c)}, expected the EKS model's {CLUSTER_ORDER}")
    want = {"name": AEWS, "endpoint": f"https://{AEWS_EP}", "status": "ACTIVE"}
    for k, v in want.items():
        if c.get(k) != v:
            raise CheckFailed(f"cluster.{k} = {c.get(k)!r}, expected {v!r}")
    if not re.fullmatch(r"arn:aws:eks:ap-northeast-2:\d{12}:cluster/aews", c.get("arn", "")):
        raise CheckFailed(f"cluster.arn {c.get('arn')!r}")
    check_iso(c.get("createdAt"), "cluster.createdAt")
    vpc = c["resourcesVpcConfig"]
    order = ["subnetIds", "securityGroupIds", "clusterSecurityGroupId", "vpcId",
             "endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs"]
    if list(vpc) != order:
        raise CheckFailed(f"resourcesVpcConfig members {list(vpc)}, expected {order}")
    if (vpc["endpointPublicAccess"], vpc["endpointPrivateAccess"], vpc["publicAccessCidrs"]) != \
            (True, True, ["0.0.0.0/0"]):
        raise CheckFailed(f"resourcesVpcConfig {vpc}, expected public+private with 0.0.0.0/0")
    if not c.get("identity", {}).get("oidc", {}).get("issuer", "").startswith("https://oidc.eks."):
        raise CheckFailed(f"identity.oidc.issuer missing: {c.get('identity')}")
    for k in ("version", "platformVersion", "kubernetesNetworkConfig"):
        if not c.get(k):
            raise CheckFailed(f"cluster.{k} missing")
    # The raw API sends epoch seconds; horizonctl shows the same instant.
    raw = http("GET", f"/clusters/{AEWS}").json()["cluster"]["createdAt"]
    if not isinstance(raw, (int, float)):
        raise CheckFailed(f"the API's createdAt {raw!r} is not epoch seconds (a JSON number)")
    if abs(datetime.fromisoformat(c["createdAt"]).timestamp() - raw) > 1e-3:
        raise CheckFailed(f"createdAt {c['createdAt']} is not the API's {raw}")


@check("ctl.describe-cluster-jq-cut-dig")
def _():
    script = (f"{shlex.quote(ENV.horizonctl)} --endpoint-url {ENV.admin_url} describe-cluster "
              f"--name {AEWS} | jq -r .cluster.endpoint | cut -d/ -f3")
    p = bash(script, clean_env())
    if p.returncode != 0 or p.stdout.strip() != AEWS_EP:
        raise CheckFailed(f"expected {AEWS_EP}\n{shown(p, script)}")
    apidns = p.stdout.strip()
    expect_answer(apidns, INSIDE, AEWS_PRIVATE)
    expect_answer(apidns, OUTSIDE, AEWS_PUBLIC)
    expect_answer(apidns, OUTSIDE6, AEWS_PUBLIC)


@check("ctl.output-text-and-table")
def _():
    c = describe()
    p = ctl("describe-cluster", "--name", AEWS, output="text")
    lines = p.stdout.splitlines()
    first = "\t".join(["CLUSTER", c["arn"], c["createdAt"], c["endpoint"], AEWS,
                       c["platformVersion"], c["roleArn"], "ACTIVE", c["version"]])
    vpc = c["resourcesVpcConfig"]
    line_vpc = "\t".join(["RESOURCESVPCCONFIG", vpc["clusterSecurityGroupId"], "True", "True",
                          vpc["vpcId"]])
    if p.returncode != 0 or not lines or lines[0] != first or line_vpc not in lines or \
            "PUBLICACCESSCIDRS\t0.0.0.0/0" not in lines:
        raise CheckFailed(f"expected the AWS CLI's text lines\n{first!r}\n{line_vpc!r}\n{shown(p)}")
    p = ctl("describe-cluster", "--name", AEWS, output="table")
    lines = p.stdout.splitlines()
    if p.returncode != 0 or len(lines) < 5 or set(lines[0]) != {"-"} or \
            "DescribeCluster" not in lines[1] or len({len(line) for line in lines}) != 1:
        raise CheckFailed(f"expected an AWS CLI table (all lines equally wide)\n{shown(p)}")


# --- every EKS error, through horizonctl and raw HTTP


def update_error(cluster: str, shorthand: str, body: dict, status: int, error_type: str,
                 message: str):
    ctl_error(["update-cluster-config", "--name", cluster, "--resources-vpc-config", shorthand],
              error_type, "UpdateClusterConfig", message)
    http_error("POST", f"/clusters/{cluster}/update-config",
               {"resourcesVpcConfig": body, "clientRequestToken": str(uuid.uuid4())},
               status, error_type, message)


@check("errors.both-false")
def _():
    update_error(AEWS, "endpointPublicAccess=false,endpointPrivateAccess=false",
                 {"endpointPublicAccess": False, "endpointPrivateAccess": False},
                 400, "InvalidParameterException", BOTH_FALSE)


@check("errors.no-op")
def _():
    msg = NO_OP.format(priv="true", pub="true", cidrs="0.0.0.0/0")
    update_error(AEWS, "endpointPublicAccess=true,endpointPrivateAccess=true,"
                       "publicAccessCidrs=0.0.0.0/0",
                 {"endpointPublicAccess": True, "endpointPrivateAccess": True,
                  "publicAccessCidrs": ["0.0.0.0/0"]}, 400, "InvalidParameterException", msg)
    # Omitted members keep their values, so this is the same configuration too.
    update_error(AEWS, "endpointPrivateAccess=true", {"endpointPrivateAccess": True},
                 400, "InvalidParameterException", msg)


@check("errors.invalid-cidr")
def _():
    update_error(AEWS, f"publicAccessCidrs={LAB_CIDR},10.0.0.300/8",
                 {"publicAccessCidrs": [LAB_CIDR, "10.0.0.300/8"]}, 400,
                 "InvalidParameterException", INVALID_CIDRS.format("10.0.0.300/8"))
    update_error(AEWS, "publicAccessCidrs=not-a-cidr", {"publicAccessCidrs": ["not-a-cidr"]}, 400,
                 "InvalidParameterException", INVALID_CIDRS.format("not-a-cidr"))


@check("errors.cidr-host-bits")
def _():
    update_error(AEWS, "publicAccessCidrs=10.0.0.1/8", {"publicAccessCidrs": ["10.0.0.1/8"]}, 400,
                 "InvalidParameterException", INVALID_CIDRS.format("10.0.0.1/8"))


@check("errors.ipv6-cidr-on-ipv4-cluster")
def _():
    update_error(AEWS, "publicAccessCidrs=2001:db8::/32", {"publicAccessCidrs": ["2001:db8::/32"]},
                 400, "InvalidParameterException", INVALID_CIDRS.format("2001:db8::/32"))


@check("errors.more-than-40-cidrs")
def _():
    cidrs = [f"10.{i}.0.0/16" for i in range(41)]
    update_error(AEWS, "publicAccessCidrs=" + ",".join(cidrs), {"publicAccessCidrs": cidrs}, 400,
                 "InvalidParameterException", TOO_MANY)


@check("errors.unknown-cluster")
def _():
    msg = NOT_FOUND.format("nope")
    for args, op in ((["describe-cluster", "--name", "nope"], "DescribeCluster"),
                     (["list-updates", "--name", "nope"], "ListUpdates"),
                     (["describe-update", "--name", "nope", "--update-id", "x"], "DescribeUpdate"),
                     (["update-cluster-config", "--name", "nope", "--resources-vpc-config",
                       "endpointPublicAccess=true"], "UpdateClusterConfig")):
        ctl_error(args, "ResourceNotFoundException", op, msg)
    http_error("GET", "/clusters/nope", None, 404, "ResourceNotFoundException", msg)
    http_error("GET", "/clusters/nope/updates", None, 404, "ResourceNotFoundException", msg)
    http_error("POST", "/clusters/nope/update-config",
               {"resourcesVpcConfig": {"endpointPublicAccess": True}}, 404,
               "ResourceNotFoundException", msg)


@check("errors.unknown-update")
def _():
    p = ctl("describe-update", "--name", AEWS, "--update-id", "0e5ab6e1-0000-4000-8000-000000000000")
    if p.returncode != EXIT_SERVICE or not p.stderr.startswith(
            "\nAn error occurred (ResourceNotFoundException) when calling the DescribeUpdate "
            "operation: "):
        raise CheckFailed(f"expected exit 254 with ResourceNotFoundException\n{shown(p)}")
    http_error("GET", f"/clusters/{AEWS}/updates/0e5ab6e1-0000-4000-8000-000000000000", None, 404,
               "ResourceNotFoundException", None)


@check("errors.rejected-updates-change-nothing")
def _():
    if ctl_json("list-updates", "--name", AEWS) != {"updateIds": []}:
        raise CheckFailed("a rejected update left an update behind")
    c = describe()
    if c["status"] != "ACTIVE" or mode_of(c["resourcesVpcConfig"]) != "public+private" or \
            c["resourcesVpcConfig"]["publicAccessCidrs"] != ["0.0.0.0/0"]:
        raise CheckFailed(f"a rejected update changed the cluster: {c['resourcesVpcConfig']}")
    expect_views("public+private")


@check("errors.update-in-progress")
def _():
    # The seed lab's first step: restrict the public endpoint to one address (2 s here).
    u = update(AEWS, f"endpointPublicAccess=true,publicAccessCidrs={LAB_CIDR},endpointPrivateAccess=true")
    msg = IN_PROGRESS.format(AEWS)
    ctl_error(["update-cluster-config", "--name", AEWS, "--resources-vpc-config",
               "endpointPublicAccess=true,endpointPrivateAccess=false"],
              "ResourceInUseException", "UpdateClusterConfig", msg)
    http_error("POST", f"/clusters/{AEWS}/update-config",
               {"resourcesVpcConfig": {"endpointPrivateAccess": False},
                "clientRequestToken": str(uuid.uuid4())}, 409, "ResourceInUseException", msg)
    if describe()["status"] != "UPDATING":
        raise CheckFailed("describe-cluster should say UPDATING while the update runs")
    wait_update(AEWS, u["id"])
    vpc = vpc_of()
    if vpc["publicAccessCidrs"] != [LAB_CIDR] or mode_of(vpc) != "public+private":
        raise CheckFailed(f"after the update: {vpc}")
    expect_views("public+private")  # publicAccessCidrs never changes an answer


@check("errors.ipv6-and-40-cidrs-accepted-on-dual-stack")
def _():
    cidrs = [f"10.{i}.0.0/16" for i in range(39)] + ["2001:db8::/32"]
    u = update(PUBC, "publicAccessCidrs=" + ",".join(cidrs))
    wait_update(PUBC, u["id"], timeout=10)
    if vpc_of(PUBC)["publicAccessCidrs"] != cidrs:
        raise CheckFailed(f"pubc publicAccessCidrs {vpc_of(PUBC)['publicAccessCidrs']}")


# --- the seed lab's flow


def flip(target_mode: str, vpc_arg: str, want_params: dict[str, str]) -> str:
    """One endpoint access update of aews, watched from before acceptance to after completion:
    old answers, UPDATING and InProgress until it completes; then, all at once, new answers,
    ACTIVE with the new resourcesVpcConfig and Successful."""
    before = vpc_of()
    old_mode = mode_of(before)
    old_in, old_out = expected_sets(old_mode, AEWS_PRIVATE, AEWS_PUBLIC)
    new_in, new_out = expected_sets(target_mode, AEWS_PRIVATE, AEWS_PUBLIC)
    t0 = time.monotonic()
    u = update(AEWS, vpc_arg)
    if params_of(u) != want_params:
        raise CheckFailed(f"update params {u['params']}, expected {want_params}")
    # For the first 1.5 s (update_duration is 2 s): nothing changes but the status.
    seen = 0
    while time.monotonic() - t0 < UPDATE_SECONDS - 0.5:
        if quick_addresses(AEWS_EP, INSIDE) != sorted(old_in) or \
                quick_addresses(AEWS_EP, OUTSIDE) != sorted(old_out):
            raise CheckFailed(f"answers changed {time.monotonic() - t0:.2f} s into a "
                              f"{UPDATE_SECONDS} s update")
        c = http("GET", f"/clusters/{AEWS}").json()["cluster"]
        if c["status"] != "UPDATING" or mode_of(c["resourcesVpcConfig"]) != old_mode:
            raise CheckFailed(f"during the update describe-cluster says {c['status']} "
                              f"{c['resourcesVpcConfig']}, expected UPDATING and the old config")
        st = http("GET", f"/clusters/{AEWS}/updates/{u['id']}").json()["update"]["status"]
        if st != "InProgress":
            raise CheckFailed(f"describe-update says {st} {time.monotonic() - t0:.2f} s in")
        seen += 1
        time.sleep(0.05)
    d = dig(AEWS_EP, src=INSIDE)  # once with dig itself, still inside the window
    if d.addresses() != sorted(old_in):
        d.fail(f"still in the update window: expected the old answer {old_in}")
    # Around the completion: whenever describe-update says Successful, DNS and describe-cluster
    # must already show the new state; whenever DNS shows it, the update is Successful.
    deadline = t0 + UPDATE_SECONDS + 5
    while True:
        st = http("GET", f"/clusters/{AEWS}/updates/{u['id']}").json()["update"]["status"]
        inside = quick_addresses(AEWS_EP, INSIDE)
        outside = quick_addresses(AEWS_EP, OUTSIDE)
        c = http("GET", f"/clusters/{AEWS}").json()["cluster"]
        st2 = http("GET", f"/clusters/{AEWS}/updates/{u['id']}").json()["update"]["status"]
        new_dns = (inside, outside) == (sorted(new_in), sorted(new_out))
        old_dns = (inside, outside) == (sorted(old_in), sorted(old_out))
        if not (new_dns or old_dns):
            raise CheckFailed(f"answers inside {inside}, outside {outside}: neither old nor new")
        if st == "Successful" and not (new_dns and c["status"] == "ACTIVE" and
                                       mode_of(c["resourcesVpcConfig"]) == target_mode):
            raise CheckFailed(f"update Successful but DNS (inside {inside}, outside {outside}) or "
                              f"describe-cluster ({c['status']}) still old")
        if new_dns and old_mode != target_mode and st2 != "Successful" and \
                mode_of(c["resourcesVpcConfig"]) != target_mode:
            raise CheckFailed(f"DNS flipped before the update completed ({st2})")
        if st == "Successful":
            break
        if st != "InProgress":
            raise CheckFailed(f"update ended {st}")
        if time.monotonic() > deadline:
            raise CheckFailed(f"update still {st} {time.monotonic() - t0:.1f} s after acceptance")
        time.sleep(0.02)
    elapsed = time.monotonic() - t0
    if elapsed < UPDATE_SECONDS - 0.1:
        raise CheckFailed(f"update completed after {elapsed:.2f} s; update_duration is 2 s")
    waited = wait_update(AEWS, u["id"])  # already complete: returns at once
    if waited > 2.5:
        raise CheckFailed(f"wait update-successful took {waited:.1f} s for a completed update")
    expect_views(target_mode)
    c = describe()
    if c["status"] != "ACTIVE" or mode_of(c["resourcesVpcConfig"]) != target_mode:
        raise CheckFailed(f"after the update: {c['status']} {c['resourcesVpcConfig']}")
    du = ctl_json("describe-update", "--name", AEWS, "--update-id", u["id"])["update"]
    if du["status"] != "Successful" or du["id"] != u["id"] or du["errors"] != [] or \
            params_of(du) != want_params:
        raise CheckFailed(f"describe-update: {du}")
    ids = ctl_json("list-updates", "--name", AEWS)["updateIds"]
    if ids != ENV.aews_updates:
        raise CheckFailed(f"list-updates {ids}, expected {ENV.aews_updates} (oldest first)")
    return f"flipped after {elapsed:.2f} s ({seen} in-window probes)"


@check("seedlab.public+private-to-public")
def _():
    return flip("public", "endpointPublicAccess=true,endpointPrivateAccess=false",
                {"EndpointPublicAccess": "true", "EndpointPrivateAccess": "false"})


@check("seedlab.wait-returns-when-done")
def _():
    # horizonctl's waiter blocks until the update completes (~2 s) and then exits 0.
    u = update(AEWS, "endpointPrivateAccess=true")
    waited = wait_update(AEWS, u["id"])
    if not UPDATE_SECONDS - 0.5 <= waited <= UPDATE_SECONDS + 3:
        raise CheckFailed(f"wait took {waited:.1f} s for a 2 s update (polls every second)")
    if params_of(u) != {"EndpointPrivateAccess": "true"}:
        raise CheckFailed(f"params {u['params']}")
    vpc = vpc_of()
    if mode_of(vpc) != "public+private" or vpc["publicAccessCidrs"] != [LAB_CIDR]:
        raise CheckFailed(f"omitted members must keep their values: {vpc}")
    expect_views("public+private")
    return f"waited {waited:.1f} s"


def explain_check(mode: str):
    inside_set, outside_set = expected_sets(mode, AEWS_PRIVATE, AEWS_PUBLIC)
    gen = generation()
    for src, inside, want in ((INSIDE, True, inside_set), (OUTSIDE, False, outside_set)):
        e = ctl_json("explain", "--name", AEWS, "--source", src).get("explain")
        if not isinstance(e, dict):
            raise CheckFailed("explain printed no explain object")
        set_name = "private" if want == AEWS_PRIVATE else "public"
        expected = {"source": src, "inVpc": inside, "matchedCidr": "127.10.0.0/16" if inside else None,
                    "answerSet": set_name, "generation": gen}
        for k, v in expected.items():
            if e.get(k) != v:
                raise CheckFailed(f"explain from {src}: {k} = {e.get(k)!r}, expected {v!r}\n{e}")
        if sorted(e.get("addresses", [])) != sorted(want):
            raise CheckFailed(f"explain from {src}: addresses {e.get('addresses')}, expected {want}")
        if e.get("accessMode") != mode:
            raise CheckFailed(f"explain from {src}: accessMode {e.get('accessMode')!r}, expected {mode!r}")
        if not e.get("reason"):
            raise CheckFailed(f"explain from {src}: no reason")
        if sorted(quick_addresses(AEWS_EP, src)) != sorted(want):
            raise CheckFailed(f"explain says {want} but DNS answers otherwise from {src}")
        # The same decision as CHAOS TXT at the endpoint name, to this very source.
        d = dig(AEWS_EP, src=src, qclass="CH", qtype="TXT")
        txt = " | ".join(d.txt())
        if d.status != "NOERROR" or not txt:
            d.fail("expected TXT strings explaining the decision")
        for needle in (src, mode, set_name, str(gen)) + (("127.10.0.0/16",) if inside else ()):
            if needle not in txt:
                d.fail(f"the TXT strings do not mention {needle!r}")
        if not inside:
            for ip in AEWS_PRIVATE:
                if ip in txt:
                    d.fail(f"the TXT strings list the private address {ip} to an outside source")
    p = ctl("explain", "--name", AEWS, "--source", OUTSIDE, output="text")
    if p.returncode != 0 or not p.stdout.startswith("EXPLAIN\t"):
        raise CheckFailed(f"explain --output text\n{shown(p)}")
    p = ctl("explain", "--name", AEWS, "--source", "not-an-ip")
    if p.returncode != EXIT_SERVICE or "(InvalidParameterException) when calling the Explain " \
                                       "operation: " not in p.stderr:
        raise CheckFailed(f"a bad source should be an InvalidParameterException\n{shown(p)}")


@check("explain.public+private")
def _():
    explain_check("public+private")


@check("seedlab.to-private-json-form")
def _():
    return flip("private", '{"endpointPublicAccess": false, "endpointPrivateAccess": true}',
                {"EndpointPublicAccess": "false", "EndpointPrivateAccess": "true"})


@check("explain.private")
def _():
    explain_check("private")


@check("update.zero-duration")
def _():
    u = update(PUBC, "endpointPrivateAccess=true")
    t0 = time.monotonic()
    wait_update(PUBC, u["id"], timeout=10)
    if time.monotonic() - t0 > 1.5:
        raise CheckFailed("an update with update_duration 0s should complete at once")
    if mode_of(vpc_of(PUBC)) != "public+private":
        raise CheckFailed(f"pubc: {vpc_of(PUBC)}")
    addrs = dig_a_both(PUBC_EP, INSIDE).addresses()
    if addrs != sorted(PUBC_PRIVATE):
        raise CheckFailed(f"pubc from inside: {addrs}, expected {PUBC_PRIVATE}")


# --- restarts


@check("restart.sigterm-keeps-state")
def _():
    before = describe()
    updates = ctl_json("list-updates", "--name", AEWS)["updateIds"]
    rc = stop_server(signal.SIGTERM)
    if rc != 0:
        raise CheckFailed(f"horizond exited {rc} on SIGTERM, expected 0")
    start_server()
    after = describe()
    for k in ("createdAt", "resourcesVpcConfig", "status", "arn", "endpoint"):
        if after[k] != before[k]:
            raise CheckFailed(f"after a restart cluster.{k} = {after[k]!r}, was {before[k]!r}")
    if ctl_json("list-updates", "--name", AEWS)["updateIds"] != updates:
        raise CheckFailed("the update history changed across a restart")
    for uid in updates:
        if ctl_json("describe-update", "--name", AEWS, "--update-id", uid)["update"]["status"] != \
                "Successful":
            raise CheckFailed(f"update {uid} is no longer Successful after a restart")
    expect_views("private")
    if mode_of(vpc_of(PUBC)) != "public+private":
        raise CheckFailed("pubc lost its runtime change across a restart")


@check("restart.kill9-during-update")
def _():
    u = update(AEWS, "endpointPublicAccess=true,endpointPrivateAccess=true")
    stop_server(signal.SIGKILL)
    start_server()
    st = ctl_json("describe-update", "--name", AEWS, "--update-id", u["id"])["update"]["status"]
    if st not in ("InProgress", "Successful"):
        raise CheckFailed(f"after kill -9 and a restart the update is {st}")
    wait_update(AEWS, u["id"])
    expect_views("public+private")
    ids = ctl_json("list-updates", "--name", AEWS)["updateIds"]
    if ids != ENV.aews_updates:
        raise CheckFailed(f"list-updates {ids}, expected {ENV.aews_updates}")
    return f"found {st} after the restart"


@check("restart.kill9-at-any-moment")
def _():
    # How long an acknowledged update takes here (it is saved before the answer) ...
    t0 = time.monotonic()
    r = http("POST", f"/clusters/{PUBC}/update-config",
             {"resourcesVpcConfig": {"publicAccessCidrs": ["198.51.100.0/24"]},
              "clientRequestToken": str(uuid.uuid4())})
    took = time.monotonic() - t0
    if r.status != 200:
        raise CheckFailed(f"update of pubc: HTTP {r.status} {r.text}")
    ENV.pubc_updates.append(r.json()["update"]["id"])
    # ... then kill -9 from before the request arrives to after the answer, most in between.
    delays = [f * took for f in (0, 0.3, 0.6, 1.0, 1.5, 2.5, 5.0, 10.0)]
    random.Random(3).shuffle(delays)
    notes = []
    for i, delay in enumerate(delays):
        old = vpc_of(PUBC)["publicAccessCidrs"]
        new = [f"198.51.{i}.0/24"]
        result: dict = {}

        def send():
            try:
                result["r"] = http("POST", f"/clusters/{PUBC}/update-config",
                                   {"resourcesVpcConfig": {"publicAccessCidrs": new},
                                    "clientRequestToken": str(uuid.uuid4())}, timeout=3)
            except CheckFailed as e:
                result["e"] = str(e)

        t = threading.Thread(target=send)
        t.start()
        time.sleep(delay)
        stop_server(signal.SIGKILL)
        t.join(5)
        for f in ENV.state.iterdir():
            if f.suffix == ".json":
                try:
                    json.loads(f.read_text())
                except ValueError as e:
                    raise CheckFailed(f"{f} is not valid JSON after kill -9: {e}") from None
        start_server()
        # Acknowledged: horizond said 200, even if kill -9 cut the body short.
        acked = "r" in result and result["r"].status == 200
        uid = result["r"].json()["update"]["id"] if acked and not result["r"].truncated else None
        deadline = time.monotonic() + 3
        while True:
            cidrs = vpc_of(PUBC)["publicAccessCidrs"]
            if cidrs not in (old, new):
                raise CheckFailed(f"pubc publicAccessCidrs {cidrs}: neither the old {old} nor the "
                                  f"new {new}")
            if not acked or cidrs == new or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if acked:
            if uid is not None:
                ENV.pubc_updates.append(uid)
                if uid not in ctl_json("list-updates", "--name", PUBC)["updateIds"]:
                    raise CheckFailed(f"update {uid} was acknowledged before kill -9 and is lost")
            if cidrs != new:
                raise CheckFailed(f"acknowledged update {uid} did not complete after the restart")
        notes.append(("acked" if uid else "acked-cut-short") if acked else "lost-in-flight")
    expect_views("public+private")
    return f"acknowledged in {took * 1000:.1f} ms; killed: " + ", ".join(notes)


# --- reload


def wait_ttl(ttl: int, what: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        u = Udp(INSIDE)
        try:
            got = u.ask(AEWS_EP, 99, 1.0)
        finally:
            u.close()
        if got is not None and got[2] and all(t == ttl for t in got[2]):
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: TTL still {got[2] if got else None} after {timeout} s, "
                              f"expected {ttl}")
        time.sleep(0.05)


@check("reload.sighup-edited-file")
def _():
    gen = generation()
    hups = log_text().count("SIGHUP")
    ENV.ttl = 30
    write_config_in_place(current_config())
    ENV.proc.send_signal(signal.SIGHUP)
    wait_ttl(30, "after editing ttl and SIGHUP")
    deadline = time.monotonic() + 3
    while log_text().count("SIGHUP") <= hups:  # the file watch may have been first; HUP too
        if time.monotonic() > deadline:
            raise CheckFailed("the log does not mention the SIGHUP")
        time.sleep(0.05)
    expect_answer(AEWS_EP, OUTSIDE, AEWS_PUBLIC, ttl=30)
    if generation() <= gen:
        raise CheckFailed(f"generation {generation()} did not grow from {gen} on reload")
    # The API change (publicAccessCidrs) survives a reload that did not touch those values.
    if vpc_of()["publicAccessCidrs"] != [LAB_CIDR]:
        raise CheckFailed(f"a reload dropped the API change: {vpc_of()}")
    j = readyz()
    if j.get("ready") is not True:
        raise CheckFailed(f"/readyz after a good reload: {j}")


def reload_failure(j: dict) -> list | None:
    """The errors of a failed last reload as /readyz reports them, or None if it reports none."""
    for k, v in j.items():
        if "reload" in k.lower() and isinstance(v, dict):
            errs = v.get("errors")
            if v.get("ok") is False or (isinstance(errs, list) and errs):
                return errs if isinstance(errs, list) else [str(v)]
    return None


@check("reload.invalid-file-keeps-serving")
def _():
    before = metric_value("horizon_reloads_total", outcome="failure") or 0
    write_config_in_place(current_config(ttl=5, aews_mode="sometimes"))
    ENV.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while (errs := reload_failure(readyz())) is None:
        if time.monotonic() > deadline:
            raise CheckFailed(f"/readyz does not report the failed reload: {readyz()}")
        time.sleep(0.05)
    j = readyz()
    if j["_status"] != 200 or j.get("ready") is not True:
        raise CheckFailed(f"/readyz should still say ready (the old config serves): {j}")
    text = json.dumps(errs)
    if not re.search(r"horizond\.toml:\d+:\d+: error: .*access_mode", text):
        raise CheckFailed(f"/readyz should list the error with its position: {errs}")
    for _ in range(3):  # still the old answers, old TTL, both views
        expect_answer(AEWS_EP, INSIDE, AEWS_PRIVATE, ttl=30)
        expect_answer(AEWS_EP, OUTSIDE, AEWS_PUBLIC, ttl=30)
    after = metric_value("horizon_reloads_total", outcome="failure") or 0
    if after <= before:
        raise CheckFailed(f"horizon_reloads_total{{outcome=\"failure\"}} {before} -> {after}")
    if "access_mode" not in log_text():
        raise CheckFailed("the log does not name the error")
    # Repaired: the next reload succeeds and /readyz says so.
    write_config_in_place(current_config())
    ENV.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while reload_failure(readyz()) is not None:
        if time.monotonic() > deadline:
            raise CheckFailed(f"/readyz still reports a failure after a good reload: {readyz()}")
        time.sleep(0.05)


@check("reload.configmap-symlink-swap")
def _():
    ENV.ttl = 45
    swap_config(current_config())  # no signal
    wait_ttl(45, "after a ConfigMap-style ..data symlink swap")
    ENV.ttl = 50
    swap_config(current_config())  # and the watch follows the new directory
    wait_ttl(50, "after a second symlink swap")


@check("reload.file-edit-wins-over-api-change")
def _():
    # pubc has API changes (mode public+private, cidrs); an edit of its access_mode in the file
    # wins and is not silently ignored.
    ENV.pubc_mode_file = "private"
    swap_config(current_config())
    deadline = time.monotonic() + 5
    while mode_of(vpc_of(PUBC)) != "private":
        if time.monotonic() > deadline:
            raise CheckFailed(f"the file's new access_mode for pubc did not win: {vpc_of(PUBC)}")
        time.sleep(0.05)
    addrs = dig_a_both(PUBC_EP, OUTSIDE).addresses()
    if addrs != sorted(PUBC_PRIVATE):
        raise CheckFailed(f"pubc private mode, outside: {addrs}, expected {PUBC_PRIVATE}")
    if not re.search(r"pubc.*(file|wins)|(file|wins).*pubc", log_text()):
        raise CheckFailed("the log does not say that pubc's file value won")
    if vpc_of()["publicAccessCidrs"] != [LAB_CIDR]:
        raise CheckFailed("aews's API change was dropped although its file values did not change")


@check("reload.no-query-dropped-under-load")
def _():
    stop = threading.Event()
    stats = {"sent": 0, "lost": 0, "bad": []}
    ttls = {ENV.ttl}

    def loop(src: str, want: list[str], qid0: int):
        u = Udp(src)
        qid = qid0
        try:
            while not stop.is_set():
                qid = (qid + 1) & 0xFFFF
                got = u.ask(AEWS_EP, qid, 1.0)
                stats["sent"] += 1
                if got is None:
                    stats["lost"] += 1
                elif got[0] != 0 or got[1] != sorted(want):
                    stats["bad"].append((src, got))
                time.sleep(0.001)
        finally:
            u.close()

    threads = [threading.Thread(target=loop, args=(INSIDE, AEWS_PRIVATE, 0)),
               threading.Thread(target=loop, args=(OUTSIDE, AEWS_PUBLIC, 30000))]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        for i in range(10):
            ENV.ttl = 20 + i
            ttls.add(ENV.ttl)
            if i % 2:
                swap_config(current_config())
            else:
                write_config_in_place(current_config())
                ENV.proc.send_signal(signal.SIGHUP)
            time.sleep(0.25)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    if stats["lost"] or stats["bad"]:
        raise CheckFailed(f"{stats['lost']} of {stats['sent']} queries unanswered, "
                          f"{len(stats['bad'])} wrong: {stats['bad'][:5]}")
    if stats["sent"] < 200:
        raise CheckFailed(f"only {stats['sent']} queries sent; the load was not steady")
    wait_ttl(ENV.ttl, "after the last reload")
    return f"{stats['sent']} queries during 10 reloads, none lost"


@check("wait.fails-on-timeout-and-cancellation")
def _():
    u = update(AEWS, "endpointPublicAccess=true,endpointPrivateAccess=false")
    p = ctl("wait", "update-successful", "--name", AEWS, "--update-id", u["id"], "--timeout", "0.5s")
    want = "\nWaiter UpdateSuccessful failed: Max attempts exceeded\n"
    if p.returncode != EXIT_OTHER or p.stderr != want or p.stdout:
        raise CheckFailed(f"expected exit {EXIT_OTHER} and {want!r}\n{shown(p)}")
    # An edit of aews's access_mode in the file while the update runs: the file wins and the
    # update is Cancelled, which ends the waiter with botocore's failure text.
    ENV.aews_mode_file = "private"
    swap_config(current_config())
    p = ctl("wait", "update-successful", "--name", AEWS, "--update-id", u["id"], "--timeout", "20s",
            timeout=30)
    want = ('\nWaiter UpdateSuccessful failed: Waiter encountered a terminal failure state: For '
            'expression "update.status" we matched expected path: "Cancelled"')
    if p.returncode != EXIT_OTHER or not p.stderr.startswith(want) or p.stdout:
        raise CheckFailed(f"expected exit {EXIT_OTHER} and {want!r}\n{shown(p)}")
    du = ctl_json("describe-update", "--name", AEWS, "--update-id", u["id"])["update"]
    if du["status"] != "Cancelled" or not du["errors"] or \
            not {"errorCode", "errorMessage"} <= set(du["errors"][0]):
        raise CheckFailed(f"describe-update of the cancelled update: {du}")
    if du["errors"][0]["errorCode"] not in p.stderr:
        raise CheckFailed(f"the waiter does not show the update's error\n{shown(p)}")
    c = describe()
    if c["status"] != "ACTIVE" or mode_of(c["resourcesVpcConfig"]) != "private":
        raise CheckFailed(f"after the file's edit: {c['status']} {c['resourcesVpcConfig']}")
    expect_views("private")
    # Back to the file's public+private (an edit again: the file still wins).
    ENV.aews_mode_file = "public+private"
    swap_config(current_config())
    deadline = time.monotonic() + 5
    while mode_of(vpc_of()) != "public+private":
        if time.monotonic() > deadline:
            raise CheckFailed(f"the file's public+private did not win: {vpc_of()}")
        time.sleep(0.05)
    expect_views("public+private")


# --- metrics


def metrics() -> str:
    r = http("GET", "/metrics")
    if r.status != 200:
        raise CheckFailed(f"/metrics: HTTP {r.status}")
    return r.text


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise CheckFailed(f"not a Prometheus sample line: {line!r}")
        out.append((m.group(1), dict(LABEL_RE.findall(m.group(3) or "")), float(m.group(4))))
    return out


def metric_value(name: str, **labels: str) -> float | None:
    total = None
    for n, ls, v in samples(metrics()):
        if n == name and all(ls.get(k) == v2 for k, v2 in labels.items()):
            total = (total or 0) + v
    return total


@check("metrics.format-and-families")
def _():
    text = metrics()
    s = samples(text)
    names = {n for n, _, _ in s}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            if line.split()[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                raise CheckFailed(f"bad TYPE line {line!r}")
    q = [ls for n, ls, _ in s if "quer" in n and not n.endswith(("_bucket", "_sum", "_count"))
         and {"cluster", "view", "transport", "rcode", "qtype"} <= set(ls)]
    if not q:
        raise CheckFailed("no query counter labelled by cluster, view, transport, rcode and qtype")
    if not any(n.endswith("_bucket") and "le" in ls for n, ls, _ in s):
        raise CheckFailed("no latency histogram (_bucket{le=...})")
    if not any("generation" in n for n in names):
        raise CheckFailed("no config generation metric")
    if not any("reload" in n and ls.get("outcome") for n, ls, _ in s):
        raise CheckFailed("no reloads-by-outcome metric")
    if not any("update" in n and ls.get("status") for n, ls, _ in s):
        raise CheckFailed("no updates-by-status metric")
    if not any("drop" in n and ls.get("reason") for n, ls, _ in s):
        raise CheckFailed("no dropped-by-reason metric")
    if not any("tcp" in n and "conn" in n for n in names):
        raise CheckFailed("no TCP connections metric")
    return f"{len(s)} samples"


@check("metrics.query-counter-counts")
def _():
    labels = {"cluster": AEWS, "view": "vpc", "transport": "udp", "rcode": "NOERROR", "qtype": "A"}
    before = metric_value("horizon_queries_total", **labels) or 0
    for _ in range(5):
        quick_addresses(AEWS_EP, INSIDE)
    deadline = time.monotonic() + 3
    while (after := metric_value("horizon_queries_total", **labels) or 0) < before + 5:
        if time.monotonic() > deadline:
            raise CheckFailed(f"horizon_queries_total{labels} went {before} -> {after} after 5 "
                              f"queries")
        time.sleep(0.1)
    outside = {**labels, "view": "public"}
    b2 = metric_value("horizon_queries_total", **outside) or 0
    quick_addresses(AEWS_EP, OUTSIDE)
    deadline = time.monotonic() + 3
    while (metric_value("horizon_queries_total", **outside) or 0) < b2 + 1:
        if time.monotonic() > deadline:
            raise CheckFailed("an outside query did not count as view=\"public\"")
        time.sleep(0.1)


@check("metrics.generation-matches-readyz-and-soa")
def _():
    gen = generation()
    m = metric_value("horizon_config_generation")
    d = dig(AEWS_EP, src=OUTSIDE, qtype="SOA")
    serial = int(d.answer[0][4].split()[2]) if d.answer else None
    if m != gen or serial != gen:
        raise CheckFailed(f"generation: /readyz {gen}, metrics {m}, SOA serial {serial}")


@check("metrics.updates-by-status")
def _():
    ok = metric_value("horizon_updates", status="Successful")
    want = len(ENV.aews_updates) + len(ENV.pubc_updates)
    if ok is None or ok < len(ENV.aews_updates):
        raise CheckFailed(f"horizon_updates{{status=\"Successful\"}} = {ok}, expected at least "
                          f"{len(ENV.aews_updates)} (of {want} accepted)")


# --- the real AWS CLI


@check("awscli.version")
def _():
    if ENV.aws is None:
        raise CheckFailed("the AWS CLI (aws) is not installed")
    p = run([ENV.aws, "--version"], env=aws_env(ENV.tmp / "aws"))
    if p.returncode != 0 or not p.stdout.startswith("aws-cli/2."):
        raise CheckFailed(f"expected AWS CLI v2 (Debian's awscli)\n{shown(p)}")
    return p.stdout.split()[0]


@check("awscli.describe-cluster-jq")
def _():
    script = (f"{shlex.quote(ENV.aws)} eks describe-cluster --name {AEWS} --endpoint-url "
              f"{ENV.admin_url} | jq -r .cluster.endpoint | cut -d/ -f3")
    p = bash(script, aws_env(ENV.tmp / "aws"))
    if p.returncode != 0 or p.stdout.strip() != AEWS_EP:
        raise CheckFailed(f"expected {AEWS_EP}\n{shown(p, script)}")
    expect_answer(p.stdout.strip(), INSIDE, AEWS_PRIVATE)


def pairs(text: str):
    return json.loads(text, object_pairs_hook=lambda kv: kv)


def drop_unknown(ours, theirs):
    """Ours without the members the AWS CLI's (older) model does not know."""
    if isinstance(ours, list) and ours and isinstance(ours[0], tuple):
        keys = {k for k, _ in theirs} if isinstance(theirs, list) else set()
        tmap = dict(theirs) if isinstance(theirs, list) else {}
        return [(k, drop_unknown(v, tmap.get(k))) for k, v in ours if k in keys]
    if isinstance(ours, list) and isinstance(theirs, list):
        return [drop_unknown(a, b) for a, b in zip(ours, theirs)]
    return ours


@check("awscli.output-same-as-horizonctl")
def _():
    for args in (["describe-cluster", "--name", AEWS], ["list-clusters"],
                 ["list-updates", "--name", AEWS],
                 ["describe-update", "--name", AEWS, "--update-id", ENV.aews_updates[-1]]):
        a = aws("eks", *args)
        h = ctl(*args)
        if a.returncode != 0 or h.returncode != 0:
            raise CheckFailed(f"{shown(a)}\n{shown(h)}")
        ours, theirs = pairs(h.stdout), pairs(a.stdout)
        if drop_unknown(ours, theirs) != theirs:
            raise CheckFailed(f"horizonctl {' '.join(args)} differs from aws eks (members, values or "
                              f"order)\n--- aws\n{a.stdout}\n--- horizonctl\n{h.stdout}")
        for out in ("text", "table"):
            a = aws("eks", *args, "--output", out)
            h = ctl(*args, output=out)
            # accessConfig is newer than Debian's AWS CLI model, which drops it.
            hl = [line for line in h.stdout.splitlines() if not line.startswith("ACCESSCONFIG")]
            if out == "text" and a.stdout.splitlines() != hl:
                raise CheckFailed(f"--output text differs\n--- aws\n{a.stdout}\n--- horizonctl\n"
                                  f"{h.stdout}")
            if out == "table" and args[0] != "describe-cluster" and a.stdout != h.stdout:
                raise CheckFailed(f"--output table differs\n--- aws\n{a.stdout}\n--- horizonctl\n"
                                  f"{h.stdout}")


def set_aews_duration(duration: str):
    """Reloads the file with aews's update_duration changed; returns once it is served."""
    gen = generation()
    ENV.aews_duration = duration
    write_config_in_place(current_config())
    ENV.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while generation() <= gen:
        if time.monotonic() > deadline:
            raise CheckFailed(f"a reload setting update_duration = {duration} was not served")
        time.sleep(0.05)


@check("awscli.update-accepted-then-in-use")
def _():
    # Back to the lab's starting point (public+private, 0.0.0.0/0), then its exact command line.
    vpc = vpc_of()
    if vpc["publicAccessCidrs"] != ["0.0.0.0/0"] or mode_of(vpc) != "public+private":
        u = update(AEWS, '{"endpointPublicAccess": true, "endpointPrivateAccess": true, '
                         '"publicAccessCidrs": ["0.0.0.0/0"]}')
        wait_update(AEWS, u["id"])
    # The AWS CLI can take seconds to start on a busy machine: give this update long enough to
    # still be in progress at the next command (update_duration is a file value: a reload sets it).
    set_aews_duration("15s")
    script = (f"{shlex.quote(ENV.aws)} eks update-cluster-config --region ap-northeast-2 --name "
              f"{AEWS} --endpoint-url {ENV.admin_url} --resources-vpc-config "
              f'endpointPublicAccess=true,publicAccessCidrs="{LAB_CIDR}",endpointPrivateAccess=true')
    p = bash(script, aws_env(ENV.tmp / "aws"))
    if p.returncode != 0:
        raise CheckFailed(f"the seed lab's update-cluster-config was rejected\n{shown(p, script)}")
    up = json.loads(p.stdout)["update"]
    ENV.aews_updates.append(up["id"])
    want = {"EndpointPublicAccess": "true", "EndpointPrivateAccess": "true",
            "PublicAccessCidrs": json.dumps([LAB_CIDR])}
    if up["status"] != "InProgress" or params_of(up) != want:
        raise CheckFailed(f"update {up}, expected InProgress with params {want}")
    p = aws("eks", "update-cluster-config", "--name", AEWS, "--resources-vpc-config",
            "endpointPrivateAccess=false")
    want_err = (f"An error occurred (ResourceInUseException) when calling the UpdateClusterConfig "
                f"operation: {IN_PROGRESS.format(AEWS)}")
    if p.returncode != EXIT_SERVICE or want_err not in p.stderr:
        raise CheckFailed(f"expected exit 254 and {want_err!r}\n{shown(p)}")
    p = aws("eks", "describe-update", "--name", AEWS, "--update-id", up["id"])
    if p.returncode != 0 or json.loads(p.stdout)["update"]["status"] not in ("InProgress", "Successful"):
        raise CheckFailed(shown(p))
    wait_update(AEWS, up["id"])
    set_aews_duration("2s")
    p = aws("eks", "describe-update", "--name", AEWS, "--update-id", up["id"])
    if p.returncode != 0 or json.loads(p.stdout)["update"]["status"] != "Successful":
        raise CheckFailed(f"aws eks describe-update after completion\n{shown(p)}")
    p = aws("eks", "list-updates", "--name", AEWS)
    if p.returncode != 0 or json.loads(p.stdout)["updateIds"] != ENV.aews_updates:
        raise CheckFailed(f"aws eks list-updates, expected {ENV.aews_updates}\n{shown(p)}")
    if vpc_of()["publicAccessCidrs"] != [LAB_CIDR]:
        raise CheckFailed(f"after the AWS CLI's update: {vpc_of()}")


@check("awscli.rejected-with-eks-text")
def _():
    cases = [
        ("endpointPublicAccess=false,endpointPrivateAccess=false", "InvalidParameterException",
         BOTH_FALSE),
        (f"endpointPublicAccess=true,publicAccessCidrs={LAB_CIDR},endpointPrivateAccess=true",
         "InvalidParameterException", NO_OP.format(priv="true", pub="true", cidrs=LAB_CIDR)),
        ("publicAccessCidrs=10.0.0.1/8", "InvalidParameterException",
         INVALID_CIDRS.format("10.0.0.1/8")),
    ]
    for arg, etype, msg in cases:
        p = aws("eks", "update-cluster-config", "--name", AEWS, "--resources-vpc-config", arg)
        want = f"An error occurred ({etype}) when calling the UpdateClusterConfig operation: {msg}"
        if p.returncode != EXIT_SERVICE or want not in p.stderr:
            raise CheckFailed(f"expected exit 254 and {want!r}\n{shown(p)}")
    p = aws("eks", "describe-cluster", "--name", "nope")
    want = ("An error occurred (ResourceNotFoundException) when calling the DescribeCluster "
            f"operation: {NOT_FOUND.format('nope')}")
    if p.returncode != EXIT_SERVICE or want not in p.stderr:
        raise CheckFailed(f"expected exit 254 and {want!r}\n{shown(p)}")


@check("awscli.same-errors-as-horizonctl")
def _():
    # Parameter errors (found before any request) and service errors: same text, same exit code.
    vals = ["endpointPublicAccess=yes", "foo=bar", "endpointPublicAccess=true,,",
            "endpointPublicAccess=true,endpointPublicAccess=false", "publicAccessCidrs=[a,b",
            "[1]", '{"publicAccessCidrs": "x"}', "endpointPublicAccess=false,endpointPrivateAccess=false",
            "publicAccessCidrs=2001:db8::/32"]
    for v in vals:
        a = aws("eks", "update-cluster-config", "--name", AEWS, "--resources-vpc-config", v)
        h = ctl("update-cluster-config", "--name", AEWS, "--resources-vpc-config", v)
        if (a.returncode, a.stderr, a.stdout) != (h.returncode, h.stderr, h.stdout):
            raise CheckFailed(f"for {v!r} they differ\n--- aws\n{shown(a)}\n--- horizonctl\n{shown(h)}")
    return f"({len(vals)} values)"


@check("awscli.debug-shows-loopback-only")
def _():
    p = aws("--debug", "eks", "describe-cluster", "--name", AEWS)
    if p.returncode != 0:
        raise CheckFailed(shown(p))
    conns = re.findall(r"Starting new HTTPS? connection \(\d+\): ([^\s:]+)", p.stderr)
    urls = re.findall(r"url=(https?://[^\s,>']+)|'url': '(https?://[^']+)'", p.stderr)
    hosts = set(conns) | {re.sub(r"^https?://([^/:]+).*", r"\1", a or b) for a, b in urls}
    if not conns or hosts != {"127.0.0.1"}:
        raise CheckFailed(f"the AWS CLI contacted {sorted(hosts)} (connections {conns}); expected "
                          f"127.0.0.1 only")
    return f"{len(conns)} connection(s), all to 127.0.0.1"


# --- the end


@check("server.sigterm-exits-0")
def _():
    rc = stop_server(signal.SIGTERM)
    if rc != 0:
        raise CheckFailed(f"exit {rc}, expected 0")


# ------------------------------------------------------------------------------------------------


@check("auth.non-loopback-admin-needs-token", server=False)
def _():
    # Mutating requests on a non-loopback admin address need the bearer token; reads do not.
    # The listener is the wildcard 0.0.0.0 (not loopback), reached here over 127.0.0.1 only.
    dns_port, admin_port = free_port("127.0.0.1", "::1"), free_port("0.0.0.0", udp=False)
    work = ENV.tmp / "auth"
    (work / "state").mkdir(parents=True, exist_ok=True)
    cfg = work / "horizond.toml"
    cfg.write_text("\n".join([
        "[server]", f'listen = ["127.0.0.1:{dns_port}"]', f'admin_listen = "0.0.0.0:{admin_port}"',
        'admin_token = "s3cret-token"', "", "[[cluster]]", f'name = "{AEWS}"',
        'region = "ap-northeast-2"', 'vpc_cidrs = ["127.10.0.0/16"]',
        'private_ips = ["192.168.1.10"]', 'public_ips = ["203.0.113.10"]', ""]))
    log = work / "horizond.log"
    body = json.dumps({"resourcesVpcConfig": {"endpointPrivateAccess": False}})

    def request(method: str, path: str, token: str | None) -> tuple[int, dict[str, str], str]:
        conn = http_client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
        try:
            headers = {"Content-Type": "application/json"}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            conn.request(method, path, body=body if method == "POST" else None, headers=headers)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
        finally:
            conn.close()

    def healthy() -> bool:
        try:
            return request("GET", "/healthz", None)[0] == 200
        except OSError:
            return False

    p = start_process([ENV.horizond, "--config", str(cfg), "--state-dir", str(work / "state")], log,
                      append=False, timeout=START_TIMEOUT, ready=healthy,
                      what="horizond with a wildcard admin_listen")
    try:
        path = f"/clusters/{AEWS}/update-config"
        for token in (None, "wrong"):
            status, headers, text = request("POST", path, token)
            if status != 403 or headers.get("x-amzn-errortype") != "AccessDeniedException":
                raise CheckFailed(f"POST with token {token!r}: {status} {headers} {text}, "
                                  "expected 403 AccessDeniedException")
        status, _, text = request("GET", f"/clusters/{AEWS}", None)
        if status != 200:
            raise CheckFailed(f"GET without a token: {status} {text}, expected 200")
        p2 = ctl("--token", "s3cret-token", "update-cluster-config", "--name", AEWS,
                 "--resources-vpc-config", "endpointPrivateAccess=false",
                 endpoint=f"http://127.0.0.1:{admin_port}")
        if p2.returncode != 0 or '"InProgress"' not in p2.stdout and '"Successful"' not in p2.stdout:
            raise CheckFailed("horizonctl --token was not accepted:\n" + shown(p2))
    finally:
        stop_process(p)



def main() -> int:
    args = parse_args(__doc__, "horizond", "horizonctl", tools=("dig", "jq", "bash"),
                      more=lambda ap: ap.add_argument(
                          "--aws", help="the AWS CLI v2 (default: /usr/bin/aws, else aws on PATH)"))
    ENV.horizond, ENV.horizonctl = args.horizond, args.horizonctl
    ENV.aws = args.aws or aws_cli()
    ENV.tmp = Path(tempfile.mkdtemp(prefix="horizon-control-systest-"))
    ENV.cfgdir = ENV.tmp / "cfg"
    ENV.config = ENV.cfgdir / "horizond.toml"
    ENV.state = ENV.tmp / "state"
    ENV.log = ENV.tmp / "horizond.log"
    return run_script(CHECKS, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: expect_running(ENV.proc),
                      cleanup=lambda: stop_process(ENV.proc, sig=signal.SIGKILL),
                      log_excerpt=lambda: framed_log_tail(ENV.log))


if __name__ == "__main__":
    sys.exit(main())
