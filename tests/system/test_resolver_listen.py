#!/usr/bin/env python3
"""System test of view selection by listener and by EDNS Client Subnet, with real clients.

Starts one horizond on a free port P with five listeners: a wildcard 0.0.0.0:P (classifies by
source), a resolver listener { address = "127.0.0.2:P", view = "vpc" } (in-VPC for every
cluster), { address = "127.0.0.3:P", view = "vpc:aews" } (in-VPC for aews only), a wildcard
[::]:P and a resolver listener on [::1]:P next to it;
127.0.0.53 is a trusted ECS source. Then checks with dig and kdig, over UDP and TCP:
- the wildcard and a specific address share the port: queries to 127.0.0.2/127.0.0.3 reach the
  resolver listeners (the kernel prefers the specific socket), any other 127.x reaches the
  wildcard, which answers from the address it was asked on;
- a resolver listener gives any source the VPC view, for every cluster or for one;
- ECS (RFC 7871): a trusted source with an in-VPC subnet gets the private IPs and SCOPE /16
  (§7.2.1: the /24 lies in 192.168.0.0/16, the shortest prefix whose answer is the same); an
  untrusted source sending the same option gets the public IPs and no ECS option back; a
  trusted source with an outside subnet gets the public IPs; a straddling /8 counts as outside
  with a full-length scope;
- a split zone (views vpc and public): a resolver listener, vpc:<cluster> too, serves the vpc face;
- CHAOS TXT explain names the resolver listener; the query log says in-vpc.

Traffic goes only to 127.0.0.0/8 and ::1. Python 3.11 and harness.py.

usage: test_resolver_listen.py --horizond PATH [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 only if nothing
failed.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import harness
from harness import (CheckFailed, Checks, expect_exit_0, expect_running, framed_log_tail, free_port,
                     make_tmp, parse_args, run_script, start_process, stop_process)

AEWS = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com"
OTHER = "0123456789ABCDEF0123456789ABCDEF.yl4.us-east-1.eks.amazonaws.com"
AEWS_PRIVATE, AEWS_PUBLIC = ["192.168.1.10", "192.168.2.10"], ["203.0.113.10"]
OTHER_PRIVATE, OTHER_PUBLIC = ["10.20.1.10"], ["198.51.100.10"]
VPC_LISTENER = "127.0.0.2"    # view = "vpc"
AEWS_LISTENER = "127.0.0.3"   # view = "vpc:aews"
TRUSTED = "127.0.0.53"        # trusted_ecs_sources
OUTSIDE = "127.0.0.1"         # in no vpc_cidrs, not trusted
INSIDE = "127.10.0.5"         # in aews's vpc_cidrs
SUBPROCESS_TIMEOUT = 10.0
TIME_BUDGET = 90.0


class Env:
    horizond = ""
    tmp = Path()
    log = Path()
    port = 0
    proc: subprocess.Popen | None = None


ENV = Env()
check = Checks()


@dataclass
class Dig:
    cmd: list[str]
    out: str
    status: str
    addresses: list[str]
    ecs: tuple[str, int, int] | None  # (address, source, scope) of the answer's ECS option
    aa: bool

    def __str__(self) -> str:
        return f"$ {shlex.join(self.cmd)}\n{self.out}"


def dig(name: str, server: str, src: str, *, tcp: bool = False, subnet: str | None = None,
        tool: str = "dig", qtype: str = "A", qclass: str = "IN") -> Dig:
    r = harness.dig(tool, server, ENV.port, name, qtype, src=src, tcp=tcp, qclass=qclass,
                    opts=[f"+subnet={subnet}"] if subnet else [])
    addresses = sorted(x.rdata for x in r.answer if (x.cls, x.type) == ("IN", "A") and
                       x.name.lower() == name.lower() + ".")
    ecs = None
    m = re.search(r"CLIENT-SUBNET: ([0-9a-f.:]+)/(\d+)/(\d+)", r.out)  # dig and kdig alike
    if m:
        ecs = (m.group(1), int(m.group(2)), int(m.group(3)))
    return Dig(r.cmd, r.out, r.status or "", addresses, ecs, "aa" in r.flags)


def expect(d: Dig, addresses: list[str], *, ecs: tuple[str, int, int] | None | bool = False):
    """The answer holds exactly `addresses`; with `ecs` given, the ECS option too (None: none)."""
    if d.status != "NOERROR" or d.addresses != sorted(addresses) or not d.aa:
        raise CheckFailed(f"expected NOERROR, AA and {sorted(addresses)}\n{d}")
    if ecs is not False and d.ecs != ecs:
        raise CheckFailed(f"expected ECS option {ecs}, got {d.ecs}\n{d}")


def config_text() -> str:
    p = ENV.port
    return f"""# written by tests/system/test_resolver_listen.py
