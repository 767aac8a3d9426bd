#!/usr/bin/env python3
"""System test of horizond's durability: no change the admin API accepted is ever lost.

Runs one horizond whose state directory is a 256 KiB tmpfs (mounted by this test, as root) and
checks (issue 17, items 1 to 3):
- a full state directory, then a read-only one: update-cluster-config answers 500
  ServerException (EC2's Query API: 500 InternalError in XML), nothing changes in describe-cluster,
  list-updates or DNS, /readyz is 503 naming the state file, /metrics has horizon_state_writable 0
  and horizon_state_save_failures_total; once space is back /readyz recovers by itself and an
  update made then survives a restart;
- reloads that would remove every cluster are refused and the clusters keep being served: a
  0-byte file, a truncate-then-rewrite slower than the file watch's settle time (no query gets
  REFUSED meanwhile), a file without [[cluster]], a directory in the file's place;
  `--check-config` on a 0-byte file fails; with [server] allow_no_clusters = true the clusters go
  and their state is kept dormant in state.json, and comes back with the cluster;
- a second horizond on the same state directory refuses to start and names the first's pid;
- state.json.tmp.<pid> files left by a killed writer are removed at start.

Where the tmpfs cannot be mounted (not root), the state-directory checks say SKIP. Traffic goes
only to 127.0.0.1 and 127.10.0.5. Every wait is bounded.

usage: test_durability.py --horizond PATH [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 only if nothing
failed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import (CheckFailed, Checks, Horizond, dig_short, framed_log_tail, free_port, http,
                     make_tmp, parse_args, read_log, run, run_script, skip, start_process,
                     stop_process, wait_until)

NAME = "aews"
ENDPOINT = "0123456789ABCDEF0123456789ABCDEF.gr7.ap-northeast-2.eks.amazonaws.com"
INSIDE = "127.10.0.5"  # in the VPC
OUTSIDE = "127.0.0.1"
PUBLIC = ["203.0.113.10"]
PRIVATE = ["192.168.1.10"]
TIME_BUDGET = 150.0


class Env:
    horizond = ""
    tmp = Path()
    log = Path()
    cfg = Path()
    state = Path()
    mounted = False
    port = 0
    admin = ""
    server: Horizond | None = None


ENV = Env()
check = Checks()


def config_text(*, clusters: bool = True, allow_no_clusters: bool = False) -> str:
    text = f"""# written by tests/system/test_durability.py
[server]
listen = ["127.0.0.1:{ENV.port}"]
workers = 1
admin_listen = "{ENV.admin}"
"""
    if allow_no_clusters:
        text += "allow_no_clusters = true\n"
    if clusters:
        text += f"""
