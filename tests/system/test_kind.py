#!/usr/bin/env python3
"""System test of `horizonctl kind init`, from recorded `docker network inspect kind`, `kind get
kubeconfig` and CoreDNS ConfigMap output (tests/data/kind/): no Docker engine is needed.

Checks: the phase before the cluster exists (kind-cluster.yaml only); the four files in host mode
and in container mode (standard input too); every generated configuration passes
`horizond --check-config`; every generated YAML parses (kind's kubeadm patch included) and says
what it must (certSANs, the CoreDNS stub zone, the kubeconfig server); file modes; the errors
(file:line:col, exit 252). Then the lab itself, with the kind network replayed on loopback
(127.N.0.0/16: gateway .1 = the host, control plane .2, worker .3) and a stand-in API server: the
generated horizon.toml served by the real horizond, the seed lab's steps: public (everyone gets
the gate, kubectl's path through it on :6443 works from the host and a node), then public with
publicAccessCidrs restricted + private (a node gets the ENIs and keeps working, the host gets the
gate and times out), then private only.

usage: test_kind.py --horizond PATH --horizonctl PATH --data DIR [--only REGEX] [--keep]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 unless one failed.
"""
from __future__ import annotations

import http.server as http_server
import json
import os
import random
import stat
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    CheckFailed, Checks, Horizond, curl, dig, dig_short, expect_valid_config, framed_log_tail,
    free_port, parse_args, port_free, run, run_script, yaml_docs)

TIME_BUDGET = 150.0
FILES = ["horizon.toml", "coredns-configmap.yaml", "kind-cluster.yaml", "kubeconfig"]
NODE_FILES = ["20-horizon-dns.conf", "horizon-node-dns.sh"]


class Env:
    horizond = horizonctl = ""
    data = Path()
    tmp = Path()


ENV = Env()


def ctl(*args: str, stdin: str | None = None):
    return run([ENV.horizonctl, *args], stdin=stdin)


def load_yaml(path: Path):
    docs = yaml_docs(path.read_text(), path.name)
    return docs[0] if docs else None


def check_config(path: Path):
    expect_valid_config(ENV.horizond, path, show=True)


def toml_value(text: str, key: str):
    """The value of the first `key = ...` line, as JSON would read it (strings, arrays)."""
    for line in text.splitlines():
        if line.split("=")[0].strip() == key:
            return json.loads(line.split("=", 1)[1].strip())
    raise CheckFailed(f"no {key} in\n{text}")


def generate(out: Path, *extra: str, stdin: str | None = None) -> str:
    p = ctl("kind", "init", "--out", str(out), *extra, stdin=stdin)
    if p.returncode != 0:
        raise CheckFailed(f"horizonctl kind init exited {p.returncode}\n{p.stdout}{p.stderr}")
    return p.stdout


def endpoint_of(toml_text: str) -> str:
    return toml_value(toml_text, "endpoint")


# ------------------------------------------------------------------------------------------------
# The generator


def check_phase1():
    out = ENV.tmp / "phase1"
    text = generate(out, "--name", "aews")
    if sorted(os.listdir(out)) != ["kind-cluster.yaml", "node"] or \
            sorted(os.listdir(out / "node")) != NODE_FILES:
        raise CheckFailed(f"before the cluster exists only kind-cluster.yaml and node/: "
                          f"{os.listdir(out)}")
    for line in ("kind create cluster --config", "docker network inspect kind >",
                 "kind get kubeconfig --name aews >"):
        if line not in text:
            raise CheckFailed(f"next steps lack {line!r}:\n{text}")
    cluster = load_yaml(out / "kind-cluster.yaml")
    if cluster.get("kind") != "Cluster" or cluster.get("name") != "aews":
        raise CheckFailed(f"not kind's Cluster named aews: {cluster}")
    roles = [n["role"] for n in cluster["nodes"]]
    if roles != ["control-plane", "worker", "worker"]:
        raise CheckFailed(f"nodes: {roles}")


