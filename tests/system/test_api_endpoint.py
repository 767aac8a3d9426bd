#!/usr/bin/env python3
"""System test of the API endpoint behind the names: real TCP endpoints enforcing publicAccessCidrs
and the cluster security group, driven by curl from different 127.x source addresses.

Starts `horizond --config FILE --state-dir DIR` with two clusters, each with [cluster.api]:
  aews  public+private, update_duration "2s", deny "drop" (held silent), the built-in responder
        (HTTPS with a self-signed certificate, plain HTTP on request); public side 127.20.0.10 and
        127.20.0.11, private side 127.30.0.10 and 192.168.2.10 (not local: reported unbound);
        security_group_ingress = the nodes (127.10.0.0/24); vpc_egress_ip 127.0.0.9.
  prx   public, update_duration "1s", deny "reset", reset_on_update, proxied to a small HTTP
        server this test starts (upstream); public side 127.21.0.10, private side 127.31.0.10.
Sources: 127.0.0.5 (outside, in publicAccessCidrs), 127.1.0.5 (outside, not in them),
127.10.0.5 (a node: in the VPC and the security group), 127.10.1.5 (a bastion: in the VPC, not in
the security group).

Checks: what is bound and what not (and why), the certificate files; the curl matrix of every side
and source in all three access modes and both deny modes; the flip of who can connect exactly when
an update completes (never before, never after the SOA serial moves); established connections
surviving an update (and reset with reset_on_update); held connections going through once allowed;
security group ingress rules (authorize/revoke, persisted over a restart); the public-only lockout
of nodes behind a NAT (vpc_egress_ip); byte-exact proxying of large bodies both ways; the built-in
HTTPS responder through the endpoint name resolved by horizond (curl --resolve with --cacert); the
connection caps and the hold timeout under a flood, with the file descriptors bounded; metrics;
horizonctl's security group, update-cluster-config and connections verbs.

Traffic goes only to 127.0.0.0/8. Every wait is bounded; horizond and the upstream are stopped by
their own handles. Python 3.11 and dnspython (harness.py), plus curl and dig.

usage: test_api_endpoint.py --horizond PATH --horizonctl PATH [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 unless one failed.
"""
from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import http.server as http_server
import ipaddress
import json
import os
import random
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import harness
from harness import (SOA, CheckFailed, Checks, Http, aws_cli, aws_env, clean_env, dig_short,
                     expect_running, framed_log_tail, free_port, log_tail, make_query, parse_args,
                     parse_message, read_log, run_script, skip, start_process, stop_process)

# ------------------------------------------------------------------------------------------------
# What the test configures

AEWS = "aews"
AEWS_EP = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com"
AEWS_PUBLIC = ["127.20.0.10", "127.20.0.11"]
AEWS_PRIVATE = ["127.30.0.10", "192.168.2.10"]  # the second is not local: reported unbound
AEWS_PRIVATE_LOCAL = "127.30.0.10"
PRX = "prx"
PRX_EP = "0123456789ABCDEF0123456789ABCDEF.yl4.us-east-1.eks.amazonaws.com"
PRX_PUBLIC = "127.21.0.10"
PRX_PRIVATE = "127.31.0.10"

OUTSIDE = "127.0.0.5"     # in publicAccessCidrs
STRANGER = "127.1.0.5"    # outside and not in publicAccessCidrs
NODE = "127.10.0.5"       # in the VPC and in the cluster security group
BASTION = "127.10.1.5"    # in the VPC, not in the security group (the seed lab's lesson)
PRX_NODE = "127.11.0.5"   # in prx's VPC (and so in its default security group)
NAT = "127.0.0.9"         # vpc_egress_ip: what in-VPC sources are seen as on the public side
PUBLIC_CIDRS = "127.0.0.0/16"

HOLD_SECONDS = 5
MAX_HELD = 20
MAX_CONNECTIONS = 30
DROP_WAIT = 1.0            # a dropped connection: curl gives up after this
SUBPROCESS_TIMEOUT = 20.0
START_TIMEOUT = 10.0
TIME_BUDGET = 240.0

ALLOWED, DROPPED, RESET = "allowed", "dropped", "reset"
CURL_RESET_CODES = {7, 35, 52, 55, 56}  # refused, TLS failure, empty reply, send/recv failure


def config_text() -> str:
    return "\n".join([
        "# written by tests/system/test_api_endpoint.py",
        "[server]",
        f'listen = ["127.0.0.1:{ENV.dns_port}"]',
        f'admin_listen = "127.0.0.1:{ENV.admin_port}"',
        "workers = 1",
        "",
        "[[cluster]]",
        f'name = "{AEWS}"',
        'region = "ap-northeast-2"',
        f'endpoint = "{AEWS_EP}"',
        'vpc_cidrs = ["127.10.0.0/16", "192.168.0.0/16"]',
        "private_ips = " + json.dumps(AEWS_PRIVATE),
        "public_ips = " + json.dumps(AEWS_PUBLIC),
        'access_mode = "public+private"',
        f'public_access_cidrs = ["{PUBLIC_CIDRS}"]',
        'update_duration = "2s"',
        'kubernetes_version = "1.30"',
        "[cluster.api]",
        f"port = {ENV.api_port}",
        'security_group_ingress = ["127.10.0.0/24"]',
        f'vpc_egress_ip = "{NAT}"',
        'deny = "drop"',
        f'hold_timeout = "{HOLD_SECONDS}s"',
        f"max_held = {MAX_HELD}",
        f"max_connections = {MAX_CONNECTIONS}",
        "",
        "[[cluster]]",
        f'name = "{PRX}"',
        'region = "us-east-1"',
        f'endpoint = "{PRX_EP}"',
        'vpc_cidrs = ["127.11.0.0/16"]',
        f'private_ips = ["{PRX_PRIVATE}"]',
        f'public_ips = ["{PRX_PUBLIC}"]',
        'access_mode = "public"',
        f'public_access_cidrs = ["{PUBLIC_CIDRS}"]',
        'update_duration = "1s"',
        "[cluster.api]",
        f"port = {ENV.api_port}",
        f'upstream = "127.0.0.1:{ENV.upstream_port}"',
        'deny = "reset"',
        "reset_on_update = true",
        "",
    ])


