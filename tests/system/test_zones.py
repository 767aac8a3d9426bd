#!/usr/bin/env python3
"""System test of horizond's [[zone]] data: the real server, queried with dig and kdig.

Copies the shipped examples (zones/lab.internal.vpc.zone, zones/lab.internal.public.zone,
zones/lab.test.zone) into a temporary directory next to a config that names them relative to
itself, adds a VPC-only zone of its own, and starts horizond from that directory. Then checks,
over UDP and TCP, from 127.10.0.5 (inside the VPC: vpc_cidrs has 127.10.0.0/16) and 127.0.0.1
(outside): both views of the split zone, a VPC-only name, CNAME chasing (to the cluster endpoint
name too: its answer for the same source), wildcards with an empty
non-terminal blocking one, a delegation (referral with glue, AA=0), negative answers with the
SOA, a zone not served to a view (REFUSED), truncation over UDP; a bad zone file at start-up
(exit 2, file:LINE message) and on reload (the old data keeps serving, /readyz and /metrics say
why, and the fixed file is picked up by the file watch, also while another file in the watched
directories keeps changing).

Traffic goes only to 127.0.0.0/8 and ::1. Every wait is bounded; horizond is stopped by PID.

usage: test_zones.py --horizond PATH --zones DIR [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 unless one failed.
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import harness
from harness import (DigResult, server_for, CheckFailed, Checks, expect_exit_0, expect_running,
                     framed_log_tail, free_port, http, make_tmp, parse_args, run, run_script,
                     start_process, stop_process, wait_until)

TIME_BUDGET = 120.0
INSIDE = "127.10.0.5"
OUTSIDE = "127.0.0.1"


class Env:
    horizond = ""
    examples = Path()
    tmp = Path()
    log = Path()
    port = 0
    admin_port = 0
    proc: subprocess.Popen | None = None


ENV = Env()
check = Checks()


# ------------------------------------------------------------------------------------------------
# dig and kdig, parsed


class Reply:
    """An answer as harness.parse_dig read it, as these checks look at it: records as (owner in
    lower case, TTL, type, data), OPT left out."""

    def __init__(self, r: DigResult):
        self.text = f"$ {shlex.join(r.cmd)}\n{r.out}"
        self.status = r.status or "NO-ANSWER"
        self.flags = r.flags
        self.sections = {"ANSWER": r.answer, "AUTHORITY": r.authority, "ADDITIONAL": r.additional}

    def rrs(self, section: str) -> list[tuple[str, int, str, str]]:
        return [(x.name.lower(), x.ttl, x.type, x.rdata) for x in self.sections.get(section, [])
                if x.type != "OPT"]

    def data(self, section: str = "ANSWER", rtype: str | None = None) -> set[str]:
        return {r[3] for r in self.rrs(section) if rtype is None or r[2] == rtype}


def dig(name: str, qtype: str = "A", *, src: str, tcp: bool, tool: str = "dig",
        extra: tuple[str, ...] = ()) -> Reply:
    return Reply(harness.dig(tool, server_for(src), ENV.port, name, qtype, src=src, tcp=tcp,
                             opts=("+norecurse", *extra), wait=3))


def both(fn: Callable[[bool, str], None]) -> str:
    """Runs a check over UDP with dig and over TCP with kdig, and the other way round."""
    for tcp, tool in ((False, "dig"), (True, "kdig"), (True, "dig"), (False, "kdig")):
        fn(tcp, tool)
    return "(udp+tcp, dig+kdig)"


def expect(r: Reply, status: str, *, aa: bool | None = True, answer: set[str] | None = None,
           rtype: str | None = None):
    if r.status != status:
        raise CheckFailed(f"status {r.status}, expected {status}\n{r.text}")
    if aa is not None and ("aa" in r.flags) != aa:
        raise CheckFailed(f"AA is {'aa' in r.flags}, expected {aa}\n{r.text}")
    if answer is not None and r.data("ANSWER", rtype) != answer:
        raise CheckFailed(f"answer {sorted(r.data('ANSWER', rtype))}, expected {sorted(answer)}\n"
                          f"{r.text}")


def admin_get(path: str) -> str:
    r = http("GET", f"http://127.0.0.1:{ENV.admin_port}{path}", timeout=3)
    if r.status != 200:
        raise CheckFailed(f"GET {path}: HTTP {r.status}\n{r.text}")
    return r.text


# ------------------------------------------------------------------------------------------------
# Files

PRIVATE_ZONE = """; written by tests/system/test_zones.py: a zone only the VPC sees
$ORIGIN private.test.
$TTL 120
@   IN SOA ns hostmaster 1 3600 600 86400 30
@   IN NS  ns
ns  IN A   10.0.0.54
secret IN A 10.0.9.9
""" + "".join(f'big IN TXT "{i:02d} {"x" * 90}"\n' for i in range(12))


ENDPOINT = "5B0C7E1D2A3F4E5D6C7B8A9F0E1D2C3B.gr7.ap-northeast-2.eks.amazonaws.com."

EKS_ZONE = f"""; written by tests/system/test_zones.py: both views, CNAMEs to the cluster endpoint
$ORIGIN alias.test.
$TTL 120
@   IN SOA ns hostmaster 1 3600 600 86400 30
@   IN NS  ns
ns  IN A   10.0.0.55
k8s IN CNAME {ENDPOINT}
two IN CNAME k8s
"""


def config_text() -> str:
    return f"""# written by tests/system/test_zones.py
