#!/usr/bin/env python3
"""System test of `horizonctl kind doctor`: the real horizonctl against stand-in `docker`,
`kubectl` and `dig` commands (first on PATH) that print recorded output (tests/data/kind/ and
tests/data/kind/doctor/), and a real horizond serving the lab's horizon.toml (written by
`horizonctl kind init` from the recorded network, moved to loopback ports) whose admin API's
explain says what each source should get. No Docker engine or cluster is needed.

Cases: a healthy lab (host, three nodes and a pod each get horizond's answer: exit 0); CoreDNS
forwarding to the gateway's :53, which kind DNATs to Docker's DNS (the pod path fails, the fix
re-runs kind init); a node that resolves through Docker's DNS and gets the NLB instead of the
ENIs (with and without the lab's node script mounted); the host's resolver not asking horizond;
horizond not running; docker missing (exit 255); usage errors.

usage: test_kind_doctor.py --horizond PATH --horizonctl PATH --data DIR [--only REGEX] [--keep]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 unless one failed.
"""
from __future__ import annotations

import json
import re
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    CheckFailed, Checks, Horizond, clean_env, framed_log_tail, free_port, parse_args, run,
    run_script)

TIME_BUDGET = 60.0
NODES = ["aews-control-plane", "aews-worker", "aews-worker2"]

# One stand-in for docker, kubectl and dig: logs its argv, answers from the case directory.
FAKE = r'''#!/usr/bin/python3
import os, shlex, sys
case = os.environ["FAKE_CASE"]
tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(os.path.join(case, "calls.log"), "a") as log:
    log.write(shlex.join([tool] + args) + "\n")

def answer(name, status=0):
    path = os.path.join(case, name)
    if not os.path.exists(path):
        sys.stderr.write(f"{tool}: no fixture {name} for {shlex.join(args)}\n")
        sys.exit(99)
    sys.stdout.write(open(path).read())
    sys.exit(status)

if tool == "docker" and args[:2] == ["network", "inspect"]:
    answer("network.json")
if tool == "docker" and args[0] == "exec":
    node, cmd = args[1], args[2:]
    if cmd == ["cat", "/etc/resolv.conf"]:
        answer(f"resolv.{node}")
    if cmd[:2] == ["getent", "ahostsv4"]:
        answer(f"getent.{node}")
    if cmd[:2] == ["test", "-f"]:
        sys.exit(0 if os.path.exists(os.path.join(case, f"script.{node}")) else 1)
if tool == "kubectl" and "configmap" in args and "coredns" in args:
    answer("coredns.yaml")
if tool == "kubectl" and ("run" in args or "exec" in args):
    answer("pod.txt")
if tool == "dig":
    answer("dig-host.txt")
sys.stderr.write(f"{tool}: unexpected {shlex.join(args)}\n")
sys.exit(98)
'''


class Env:
    horizond = horizonctl = ""
    data = Path()
    tmp = Path()
    lab = Path()
    admin_port = 0
    server: Horizond | None = None
    bin = Path()


ENV = Env()


def ctl(*args: str, env: dict | None = None):
    return run([ENV.horizonctl, *args], env=env)


def start():
    ENV.lab = ENV.tmp / "lab"
    p = ctl("kind", "init", "--out", str(ENV.lab), "--network",
            str(ENV.data / "network-kind.json"), "--kubeconfig",
            str(ENV.data / "kubeconfig-aews.yaml"))
    if p.returncode != 0:
        raise CheckFailed(f"kind init: {p.returncode}\n{p.stderr}")
    # horizond on loopback ports, without the gate (it would listen on 172.18.0.1:6443): only
    # its decisions (explain) matter here. The DNS port is what `dig @127.0.0.1 -p` would use.
    toml = (ENV.lab / "horizon.toml").read_text()
    dns_port, ENV.admin_port = free_port(), free_port(udp=False)
    toml = re.sub(r"(?m)^listen = .*$", f'listen = ["127.0.0.1:{dns_port}"]', toml)
    toml = toml.replace('admin_listen = "127.0.0.1:8053"',
                        f'admin_listen = "127.0.0.1:{ENV.admin_port}"')
    toml = toml[:toml.index("[cluster.api]")]
    (ENV.lab / "horizon.toml").write_text(toml)
    ENV.server = Horizond(ENV.horizond, ENV.lab / "horizon.toml", ENV.tmp / "state",
                          ENV.tmp / "horizond.log", f"127.0.0.1:{ENV.admin_port}")
    ENV.server.start()
    # The seed lab's update: private access on, so nodes and pods get the ENIs, the host the NLB.
    p = ctl("--endpoint-url", f"http://127.0.0.1:{ENV.admin_port}", "update-cluster-config",
            "--name", "aews", "--resources-vpc-config",
            "endpointPublicAccess=true,endpointPrivateAccess=true")
    if p.returncode != 0:
        raise CheckFailed(f"update-cluster-config: {p.returncode}\n{p.stderr}")
    ENV.bin = ENV.tmp / "bin"
    ENV.bin.mkdir()
    (ENV.bin / "fake").write_text(FAKE)
    (ENV.bin / "fake").chmod(0o755)
    for tool in ("docker", "kubectl", "dig"):
        (ENV.bin / tool).symlink_to("fake")