def check_host_mode():
    out = ENV.tmp / "host"
    summary = generate(out, "--network", str(ENV.data / "network-kind.json"),
                       "--kubeconfig", str(ENV.data / "kubeconfig-aews.yaml"),
                       "--coredns", str(ENV.data / "coredns-configmap.yaml"))
    if sorted(os.listdir(out)) != sorted(FILES + ["node"]) or \
            sorted(os.listdir(out / "node")) != NODE_FILES:
        raise CheckFailed(f"files: {sorted(os.listdir(out))}")
    modes = {f: stat.S_IMODE((out / f).stat().st_mode) for f in FILES}
    if modes["kubeconfig"] != 0o600 or modes["horizon.toml"] != 0o644:
        raise CheckFailed(f"modes (kubeconfig holds the client key: 0600): {modes}")
    check_config(out / "horizon.toml")
    toml = (out / "horizon.toml").read_text()
    ep = endpoint_of(toml)
    # CoreDNS: the gateway's 1053 (kind DNATs <gateway>:53 to Docker's DNS); the nodes'
    # resolv.conf: 53 on the host's IPv6 address on the network (kind's DNAT is IPv4 only).
    expect = {"listen": ["172.18.0.1:1053", "[fc00:f853:ccd:e793::1]:53", "127.0.0.1:1053"],
              "private_ips": ["172.18.0.2"], "public_ips": ["172.18.0.1"],
              "vpc_exclude_cidrs": ["fc00:f853:ccd:e793::1/128", "172.18.0.1/32"],
              "port": 6443, "upstream": "127.0.0.1:41263"}
    for key, want in expect.items():
        if toml_value(toml, key) != want:
            raise CheckFailed(f"{key} = {toml_value(toml, key)!r}, want {want!r}\n{toml}")

    # The kind cluster configuration: the endpoint name in the API server's certSANs, the same
    # file as before the cluster existed.
    cluster = load_yaml(out / "kind-cluster.yaml")
    patch = yaml_docs(cluster["kubeadmConfigPatches"][0], "the kubeadm patch")[0]
    # kind before v0.32 replaces its certSANs [localhost, 127.0.0.1] with the patch's list (a
    # JSON merge patch): the patch keeps them, and the control plane's name.
    if patch.get("kind") != "ClusterConfiguration" or patch["apiServer"]["certSANs"] != [
            ep, "localhost", "127.0.0.1", "aews-control-plane"]:
        raise CheckFailed(f"kubeadm patch: {patch}")
    # Every node mounts node/ (absolute: kind resolves a relative hostPath against its working
    # directory) and the kubelet drop-in that runs the script.
    node_dir = str((out / "node").resolve())
    for node in cluster["nodes"]:
        mounts = [(m["hostPath"], m["containerPath"], m["readOnly"]) for m in node["extraMounts"]]
        if mounts != [(node_dir, "/etc/horizon", True),
                      (node_dir + "/20-horizon-dns.conf",
                       "/etc/systemd/system/kubelet.service.d/20-horizon-dns.conf", True)]:
            raise CheckFailed(f"extraMounts of {node['role']}: {mounts}")
    dropin = (out / "node" / "20-horizon-dns.conf").read_text()
    if "[Service]\nExecStartPre=-/bin/sh /etc/horizon/horizon-node-dns.sh\n" not in dropin:
        raise CheckFailed(f"the kubelet drop-in:\n{dropin}")
    phase1 = ENV.tmp / "phase1" / "kind-cluster.yaml"
    if phase1.exists() and phase1.read_text().replace(
            str((ENV.tmp / "phase1").resolve()), str(out.resolve())) != \
            (out / "kind-cluster.yaml").read_text():
        raise CheckFailed("kind-cluster.yaml differs from the one written before the cluster")

    # CoreDNS: the cluster's own block kept, a stub zone for the endpoint forwarding to horizond.
    cm = load_yaml(out / "coredns-configmap.yaml")
    original = load_yaml(ENV.data / "coredns-configmap.yaml")
    corefile = cm["data"]["Corefile"]
    # The rest of the names go to Docker's DNS by address: the nodes' resolv.conf (which CoreDNS
    # would read) names horizond first, and CoreDNS does not move on after its REFUSED.
    kept = original["data"]["Corefile"].replace(
        "    forward . /etc/resolv.conf {",
        "    # horizon: was forward . /etc/resolv.conf (horizond, first there, refuses other "
        "names)\n    forward . 172.18.0.1 {")
    if not corefile.startswith(kept):
        raise CheckFailed(f"the original Corefile is not kept:\n{corefile}")
    block = f"{ep.lower()}:53 {{\n    errors\n    forward . 172.18.0.1:1053\n}}\n"
    if not corefile.endswith(block):
        raise CheckFailed(f"no stub zone block {block!r}:\n{corefile}")
    if set(cm["metadata"]) != {"name", "namespace"} or cm["metadata"]["name"] != "coredns":
        raise CheckFailed(f"metadata: {cm['metadata']}")

    # The kubeconfig: only the server changed.
    got = load_yaml(out / "kubeconfig")
    want = load_yaml(ENV.data / "kubeconfig-aews.yaml")
    want["clusters"][0]["cluster"]["server"] = f"https://{ep}:6443"
    if got != want:
        raise CheckFailed(f"kubeconfig: {json.dumps(got)[:400]}")
    if "bridge br-6a1c2b7e9f3d" not in summary:
        raise CheckFailed(f"the summary names no bridge:\n{summary}")


