#!/usr/bin/env python3
"""System test of `horizonctl lab`: the seed lab in network namespaces, end to end.

Needs root and network namespaces (a SKIP otherwise, never a pass). It builds the shipped lab
(config/labs/aews-week1.toml) under its own prefix "hzt-" (so a lab of the user's, "hz-", is
never touched) with a 2 s update duration, and replays the seed with real clients inside the lab:
- dig from a node and from the home PC answers the NLB addresses (public endpoint); the bastion's
  `curl -s ipinfo.io/ip` is its public address; the home PC reaches https://$APIDNS/version;
- the nodes' kubelet and kube-proxy hold connections to the NLB (`ss -tnp` names them);
- `lab kubectl-exec node2` opens the API server's connection from the ENI to kubelet's :10250,
  which `ss -tnp` on node2 shows as the seed does ([::ffff:192.168.2.113] peer, "kubelet");
- `aws eks update-cluster-config ... publicAccessCidrs="$(curl -s ipinfo.io/ip)/32",
  endpointPrivateAccess=true` from the bastion, verbatim (no --endpoint-url: the lab's DNS
  serves eks.<region>.amazonaws.com; horizonctl when there is no AWS CLI): once the update
  completes a node resolves the ENIs while the home PC still gets the NLB; the agents stay on the
  NLB until `lab restart node1 kubelet` / `kube-proxy`, then connect to an ENI;
- the home PC's connect() now times out (nftables drops its SYN, as EKS does: no SYN-ACK); the
  bastion resolves the ENIs but its connect() times out the same way until the seed's
  `aws ec2 describe-security-groups --filters Name=group-name,Values=*ControlPlaneSecurityGroup*`
  and `aws ec2 authorize-security-group-ingress` on that group, then connects;
- `lab down` leaves nothing: no hzt- namespace, no /etc/netns/hzt-*, no run directory.

Traffic stays inside the namespaces the test makes (and removes). Python 3.11 and harness.py.

usage: test_lab.py --horizonctl PATH --horizond PATH --lab config/labs/aews-week1.toml
                   [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 1 if anything failed,
77 if every check was skipped, else 0.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import (CheckFailed, Checks, aws_cli, parse_args, run, run_script, shown, skip,
                     wait_until)

PREFIX = "hzt-"
RUN_DIR = Path("/run/horizon-lab/hzt")
NLB = {"203.0.113.10", "203.0.113.11"}
ENIS = {"192.168.1.113", "192.168.2.113"}
BASTION_PUBLIC = "203.0.113.100"
TIME_BUDGET = 170.0


class Env:
    horizonctl = ""
    horizond = ""
    lab = Path()
    tmp = Path()
    up = False
    aws = ""  # the AWS CLI inside the lab
    why_not: str = ""    # why the lab cannot run here


ENV = Env()
check = Checks()


def lab(*words: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run([ENV.horizonctl, "lab", *words], timeout=timeout,
               env={**os.environ, "HORIZOND": ENV.horizond})


def on(host: str, script: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Runs a shell script on a lab host, as the seed's commands are typed there."""
    return lab("exec", host, "--", "sh", "-c", script, timeout=timeout)


def need_lab():
    if ENV.why_not:
        skip(ENV.why_not)
    if not ENV.up:
        raise CheckFailed("the lab is not up (lab.up failed)")


def addresses(text: str) -> set[str]:
    return set(re.findall(r"^\d+\.\d+\.\d+\.\d+$", text, re.MULTILINE))


def dig_from(host: str) -> set[str]:
    p = on(host, "dig +short +time=2 +tries=1 $APIDNS")
    return addresses(p.stdout)


def agent_peers(node: str) -> dict[str, set[str]]:
    """The peers of kubelet's and kube-proxy's port-443 connections on a node, from ss -tnp."""
    p = on(node, "ss -tnp state established '( dport = :443 )'")
    peers: dict[str, set[str]] = {"kubelet": set(), "kube-proxy": set()}
    for line in p.stdout.splitlines():
        m = re.search(r"\s(\S+):443\s+users:\(\(\"([a-z-]+)\"", line)
        if m and m.group(2) in peers:
            peers[m.group(2)].add(m.group(1))
    return peers


def curl_version(host: str) -> subprocess.CompletedProcess:
    return on(host, "curl -sk --connect-timeout 3 -m 4 https://$APIDNS/version", timeout=15)


