#!/usr/bin/env python3
"""System test of serving port 53: privilege drop as root, CAP_NET_BIND_SERVICE, the systemd unit.

Needs root (it binds port 53 on 127.53.0.x only, and switches users); run as anyone else, every
check that needs root is a SKIP ("not root"). Checks:
- started as root with [server] user = "nobody" on 127.53.0.1:53 and a resolver listener on
  127.53.0.2:53: answers there over UDP and TCP; /proc/PID/status shows uid and gid 65534 (all
  four ids), only nobody's group, no capability in any set, NoNewPrivs; the state directory is
  nobody's; a SIGHUP reload still works as nobody;
- a state directory holding files horizond did not create is refused (exit 1, saying what to
  do) and nothing in it changes hands; once it is nobody's, only horizond's files become nobody's;
- started as nobody with CAP_NET_BIND_SERVICE as an ambient capability (as the systemd unit
  does, here with setpriv): binds 127.53.0.3:53, answers, and holds no capability once bound;
- as nobody without it: exit status 1 and a message naming CAP_NET_BIND_SERVICE;
- user = "<no such user>" is a configuration error (file:line:col, exit 2); user = "root" for a
  process that is not root is refused (exit 1);
- `systemd-analyze verify config/horizond.service` reports nothing (a SKIP when systemd-analyze
  is not installed).

Traffic goes only to 127.0.0.0/8. Python 3.11 and harness.py.

usage: test_port53.py --horizond PATH --unit config/horizond.service [--keep] [--only REGEX]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 1 if anything failed,
77 if every check was skipped, else 0.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import (CheckFailed, Checks, dig_short, parse_args, run, run_script, skip,
                     start_process, stop_process, wait_until)

ENDPOINT = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com"
PUBLIC, PRIVATE = "203.0.113.10", "192.168.1.10"
PLAIN, RESOLVER, CAPPED, DENIED = "127.53.0.1", "127.53.0.2", "127.53.0.3", "127.53.0.4"
NOBODY = 65534
TIME_BUDGET = 90.0


class Env:
    horizond = ""
    unit = Path()
    tmp = Path()
    procs: list[subprocess.Popen] = []


ENV = Env()
check = Checks()


def config(name: str, listen: str, *, user: str = "") -> Path:
    """A config file in its own directory under tmp (readable by nobody), with a state dir."""
    d = ENV.tmp / name
    (d / "state").mkdir(parents=True)
    os.chmod(d, 0o755)
    if os.geteuid() == 0 and user != "nobody":  # started as nobody: the state dir must be its
        os.chown(d / "state", NOBODY, NOBODY)
    f = d / "horizond.toml"
    f.write_text(f"""# written by tests/system/test_port53.py
[server]
listen = {listen}
workers = 2
admin_listen = ""
state_dir = "{d / 'state'}"
user = "{user}"

