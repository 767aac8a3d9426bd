#!/usr/bin/env python3
"""System test of the API endpoint gate's fairness limits and of exclusive listeners (issue 17,
items 9 and 13).

Starts `horizond --config FILE --state-dir DIR` with one cluster, aews, public+private, deny
"drop", the built-in responder; public side 127.20.0.10, private side 127.30.0.10;
publicAccessCidrs 127.0.0.0/16; security group 127.10.0.0/24; max_connections 40, max_held 8,
max_connections_per_source 5. Sources (distinct 127.x addresses on lo): 127.0.0.5 and
127.0.0.6 (admitted on the public side), 127.1.0.5-7 (denied on the public side: held),
127.10.0.5 (a node: admitted on the private side), 127.10.1.5 (a bastion: denied there: held).

Checks:
- per-source, admitted: one source opening 8 connections gets 5, the other 3 are reset and
  counted as denied/source_limit, logged with the reason; a second source still connects; once
  the first source's connections close, it connects again.
- per-source, denied: one denied source gets 5 connections held, the rest reset with the reset
  reason source_limit; another denied source is still held (times out, not reset).
- per-side budget: with the public side's max_held all held (two sources) and more public
  connections reset at hold_limit, a denied private-side connection is still held (the client
  times out) and an admitted one is served: a public-side flood changes nothing on the private
  side.
- listeners: a port held by another program (a plain socket, with and without SO_REUSEPORT) or
  by a second horizond on a gate address makes horizond exit 1 at start with one message naming
  the address and what to do; the same for a DNS listen address (TCP held with SO_REUSEPORT);
  the first horizond keeps serving.

Traffic goes only to 127.0.0.0/8. Every wait is bounded; horizond is stopped by its own handle.

usage: test_gate_limits.py --horizond PATH [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 unless one failed.
"""
from __future__ import annotations

import json
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import harness
from harness import (CheckFailed, Checks, Horizond, expect_exit_0, expect_running,
                     framed_log_tail, free_port, make_tmp, parse_args, read_log, run_script)

CLUSTER = "aews"
ENDPOINT = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com"
PUBLIC = "127.20.0.10"
PRIVATE = "127.30.0.10"
OUT_A, OUT_B = "127.0.0.5", "127.0.0.6"                       # admitted on the public side
STRANGERS = ["127.1.0.5", "127.1.0.6", "127.1.0.7"]           # denied there
NODE, BASTION = "127.10.0.5", "127.10.1.5"                    # private side: admitted, denied

MAX_CONNECTIONS = 40
MAX_HELD = 8
PER_SOURCE = 5
HOLD_TIMEOUT = 30          # seconds: longer than any check, so a held connection stays held
HELD_WAIT = 1.0            # a held connection: no answer within this
TIME_BUDGET = 150.0

ALLOWED, HELD, RESET = "allowed", "held", "reset"


class Env:
    horizond = ""
    tmp = Path()
    log = Path()
    server: Horizond | None = None
    dns_port = 0
    admin_port = 0
    api_port = 0


ENV = Env()
check = Checks()


def config_text(dns_port: int, admin_port: int, api_port: int, state: Path) -> str:
    return f"""# written by tests/system/test_gate_limits.py
[server]
listen = ["127.0.0.1:{dns_port}"]
admin_listen = "127.0.0.1:{admin_port}"
state_dir = "{state}"
workers = 1

[[cluster]]
name = "{CLUSTER}"
region = "ap-northeast-2"
endpoint = "{ENDPOINT}"
vpc_cidrs = ["127.10.0.0/16"]
public_ips = ["{PUBLIC}"]
private_ips = ["{PRIVATE}"]
access_mode = "public+private"
public_access_cidrs = ["127.0.0.0/16"]

[cluster.api]
port = {api_port}
security_group_ingress = ["127.10.0.0/24"]
deny = "drop"
hold_timeout = "{HOLD_TIMEOUT}s"
max_connections = {MAX_CONNECTIONS}
max_held = {MAX_HELD}
max_connections_per_source = {PER_SOURCE}
"""


# ------------------------------------------------------------------------------------------------
# The admin API: metrics and the connections view


def admin_get(path: str) -> str:
    r = harness.http("GET", f"http://127.0.0.1:{ENV.admin_port}{path}", timeout=5.0)
    if r.status != 200:
        raise CheckFailed(f"GET {path}: HTTP {r.status}\n{r.text}")
    return r.text