def syn_dropped(host: str) -> None:
    """The host's TCP connect to the endpoint times out: no SYN-ACK (nftables drops the SYN, as
    EKS's allowlist and security group do), rather than a connection accepted and held."""
    cmd = ("curl -sk --connect-timeout 3 -m 4 -o /dev/null -w '%{time_connect}' "
           "https://$APIDNS/version")
    p = on(host, cmd, timeout=15)
    if p.returncode != 28 or p.stdout.strip() not in ("0", "0.000000"):
        raise CheckFailed(f"{host}'s connect() to the endpoint should time out with no SYN-ACK "
                          f"(curl exit 28, time_connect 0)\n" + shown(p, cmd))


@check("lab.up", server=False)
def _():
    if ENV.why_not:
        skip(ENV.why_not)
    p = lab("up", str(ENV.tmp / "lab.toml"))
    if p.returncode != 0:
        raise CheckFailed(shown(p))
    ENV.up = True
    st = lab("status", str(ENV.tmp / "lab.toml"))
    if st.returncode != 0 or "absent" in st.stdout or "not running" in st.stdout:
        raise CheckFailed("lab status after up:\n" + shown(st))


@check("lab.public-endpoint", server=False)
def _():
    need_lab()
    for host in ("node1", "home", "bastion"):
        got = dig_from(host)
        if got != NLB:
            raise CheckFailed(f"dig +short $APIDNS on {host}: {sorted(got)}, expected {sorted(NLB)}")
    ip = on("bastion", "curl -s ipinfo.io/ip")
    if ip.stdout.strip() != BASTION_PUBLIC:
        raise CheckFailed(f"curl -s ipinfo.io/ip on the bastion:\n{shown(ip)}\nexpected "
                          f"{BASTION_PUBLIC}")
    v = curl_version("home")
    if v.returncode != 0 or '"major": "1"' not in v.stdout:
        raise CheckFailed("the home PC cannot reach https://$APIDNS/version:\n" + shown(v))


@check("lab.agents-on-the-nlb", server=False)
def _():
    need_lab()
    for node in ("node1", "node2"):
        wait_until(f"kubelet and kube-proxy connected on {node}",
                   lambda: all(agent_peers(node).values()), timeout=15)
        peers = agent_peers(node)
        if not all(p <= NLB for p in peers.values()):
            raise CheckFailed(f"{node}'s agents should use the NLB: {peers}")


@check("lab.update-to-public-and-private", server=False)
def _():
    need_lab()
    cmd = (f"{ENV.aws} eks update-cluster-config --region $AWS_DEFAULT_REGION "
           f"--name $CLUSTER_NAME --resources-vpc-config endpointPublicAccess=true,"
           f"publicAccessCidrs=\"$(curl -s ipinfo.io/ip)/32\",endpointPrivateAccess=true")
    p = on("bastion", cmd, timeout=30)
    if p.returncode != 0 or '"InProgress"' not in p.stdout:
        raise CheckFailed(shown(p, cmd))
    # In progress: still public everywhere; at completion (2 s here) the VPC gets the ENIs.
    wait_until("a node resolving the ENIs", lambda: dig_from("node1") == ENIS, timeout=15)
    if (got := dig_from("home")) != NLB:
        raise CheckFailed(f"the home PC should still get the NLB, got {sorted(got)}")
    if (got := dig_from("bastion")) != ENIS:
        raise CheckFailed(f"the bastion (in the VPC) should get the ENIs, got {sorted(got)}")
    return f"({ENV.aws.split()[0]})"


@check("lab.agents-move-on-restart", server=False)
def _():
    need_lab()
    peers = agent_peers("node1")
    if not all(p and p <= NLB for p in peers.values()):
        raise CheckFailed(f"established connections should stay on the NLB: {peers}")
    for agent in ("kubelet", "kube-proxy"):
        p = lab("restart", "node1", agent)
        if p.returncode != 0:
            raise CheckFailed(shown(p))
    wait_until("node1's agents on an ENI",
               lambda: all(p and p <= ENIS for p in agent_peers("node1").values()), timeout=15)
    other = agent_peers("node2")
    if not all(p <= NLB for p in other.values()):
        raise CheckFailed(f"node2 was not restarted; its agents should stay on the NLB: {other}")


@check("lab.kubectl-exec-from-an-eni", server=False)
def _():
    need_lab()
    cmd = [ENV.horizonctl, "lab", "kubectl-exec", "node2", "10"]
    held = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The seed: ESTAB ... [::ffff:192.168.2.132]:10250 [::ffff:192.168.2.113]:44986
        #           users:(("kubelet",pid=2894,fd=22))
        pattern = re.compile(r"\[::ffff:192\.168\.2\.132\]:10250\s+\[::ffff:192\.168\.2\.113\]:\d+"
                             r"\s+users:\(\(\"kubelet\"")
        wait_until("kubelet's :10250 peer from the ENI in ss -tnp on node2",
                   lambda: pattern.search(on("node2", "ss -tnp").stdout) is not None, timeout=10)
    finally:
        held.terminate()
        held.wait(timeout=5)


