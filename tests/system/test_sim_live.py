#!/usr/bin/env python3
"""horizon-sim live against a real horizond on loopback: --dns sends each node's lookups as UDP
queries carrying the node's address as EDNS Client Subnet (horizond trusts ECS from 127.0.0.0/8
here), --control applies the scenario's update through horizond's admin API, --speed paces
virtual time (10x). horizond's NLB addresses differ from the scenario's on purpose, so that an
answer printed by the sim can only have come from horizond. Also: --plot renders SVG charts."""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import CheckFailed, finish, framed_log_tail, run_checks, stop_process

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


def free_port() -> int:
    """A port free for UDP and TCP on 127.0.0.1 (held only while probing)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise CheckFailed("no free port on 127.0.0.1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--horizond", required=True)
    ap.add_argument("--only")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="horizon-sim-live-"))
    log = tmp / "horizond.log"
    dns_port, admin_port = free_port(), free_port()
    state: dict = {}

    def admin(path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}{path}", timeout=5) as r:
            return json.loads(r.read())

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
        with open(log, "wb") as out:
            state["proc"] = subprocess.Popen([a.horizond, "--config", str(cfg), "--state-dir",
                                              str(tmp / "state")], stdout=out,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # readiness: /healthz and a DNS answer
            if state["proc"].poll() is not None:
                raise CheckFailed("horizond exited at start-up:\n" + framed_log_tail(log))
            try:
                admin("/clusters")
                r = subprocess.run(["dig", "@127.0.0.1", "-p", str(dns_port), "+short",
                                    "+time=1", "+tries=1", ENDPOINT], capture_output=True,
                                   text=True, timeout=5)
                if "203.0.113.99" in r.stdout:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise CheckFailed("horizond did not become ready:\n" + framed_log_tail(log))

    def run_live():
        sc = tmp / "live.toml"
        sc.write_text(SCENARIO.format(cluster=CLUSTER.format(
            ep=ENDPOINT, public='["203.0.113.10", "203.0.113.20"]', update="10s")))
        t0 = time.monotonic()
        r = subprocess.run([a.sim, "run", str(sc), "--format", "json", "--speed", "10",
                            "--dns", f"127.0.0.1:{dns_port}",
                            "--control", f"http://127.0.0.1:{admin_port}"],
                           capture_output=True, text=True, timeout=60)
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
        r = subprocess.run([a.sim, "run", str(Path(__file__).resolve().parents[2] /
                                              "config/scenarios/node-failure.toml"),
                            "--plot", str(out)], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise CheckFailed(r.stderr)
        for name in ("nodes.svg", "load.svg", "dns.svg"):
            text = (out / name).read_text()
            if "<svg" not in text or "Unknown" not in (out / "nodes.svg").read_text():
                raise CheckFailed(f"{name} is not the expected SVG chart")

    checks = [("server.start", start, False),
              ("live.run", run_live, True),
              ("live.answers-from-horizond", answers_from_horizond, False),
              ("live.update-through-admin-api", update_through_admin_api, True),
              ("live.flip-seen-via-ecs", flip_seen_via_ecs, False),
              ("live.kubelet-moved-after-restart", kubelet_moved, False),
              ("live.speed-paces", paced, False),
              ("plot.svg", plot, False)]

    def alive():
        if state.get("proc") is None or state["proc"].poll() is not None:
            raise CheckFailed("horizond is not running")

    try:
        passed, failed = run_checks(checks, only=a.only, time_budget=120, server_alive=alive)
    finally:
        if state.get("proc") is not None:
            stop_process(state["proc"])
    return finish(passed, failed, started=started, tmp=tmp, keep=a.keep,
                  log_excerpt=lambda: framed_log_tail(log))


if __name__ == "__main__":
    sys.exit(main())