[server]
listen = [
    "0.0.0.0:{p}",
    {{ address = "{VPC_LISTENER}:{p}", view = "vpc" }},
    {{ address = "{AEWS_LISTENER}:{p}", view = "vpc:aews" }},
    "[::]:{p}",
    {{ address = "[::1]:{p}", view = "vpc" }},
]
workers = 2
query_log = true
admin_listen = ""
state_dir = "{ENV.tmp}"
trusted_ecs_sources = ["{TRUSTED}/32"]

[[cluster]]
name = "aews"
region = "ap-northeast-2"
endpoint = "{AEWS}"
vpc_cidrs = ["192.168.0.0/16", "127.10.0.0/16"]
private_ips = {AEWS_PRIVATE}
public_ips = {AEWS_PUBLIC}

[[cluster]]
name = "other"
region = "us-east-1"
endpoint = "{OTHER}"
vpc_cidrs = ["10.20.0.0/16"]
private_ips = {OTHER_PRIVATE}
public_ips = {OTHER_PUBLIC}

[[zone]]
file = "vpc.zone"
origin = "lab.internal"
views = ["vpc"]

[[zone]]
file = "public.zone"
origin = "lab.internal"
views = ["public"]
""".replace("'", '"')


def zone_text(address: str) -> str:
    return f"""$ORIGIN lab.internal.
