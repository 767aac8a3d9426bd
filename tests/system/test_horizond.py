#!/usr/bin/env python3
"""System test of horizond: the real server on a free loopback port, asserted on dig/kdig/drill output.

Starts `horizond --config FILE` with one cluster per access mode (public, public+private, private,
private with private_outside = "nxdomain") and a `big` cluster with 40 addresses, then checks:
the split-horizon answers from an in-VPC source (127.10.0.5) and outside sources (127.0.0.1, ::1)
over UDP and TCP with dig and kdig; case echo, apex SOA/NS, NXDOMAIN/NODATA/REFUSED, CHAOS, NSID,
BADVERS, drill; truncation and the TCP retry; malformed and random packets; TCP framing, pipelining,
idle timeout and the connection limit; address in use; the command line; --check-config on every
tests/data/bad/*.toml; the query log; and a clean SIGTERM shutdown.

Traffic goes only to 127.0.0.0/8 and ::1. Python 3.11 and dnspython (harness.py).

usage: test_horizond.py --horizond PATH --data DIR [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 unless one failed.
"""
from __future__ import annotations

import hashlib
import random
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (FORMERR, NOERROR, NOTIMP, NXDOMAIN, REFUSED, CheckFailed, Checks, DigResult,
                     Message, dig, encode_name, expect_exit_0, expect_running, frame, free_port,
                     make_query, parse_args, parse_dig, parse_message, recv_frame, run, run_script,
                     server_for, start_process, stop_process, wait_until)

# ------------------------------------------------------------------------------------------------
# What the test configures and expects

TTL = 60
INSIDE = "127.10.0.5"  # in 127.10.0.0/16, one of every cluster's vpc_cidrs
OUTSIDE = "127.0.0.1"
OUTSIDE6 = "::1"
IDENTITY = "horizond-systest"
VERSION = "horizond-systest-version"
SOA_RDATA = "ns.horizon.invalid. hostmaster.horizon.invalid. 1 3600 600 86400 60"
NS_RDATA = "ns.horizon.invalid."

PRIVATE = {"A": ["192.168.1.10", "192.168.2.10"], "AAAA": ["fd00::10"]}
PUBLIC = {"A": ["203.0.113.10", "203.0.113.20"], "AAAA": ["2001:db8::10"]}
BIG_A = [f"10.1.0.{i}" for i in range(1, 41)]

SUBPROCESS_TIMEOUT = 10.0  # any single dig/kdig/drill/horizond invocation
TIME_BUDGET = 100.0        # checks still pending after this many seconds fail as "not run"
NO_ANSWER_WAIT = 0.3       # how long "no answer" is waited for


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    mode: str             # access_mode
    private_outside: str  # "private-ips" | "nxdomain"
    region: str
    shard: str

    @property
    def endpoint(self) -> str:
        # 32 upper-case hex digits, deterministic per cluster (EKS-FACTS §1)
        hexid = hashlib.sha256(self.name.encode()).hexdigest()[:32].upper()
        return f"{hexid}.{self.shard}.{self.region}.eks.amazonaws.com."

    @property
    def parent(self) -> str:
        return f"{self.shard}.{self.region}.eks.amazonaws.com."

    def outcome(self, inside: bool) -> str:
        """EKS-FACTS §2: "private", "public" or "nxdomain"."""
        if self.mode == "public":
            return "public"
        if self.mode == "public+private":
            return "private" if inside else "public"
        if inside or self.private_outside == "private-ips":
            return "private"
        return "nxdomain"


PUB = ClusterSpec("mode-public", "public", "private-ips", "ap-northeast-2", "gr7")
PUBPRIV = ClusterSpec("mode-pubpriv", "public+private", "private-ips", "us-east-1", "yl4")
PRIV = ClusterSpec("mode-private", "private", "private-ips", "eu-west-1", "sk1")
PRIVNX = ClusterSpec("mode-private-nx", "private", "nxdomain", "us-west-2", "yl4")
MODES = [PUB, PUBPRIV, PRIV, PRIVNX]
BIG = ClusterSpec("big", "private", "private-ips", "ap-southeast-1", "gr7")


def toml_list(items) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def config_text(port: int) -> str:
    out = [
        "# written by tests/system/test_horizond.py",
        "[server]",
        f'listen = ["127.0.0.1:{port}", "[::1]:{port}"]',
        "workers = 2",
        "query_log = true",
        'tcp_idle_timeout = "1s"',
        "tcp_max_connections = 4",
        f'identity = "{IDENTITY}"',
        f'version = "{VERSION}"',
        'admin_listen = ""',  # the control plane has its own test
        f'state_dir = "{ENV.tmp}"',
    ]
    for c in MODES:
        out += [
            "",
            "[[cluster]]",
            f'name = "{c.name}"',
            f'region = "{c.region}"',
            f'endpoint = "{c.endpoint.rstrip(".")}"',
            'vpc_cidrs = ["192.168.0.0/16", "127.10.0.0/16"]',
            "private_ips = " + toml_list(PRIVATE["A"] + PRIVATE["AAAA"]),
            "public_ips = " + toml_list(PUBLIC["A"] + PUBLIC["AAAA"]),
            f'access_mode = "{c.mode}"',
            f'private_outside = "{c.private_outside}"',
            f"ttl = {TTL}",
        ]
    out += [
        "",
        "[[cluster]]",
        f'name = "{BIG.name}"',
        f'region = "{BIG.region}"',
        f'endpoint = "{BIG.endpoint.rstrip(".")}"',
        'vpc_cidrs = ["10.1.0.0/16", "127.10.0.0/16"]',
        "private_ips = " + toml_list(BIG_A),
        'public_ips = ["203.0.113.99"]',
        f'access_mode = "{BIG.mode}"',
    ]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------
# Failures and subprocesses


def shown(cmd: list[str], out: str) -> str:
    return f"$ {shlex.join(cmd)}\n{out.rstrip()}"


class Env:
    """What every check needs: the binary, the data dir, the temp dir and the running server."""

    horizond: str = ""
    data: Path = Path()
    tmp: Path = Path()
    config: Path = Path()
    log: Path = Path()
    port: int = 0
    proc: subprocess.Popen | None = None


ENV = Env()


def query(name: str, qtype: str = "A", *, tool: str = "dig", src: str = OUTSIDE, tcp: bool = False,
          qclass: str = "IN", opts: tuple[str, ...] = ()) -> DigResult:
    return dig(tool, server_for(src), ENV.port, name, qtype, src=src, tcp=tcp, qclass=qclass,
               opts=opts)


def mixed_case(name: str) -> str:
    out, upper = [], False
    for ch in name:
        if ch.isalpha():
            ch = ch.upper() if upper else ch.lower()
            upper = not upper
        out.append(ch)
    return "".join(out)


# --- assertions on a DigResult


