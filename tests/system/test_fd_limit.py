#!/usr/bin/env python3
"""System test of horizond under a low open file limit: the forwarder must not take every one.

Starts horizond with RLIMIT_NOFILE soft 128 / hard 256 (set in the child before exec) and a
silent scripted upstream on loopback (test_forwarding.py's), then checks: the soft limit is
raised to the hard one and logged with the budget it allows (server/fd_budget.hpp: what the
listeners, loops, admin API, state and a reserve leave, shared between TCP clients and upstream
sockets), with a warning that tcp_max_connections (1024) does not fit; a burst of distinct
forwarded names gets SERVFAIL with an Extended DNS Error (RFC 8914, code 0 with its text) at once
beyond the upstream socket budget while the rest stay in flight; meanwhile TCP clients are still accepted and
answered, and the admin API still answers /healthz.

Traffic goes only to 127.0.0.1. Every wait is bounded; the server is stopped by PID.

usage: test_fd_limit.py --horizond PATH [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 only if nothing
failed.
"""
from __future__ import annotations

import re
import resource
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness import (NOERROR, SERVFAIL, CheckFailed, Checks, dns_answers, expect_exit_0,
                     expect_running, frame, framed_log_tail, free_port, make_tmp, parse_args,
                     parse_message, recv_frame, run_script, start_process, stop_process)
from test_forwarding import ENDPOINT, Upstream, make_query

SOFT, HARD = 128, 256
BUDGET = 0                  # the upstream sockets horizond allows itself (read from its log)
BURST = 400                 # distinct names sent at once: well over the budget
TIMEOUT_MS = 5000           # the silent upstream keeps every admitted question in flight
TIME_BUDGET = 60.0


class Env:
    horizond = ""
    tmp = Path()
    log = Path()
    port = 0
    admin_port = 0
    proc: subprocess.Popen | None = None
    silent: Upstream | None = None
    burst: socket.socket | None = None


ENV = Env()
check = Checks()


def low_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT, HARD))


@check("server.start", server=False)
def _():
    ENV.silent = Upstream("silent", silent=True)
    ENV.port, ENV.admin_port = free_port(), free_port(udp=False)
    cfg = ENV.tmp / "horizond.toml"
    cfg.write_text(f"""# written by tests/system/test_fd_limit.py
[server]
listen = ["127.0.0.1:{ENV.port}"]
workers = 2
admin_listen = "127.0.0.1:{ENV.admin_port}"
state_dir = "{ENV.tmp}"

[[cluster]]
name = "aews"
region = "ap-northeast-2"
endpoint = "{ENDPOINT.rstrip('.')}"
vpc_cidrs = ["127.10.0.0/16"]
private_ips = ["192.168.1.10"]
public_ips = ["203.0.113.10"]

[resolver]
upstreams = ["{ENV.silent.address}"]
allow_recursion = ["127.0.0.1/32"]
timeout = "{TIMEOUT_MS}ms"
""")
    ENV.proc = start_process([ENV.horizond, "--config", str(cfg)], ENV.log, preexec_fn=low_limit,
                             ready=lambda: dns_answers(ENV.port, ENDPOINT))


@check("rlimit.raised-and-logged")
def _():
    global BUDGET
    text = ENV.log.read_text(errors="replace")
    m = re.search(rf"open file limit {HARD} \(was {SOFT}, hard {HARD}\): at most (\d+) upstream "
                  r"queries in flight, (\d+) TCP connections", text)
    if m is None:
        raise CheckFailed("expected 'open file limit 256 (was 128, hard 256): at most N upstream "
                          "queries in flight, M TCP connections' in the log")
    BUDGET, tcp = int(m[1]), int(m[2])
    # What is left after the fixed share (about 80 descriptors here) goes half to each.
    if not 60 <= BUDGET <= HARD // 2 or not 60 <= tcp <= HARD // 2:
        raise CheckFailed(f"{BUDGET} upstream sockets and {tcp} TCP connections of {HARD}")
    warn = re.search(rf"tcp_max_connections = 1024 does not fit in the open file limit of {HARD} "
                     rf".*serving at most {tcp} TCP connections; raise the open file limit to at "
                     r"least \d+ \(ulimit -n, systemd LimitNOFILE=", text)
    if warn is None:
        raise CheckFailed("expected the warning that tcp_max_connections = 1024 does not fit")
    return f"{BUDGET} upstream sockets, {tcp} TCP connections"


@check("burst.servfail-ede-beyond-budget")
def _():
    ENV.burst = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ENV.burst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    ENV.burst.bind(("127.0.0.1", 0))
    t0 = time.monotonic()
    for i in range(BURST):
        ENV.burst.sendto(make_query(i, f"n{i}.burst.test"), ("127.0.0.1", ENV.port))
        if i % 50 == 49:
            time.sleep(0.02)  # let the workers keep up: a full socket buffer drops, not refuses
    answers = {}
    deadline = t0 + 2.0  # well before the upstream timeout: only refusals can come back
    while time.monotonic() < deadline:
        if not select.select([ENV.burst], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        m = parse_message(ENV.burst.recv(65535))
        answers[m.id] = m
    refused = [m for m in answers.values() if m.rcode == SERVFAIL]
    if len(refused) != len(answers):
        raise CheckFailed(f"{len(answers) - len(refused)} early answers were not SERVFAIL")
    if len(refused) < BURST - BUDGET - 10:
        raise CheckFailed(f"{len(refused)} SERVFAIL of {BURST}, expected about {BURST - BUDGET}")
    for m in refused:
        if m.ede() != (0, "too many upstream queries in flight"):
            raise CheckFailed(f"SERVFAIL without the expected EDE: {m.ede()}")
    in_flight = len(ENV.silent.queries())
    if not BUDGET - 10 <= in_flight <= BUDGET:
        raise CheckFailed(f"the upstream got {in_flight} queries, expected about {BUDGET}")
    return f"{len(refused)} SERVFAIL at once, {in_flight} upstream queries in flight"


@check("burst.tcp-and-admin-still-served")
def _():
    # The budget's questions are still in flight (the upstream is silent for TIMEOUT_MS).
    for i in range(5):
        with socket.create_connection(("127.0.0.1", ENV.port), timeout=3) as s:
            q = make_query(0x7000 + i, ENDPOINT)
            s.sendall(frame(q))
            m = parse_message(recv_frame(s))
        if m.rcode != NOERROR or m.id != 0x7000 + i:
            raise CheckFailed(f"TCP answer rcode {m.rcode} id {m.id:#x}")
    with socket.create_connection(("127.0.0.1", ENV.admin_port), timeout=3) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    if not reply.startswith(b"HTTP/1.1 200"):
        raise CheckFailed(f"admin /healthz: {reply[:80]!r}")
    if len(ENV.silent.queries()) < BUDGET - 10:
        raise CheckFailed("the admitted questions should still be in flight")


@check("server.sigterm-exits-0")
def _():
    expect_exit_0(ENV.proc, send=True)


def main() -> int:
    args = parse_args(__doc__, "horizond")
    ENV.horizond = args.horizond
    ENV.tmp, ENV.log = make_tmp("horizond-fd-limit-", log_dir=True)

    def cleanup():
        stop_process(ENV.proc)
        if ENV.burst is not None:
            ENV.burst.close()
        if ENV.silent is not None:
            ENV.silent.stop()
    return run_script(check, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: expect_running(ENV.proc), cleanup=cleanup,
                      log_excerpt=lambda: framed_log_tail(ENV.log, 60))


if __name__ == "__main__":
    sys.exit(main())