@check("lab.home-times-out", server=False)
def _():
    need_lab()
    syn_dropped("home")  # outside publicAccessCidrs


@check("lab.bastion-needs-the-security-group", server=False)
def _():
    need_lab()
    syn_dropped("bastion")  # not in the cluster security group yet
    if ENV.aws == ENV.horizonctl:  # no AWS CLI: horizonctl has describe-cluster, not ec2 lookups
        lookup = (f"{ENV.aws} eks describe-cluster --name $CLUSTER_NAME --query "
                  f"cluster.resourcesVpcConfig.clusterSecurityGroupId --output text")
    else:  # the seed's own lookup: eksctl's additional group, attached to the same ENIs
        lookup = (f"{ENV.aws} ec2 describe-security-groups --filters "
                  f"Name=group-name,Values=*ControlPlaneSecurityGroup* "
                  f"--query \"SecurityGroups[*].[GroupId]\" --output text")
    cmd = (f"CPSGID=$({lookup}) && test -n \"$CPSGID\" && "
           f"{ENV.aws} ec2 authorize-security-group-ingress --group-id $CPSGID --protocol '-1' "
           f"--cidr 192.168.1.100/32")
    a = on("bastion", cmd, timeout=30)
    if a.returncode != 0:
        raise CheckFailed(shown(a, cmd))
    wait_until("the bastion reaching the API", lambda: curl_version("bastion").returncode == 0,
               timeout=10)


@check("lab.down-leaves-nothing", server=False)
def _():
    if ENV.why_not:
        skip(ENV.why_not)
    if (RUN_DIR / "logs").exists():
        shutil.copytree(RUN_DIR / "logs", ENV.tmp / "lab-logs", dirs_exist_ok=True)
    p = lab("down", str(ENV.tmp / "lab.toml"))
    ENV.up = False
    if p.returncode != 0:
        raise CheckFailed(shown(p))
    left = [n for n in run(["ip", "netns", "list"]).stdout.split() if n.startswith(PREFIX)]
    netns_etc = [str(x) for x in Path("/etc/netns").glob(PREFIX + "*")]
    if left or netns_etc or RUN_DIR.exists():
        raise CheckFailed(f"left behind: namespaces {left}, {netns_etc}, "
                          f"{RUN_DIR if RUN_DIR.exists() else ''}")


def aws_command() -> str:
    """The AWS CLI inside the lab, as the seed types it (the lab's DNS and AWS_CA_BUNDLE lead it
    to horizond); horizonctl when there is no AWS CLI."""
    return aws_cli() or ENV.horizonctl


def main() -> int:
    args = parse_args(__doc__, "horizonctl", "horizond", "lab", tools=("dig", "curl", "ss"))
    ENV.horizonctl, ENV.horizond, ENV.lab = args.horizonctl, args.horizond, Path(args.lab)
    ENV.tmp = Path(tempfile.mkdtemp(prefix="horizon-lab-"))
    text = ENV.lab.read_text()
    text = text.replace('prefix = "hz-"', f'prefix = "{PREFIX}"')
    text = text.replace('update_duration = "10s"', 'update_duration = "2s"')
    if f'prefix = "{PREFIX}"' not in text or 'update_duration = "2s"' not in text:
        print("FAIL the lab file no longer has the prefix and update_duration lines this test "
              "rewrites")
        return 1
    (ENV.tmp / "lab.toml").write_text(text)
    ENV.aws = aws_command()
    if os.geteuid() != 0:
        ENV.why_not = "not root (the lab makes network namespaces)"
    else:
        probe = PREFIX + "probe"
        p = run(["ip", "netns", "add", probe])
        if p.returncode != 0:
            ENV.why_not = f"no network namespaces here: {p.stderr.strip()}"
        else:
            run(["ip", "netns", "del", probe])
        if run(["sh", "-c", "command -v nft"]).returncode != 0:
            ENV.why_not = ENV.why_not or "nft (nftables) is not installed"

    def cleanup():
        if (RUN_DIR / "logs").exists():  # kept for a failure's excerpt; down removes RUN_DIR
            shutil.copytree(RUN_DIR / "logs", ENV.tmp / "lab-logs", dirs_exist_ok=True)
        if ENV.up:
            lab("down", str(ENV.tmp / "lab.toml"))

    def logs() -> str:
        out = []
        for f in sorted((ENV.tmp / "lab-logs").glob("*.log")):
            out.append(f"----- {f}:\n{f.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)
    return run_script(check, args, tmp=ENV.tmp, time_budget=TIME_BUDGET, cleanup=cleanup,
                      log_excerpt=logs)


if __name__ == "__main__":
    sys.exit(main())