def metric(name: str, **labels: str) -> float:
    total = 0.0
    for line in admin_get("/metrics").splitlines():
        m = re.fullmatch(r"([a-z_]+)\{(.*)\} ([0-9.e+-]+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2)))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def decided(side: str) -> float:
    """Every connection the gate decided on `side` at accept (each is counted once)."""
    return metric("horizon_api_connections_total", cluster=CLUSTER, side=side)


def held_from(side: str) -> dict[str, int]:
    """Held connections on `side` now, per source address (the connections view)."""
    out: dict[str, int] = {}
    view = json.loads(admin_get(f"/clusters/{CLUSTER}/connections"))
    for c in view["connections"]:
        if c["side"] == side and c["state"] == "held":
            src = c["peer"].rsplit(":", 1)[0]
            out[src] = out.get(src, 0) + 1
    return out


def wait_for(what: str, ready, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def wait_idle():
    """No connection left on either side (the previous check's sockets are closed)."""
    def idle() -> bool:
        view = json.loads(admin_get(f"/clusters/{CLUSTER}/connections"))
        return not view["connections"]
    wait_for("every API endpoint connection to close", idle)


# ------------------------------------------------------------------------------------------------
# Connecting from a chosen source


def connect(src: str, addr: str) -> socket.socket:
    """A TCP connection from `src` to the gate at `addr` (the handshake is the kernel's: it
    completes whatever the gate decides next)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3.0)
    s.bind((src, 0))
    s.connect((addr, ENV.api_port))
    return s


def request(src: str, addr: str, wait: float = HELD_WAIT) -> tuple[str, socket.socket]:
    """A plain HTTP GET /healthz from `src`: ALLOWED (answered), RESET, or HELD (no answer within
    `wait`); the socket stays open (the caller closes it)."""
    try:
        s = connect(src, addr)
    except ConnectionResetError:  # on loopback the gate's RST can beat connect()'s return
        return RESET, socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(wait)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return RESET, s
            data += chunk
        return ALLOWED, s
    except (ConnectionResetError, BrokenPipeError):
        return RESET, s
    except socket.timeout:
        return HELD, s


def open_silent(src: str, addr: str, n: int, socks: list[socket.socket]) -> int:
    """`n` connections from `src` that send nothing (denied ones: held or reset); returns how
    many were reset before connect() returned (on loopback the gate's RST can be that quick)."""
    reset = 0
    for _ in range(n):
        try:
            socks.append(connect(src, addr))
        except ConnectionResetError:
            reset += 1
    return reset


def reset_ones(socks: list[socket.socket], wait: float = 0.5) -> int:
    """How many of `socks` the peer has reset or closed within `wait` (the others stay silent)."""
    left = list(socks)
    gone = 0
    deadline = time.monotonic() + wait
    while left:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            break
        readable, _, _ = select.select(left, [], [], timeout)
        for s in readable:
            left.remove(s)
            try:
                if s.recv(1) == b"":
                    gone += 1
            except (ConnectionResetError, BrokenPipeError):
                gone += 1
    return gone


def close_all(socks: list[socket.socket]):
    for s in socks:
        s.close()
    socks.clear()


# ------------------------------------------------------------------------------------------------
# The checks


@check("server.start", server=False)
def _():
    ENV.dns_port = free_port()
    ENV.admin_port = free_port(udp=False)
    ENV.api_port = free_port(PUBLIC, PRIVATE, udp=False)
    state = ENV.tmp / "state"
    config = ENV.tmp / "horizond.toml"
    config.write_text(config_text(ENV.dns_port, ENV.admin_port, ENV.api_port, state))
    ENV.server = Horizond(ENV.horizond, config, state, ENV.log, f"127.0.0.1:{ENV.admin_port}")
    ENV.server.start()
    want = (f"cluster {CLUSTER}: API endpoint on {PUBLIC}:{ENV.api_port} (public), "
            f"{PRIVATE}:{ENV.api_port} (private)")
    wait_for("the API endpoint's start-up line", lambda: want in read_log(ENV.log))


@check("per-source.admitted-capped-another-source-served")
def _():
    socks: list[socket.socket] = []
    try:
        before = metric("horizon_api_connections_total", cluster=CLUSTER, side="public",
                        outcome="denied", reason="source_limit")
        outcomes = []
        for _ in range(PER_SOURCE + 3):
            outcome, s = request(OUT_A, PUBLIC)
            outcomes.append(outcome)
            socks.append(s)
        if outcomes != [ALLOWED] * PER_SOURCE + [RESET] * 3:
            raise CheckFailed(f"{OUT_A} opening {PER_SOURCE + 3} connections: {outcomes}; "
                              f"expected {PER_SOURCE} allowed, then 3 reset "
                              f"(max_connections_per_source = {PER_SOURCE})")
        outcome, s = request(OUT_B, PUBLIC)
        socks.append(s)
        if outcome != ALLOWED:
            raise CheckFailed(f"a second source {OUT_B} while {OUT_A} is at its cap: {outcome}")
        got = metric("horizon_api_connections_total", cluster=CLUSTER, side="public",
                     outcome="denied", reason="source_limit") - before
        if got != 3:
            raise CheckFailed(f"horizon_api_connections_total{{outcome=denied,"
                              f"reason=source_limit}} grew by {got}, expected 3")
        line = (f"allowed: {OUT_A} is in publicAccessCidrs 127.0.0.0/16, but {OUT_A} has "
                f"max_connections_per_source ({PER_SOURCE}) connections on this side: reset")
        if line not in read_log(ENV.log):
            raise CheckFailed(f"no log line with {line!r}\n{ENV.server.tail(10)}")
    finally:
        close_all(socks)
    # The slots come back when the source's connections close.
    def again() -> bool:
        outcome, s = request(OUT_A, PUBLIC)
        s.close()
        return outcome == ALLOWED
    wait_for(f"{OUT_A} to connect again after closing its connections", again, 3.0)
    wait_idle()


@check("per-source.denied-capped-another-source-held")
def _():
    socks: list[socket.socket] = []
    try:
        before = decided("public")
        resets = metric("horizon_api_resets_total", cluster=CLUSTER, side="public",
                        reason="source_limit")
        early = open_silent(STRANGERS[0], PUBLIC, PER_SOURCE + 2, socks)
        wait_for("the gate to decide every connection",
                 lambda: decided("public") - before >= PER_SOURCE + 2)
        gone = early + reset_ones(socks)
        held = held_from("public")
        if held.get(STRANGERS[0]) != PER_SOURCE or gone != 2:
            raise CheckFailed(f"{STRANGERS[0]} (denied) opening {PER_SOURCE + 2} connections: "
                              f"{held.get(STRANGERS[0], 0)} held, {gone} reset; expected "
                              f"{PER_SOURCE} held and 2 reset")
        got = metric("horizon_api_resets_total", cluster=CLUSTER, side="public",
                     reason="source_limit") - resets
        if got != 2:
            raise CheckFailed(f"horizon_api_resets_total{{reason=source_limit}} grew by {got}, "
                              "expected 2")
        outcome, s = request(STRANGERS[1], PUBLIC)
        socks.append(s)
        if outcome != HELD:
            raise CheckFailed(f"another denied source {STRANGERS[1]} while {STRANGERS[0]} is at "
                              f"its cap: {outcome}, expected held (the client times out)")
    finally:
        close_all(socks)
    wait_idle()


@check("per-side.public-flood-leaves-private-denials-held")
def _():
    socks: list[socket.socket] = []
    try:
        before = decided("public")
        hold_limit = metric("horizon_api_resets_total", cluster=CLUSTER, side="public",
                            reason="hold_limit")
        # The public side's max_held (8) from two sources, then one more from a third.
        early = open_silent(STRANGERS[0], PUBLIC, PER_SOURCE, socks)
        early += open_silent(STRANGERS[1], PUBLIC, MAX_HELD - PER_SOURCE, socks)
        if early:
            raise CheckFailed(f"{early} of the first {MAX_HELD} public connections reset; "
                              f"expected all {MAX_HELD} held")
        open_silent(STRANGERS[2], PUBLIC, 2, socks)
        wait_for("the gate to decide every public connection",
                 lambda: decided("public") - before >= MAX_HELD + 2)
        held = sum(held_from("public").values())
        got = metric("horizon_api_resets_total", cluster=CLUSTER, side="public",
                     reason="hold_limit") - hold_limit
        if held != MAX_HELD or got != 2:
            raise CheckFailed(f"public side: {held} held, {got} reset at hold_limit; expected "
                              f"{MAX_HELD} held (max_held) and 2 reset")
        # The private side has its own budget: a denied connection still times out.
        outcome, s = request(BASTION, PRIVATE)
        socks.append(s)
        if outcome != HELD:
            raise CheckFailed(f"a denied private-side connection from {BASTION} while the public "
                              f"side holds max_held: {outcome}, expected held (the client "
                              "times out, as when the security group drops its SYN)")
        if held_from("private").get(BASTION) != 1:
            raise CheckFailed(f"the connections view does not show {BASTION} held on the "
                              "private side")
        outcome, s = request(NODE, PRIVATE)
        socks.append(s)
        if outcome != ALLOWED:
            raise CheckFailed(f"an admitted private-side connection from {NODE}: {outcome}")
    finally:
        close_all(socks)
    wait_idle()


# --- every listener is exclusive


def expect_refused(name: str, *, dns_port: int | None = None, api_port: int | None = None,
                   address: str, proto: str):
    """horizond on a configuration whose `address` (DNS listen or gate) another socket holds:
    it must exit 1 within 5 s with one error line naming the address and what to do."""
    dns_port = dns_port if dns_port is not None else free_port()
    api_port = api_port if api_port is not None else free_port(PUBLIC, PRIVATE, udp=False)
    state = ENV.tmp / f"state-{name}"
    state.mkdir()
    config = ENV.tmp / f"{name}.toml"
    config.write_text(config_text(dns_port, free_port(udp=False), api_port, state))
    cmd = [ENV.horizond, "--config", str(config)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=5, errors="replace",
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise CheckFailed(f"horizond kept running although {address} ({proto}) is held by "
                          f"another socket; expected exit 1 with 'in use'\n$ {' '.join(cmd)}\n"
                          f"{out[-2000:]}") from None
    errors = [line for line in p.stderr.splitlines() if line.startswith("horizond: error:")]
    want = ["in use", "another program holds it", f"ss -l{'nu' if proto == 'udp' else 'nt'}p",
            "stop it, or"]
    if p.returncode != 1 or len(errors) != 1 or f"cannot listen on {address}" not in errors[0] \
            or not all(w in errors[0] for w in want):
        raise CheckFailed(f"exit {p.returncode}; expected 1 and one 'horizond: error:' line with "
                          f"'cannot listen on {address}' and {want}\n$ {' '.join(cmd)}\n"
                          f"{p.stderr[-2000:]}")
    return errors[0]


def holder(address: str, *, kind=socket.SOCK_STREAM, reuseport: bool = False) -> socket.socket:
    """A socket another program might hold on `address`, port chosen by the kernel: listening
    (TCP), with SO_REUSEADDR, and SO_REUSEPORT when asked (cpp-httplib's listener sets both)."""
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((address, 0))
    if kind == socket.SOCK_STREAM:
        s.listen(8)
    return s


@check("listen.gate-port-held-by-a-socket-is-fatal", server=False)
def _():
    for reuseport in (False, True):
        with holder(PRIVATE, reuseport=reuseport) as h:
            port = h.getsockname()[1]
            line = expect_refused(f"gate-held-{int(reuseport)}", api_port=port,
                                  address=f"{PRIVATE}:{port}", proto="tcp")
    want = f"cluster {CLUSTER}: API endpoint cannot listen on {PRIVATE}:{port} (private side)"
    if want not in line or "[cluster.api] port" not in line:
        raise CheckFailed(f"expected {want!r} and what to change ([cluster.api] port) in\n{line}")
    return f"({line.split('error: ', 1)[1][:110]}...)"


@check("listen.gate-port-held-by-another-horizond-is-fatal")
def _():
    expect_refused("second-horizond", api_port=ENV.api_port, address=f"{PUBLIC}:{ENV.api_port}",
                   proto="tcp")
    # The first one keeps serving its gate.
    outcome, s = request(OUT_B, PUBLIC)
    s.close()
    if outcome != ALLOWED:
        raise CheckFailed(f"the first horizond's gate after the second one exited: {outcome}")


@check("listen.dns-port-held-is-fatal", server=False)
def _():
    for kind, proto in ((socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp")):
        with holder("127.0.0.1", kind=kind, reuseport=True) as h:
            port = h.getsockname()[1]
            line = expect_refused(f"dns-held-{proto}", dns_port=port,
                                  address=f"127.0.0.1:{port} ({proto})", proto=proto)
            if "[server] listen" not in line:
                raise CheckFailed(f"expected what to change ([server] listen) in\n{line}")


@check("server.sigterm-exits-0")
def _():
    expect_exit_0(ENV.server.proc if ENV.server else None, 10.0, send=True)


def main() -> int:
    args = parse_args(__doc__, "horizond")
    ENV.horizond = args.horizond
    ENV.tmp, ENV.log = make_tmp("horizon-gate-limits-", log_dir=True)

    def cleanup():
        if ENV.server is not None:
            ENV.server.stop()
    return run_script(check, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: expect_running(ENV.server.proc if ENV.server else None),
                      cleanup=cleanup, log_excerpt=lambda: framed_log_tail(ENV.log))


if __name__ == "__main__":
    sys.exit(main())