[[cluster]]
name = "{NAME}"
region = "ap-northeast-2"
endpoint = "{ENDPOINT}"
vpc_cidrs = ["127.10.0.0/16"]
private_ips = {json.dumps(PRIVATE)}
public_ips = {json.dumps(PUBLIC)}
access_mode = "public+private"
update_duration = "0s"
"""
    return text


def api(method: str, path: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    return http(method, f"http://{ENV.admin}{path}", data,
                headers={"Content-Type": "application/json"} if data else None)


def ec2(form: str):
    return http("POST", f"http://{ENV.admin}/", form.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"})


def cluster() -> dict:
    r = api("GET", f"/clusters/{NAME}")
    if r.status != 200:
        raise CheckFailed(f"describe-cluster: {r.status} {r.text}")
    return r.json()["cluster"]


def cidrs() -> list[str]:
    return cluster()["resourcesVpcConfig"]["publicAccessCidrs"]


def outside_answer() -> list[str]:
    return dig_short(OUTSIDE, ENV.port, ENDPOINT, src=OUTSIDE)


def set_cidrs(values: list[str]):
    return api("POST", f"/clusters/{NAME}/update-config",
               {"resourcesVpcConfig": {"publicAccessCidrs": values}})


def metric(name: str) -> float:
    text = http("GET", f"http://{ENV.admin}/metrics").text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    if m is None:
        raise CheckFailed(f"{name} missing from /metrics")
    return float(m[1])


def need_mount():
    if not ENV.mounted:
        skip("the state directory is not a tmpfs of this test (needs root and mount)")


def fill_state_dir():
    """Fills the tmpfs to the last byte: the next state save fails with ENOSPC."""
    fd = os.open(ENV.state / "filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def expect_refused_change(before_cidrs: list[str], before_answer: list[str], updates: int):
    r = set_cidrs(["198.51.100.0/24"])
    if r.status != 500 or r.headers.get("x-amzn-ErrorType") != "ServerException" or \
            r.json().get("__type") != "ServerException" or str(ENV.state) not in r.text:
        raise CheckFailed(f"expected 500 ServerException naming {ENV.state}, got {r.status} "
                          f"{r.headers.get('x-amzn-ErrorType')} {r.text}")
    if cidrs() != before_cidrs:
        raise CheckFailed(f"describe-cluster changed anyway: {cidrs()}")
    ids = api("GET", f"/clusters/{NAME}/updates").json()["updateIds"]
    if len(ids) != updates:
        raise CheckFailed(f"list-updates has {len(ids)} updates, expected {updates}: {ids}")
    if outside_answer() != before_answer:
        raise CheckFailed(f"DNS changed anyway: {outside_answer()}")
    r = http("GET", f"http://{ENV.admin}/readyz")
    state = r.json().get("state", {})
    if r.status != 503 or state.get("writable") is not False or \
            str(ENV.state) not in (state.get("error") or "") + state.get("file", ""):
        raise CheckFailed(f"expected /readyz 503 with state.writable false: {r.status} {r.text}")
    if metric("horizon_state_writable") != 0 or metric("horizon_state_save_failures_total") < 1:
        raise CheckFailed("expected horizon_state_writable 0 and a save failure counted")
    return r.json()["state"]["error"]


@check("server.start", server=False)
def _():
    ENV.port = free_port()
    ENV.admin = f"127.0.0.1:{free_port(udp=False)}"
    ENV.cfg = ENV.tmp / "conf" / "horizond.toml"
    ENV.cfg.parent.mkdir()
    ENV.cfg.write_text(config_text())
    ENV.state = ENV.tmp / "state"
    ENV.state.mkdir()
    if os.geteuid() == 0:
        p = run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "horizon-test",
                 str(ENV.state)])
        ENV.mounted = p.returncode == 0
    # Left by a writer killed between creating and renaming its temporary file.
    (ENV.state / "state.json.tmp.999999").write_text('{"format": 1')
    (ENV.state / "state.json.tmp.notapid").write_text("kept: not horizond's name")
    ENV.server = Horizond(ENV.horizond, ENV.cfg, ENV.state, ENV.log, ENV.admin)
    ENV.server.start()
    return "state on a 256 KiB tmpfs" if ENV.mounted else "state on the test's directory"


@check("tmp.stale-temporaries-removed")
def _():
    if (ENV.state / "state.json.tmp.999999").exists():
        raise CheckFailed("state.json.tmp.999999 is still there after start")
    if not (ENV.state / "state.json.tmp.notapid").exists():
        raise CheckFailed("state.json.tmp.notapid (not a temporary of horizond's) was removed")
    if "removed state.json.tmp.999999, left by a write that was interrupted" not in \
            read_log(ENV.log):
        raise CheckFailed("the removal is not logged")


@check("lock.second-server-refused")
def _():
    other = ENV.tmp / "other.toml"
    other.write_text(config_text().replace(str(ENV.port), str(free_port())).replace(
        ENV.admin, f"127.0.0.1:{free_port(udp=False)}"))
    p = run([ENV.horizond, "--config", str(other), "--state-dir", str(ENV.state)], timeout=10)
    pid = ENV.server.proc.pid
    want = f"state directory {ENV.state} is in use by another horizond (pid {pid}, holding " \
           f"{ENV.state}/horizond.lock)"
    if p.returncode == 0 or want not in p.stderr + p.stdout:
        raise CheckFailed(f"expected a refusal naming pid {pid}: exit {p.returncode}\n"
                          f"{p.stderr}{p.stdout}")
    ENV.server.alive()
    return f"exit {p.returncode}"


@check("save.full-disk-refuses-the-change")
def _():
    need_mount()
    r = set_cidrs(["198.51.100.0/24", "203.0.113.0/24"])
    if r.status != 200:
        raise CheckFailed(f"update before the disk fills: {r.status} {r.text}")
    wait_until("the update to complete", lambda: cidrs() == ["198.51.100.0/24", "203.0.113.0/24"])
    before, answer = cidrs(), outside_answer()
    updates = len(api("GET", f"/clusters/{NAME}/updates").json()["updateIds"])
    fill_state_dir()
    error = expect_refused_change(before, answer, updates)
    if "No space left on device" not in error:
        raise CheckFailed(f"the error does not say the disk is full: {error}")
    # EC2's Query API: the same refusal, in EC2's XML.
    sg = cluster()["resourcesVpcConfig"]["clusterSecurityGroupId"]
    r = ec2(f"Action=AuthorizeSecurityGroupIngress&GroupId={sg}&IpProtocol=tcp&FromPort=443"
            "&ToPort=443&CidrIp=10.9.0.0/16")
    if r.status != 500 or "<Code>InternalError</Code>" not in r.text:
        raise CheckFailed(f"EC2 authorize on a full disk: {r.status} {r.text}")
    rules = ec2(f"Action=DescribeSecurityGroupRules&Filter.1.Name=group-id"
                f"&Filter.1.Value.1={sg}").text
    if "10.9.0.0/16" in rules:
        raise CheckFailed("the refused security group rule is listed")
    return error


@check("save.recovers-and-survives-restart")
def _():
    need_mount()
    (ENV.state / "filler").unlink()
    wait_until("/readyz to recover", lambda: http(
        "GET", f"http://{ENV.admin}/readyz").status == 200, timeout=5)
    if metric("horizon_state_writable") != 1:
        raise CheckFailed("horizon_state_writable is not back to 1")
    r = set_cidrs(["198.51.100.7/32"])
    if r.status != 200:
        raise CheckFailed(f"update once space is back: {r.status} {r.text}")
    wait_until("the update to complete", lambda: cidrs() == ["198.51.100.7/32"])
    ENV.server.stop()
    ENV.server.start()
    if cidrs() != ["198.51.100.7/32"]:
        raise CheckFailed(f"after a restart: {cidrs()}")


@check("save.read-only-refuses-the-change")
def _():
    need_mount()
    before, answer = cidrs(), outside_answer()
    updates = len(api("GET", f"/clusters/{NAME}/updates").json()["updateIds"])
    p = run(["mount", "-o", "remount,ro", str(ENV.state)])
    if p.returncode != 0:
        raise CheckFailed(f"remount read-only: {p.stderr}")
    try:
        error = expect_refused_change(before, answer, updates)
        if "Read-only file system" not in error:
            raise CheckFailed(f"the error does not say read-only: {error}")
    finally:
        run(["mount", "-o", "remount,rw", str(ENV.state)])
    wait_until("/readyz to recover", lambda: http(
        "GET", f"http://{ENV.admin}/readyz").status == 200, timeout=5)
    return error


def reload_errors() -> list[str]:
    return http("GET", f"http://{ENV.admin}/readyz").json()["lastReload"]["errors"]


def expect_reload_refused(what: str, want: str):
    wait_until(f"the reload of {what} to fail", lambda: any(want in e for e in reload_errors()),
               timeout=5)
    if outside_answer() != PUBLIC:
        raise CheckFailed(f"after the refused reload of {what}: {outside_answer()}")
    if cidrs() != ["198.51.100.7/32"]:
        raise CheckFailed(f"the API change is gone after the refused reload of {what}: {cidrs()}")


def restore_config():
    ENV.cfg.write_text(config_text())
    wait_until("the good file to load", lambda: not reload_errors(), timeout=5)


@check("reload.empty-file-refused")
def _():
    ENV.cfg.write_text("")
    expect_reload_refused("a 0-byte file", "the file is empty")
    restore_config()


@check("reload.slow-rewrite-never-refuses")
def _():
    answers: list[list[str]] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            answers.append(dig_short(OUTSIDE, ENV.port, ENDPOINT, src=OUTSIDE, strict=False,
                                     wait=1))
            time.sleep(0.05)

    t = threading.Thread(target=watch)
    t.start()
    try:
        with open(ENV.cfg, "w") as f:  # truncated: what an editor does first
            f.flush()
            time.sleep(0.8)            # well past the watch's settle time (200 ms)
            f.write(config_text())
    finally:
        time.sleep(0.5)
        stop.set()
        t.join()
    bad = [a for a in answers if a != PUBLIC]
    if bad or len(answers) < 5:
        raise CheckFailed(f"{len(bad)} of {len(answers)} answers were not {PUBLIC}: {bad[:3]}")
    wait_until("the rewritten file to load", lambda: not reload_errors(), timeout=5)
    return f"{len(answers)} answers, all {PUBLIC}"


@check("reload.no-cluster-refused")
def _():
    ENV.cfg.write_text(config_text(clusters=False))
    expect_reload_refused("a file without [[cluster]]",
                          "this reload would remove all 1 cluster(s) being served; refused")
    restore_config()


@check("reload.directory-refused")
def _():
    ENV.cfg.unlink()
    ENV.cfg.mkdir()
    try:
        expect_reload_refused("a directory", "cannot read the file")
    finally:
        ENV.cfg.rmdir()
    restore_config()


@check("check-config.empty-file-fails", server=False)
def _():
    empty = ENV.tmp / "empty.toml"
    empty.write_text("")
    p = run([ENV.horizond, "--check-config", str(empty)])
    if p.returncode == 0 or "the file is empty" not in p.stderr + p.stdout:
        raise CheckFailed(f"--check-config on a 0-byte file: exit {p.returncode}\n"
                          f"{p.stdout}{p.stderr}")


@check("reload.allowed-removal-keeps-state-dormant")
def _():
    ENV.cfg.write_text(config_text(clusters=False, allow_no_clusters=True))
    wait_until("the cluster to go", lambda: api("GET", f"/clusters/{NAME}").status == 404,
               timeout=5)
    saved = json.loads((ENV.state / "state.json").read_text())
    kept = saved.get("dormant", {}).get(NAME, {})
    if kept.get("apiChange", {}).get("value", {}).get("publicAccessCidrs") != ["198.51.100.7/32"]:
        raise CheckFailed(f"state.json does not keep the cluster's API change dormant: {saved}")
    if "keeping its state dormant" not in read_log(ENV.log):
        raise CheckFailed("the log does not say the state is kept")
    restore_config()
    wait_until("the cluster to return", lambda: api("GET", f"/clusters/{NAME}").status == 200,
               timeout=5)
    if cidrs() != ["198.51.100.7/32"]:
        raise CheckFailed(f"the cluster came back without its API change: {cidrs()}")


@check("server.stop", server=False)
def _():
    code = ENV.server.stop() if ENV.server else 0
    if code != 0:
        raise CheckFailed(f"horizond exited {code}")


def cleanup():
    if ENV.server is not None and ENV.server.proc is not None:
        stop_process(ENV.server.proc)
    if ENV.mounted:
        run(["umount", str(ENV.state)])


def main() -> int:
    args = parse_args(__doc__, "horizond", tools=("dig", "mount"))
    ENV.horizond = args.horizond
    ENV.tmp, ENV.log = make_tmp("horizon-durability-", log_dir=True)
    return run_script(check, args, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      server_alive=lambda: ENV.server.alive() if ENV.server else None,
                      cleanup=cleanup, log_excerpt=lambda: framed_log_tail(ENV.log))


if __name__ == "__main__":
    sys.exit(main())