def check_container_mode():
    out = ENV.tmp / "container"
    generate(out, "--horizon-ip", "172.19.0.53", "--network", "-",
             "--kubeconfig", str(ENV.data / "kubeconfig-lab.yaml"),
             stdin=(ENV.data / "network-kind-ha.json").read_text())
    check_config(out / "horizon.toml")
    toml = (out / "horizon.toml").read_text()
    expect = {"listen": ["172.19.0.53:53", "127.0.0.1:53"], "admin_listen": "0.0.0.0:8053",
              "private_ips": ["172.19.0.3", "172.19.0.4"], "public_ips": ["172.19.0.53"],
              "upstream": "172.19.0.5:6443", "name": "lab"}
    for key, want in expect.items():
        if toml_value(toml, key) != want:
            raise CheckFailed(f"{key} = {toml_value(toml, key)!r}, want {want!r}\n{toml}")
    if len(toml_value(toml, "admin_token")) != 32:
        raise CheckFailed("no random admin token for a non-loopback admin API")
    corefile = load_yaml(out / "coredns-configmap.yaml")["data"]["Corefile"]
    if "forward . 172.19.0.53:53" not in corefile:
        raise CheckFailed(f"CoreDNS does not forward to horizond's container:\n{corefile}")


def check_node_script():
    """node/horizon-node-dns.sh as a kind node runs it before each kubelet start, on a copy of
    the resolv.conf kind's entrypoint writes, with a stand-in `ip` printing the node's routes."""
    tmp = ENV.tmp / "node-script"
    (tmp / "bin").mkdir(parents=True, exist_ok=True)
    ip = tmp / "bin" / "ip"
    routes = tmp / "routes"
    ip.write_text(f"#!/bin/sh\n[ \"$*\" = '-6 route show default' ] && cat {routes}\n")
    ip.chmod(0o755)
    env = {"PATH": f"{tmp / 'bin'}:/usr/bin:/bin"}
    kinds = "nameserver 172.18.0.1\noptions ndots:0\n"  # 127.0.0.11 rewritten to the gateway
    conf = tmp / "resolv.conf"

    def node_runs(script: Path) -> str:
        p = run(["/bin/sh", str(script), str(conf)], env=env)
        if p.returncode != 0:
            raise CheckFailed(f"{script.name} exited {p.returncode}: {p.stdout}{p.stderr}")
        return p.stderr

    host_script = ENV.tmp / "host" / "node" / "horizon-node-dns.sh"
    routes.write_text("default via fc00:f853:ccd:e793::1 dev eth0 metric 1024 pref medium\n")
    conf.write_text(kinds)
    inode = conf.stat().st_ino
    want = ("# horizon: horizond first (horizonctl kind init); the rest is kind's\n"
            "nameserver fc00:f853:ccd:e793::1\n" + kinds)
    for attempt in ("first", "again (every kubelet start)"):
        node_runs(host_script)
        if conf.read_text() != want:
            raise CheckFailed(f"resolv.conf after the script ({attempt}):\n{conf.read_text()}"
                              f"want:\n{want}")
    if conf.stat().st_ino != inode:
        raise CheckFailed("resolv.conf was replaced, not written in place (Docker bind-mounts it)")

    # A network without IPv6: the node keeps kind's resolv.conf, and says why.
    routes.write_text("")
    conf.write_text(kinds)
    said = node_runs(host_script)
    if conf.read_text() != kinds or "no IPv6 default route" not in said:
        raise CheckFailed(f"without IPv6: {conf.read_text()!r}, said {said!r}")

    # Container mode: horizond's own address.
    conf.write_text(kinds)
    node_runs(ENV.tmp / "container" / "node" / "horizon-node-dns.sh")
    if conf.read_text().splitlines()[1:3] != ["nameserver 172.19.0.53", "nameserver 172.18.0.1"]:
        raise CheckFailed(f"container mode:\n{conf.read_text()}")