$TTL 300
@   IN SOA ns1 hostmaster 1 3600 600 86400 60
@   IN NS  ns1
ns1 IN A   {address}
www IN A   {address}
"""


@check("server.start", server=False)
def _():
    ENV.port = free_port("0.0.0.0", "::")  # the wildcards cover the specific addresses
    cfg = ENV.tmp / "horizond.toml"
    cfg.write_text(config_text())
    (ENV.tmp / "vpc.zone").write_text(zone_text("10.0.0.10"))
    (ENV.tmp / "public.zone").write_text(zone_text("203.0.113.80"))
    ENV.proc = start_process([ENV.horizond, "--config", str(cfg)], ENV.log,
                             ready=lambda: dig(AEWS, "127.0.0.1", OUTSIDE).status == "NOERROR")
    return f"port {ENV.port}"


@check("wildcard.by-source-next-to-specific-addresses")
def _():
    # 127.0.0.1 and 127.0.0.4 reach the wildcard (by source); it answers from the address asked.
    for tcp in (False, True):
        for server in ("127.0.0.1", "127.0.0.4"):
            expect(dig(AEWS, server, OUTSIDE, tcp=tcp), AEWS_PUBLIC)
            expect(dig(AEWS, server, INSIDE, tcp=tcp), AEWS_PRIVATE)
            expect(dig(OTHER, server, INSIDE, tcp=tcp), OTHER_PUBLIC)


@check("resolver-listener.vpc-view-for-any-source")
def _():
    for tcp in (False, True):
        for tool in ("dig", "kdig"):
            for src in (OUTSIDE, INSIDE, "127.99.0.1"):
                expect(dig(AEWS, VPC_LISTENER, src, tcp=tcp, tool=tool), AEWS_PRIVATE)
                expect(dig(OTHER, VPC_LISTENER, src, tcp=tcp, tool=tool), OTHER_PRIVATE)


@check("resolver-listener.ipv6-next-to-a-wildcard")
def _():
    # [::1]:P is a resolver listener next to the [::]:P wildcard (IPv6 sockets carry IPv6 only).
    for tcp in (False, True):
        for tool in ("dig", "kdig"):
            expect(dig(AEWS, "::1", "::1", tcp=tcp, tool=tool), AEWS_PRIVATE)


@check("resolver-listener.one-cluster")
def _():
    # view = "vpc:aews": in-VPC for aews; for any other cluster it is not their VPC's resolver.
    for tcp in (False, True):
        for src in (OUTSIDE, INSIDE):
            expect(dig(AEWS, AEWS_LISTENER, src, tcp=tcp), AEWS_PRIVATE)
            expect(dig(OTHER, AEWS_LISTENER, src, tcp=tcp), OTHER_PUBLIC)


@check("resolver-listener.zone-vpc-face")
def _():
    # A resolver listener is a VPC's resolver for zones too, "vpc:aews" included.
    for tcp in (False, True):
        for server, src, want in ((VPC_LISTENER, OUTSIDE, ["10.0.0.10"]),
                                  (AEWS_LISTENER, OUTSIDE, ["10.0.0.10"]),
                                  ("127.0.0.1", OUTSIDE, ["203.0.113.80"]),
                                  ("127.0.0.1", INSIDE, ["10.0.0.10"])):
            d = dig("www.lab.internal", server, src, tcp=tcp)
            if d.status != "NOERROR" or d.addresses != want:
                raise CheckFailed(f"expected {want}\n{d}")


@check("resolver-listener.explain")
def _():
    d = dig(AEWS, VPC_LISTENER, OUTSIDE, qtype="TXT", qclass="CH")
    if "arrived on a resolver listener (view vpc)" not in d.out or "answer private set" not in d.out:
        raise CheckFailed(f"explain should name the resolver listener\n{d}")
    d = dig(OTHER, AEWS_LISTENER, OUTSIDE, qtype="TXT", qclass="CH")
    if "in-vpc no: arrived on a resolver listener (view vpc:aews)" not in d.out:
        raise CheckFailed(f"explain should say the listener is not this cluster's\n{d}")


@check("ecs.trusted-in-vpc-subnet-gets-private-and-scope")
def _():
    # RFC 7871 §7.2.1: SCOPE 16, the shortest prefix over which the answer does not change
    # (192.168.3.0/24 lies in vpc_cidrs 192.168.0.0/16).
    for tcp in (False, True):
        for tool in ("dig", "kdig"):
            d = dig(AEWS, "127.0.0.1", TRUSTED, tcp=tcp, subnet="192.168.3.0/24", tool=tool)
            expect(d, AEWS_PRIVATE, ecs=("192.168.3.0", 24, 16))
        # The other cluster's VPC is 10.20.0.0/16: the same subnet is outside it.
        d = dig(OTHER, "127.0.0.1", TRUSTED, tcp=tcp, subnet="192.168.3.0/24")
        if d.addresses != OTHER_PUBLIC or d.ecs is None or d.ecs[:2] != ("192.168.3.0", 24):
            raise CheckFailed(f"expected the other cluster's public IP with ECS echoed\n{d}")
        d = dig(OTHER, "127.0.0.1", TRUSTED, tcp=tcp, subnet="10.20.7.0/24")
        expect(d, OTHER_PRIVATE, ecs=("10.20.7.0", 24, 16))


@check("ecs.trusted-outside-or-straddling-subnet-gets-public")
def _():
    for tcp in (False, True):
        d = dig(AEWS, "127.0.0.1", TRUSTED, tcp=tcp, subnet="198.51.100.0/24")
        expect(d, AEWS_PUBLIC)
        if d.ecs is None or d.ecs[:2] != ("198.51.100.0", 24) or d.ecs[2] > 24:
            raise CheckFailed(f"expected ECS echoed with a scope of at most 24\n{d}")
        # 192.0.0.0/8 contains 192.168.0.0/16 and more: it decides nothing, so it is outside,
        # with a full-length scope that no cache reuses inside.
        expect(dig(AEWS, "127.0.0.1", TRUSTED, tcp=tcp, subnet="192.0.0.0/8"), AEWS_PUBLIC,
               ecs=("192.0.0.0", 8, 32))


@check("ecs.untrusted-source-is-ignored")
def _():
    # The same option from a source not in trusted_ecs_sources: its own address decides, and no
    # ECS option comes back (a spoofed ECS never obtains private IPs).
    for tcp in (False, True):
        for tool in ("dig", "kdig"):
            d = dig(AEWS, "127.0.0.1", OUTSIDE, tcp=tcp, subnet="192.168.3.0/24", tool=tool)
            expect(d, AEWS_PUBLIC, ecs=None)
        # ...and an in-VPC source is not moved out by an outside ECS either.
        expect(dig(AEWS, "127.0.0.1", INSIDE, tcp=tcp, subnet="198.51.100.0/24"), AEWS_PRIVATE,
               ecs=None)


@check("ecs.resolver-listener-decides")
def _():
    # On a resolver listener the listener decides; a trusted ECS is echoed with SCOPE 0 (the
    # answer is the same for every subnet), an untrusted one is not echoed.
    for tcp in (False, True):
        expect(dig(AEWS, VPC_LISTENER, TRUSTED, tcp=tcp, subnet="198.51.100.0/24"), AEWS_PRIVATE,
               ecs=("198.51.100.0", 24, 0))
        expect(dig(AEWS, VPC_LISTENER, OUTSIDE, tcp=tcp, subnet="198.51.100.0/24"), AEWS_PRIVATE,
               ecs=None)


@check("query-log.in-vpc")
def _():
    text = ENV.log.read_text(errors="replace")
    want = re.compile(rf"query from {re.escape(OUTSIDE)} (udp|tcp): {re.escape(AEWS)}\.? A "
                      r"cluster=aews source=in-vpc answer=private", re.IGNORECASE)
    if not want.search(text):
        raise CheckFailed("no query log line shows an outside source classified in-vpc")


@check("server.sigterm-exits-0")
def _():
    expect_exit_0(ENV.proc, send=True)


def main() -> int:
    args = parse_args(__doc__, "horizond", tools=("dig", "kdig"))
    ENV.horizond = args.horizond
    ENV.tmp, ENV.log = make_tmp("horizond-listen-", log_dir=True)
    return run_script(check, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: expect_running(ENV.proc),
                      cleanup=lambda: stop_process(ENV.proc),
                      log_excerpt=lambda: framed_log_tail(ENV.log))


if __name__ == "__main__":
    sys.exit(main())
