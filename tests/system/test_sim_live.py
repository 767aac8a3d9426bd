#!/usr/bin/env python3
"""horizon-sim live against a real horizond on loopback: --dns sends each node's lookups as UDP
queries carrying the node's address as EDNS Client Subnet (horizond trusts ECS from 127.0.0.0/8
here), --control applies the scenario's update through horizond's admin API, --speed paces
virtual time (10x). horizond's NLB addresses differ from the scenario's on purpose, so that an
answer printed by the sim can only have come from horizond. Also: --plot renders SVG charts."""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from harness import (CheckFailed, Checks, dig_short, expect_running, framed_log_tail, free_port,
                     http, make_tmp, parse_args, run, run_script, start_process, stop_process)

ENDPOINT = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com"

CLUSTER = """name = "live"
region = "ap-northeast-2"
endpoint = "{ep}"
vpc_cidrs = ["10.0.0.0/16"]
private_ips = ["10.0.1.20", "10.0.2.20"]
public_ips = {public}
access_mode = "public"
ttl = 5
update_duration = "{update}"
"""

SCENARIO = """[scenario]
duration = "30s"
[cluster]
{cluster}
[[cluster.subnet]]
id = "a"
cidr = "10.0.1.0/24"
az = "ap-northeast-2a"
nat_ip = "198.51.100.1"
[[cluster.node_group]]
name = "ng"
nodes = 1
subnets = ["a"]
[[host]]
name = "laptop"
address = "192.0.2.7"
[[step]]
at = "1s"
do = "dig"
from = "ip-10-0-1-10"
[[step]]
at = "2s"
do = "update-cluster-config"
resources_vpc_config = "endpointPublicAccess=true,endpointPrivateAccess=true"
[[step]]
at = "20s"
do = "dig"
from = "ip-10-0-1-10"
[[step]]
at = "20s"
do = "dig"
from = "laptop"
[[step]]
at = "25s"
do = "restart"
target = "kubelet"
all = true
[[step]]
at = "26s"
do = "ss"
"""


def main() -> int:
    a = parse_args(__doc__, "sim", "horizond", tools=("dig",))
    tmp, log = make_tmp("horizon-sim-live-")
    dns_port, admin_port = free_port(), free_port(udp=False)
    state: dict = {}

    def admin(path: str) -> dict:
        return http("GET", f"http://127.0.0.1:{admin_port}{path}").json()

    def ready() -> bool:  # /clusters and a DNS answer only horizond gives
        try:
            admin("/clusters")
        except CheckFailed:
            return False
        return "203.0.113.99" in dig_short("127.0.0.1", dns_port, ENDPOINT, strict=False, wait=1)

    def start():
        (tmp / "state").mkdir()
        cfg = tmp / "horizond.toml"
        cfg.write_text(f"""[server]
listen = ["127.0.0.1:{dns_port}"]
admin_listen = "127.0.0.1:{admin_port}"
trusted_ecs_sources = ["127.0.0.0/8"]
workers = 1

[[cluster]]
""" + CLUSTER.format(ep=ENDPOINT, public='["203.0.113.10", "203.0.113.99"]', update="1s"))
        state["proc"] = start_process([a.horizond, "--config", str(cfg), "--state-dir",
                                       str(tmp / "state")], log, ready=ready, timeout=15)

    def run_live():
        sc = tmp / "live.toml"
        sc.write_text(SCENARIO.format(cluster=CLUSTER.format(
            ep=ENDPOINT, public='["203.0.113.10", "203.0.113.20"]', update="10s")))
        t0 = time.monotonic()
        r = run([a.sim, "run", str(sc), "--format", "json", "--speed", "10",
                 "--dns", f"127.0.0.1:{dns_port}", "--control", f"http://127.0.0.1:{admin_port}"],
                timeout=60)
        state["wall"] = time.monotonic() - t0
        if r.returncode != 0 or r.stderr:
            raise CheckFailed(f"exit {r.returncode}: {r.stderr}")
        state["events"] = [json.loads(x) for x in r.stdout.splitlines()]

    def digs():
        return [e for e in state["events"] if e["type"] == "observe" and "answers" in e]

    def answers_from_horizond():
        first = digs()[0]
        # Only horizond has 203.0.113.99: the answer came over UDP, not from the sim's engine.
        if sorted(first["answers"]) != ["203.0.113.10", "203.0.113.99"]:
            raise CheckFailed(f"t=1s from the node: {first}")

    def update_through_admin_api():
        upd = [e for e in state["events"] if e["text"].startswith("aws eks update-cluster")][0]
        if upd.get("status") != 200 or upd.get("live_status") != 200:
            raise CheckFailed(str(upd))
        cfg = admin("/clusters/live")["cluster"]["resourcesVpcConfig"]
        if not cfg["endpointPrivateAccess"]:
            raise CheckFailed(f"horizond did not get the update: {cfg}")

    def flip_seen_via_ecs():
        node, laptop = digs()[1], digs()[2]
        # ECS 10.0.1.10 is inside horizond's VPC: the ENIs; ECS 192.0.2.7 is outside: the NLB.
        if sorted(node["answers"]) != ["10.0.1.20", "10.0.2.20"]:
            raise CheckFailed(f"t=20s from the node: {node}")
        if sorted(laptop["answers"]) != ["203.0.113.10", "203.0.113.99"]:
            raise CheckFailed(f"t=20s from the laptop: {laptop}")

    def kubelet_moved():
        ss = [e for e in state["events"] if e["text"].startswith("ss -tnp")][0]
        peer = ss["nodes"][0]["kubelet"]
        if peer["state"] != "ESTAB" or peer["peer"] not in ("10.0.1.20", "10.0.2.20"):
            raise CheckFailed(f"after the restart: {ss}")

    def paced():
        # 30 s of virtual time at --speed 10: about 3 s of wall time.
        if not 2.8 <= state["wall"] < 20:
            raise CheckFailed(f"took {state['wall']:.2f} s of wall time, expected about 3")
        return f"{state['wall']:.2f}s"

    def plot():
        if shutil.which("gnuplot") is None:
            raise CheckFailed("gnuplot is not installed (Debian package gnuplot-nox)")
        out = tmp / "plots"
        r = run([a.sim, "run", str(Path(__file__).resolve().parents[2] /
                                   "config/scenarios/node-failure.toml"), "--plot", str(out)],
                timeout=60)
        if r.returncode != 0:
            raise CheckFailed(r.stderr)
        for name in ("nodes.svg", "load.svg", "dns.svg"):
            text = (out / name).read_text()
            if "<svg" not in text or "Unknown" not in (out / "nodes.svg").read_text():
                raise CheckFailed(f"{name} is not the expected SVG chart")

    checks = Checks()
    checks.add_all([("server.start", start, False),
                    ("live.run", run_live, True),
                    ("live.answers-from-horizond", answers_from_horizond, False),
                    ("live.update-through-admin-api", update_through_admin_api, True),
                    ("live.flip-seen-via-ecs", flip_seen_via_ecs, False),
                    ("live.kubelet-moved-after-restart", kubelet_moved, False),
                    ("live.speed-paces", paced, False),
                    ("plot.svg", plot, False)])
    return run_script(checks, a, tmp=tmp, time_budget=120,
                      server_alive=lambda: expect_running(state.get("proc")),
                      cleanup=lambda: stop_process(state.get("proc")),
                      log_excerpt=lambda: framed_log_tail(log))


if __name__ == "__main__":
    sys.exit(main())