def check_errors():
    bad = ENV.tmp / "bad.json"
    bad.write_text('[\n  {"Name": "kind",\n   "IPAM": }]\n')
    kc = str(ENV.data / "kubeconfig-aews.yaml")
    cases = [
        (["--network", str(bad), "--kubeconfig", kc], 252, f"{bad}:3:"),
        (["--network", str(bad), "--kubeconfig", kc], 252, ": error: not JSON"),
        (["--network", str(ENV.data / "network-kind.json"), "--kubeconfig", kc, "--name", "x"],
         252, "error: no control-plane node of kind cluster \"x\""),
        (["--network", str(ENV.data / "network-kind.json")], 252,
         "--network and --kubeconfig go together"),
        (["--bogus", "1"], 252, "Unknown options: --bogus"),
        (["--dns-port", "70000"], 252, "argument --dns-port: invalid port '70000'"),
        (["--horizon-ip", "fc00::53"], 252, "not an IPv4 address"),
        # Port 53 at the gateway is Docker's DNS for every node and pod (kind's entrypoint).
        (["--dns-port", "53", "--network", str(ENV.data / "network-kind.json"),
          "--kubeconfig", kc], 252, "horizonctl: error: --dns-port 53: kind's node entrypoint "
         "DNATs every packet a node or pod sends to 172.18.0.1:53 to Docker's embedded DNS"),
        # A fixed address on an IPv4 range Docker chose (kind pins only its IPv6 /64).
        (["--horizon-ip", "172.18.0.53", "--network", str(ENV.data / "network-kind.json"),
          "--kubeconfig", kc], 252, "horizonctl: error: --horizon-ip 172.18.0.53: the IPv4 "
         "subnet 172.18.0.0/16 of network kind is not pinned"),
        (["--network", str(ENV.tmp / "missing.json"), "--kubeconfig", kc], 255,
         "cannot read"),
    ]
    for args, code, text in cases:
        p = ctl("kind", "init", "--out", str(ENV.tmp / "err"), *args)
        if p.returncode != code or text not in p.stderr:
            raise CheckFailed(f"kind init {' '.join(args)}: exit {p.returncode} (want {code}), "
                              f"stderr lacks {text!r}:\n{p.stderr}")
    p = ctl("kind", "--help")
    if p.returncode != 0 or "usage: horizonctl kind init" not in p.stdout:
        raise CheckFailed(f"kind --help:\n{p.stdout}{p.stderr}")


# ------------------------------------------------------------------------------------------------
# The lab on loopback