def expect_header(r: DigResult, status: str, *, aa: bool, tcp: bool | None = None):
    if r.status != status:
        r.fail(f"status {r.status}, expected {status}")
    if r.unparsed:
        r.fail(f"record lines this test could not parse: {r.unparsed}")
    got = {"ANSWER": len(r.answer), "AUTHORITY": len(r.authority)}
    if any(r.counts.get(k) != v for k, v in got.items()):
        r.fail(f"header counts {r.counts} do not match the records shown {got}")
    if "qr" not in r.flags:
        r.fail("QR flag missing")
    if aa and "aa" not in r.flags:
        r.fail("AA flag missing (we are authoritative)")
    if not aa and "aa" in r.flags:
        r.fail("AA flag set on an answer we are not authoritative for")
    if "ra" in r.flags:
        r.fail("RA flag set (horizond offers no recursion)")
    if "tc" in r.flags:
        r.fail("TC flag set")
    if tcp is not None and r.cmd[0] in ("dig", "kdig"):
        want = "(TCP)" if tcp else "(UDP)"
        if want not in r.out:
            r.fail(f"answer did not come over {want[1:-1]}")


def expect_addresses(r: DigResult, name: str, qtype: str, want: list[str], *, tcp=None):
    expect_header(r, "NOERROR", aa=True, tcp=tcp)
    for rr in r.answer:
        if rr.type != qtype or rr.cls != "IN":
            r.fail(f"unexpected record in the answer: {rr}")
        if rr.name.lower() != name.lower():
            r.fail(f"answer owner {rr.name!r}, expected {name!r}")
        if rr.ttl != TTL:
            r.fail(f"TTL {rr.ttl}, expected {TTL}")
    got = r.rdatas()
    if got != sorted(want):
        r.fail(f"answer {got}, expected exactly {sorted(want)}")
    if r.authority:
        r.fail(f"unexpected authority section: {r.authority}")


def expect_negative(r: DigResult, status: str, soa_owner: str, *, tcp=None):
    """NXDOMAIN or NODATA: empty answer, exactly one SOA for `soa_owner` (RFC 2308)."""
    expect_header(r, status, aa=True, tcp=tcp)
    if r.answer:
        r.fail(f"expected an empty answer, got {r.answer}")
    if len(r.authority) != 1 or r.authority[0].type != "SOA":
        r.fail(f"expected exactly one SOA in authority, got {r.authority}")
    soa = r.authority[0]
    if soa.name.lower() != soa_owner.lower():
        r.fail(f"SOA owner {soa.name!r}, expected {soa_owner!r}")
    if soa.ttl != TTL:
        r.fail(f"SOA TTL {soa.ttl}, expected {TTL}")
    if " ".join(soa.rdata.split()) != SOA_RDATA:
        r.fail(f"SOA rdata {soa.rdata!r}, expected {SOA_RDATA!r}")


def expect_view(r: DigResult, c: ClusterSpec, qtype: str, inside: bool, *, tcp=None):
    outcome = c.outcome(inside)
    if outcome == "nxdomain":
        expect_negative(r, "NXDOMAIN", c.parent, tcp=tcp)
    else:
        expect_addresses(r, c.endpoint, qtype, (PRIVATE if outcome == "private" else PUBLIC)[qtype],
                         tcp=tcp)


# ------------------------------------------------------------------------------------------------
# Raw DNS messages


OPT_RR = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)  # root, OPT, 1232, version 0, no options


def hexdump(data: bytes) -> str:
    return data.hex(" ") if data else "(empty)"