# ------------------------------------------------------------------------------------------------
# Failures, subprocesses, HTTP


run = functools.partial(harness.run, timeout=SUBPROCESS_TIMEOUT)
shown = functools.partial(harness.shown, limit=2000)


class Env:
    horizond: str = ""
    horizonctl: str = ""
    tmp: Path = Path()
    config: Path = Path()
    state: Path = Path()
    log: Path = Path()
    dns_port: int = 0
    admin_port: int = 0
    api_port: int = 0
    upstream_port: int = 0
    proc: subprocess.Popen | None = None
    upstream: http_server.ThreadingHTTPServer | None = None
    big: bytes = b""


ENV = Env()


def admin(method: str, path: str, body=None, timeout: float = 5.0) -> Http:
    return harness.http(method, f"http://127.0.0.1:{ENV.admin_port}{path}",
                        None if body is None else json.dumps(body).encode(), timeout=timeout)


def admin_ok(method: str, path: str, body=None) -> dict:
    r = admin(method, path, body)
    if r.status != 200:
        raise CheckFailed(f"{method} {path} {json.dumps(body)}: HTTP {r.status}\n{r.text}")
    return r.json()


# ------------------------------------------------------------------------------------------------
# Connecting: curl (the named checks) and raw sockets (tight loops, floods)


@dataclass
class Probe:
    outcome: str  # ALLOWED, DROPPED, RESET
    detail: str


def curl(src: str, url: str, *, max_time: float = DROP_WAIT, extra: list[str] | None = None,
         want: str = "ok") -> Probe:
    p = harness.curl(url, interface=src, max_time=max_time, extra=extra)
    detail = (f"$ {shlex.join(p.args)} -> exit {p.returncode} {p.stdout[:200]!r} "
              f"{p.stderr.strip()[:200]!r}")
    if p.returncode == 0 and p.stdout.strip() == want:
        return Probe(ALLOWED, detail)
    if p.returncode == 28:
        return Probe(DROPPED, detail)
    if p.returncode in CURL_RESET_CODES:
        return Probe(RESET, detail)
    raise CheckFailed(f"unexpected curl outcome: {detail}")


def url_for(cluster: str, addr: str, path: str = "/healthz") -> str:
    # aews: the built-in responder over HTTPS; prx: the upstream speaks plain HTTP.
    return f"{'https' if cluster == AEWS else 'http'}://{addr}:{ENV.api_port}{path}"


def probe(cluster: str, src: str, addr: str) -> Probe:
    return curl(src, url_for(cluster, addr), extra=["-k"] if cluster == AEWS else [])