def make_case(name: str, *, resolv: dict[str, str] | None = None,
              getent: dict[str, str] | None = None, script: bool = True,
              coredns: Path | None = None, pod: str = "pod-eni.txt",
              host: str = "dig-host-nlb.txt") -> Path:
    """A case directory: each fixture the stand-ins print, healthy unless told otherwise."""
    case = ENV.tmp / name
    case.mkdir()
    fx = ENV.data / "doctor"
    (case / "network.json").write_text((ENV.data / "network-kind.json").read_text())
    for node in NODES:
        (case / f"resolv.{node}").write_text(
            (fx / (resolv or {}).get(node, "resolv-horizond.conf")).read_text())
        (case / f"getent.{node}").write_text(
            (fx / (getent or {}).get(node, "getent-eni.txt")).read_text())
        if script:
            (case / f"script.{node}").write_text("")
    # What `kubectl get configmap coredns -o yaml` shows once the lab's ConfigMap is applied.
    cm = coredns or ENV.lab / "coredns-configmap.yaml"
    (case / "coredns.yaml").write_text(cm.read_text())
    (case / "pod.txt").write_text((fx / pod).read_text())
    (case / "dig-host.txt").write_text((fx / host).read_text())
    return case


def doctor(case: Path, *extra: str, path: str | None = None):
    env = clean_env(FAKE_CASE=str(case), PATH=path or f"{ENV.bin}:/usr/bin:/bin")
    p = ctl("kind", "doctor", "--lab", str(ENV.lab), *extra, env=env)
    return p, p.stdout + p.stderr


def expect(text: str, *lines: str):
    for line in lines:
        if line not in text:
            raise CheckFailed(f"the report lacks {line!r}:\n{text}")