class UdpClient:
    """One socket from an outside source, so that all its datagrams reach the same worker."""

    def __init__(self, src: str = OUTSIDE):
        family = socket.AF_INET6 if ":" in src else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((src, 0))
        self.dest = (server_for(src), ENV.port)

    def send(self, data: bytes):
        self.sock.sendto(data, self.dest)

    def recv(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        return self.sock.recv(65535)

    def exchange(self, data: bytes, timeout: float = 2.0) -> bytes | None:
        self.send(data)
        return self.recv(timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tcp_connect(src: str = OUTSIDE, timeout: float = 3.0) -> socket.socket:
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((server_for(src), ENV.port))
    return s


def wait_closed(s: socket.socket, timeout: float) -> float | None:
    """Seconds until the peer closed the connection, or None if it stayed open for `timeout`."""
    start = time.monotonic()
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return time.monotonic() - start
            # data on a connection we expect closed is reported by the caller via the time
    except socket.timeout:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - start


def expect_message(data: bytes | None, what: str, *, qid: int, rcode: int,
                   addresses: list[str] | None = None) -> Message:
    if data is None:
        raise CheckFailed(f"{what}: no answer")
    try:
        m = parse_message(data)
    except ValueError as e:
        raise CheckFailed(f"{what}: malformed answer ({e}): {hexdump(data)}") from None
    if m.id != qid:
        raise CheckFailed(f"{what}: ID {m.id}, expected {qid}")
    if not m.qr:
        raise CheckFailed(f"{what}: QR not set")
    if m.rcode != rcode:
        raise CheckFailed(f"{what}: rcode {m.rcode}, expected {rcode}: {hexdump(data)}")
    if addresses is not None and m.addresses() != sorted(addresses):
        raise CheckFailed(f"{what}: addresses {m.addresses()}, expected {sorted(addresses)}")
    return m




# ------------------------------------------------------------------------------------------------
# The server


def answering() -> bool:
    r = query(PUB.endpoint, "A", opts=("+time=1",))
    return r.status == "NOERROR" and bool(r.answer)


def start_server():
    """Starts horizond on a free port; retries with another port if that one was taken meanwhile."""
    last = ""
    for _attempt in range(5):
        ENV.port = free_port("127.0.0.1", "::1")
        ENV.config.write_text(config_text(ENV.port))
        ENV.proc = start_process([ENV.horizond, "--config", str(ENV.config)], ENV.log, append=False)
        try:
            wait_until("horizond to answer", answering, 10, proc=ENV.proc, log=ENV.log)
            return
        except CheckFailed:
            last = ENV.log.read_text(errors="replace")
            if ENV.proc.poll() != 1 or "in use" not in last:
                raise
            # lost a race for the port: try another one
    raise CheckFailed(f"could not start horizond on a free port after 5 attempts:\n{last}")


# ------------------------------------------------------------------------------------------------
# The checks. Each is a function that raises CheckFailed; `server` ones need horizond running.

CHECKS = Checks()
check, add = CHECKS, CHECKS.add


# --- command line


@check("cli.help", server=False)
def _():
    p = run([ENV.horizond, "--help"])
    if p.returncode != 0 or "usage: horizond" not in p.stdout:
        raise CheckFailed(f"exit {p.returncode}, expected 0 with a usage text\n"
                          f"{shown([ENV.horizond, '--help'], p.stdout + p.stderr)}")


@check("cli.version", server=False)
def _():
    p = run([ENV.horizond, "--version"])
    if p.returncode != 0 or p.stdout != "horizond 0.1.0\n":
        raise CheckFailed(f"exit {p.returncode}, stdout {p.stdout!r}; expected 0 and "
                          f"'horizond 0.1.0\\n'")


@check("cli.unknown-argument", server=False)
def _():
    cmd = [ENV.horizond, "--frobnicate"]
    p = run(cmd)
    if p.returncode != 2 or "--frobnicate" not in p.stderr:
        raise CheckFailed(f"exit {p.returncode}, expected 2 with the argument named on stderr\n"
                          f"{shown(cmd, p.stdout + p.stderr)}")


@check("cli.config-without-file", server=False)
def _():
    cmd = [ENV.horizond, "--config"]
    p = run(cmd)
    if p.returncode != 2:
        raise CheckFailed(f"exit {p.returncode}, expected 2\n{shown(cmd, p.stdout + p.stderr)}")


# --- --check-config


@check("check-config.valid", server=False)
def _():
    valid = ENV.tmp / "valid.toml"
    valid.write_text(config_text(1053))
    cmd = [ENV.horizond, "--check-config", str(valid)]
    p = run(cmd)
    if p.returncode != 0 or "valid" not in p.stdout or p.stderr:
        raise CheckFailed(f"exit {p.returncode}, expected 0, 'valid' on stdout, nothing on stderr\n"
                          f"{shown(cmd, p.stdout + p.stderr)}")


def bad_configs() -> list[Path]:
    return sorted((ENV.data / "bad").glob("*.toml"))


@check("check-config.bad.count", server=False)
def _():
    found = bad_configs()
    if len(found) < 15:
        raise CheckFailed(f"{len(found)} files in {ENV.data / 'bad'}/*.toml, expected at least 15")


def check_bad_config(toml: Path):
    expected_file = toml.with_suffix(".expected")
    if not expected_file.exists():
        raise CheckFailed(f"{expected_file} is missing")
    expected = expected_file.read_text().splitlines()
    if not expected:
        raise CheckFailed(f"{expected_file} is empty")
    rel = f"bad/{toml.name}"
    cmd = [ENV.horizond, "--check-config", rel]
    p = run(cmd, cwd=ENV.data)
    got = p.stderr.splitlines()
    problems = []
    if p.returncode != 2:
        problems.append(f"exit {p.returncode}, expected 2")
    if got[:len(expected)] != expected:
        for i, want in enumerate(expected):
            have = got[i] if i < len(got) else "(no line)"
            if have != want:
                problems.append(f"stderr line {i + 1}:\n  got:      {have}\n  expected: {want}")
                break
    if problems:
        raise CheckFailed("\n".join(problems) + f"\n(cwd {ENV.data})\n{shown(cmd, p.stderr)}")


def register_bad_configs():
    for toml in bad_configs():
        add(f"check-config.bad.{toml.stem}", lambda t=toml: check_bad_config(t), server=False)


# --- the server starts


@check("server.start", server=False)
def _():
    start_server()


# --- the views: every mode x tool x transport x source x type (EKS-FACTS §2)

SOURCES = [("in-vpc", INSIDE, True), ("outside", OUTSIDE, False), ("outside-v6", OUTSIDE6, False)]


def check_view(c: ClusterSpec, tool: str, tcp: bool, src: str, inside: bool, qtype: str):
    r = query(c.endpoint, qtype, tool=tool, src=src, tcp=tcp)
    expect_view(r, c, qtype, inside, tcp=tcp)


def register_views():
    for c in MODES:
        for tool in ("dig", "kdig"):
            for tcp in (False, True):
                for label, src, inside in SOURCES:
                    for qtype in ("A", "AAAA"):
                        name = (f"view.{c.mode}{'/nxdomain' if c.private_outside == 'nxdomain' else ''}"
                                f".{tool}.{'tcp' if tcp else 'udp'}.{label}.{qtype}")
                        add(name, lambda c=c, tool=tool, tcp=tcp, src=src, inside=inside, q=qtype:
                            check_view(c, tool, tcp, src, inside, q))


# EKS-FACTS §3.1: in public+private an outside source never receives an ENI address, and an in-VPC
# source never an NLB address, wherever in (and just outside) the VPC prefix it sits.
OUTSIDE_SOURCES = ["127.0.0.1", "127.0.0.2", "127.9.255.254", "127.11.0.1", "127.100.10.5", "::1"]
INSIDE_SOURCES = ["127.10.0.1", "127.10.0.5", "127.10.255.254"]


def is_private(addr: str) -> bool:
    return addr.startswith("192.168.") or addr.startswith("fd00:")


def is_public(addr: str) -> bool:
    return addr.startswith("203.0.113.") or addr.startswith("2001:db8:")


@check("invariant.public+private.outside-never-private")
def _():
    for src in OUTSIDE_SOURCES:
        for tcp in (False, True):
            for qtype in ("A", "AAAA"):
                r = query(PUBPRIV.endpoint, qtype, src=src, tcp=tcp)
                leaked = [a for a in r.rdatas() if is_private(a)]
                if leaked:
                    r.fail(f"outside source {src} received ENI addresses {leaked}")
                expect_addresses(r, PUBPRIV.endpoint, qtype, PUBLIC[qtype], tcp=tcp)


@check("invariant.public+private.inside-never-public")
def _():
    for src in INSIDE_SOURCES:
        for tcp in (False, True):
            for qtype in ("A", "AAAA"):
                r = query(PUBPRIV.endpoint, qtype, src=src, tcp=tcp)
                leaked = [a for a in r.rdatas() if is_public(a)]
                if leaked:
                    r.fail(f"in-VPC source {src} received NLB addresses {leaked}")
                expect_addresses(r, PUBPRIV.endpoint, qtype, PRIVATE[qtype], tcp=tcp)


@check("invariant.public.everyone-public")
def _():
    for src in OUTSIDE_SOURCES + INSIDE_SOURCES:
        r = query(PUB.endpoint, "A", src=src)
        expect_addresses(r, PUB.endpoint, "A", PUBLIC["A"])


@check("invariant.private.everyone-private")
def _():
    for src in OUTSIDE_SOURCES + INSIDE_SOURCES:
        r = query(PRIV.endpoint, "A", src=src)
        expect_addresses(r, PRIV.endpoint, "A", PRIVATE["A"])


# --- names, types and classes


def register_name_checks():
    for tcp in (False, True):
        t = "tcp" if tcp else "udp"

        def case_echo(tcp=tcp):
            name = mixed_case(PUBPRIV.endpoint)
            r = query(name, "A", src=INSIDE, tcp=tcp, opts=("+question",))
            expect_addresses(r, PUBPRIV.endpoint, "A", PRIVATE["A"], tcp=tcp)
            if [q[0] for q in r.question] != [name]:
                r.fail(f"question section {r.question}, expected the name exactly as sent: {name}")
            owners = {rr.name for rr in r.answer}
            if owners != {name}:
                r.fail(f"answer owners {owners}, expected the name exactly as sent: {name}")

        add(f"name.mixed-case-echoed.{t}", case_echo)

        def case_nx(tcp=tcp):
            name = mixed_case(PRIVNX.endpoint)
            r = query(name, "A", src=OUTSIDE, tcp=tcp)
            expect_negative(r, "NXDOMAIN", PRIVNX.parent, tcp=tcp)
            want = name.split(".", 1)[1]  # the parent as the query spelled it
            if r.authority[0].name != want:
                r.fail(f"SOA owner {r.authority[0].name!r}, expected {want!r} (case as sent)")

        add(f"name.mixed-case-nxdomain-parent.{t}", case_nx)

        def apex_soa(tcp=tcp):
            r = query(PUBPRIV.endpoint, "SOA", src=INSIDE, tcp=tcp)
            expect_header(r, "NOERROR", aa=True, tcp=tcp)
            if len(r.answer) != 1 or r.answer[0].type != "SOA":
                r.fail("expected exactly one SOA in the answer")
            soa = r.answer[0]
            if soa.name.lower() != PUBPRIV.endpoint.lower() or soa.ttl != TTL:
                r.fail(f"SOA owner/TTL {soa.name} {soa.ttl}, expected {PUBPRIV.endpoint} {TTL}")
            if " ".join(soa.rdata.split()) != SOA_RDATA:
                r.fail(f"SOA rdata {soa.rdata!r}, expected {SOA_RDATA!r}")

        add(f"name.apex-soa.{t}", apex_soa)

        def apex_ns(tcp=tcp):
            r = query(PUB.endpoint, "NS", src=OUTSIDE, tcp=tcp)
            expect_header(r, "NOERROR", aa=True, tcp=tcp)
            if [(a.type, a.rdata, a.ttl) for a in r.answer] != [("NS", NS_RDATA, TTL)]:
                r.fail(f"expected exactly NS {NS_RDATA} TTL {TTL}")
            if r.answer[0].name.lower() != PUB.endpoint.lower():
                r.fail(f"NS owner {r.answer[0].name}, expected {PUB.endpoint}")

        add(f"name.apex-ns.{t}", apex_ns)

        def below_apex(tcp=tcp):
            for c in MODES:
                for sub in ("www.", "a.b."):
                    for src, inside in ((INSIDE, True), (OUTSIDE, False)):
                        r = query(sub + c.endpoint, "A", src=src, tcp=tcp)
                        owner = c.parent if c.outcome(inside) == "nxdomain" else c.endpoint
                        expect_negative(r, "NXDOMAIN", owner, tcp=tcp)

        add(f"name.below-apex-nxdomain.{t}", below_apex)

        def nodata(tcp=tcp):
            r = query(PUBPRIV.endpoint, "TXT", src=INSIDE, tcp=tcp)
            expect_negative(r, "NOERROR", PUBPRIV.endpoint, tcp=tcp)
            r = query(BIG.endpoint, "AAAA", src=OUTSIDE, tcp=tcp)  # big has no IPv6 address
            expect_negative(r, "NOERROR", BIG.endpoint, tcp=tcp)

        add(f"name.nodata.{t}", nodata)

        def nx_outside_soa(tcp=tcp):
            # private_outside = "nxdomain": the whole name is absent outside, SOA queries included
            r = query(PRIVNX.endpoint, "SOA", src=OUTSIDE, tcp=tcp)
            expect_negative(r, "NXDOMAIN", PRIVNX.parent, tcp=tcp)

        add(f"name.nxdomain-variant-soa-outside.{t}", nx_outside_soa)

        def any_query(tcp=tcp):
            r = query(PUBPRIV.endpoint, "ANY", src=OUTSIDE, tcp=tcp)
            expect_addresses(r, PUBPRIV.endpoint, "A", PUBLIC["A"], tcp=tcp)  # RFC 8482 §4.2

        add(f"name.any-one-rrset.{t}", any_query)

        def refused(tcp=tcp):
            for name in ("example.com.", "eks.amazonaws.com.", PRIVNX.parent,
                         PUB.endpoint.split(".", 1)[1]):
                r = query(name, "A", src=INSIDE, tcp=tcp)
                expect_header(r, "REFUSED", aa=False, tcp=tcp)
                if r.answer or r.authority:
                    r.fail("REFUSED must carry no records")

        add(f"name.other-zones-refused.{t}", refused)

        def chaos(tcp=tcp):
            for name, text in (("id.server", IDENTITY), ("hostname.bind", IDENTITY),
                               ("version.bind", VERSION), ("ID.Server", IDENTITY)):
                for tool in ("dig", "kdig"):
                    r = query(name, "TXT", qclass="CH", tool=tool, tcp=tcp)
                    expect_header(r, "NOERROR", aa=True, tcp=tcp)
                    if [(a.cls, a.type, a.rdata) for a in r.answer] != [("CH", "TXT", f'"{text}"')]:
                        r.fail(f'expected exactly CH TXT "{text}"')
            r = query("authors.bind", "TXT", qclass="CH", tcp=tcp)
            expect_header(r, "REFUSED", aa=False, tcp=tcp)

        add(f"chaos.id-server-version-bind.{t}", chaos)

        def nsid(tcp=tcp):
            for tool in ("dig", "kdig"):
                r = query(PUBPRIV.endpoint, "A", tool=tool, tcp=tcp, opts=("+nsid",))
                expect_addresses(r, PUBPRIV.endpoint, "A", PUBLIC["A"], tcp=tcp)
                if r.nsid != IDENTITY:
                    r.fail(f"NSID {r.nsid!r}, expected {IDENTITY!r}")

        add(f"edns.nsid.{t}", nsid)

        def badvers(tcp=tcp):
            for tool, opts in (("dig", ("+edns=1", "+noednsnegotiation")), ("kdig", ("+edns=1",))):
                r = query(PUBPRIV.endpoint, "A", tool=tool, tcp=tcp, opts=opts)
                if r.status != "BADVERS":
                    r.fail(f"status {r.status}, expected BADVERS (RFC 6891 §6.1.3)")
                if r.answer:
                    r.fail("BADVERS must carry no answer")
                if r.edns_version != 0:
                    r.fail(f"OPT version {r.edns_version}, expected 0 in the BADVERS answer")

        add(f"edns.version1-badvers.{t}", badvers)

        def drill(tcp=tcp):
            r = query(PUBPRIV.endpoint, "A", tool="drill", src=OUTSIDE, tcp=tcp)
            expect_addresses(r, PUBPRIV.endpoint, "A", PUBLIC["A"])
            r = query(PUBPRIV.endpoint, "A", tool="drill", src=INSIDE, tcp=tcp)
            expect_addresses(r, PUBPRIV.endpoint, "A", PRIVATE["A"])
            r = query(PRIVNX.endpoint, "AAAA", tool="drill", src=OUTSIDE, tcp=tcp)
            expect_negative(r, "NXDOMAIN", PRIVNX.parent)

        add(f"drill.{t}", drill)


@check("drill.plain-command")
def _():
    # exactly the documented form: drill -p PORT @127.0.0.1 NAME A
    cmd = ["drill", "-p", str(ENV.port), "@127.0.0.1", PUB.endpoint, "A"]
    p = run(cmd)
    r = parse_dig(cmd, p.stdout + p.stderr, p.returncode)
    expect_addresses(r, PUB.endpoint, "A", PUBLIC["A"])


@check("flags.rd-cd-copied-ad-cleared-ra-never")
def _():
    for tool in ("dig", "kdig"):
        r = query(PUB.endpoint, "A", tool=tool, opts=("+nordflag",))
        expect_addresses(r, PUB.endpoint, "A", PUBLIC["A"])
        if "rd" in r.flags:
            r.fail("RD set in the answer to a query without RD")
        r = query(PUB.endpoint, "A", tool=tool, opts=("+rdflag", "+cdflag", "+adflag"))
        expect_addresses(r, PUB.endpoint, "A", PUBLIC["A"])
        if "rd" not in r.flags or "cd" not in r.flags:
            r.fail("RD and CD must be copied from the query")
        if "ad" in r.flags:
            r.fail("AD must be cleared (nothing is validated)")


@check("edns.opt-do-payload")
def _():
    for tool in ("dig", "kdig"):
        for tcp in (False, True):
            r = query(PUBPRIV.endpoint, "A", tool=tool, tcp=tcp, opts=("+dnssec",))
            expect_addresses(r, PUBPRIV.endpoint, "A", PUBLIC["A"], tcp=tcp)
            if r.edns_version != 0 or r.edns_udp != 1232:
                r.fail(f"OPT version {r.edns_version} payload {r.edns_udp}; expected 0 and our "
                       f"udp_payload 1232 (RFC 6891 §6.2.5)")
            if "do" not in r.edns_flags:
                r.fail("DO not copied into the answer's OPT (RFC 3225 §3)")
    r = query(PUBPRIV.endpoint, "A")
    if "do" in r.edns_flags:
        r.fail("DO set in the answer to a query without DO")
    r = query(PUBPRIV.endpoint, "A", opts=("+noedns",))
    if r.edns_version is not None:
        r.fail("an OPT in the answer to a query without EDNS (RFC 6891 §7)")


@check("edns.unknown-option-ignored")
def _():
    r = query(PUBPRIV.endpoint, "A", src=INSIDE, opts=("+ednsopt=65001:abcd", "+ednsopt=65002"))
    expect_addresses(r, PUBPRIV.endpoint, "A", PRIVATE["A"])


# --- truncation (RFC 1035 §4.2.1, RFC 6891 §6.2.5) with the 40-address cluster


@check("truncation.dig-noedns-udp-tc")
def _():
    r = query(BIG.endpoint, "A", opts=("+noedns", "+ignore"))
    if r.status != "NOERROR" or "tc" not in r.flags or "aa" not in r.flags:
        r.fail(f"status {r.status} flags {sorted(r.flags)}; expected NOERROR with aa and tc")
    if r.answer:
        r.fail(f"a truncated answer must carry no records, got {len(r.answer)}")


@check("truncation.dig-retries-over-tcp")
def _():
    r = query(BIG.endpoint, "A", opts=("+noedns",))
    if "Truncated, retrying in TCP mode" not in r.out:
        r.fail("dig did not see TC and retry over TCP")
    expect_addresses(r, BIG.endpoint, "A", BIG_A, tcp=True)


@check("truncation.kdig-notcp-noedns-tc")
def _():
    r = query(BIG.endpoint, "A", tool="kdig", opts=("+noedns",))
    if "tc" not in r.flags or r.answer:
        r.fail(f"flags {sorted(r.flags)} with {len(r.answer)} records; expected TC and none")


@check("truncation.edns-512-tc-with-opt")
def _():
    r = query(BIG.endpoint, "A", opts=("+bufsize=512", "+ignore"))
    if "tc" not in r.flags or r.answer:
        r.fail(f"flags {sorted(r.flags)} with {len(r.answer)} records; expected TC and none")
    if r.edns_version != 0:
        r.fail("the truncated answer to an EDNS query must keep its OPT (RFC 6891 §7)")


@check("truncation.bufsize-4096-fits")
def _():
    for tool in ("dig", "kdig"):
        r = query(BIG.endpoint, "A", tool=tool, opts=("+bufsize=4096",))
        expect_addresses(r, BIG.endpoint, "A", BIG_A, tcp=False)


@check("truncation.tcp-never-truncated")
def _():
    for tool in ("dig", "kdig"):
        r = query(BIG.endpoint, "A", tool=tool, tcp=True, opts=("+noedns",))
        expect_addresses(r, BIG.endpoint, "A", BIG_A, tcp=True)


# --- malformed packets over UDP (raw sockets, from an outside source)


def normal_query_ok(client: UdpClient, qid: int = 0x5A5A):
    data = client.exchange(make_query(qid, PUBPRIV.endpoint))
    expect_message(data, "normal query", qid=qid, rcode=NOERROR, addresses=PUBLIC["A"])


@check("malformed.udp.short-dropped")
def _():
    with UdpClient() as c:
        for payload in (b"", b"\x12", bytes.fromhex("1234 0100 0001 0000 0000 00")):  # 0, 1, 11 bytes
            c.send(payload)
        data = c.recv(NO_ANSWER_WAIT)
        if data is not None:
            raise CheckFailed(f"a message shorter than 12 bytes was answered: {hexdump(data)}")
        normal_query_ok(c)


@check("malformed.udp.response-dropped")
def _():
    with UdpClient() as c:
        c.send(make_query(0x1111, PUBPRIV.endpoint, flags=0x8100))
        c.send(make_query(0x1112, PUBPRIV.endpoint, flags=0x8500))  # QR+AA, as a real answer
        data = c.recv(NO_ANSWER_WAIT)
        if data is not None:
            raise CheckFailed(f"a message with QR=1 was answered: {hexdump(data)}")
        normal_query_ok(c)


@check("malformed.udp.notify-notimp")
def _():
    with UdpClient() as c:
        m = expect_message(c.exchange(make_query(0x2222, PUBPRIV.endpoint, 6, flags=0x2400)),
                           "NOTIFY", qid=0x2222, rcode=NOTIMP)
        if m.opcode != 4:
            raise CheckFailed(f"opcode {m.opcode} in the answer, expected NOTIFY (4) echoed")
        expect_message(c.exchange(make_query(0x2223, PUBPRIV.endpoint, flags=0x2900)),
                       "UPDATE", qid=0x2223, rcode=NOTIMP)
    # RFC 6891 §6.1.1: EDNS in, EDNS out, for NOTIMP too (the OPT is parsed before the opcode).
    for tcp in (False, True):
        r = query(PUBPRIV.endpoint, "SOA", tcp=tcp, opts=("+opcode=4", "+edns=0"))
        if r.status != "NOTIMP" or r.edns_version != 0:
            r.fail(f"status {r.status}, EDNS version {r.edns_version}: expected NOTIMP with an OPT")
    r = query(PUBPRIV.endpoint, "SOA", opts=("+opcode=4", "+noedns"))
    if r.status != "NOTIMP" or r.edns_version is not None:
        r.fail("NOTIMP to a query without EDNS must carry no OPT")


@check("malformed.udp.qdcount-formerr")
def _():
    with UdpClient() as c:
        q = encode_name(PUBPRIV.endpoint) + struct.pack("!HH", 1, 1)
        expect_message(c.exchange(make_query(0x3333, "", qd=2, question=q + q)),
                       "QDCOUNT=2", qid=0x3333, rcode=FORMERR)
        expect_message(c.exchange(make_query(0x3334, "", qd=0, question=b"")),
                       "QDCOUNT=0", qid=0x3334, rcode=FORMERR)


@check("malformed.udp.compression-loop-formerr")
def _():
    with UdpClient() as c:
        for qid, question in ((0x4444, b"\xc0\x0c"), (0x4445, b"\x03foo\xc0\x0c"),
                              (0x4446, b"\x03foo\xc0\x0e")):
            expect_message(c.exchange(make_query(qid, "", question=question + b"\x00\x01\x00\x01")),
                           f"question {hexdump(question)}", qid=qid, rcode=FORMERR)


@check("malformed.udp.two-opt-formerr")
def _():
    with UdpClient() as c:
        m = expect_message(c.exchange(make_query(0x5555, PUBPRIV.endpoint, ar=2, tail=OPT_RR + OPT_RR)),
                           "two OPT records", qid=0x5555, rcode=FORMERR)
        if not m.has_opt():
            raise CheckFailed("a FORMERR about the OPT must carry our OPT (RFC 6891 §7; docs/horizond.md)")


@check("malformed.udp.bad-opt-formerr")
def _():
    # RFC 6891 §6.1.1 and §7: OPT outside the additional section, a non-root owner, a malformed
    # option: FORMERR, with our OPT.
    name = PUBPRIV.endpoint
    bad_option = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 6) + struct.pack("!HH", 3, 5) + b"ab"
    cases = [
        ("OPT in the answer section", make_query(0x5560, name, an=1, tail=OPT_RR)),
        ("OPT in the authority section", make_query(0x5561, name, ns=1, tail=OPT_RR)),
        ("OPT owned by a non-root name", make_query(0x5562, name, ar=1,
                                                    tail=b"\x01x" + OPT_RR)),
        ("option longer than the RDATA", make_query(0x5563, name, ar=1, tail=bad_option)),
    ]
    with UdpClient() as c:
        for what, msg in cases:
            qid = struct.unpack("!H", msg[:2])[0]
            m = expect_message(c.exchange(msg), what, qid=qid, rcode=FORMERR)
            if not m.has_opt():
                raise CheckFailed(f"{what}: FORMERR without our OPT (RFC 6891 §7; docs/horizond.md)")
        normal_query_ok(c)


@check("malformed.udp.opcode-and-types")
def _():
    with UdpClient() as c:
        # zone transfers are REFUSED, MAILA/MAILB NOTIMP, another class REFUSED
        expect_message(c.exchange(make_query(0x5570, PUBPRIV.endpoint, 252)), "AXFR over UDP",
                       qid=0x5570, rcode=REFUSED)
        expect_message(c.exchange(make_query(0x5571, PUBPRIV.endpoint, 253)), "MAILB",
                       qid=0x5571, rcode=NOTIMP)
        q = encode_name(PUBPRIV.endpoint) + struct.pack("!HH", 1, 4)  # class HS
        expect_message(c.exchange(make_query(0x5572, "", question=q)), "class HS",
                       qid=0x5572, rcode=REFUSED)


def long_name(total: int, apex: str) -> str:
    """A name of exactly `total` wire bytes ending in `apex`, made of labels of 1..63 bytes."""
    room = total - len(encode_name(apex))
    labels = []
    while room > 0:
        n = min(63, room - 1)
        if room - (n + 1) == 1:  # would leave one byte, which cannot hold a label
            n -= 1
        labels.append("x" * n)
        room -= n + 1
    return ".".join(labels + [apex.rstrip(".")]) + "."


@check("malformed.udp.name-length-limits")
def _():
    # RFC 1035 §2.3.4: 255 bytes is the longest name, 63 the longest label.
    with UdpClient() as c:
        name = long_name(255, PUBPRIV.endpoint)
        assert len(encode_name(name)) == 255
        m = expect_message(c.exchange(make_query(0x5580, name)), "a 255-byte name below the apex",
                           qid=0x5580, rcode=NXDOMAIN)
        soa = [r for r in m.records if r[0] == "ns" and r[2] == 6]
        if len(soa) != 1 or soa[0][1].lower() != PUBPRIV.endpoint.lower():
            raise CheckFailed(f"255-byte name: expected the apex SOA in authority, got {m.records}")
        if [q[0] for q in m.questions] != [name]:
            raise CheckFailed("255-byte name: the question was not echoed as sent")
        small = ".".join(["a"] * ((255 - len(encode_name(PUBPRIV.endpoint))) // 2)) + "." + PUBPRIV.endpoint
        expect_message(c.exchange(make_query(0x5581, small)), "a name of one-byte labels",
                       qid=0x5581, rcode=NXDOMAIN)
        too_long = long_name(256, PUBPRIV.endpoint)
        assert len(encode_name(too_long)) == 256 and max(map(len, too_long.split("."))) <= 63
        expect_message(c.exchange(make_query(0x5582, too_long)), "a 256-byte name",
                       qid=0x5582, rcode=FORMERR)
        label64 = bytes([64]) + b"y" * 64 + encode_name(PUBPRIV.endpoint)
        expect_message(c.exchange(make_query(0x5583, "", question=label64 + b"\0\1\0\1")),
                       "a 64-byte label", qid=0x5583, rcode=FORMERR)
        normal_query_ok(c)


@check("malformed.udp.truncated-question-formerr")
def _():
    with UdpClient() as c:
        full = make_query(0x6666, PUBPRIV.endpoint)
        for cut in (13, 20, len(full) - 1):
            expect_message(c.exchange(full[:cut]), f"query cut to {cut} bytes",
                           qid=0x6666, rcode=FORMERR)


def garbage(rng: random.Random, n: int) -> list[bytes]:
    """Random bytes, random bytes behind a plausible header, and mutated valid queries."""
    base = make_query(0, mixed_case(PUBPRIV.endpoint), ar=1, tail=OPT_RR)
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            pkt = rng.randbytes(rng.randrange(0, 80))
        elif kind == 1:
            hdr = struct.pack("!6H", rng.getrandbits(16), rng.getrandbits(16) & 0x07FF, 1,
                              rng.randrange(3), rng.randrange(3), rng.randrange(3))
            pkt = hdr + rng.randbytes(rng.randrange(0, 80))
        else:
            b = bytearray(base)
            for _ in range(rng.randrange(1, 5)):
                b[rng.randrange(len(b))] = rng.getrandbits(8)
            if rng.random() < 0.3:
                b = b[:rng.randrange(len(b))]
            pkt = bytes(b)
        out.append(pkt)
    return out


def check_garbage_answer(pkt: bytes, data: bytes, i: int):
    where = f"packet {i} ({hexdump(pkt)})"
    try:
        m = parse_message(data)
    except ValueError as e:
        raise CheckFailed(f"{where}: malformed answer ({e}): {hexdump(data)}") from None
    if len(pkt) < 12:
        raise CheckFailed(f"{where}: a message shorter than a header was answered")
    if not m.qr or m.id != struct.unpack("!H", pkt[:2])[0]:
        raise CheckFailed(f"{where}: answer without QR or with another ID: {hexdump(data)}")


@check("malformed.udp.random-garbage")
def _():
    rng = random.Random(1)
    packets = garbage(rng, 200)
    answered = 0
    with UdpClient() as c:
        for i, pkt in enumerate(packets):
            # The same socket reaches the same worker, which answers in order: the sentinel's
            # answer tells us that everything the garbage caused has arrived.
            gid = struct.unpack("!H", pkt[:2])[0] if len(pkt) >= 2 else -1
            sentinel = 0xABCD if gid != 0xABCD else 0xABCE
            c.send(pkt)
            c.send(make_query(sentinel, PUBPRIV.endpoint))
            while True:
                data = c.recv(2.0)
                if data is None:
                    raise CheckFailed(f"packet {i} ({hexdump(pkt)}): no answer to the valid query "
                                      f"sent after it")
                if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == sentinel:
                    expect_message(data, f"query after packet {i}", qid=sentinel, rcode=NOERROR,
                                   addresses=PUBLIC["A"])
                    break
                check_garbage_answer(pkt, data, i)
                answered += 1
    return f"{len(packets)} packets, {answered} answered"


@check("malformed.udp.still-serving")
def _():
    for src, inside in ((INSIDE, True), (OUTSIDE, False), (OUTSIDE6, False)):
        for tcp in (False, True):
            expect_view(query(PUBPRIV.endpoint, "A", src=src, tcp=tcp), PUBPRIV, "A", inside, tcp=tcp)


# --- TCP framing (RFC 7766)


@check("tcp.one-byte-writes")
def _():
    qid = 0x7001
    msg = frame(make_query(qid, PUBPRIV.endpoint))
    with tcp_connect() as s:
        for b in msg:
            s.sendall(bytes([b]))
            time.sleep(0.003)  # separate segments, so the server sees partial reads
        expect_message(recv_frame(s), "query sent byte by byte", qid=qid, rcode=NOERROR,
                       addresses=PUBLIC["A"])


@check("tcp.pipelined-three")
def _():
    queries = [(0x7101, PUBPRIV.endpoint, 1, PUBLIC["A"]), (0x7102, PUBPRIV.endpoint, 28, PUBLIC["AAAA"]),
               (0x7103, PRIV.endpoint, 1, PRIVATE["A"])]
    with tcp_connect() as s:
        s.sendall(b"".join(frame(make_query(qid, name, qtype)) for qid, name, qtype, _ in queries))
        for qid, _, _, want in queries:  # answered in order
            expect_message(recv_frame(s), f"pipelined query {qid:#x}", qid=qid, rcode=NOERROR,
                           addresses=want)


@check("tcp.pipelined-inside-v6")
def _():
    # in-VPC source over IPv4 and the outside IPv6 source, each pipelining A and AAAA
    for src, want in ((INSIDE, PRIVATE), (OUTSIDE6, PUBLIC)):
        with tcp_connect(src) as s:
            s.sendall(frame(make_query(0x7201, PUBPRIV.endpoint, 1)) +
                      frame(make_query(0x7202, PUBPRIV.endpoint, 28)))
            expect_message(recv_frame(s), f"A from {src}", qid=0x7201, rcode=NOERROR,
                           addresses=want["A"])
            expect_message(recv_frame(s), f"AAAA from {src}", qid=0x7202, rcode=NOERROR,
                           addresses=want["AAAA"])


@check("malformed.tcp.in-stream")
def _():
    # Dropped frames get no answer, the others get theirs, in order, on the same connection.
    q = encode_name(PUBPRIV.endpoint) + struct.pack("!HH", 1, 1)
    frames = [
        (b"", None),
        (b"\x12\x34\x01", None),
        (make_query(0x7301, PUBPRIV.endpoint, flags=0x8100), None),
        (make_query(0x7302, PUBPRIV.endpoint, 6, flags=0x2400), (0x7302, NOTIMP)),
        (make_query(0x7303, "", qd=2, question=q + q), (0x7303, FORMERR)),
        (make_query(0x7304, "", question=b"\xc0\x0c\x00\x01\x00\x01"), (0x7304, FORMERR)),
        (make_query(0x7305, PUBPRIV.endpoint, ar=2, tail=OPT_RR + OPT_RR), (0x7305, FORMERR)),
        (make_query(0x7306, PUBPRIV.endpoint), (0x7306, NOERROR)),
    ]
    with tcp_connect() as s:
        s.sendall(b"".join(frame(f) for f, _ in frames))
        for f, want in frames:
            if want is not None:
                expect_message(recv_frame(s), f"frame {hexdump(f)[:40]}", qid=want[0], rcode=want[1])


@check("malformed.tcp.random-garbage")
def _():
    rng = random.Random(1)
    packets = garbage(rng, 200)
    ids = {struct.unpack("!H", p[:2])[0] for p in packets if len(p) >= 2}
    sentinel = next(i for i in range(0xBEEF, 0x10000) if i not in ids)
    with tcp_connect() as s:
        s.sendall(b"".join(frame(p) for p in packets) + frame(make_query(sentinel, PUBPRIV.endpoint)))
        at = 0
        while True:
            data = recv_frame(s)
            if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == sentinel:
                expect_message(data, "query after the garbage", qid=sentinel, rcode=NOERROR,
                               addresses=PUBLIC["A"])
                break
            # answers come in order: find the packet this one answers
            while at < len(packets) and not (len(packets[at]) >= 12 and
                                             packets[at][:2] == data[:2]):
                at += 1
            if at == len(packets):
                raise CheckFailed(f"an answer matching no garbage frame, in order: {hexdump(data)}")
            check_garbage_answer(packets[at], data, at)
            at += 1


@check("tcp.axfr-refused")
def _():
    with tcp_connect() as s:
        for qid, qtype in ((0x7350, 252), (0x7351, 251)):  # AXFR, IXFR
            s.sendall(frame(make_query(qid, PUBPRIV.endpoint, qtype)))
            expect_message(recv_frame(s), f"qtype {qtype}", qid=qid, rcode=REFUSED)


@check("tcp.idle-timeout-no-query")
def _():
    with tcp_connect() as s:
        t = wait_closed(s, 6.0)
    if t is None or not 0.5 <= t <= 5.0:
        raise CheckFailed(f"a silent connection was closed after {t} s; expected between 0.5 s and "
                          f"5 s (tcp_idle_timeout = 1s)")


@check("tcp.idle-timeout-after-answer")
def _():
    with tcp_connect() as s:
        s.sendall(frame(make_query(0x7401, PUB.endpoint)))
        expect_message(recv_frame(s), "query", qid=0x7401, rcode=NOERROR, addresses=PUBLIC["A"])
        t = wait_closed(s, 6.0)
    if t is None or not 0.5 <= t <= 5.0:
        raise CheckFailed(f"the connection was closed {t} s after the answer; expected between "
                          f"0.5 s and 5 s (tcp_idle_timeout = 1s)")


def tcp_answers(s: socket.socket, qid: int, what: str):
    s.sendall(frame(make_query(qid, PUBPRIV.endpoint)))
    m = expect_message(recv_frame(s), what, qid=qid, rcode=NOERROR)
    if m.addresses() not in (sorted(PUBLIC["A"]), sorted(PRIVATE["A"])):
        raise CheckFailed(f"{what}: addresses {m.addresses()}")


def open_four() -> list[socket.socket]:
    """4 connections, each answered (so accepted and counted), over both listeners. A connection
    the previous check closed may be counted until the server's close callback has run, so this
    retries a few times; a limit that really is too low fails every attempt."""
    last = None
    for _attempt in range(5):
        conns = []
        try:
            for i, src in enumerate((OUTSIDE, OUTSIDE6, INSIDE, OUTSIDE6)):
                s = tcp_connect(src)
                conns.append(s)
                tcp_answers(s, 0x7500 + i, f"connection {i + 1} of 4 (from {src})")
            return conns
        except (CheckFailed, OSError) as e:
            last = e
            for s in conns:
                s.close()
            time.sleep(0.1)
    raise CheckFailed(f"4 concurrent connections (the limit) were not all served: {last}")


@check("tcp.connection-limit")
def _():
    # tcp_max_connections = 4 counts all workers and listeners together: 2 over IPv4, 2 over IPv6.
    # All four are idle, so a 5th one is served and closes the least recently active idle
    # connection of the worker that accepted it (RFC 7766 §6.2.3), not the newcomer.
    conns = open_four()
    try:
        fifth = tcp_connect(OUTSIDE)
        conns.append(fifth)
        tcp_answers(fifth, 0x75FF, "a 5th connection (an idle one makes room)")
        closed = [i for i, s in enumerate(conns[:4]) if wait_closed(s, 0.3) is not None]
        if len(closed) != 1:
            raise CheckFailed(f"{len(closed)} of the 4 idle connections were closed for the 5th, "
                              "expected 1")
        for i, s in enumerate(conns[:4]):
            if i not in closed:
                tcp_answers(s, 0x7510 + i, f"connection {i + 1} after the 5th was admitted")
    finally:
        for s in conns:
            s.close()


@check("tcp.connection-limit-released")
def _():
    # Closed connections give their slots back: new connections are served again (bounded poll).
    deadline = time.monotonic() + 3
    last = None
    while time.monotonic() < deadline:
        conns = []
        try:
            for i in range(4):
                s = tcp_connect()
                conns.append(s)
                tcp_answers(s, 0x7600 + i, f"connection {i + 1}")
            return
        except (CheckFailed, OSError) as e:
            last = e
            time.sleep(0.05)
        finally:
            for s in conns:
                s.close()
    raise CheckFailed(f"4 new connections were not all served within 3 s: {last}")


# --- a second server on the same port


@check("listen.address-in-use")
def _():
    # A state directory of its own: on the first one's, the state lock would refuse it first.
    other_state = ENV.tmp / "second-state"
    other_state.mkdir(exist_ok=True)
    cmd = [ENV.horizond, "--config", str(ENV.config), "--state-dir", str(other_state)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=5, errors="replace")
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"a second horizond on port {ENV.port} kept running (shared the port?)\n"
                          f"$ {shlex.join(cmd)}") from None
    lines = p.stderr.splitlines()
    if p.returncode != 1 or len(lines) != 1 or "cannot listen on" not in lines[0] \
            or "in use" not in lines[0]:
        raise CheckFailed(f"exit {p.returncode} with {len(lines)} stderr line(s); expected 1 and one "
                          f"line with 'cannot listen on' and 'in use'\n{shown(cmd, p.stderr)}")
    # the first server is unaffected
    expect_view(query(PUBPRIV.endpoint, "A", src=INSIDE), PUBPRIV, "A", True)


# --- the query log


def log_has(pattern: list[str], source: str) -> bool:
    for line in ENV.log.read_text(errors="replace").splitlines():
        if f"query from {source} " not in line:
            continue
        tokens = set(re.split(r"[\s=]+", line))
        if all(p in tokens for p in pattern):
            return True
    return False


@check("query-log.views")
def _():
    query(PUBPRIV.endpoint, "A", src=INSIDE)
    query(PUBPRIV.endpoint, "A", src=OUTSIDE)
    want = [((PUBPRIV.name, "in-vpc", "private"), INSIDE), ((PUBPRIV.name, "outside", "public"), OUTSIDE)]
    deadline = time.monotonic() + 3
    while True:
        missing = [(p, s) for p, s in want if not log_has(list(p), s)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise CheckFailed("no query log line " + "; ".join(
                f"from {s} with {' '.join(p)}" for p, s in missing) + f" in {ENV.log}")
        time.sleep(0.05)


# --- shutdown


@check("server.sigterm-exits-0")
def _():
    # with a client mid-query on TCP: shutdown must not wait for it
    with tcp_connect() as s:
        s.sendall(frame(make_query(0x7F01, PUB.endpoint))[:7])
        ENV.proc.send_signal(signal.SIGTERM)
        expect_exit_0(ENV.proc)
        if wait_closed(s, 1.0) is None:
            raise CheckFailed("a TCP connection stayed open after horizond exited")
    if "received SIGTERM" not in ENV.log.read_text(errors="replace"):
        raise CheckFailed(f"no 'received SIGTERM' in {ENV.log}")


@check("listen.udp-port-held-with-reuseaddr", server=False)
def _():
    # A port held by another program's SO_REUSEADDR UDP socket (as many DNS servers use) is in
    # use: horizond must say so, not share it and take its datagrams.
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    cfg = ENV.tmp / "udp-held.toml"
    cfg.write_text(config_text(port).replace(f', "[::1]:{port}"', ""))
    cmd = [ENV.horizond, "--config", str(cfg)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        rc = p.wait(timeout=3)
        err = p.stderr.read()
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
        raise CheckFailed(f"horizond kept running on UDP port {port}, which another socket "
                          f"(SO_REUSEADDR) holds; expected exit 1 with 'in use'\n$ {shlex.join(cmd)}")
    finally:
        holder.close()
        p.stderr.close()
    if rc != 1 or "in use" not in err:
        raise CheckFailed(f"exit {rc}, expected 1 with 'in use'\n{shown(cmd, err)}")


@check("listen.wildcard-replies-from-arrival-address", server=False)
def _():
    # A wildcard listener must answer from the address each query was sent to (IP_PKTINFO):
    # dig ignores a UDP reply from any other source, so the query would time out.
    port = free_port("0.0.0.0", "::")
    cfg = ENV.tmp / "wildcard.toml"
    cfg.write_text(config_text(port).replace(f'listen = ["127.0.0.1:{port}", "[::1]:{port}"]',
                                             f'listen = ["0.0.0.0:{port}", "[::]:{port}"]'))
    log = ENV.tmp / "wildcard.log"

    def ask(server: str, src: str) -> DigResult:
        return dig("dig", server, port, PUBPRIV.endpoint, src=src, tcp=False, wait=1)

    p = start_process([ENV.horizond, "--config", str(cfg)], log, append=False,
                      ready=lambda: ask("127.0.0.1", OUTSIDE).status == "NOERROR")
    try:
        for server, src, inside in (("127.0.0.2", INSIDE, True), ("127.0.0.3", OUTSIDE, False),
                                    ("127.10.0.1", INSIDE, True), ("::1", "::1", False)):
            expect_view(ask(server, src), PUBPRIV, "A", inside, tcp=False)
    finally:
        stop_process(p)


# ------------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args(__doc__, "horizond", "data", tools=("dig", "kdig", "drill"))
    ENV.horizond = args.horizond
    ENV.data = Path(args.data)
    ENV.tmp = Path(tempfile.mkdtemp(prefix="horizond-systest-"))
    ENV.config = ENV.tmp / "horizond.toml"
    ENV.log = ENV.tmp / "horizond.log"

    # Order matters: views before the malformed traffic, the TCP limit after the framing tests,
    # SIGTERM last. Generated checks go in their place.
    checks = CHECKS.items
    tail = [c for c in checks if c[0].startswith(("invariant.", "drill.plain", "flags.",
                                                   "truncation.", "malformed.", "tcp.", "listen.",
                                                   "query-log.", "server.sigterm"))]
    head = [c for c in checks if c not in tail]
    checks[:] = head
    at = next(i for i, c in enumerate(checks) if c[0] == "server.start")
    saved, checks[at:] = checks[at:], []
    register_bad_configs()
    checks.extend(saved)
    register_views()
    register_name_checks()
    checks.extend(tail)

    # ctest's timeout or ^C: still stop the server (SystemExit runs the cleanup)
    return run_script(CHECKS, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: expect_running(ENV.proc),
                      cleanup=lambda: stop_process(ENV.proc, sig=signal.SIGKILL),
                      log_excerpt=log_excerpt)


def log_excerpt() -> str:
    """The server's own messages in full (start-up, warnings, sanitizer reports), and the last
    query lines."""
    lines = ENV.log.read_text(errors="replace").splitlines() if ENV.log.exists() else []
    own = [line for line in lines if " query from " not in line]
    queries = [line for line in lines if " query from " in line]
    return "\n".join([f"----- horizond log {ENV.log}: {len(own)} message line(s), {len(queries)} "
                      f"query line(s); messages (first 200) and the last 30 queries:",
                      *own[:200], "...", *queries[-30:], "-----"])


if __name__ == "__main__":
    sys.exit(main())