def expect_matrix(cases: list[tuple[str, str, str, str]], what: str):
    """(cluster, source, address, expected outcome) all at once: a dropped probe costs a second."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda c: probe(c[0], c[1], c[2]), cases))
    wrong = [f"  {c[1]} -> {c[2]} ({c[0]}): {r.outcome}, expected {c[3]}\n    {r.detail}"
             for c, r in zip(cases, results) if r.outcome != c[3]]
    if wrong:
        raise CheckFailed(f"{what}:\n" + "\n".join(wrong))
    return f"({len(cases)} probes)"


def raw_request(src: str, addr: str, timeout: float = 2.0, keep: bool = False) -> tuple[str, socket.socket | None]:
    """A plain HTTP GET /healthz from `src`: (outcome, the socket when `keep` and allowed)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    try:
        s.connect((addr, ENV.api_port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_response(s)
    except (ConnectionResetError, BrokenPipeError):
        s.close()
        return RESET, None
    except socket.timeout:
        s.close()
        return DROPPED, None
    if not data:
        s.close()
        return RESET, None
    if keep:
        return ALLOWED, s
    s.close()
    return ALLOWED, None


def read_response(s: socket.socket) -> bytes:
    """One HTTP/1.1 response with Content-Length (b"" when the peer closed first)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            return b""
        body += chunk
    return head + b"\r\n\r\n" + body


# ------------------------------------------------------------------------------------------------
# DNS: raw UDP for the SOA serial, dig for the names


def soa_serial(name: str) -> int:
    """The SOA serial (horizond's generation) for `name`, asked over UDP from 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        s.sendto(make_query(random.randrange(65536), name, SOA), ("127.0.0.1", ENV.dns_port))
        data, _ = s.recvfrom(4096)
    finally:
        s.close()
    return parse_message(data).parsed.answer[0][0].serial


def dig_addresses(name: str, src: str) -> list[str]:
    return dig_short("127.0.0.1", ENV.dns_port, name, src=src)


# ------------------------------------------------------------------------------------------------
# The upstream: a small HTTP/1.1 server standing in for a kind API server


class Upstream(http_server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, body: bytes, ctype: str = "text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a reset by horizond, a curl timeout)

    def do_GET(self):
        if self.path == "/healthz":
            self._send(b"ok")
        elif self.path == "/big":
            self._send(ENV.big, "application/octet-stream")
        else:
            self._send(json.dumps({"path": self.path, "peer": self.client_address[0]}).encode(),
                       "application/json")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = b""
        while len(body) < n:
            chunk = self.rfile.read(min(1 << 20, n - len(body)))
            if not chunk:
                break
            body += chunk
        self._send(json.dumps({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})
                   .encode(), "application/json")

    def log_message(self, *args):
        pass


# ------------------------------------------------------------------------------------------------
# The server


def start_server(*extra: str):
    """horizond, ready once its admin API and the proxied API endpoint answer."""
    def ready() -> bool:
        try:
            return admin("GET", "/healthz", timeout=1).status == 200 and \
                raw_request(OUTSIDE, PRX_PUBLIC, 1.0)[0] == ALLOWED
        except (CheckFailed, OSError):
            return False
    ENV.proc = start_process([ENV.horizond, "--config", str(ENV.config), "--state-dir",
                              str(ENV.state), *extra], ENV.log, ready=ready, timeout=START_TIMEOUT)


def stop_server() -> int:
    return stop_process(ENV.proc, timeout=10, must_exit=True)


def log_text() -> str:
    return read_log(ENV.log)


def update(cluster: str, vpc: dict) -> str:
    u = admin_ok("POST", f"/clusters/{cluster}/update-config", {"resourcesVpcConfig": vpc})
    return u["update"]["id"]


def update_status(cluster: str, uid: str) -> str:
    return admin_ok("GET", f"/clusters/{cluster}/updates/{uid}")["update"]["status"]


def wait_update(cluster: str, uid: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if update_status(cluster, uid) == "Successful":
            return
        time.sleep(0.05)
    raise CheckFailed(f"update {uid} of {cluster} not Successful within {timeout} s")


def set_access(cluster: str, mode: str | None = None, cidrs: list[str] | None = None):
    """An update-cluster-config, waited for; no-op when already so."""
    vpc = {}
    if mode is not None:
        vpc["endpointPublicAccess"] = mode != "private"
        vpc["endpointPrivateAccess"] = mode != "public"
    if cidrs is not None:
        vpc["publicAccessCidrs"] = cidrs
    r = admin("POST", f"/clusters/{cluster}/update-config", {"resourcesVpcConfig": vpc})
    if r.status == 400 and "already at the desired configuration" in r.text:
        return
    if r.status != 200:
        raise CheckFailed(f"update-config {vpc}: HTTP {r.status}\n{r.text}")
    wait_update(cluster, r.json()["update"]["id"])


def connections(cluster: str) -> dict:
    return admin_ok("GET", f"/clusters/{cluster}/connections")


def metrics() -> str:
    r = admin("GET", "/metrics")
    if r.status != 200:
        raise CheckFailed(f"/metrics: HTTP {r.status}")
    return r.text


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)\{(.*)\} ([0-9.e+-]+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2)))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def open_fds() -> int:
    return len(os.listdir(f"/proc/{ENV.proc.pid}/fd"))


def sg_path(cluster: str, verb: str) -> str:
    return f"/clusters/{cluster}/security-group/{verb}"


def rule(cidr: str, protocol: str = "tcp", port: int | None = None) -> dict:
    p = {"IpProtocol": protocol, "IpRanges": [{"CidrIp": cidr}]}
    if protocol == "tcp":
        p["FromPort"] = p["ToPort"] = ENV.api_port if port is None else port
    return {"IpPermissions": [p]}


# ------------------------------------------------------------------------------------------------
# The checks

CHECKS = Checks()
check = CHECKS


@check("server.start", server=False)
def _():
    ENV.config.write_text(config_text())
    start_server()
    text = log_text()
    want = [f"cluster {AEWS}: API endpoint cannot listen on 192.168.2.10:{ENV.api_port} (private "
            "side): Cannot assign requested address (not an address of this machine",
            f"cluster {AEWS}: API endpoint on 127.20.0.10:{ENV.api_port} (public), "
            f"127.20.0.11:{ENV.api_port} (public), 127.30.0.10:{ENV.api_port} (private), answered "
            "by the built-in responder",
            f"cluster {PRX}: API endpoint on {PRX_PUBLIC}:{ENV.api_port} (public), "
            f"{PRX_PRIVATE}:{ENV.api_port} (private), proxied to 127.0.0.1:{ENV.upstream_port}; "
            "denied connections: reset"]
    missing = [w for w in want if w not in text]
    if missing:
        raise CheckFailed("start-up log lacks:\n  " + "\n  ".join(missing) + "\n" +
                          log_tail(ENV.log, 30))


@check("server.listeners-and-unbound-in-connections-view")
def _():
    j = connections(AEWS)
    listeners = sorted((x["side"], x["address"]) for x in j["listeners"])
    want = sorted([("public", f"{a}:{ENV.api_port}") for a in AEWS_PUBLIC] +
                  [("private", f"{AEWS_PRIVATE_LOCAL}:{ENV.api_port}")])
    if listeners != want:
        raise CheckFailed(f"listeners {listeners}, expected {want}")
    unbound = j["unbound"]
    if len(unbound) != 1 or unbound[0]["address"] != f"192.168.2.10:{ENV.api_port}" or \
            "Cannot assign requested address" not in unbound[0]["error"]:
        raise CheckFailed(f"unbound {unbound}")
    r = admin("GET", "/clusters/nope/connections")
    if r.status != 404 or "No cluster found for name: nope." not in r.text:
        raise CheckFailed(f"unknown cluster: HTTP {r.status} {r.text}")


@check("server.certificate-files")
def _():
    crt, key = ENV.state / f"api-{AEWS}.crt", ENV.state / f"api-{AEWS}.key"
    if not crt.read_text().startswith("-----BEGIN CERTIFICATE-----"):
        raise CheckFailed(f"{crt} is not a PEM certificate")
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode != 0o600:
        raise CheckFailed(f"{key} has mode {oct(mode)}, expected 0o600")
    p = run(["openssl", "x509", "-in", str(crt), "-noout", "-ext", "subjectAltName"])
    if p.returncode == 0 and f"DNS:{AEWS_EP}" not in p.stdout:
        raise CheckFailed(f"the certificate's SAN lacks {AEWS_EP}\n{shown(p)}")


@check("https.builtin-responder-through-the-name")
def _():
    # Resolve the endpoint name with horizond, as a client outside the VPC and a node inside.
    outside = dig_addresses(AEWS_EP, OUTSIDE)
    inside = dig_addresses(AEWS_EP, NODE)
    if outside != sorted(AEWS_PUBLIC) or inside != sorted(AEWS_PRIVATE):
        raise CheckFailed(f"DNS: outside {outside}, inside {inside}")
    cacert = str(ENV.state / f"api-{AEWS}.crt")
    for src, addr in ((OUTSIDE, outside[0]), (NODE, AEWS_PRIVATE_LOCAL)):
        url = f"https://{AEWS_EP}:{ENV.api_port}/version"
        for trust in (["--cacert", cacert], ["-k"]):
            cmd = ["curl", "-sS", "--max-time", "5", "--interface", src, *trust,
                   "--resolve", f"{AEWS_EP}:{ENV.api_port}:{addr}", url]
            p = run(cmd, env=clean_env())
            try:
                v = json.loads(p.stdout)
            except ValueError:
                raise CheckFailed(f"/version is not JSON\n{shown(p)}") from None
            if p.returncode != 0 or v.get("major") != "1" or v.get("minor") != "30+" or \
                    not v.get("gitVersion", "").startswith("v1.30."):
                raise CheckFailed(f"/version\n{shown(p)}")
    base = ["curl", "-sS", "--max-time", "5", "--interface", OUTSIDE, "--cacert", cacert,
            "--resolve", f"{AEWS_EP}:{ENV.api_port}:{outside[0]}"]
    p = run(base + ["-w", "\n%{http_code}", f"https://{AEWS_EP}:{ENV.api_port}/api/v1/namespaces/"
                                            "default/pods"], env=clean_env())
    body, _, code = p.stdout.rpartition("\n")
    status = json.loads(body)
    if code != "403" or status.get("kind") != "Status" or status.get("message") != \
            'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group ' \
            '"" in the namespace "default"':
        raise CheckFailed(f"anonymous list pods\n{shown(p)}")
    p = run(base + [f"https://{AEWS_EP}:{ENV.api_port}/livez"], env=clean_env())
    if p.stdout != "ok":
        raise CheckFailed(f"/livez\n{shown(p)}")
    # Names are case-insensitive: the lower-case name verifies as well.
    p = run(["curl", "-sS", "--max-time", "5", "--interface", OUTSIDE, "--cacert", cacert,
             f"https://{AEWS_EP.lower()}:{ENV.api_port}/version", "--resolve",
             f"{AEWS_EP.lower()}:{ENV.api_port}:{outside[1]}"], env=clean_env())
    if p.returncode != 0:
        raise CheckFailed(f"lower-case name (DNS names are case-insensitive)\n{shown(p)}")
    # Plain HTTP on request.
    p = run(["curl", "-sS", "--max-time", "5", "--interface", OUTSIDE,
             f"http://{outside[0]}:{ENV.api_port}/healthz"], env=clean_env())
    if p.returncode != 0 or p.stdout != "ok":
        raise CheckFailed(f"plain HTTP\n{shown(p)}")


def in_any(src: str, cidrs: list[str]) -> bool:
    return any(ipaddress.ip_address(src) in ipaddress.ip_network(c) for c in cidrs)


def matrix(mode: str) -> list[tuple[str, str, str, str]]:
    """Expected outcomes (EKS-FACTS §2) for aews (drop) and prx (reset) in `mode` with the
    configured rules: public side when public access is on and the source, as seen (in-VPC
    sources of aews through the NAT), is in publicAccessCidrs; private side when private access is
    on and the security group admits the source."""
    public_on, private_on = mode != "private", mode != "public"
    cases = []
    for cluster, pub, priv, denied, vpc, sg, nat in (
            (AEWS, AEWS_PUBLIC[0], AEWS_PRIVATE_LOCAL, DROPPED, ["127.10.0.0/16"],
             ["127.10.0.0/24"], NAT),
            (PRX, PRX_PUBLIC, PRX_PRIVATE, RESET, ["127.11.0.0/16"], ["127.11.0.0/16"], None)):
        for src in (OUTSIDE, STRANGER, NODE, BASTION, PRX_NODE):
            seen = nat if nat and in_any(src, vpc) else src
            in_public = in_any(seen, [PUBLIC_CIDRS])
            cases.append((cluster, src, pub, ALLOWED if public_on and in_public else denied))
            cases.append((cluster, src, priv, ALLOWED if private_on and in_any(src, sg) else denied))
    return cases


@check("connect.public+private-aews-and-public-prx")
def _():
    # aews is public+private, prx public: both modes at once.
    cases = [c for c in matrix("public+private") if c[0] == AEWS] + \
            [c for c in matrix("public") if c[0] == PRX]
    return expect_matrix(cases, "public+private (aews, drop) and public (prx, reset)")


@check("connect.private-mode-both-clusters")
def _():
    set_access(AEWS, "private")
    set_access(PRX, "private")
    try:
        return expect_matrix(matrix("private"), "private mode")
    finally:
        set_access(AEWS, "public+private")
        set_access(PRX, "public")


@check("connect.public-mode-aews-and-public+private-prx")
def _():
    set_access(AEWS, "public")
    set_access(PRX, "public+private")
    try:
        cases = [c for c in matrix("public") if c[0] == AEWS] + \
                [c for c in matrix("public+private") if c[0] == PRX]
        return expect_matrix(cases, "public (aews) and public+private (prx)")
    finally:
        set_access(AEWS, "public+private")
        set_access(PRX, "public")


@check("connect.drop-looks-like-a-timeout-and-is-held")
def _():
    # A dropped client sees a connect-phase timeout; horizond shows it held, then lets it go.
    done = threading.Event()
    result: list[Probe] = []

    def slow():
        result.append(curl(STRANGER, url_for(AEWS, AEWS_PUBLIC[1]), max_time=2.5, extra=["-k"]))
        done.set()

    t = threading.Thread(target=slow)
    t.start()
    try:
        deadline = time.monotonic() + 2
        held = []
        while time.monotonic() < deadline and not held:
            held = [c for c in connections(AEWS)["connections"]
                    if c["peer"].startswith(STRANGER + ":") and c["state"] == "held"]
            time.sleep(0.05)
        if not held or held[0]["local"] != f"{AEWS_PUBLIC[1]}:{ENV.api_port}" or \
                held[0]["side"] != "public":
            raise CheckFailed(f"no held connection from {STRANGER} in {connections(AEWS)}")
    finally:
        t.join(timeout=10)
    # curl exit 28: "Connection timed out" or "SSL connection timeout" (the handshake counts as
    # connecting), never a refusal or a reset.
    if not done.is_set() or not result or result[0].outcome != DROPPED:
        raise CheckFailed(f"curl: {result[0].detail if result else 'did not finish'}")


@check("update.allowlist-flips-exactly-when-the-update-completes")
def _():
    # prx: deny = reset (a decision is visible at once) and update_duration 1s. The allowlist
    # moves from 127.0.0.0/16 to 127.1.0.0/16: STRANGER gains access, OUTSIDE loses it. The SOA
    # serial is the generation: connections must follow it, never lead or lag.
    serial0 = soa_serial(PRX_EP)
    p = ctl("update-cluster-config", "--name", PRX, "--resources-vpc-config",
            "publicAccessCidrs=127.1.0.0/16")
    if p.returncode != 0:
        raise CheckFailed(f"horizonctl update-cluster-config\n{shown(p)}")
    uid = json.loads(p.stdout)["update"]["id"]
    samples = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        before = soa_serial(PRX_EP)
        stranger = raw_request(STRANGER, PRX_PUBLIC, 1.0)[0]
        outside = raw_request(OUTSIDE, PRX_PUBLIC, 1.0)[0]
        after = soa_serial(PRX_EP)
        samples.append((before, stranger, outside, after))
        if before != serial0 and len([s for s in samples if s[0] != serial0]) >= 3:
            break
    try:
        if update_status(PRX, uid) != "Successful":
            raise CheckFailed(f"update {uid} not Successful after 6 s")
        old = [s for s in samples if s[3] == serial0]   # entirely before completion
        new = [s for s in samples if s[0] != serial0]   # entirely after
        if not old or not new:
            raise CheckFailed(f"did not see both sides of the completion: {samples}")
        bad = [s for s in old if (s[1], s[2]) != (RESET, ALLOWED)] + \
              [s for s in new if (s[1], s[2]) != (ALLOWED, RESET)]
        if bad:
            raise CheckFailed(f"connections did not follow the update's completion exactly "
                              f"(serial before, {STRANGER}, {OUTSIDE}, serial after): {bad}")
        return f"({len(old)} samples before, {len(new)} after the flip)"
    finally:
        set_access(PRX, cidrs=[PUBLIC_CIDRS])


@check("update.established-connections-survive")
def _():
    # aews (no reset_on_update): a keep-alive connection from OUTSIDE survives losing access.
    outcome, s = raw_request(OUTSIDE, AEWS_PUBLIC[0], keep=True)
    if outcome != ALLOWED or s is None:
        raise CheckFailed(f"the first request: {outcome}")
    try:
        set_access(AEWS, cidrs=["127.2.0.0/16"])
        fresh = raw_request(OUTSIDE, AEWS_PUBLIC[0], DROP_WAIT)[0]
        if fresh != DROPPED:
            raise CheckFailed(f"a new connection from {OUTSIDE} after the update: {fresh}")
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = read_response(s)
        if not answer.startswith(b"HTTP/1.1 200 ") or not answer.endswith(b"ok"):
            raise CheckFailed(f"the established connection after the update: {answer[:200]!r}")
    finally:
        s.close()
        set_access(AEWS, cidrs=[PUBLIC_CIDRS])


@check("update.reset-on-update-resets-established-connections")
def _():
    outcome, s = raw_request(OUTSIDE, PRX_PUBLIC, keep=True)
    if outcome != ALLOWED or s is None:
        raise CheckFailed(f"the first request: {outcome}")
    try:
        set_access(PRX, cidrs=["127.2.0.0/16"])
        time.sleep(0.3)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = read_response(s)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
        if answer:
            raise CheckFailed(f"the connection was not reset: {answer[:200]!r}")
        text = metrics()
        if metric(text, "horizon_api_resets_total", cluster=PRX, reason="update") < 1:
            raise CheckFailed("horizon_api_resets_total{reason=update} not counted")
    finally:
        s.close()
        set_access(PRX, cidrs=[PUBLIC_CIDRS])


@check("update.held-connection-goes-through-once-allowed")
def _():
    # As a retransmitted SYN gets through once the rule allows it.
    result: list[Probe] = []
    t = threading.Thread(target=lambda: result.append(
        curl(STRANGER, url_for(AEWS, AEWS_PUBLIC[0], "/version"), max_time=HOLD_SECONDS + 2,
             extra=["-k", "-o", "/dev/null", "-w", "%{http_code}"], want="200")))
    t.start()
    time.sleep(0.5)
    try:
        set_access(AEWS, cidrs=[PUBLIC_CIDRS, "127.1.0.0/16"])  # 2 s: still held meanwhile
    finally:
        t.join(timeout=15)
        set_access(AEWS, cidrs=[PUBLIC_CIDRS])
    if not result or result[0].outcome != ALLOWED:
        raise CheckFailed(f"the held request: {result[0].detail if result else 'no result'}")


@check("security-group.authorize-and-revoke-the-bastion")
def _():
    if probe(AEWS, BASTION, AEWS_PRIVATE_LOCAL).outcome != DROPPED:
        raise CheckFailed("the bastion should be dropped before the rule")
    r = admin_ok("POST", sg_path(AEWS, "authorize-ingress"), rule(BASTION + "/32"))
    if r.get("Return") is not True or r["SecurityGroupRules"][0]["CidrIpv4"] != BASTION + "/32":
        raise CheckFailed(f"authorize: {r}")
    got = probe(AEWS, BASTION, AEWS_PRIVATE_LOCAL)
    if got.outcome != ALLOWED:
        raise CheckFailed(f"after authorize: {got.detail}")
    # A rule for another port does not open the API port; the public side never counts rules.
    admin_ok("POST", sg_path(AEWS, "revoke-ingress"), rule(BASTION + "/32"))
    admin_ok("POST", sg_path(AEWS, "authorize-ingress"), rule(BASTION + "/32", port=22))
    got = probe(AEWS, BASTION, AEWS_PRIVATE_LOCAL)
    admin_ok("POST", sg_path(AEWS, "revoke-ingress"), rule(BASTION + "/32", port=22))
    if got.outcome != DROPPED:
        raise CheckFailed(f"a port-22 rule let the bastion in: {got.detail}")
    # By group ID, as `aws ec2 ... --group-id $(describe-cluster ...clusterSecurityGroupId)`.
    group = admin_ok("GET", f"/clusters/{AEWS}")["cluster"]["resourcesVpcConfig"][
        "clusterSecurityGroupId"]
    admin_ok("POST", f"/security-groups/{group}/authorize-ingress", rule(BASTION + "/32", "-1"))
    rules = admin_ok("GET", f"/security-groups/{group}")["SecurityGroupRules"]
    if sorted(r.get("CidrIpv4") for r in rules) != sorted(["127.10.0.0/24", BASTION + "/32"]):
        raise CheckFailed(f"rules by group: {rules}")
    r = admin("POST", f"/security-groups/{group}/authorize-ingress", rule(BASTION + "/32", "-1"))
    if r.status != 400 or r.json().get("__type") != "InvalidPermission.Duplicate":
        raise CheckFailed(f"duplicate: HTTP {r.status} {r.text}")
    r = admin("POST", "/security-groups/sg-0000000000000000f/authorize-ingress", rule("1.2.3.4/32"))
    if r.status != 400 or r.json().get("__type") != "InvalidGroup.NotFound":
        raise CheckFailed(f"unknown group: HTTP {r.status} {r.text}")


@check("security-group.rules-persist-over-a-restart")
def _():
    # The bastion's rule from the previous check is in force; restart and look again (with
    # --reset-on-update from now on, for the next check).
    rc = stop_server()
    if rc != 0:
        raise CheckFailed(f"horizond exited {rc} on SIGTERM")
    start_server("--reset-on-update")
    if "keeping the security group rules changed through the API" not in log_text():
        raise CheckFailed("the restart did not say it keeps the API's rules:\n" +
                          log_tail(ENV.log, 30))
    got = probe(AEWS, BASTION, AEWS_PRIVATE_LOCAL)
    if got.outcome != ALLOWED:
        raise CheckFailed(f"the bastion after the restart: {got.detail}")
    admin_ok("POST", sg_path(AEWS, "revoke-ingress"), rule(BASTION + "/32", "-1"))
    if probe(AEWS, BASTION, AEWS_PRIVATE_LOCAL).outcome != DROPPED:
        raise CheckFailed("the bastion after revoke")


@check("update.reset-on-update-flag-applies-to-every-cluster")
def _():
    # aews has no reset_on_update of its own; horizond now runs with --reset-on-update.
    outcome, s = raw_request(OUTSIDE, AEWS_PUBLIC[0], keep=True)
    if outcome != ALLOWED or s is None:
        raise CheckFailed(f"the first request: {outcome}")
    try:
        set_access(AEWS, cidrs=["127.2.0.0/16"])
        time.sleep(0.3)
        try:
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = read_response(s)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
        if answer:
            raise CheckFailed(f"the connection survived the update: {answer[:200]!r}")
    finally:
        s.close()
        set_access(AEWS, cidrs=[PUBLIC_CIDRS])


@check("lockout.public-only-nodes-behind-the-nat")
def _():
    # Public-only with publicAccessCidrs = the lab's IP only: nodes (seen as the NAT) are out.
    set_access(AEWS, "public", [OUTSIDE + "/32"])
    try:
        expect_matrix([(AEWS, NODE, AEWS_PUBLIC[0], DROPPED),
                       (AEWS, OUTSIDE, AEWS_PUBLIC[0], ALLOWED),
                       (AEWS, NODE, AEWS_PRIVATE_LOCAL, DROPPED)], "lockout")
        if dig_addresses(AEWS_EP, NODE) != sorted(AEWS_PUBLIC):
            raise CheckFailed("public-only: nodes should resolve the public side")
        set_access(AEWS, cidrs=[OUTSIDE + "/32", NAT + "/32"])
        expect_matrix([(AEWS, NODE, AEWS_PUBLIC[0], ALLOWED)], "the NAT's address allowed")
    finally:
        set_access(AEWS, "public+private", [PUBLIC_CIDRS])


@check("proxy.large-bodies-byte-exact")
def _():
    # Down: 8 MiB from the upstream. Up: 6 MiB to it, hashed there.
    got = b""
    s = socket.create_connection((PRX_PUBLIC, ENV.api_port), timeout=10, source_address=(OUTSIDE, 0))
    try:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        got = read_response(s)
        body = got.partition(b"\r\n\r\n")[2]
        if hashlib.sha256(body).digest() != hashlib.sha256(ENV.big).digest():
            raise CheckFailed(f"downloaded {len(body)} bytes, differing from the upstream's "
                              f"{len(ENV.big)}")
        up = random.Random(7).randbytes(6 << 20)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                  str(len(up)).encode() + b"\r\n\r\n" + up)
        answer = json.loads(read_response(s).partition(b"\r\n\r\n")[2])
        if answer != {"length": len(up), "sha256": hashlib.sha256(up).hexdigest()}:
            raise CheckFailed(f"the upstream received {answer}")
    finally:
        s.close()
    # And through curl, on the private side from prx's VPC (public+private for this).
    path = ENV.tmp / "big.out"
    set_access(PRX, "public+private")
    try:
        p = run(["curl", "-sS", "--max-time", "10", "--interface", PRX_NODE, "-o", str(path),
                 f"http://{PRX_PRIVATE}:{ENV.api_port}/big"], env=clean_env())
        if p.returncode != 0 or path.read_bytes() != ENV.big:
            raise CheckFailed(f"curl through the private side\n{shown(p)}")
    finally:
        set_access(PRX, "public")
    return f"({len(ENV.big)} bytes down, 6 MiB up)"


@check("caps.held-connections-bounded-under-a-flood")
def _():
    base = open_fds()
    socks = []
    try:
        for _ in range(300):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((STRANGER, 0))
            s.connect_ex((AEWS_PUBLIC[0], ENV.api_port))
            socks.append(s)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and metric(metrics(), "horizon_api_resets_total",
                                                     cluster=AEWS, reason="hold_limit") < 280:
            time.sleep(0.1)
        held = [c for c in connections(AEWS)["connections"] if c["state"] == "held"]
        fds = open_fds()
        if len(held) > MAX_HELD:
            raise CheckFailed(f"{len(held)} connections held, max_held is {MAX_HELD}")
        if fds > base + MAX_HELD + 10:
            raise CheckFailed(f"horizond has {fds} file descriptors open, {base} before the flood")
        text = metrics()
        if metric(text, "horizon_api_resets_total", cluster=AEWS, reason="hold_limit") < 280:
            raise CheckFailed("horizon_api_resets_total{reason=hold_limit} below 280 of the 300")
        # Allowed clients still get through while the flood is held.
        got = probe(AEWS, OUTSIDE, AEWS_PUBLIC[0])
        if got.outcome != ALLOWED:
            raise CheckFailed(f"an allowed client during the flood: {got.detail}")
        # The hold timeout lets every held connection go.
        deadline = time.monotonic() + HOLD_SECONDS + 3
        while time.monotonic() < deadline:
            if not any(c["state"] == "held" for c in connections(AEWS)["connections"]):
                break
            time.sleep(0.1)
        else:
            raise CheckFailed(f"held connections remain after the {HOLD_SECONDS} s hold timeout")
        if metric(metrics(), "horizon_api_resets_total", cluster=AEWS, reason="hold_timeout") < \
                len(held):
            raise CheckFailed("horizon_api_resets_total{reason=hold_timeout} not counted")
        return f"({len(held)} held at most, {fds - base} more fds)"
    finally:
        for s in socks:
            s.close()


@check("caps.open-connections-per-side")
def _():
    socks = []
    try:
        for _ in range(MAX_CONNECTIONS + 10):
            outcome, s = raw_request(OUTSIDE, AEWS_PUBLIC[0], keep=True)
            if s is not None:
                socks.append(s)
        if len(socks) != MAX_CONNECTIONS:
            raise CheckFailed(f"{len(socks)} connections open, max_connections is {MAX_CONNECTIONS}")
        if metric(metrics(), "horizon_api_connections_total", cluster=AEWS, side="public",
                  outcome="denied", reason="connection_limit") < 10:
            raise CheckFailed("denied{reason=connection_limit} not counted")
        # The private side has its own budget.
        if probe(AEWS, NODE, AEWS_PRIVATE_LOCAL).outcome != ALLOWED:
            raise CheckFailed("the private side should not be affected by the public side's cap")
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if raw_request(OUTSIDE, AEWS_PUBLIC[0])[0] == ALLOWED:
            return None
        time.sleep(0.1)
    raise CheckFailed("no new connection after the others closed")


@check("metrics.api-counters-and-gauges")
def _():
    # Counters start at zero with the process (restarted above): make one of each.
    expect_matrix([(AEWS, OUTSIDE, AEWS_PUBLIC[0], ALLOWED),
                   (AEWS, BASTION, AEWS_PRIVATE_LOCAL, DROPPED),
                   (PRX, STRANGER, PRX_PUBLIC, RESET)], "probes for the metrics")
    text = metrics()
    want = [("horizon_api_connections_total", {"cluster": AEWS, "side": "public",
                                               "outcome": "accepted", "reason": "allowed"}),
            ("horizon_api_connections_total", {"cluster": AEWS, "side": "private",
                                               "outcome": "denied", "reason": "security_group"}),
            ("horizon_api_connections_total", {"cluster": PRX, "side": "public",
                                               "outcome": "denied",
                                               "reason": "public_access_cidrs"}),
            ("horizon_api_resets_total", {"cluster": PRX, "reason": "deny"})]
    missing = [f"{n}{l}" for n, l in want if metric(text, n, **l) < 1]
    if missing:
        raise CheckFailed("missing or zero: " + ", ".join(missing))
    for line in ("# TYPE horizon_api_connections_total counter",
                 "# TYPE horizon_api_connections gauge"):
        if line not in text:
            raise CheckFailed(f"no {line!r}")


# --- the AWS CLI's own `aws ec2` (EC2's Query protocol on the admin listener)


@check("aws-cli.ec2-security-group-ingress")
def _():
    aws = aws_cli()
    if aws is None:
        skip("no AWS CLI (Debian package awscli)")
    group = admin_ok("GET", f"/clusters/{AEWS}")["cluster"]["resourcesVpcConfig"][
        "clusterSecurityGroupId"]

    def ec2(*args: str) -> subprocess.CompletedProcess:
        return run([aws, "ec2", *args, "--endpoint-url", f"http://127.0.0.1:{ENV.admin_port}"],
                   env=aws_env(ENV.tmp / "aws"), timeout=60)

    rule_args = ["--group-id", group, "--protocol", "tcp", "--port", str(ENV.api_port), "--cidr",
                 BASTION + "/32"]
    p = ec2("authorize-security-group-ingress", *rule_args)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        raise CheckFailed(f"authorize: no JSON\n{shown(p)}") from None
    if p.returncode != 0 or j.get("Return") is not True or \
            j["SecurityGroupRules"][0].get("CidrIpv4") != BASTION + "/32" or \
            j["SecurityGroupRules"][0].get("FromPort") != ENV.api_port:
        raise CheckFailed(f"authorize\n{shown(p)}")
    try:
        if probe(AEWS, BASTION, AEWS_PRIVATE_LOCAL).outcome != ALLOWED:
            raise CheckFailed("the bastion after aws ec2 authorize-security-group-ingress")
        p = ec2("authorize-security-group-ingress", *rule_args)
        want = ("An error occurred (InvalidPermission.Duplicate) when calling the "
                f"AuthorizeSecurityGroupIngress operation: the specified rule \"peer: {BASTION}/32, "
                f"TCP, from port: {ENV.api_port}, to port: {ENV.api_port}, ALLOW\" already exists")
        if p.returncode != 254 or want not in p.stderr:
            raise CheckFailed(f"duplicate: expected exit 254 and {want!r}\n{shown(p)}")
        p = ec2("describe-security-group-rules", "--filters", f"Name=group-id,Values={group}")
        cidrs = sorted(r.get("CidrIpv4", "") for r in json.loads(p.stdout or "{}")
                       .get("SecurityGroupRules", []))
        if p.returncode != 0 or cidrs != sorted(["127.10.0.0/24", BASTION + "/32"]):
            raise CheckFailed(f"describe-security-group-rules: {cidrs}\n{shown(p)}")
    finally:
        p = ec2("revoke-security-group-ingress", *rule_args)
    if p.returncode != 0 or json.loads(p.stdout).get("Return") is not True:
        raise CheckFailed(f"revoke\n{shown(p)}")
    if probe(AEWS, BASTION, AEWS_PRIVATE_LOCAL).outcome != DROPPED:
        raise CheckFailed("the bastion after aws ec2 revoke-security-group-ingress")


# --- horizonctl


def ctl(*args: str) -> subprocess.CompletedProcess:
    return run([ENV.horizonctl, "--endpoint-url", f"http://127.0.0.1:{ENV.admin_port}", *args],
               env=clean_env())


@check("horizonctl.security-group-and-connections")
def _():
    group = admin_ok("GET", f"/clusters/{AEWS}")["cluster"]["resourcesVpcConfig"][
        "clusterSecurityGroupId"]
    p = ctl("authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp",
            "--port", str(ENV.api_port), "--cidr", BASTION + "/32")
    if p.returncode != 0 or json.loads(p.stdout)["SecurityGroupRules"][0]["CidrIpv4"] != \
            BASTION + "/32":
        raise CheckFailed(f"authorize by group id\n{shown(p)}")
    if probe(AEWS, BASTION, AEWS_PRIVATE_LOCAL).outcome != ALLOWED:
        raise CheckFailed("the bastion after horizonctl authorize")
    p = ctl("authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp",
            "--port", str(ENV.api_port), "--cidr", BASTION + "/32")
    want = (f"\nAn error occurred (InvalidPermission.Duplicate) when calling the "
            f"AuthorizeSecurityGroupIngress operation: the specified rule \"peer: {BASTION}/32, "
            f"TCP, from port: {ENV.api_port}, to port: {ENV.api_port}, ALLOW\" already exists\n")
    if p.returncode != 254 or p.stderr != want:
        raise CheckFailed(f"duplicate: expected exit 254 and {want!r}\n{shown(p)}")
    p = ctl("revoke-security-group-ingress", "--name", AEWS, "--protocol", "tcp", "--port",
            str(ENV.api_port), "--cidr", BASTION + "/32")
    if p.returncode != 0 or json.loads(p.stdout).get("Return") is not True:
        raise CheckFailed(f"revoke by name\n{shown(p)}")
    # connections: the `ss -tn` view with peers, while one connection is held open.
    outcome, s = raw_request(OUTSIDE, AEWS_PUBLIC[0], keep=True)
    try:
        p = ctl("connections", "--name", AEWS)
        j = json.loads(p.stdout)
        peers = [c["peer"] for c in j["connections"]]
        if p.returncode != 0 or not any(x.startswith(OUTSIDE + ":") for x in peers):
            raise CheckFailed(f"connections\n{shown(p)}")
        p = ctl("--output", "text", "connections", "--name", AEWS)
        if p.returncode != 0 or OUTSIDE not in p.stdout:
            raise CheckFailed(f"connections --output text\n{shown(p)}")
    finally:
        if s is not None:
            s.close()


@check("server.sigterm-exits-0")
def _():
    rc = stop_server()
    if rc != 0:
        raise CheckFailed(f"exit status {rc}")
    bad = [line for line in log_text().splitlines()
           if " error " in line or "critical" in line or "AddressSanitizer" in line]
    if bad:
        raise CheckFailed("errors in the log:\n" + "\n".join(bad[:20]))


def main() -> int:
    args = parse_args(__doc__, "horizond", "horizonctl", tools=("curl", "dig"))
    ENV.horizond, ENV.horizonctl = args.horizond, args.horizonctl
    ENV.tmp = Path(tempfile.mkdtemp(prefix="horizon-api-systest-"))
    ENV.config = ENV.tmp / "horizond.toml"
    ENV.state = ENV.tmp / "state"
    ENV.state.mkdir()
    ENV.log = ENV.tmp / "horizond.log"
    ENV.big = random.Random(42).randbytes(8 << 20)
    ENV.dns_port = free_port()
    ENV.admin_port = free_port(udp=False)
    ENV.api_port = free_port(*AEWS_PUBLIC, AEWS_PRIVATE_LOCAL, PRX_PUBLIC, PRX_PRIVATE, udp=False)
    ENV.upstream = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    ENV.upstream.daemon_threads = True
    ENV.upstream_port = ENV.upstream.server_address[1]
    upstream_thread = threading.Thread(target=ENV.upstream.serve_forever, daemon=True)
    upstream_thread.start()

    def cleanup():
        stop_process(ENV.proc, sig=signal.SIGKILL)
        ENV.upstream.shutdown()
        ENV.upstream.server_close()
    return run_script(CHECKS, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: expect_running(ENV.proc), cleanup=cleanup,
                      log_excerpt=lambda: framed_log_tail(ENV.log))


if __name__ == "__main__":
    sys.exit(main())