[server]
listen = ["127.0.0.1:{ENV.port}", "[::1]:{ENV.port}"]
workers = 2
query_log = true
admin_listen = "127.0.0.1:{ENV.admin_port}"
state_dir = "{ENV.tmp / 'state'}"

[[cluster]]
name = "lab"
region = "ap-northeast-2"
endpoint = "{ENDPOINT.rstrip('.')}"
vpc_cidrs = ["10.0.0.0/16", "127.10.0.0/16"]
private_ips = ["10.0.0.100"]
public_ips = ["203.0.113.10"]

[[zone]]
file = "zones/lab.internal.vpc.zone"
origin = "lab.internal"
views = ["vpc"]

[[zone]]
file = "zones/lab.internal.public.zone"
origin = "lab.internal"
views = ["public"]

[[zone]]
file = "zones/lab.test.zone"
origin = "lab.test"

[[zone]]
file = "{ENV.tmp / 'private.zone'}"
origin = "private.test"
views = ["vpc"]

[[zone]]
file = "{ENV.tmp / 'alias.zone'}"
origin = "alias.test"
"""


def vpc_zone() -> Path:
    return ENV.tmp / "zones" / "lab.internal.vpc.zone"


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 10.0):
    wait_until(what, cond, timeout, proc=ENV.proc)


# ------------------------------------------------------------------------------------------------
# The checks


@check("server.start", server=False)
def _():
    def answering() -> bool:
        try:
            return "ready" in json.loads(admin_get("/readyz")) and \
                dig("www.lab.internal", src=OUTSIDE, tcp=False).status == "NOERROR"
        except (OSError, ValueError, CheckFailed):
            return False
    ENV.proc = start_process([ENV.horizond, "--config", "horizond.toml"], ENV.log, cwd=ENV.tmp,
                             ready=answering)


@check("zones.split.vpc-view")
def _():
    return both(lambda tcp, tool: expect(dig("www.lab.internal", src=INSIDE, tcp=tcp, tool=tool),
                                         "NOERROR", answer={"10.0.0.10"}))


@check("zones.split.public-view")
def _():
    return both(lambda tcp, tool: expect(dig("www.lab.internal", src=OUTSIDE, tcp=tcp, tool=tool),
                                         "NOERROR", answer={"203.0.113.80"}))


@check("zones.split.vpc-only-name")
def _():
    def one(tcp: bool, tool: str):
        expect(dig("db.lab.internal", src=INSIDE, tcp=tcp, tool=tool), "NOERROR",
               answer={"10.0.0.20"})
        r = dig("db.lab.internal", src=OUTSIDE, tcp=tcp, tool=tool)
        expect(r, "NXDOMAIN", answer=set())
        soa = r.rrs("AUTHORITY")
        # RFC 2308 §3: TTL = min(SOA TTL 3600, MINIMUM 60)
        if len(soa) != 1 or soa[0][2] != "SOA" or soa[0][0] != "lab.internal." or soa[0][1] != 60:
            raise CheckFailed(f"expected the SOA with TTL 60 in authority\n{r.text}")
    return both(one)


@check("zones.nodata")
def _():
    def one(tcp: bool, tool: str):
        r = dig("www.lab.internal", "AAAA", src=INSIDE, tcp=tcp, tool=tool)
        expect(r, "NOERROR", answer=set())
        if [x[2] for x in r.rrs("AUTHORITY")] != ["SOA"]:
            raise CheckFailed(f"expected the SOA in authority\n{r.text}")
    return both(one)


@check("zones.cname")
def _():
    def one(tcp: bool, tool: str):
        r = dig("api.lab.internal", src=INSIDE, tcp=tcp, tool=tool)
        expect(r, "NOERROR", answer={"10.0.0.10"}, rtype="A")
        if r.data("ANSWER", "CNAME") != {"www.lab.internal."}:
            raise CheckFailed(f"expected the CNAME to www.lab.internal.\n{r.text}")
        expect(dig("api.lab.internal", src=OUTSIDE, tcp=tcp, tool=tool), "NOERROR",
               answer={"203.0.113.80"}, rtype="A")
    return both(one)


@check("zones.cname-to-endpoint")
def _():
    # Stub resolvers (glibc) do not chase CNAMEs: a zone CNAME to the endpoint name gets the
    # endpoint's answer for the same source appended, private inside, public outside.
    def one(tcp: bool, tool: str):
        for name, chain in (("k8s.alias.test", 1), ("two.alias.test", 2)):
            for src, want in ((INSIDE, "10.0.0.100"), (OUTSIDE, "203.0.113.10")):
                r = dig(name, src=src, tcp=tcp, tool=tool)
                expect(r, "NOERROR", answer={want}, rtype="A")
                owners = {x[0] for x in r.rrs("ANSWER") if x[2] == "A"}
                if owners != {ENDPOINT.lower()} or len(r.data("ANSWER", "CNAME")) != chain:
                    raise CheckFailed(f"expected {chain} CNAME(s) then the endpoint's A\n{r.text}")
        r = dig("k8s.alias.test", "AAAA", src=OUTSIDE, tcp=tcp, tool=tool)
        expect(r, "NOERROR", answer=set(), rtype="AAAA")
        if [(x[0], x[2]) for x in r.rrs("AUTHORITY")] != [(ENDPOINT.lower(), "SOA")]:
            raise CheckFailed(f"expected the endpoint's SOA in authority (NODATA)\n{r.text}")
    return both(one)


@check("zones.wildcard")
def _():
    def one(tcp: bool, tool: str):
        expect(dig("shop.apps.lab.internal", src=INSIDE, tcp=tcp, tool=tool), "NOERROR",
               answer={"10.0.1.1"})
        r = dig("Shop.Apps.Lab.Internal", src=OUTSIDE, tcp=tcp, tool=tool)
        expect(r, "NOERROR", answer={"203.0.113.81"})
        if r.rrs("ANSWER")[0][0] != "shop.apps.lab.internal.":
            raise CheckFailed(f"the synthesised owner is not the name asked for\n{r.text}")
        # team.apps exists (an empty non-terminal above web.team.apps): no wildcard below it
        expect(dig("x.team.apps.lab.internal", src=INSIDE, tcp=tcp, tool=tool), "NXDOMAIN",
               answer=set())
        expect(dig("team.apps.lab.internal", src=INSIDE, tcp=tcp, tool=tool), "NOERROR",
               answer=set())
        expect(dig("web.team.apps.lab.internal", src=INSIDE, tcp=tcp, tool=tool), "NOERROR",
               answer={"10.0.1.2"})
    return both(one)


@check("zones.delegation")
def _():
    def one(tcp: bool, tool: str):
        r = dig("host.corp.lab.internal", src=INSIDE, tcp=tcp, tool=tool)
        expect(r, "NOERROR", aa=False, answer=set())
        if r.rrs("AUTHORITY") != [("corp.lab.internal.", 300, "NS", "ns.corp.lab.internal.")]:
            raise CheckFailed(f"expected the referral NS in authority\n{r.text}")
        if r.rrs("ADDITIONAL") != [("ns.corp.lab.internal.", 300, "A", "10.0.3.53")]:
            raise CheckFailed(f"expected the glue in additional\n{r.text}")
        # The public view has no delegation: NXDOMAIN there.
        expect(dig("host.corp.lab.internal", src=OUTSIDE, tcp=tcp, tool=tool), "NXDOMAIN")
    return both(one)


@check("zones.both-views")
def _():
    def one(tcp: bool, tool: str):
        for src in (INSIDE, OUTSIDE):
            expect(dig("lab.test", "TXT", src=src, tcp=tcp, tool=tool), "NOERROR",
                   answer={'"horizon lab"'})
            r = dig("docs.lab.test", src=src, tcp=tcp, tool=tool)
            expect(r, "NOERROR", answer={"www.example.com."})  # not followed out of our zones
    return both(one)


@check("zones.not-served-to-view")
def _():
    def one(tcp: bool, tool: str):
        expect(dig("secret.private.test", src=INSIDE, tcp=tcp, tool=tool), "NOERROR",
               answer={"10.0.9.9"})
        # Not ours for the public view, and forwarding is off: REFUSED (RFC 8906 §3.1.3)
        expect(dig("secret.private.test", src=OUTSIDE, tcp=tcp, tool=tool), "REFUSED", aa=False)
    return both(one)


@check("zones.truncation")
def _():
    r = dig("big.private.test", "TXT", src=INSIDE, tcp=False, extra=("+noedns", "+ignore"))
    if "tc" not in r.flags or r.rrs("ANSWER"):
        raise CheckFailed(f"expected TC=1 and an empty answer over UDP without EDNS\n{r.text}")
    r = dig("big.private.test", "TXT", src=INSIDE, tcp=True, tool="kdig")
    if "tc" in r.flags or len(r.rrs("ANSWER")) != 12:
        raise CheckFailed(f"expected all 12 TXT records over TCP\n{r.text}")
    r = dig("big.private.test", "TXT", src=INSIDE, tcp=False)  # dig retries over TCP itself
    if len(r.rrs("ANSWER")) != 12:
        raise CheckFailed(f"expected dig to fall back to TCP\n{r.text}")


@check("zones.reload.bad-file-keeps-serving")
def _():
    text = vpc_zone().read_text()
    lines = text.splitlines()
    bad_line = len(lines) + 1
    tmp = vpc_zone().with_suffix(".new")
    tmp.write_text(text + "fresh IN A 10.0.0.77\nbroken IN A 10.0.0.300\n")
    tmp.replace(vpc_zone())  # a rename, as editors do: the watch picks it up

    def failed() -> bool:
        return not json.loads(admin_get("/readyz"))["lastReload"]["ok"]
    wait_for("/readyz to report the failed reload", failed)
    errors = json.loads(admin_get("/readyz"))["lastReload"]["errors"]
    want = f"zones/lab.internal.vpc.zone:{bad_line + 1}: error: "
    if not any(e.startswith(want) for e in errors):
        raise CheckFailed(f"expected an error starting {want!r}, got {errors}")
    metrics = admin_get("/metrics")
    if "horizon_last_reload_success 0" not in metrics:
        raise CheckFailed("horizon_last_reload_success is not 0 after the failed reload")
    log = ENV.log.read_text(errors="replace")
    if want not in log:
        raise CheckFailed(f"the log does not say {want!r}")
    # The old data keeps serving: www still answers, the half-added name does not exist.
    for tcp in (False, True):
        expect(dig("www.lab.internal", src=INSIDE, tcp=tcp), "NOERROR", answer={"10.0.0.10"})
        expect(dig("fresh.lab.internal", src=INSIDE, tcp=tcp), "NXDOMAIN")
    return errors[0]


@check("zones.reload.fixed-file-is-picked-up")
def _():
    text = vpc_zone().read_text().replace("broken IN A 10.0.0.300\n", "")
    tmp = vpc_zone().with_suffix(".new")
    tmp.write_text(text)
    tmp.replace(vpc_zone())
    wait_for("the fixed zone to serve",
             lambda: dig("fresh.lab.internal", src=INSIDE, tcp=False).status == "NOERROR")
    for tcp in (False, True):
        expect(dig("fresh.lab.internal", src=INSIDE, tcp=tcp), "NOERROR", answer={"10.0.0.77"})
        expect(dig("fresh.lab.internal", src=OUTSIDE, tcp=tcp), "NXDOMAIN")
    if not json.loads(admin_get("/readyz"))["lastReload"]["ok"]:
        raise CheckFailed("/readyz still reports the failed reload")
    if "horizon_last_reload_success 1" not in admin_get("/metrics"):
        raise CheckFailed("horizon_last_reload_success is not 1 after the fix")


@check("zones.reload.busy-directory")
def _():
    # A file that keeps changing in a watched directory (every 50 ms, like a busy log) must not
    # postpone the reload of a changed zone file for ever.
    stop_writing = threading.Event()

    def busy():
        n = 0
        while not stop_writing.is_set():
            (ENV.tmp / "busy.txt").write_text(f"{n}\n")
            (ENV.tmp / "zones" / "busy.txt").write_text(f"{n}\n")
            n += 1
            time.sleep(0.05)
    writer = threading.Thread(target=busy, daemon=True)
    writer.start()
    try:
        time.sleep(0.3)
        tmp = vpc_zone().with_suffix(".new")
        tmp.write_text(vpc_zone().read_text() + "busy IN A 10.0.0.78\n")
        tmp.replace(vpc_zone())
        began = time.monotonic()
        wait_for("the changed zone to serve while the directory stays busy",
                 lambda: dig("busy.lab.internal", src=INSIDE, tcp=False).status == "NOERROR", 5)
        return f"after {time.monotonic() - began:.2f}s"
    finally:
        stop_writing.set()
        writer.join(timeout=2)


@check("zones.startup.bad-file-exits-2", server=False)
def _():
    bad = ENV.tmp / "zones" / "bad.zone"
    bad.write_text("$ORIGIN bad.test.\n@ 300 IN SOA ns hostmaster 1 3600 600 86400 60\n"
                   "@ 300 IN NS ns\nns 300 IN A 10.0.0.1\nwww.elsewhere. 300 IN A 10.0.0.2\n"
                   "cname 300 IN CNAME www\ncname 300 IN A 10.0.0.3\n")
    cfg = ENV.tmp / "bad.toml"
    cfg.write_text(config_text() + '\n[[zone]]\nfile = "zones/bad.zone"\norigin = "bad.test"\n')
    want = ["zones/bad.zone:5: error: www.elsewhere. is outside the zone origin bad.test.",
            "zones/bad.zone:7: error: CNAME and other data (A) at cname.bad.test. "
            "(RFC 1034 §3.6.2)"]
    for args in (["--config", "bad.toml"], ["--check-config", "bad.toml"]):
        p = run([ENV.horizond, *args], cwd=ENV.tmp)
        if p.returncode != 2:
            raise CheckFailed(f"{args}: exit {p.returncode}, expected 2\n{p.stdout}{p.stderr}")
        lines = p.stderr.splitlines()
        if lines[:2] != want or "nothing was started" not in p.stderr:
            raise CheckFailed(f"{args}: expected\n{want}\ngot\n{p.stderr}")
    p = run([ENV.horizond, "--check-config", "horizond.toml"], cwd=ENV.tmp)
    if p.returncode != 0 or "5 zone(s)" not in p.stdout:
        raise CheckFailed(f"--check-config of the good file: exit {p.returncode}\n{p.stdout}{p.stderr}")


@check("zones.query-log")
def _():
    dig("www.lab.internal", src=INSIDE, tcp=False)
    want = "www.lab.internal. A zone=lab.internal. view=vpc -> NOERROR"
    wait_for("the query log line", lambda: want in ENV.log.read_text(errors="replace"), 5)


@check("server.sigterm-exits-0")
def _():
    expect_exit_0(ENV.proc, send=True)


def main() -> int:
    args = parse_args(__doc__, "horizond", "zones", tools=("dig", "kdig"))
    ENV.horizond = args.horizond
    ENV.examples = Path(args.zones)
    # The log is not in the config file's directory: the file watch there would see every log
    # line, and its settle timer would keep restarting while queries are logged.
    ENV.tmp, ENV.log = make_tmp("horizond-zones-", log_dir=True)
    ENV.port = free_port("127.0.0.1", "::1")
    ENV.admin_port = free_port(udp=False)
    (ENV.tmp / "zones").mkdir()
    (ENV.tmp / "state").mkdir()
    for name in ("lab.internal.vpc.zone", "lab.internal.public.zone", "lab.test.zone"):
        shutil.copy(ENV.examples / name, ENV.tmp / "zones" / name)
    (ENV.tmp / "private.zone").write_text(PRIVATE_ZONE)
    (ENV.tmp / "alias.zone").write_text(EKS_ZONE)
    (ENV.tmp / "horizond.toml").write_text(config_text())
    return run_script(check, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: expect_running(ENV.proc),
                      cleanup=lambda: stop_process(ENV.proc),
                      log_excerpt=lambda: framed_log_tail(ENV.log))


if __name__ == "__main__":
    sys.exit(main())
