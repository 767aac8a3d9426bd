#!/usr/bin/env python3
"""System test of horizond's forwarding: the real server with scripted upstreams on loopback.

Starts scripted upstream DNS servers (in this process: UDP and TCP on 127.0.0.1, each one logging
the queries it gets), a second horizond serving its own endpoint as the upstream of a forward
zone, and the horizond under test with [resolver] pointing at them. Then checks: forwarding over
UDP and TCP with dig and kdig, RA, case echo, conditional forwarding by longest zone suffix,
coalescing of identical questions, cache hits with TTL decay, negative caching capped by
negative_ttl, an upstream timeout falling through to the next upstream, TC answered over TCP,
SERVFAIL with an Extended DNS Error when every upstream fails (22 and 23), spoofed answers
(wrong ID, wrong question, wrong source port) ignored, REFUSED for recursion from a source
outside allow_recursion while the endpoint still answers it, and the query log.

Traffic goes only to 127.0.0.0/8 and ::1; "system" upstreams are never configured. Every wait is
bounded; the servers are stopped by PID. Python 3.11 and dnspython (harness.py).

usage: test_forwarding.py --horizond PATH [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 only if nothing
failed.
"""
from __future__ import annotations

import functools
import ipaddress
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import harness
from harness import (AAAA, NOERROR, NS, NXDOMAIN, OPT, REFUSED, SERVFAIL, SOA, TXT, A, CheckFailed,
                     Checks, Message, dig_command, dig_output, dns_answers, encode_name,
                     expect_exit_0, expect_running, frame, framed_log_tail, free_port, make_tmp,
                     parse_args, parse_message, recv_frame, run_script, start_process, stop_process,
                     udp_answer)

# ------------------------------------------------------------------------------------------------
# What the test configures

ENDPOINT = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com."
UP_ENDPOINT = "0123456789ABCDEF0123456789ABCDEF.yl4.us-east-1.eks.amazonaws.com."  # second horizond
ALLOWED = "127.0.0.1"       # in allow_recursion, outside the VPC
ALLOWED_VPC = "127.10.0.5"  # in allow_recursion and in the VPC
STRANGER = "127.20.0.5"     # outside allow_recursion
TIMEOUT_MS = 400            # [resolver] timeout per upstream
NEGATIVE_TTL = 20           # [resolver] negative_ttl
UPSTREAM_TTL = 100          # TTL of the scripted upstream's answers
SUBPROCESS_TIMEOUT = 10.0
TIME_BUDGET = 120.0

EDE = 15
ECS, COOKIE = 8, 10
MIN_TTL = 5                 # [resolver] min_ttl
MAX_TTL = 3600              # [resolver] max_ttl


# ------------------------------------------------------------------------------------------------
# DNS messages


# Queries carry EDNS (1232) unless told otherwise, as dig's and kdig's do.
make_query = functools.partial(harness.make_query, edns=True)