def section(text: str, head: str) -> str:
    """The report's lines for one path (from its heading to the next unindented line)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith(head):
            inside = True
        elif inside and line and not line.startswith(" "):
            break
        if inside:
            out.append(line)
    if not out:
        raise CheckFailed(f"no section {head!r} in\n{text}")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------


def check_healthy():
    case = make_case("healthy")
    p, text = doctor(case)
    if p.returncode != 0:
        raise CheckFailed(f"exit {p.returncode} on a healthy lab:\n{text}")
    expect(text, "5 of 5 paths get horizond's answer",
           "network kind (bridge br-6a1c2b7e9f3d): gateway 172.18.0.1, fc00:f853:ccd:e793::1; "
           "the nodes' horizond: [fc00:f853:ccd:e793::1]:53")
    host = section(text, "host")
    expect(host, "got       172.18.0.1 (the NLB)",
           "expected  172.18.0.1 (the NLB), horizond's answer for source 172.18.0.1 (in-vpc no: "
           "inside vpc_exclude_cidrs entry 172.18.0.1/32; mode public+private", "  ok")
    worker = section(text, "node aews-worker ")
    expect(worker, "resolver  fc00:f853:ccd:e793::1 (horizond), then 172.18.0.1 (Docker's DNS via "
           "kind's DNAT of the gateway's :53)", "got       172.18.0.2 (the ENIs)",
           "horizond's answer for source fc00:f853:ccd:e793::3 (in-vpc yes", "  ok")
    pod = section(text, "pod")
    expect(pod, "stub zone forwards the endpoint's zone to 172.18.0.1:1053",
           "got       172.18.0.2 (the ENIs)",
           "horizond  asked directly at 172.18.0.1:1053: 172.18.0.2 (the ENIs)",
           "horizond's answer for source 10.244.1.5", "  ok")
    if "warning" in pod:
        raise CheckFailed(f"a warning on the lab's own ConfigMap:\n{pod}")
    # What it ran: each node through docker exec, the pod through kubectl run at the stub target.
    calls = (case / "calls.log").read_text().splitlines()
    for node in NODES:
        if f"docker exec {node} getent ahostsv4 {ep()}" not in calls:
            raise CheckFailed(f"no getent on {node}: {calls}")
    run_call = [c for c in calls if c.startswith("kubectl --context kind-aews run horizon-doctor")]
    if not run_call or f"-p 1053 @172.18.0.1 {ep()}" not in shlex.split(run_call[0])[-1]:
        raise CheckFailed(f"the pod's lookups: {run_call}")


def ep() -> str:
    return "447DED24D97675364BC3BAD1611DB84C.gr7.ap-northeast-2.eks.amazonaws.com"


def check_gateway_53_hijacked():
    case = make_case("hijacked", coredns=ENV.data / "doctor" / "coredns-hijacked.yaml",
                     pod="pod-hijacked.txt")
    p, text = doctor(case)
    if p.returncode != 1:
        raise CheckFailed(f"exit {p.returncode}, want 1:\n{text}")
    pod = section(text, "pod")
    expect(pod, "stub zone forwards the endpoint's zone to 172.18.0.1:53", "got       no address",
           "FAIL      the stub zone forwards to 172.18.0.1:53, which kind's node entrypoint "
           "DNATs (PREROUTING, so pods too) to Docker's embedded DNS: horizond never sees the "
           "query",
           "fix       horizonctl kind init again (CoreDNS then forwards to 172.18.0.1:1053), then "
           f"kubectl --context kind-aews apply -f {ENV.lab}/coredns-configmap.yaml",
           "warning   CoreDNS forwards other names to /etc/resolv.conf")
    expect(text, "4 of 5 paths get horizond's answer")


def check_node_gets_the_nlb():
    # aews-worker: kind's resolv.conf (the drop-in has not run since the node started);
    # aews-worker2: the same, and the cluster was not created with the lab's kind-cluster.yaml.
    case = make_case("nlb", resolv={"aews-worker": "resolv-kind.conf",
                                    "aews-worker2": "resolv-kind.conf"},
                     getent={"aews-worker": "getent-nlb.txt", "aews-worker2": "getent-nlb.txt"})
    (case / "script.aews-worker2").unlink()
    p, text = doctor(case, "--no-pod")
    if p.returncode != 1:
        raise CheckFailed(f"exit {p.returncode}, want 1:\n{text}")
    w = section(text, "node aews-worker ")
    expect(w, "resolver  172.18.0.1 (Docker's DNS via kind's DNAT of the gateway's :53)",
           "got       172.18.0.1 (the NLB)",
           "expected  172.18.0.2 (the ENIs), horizond's answer for source 172.18.0.3",
           "FAIL      the node asks 172.18.0.1:53 first, as kind's entrypoint wrote; kind DNATs "
           "that to Docker's embedded DNS, which forwards to the host's resolvers, so horizond "
           "sees the host (outside) if anything: the NLB instead of the ENIs",
           "fix       the kubelet drop-in has not run since the node started (or found no IPv6 "
           "route: journalctl -u kubelet): docker exec aews-worker systemctl restart kubelet")
    w2 = section(text, "node aews-worker2")
    expect(w2, "fix       the cluster was not created with "
           f"{ENV.lab}/kind-cluster.yaml (no /etc/horizon/horizon-node-dns.sh in the node)")
    expect(section(text, "node aews-control-plane"), "  ok")
    expect(text, "2 of 4 paths get horizond's answer")
    if "pod (CoreDNS)" in text:
        raise CheckFailed(f"--no-pod still looked at a pod:\n{text}")


def check_public_mode_hides_it():
    """In public mode the NLB is everyone's answer, so a node asking Docker's DNS gets it too:
    still a failure (it will not follow the switch to private access)."""
    p = ctl("--endpoint-url", f"http://127.0.0.1:{ENV.admin_port}", "update-cluster-config",
            "--name", "aews", "--resources-vpc-config", "endpointPrivateAccess=false")
    if p.returncode != 0:
        raise CheckFailed(f"update-cluster-config: {p.returncode}\n{p.stderr}")
    try:
        case = make_case("public", resolv={"aews-worker": "resolv-kind.conf"},
                         getent={n: "getent-nlb.txt" for n in NODES})
        (case / "pod.txt").write_text(
            (ENV.data / "doctor" / "pod-eni.txt").read_text().replace("172.18.0.2", "172.18.0.1"))
        p, text = doctor(case)
        expect(section(text, "node aews-worker "), "got       172.18.0.1 (the NLB)",
               "expected  172.18.0.1 (the NLB)", "FAIL      the answer is right only because both "
               "views get it now: the node asks 172.18.0.1:53 first")
        expect(section(text, "node aews-worker2"), "  ok")
        expect(text, "4 of 5 paths get horizond's answer")
        if p.returncode != 1:
            raise CheckFailed(f"exit {p.returncode}, want 1")
    finally:
        ctl("--endpoint-url", f"http://127.0.0.1:{ENV.admin_port}", "update-cluster-config",
            "--name", "aews", "--resources-vpc-config", "endpointPrivateAccess=true")


def check_host_resolver():
    case = make_case("host", host="dig-host-none.txt")
    p, text = doctor(case, "--no-pod")
    host = section(text, "host")
    expect(host, "got       no address",
           "FAIL      the host's resolver does not know the name: it does not ask horizond for "
           "the endpoint's domain",
           # The port of horizond's listener on the gateway: moved to loopback here.
           "fix       send the endpoint's domain to horizond: sudo resolvectl dns br-6a1c2b7e9f3d "
           "172.18.0.1:")
    if p.returncode != 1:
        raise CheckFailed(f"exit {p.returncode}, want 1")


def check_horizond_down():
    case = make_case("down")
    p, text = doctor(case, "--no-pod", "--endpoint-url", f"http://127.0.0.1:{free_port()}")
    expect(text, "expected  unknown: horizond's admin API http://127.0.0.1:",
           f"does not answer", f"start horizond --config {ENV.lab}/horizon.toml")
    if p.returncode != 1:
        raise CheckFailed(f"exit {p.returncode}, want 1:\n{text}")


def check_cannot_look():
    case = make_case("nodocker")
    empty = ENV.tmp / "empty-bin"
    empty.mkdir()
    p, text = doctor(case, path=str(empty))
    if p.returncode != 255 or "cannot look: docker network inspect kind exited 127: docker is " \
            "not installed or not in PATH" not in text:
        raise CheckFailed(f"without docker: exit {p.returncode}:\n{text}")
    for args, want in [(["--bogus"], "Unknown options: --bogus"),
                       (["--name", "nope"], "no cluster 'nope' in")]:
        p, text = doctor(case, *args)
        if p.returncode != 252 or want not in text:
            raise CheckFailed(f"kind doctor {args}: exit {p.returncode}:\n{text}")
    p = ctl("kind", "doctor", "--lab", str(ENV.tmp / "nowhere"))
    if p.returncode != 255 or "cannot read" not in p.stderr:
        raise CheckFailed(f"no horizon.toml: exit {p.returncode}:\n{p.stderr}")
    p = ctl("kind", "doctor", "--help")
    if p.returncode != 0 or "usage: horizonctl kind doctor" not in p.stdout:
        raise CheckFailed(f"--help: {p.stdout}{p.stderr}")


def main() -> int:
    a = parse_args(__doc__, "horizond", "horizonctl", "data")
    ENV.horizond, ENV.horizonctl = a.horizond, a.horizonctl
    ENV.data = Path(a.data) / "kind"
    ENV.tmp = Path(tempfile.mkdtemp(prefix="horizon-kind-doctor-"))

    def alive():
        if ENV.server is None:
            raise CheckFailed("horizond was not started")
        ENV.server.alive()

    checks = Checks()
    checks.add_all([("doctor.start", start, False),
                    ("doctor.healthy", check_healthy, True),
                    ("doctor.gateway-53-hijacked", check_gateway_53_hijacked, True),
                    ("doctor.node-gets-the-nlb", check_node_gets_the_nlb, True),
                    ("doctor.public-mode-hides-it", check_public_mode_hides_it, True),
                    ("doctor.host-resolver", check_host_resolver, True),
                    ("doctor.horizond-down", check_horizond_down, True),
                    ("doctor.cannot-look", check_cannot_look, True)])

    def cleanup():
        if ENV.server is not None:
            ENV.server.stop()
    return run_script(checks, a, tmp=ENV.tmp, time_budget=TIME_BUDGET, server_alive=alive,
                      cleanup=cleanup, log_excerpt=lambda: framed_log_tail(ENV.tmp / "horizond.log"))


if __name__ == "__main__":
    sys.exit(main())