class FakeApiServer:
    """A plain-HTTP stand-in for kube-apiserver on 127.0.0.1: GET /version answers JSON with
    the peer it saw (the gate proxies byte for byte, so plain HTTP passes like TLS would)."""

    def __init__(self):
        class Handler(http_server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = json.dumps({"gitVersion": "v1.31.0", "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Lab:
    net = ""
    gateway = control_plane = worker = ""
    dns_port = admin_port = api_port = 0
    ep = ""
    horizond: Horizond | None = None
    api: FakeApiServer | None = None


LAB = Lab()


def lab_network_json() -> str:
    """network-kind.json with its IPv4 subnet moved to 127.N.0.0/16."""
    text = (ENV.data / "network-kind.json").read_text()
    return text.replace("172.18.", f"127.{LAB.net}.")


def start_lab():
    LAB.net = str(random.randrange(100, 200))
    LAB.gateway, LAB.control_plane, LAB.worker = (f"127.{LAB.net}.0.{i}" for i in (1, 2, 3))
    for _ in range(50):
        LAB.dns_port = free_port(LAB.gateway)
        if port_free("127.0.0.1", LAB.dns_port):
            break
    LAB.admin_port = free_port()
    LAB.api = FakeApiServer()
    out = ENV.tmp / "lab"
    out.mkdir(exist_ok=True)
    (out / "network.json").write_text(lab_network_json())
    kubeconfig = (ENV.data / "kubeconfig-aews.yaml").read_text().replace(
        "127.0.0.1:41263", f"127.0.0.1:{LAB.api.port}")
    (out / "kind-kubeconfig.yaml").write_text(kubeconfig)
    generate(out, "--network", str(out / "network.json"), "--kubeconfig",
             str(out / "kind-kubeconfig.yaml"), "--dns-port", str(LAB.dns_port),
             "--admin-port", str(LAB.admin_port), "--pod-subnet", "")
    toml = (out / "horizon.toml").read_text()
    LAB.ep = endpoint_of(toml)
    # 6443 as generated, unless something on this machine holds it on these addresses.
    LAB.api_port = 6443
    if not (port_free(LAB.gateway, 6443) and port_free(LAB.control_plane, 6443)):
        LAB.api_port = free_port(LAB.gateway)
        toml = toml.replace("port = 6443", f"port = {LAB.api_port}")
    # The nodes' listener on the host's IPv6 address of the network: no such address here.
    if '"[fc00:f853:ccd:e793::1]:53", ' not in toml:
        raise CheckFailed(f"no node listener in\n{toml}")
    toml = toml.replace('"[fc00:f853:ccd:e793::1]:53", ', "")
    (out / "horizon.toml").write_text(toml)
    LAB.horizond = Horizond(ENV.horizond, out / "horizon.toml", ENV.tmp / "state",
                            ENV.tmp / "horizond.log", f"127.0.0.1:{LAB.admin_port}")
    LAB.horizond.start()


def answers(source: str, tcp: bool = False) -> list[str]:
    return dig_short(LAB.gateway, LAB.dns_port, LAB.ep, src=source, tcp=tcp)


def expect_answers(source: str, want: list[str], what: str):
    for tcp in (False, True):
        got = answers(source, tcp)
        if got != want:
            raise CheckFailed(f"{what} ({'tcp' if tcp else 'udp'}, from {source}): {got}, "
                              f"want {want}")


def kubectl_like(source: str, address: str) -> tuple[int, str]:
    """GET https://<endpoint>:6443/version as kubectl would, resolved to `address` (plain HTTP
    here: the stand-in API server speaks it and the gate passes bytes through)."""
    p = curl(f"http://{LAB.ep}:{LAB.api_port}/version",
             resolve=f"{LAB.ep}:{LAB.api_port}:{address}", interface=source, max_time=2)
    return p.returncode, p.stdout


def expect_api(source: str, address: str, ok: bool, what: str):
    code, body = kubectl_like(source, address)
    if ok and (code != 0 or "v1.31.0" not in body):
        raise CheckFailed(f"{what}: curl from {source} to {address} exited {code}: {body}\n"
                          + LAB.horizond.tail())
    if not ok and code != 28:
        raise CheckFailed(f"{what}: curl from {source} to {address} should time out (exit 28), "
                          f"exited {code}: {body}")


def update(vpc: str):
    p = ctl("--endpoint-url", f"http://127.0.0.1:{LAB.admin_port}", "update-cluster-config",
            "--name", "aews", "--resources-vpc-config", vpc)
    if p.returncode != 0:
        raise CheckFailed(f"update-cluster-config {vpc}: exit {p.returncode}\n{p.stderr}")


def check_lab_public():
    # EKS's default, where the seed lab starts: everyone gets the NLB (the gate).
    expect_answers(LAB.worker, [LAB.gateway], "public: a node gets the NLB")
    expect_answers(LAB.gateway, [LAB.gateway], "public: the host (bridge gateway) gets the NLB")
    expect_answers("127.0.0.1", [LAB.gateway], "public: the host (loopback) gets the NLB")
    expect_api(LAB.gateway, LAB.gateway, True, "the host through the gate")
    expect_api(LAB.worker, LAB.gateway, True, "a node through the gate")
    # Every other name a node asks horizond (first in its resolv.conf) is REFUSED, so glibc and
    # Go ask the next nameserver, Docker's DNS; an answer (NXDOMAIN) would stop them there.
    for name in ("registry.k8s.io", "aews-control-plane"):
        r = dig("dig", LAB.gateway, LAB.dns_port, name, src=LAB.worker)
        if r.status != "REFUSED" or r.answer:
            raise CheckFailed(f"a node's query for {name}: {r.status} {r.answer}, want REFUSED")


def check_lab_restrict():
    # The seed lab's update: public (restricted to one address) + private.
    update('endpointPublicAccess=true,publicAccessCidrs="203.0.113.5/32",'
           'endpointPrivateAccess=true')
    # A node (and a pod, whose queries CoreDNS forwards from the node's address) is inside.
    expect_answers(LAB.worker, [LAB.control_plane], "public+private: a node gets the ENIs")
    # The host: its traffic to the network comes from the bridge gateway, carved out.
    expect_answers(LAB.gateway, [LAB.gateway], "public+private: the host gets the NLB")
    expect_answers("127.0.0.1", [LAB.gateway], "public+private: the host gets the NLB")
    expect_api(LAB.gateway, LAB.gateway, False, "the host outside publicAccessCidrs")
    expect_api(LAB.worker, LAB.control_plane, True, "in-cluster access keeps working")


def check_lab_private():
    update("endpointPublicAccess=false,endpointPrivateAccess=true")
    expect_answers(LAB.gateway, [LAB.control_plane], "private only: the host gets the ENIs")
    expect_answers(LAB.worker, [LAB.control_plane], "private only: a node gets the ENIs")


def main() -> int:
    a = parse_args(__doc__, "horizond", "horizonctl", "data", tools=("dig", "curl"))
    ENV.horizond, ENV.horizonctl = a.horizond, a.horizonctl
    ENV.data = Path(a.data) / "kind"
    ENV.tmp = Path(tempfile.mkdtemp(prefix="horizon-kind-"))

    def lab_alive():
        if LAB.horizond is None:
            raise CheckFailed("the lab's horizond was not started")
        LAB.horizond.alive()

    checks = Checks()
    checks.add_all([("kind.before-the-cluster", check_phase1, False),
                    ("kind.host-mode", check_host_mode, False),
                    ("kind.container-mode", check_container_mode, False),
                    ("kind.node-script", check_node_script, False),
                    ("kind.errors", check_errors, False),
                    ("lab.start", start_lab, False),
                    ("lab.public", check_lab_public, True),
                    ("lab.public-restricted-and-private", check_lab_restrict, True),
                    ("lab.private-only", check_lab_private, True)])

    def cleanup():
        if LAB.horizond is not None:
            LAB.horizond.stop()
        if LAB.api is not None:
            LAB.api.close()
    return run_script(checks, a, tmp=ENV.tmp, time_budget=TIME_BUDGET, server_alive=lab_alive,
                      cleanup=cleanup,
                      log_excerpt=lambda: framed_log_tail(ENV.tmp / "horizond.log"))


if __name__ == "__main__":
    sys.exit(main())