def ecs_option(subnet: str, source: int) -> bytes:
    """RFC 7871 §6: FAMILY, SOURCE PREFIX-LENGTH, SCOPE 0, the address cut to SOURCE bits."""
    addr = ipaddress.ip_address(subnet)
    data = addr.packed[:(source + 7) // 8]
    body = struct.pack("!HBB", 1 if addr.version == 4 else 2, source, 0) + data
    return struct.pack("!HH", ECS, len(body)) + body


def cookie_option() -> bytes:
    return struct.pack("!HH", COOKIE, 8) + bytes(range(8))  # RFC 7873 §4: a client cookie


def rr(name_ptr: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    return name_ptr + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def soa_rdata(minimum: int) -> bytes:
    return (encode_name("ns.test") + encode_name("hostmaster.test") +
            struct.pack("!5I", 1, 3600, 600, 86400, minimum))


# ------------------------------------------------------------------------------------------------
# A scripted upstream: UDP and TCP on one loopback port, answering by the first label


@dataclass
class Seen:
    transport: str
    name: str
    qtype: int
    qid: int
    source: tuple
    options: list = field(default_factory=list)  # EDNS options of the query's OPT


class Upstream:
    """A DNS server thread on 127.0.0.1. `silent` ones read queries and never answer."""

    def __init__(self, label: str, silent: bool = False, host: str = "127.0.0.1"):
        self.label = label
        self.silent = silent
        self.host = host
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(50):  # held from here on: a free_port() would be released
            self.udp = socket.socket(family, socket.SOCK_DGRAM)
            self.udp.bind((host, 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(family, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise CheckFailed("no free port for a scripted upstream")
        self.tcp.listen(16)
        self.spoofer = socket.socket(family, socket.SOCK_DGRAM)
        self.spoofer.bind((host, 0))
        self.thread = threading.Thread(target=self.serve, name=f"upstream-{label}", daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def queries(self, name: str | None = None, transport: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if (name is None or s.name == name.lower().rstrip(".") + ".")
                    and (transport is None or s.transport == transport)]

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for s in (self.udp, self.tcp, self.spoofer):
            s.close()

    def serve(self):
        conns: list[socket.socket] = []
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.udp, self.tcp, *conns], [], [], 0.05)
            for s in ready:
                try:
                    if s is self.udp:
                        data, peer = self.udp.recvfrom(65535)
                        self.handle(data, "udp", peer, lambda m, p=peer: self.udp.sendto(m, p))
                    elif s is self.tcp:
                        c, _ = self.tcp.accept()
                        c.settimeout(2)
                        conns.append(c)
                    else:
                        head = s.recv(2)
                        if len(head) < 2:
                            conns.remove(s)
                            s.close()
                            continue
                        (n,) = struct.unpack("!H", head)
                        data = b""
                        while len(data) < n:
                            chunk = s.recv(n - len(data))
                            if not chunk:
                                break
                            data += chunk
                        self.handle(data, "tcp", s.getpeername(),
                                    lambda m, c=s: c.sendall(struct.pack("!H", len(m)) + m))
                except (OSError, ValueError, struct.error):
                    if s in conns:
                        conns.remove(s)
                        s.close()
        for c in conns:
            c.close()

    def handle(self, data: bytes, transport: str, peer, send: Callable[[bytes], None]):
        q = parse_message(data)
        name, qtype, _ = q.question[0]
        with self.lock:
            self.seen.append(Seen(transport, name.lower(), qtype, q.id, peer, q.options))
        if self.silent:
            return
        first = name.lower().split(".")[0]
        question = data[12:12 + len(encode_name(name)) + 4]

        def reply(rcode=NOERROR, an=(), ns=(), flags=0, qid=q.id, question=question) -> bytes:
            out = struct.pack("!6H", qid, 0x8000 | 0x0400 | 0x0080 | (q.flags & 0x0100) | flags | rcode,
                              1, len(an), len(ns), 1 if q.opt() else 0) + question
            out += b"".join(an) + b"".join(ns)
            if q.opt():  # an OPT of our own, as a real server sends: horizond must drop it
                nsid = b"upstream-" + self.label.encode()
                out += b"\0" + struct.pack("!HHIH", OPT, 1232, 0, 4 + len(nsid)) + \
                    struct.pack("!HH", 3, len(nsid)) + nsid
            return out

        here = b"\xc0\x0c"
        if first == "slow":
            threading.Timer(0.25, send, [reply(an=[rr(here, A, UPSTREAM_TTL, bytes([192, 0, 2, 60]))])]).start()
        elif first == "nx":
            send(reply(NXDOMAIN, ns=[rr(encode_name("test"), SOA, 300, soa_rdata(300))]))
        elif first == "nxshort":
            send(reply(NXDOMAIN, ns=[rr(encode_name("test"), SOA, 300, soa_rdata(5))]))
        elif first == "nodata":
            send(reply(ns=[rr(encode_name("test"), SOA, 300, soa_rdata(15))]))
        elif first == "longttl":
            send(reply(an=[rr(here, A, 1_000_000, bytes([192, 0, 2, 91]))]))
        elif first == "shortttl":
            send(reply(an=[rr(here, A, 1, bytes([192, 0, 2, 92]))]))
        elif first in ("leak", "nlb"):
            # A CNAME to OUR endpoint name plus the upstream's own A record for it (the private
            # IP it may have learnt, or some NLB IP), and an NS in authority for it: none of the
            # upstream's data for our name may reach a client (the leak of docs/horizond.md "Forwarding").
            target = len(question) + 12 + 12  # the CNAME's RDATA: the endpoint name, compressed below
            ip = bytes([192, 168, 1, 10]) if first == "leak" else bytes([198, 51, 100, 99])
            ptr = struct.pack("!H", 0xC000 | target)
            send(reply(an=[rr(here, 5, UPSTREAM_TTL, encode_name(ENDPOINT)), rr(ptr, A, UPSTREAM_TTL, ip)],
                       ns=[rr(ptr, NS, UPSTREAM_TTL, encode_name("ns.evil.test"))]))
        elif first == "chain":  # chain.x -> mid-chain.x -> our endpoint (+ the upstream's A for it)
            mid = encode_name("mid-" + name.lower())
            send(reply(an=[rr(here, 5, UPSTREAM_TTL, mid), rr(mid, 5, UPSTREAM_TTL, encode_name(ENDPOINT)),
                           rr(encode_name(ENDPOINT), A, UPSTREAM_TTL, bytes([192, 168, 1, 10]))]))
        elif first == "servfail":
            send(reply(SERVFAIL))
        elif first == "huge":  # over the UDP listener's 4096-byte buffer once cached
            if transport == "udp":
                send(reply(flags=0x0200))
            else:
                send(reply(an=[rr(here, TXT, UPSTREAM_TTL, bytes([200]) + bytes([65 + i % 26]) * 200)
                               for i in range(25)]))
        elif first == "tccut":  # TC over UDP, cut mid-record: it must still go to TCP
            if transport == "udp":
                cut = reply(an=[rr(here, A, UPSTREAM_TTL, bytes([10, 8, 0, i])) for i in range(1, 4)],
                            flags=0x0200)
                send(cut[:12 + len(question) + 20])  # ANCOUNT 3, one record and a half
            else:
                send(reply(an=[rr(here, A, UPSTREAM_TTL, bytes([10, 8, 0, i])) for i in range(1, 4)]))
        elif first == "big":
            if transport == "udp":
                send(reply(flags=0x0200))  # TC: the question only
            else:
                send(reply(an=[rr(here, A, UPSTREAM_TTL, bytes([10, 9, 0, i])) for i in range(1, 41)]))
        elif first == "spoof" and transport == "udp":
            good = reply(an=[rr(here, A, UPSTREAM_TTL, bytes([192, 0, 2, 77]))])
            # RFC 5452: from another port; with a wrong ID; for another question. All ignored.
            self.spoofer.sendto(reply(an=[rr(here, A, UPSTREAM_TTL, bytes([198, 51, 100, 66]))]), peer)
            send(reply(an=[rr(here, A, UPSTREAM_TTL, bytes([198, 51, 100, 67]))], qid=q.id ^ 0x5A5A))
            other = encode_name("other.test") + question[-4:]
            send(reply(an=[rr(here, A, UPSTREAM_TTL, bytes([198, 51, 100, 68]))], question=other))
            threading.Timer(0.2, send, [good]).start()
        else:
            last = sum(name.lower().encode()) % 200 + 1
            send(reply(an=[rr(here, A, UPSTREAM_TTL, bytes([192, 0, 2, last]))]))


def expected_address(name: str) -> str:
    return f"192.0.2.{sum(name.lower().rstrip('.').encode() + b'.') % 200 + 1}"


# ------------------------------------------------------------------------------------------------
# Processes and clients


class Env:
    horizond = ""
    tmp = Path()
    log = Path()
    port = 0
    proc: subprocess.Popen | None = None
    up_port = 0
    up_proc: subprocess.Popen | None = None
    main: Upstream | None = None     # default upstream
    silent: Upstream | None = None   # never answers
    backup: Upstream | None = None   # second upstream of the timeout zone
    v6: Upstream | None = None       # on ::1
    sticky: socket.socket | None = None  # one client socket, so always the same worker's cache
    closed_ports: list[int] = []


ENV = Env()


def exchange(msg: bytes, *, src: str = ALLOWED, tcp: bool = False, timeout: float = 3.0,
             sock: socket.socket | None = None) -> Message:
    server = "::1" if ":" in src else "127.0.0.1"
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    if tcp:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.bind((src, 0))
            s.connect((server, ENV.port))
            s.sendall(frame(msg))
            return parse_message(recv_frame(s))
    own = sock is None
    s = sock or socket.socket(family, socket.SOCK_DGRAM)
    try:
        if own:
            s.bind((src, 0))
        s.sendto(msg, (server, ENV.port))
        m = udp_answer(s, struct.unpack("!H", msg[:2])[0], timeout)
        if m is None:
            raise CheckFailed(f"no answer within {timeout}s")
        return m
    finally:
        if own:
            s.close()


def ask(name: str, qtype: int = A, **kw) -> Message:
    opts = {k: kw.pop(k) for k in ("rd", "edns", "do", "udp") if k in kw}
    return exchange(make_query(random.randrange(65536), name, qtype, **opts), **kw)


def expect(m: Message, rcode: int, what: str, *, ra: bool = True):
    if m.rcode != rcode:
        raise CheckFailed(f"{what}: rcode {m.rcode}, expected {rcode}")
    if not m.has("qr"):
        raise CheckFailed(f"{what}: QR not set")
    if m.has("ra") != ra:
        raise CheckFailed(f"{what}: RA is {m.has('ra')}, expected {ra}")


def dig(name: str, *args: str, src: str = ALLOWED, tool: str = "dig") -> str:
    """`tool`'s whole output; `args` are +options and at most one type."""
    qtype = next((a for a in args if not a.startswith("+")), "A")
    cmd = dig_command(tool, "::1" if ":" in src else "127.0.0.1", ENV.port, name, qtype, src=src,
                      opts=[a for a in args if a.startswith("+")], wait=3)
    return dig_output(cmd, timeout=SUBPROCESS_TIMEOUT)


def config_text() -> str:
    closed = [f"127.0.0.1:{p}" for p in ENV.closed_ports]
    return f"""# written by tests/system/test_forwarding.py
[server]
listen = ["127.0.0.1:{ENV.port}", "[::1]:{ENV.port}"]
workers = 2
query_log = true
tcp_idle_timeout = "300ms"
admin_listen = ""
state_dir = "{ENV.tmp}"
trusted_ecs_sources = ["127.0.0.1/32"]

[[cluster]]
name = "aews"
region = "ap-northeast-2"
endpoint = "{ENDPOINT.rstrip('.')}"
vpc_cidrs = ["127.10.0.0/16"]
private_ips = ["192.168.1.10"]
public_ips = ["203.0.113.10"]

[resolver]
upstreams = ["{ENV.main.address}"]
allow_recursion = ["127.0.0.1/32", "127.10.0.0/16", "::1/128"]
timeout = "{TIMEOUT_MS}ms"
negative_ttl = {NEGATIVE_TTL}
min_ttl = {MIN_TTL}
max_ttl = {MAX_TTL}

[[resolver.forward]]
zone = "timeout.test"
upstreams = ["{ENV.silent.address}", "{ENV.backup.address}"]

[[resolver.forward]]
zone = "inner.timeout.test"
upstreams = ["{ENV.backup.address}"]

[[resolver.forward]]
zone = "allfail.test"
upstreams = ["{ENV.silent.address}", "{closed[0]}"]

[[resolver.forward]]
zone = "neterr.test"
upstreams = {str(closed).replace("'", '"')}

[[resolver.forward]]
zone = "v6.test"
upstreams = ["{ENV.v6.address}"]

[[resolver.forward]]
zone = "yl4.us-east-1.eks.amazonaws.com"
upstreams = ["127.0.0.1:{ENV.up_port}"]
"""


def upstream_config_text() -> str:
    return f"""# the second horizond: the upstream of a forward zone
[server]
listen = ["127.0.0.1:{ENV.up_port}"]
workers = 1
admin_listen = ""
state_dir = "{ENV.tmp / 'up-state'}"

[[cluster]]
name = "upstream"
region = "us-east-1"
endpoint = "{UP_ENDPOINT.rstrip('.')}"
vpc_cidrs = ["10.0.0.0/16"]
private_ips = ["10.0.1.10"]
public_ips = ["198.51.100.10", "198.51.100.20"]
"""


# ------------------------------------------------------------------------------------------------
# The checks

check = Checks()


def answering(port: int, name: str) -> Callable[[], bool]:
    return lambda: dns_answers(port, name)


@check("server.start", server=False)
def _():
    ENV.main = Upstream("main")
    ENV.silent = Upstream("silent", silent=True)
    ENV.backup = Upstream("backup")
    ENV.v6 = Upstream("v6", host="::1")
    # Ports nobody listens on: a UDP query there gets an ICMP port unreachable at once.
    ENV.closed_ports = [free_port(), free_port()]
    ENV.up_port = free_port()
    (ENV.tmp / "up-state").mkdir()
    up_cfg = ENV.tmp / "upstream.toml"
    up_cfg.write_text(upstream_config_text())
    up_log = ENV.tmp / "log" / "upstream-horizond.log"
    ENV.up_proc = start_process([ENV.horizond, "--config", str(up_cfg)], up_log,
                                ready=answering(ENV.up_port, UP_ENDPOINT))
    ENV.port = free_port("127.0.0.1", "::1")
    cfg = ENV.tmp / "horizond.toml"
    cfg.write_text(config_text())
    ENV.proc = start_process([ENV.horizond, "--config", str(cfg)], ENV.log,
                             ready=answering(ENV.port, ENDPOINT))
    return f"upstreams main={ENV.main.port} silent={ENV.silent.port} backup={ENV.backup.port}"


@check("forward.udp-and-tcp")
def _():
    for tcp in (False, True):
        name = f"www{int(tcp)}.example.test"
        m = ask(name, tcp=tcp)
        expect(m, NOERROR, name)
        if m.addresses() != [expected_address(name)]:
            raise CheckFailed(f"{name}: {m.addresses()}, expected {expected_address(name)}")
        if m.has("aa"):
            raise CheckFailed("AA set on a forwarded answer")
        if m.section("an")[0].ttl != UPSTREAM_TTL:
            raise CheckFailed(f"TTL {m.section('an')[0].ttl}, expected {UPSTREAM_TTL}")
        opt = m.opt()
        if opt is None or opt.cls != 1232 or any(code == 3 for code, _ in m.options):
            raise CheckFailed(f"expected our OPT (1232, no upstream NSID), got {opt} {m.options}")
    if not ENV.main.queries("www0.example.test", "udp"):
        raise CheckFailed("the upstream saw no UDP query")


@check("forward.dig-kdig-ipv6")
def _():
    for tool, src in (("dig", ALLOWED), ("kdig", ALLOWED), ("dig", "::1"), ("dig", ALLOWED_VPC)):
        name = f"{tool}.{src.replace(':', 'x').replace('.', '-')}.example.test"
        out = dig(name, "+notcp", src=src, tool=tool)
        if "NOERROR" not in out or expected_address(name) not in out:
            raise CheckFailed(f"expected NOERROR with {expected_address(name)}\n{out}")
        flags = re.search(r"[Ff]lags: ([a-z ]*)", out)
        if not flags or "ra" not in flags.group(1).split():
            raise CheckFailed(f"RA not set\n{out}")


@check("forward.case-and-id-echoed")
def _():
    name = "MiXeD.CaSe.example.TEST"
    m = exchange(make_query(0xBEEF, name))
    expect(m, NOERROR, name)
    if m.id != 0xBEEF or m.question[0][0] != name + ".":
        raise CheckFailed(f"id {m.id:#x} question {m.question}, expected 0xbeef and {name}.")
    if m.section("an")[0].name != name + ".":
        raise CheckFailed(f"answer owner {m.section('an')[0].name}, expected the question's case")


@check("forward.rd-cd-do")
def _():
    # RFC 1034 §4.3.1: RD=0 is answered from the cache only; not cached, REFUSED, no upstream query.
    s = sticky()  # one worker's cache
    m = exchange(make_query(0x5001, "nord.example.test", rd=False, do=True), sock=s)
    expect(m, REFUSED, "RD=0, not cached")
    if ENV.main.queries("nord.example.test"):
        raise CheckFailed("an RD=0 query was sent upstream")
    out = dig("nord2.example.test", "+norecurse")
    if "status: REFUSED" not in out or ENV.main.queries("nord2.example.test"):
        raise CheckFailed(f"dig +norecurse of an uncached name: expected REFUSED, no upstream query\n{out}")
    expect(exchange(make_query(0x5002, "nord.example.test", do=True), sock=s), NOERROR, "RD=1")
    m = exchange(make_query(0x5003, "nord.example.test", rd=False, do=True), sock=s)
    expect(m, NOERROR, "RD=0, cached")
    if m.addresses() != [expected_address("nord.example.test")]:
        raise CheckFailed(f"RD=0 from the cache: {m.addresses()}")
    if m.has("rd") or not m.opt() or not (m.opt().ttl & 0x8000):
        raise CheckFailed("RD should be copied (0) and DO echoed (1)")
    if len(ENV.main.queries("nord.example.test")) != 1:
        raise CheckFailed("expected exactly one upstream query (for the RD=1 one)")


@check("endpoint.ra-for-allowed-clients")
def _():
    m = ask(ENDPOINT, src=ALLOWED_VPC)
    expect(m, NOERROR, "endpoint from the VPC", ra=True)
    if m.addresses() != ["192.168.1.10"] or not m.has("aa"):
        raise CheckFailed(f"expected the private answer with AA, got {m.addresses()}")


@check("refused.outside-allow-recursion")
def _():
    m = ask("stranger.example.test", src=STRANGER)
    expect(m, REFUSED, "recursion from outside allow_recursion", ra=False)
    if ENV.main.queries("stranger.example.test"):
        raise CheckFailed("the query was forwarded although the source may not recurse")
    m = ask(ENDPOINT, src=STRANGER)
    expect(m, NOERROR, "the endpoint for a stranger", ra=False)
    if m.addresses() != ["203.0.113.10"]:
        raise CheckFailed(f"endpoint for a stranger: {m.addresses()}, expected the public IP")
    out = dig("stranger2.example.test", src=STRANGER)
    if "REFUSED" not in out:
        raise CheckFailed(out)


@check("conditional.longest-suffix-and-second-horizond")
def _():
    # A forward zone whose upstream is a second horizond: it answers its endpoint for our
    # source (127.0.0.1: outside its VPC), authoritatively; we pass it on without AA.
    m = ask(UP_ENDPOINT)
    expect(m, NOERROR, "the second horizond's endpoint")
    if m.addresses() != ["198.51.100.10", "198.51.100.20"] or m.has("aa"):
        raise CheckFailed(f"got {m.addresses()} aa={m.has('aa')}")
    if ENV.main.queries(UP_ENDPOINT):
        raise CheckFailed("the default upstream got a query of a forward zone")
    # inner.timeout.test goes to backup alone; timeout.test to silent first.
    m = ask("x.inner.timeout.test")
    expect(m, NOERROR, "inner zone")
    if ENV.silent.queries("x.inner.timeout.test") or not ENV.backup.queries("x.inner.timeout.test"):
        raise CheckFailed("the longest zone did not win")


@check("conditional.ipv6-upstream")
def _():
    for tcp in (False, True):
        name = f"host{int(tcp)}.v6.test"
        m = ask(name, tcp=tcp, src="::1")
        expect(m, NOERROR, name)
        if m.addresses() != [expected_address(name)] or not ENV.v6.queries(name):
            raise CheckFailed(f"{name}: {m.addresses()}; the ::1 upstream saw {ENV.v6.queries(name)}")


@check("timeout.next-upstream")
def _():
    t0 = time.monotonic()
    m = ask("a.timeout.test", timeout=5)
    took = time.monotonic() - t0
    expect(m, NOERROR, "after a timeout")
    if m.addresses() != [expected_address("a.timeout.test")]:
        raise CheckFailed(f"got {m.addresses()}")
    if not ENV.silent.queries("a.timeout.test") or not ENV.backup.queries("a.timeout.test"):
        raise CheckFailed("expected a query to the silent upstream, then to the backup")
    if took < TIMEOUT_MS / 1000 * 0.9:
        raise CheckFailed(f"answered after {took:.2f}s, before the {TIMEOUT_MS} ms timeout")
    return f"{took:.2f}s"


@check("allfail.servfail-ede-22")
def _():
    m = ask("a.allfail.test", timeout=5)
    expect(m, SERVFAIL, "all upstreams failed")
    ede = m.ede()
    if ede is None or ede[0] != 22:
        raise CheckFailed(f"expected EDE 22 (No Reachable Authority), got {ede}")
    if ENV.silent.address not in ede[1] or "timed out" not in ede[1]:
        raise CheckFailed(f"EDE text should say which upstream timed out: {ede[1]!r}")
    out = dig("b.allfail.test")
    if "SERVFAIL" not in out or "EDE: 22" not in out:
        raise CheckFailed(out)
    # Without EDNS: SERVFAIL, no OPT.
    m = ask("c.allfail.test", edns=False, timeout=5)
    expect(m, SERVFAIL, "without EDNS")
    if m.opt() is not None:
        raise CheckFailed("OPT in an answer to a query without EDNS")


@check("allfail.servfail-ede-23-network")
def _():
    t0 = time.monotonic()
    m = ask("a.neterr.test", timeout=5)
    took = time.monotonic() - t0
    expect(m, SERVFAIL, "no upstream listening")
    ede = m.ede()
    if ede is None or ede[0] != 23:
        raise CheckFailed(f"expected EDE 23 (Network Error), got {ede}")
    return f"{took:.2f}s: {ede[1]}"


@check("upstream-servfail.ede")
def _():
    m = ask("servfail.example.test")
    expect(m, SERVFAIL, "the upstream's SERVFAIL")
    if not m.ede() or "SERVFAIL" not in m.ede()[1]:
        raise CheckFailed(f"EDE should say the upstream answered SERVFAIL: {m.ede()}")


@check("tc.retry-over-tcp")
def _():
    m = ask("big.example.test", timeout=5)
    expect(m, NOERROR, "big answer")
    if len(m.addresses()) != 40:
        raise CheckFailed(f"{len(m.addresses())} addresses, expected 40")
    if not ENV.main.queries("big.example.test", "udp") or not ENV.main.queries("big.example.test", "tcp"):
        raise CheckFailed("expected a UDP query with TC, then a TCP one")
    # Without EDNS the 40 records exceed 512 bytes: TC to the client, which retries over TCP.
    m = ask("big.example.test", edns=False)
    if not m.has("tc") or m.section("an"):
        raise CheckFailed("expected TC=1 and no records for a 512-byte client")
    m = ask("big.example.test", edns=False, tcp=True)
    if len(m.addresses()) != 40:
        raise CheckFailed("TCP retry of the client did not get the 40 records")


@check("tc.cut-mid-record-retried-over-tcp")
def _():
    m = ask("tccut.example.test", timeout=5)
    expect(m, NOERROR, "a truncated upstream answer cut mid-record")
    if m.addresses() != ["10.8.0.1", "10.8.0.2", "10.8.0.3"]:
        raise CheckFailed(f"got {m.addresses()}, expected the three addresses from TCP")
    if not ENV.main.queries("tccut.example.test", "tcp"):
        raise CheckFailed("no TCP retry after the truncated UDP answer")


@check("tc.cached-answer-over-udp-buffer")
def _():
    # A cached 5 KB answer is bigger than the UDP listener's buffer: every later UDP hit must
    # still be answered, with TC (RFC 1035 §4.2.1), not dropped.
    s = sticky()  # one worker: the one whose cache gets the answer
    for i in range(2):
        m = exchange(make_query(0x4000 + i, "huge.example.test", TXT), sock=s, timeout=5)
        expect(m, NOERROR, f"UDP query {i + 1}")
        if not m.has("tc"):
            raise CheckFailed(f"UDP query {i + 1}: expected TC=1 for a 5 KB answer")
    m = ask("huge.example.test", TXT, tcp=True)
    if len(m.section("an")) != 25:
        raise CheckFailed(f"TCP: {len(m.section('an'))} TXT records, expected 25")
    out = dig("huge.example.test", "TXT", "+ignore", "+notcp")
    if "status: NOERROR" not in out or " tc" not in out:
        raise CheckFailed(f"dig over UDP: expected NOERROR with tc\n{out}")
    if len(ENV.main.queries("huge.example.test", "tcp")) > 3:
        raise CheckFailed("the answer should have been cached (one TCP retry upstream per worker)")


@check("spoofing.ignored")
def _():
    m = ask("spoof.example.test", timeout=5)
    expect(m, NOERROR, "spoofed answers around a genuine one")
    if m.addresses() != ["192.0.2.77"]:
        raise CheckFailed(f"got {m.addresses()}, expected only the genuine 192.0.2.77")


@check("coalescing.one-upstream-query")
def _():
    # One socket (one worker) sends the same question five times while the upstream is slow.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ALLOWED, 0))
        ids = random.sample(range(65536), 5)
        for i, qid in enumerate(ids):
            name = "slow.example.test" if i % 2 else "SLOW.example.test"  # case does not matter
            s.sendto(make_query(qid, name), ("127.0.0.1", ENV.port))
        got = {}
        deadline = time.monotonic() + 4
        while len(got) < 5 and time.monotonic() < deadline:
            if select.select([s], [], [], 0.2)[0]:
                m = parse_message(s.recv(65535))
                got[m.id] = m
    if sorted(got) != sorted(ids):
        raise CheckFailed(f"answers for {sorted(got)}, expected {sorted(ids)}")
    for m in got.values():
        expect(m, NOERROR, "coalesced")
        if m.addresses() != ["192.0.2.60"]:
            raise CheckFailed(f"coalesced answer {m.addresses()}")
    n = len(ENV.main.queries("slow.example.test"))
    if n != 1:
        raise CheckFailed(f"the upstream got {n} queries, expected 1")


def sticky() -> socket.socket:
    if ENV.sticky is None:
        ENV.sticky = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ENV.sticky.bind((ALLOWED, 0))
    return ENV.sticky


@check("cache.hit-and-ttl-decay")
def _():
    s = sticky()  # one socket: one worker's cache (SO_REUSEPORT hashes the 4-tuple)
    first = exchange(make_query(1, "decay.example.test"), sock=s)
    expect(first, NOERROR, "first")
    time.sleep(1.2)
    second = exchange(make_query(2, "DECAY.example.test"), sock=s)
    expect(second, NOERROR, "from the cache")
    n = len(ENV.main.queries("decay.example.test"))
    if n != 1:
        raise CheckFailed(f"the upstream got {n} queries, expected 1 (a cache hit)")
    t1, t2 = first.section("an")[0].ttl, second.section("an")[0].ttl
    if t1 != UPSTREAM_TTL or not UPSTREAM_TTL - 3 <= t2 < UPSTREAM_TTL:
        raise CheckFailed(f"TTLs {t1} then {t2}: expected {UPSTREAM_TTL} then a little less")
    if second.question[0][0] != "DECAY.example.test." or second.addresses() != first.addresses():
        raise CheckFailed("the cached answer differs from the fresh one beyond the TTL")
    return f"TTL {t1} -> {t2}"


@check("cache.negative")
def _():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ALLOWED, 0))
        first = exchange(make_query(1, "nx.example.test"), sock=s)
        second = exchange(make_query(2, "nx.example.test"), sock=s)
        nodata1 = exchange(make_query(3, "nodata.example.test", TXT), sock=s)
        nodata2 = exchange(make_query(4, "nodata.example.test", TXT), sock=s)
    for m, what in ((first, "NXDOMAIN"), (second, "cached NXDOMAIN")):
        expect(m, NXDOMAIN, what)
        soa = [r for r in m.section("ns") if r.type == SOA]
        if len(soa) != 1 or soa[0].ttl > NEGATIVE_TTL:
            raise CheckFailed(f"{what}: SOA {soa}, TTL should be capped at {NEGATIVE_TTL}")
    for m, what in ((nodata1, "NODATA"), (nodata2, "cached NODATA")):
        expect(m, NOERROR, what)
        soa = [r for r in m.section("ns") if r.type == SOA]
        if m.section("an") or len(soa) != 1 or soa[0].ttl > 15:
            raise CheckFailed(f"{what}: expected no answer and the SOA with TTL <= MINIMUM 15")
    for name, n in (("nx.example.test", len(ENV.main.queries("nx.example.test"))),
                    ("nodata.example.test", len(ENV.main.queries("nodata.example.test")))):
        if n != 1:
            raise CheckFailed(f"{name}: the upstream got {n} queries, expected 1")


@check("cache.negative-expires")
def _():
    # MINIMUM 5 < negative_ttl: cached for 5 s only (RFC 2308 §5).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ALLOWED, 0))
        m = exchange(make_query(1, "nxshort.example.test"), sock=s)
        expect(m, NXDOMAIN, "short negative TTL")
        if [r.ttl for r in m.section("ns")] != [5]:
            raise CheckFailed(f"SOA TTL {[r.ttl for r in m.section('ns')]}, expected 5")
        exchange(make_query(2, "nxshort.example.test"), sock=s)
        if len(ENV.main.queries("nxshort.example.test")) != 1:
            raise CheckFailed("second query was not a cache hit")
        time.sleep(5.2)
        exchange(make_query(3, "nxshort.example.test"), sock=s)
        if len(ENV.main.queries("nxshort.example.test")) != 2:
            raise CheckFailed("the negative entry outlived its TTL")


@check("forward.random-ids-and-source-ports")
def _():
    # RFC 5452 §4, §9.2: every upstream query has an unpredictable ID and source port; the
    # client's ID never travels.
    names = [f"r{i}.random.example.test" for i in range(12)]
    for name in names:
        expect(exchange(make_query(0x1234, name)), NOERROR, name)
    seen = [q for name in names for q in ENV.main.queries(name, "udp")]
    if len(seen) != len(names):
        raise CheckFailed(f"{len(seen)} upstream queries for {len(names)} names")
    ids = {q.qid for q in seen}
    ports = {q.source[1] for q in seen}
    # 12 draws from 2^16 IDs (and ~28000 ephemeral ports) repeat with probability < 0.3 %.
    if 0x1234 in ids or len(ids) < len(names) - 1 or len(ports) < len(names) - 1:
        raise CheckFailed(f"IDs {sorted(ids)} and ports {sorted(ports)} should be distinct and "
                          "not the client's 0x1234")
    return f"{len(ids)} IDs, {len(ports)} ports"


@check("forward.client-ecs-and-cookie-not-sent-upstream")
def _():
    # RFC 7871 §7.5 / issue 4: the client's subnet does not leak upstream, not even from a
    # trusted ECS source (127.0.0.1 is one here); nor its cookie or any other option.
    for tcp in (False, True):
        name = f"ecs{int(tcp)}.example.test"
        m = exchange(make_query(7, name, options=ecs_option("192.168.3.0", 24) + cookie_option()),
                     tcp=tcp)
        expect(m, NOERROR, name)
        seen = ENV.main.queries(name)
        if not seen:
            raise CheckFailed(f"{name}: no upstream query")
        if any(q.options for q in seen):
            raise CheckFailed(f"{name}: the upstream saw options {seen[0].options}")
        if any(code in (ECS, COOKIE) for code, _ in m.options):
            raise CheckFailed(f"{name}: the answer echoes {m.options}")


@check("cache.max-and-min-ttl")
def _():
    s = sticky()
    long1 = exchange(make_query(1, "longttl.example.test"), sock=s)
    short1 = exchange(make_query(2, "shortttl.example.test"), sock=s)
    time.sleep(1.1)  # past the upstream's TTL of 1: min_ttl keeps it cached
    short2 = exchange(make_query(3, "shortttl.example.test"), sock=s)
    got = [m.section("an")[0].ttl for m in (long1, short1, short2)]
    if got[0] != MAX_TTL or got[1] != MIN_TTL or not MIN_TTL - 2 <= got[2] < MIN_TTL:
        raise CheckFailed(f"TTLs {got}: expected {MAX_TTL} (capped), {MIN_TTL} (raised), then a "
                          f"little less from the cache")
    if len(ENV.main.queries("shortttl.example.test")) != 1:
        raise CheckFailed("the TTL-1 answer raised to min_ttl should have been served from cache")
    return f"TTLs {got}"


def without_ttls(m: Message) -> tuple:
    return (m.flags, m.rcode, m.question, m.options,
            [(r.section, r.name, r.type, r.cls, r.rdata) for r in m.records])


@check("cache.identical-but-ttl")
def _():
    # Served from the cache, an answer differs from the fresh one in its TTLs only (and in the
    # ID and question case, which are the client's): byte for byte with those put back.
    s = sticky()
    for name, qtype in (("same.example.test", A), ("nx.same.test", A),
                        ("nodata.same.test", AAAA)):
        fresh = exchange(make_query(0x4242, name, qtype), sock=s)
        cached = exchange(make_query(0x4242, name, qtype), sock=s)
        upstream = ENV.main.queries(name)
        if len(upstream) != 1:
            raise CheckFailed(f"{name}: {len(upstream)} upstream queries, expected 1")
        if without_ttls(fresh) != without_ttls(cached):
            raise CheckFailed(f"{name}: fresh {without_ttls(fresh)}\ncached {without_ttls(cached)}")
        if len(fresh.raw) != len(cached.raw):
            raise CheckFailed(f"{name}: {len(fresh.raw)} bytes fresh, {len(cached.raw)} cached")


CNAME = 5


def expect_ours(m: Message, name: str, want: list[str], what: str):
    """A forwarded chain name -> ... -> ENDPOINT completed with OUR answer `want` for the
    endpoint: the upstream's CNAMEs, then our A records owned by the endpoint name, nothing of
    the upstream's about our name in any section; RA set, AA clear."""
    expect(m, NOERROR, what)
    if m.addresses() != want:
        raise CheckFailed(f"{what}: addresses {m.addresses()}, expected {want}\n{m.records}")
    owners = {r.name.lower() for r in m.section("an") if r.type == A}
    if owners != {ENDPOINT.lower()}:
        raise CheckFailed(f"{what}: A records owned by {owners}, expected the endpoint name")
    cnames = [r for r in m.section("an") if r.type == CNAME]
    if not cnames or cnames[0].name.lower() != name.lower() + "." or cnames[0].ttl > UPSTREAM_TTL:
        raise CheckFailed(f"{what}: the upstream's CNAME from {name} is missing: {m.records}")
    if m.has("aa") or m.section("ns") or [r for r in m.section("ar") if r.type != OPT]:
        raise CheckFailed(f"{what}: AA set or upstream authority/additional kept: {m.records}")
    if any(b"\xc0\xa8\x01\x0a" == r.rdata and r.name.lower() != ENDPOINT.lower()
           for r in m.records):
        raise CheckFailed(f"{what}: a private IP under another owner: {m.records}")


def fresh_names(prefix: str) -> str:
    return f"{prefix}.{random.randrange(1 << 30)}.leak.test"


@check("leak.outside-source-gets-public-ips")
def _():
    # The reviewer's reproduction: the upstream answers alias -> our endpoint + A 192.168.1.10.
    for tcp in (False, True):
        name = fresh_names("leak")
        m = ask(name, tcp=tcp)
        expect_ours(m, name, ["203.0.113.10"], f"outside, {'tcp' if tcp else 'udp'}")
        again = ask(name, tcp=tcp)  # from the cache (or the other worker's upstream query)
        expect_ours(again, name, ["203.0.113.10"], f"outside again, {'tcp' if tcp else 'udp'}")
    name = fresh_names("leak")
    out = dig(name, "+short")
    if "192.168.1.10" in out or "203.0.113.10" not in out:
        raise CheckFailed(f"dig +short from outside the VPC:\n{out}")
    out = dig(name, "+short", "+tcp", tool="kdig")
    if "192.168.1.10" in out or "203.0.113.10" not in out:
        raise CheckFailed(f"kdig +tcp +short from outside the VPC:\n{out}")


@check("leak.inside-source-gets-private-ips")
def _():
    # The reverse: the upstream's (NLB) address for our endpoint never reaches an inside client.
    for tcp in (False, True):
        name = fresh_names("nlb")
        m = ask(name, tcp=tcp, src=ALLOWED_VPC)
        expect_ours(m, name, ["192.168.1.10"], f"inside, {'tcp' if tcp else 'udp'}")
    name = fresh_names("chain")
    m = ask(name, src=ALLOWED_VPC)
    expect_ours(m, name, ["192.168.1.10"], "inside, a two-CNAME chain")
    if [r.name.lower() for r in m.section("an") if r.type == CNAME] != \
            [name.lower() + ".", "mid-" + name.lower() + "."]:
        raise CheckFailed(f"the upstream's chain is not kept in order: {m.records}")


@check("leak.cache-filled-from-inside-serves-outside-public")
def _():
    # An inside client fills the cache; every later client gets its own view's answer from it.
    for name in (fresh_names("leak"), fresh_names("nlb"), fresh_names("chain")):
        for tcp in (False, True):
            expect_ours(ask(name, tcp=tcp, src=ALLOWED_VPC), name, ["192.168.1.10"], "inside first")
        answers = [ask(name, tcp=tcp) for tcp in (False, True) for _ in range(4)]
        for m in answers:
            expect_ours(m, name, ["203.0.113.10"], f"outside after inside ({name})")
        for m in (ask(name, src=ALLOWED_VPC), ask(name, src=ALLOWED_VPC, tcp=True)):
            expect_ours(m, name, ["192.168.1.10"], "inside after outside")
        # Two workers: at most two upstream queries, so most of these came from the cache.
        if len(ENV.main.queries(name)) > 2:
            raise CheckFailed(f"{name}: {len(ENV.main.queries(name))} upstream queries: not cached")
        # A trusted ECS source (127.0.0.1) asking for an inside subnet gets the inside answer,
        # with the endpoint's SCOPE (RFC 7871 §7.2.1), from the same cached upstream chain.
        m = exchange(make_query(7, name, options=ecs_option("127.10.0.0", 24)))
        expect_ours(m, name, ["192.168.1.10"], "trusted ECS inside the VPC")
        ecs = next((v for c, v in m.options if c == ECS), None)
        if ecs is None or ecs[3] != 16:
            raise CheckFailed(f"ECS scope: {ecs!r}, expected the VPC's /16")


def tcp_connect() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.bind((ALLOWED, 0))
    s.connect(("127.0.0.1", ENV.port))
    return s


def recv_message(s: socket.socket) -> Message:
    return parse_message(recv_frame(s))


@check("tcp.pipelined-out-of-order")
def _():
    # RFC 7766 §7: a forwarded answer may come after a later query's; the client matches by ID.
    with tcp_connect() as s:
        s.sendall(b"".join(struct.pack("!H", len(m)) + m for m in
                           (make_query(0x1111, "slow.pipelined.test"), make_query(0x2222, ENDPOINT))))
        first, second = recv_message(s), recv_message(s)
    if (first.id, second.id) != (0x2222, 0x1111):
        raise CheckFailed(f"answers {first.id:#x}, {second.id:#x}: expected the endpoint first")
    expect(second, NOERROR, "forwarded over a pipelined connection")


@check("tcp.idle-timeout-waits-for-forwarded")
def _():
    # tcp_idle_timeout is 300 ms; the answer takes one 400 ms upstream timeout.
    with tcp_connect() as s:
        t0 = time.monotonic()
        s.sendall(struct.pack("!H", len(q := make_query(7, "b.timeout.test"))) + q)
        m = recv_message(s)
    expect(m, NOERROR, "after the idle timeout would have struck")
    return f"{time.monotonic() - t0:.2f}s"


@check("tcp.client-gone-before-answer")
def _():
    with tcp_connect() as s:
        s.sendall(struct.pack("!H", len(q := make_query(8, "slow.gone.test"))) + q)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:  # the late answer hits no one
        u.bind((ALLOWED, 0))
        time.sleep(0.4)
        m = exchange(make_query(9, "after.gone.test"), sock=u)
    expect(m, NOERROR, "the server after a client left")


@check("tcp.half-close-still-answered")
def _():
    # RFC 7766 §6.2.4: a client may send its queries, then shutdown(SHUT_WR), and read the
    # answers; forwarded ones (250 ms late from the upstream) must not be lost.
    with tcp_connect() as s:
        s.sendall(b"".join(struct.pack("!H", len(m)) + m for m in
                           (make_query(0x3331, "slow.halfclose.test"), make_query(0x3332, ENDPOINT))))
        s.shutdown(socket.SHUT_WR)
        got = {m.id: m for m in (recv_message(s), recv_message(s))}
        if s.recv(1) != b"":
            raise CheckFailed("the connection should close once both answers are written")
    if set(got) != {0x3331, 0x3332}:
        raise CheckFailed(f"answers {sorted(got)}, expected 0x3331 and 0x3332")
    expect(got[0x3331], NOERROR, "the forwarded answer after a half-close")


@check("reload.new-upstreams")
def _():
    # SIGHUP with the backup as the default upstream: new questions go there, and the cache
    # (filled from the old upstream) is emptied.
    cfg = ENV.tmp / "horizond.toml"
    before = len(ENV.main.queries("decay.example.test"))
    cfg.write_text(config_text().replace(f'upstreams = ["{ENV.main.address}"]',
                                         f'upstreams = ["{ENV.backup.address}"]', 1))
    ENV.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "reloaded" not in ENV.log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.05)
    s = sticky()  # the worker whose cache holds decay.example.test
    m = exchange(make_query(3, "decay.example.test"), sock=s)
    expect(m, NOERROR, "a name cached before the reload")
    for i in range(2):
        m = exchange(make_query(i, "after-reload.example.test"), sock=s)
        expect(m, NOERROR, "after the reload")
    if ENV.main.queries("after-reload.example.test") or \
            len(ENV.backup.queries("after-reload.example.test")) != 1:
        raise CheckFailed("new questions should go to the new upstream (once: then cached)")
    if len(ENV.main.queries("decay.example.test")) != before or \
            not ENV.backup.queries("decay.example.test"):
        raise CheckFailed("the cache should have been emptied by the upstream change")


@check("query-log")
def _():
    text = ENV.log.read_text(errors="replace")
    want = f"-> NOERROR (forwarded to {ENV.main.address})"
    if want not in text or "-> NOERROR (cache)" not in text or "all upstreams failed" not in text:
        raise CheckFailed(f"query log lines missing ({want!r}, cache, all upstreams failed)")


@check("server.sigterm-exits-0")
def _():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, tcp_connect() as t:
        u.bind((ALLOWED, 0))
        u.sendto(make_query(1, "inflight.allfail.test"), ("127.0.0.1", ENV.port))
        t.sendall(struct.pack("!H", len(q := make_query(2, "inflight2.allfail.test"))) + q)
        deadline = time.monotonic() + 2
        while len(ENV.silent.queries("inflight2.allfail.test")) + \
                len(ENV.silent.queries("inflight.allfail.test")) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        ENV.proc.send_signal(signal.SIGTERM)
    expect_exit_0(ENV.proc)


# ------------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args(__doc__, "horizond", tools=("dig", "kdig"))
    ENV.horizond = args.horizond
    ENV.tmp, ENV.log = make_tmp("horizond-forwarding-", log_dir=True)

    def cleanup():
        stop_process(ENV.proc)
        stop_process(ENV.up_proc)
        if ENV.sticky is not None:
            ENV.sticky.close()
        for u in (ENV.main, ENV.silent, ENV.backup, ENV.v6):
            if u is not None:
                u.stop()
    return run_script(check, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: expect_running(ENV.proc), cleanup=cleanup,
                      log_excerpt=lambda: framed_log_tail(ENV.log, 60))


if __name__ == "__main__":
    sys.exit(main())