[[cluster]]
name = "aews"
region = "ap-northeast-2"
endpoint = "{ENDPOINT}"
vpc_cidrs = ["192.168.0.0/16"]
private_ips = ["{PRIVATE}"]
public_ips = ["{PUBLIC}"]
""")
    os.chmod(f, 0o644)
    return f


def start(cmd: list[str], log: Path, ready=None) -> subprocess.Popen:
    p = start_process(cmd, log, ready=ready)
    ENV.procs.append(p)
    return p


def dig(server: str, *, tcp: bool = False) -> str:
    return "\n".join(dig_short(server, 53, ENDPOINT, src="127.0.0.1", tcp=tcp, strict=False))


def answering(server: str):
    return lambda: dig(server) != ""


def status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def expect_unprivileged(pid: int):
    s = status(pid)
    problems = []
    for key in ("Uid", "Gid"):
        if s[key].split() != [str(NOBODY)] * 4:
            problems.append(f"{key}: {s[key]}, expected {NOBODY} four times")
    if s["Groups"].split() not in ([], [str(NOBODY)]):
        problems.append(f"Groups: {s['Groups']}, expected only {NOBODY}")
    for key in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        if int(s[key], 16) != 0:
            problems.append(f"{key}: {s[key]}, expected none")
    if s.get("NoNewPrivs") != "1":
        problems.append(f"NoNewPrivs: {s.get('NoNewPrivs')}")
    if problems:
        raise CheckFailed("\n".join(problems))


def need_root():
    if os.geteuid() != 0:
        skip("not root")


@check("root.drops-to-user-after-binding-53", server=False)
def _():
    need_root()
    cfg = config("root", f'["{PLAIN}:53", {{ address = "{RESOLVER}:53", view = "vpc" }}]',
                 user="nobody")
    log = cfg.parent / "horizond.log"
    p = start([ENV.horizond, "--config", str(cfg)], log, ready=answering(PLAIN))
    for tcp in (False, True):
        if dig(PLAIN, tcp=tcp) != PUBLIC or dig(RESOLVER, tcp=tcp) != PRIVATE:
            raise CheckFailed(f"tcp={tcp}: {dig(PLAIN, tcp=tcp)!r} / {dig(RESOLVER, tcp=tcp)!r}, "
                              f"expected {PUBLIC} / {PRIVATE}")
    expect_unprivileged(p.pid)
    state = cfg.parent / "state"
    owners = {(f.name, f.stat().st_uid, f.stat().st_gid) for f in [state, *state.iterdir()]}
    if any(uid != NOBODY or gid != NOBODY for _, uid, gid in owners) or len(owners) < 2:
        raise CheckFailed(f"the state directory and its files should be nobody's: {owners}")
    if "running as user nobody (uid 65534, gid 65534)" not in log.read_text(errors="replace"):
        raise CheckFailed("no log line about the switch:\n" + log.read_text(errors="replace"))
    # A reload as nobody: the file is readable, the state is written.
    cfg.write_text(cfg.read_text().replace(f'"{PUBLIC}"', '"203.0.113.99"'))
    p.send_signal(signal.SIGHUP)
    wait_until("the reload as nobody", lambda: dig(PLAIN) == "203.0.113.99", 5, log=log)
    if "error" in log.read_text(errors="replace").lower():
        raise CheckFailed("errors in the log:\n" + log.read_text(errors="replace"))
    rc = stop_process(p)
    if rc != 0:
        raise CheckFailed(f"exit status {rc} after SIGTERM")
    return f"pid {p.pid}: uid/gid {NOBODY}, no capabilities"


@check("root.state-dir-with-other-files", server=False)
def _():
    need_root()
    # A state directory holding files horizond did not create is not handed to the user.
    cfg = config("shared", '["127.53.0.6:5353"]', user="nobody")
    state = cfg.parent / "state"
    (state / "notes.txt").write_text("the operator's\n")
    (state / "keep").mkdir()
    p = run([ENV.horizond, "--config", str(cfg)])
    want = f"state directory {state} holds files horizond did not create (keep, notes.txt)"
    if p.returncode != 1 or want not in p.stderr or "chown nobody" not in p.stderr:
        raise CheckFailed(f"exit {p.returncode}, expected 1 and {want!r}:\n{p.stderr}")
    owners = {f.name: f.stat().st_uid for f in [state, *state.iterdir()]}
    if any(uid != 0 for uid in owners.values()):
        raise CheckFailed(f"nothing should have changed hands: {owners}")
    # The directory is nobody's already (the operator's choice): only horizond's files move.
    os.chown(state, NOBODY, NOBODY)
    log = cfg.parent / "horizond.log"
    proc = start([ENV.horizond, "--config", str(cfg)], log,
                 ready=lambda: (state / "state.json").exists() and
                 "running as user nobody" in log.read_text(errors="replace"))
    rc = stop_process(proc)
    owners = {f.name: f.stat().st_uid for f in state.iterdir()}
    if rc != 0 or owners.get("notes.txt") != 0 or owners.get("keep") != 0 or \
            owners.get("state.json") != NOBODY:
        raise CheckFailed(f"exit {rc}; owners {owners}: only state.json should be nobody's")


def as_nobody(*caps: str) -> list[str]:
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if caps:
        joined = ",".join(f"+{c}" for c in caps)
        cmd += [f"--inh-caps={joined}", f"--ambient-caps={joined}"]
    return cmd


@check("nonroot.cap-net-bind-service-then-dropped", server=False)
def _():
    need_root()
    if shutil.which("setpriv") is None:
        raise CheckFailed("setpriv (util-linux) is not installed")
    cfg = config("capped", f'["{CAPPED}:53"]')
    log = cfg.parent / "horizond.log"
    p = start([*as_nobody("net_bind_service"), ENV.horizond, "--config", str(cfg)], log,
              ready=answering(CAPPED))
    if dig(CAPPED, tcp=True) != PUBLIC:
        raise CheckFailed(f"TCP: {dig(CAPPED, tcp=True)!r}")
    expect_unprivileged(p.pid)
    if "dropped capabilities after binding" not in log.read_text(errors="replace"):
        raise CheckFailed("no log line about dropping the capability")
    rc = stop_process(p)
    if rc != 0:
        raise CheckFailed(f"exit status {rc} after SIGTERM")


@check("nonroot.without-capability-fails", server=False)
def _():
    need_root()
    cfg = config("denied", f'["{DENIED}:53"]')
    p = run([*as_nobody(), ENV.horizond, "--config", str(cfg)])
    if p.returncode != 1 or "CAP_NET_BIND_SERVICE" not in p.stderr:
        raise CheckFailed(f"exit {p.returncode}, expected 1 naming CAP_NET_BIND_SERVICE:\n{p.stderr}")


@check("config.unknown-user-is-an-error", server=False)
def _():
    cfg = config("unknown", '["127.0.0.1:1"]', user="no-such-user-horizon")
    p = run([ENV.horizond, "--check-config", str(cfg)])
    want = re.compile(rf"^{re.escape(str(cfg))}:7:8: error: unknown user 'no-such-user-horizon'",
                      re.MULTILINE)
    if p.returncode != 2 or not want.search(p.stderr):
        raise CheckFailed(f"exit {p.returncode}:\n{p.stderr}")


@check("nonroot.other-user-refused", server=False)
def _():
    need_root()
    # Not root, and asked to become root: refused before serving (exit 1).
    cfg = config("refused", '["127.53.0.5:5353"]', user="root")
    p = run([*as_nobody(), ENV.horizond, "--config", str(cfg)])
    if p.returncode != 1 or "cannot switch to user 'root': not started as root" not in p.stderr:
        raise CheckFailed(f"exit {p.returncode}, expected 1:\n{p.stderr}")


@check("systemd-unit.verify", server=False)
def _():
    if shutil.which("systemd-analyze") is None:
        skip("systemd-analyze is not installed")
    text = ENV.unit.read_text()
    if not re.search(r"^AmbientCapabilities=CAP_NET_BIND_SERVICE$", text, re.MULTILINE) or \
            not re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", text, re.MULTILINE):
        raise CheckFailed("the unit should grant CAP_NET_BIND_SERVICE and reload with SIGHUP")
    # verify needs ExecStart to exist: point it at the binary under test.
    unit = ENV.tmp / "horizond.service"
    unit.write_text(text.replace("/usr/local/bin/horizond", ENV.horizond))
    p = run(["systemd-analyze", "verify", str(unit)])
    complaints = [line for line in (p.stdout + p.stderr).splitlines() if "horizond.service" in line]
    if p.returncode != 0 or complaints:
        raise CheckFailed(f"systemd-analyze verify: exit {p.returncode}\n{p.stdout}{p.stderr}")


def main() -> int:
    args = parse_args(__doc__, "horizond", "unit", tools=("dig",))
    ENV.horizond = args.horizond
    ENV.unit = Path(args.unit)
    ENV.tmp = Path(tempfile.mkdtemp(prefix="horizond-port53-"))
    os.chmod(ENV.tmp, 0o755)  # nobody must reach its config and state below

    def cleanup():
        for p in ENV.procs:
            stop_process(p)

    def logs() -> str:
        return "\n".join(f"----- {f}:\n{f.read_text(errors='replace')}"
                         for f in sorted(ENV.tmp.glob("*/horizond.log")))
    return run_script(check, args, tmp=ENV.tmp, time_budget=TIME_BUDGET, cleanup=cleanup,
                      log_excerpt=logs)


if __name__ == "__main__":
    sys.exit(main())
