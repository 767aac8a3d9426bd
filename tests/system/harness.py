"""The system tests' shared module: checks and their report, arguments, subprocesses and servers,
free ports, dig/kdig/drill, DNS messages (dnspython), HTTP on loopback and the AWS CLI.

Each test script registers its checks with a `Checks` registry and ends with `run_script()`.
Every check prints one line, `ok`, `FAIL` or `SKIP` (with the reason it could not run here), and
the script's closing line `N passed, M failed, K skipped` is what CI reads. A script whose checks
were all skipped exits 77, ctest's SKIP_RETURN_CODE (tests/CMakeLists.txt). With
HORIZON_TEST_SUMMARY set (ctest sets it), the closing line and every skip are also appended to
that file, so `setup.sh test` can print the total of skipped checks at the end.

Traffic goes only to 127.0.0.0/8 and ::1. Every wait is bounded; servers are stopped by their own
handles. Needs python3-dnspython (setup.sh TEST_PACKAGES).
"""
from __future__ import annotations

import argparse
import http.client as http_client
import ipaddress
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message as HeaderMap
from pathlib import Path
from typing import Callable, NamedTuple, NoReturn

try:
    import dns.exception
    import dns.message
except ImportError:  # python3-dnspython (setup.sh TEST_PACKAGES); the scripts need it to parse
    dns = None
try:
    import yaml
except ImportError:  # python3-yaml (setup.sh TEST_PACKAGES)
    yaml = None

# ------------------------------------------------------------------------------------------------
# Checks, their outcomes and the report


class CheckFailed(Exception):
    """A check's assertion failed; the message says what was expected and what came."""


class Skipped(Exception):
    """A check that cannot run here (not root, a tool missing): reported and counted as SKIP."""


def skip(reason: str) -> NoReturn:
    raise Skipped(reason)


EXIT_SKIPPED = 77  # ctest's SKIP_RETURN_CODE for the system scripts (tests/CMakeLists.txt)
ALWAYS_RUN = ("server.start", "server.sigterm-exits-0")


class Checks:
    """The checks of one script, in order: `@CHECKS("name")` registers a function that raises
    CheckFailed (or Skipped); `server=True` ones first assert that the server is alive."""

    def __init__(self):
        self.items: list[tuple[str, Callable[[], object], bool]] = []

    def __call__(self, name: str, *, server: bool = True):
        def register(fn):
            self.items.append((name, fn, server))
            return fn
        return register

    def add(self, name: str, fn: Callable[[], object], *, server: bool = True):
        self.items.append((name, fn, server))

    def add_all(self, rows, *, server: bool = False):
        """Rows of (name, function) or (name, function, needs server)."""
        for name, fn, *needs in rows:
            self.add(name, fn, server=needs[0] if needs else server)

    def __iter__(self):
        return iter(self.items)


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (check, reason)


def indented(text: str) -> str:
    return "\n".join("     " + line for line in text.splitlines())


def run_checks(checks, *, only: str | None, time_budget: float,
               server_alive: Callable[[], None]) -> Counts:
    """Runs every check in order (those matching `only`, plus start and stop); a check that
    needs the server first asserts it is alive."""
    pattern = re.compile(only) if only else None
    start = time.monotonic()
    counts = Counts()
    for name, fn, needs_server in checks:
        if pattern and not pattern.search(name) and name not in ALWAYS_RUN:
            continue
        t0 = time.monotonic()
        try:
            if t0 - start > time_budget:
                raise CheckFailed(f"not run: the {time_budget:.0f} s time budget is used up")
            if needs_server:
                server_alive()
            note = fn()
        except Skipped as e:
            counts.skipped.append((name, str(e)))
            print(f"SKIP {name}: {e}", flush=True)
            continue
        except CheckFailed as e:
            counts.failed += 1
            print(f"FAIL {name}\n{indented(str(e))}", flush=True)
            continue
        except Exception:  # a bug in the script or an unexpected OS error: still a failure
            counts.failed += 1
            print(f"FAIL {name}\n{indented(traceback.format_exc())}", flush=True)
            continue
        counts.passed += 1
        print(f"ok   {name} ({time.monotonic() - t0:.2f}s){' ' + note if note else ''}", flush=True)
    return counts


def script_name() -> str:
    """The ctest name of the running script: tests/system/test_port53.py -> system.port53."""
    return "system." + Path(sys.argv[0]).stem.removeprefix("test_")


def report(counts: Counts) -> int:
    """Prints the closing line (and the skips again, so that a tail shows them), appends both to
    $HORIZON_TEST_SUMMARY, and returns the exit status: 1 on any failure, 77 when every check was
    skipped, else 0."""
    lines = [f"{script_name()}: SKIP {name}: {why}" for name, why in counts.skipped]
    closing = f"{counts.passed} passed, {counts.failed} failed, {len(counts.skipped)} skipped"
    if counts.skipped:
        print(f"skipped here ({len(counts.skipped)}):\n" +
              "\n".join(f"  {name}: {why}" for name, why in counts.skipped))
    print(closing, flush=True)
    summary = os.environ.get("HORIZON_TEST_SUMMARY")
    if summary:
        with open(summary, "a") as f:  # one write per script: parallel scripts do not interleave
            f.write("".join(line + "\n" for line in [f"{script_name()}: {closing}", *lines]))
    if counts.failed:
        return 1
    return EXIT_SKIPPED if counts.skipped and not counts.passed else 0


def framed_log_tail(log: Path, n: int = 80) -> str:
    """The last `n` lines of a server log, framed, for a failed run."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join([f"----- {log} (last {min(n, len(lines))} of {len(lines)} lines):",
                      *lines[-n:], "-----"])


def run_script(checks, args: argparse.Namespace, *, tmp: Path | None = None,
               time_budget: float, server_alive: Callable[[], None] = lambda: None,
               cleanup: Callable[[], None] = lambda: None,
               log_excerpt: Callable[[], str] | None = None) -> int:
    """A script's main loop: runs the checks (SIGTERM ends the run), then `cleanup`; on failure
    prints `log_excerpt()` and keeps `tmp`; prints the time and the closing line; returns the
    exit status (see report)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    try:
        counts = run_checks(checks, only=args.only, time_budget=time_budget,
                            server_alive=server_alive)
    finally:
        cleanup()
    keep = getattr(args, "keep", False)
    if counts.failed:
        if log_excerpt is not None:
            print(log_excerpt())
        keep = True
    if tmp is not None:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.monotonic() - began:.1f}s")
    return report(counts)


# ------------------------------------------------------------------------------------------------
# Arguments


def parse_args(doc: str | None, *paths: str, tools: tuple[str, ...] = (),
               more: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The command line every script shares: a required `--NAME PATH` for each of `paths`
    (made absolute), `--keep` (the temporary directory), `--only REGEX` (checks to run, plus
    start and stop), and what `more` adds. Exits 1 with a FAIL line if one of `tools` is not on
    PATH (they are TEST_PACKAGES: a missing one is a broken set-up, not a skip)."""
    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    for name in paths:
        ap.add_argument(f"--{name}", required=True, type=lambda p: str(Path(p).resolve()))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--only", help="run only the checks matching this regex (and start/stop)")
    if more is not None:
        more(ap)
    args = ap.parse_args()
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        print(f"FAIL not installed: {', '.join(missing)}")
        report(Counts(failed=1))
        sys.exit(1)
    return args


def sanitizer_of(binary: str) -> str | None:
    """"ASan" when `binary` is an AddressSanitizer build (it links libasan), else None. Such a
    build needs far more memory and starts threads differently, so checks that measure RSS or
    run out of descriptors on purpose say SKIP there, with this reason, rather than a false
    failure; the plain build runs them."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return "ASan" if "libasan" in out else None


def make_tmp(prefix: str, *, log_dir: bool = False) -> tuple[Path, Path]:
    """A fresh temporary directory and the server log's path in it. With `log_dir` the log is in
    tmp/log/, away from the config: horizond's file watch there would see every log line."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    if log_dir:
        (tmp / "log").mkdir()
        return tmp, tmp / "log" / "horizond.log"
    return tmp, tmp / "horizond.log"


# ------------------------------------------------------------------------------------------------
# Subprocesses

SUBPROCESS_TIMEOUT = 20.0


def run(cmd: list[str], *, timeout: float = SUBPROCESS_TIMEOUT, env: dict | None = None,
        cwd=None, stdin: str | None = None, check: bool = False,
        shell_text: str | None = None) -> subprocess.CompletedProcess:
    """Runs `cmd` to completion, text in and out; a timeout is a CheckFailed (with what it printed
    so far), and so is a non-zero exit with `check`."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                           errors="replace", input=stdin,
                           stdin=None if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise CheckFailed(f"timed out after {timeout}s\n$ {shell_text or shlex.join(cmd)}\n{out}") \
            from None
    if check and p.returncode != 0:
        raise CheckFailed(f"{shlex.join(cmd)} exited {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def shown(p: subprocess.CompletedProcess, cmd: list[str] | str | None = None,
          limit: int | None = None) -> str:
    """A finished command for a failure message: the command line, its status and its output."""
    c = cmd if isinstance(cmd, str) else shlex.join(cmd if cmd is not None else p.args)
    out, err = p.stdout.rstrip(), p.stderr.rstrip()
    if limit is not None:
        out, err = out[:limit], err[:limit]
    return f"$ {c}\n(exit {p.returncode})\n--- stdout\n{out}\n--- stderr\n{err}"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without proxies, AWS settings or horizonctl defaults, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith(("AWS_", "HORIZON_"))}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------------
# Servers: started with a readiness check, stopped by their own handle


def wait_until(what: str, ready: Callable[[], bool], timeout: float = 10.0,
               proc: subprocess.Popen | None = None, log: Path | None = None):
    """Polls `ready()` until it holds; fails after `timeout`, or at once if `proc` exited."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise CheckFailed(f"exited with status {proc.returncode} while waiting for {what}"
                              + (f":\n{log_tail(log, 40)}" if log else ""))
        if ready():
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout}s waiting for {what}"
                              + (f":\n{log_tail(log, 40)}" if log else ""))
        time.sleep(0.05)


def start_process(cmd: list[str], log: Path, *, ready: Callable[[], bool] | None = None,
                  timeout: float = 10.0, what: str = "horizond", append: bool = True,
                  **popen) -> subprocess.Popen:
    """Starts `cmd` with its output in `log` (appended to, after a line saying so), then waits
    until `ready()` holds; fails with the log's tail if it exits first or never gets ready."""
    with open(log, "ab" if append else "wb") as out:
        if append:
            out.write(f"----- {time.strftime('%H:%M:%S')} starting {what}\n".encode())
            out.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, **popen)
    if ready is not None:
        try:
            wait_until(f"{what} to be ready", ready, timeout, proc=proc, log=log)
        except BaseException:
            stop_process(proc)
            raise
    return proc


def stop_process(p: subprocess.Popen | None, timeout: float = 5.0, sig: int = signal.SIGTERM,
                 must_exit: bool = False) -> int:
    """`sig` (SIGTERM), then SIGKILL if it has not exited within `timeout` (a CheckFailed too with
    `must_exit`); the exit status (0 for a process never started)."""
    if p is None:
        return 0
    if p.poll() is None:
        p.send_signal(sig)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
            if must_exit:
                raise CheckFailed(f"{Path(p.args[0]).name} did not exit within {timeout:.0f} s "
                                  f"of signal {sig}") from None
    return p.wait(timeout=timeout)


def expect_exit_0(p: subprocess.Popen | None, timeout: float = 5.0, what: str = "horizond", *,
                  send: bool = False):
    """After a SIGTERM sent to `p` (by this, with `send`): it exits with status 0 within
    `timeout`."""
    if p is None:
        raise CheckFailed(f"{what} was not started")
    if send:
        p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{what} did not stop within {timeout:.0f} s of SIGTERM") from None
    if rc != 0:
        raise CheckFailed(f"{what} exited with status {rc} after SIGTERM, expected 0")


def expect_valid_config(horizond: str, path: Path, *, show: bool = False):
    """`horizond --check-config path` exits 0 (with `show`, a failure shows the file too)."""
    p = run([horizond, "--check-config", str(path)])
    if p.returncode != 0:
        raise CheckFailed(f"horizond --check-config {path} exited {p.returncode}:\n"
                          f"{p.stdout}{p.stderr}" +
                          (f"\n--- {path.name}\n{path.read_text()}" if show else ""))


def expect_running(p: subprocess.Popen | None, what: str = "horizond"):
    """The server_alive of a script: fails when `p` was never started or has exited."""
    if p is None:
        raise CheckFailed(f"{what} was not started")
    if p.poll() is not None:
        raise CheckFailed(f"{what} is not running any more (exit status {p.returncode}); "
                          "see its log")


def read_log(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def log_tail(log: Path, n: int = 30) -> str:
    return "\n".join(read_log(log).splitlines()[-n:])


class Horizond:
    """One horizond process on a configuration file and state directory, its output in `log`,
    ready once its admin API's /readyz answers 200."""

    def __init__(self, binary: str, config: Path, state: Path, log: Path, admin: str):
        self.binary, self.config, self.state, self.log, self.admin = \
            binary, config, state, log, admin
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0):
        self.state.mkdir(parents=True, exist_ok=True)
        self.proc = start_process(
            [self.binary, "--config", str(self.config), "--state-dir", str(self.state)], self.log,
            ready=lambda: http_status(f"http://{self.admin}/readyz") == 200, timeout=timeout)

    def alive(self):
        expect_running(self.proc)

    def stop(self) -> int:
        """SIGTERM (then SIGKILL after 10 s); the exit status, 0 if it never started."""
        return stop_process(self.proc, timeout=10.0)

    def tail(self, n: int = 30) -> str:
        return log_tail(self.log, n)


# ------------------------------------------------------------------------------------------------
# Ports


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def free_port(*addresses: str, tcp: bool = True, udp: bool = True) -> int:
    """A port free on every one of `addresses` (127.0.0.1 when none), for TCP and/or UDP: probed
    by binding exactly what the server will bind (a wildcard "::" as IPv6-only, as horizond
    binds it), released again before returning."""
    kinds = [k for k, want in ((socket.SOCK_STREAM, tcp), (socket.SOCK_DGRAM, udp)) if want]
    binds = [(a, k) for a in (addresses or ("127.0.0.1",)) for k in kinds]
    for _ in range(100):
        held: list[socket.socket] = []
        try:
            port = 0
            for address, kind in binds:
                s = socket.socket(family_of(address), kind)
                held.append(s)
                if family_of(address) == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((address, port))
                port = s.getsockname()[1]
            return port
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise CheckFailed(f"no port free on {', '.join(a for a, _ in binds[::len(kinds)])}")


def port_free(address: str, port: int) -> bool:
    """Whether a TCP listener could bind `address`:`port` now."""
    with socket.socket(family_of(address), socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


# ------------------------------------------------------------------------------------------------
# dig, kdig and drill


def server_for(src: str) -> str:
    """The loopback server address of the family of `src`."""
    return "::1" if ":" in src else "127.0.0.1"


def dig_command(tool: str, server: str, port: int, name: str, qtype: str = "A", *,
                src: str | None = None, tcp: bool | None = None, qclass: str = "IN",
                opts: tuple[str, ...] | list[str] = (), wait: int = 2) -> list[str]:
    """The command line of one query with `tool` (dig, kdig or drill): one try, `wait` seconds,
    over TCP or UDP when `tcp` says (the tool's default when None), from `src`."""
    if tool in ("dig", "kdig"):
        cmd = [tool, "-p", str(port), f"@{server}"] + (["-b", src] if src else [])
        cmd += ["+tries=1" if tool == "dig" else "+retry=0", f"+time={wait}"]
        if tcp is not None:
            cmd.append("+tcp" if tcp else "+notcp")
        return cmd + [*opts, "-c", qclass, "-t", qtype, "-q", name]
    if tool == "drill":
        return ["drill", "-p", str(port), *(["-I", src] if src else []),
                *(["-t"] if tcp else []), *opts, f"@{server}", name, qtype, qclass]
    raise ValueError(tool)


def dig_output(cmd: list[str], timeout: float = SUBPROCESS_TIMEOUT) -> str:
    """Runs a dig_command; its command line and everything it printed."""
    p = run(cmd, timeout=timeout)
    return f"$ {shlex.join(cmd)}\n{p.stdout}{p.stderr}"


def dig_short(server: str, port: int, name: str, qtype: str = "A", *, src: str | None = None,
              tcp: bool | None = None, strict: bool = True, wait: int = 2) -> list[str]:
    """`dig +short`: the answer's data, sorted. +short still prints errors (";; communications
    error ..."): only answer lines count. `strict` fails when dig exits non-zero."""
    cmd = dig_command("dig", server, port, name, qtype, src=src, tcp=tcp, opts=("+short",),
                      wait=wait)
    p = run(cmd)
    if strict and p.returncode != 0:
        raise CheckFailed(f"dig failed\n{shown(p)}")
    return sorted(line.strip() for line in p.stdout.splitlines()
                  if line.strip() and not line.startswith(";"))


class RR(NamedTuple):
    name: str
    ttl: int
    cls: str
    type: str
    rdata: str


@dataclass
class DigResult:
    cmd: list[str]
    out: str
    rc: int
    status: str | None = None
    flags: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)  # header ANSWER/AUTHORITY counts
    unparsed: list[str] = field(default_factory=list)  # record lines the parser did not understand
    question: list[tuple[str, str, str]] = field(default_factory=list)  # (name, class, type)
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    nsid: str | None = None
    edns_version: int | None = None  # None: the answer had no OPT
    edns_flags: set[str] = field(default_factory=set)
    edns_udp: int | None = None

    def fail(self, message: str) -> NoReturn:
        raise CheckFailed(f"{message}\n$ {shlex.join(self.cmd)}\n{self.out.rstrip()}")

    def rdatas(self, rtype: str | None = None) -> list[str]:
        return sorted(r.rdata for r in self.answer if rtype is None or r.type == rtype)

    def addresses(self) -> list[str]:
        return sorted(str(ipaddress.ip_address(r.rdata)) for r in self.answer
                      if r.type in ("A", "AAAA"))

    def txt(self) -> list[str]:
        out = []
        for r in self.answer:
            if r.type == "TXT":
                out += [re.sub(r"\\(.)", r"\1", s)
                        for s in re.findall(r'"((?:[^"\\]|\\.)*)"', r.rdata)]
        return out


HEADER_RE = re.compile(r"->>HEADER<<-.*?(?:status|rcode): ([A-Z0-9]+)")
FLAGS_RE = re.compile(r"^;; [Ff]lags:([^;]*);")
SECTION_RE = re.compile(r"^;; (QUESTION|ANSWER|AUTHORITY|ADDITIONAL) SECTION:")
COUNT_RE = re.compile(r"(ANSWER|AUTHORITY): (\d+)")
NSID_RE = re.compile(r'NSID:[^"]*"(.*)"')
# dig: "; EDNS: version: 0, flags: do; udp: 1232";
# kdig: ";; Version: 0; flags: do; UDP size: 1232 B"
EDNS_RE = re.compile(r"^;+ (?:EDNS: version: |Version: )(\d+)[,;] flags:([^;]*); "
                     r"(?:udp|UDP size): (\d+)")


def parse_dig(cmd: list[str], out: str, rc: int) -> DigResult:
    """Parses dig, kdig and drill output; a later message (dig's TCP retry) replaces an earlier."""
    r = DigResult(cmd, out, rc)
    section = None
    for line in out.splitlines():
        m = HEADER_RE.search(line)
        if m:
            r.status, r.flags, r.question = m.group(1), set(), []
            r.answer, r.authority, r.additional = [], [], []
            r.counts, r.unparsed = {}, []
            r.nsid = r.edns_version = r.edns_udp = None
            r.edns_flags = set()
            section = None
            continue
        m = FLAGS_RE.match(line)
        if m:
            r.flags = set(m.group(1).split())
            r.counts = {k: int(v) for k, v in COUNT_RE.findall(line)}
            continue
        m = SECTION_RE.match(line)
        if m:
            section = m.group(1)
            continue
        m = NSID_RE.search(line)
        if m and line.startswith(";"):
            r.nsid = m.group(1)
            continue
        m = EDNS_RE.match(line)
        if m:
            r.edns_version, r.edns_udp = int(m.group(1)), int(m.group(3))
            r.edns_flags = set(m.group(2).split())
            continue
        if not line.strip():
            section = None
            continue
        if section == "QUESTION":
            f = line.lstrip("; \t").split()
            if len(f) >= 3:
                r.question.append((f[0], f[-2], f[-1]))
            continue
        if section in ("ANSWER", "AUTHORITY", "ADDITIONAL") and not line.startswith(";"):
            f = line.split(None, 4)
            if len(f) == 5 and f[1].isdigit():
                rr = RR(f[0], int(f[1]), f[2], f[3], f[4].strip())
                {"ANSWER": r.answer, "AUTHORITY": r.authority,
                 "ADDITIONAL": r.additional}[section].append(rr)
            elif section != "ADDITIONAL":
                r.unparsed.append(line)
            continue
    return r


def dig(tool: str, server: str, port: int, name: str, qtype: str = "A", **kw) -> DigResult:
    """One dig_command, run and parsed."""
    cmd = dig_command(tool, server, port, name, qtype, **kw)
    p = run(cmd)
    return parse_dig(cmd, p.stdout + p.stderr, p.returncode)


# ------------------------------------------------------------------------------------------------
# DNS messages: built by hand where a test needs exact (or malformed) bytes, parsed by dnspython

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
A, NS, CNAME, SOA, TXT, AAAA, OPT = 1, 2, 5, 6, 16, 28, 41


def encode_name(name: str) -> bytes:
    """A name in wire format, uncompressed (labels are not checked: tests build bad ones too)."""
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def make_query(qid: int, name: str, qtype: int = A, *, rd: bool = True, flags: int | None = None,
               edns: bool = False, do: bool = False, udp: int = 1232, options: bytes = b"",
               qd: int = 1, an: int = 0, ns: int = 0, ar: int | None = None,
               question: bytes | None = None, tail: bytes = b"") -> bytes:
    """A query, byte for byte: header (flags RD unless `rd` is false or `flags` is given; the
    counts as given), the question (or `question` as is), an OPT with `edns` (payload `udp`, DO,
    `options` as wire bytes), then `tail`."""
    if question is None:
        question = encode_name(name) + struct.pack("!HH", qtype, 1)
    opt = b""
    if edns:
        opt = b"\0" + struct.pack("!HHIH", OPT, udp, 0x8000 if do else 0, len(options)) + options
    if flags is None:
        flags = 0x0100 if rd else 0
    if ar is None:
        ar = 1 if edns else 0
    return struct.pack("!6H", qid, flags, qd, an, ns, ar) + question + opt + tail


class Record(NamedTuple):
    section: str   # "an", "ns" or "ar"
    name: str      # as sent (case kept), absolute
    type: int
    cls: int       # for OPT: the UDP payload size
    ttl: int       # for OPT: extended rcode, version and flags (DO is 0x8000)
    rdata: bytes   # uncompressed wire format


@dataclass
class Message:
    """A parsed DNS message: header fields as sent, records in wire order (OPT last)."""
    id: int
    flags: int     # the header's flags word, opcode and rcode bits included
    rcode: int     # with the extended bits from OPT
    counts: tuple[int, int, int, int]
    question: list[tuple[str, int, int]]
    records: list[Record]
    options: list[tuple[int, bytes]] = field(default_factory=list)  # EDNS options of the OPT
    raw: bytes = b""
    parsed: object = None  # the dnspython message, for anything else

    @property
    def questions(self) -> list[tuple[str, int, int]]:
        return self.question

    @property
    def qr(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def tc(self) -> bool:
        return bool(self.flags & 0x0200)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    def has(self, flag: str) -> bool:
        bit = {"qr": 0x8000, "aa": 0x0400, "tc": 0x0200, "rd": 0x0100, "ra": 0x0080,
               "ad": 0x0020, "cd": 0x0010}[flag]
        return bool(self.flags & bit)

    def section(self, name: str) -> list[Record]:
        return [r for r in self.records if r.section == name]

    def addresses(self) -> list[str]:
        return sorted(str(ipaddress.ip_address(r.rdata)) for r in self.section("an")
                      if r.type in (A, AAAA))

    def opt(self) -> Record | None:
        return next((r for r in self.records if r.type == OPT), None)

    def has_opt(self) -> bool:
        return self.opt() is not None

    def ede(self) -> tuple[int, str] | None:
        """RFC 8914: (INFO-CODE, EXTRA-TEXT) of the first Extended DNS Error option."""
        for code, value in self.options:
            if code == 15 and len(value) >= 2:
                return struct.unpack("!H", value[:2])[0], value[2:].decode("utf-8", "replace")
        return None


def parse_message(data: bytes) -> Message:
    """Parses a whole message with dnspython, strictly (every count honoured, nothing left over,
    one record per entry in wire order). Raises ValueError on anything malformed."""
    if dns is None:
        raise CheckFailed("python3's dns module is missing (apt-get install python3-dnspython)")
    if len(data) < 12:
        raise ValueError(f"{len(data)} bytes, shorter than a header")
    qid, flags, *counts = struct.unpack("!6H", data[:12])
    # dnspython knows only assigned opcodes (and reads UPDATE's sections by other names); the
    # opcode does not change the wire format, so it parses as a QUERY and `flags` keeps the real one.
    as_query = data[:2] + struct.pack("!H", flags & ~0x7800) + data[4:]
    try:
        m = dns.message.from_wire(as_query, one_rr_per_rrset=True)
    except (dns.exception.DNSException, ValueError, struct.error, IndexError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None
    records = [Record(section, rrset.name.to_text(), int(rrset.rdtype), int(rrset.rdclass),
                      rrset.ttl, rd.to_wire())
               for section, rrsets in (("an", m.answer), ("ns", m.authority), ("ar", m.additional))
               for rrset in rrsets for rd in rrset]
    options = []
    if m.opt is not None:
        records.append(Record("ar", m.opt.name.to_text(), OPT, int(m.opt.rdclass), m.opt.ttl,
                              m.opt[0].to_wire()))
        options = [(int(o.otype), o.to_wire()) for o in m.opt[0].options]
    return Message(qid, flags, int(m.rcode()), tuple(counts),
                   [(q.name.to_text(), int(q.rdtype), int(q.rdclass)) for q in m.question],
                   records, options, data, m)


def frame(msg: bytes) -> bytes:
    """RFC 1035 §4.2.2: a message over TCP, with its two-byte length."""
    return struct.pack("!H", len(msg)) + msg


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise CheckFailed(f"connection closed by the server after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_frame(s: socket.socket) -> bytes:
    """One length-prefixed message from a TCP stream."""
    try:
        (length,) = struct.unpack("!H", recv_exact(s, 2))
        return recv_exact(s, length)
    except socket.timeout:
        raise CheckFailed("no TCP answer within the timeout") from None


def udp_answer(sock: socket.socket, qid: int, timeout: float) -> Message | None:
    """Reads `sock` until the answer with ID `qid` (earlier answers are skipped), or None after
    `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return None
        m = parse_message(sock.recv(65535))
        if m.id == qid:
            return m


def dns_answers(port: int, name: str, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """Whether a server on `host`:`port` answers a query for `name` over UDP at all (a readiness
    check: any answer will do)."""
    try:
        with socket.socket(family_of(host), socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            s.sendto(make_query(1, name), (host, port))
            return bool(select.select([s], [], [], timeout)[0])
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------
# HTTP on loopback (never through a proxy)

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Http:
    status: int
    headers: HeaderMap  # case-insensitive
    text: str
    truncated: bool = False  # the connection closed before the whole body arrived

    def json(self):
        try:
            return json.loads(self.text)
        except ValueError:
            raise CheckFailed(f"HTTP {self.status}: body is not JSON: {self.text[:300]!r}") \
                from None


def http(method: str, url: str, data: bytes | None = None, *, headers: dict | None = None,
         timeout: float = 5.0) -> Http:
    """One request; HTTP errors are results too, a connection failure is a CheckFailed."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=timeout) as r:
            try:
                return Http(r.status, r.headers, r.read().decode(errors="replace"))
            except http_client.IncompleteRead as e:
                return Http(r.status, r.headers, e.partial.decode(errors="replace"), truncated=True)
    except urllib.error.HTTPError as e:
        return Http(e.code, e.headers, e.read().decode(errors="replace"))
    except (urllib.error.URLError, http_client.HTTPException, OSError) as e:
        raise CheckFailed(f"{method} {url}: {e!r}") from None


def http_get(url: str, timeout: float = 2.0, data: bytes | None = None,
             headers: dict | None = None) -> tuple[int, str, HeaderMap]:
    """(status, body, headers) of a GET (or POST with `data`)."""
    r = http("POST" if data is not None else "GET", url, data, headers=headers, timeout=timeout)
    return r.status, r.text, r.headers


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The status of a GET, None when nothing answers (for readiness checks)."""
    try:
        return http("GET", url, timeout=timeout).status
    except CheckFailed:
        return None


def curl(url: str, *, resolve: str | None = None, interface: str | None = None,
         max_time: float = 3.0, extra: list[str] | None = None) -> subprocess.CompletedProcess:
    """curl, silent but for errors, never through a proxy."""
    argv = ["curl", "-sS", "--max-time", str(max_time), "--noproxy", "*"]
    if resolve:
        argv += ["--resolve", resolve]
    if interface:
        argv += ["--interface", interface]
    return run(argv + (extra or []) + [url], timeout=max_time + 10, env=clean_env())


def yaml_docs(text: str, what: str) -> list:
    """Every document of a YAML text, empty ones dropped."""
    if yaml is None:
        raise CheckFailed("python3's yaml module is missing (apt-get install python3-yaml)")
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise CheckFailed(f"{what} does not parse as YAML: {e}") from None


# ------------------------------------------------------------------------------------------------
# The AWS CLI


def aws_cli() -> str | None:
    """The AWS CLI v2 to test against: Debian's /usr/bin/aws (the awscli package), else `aws` on
    PATH. /usr/bin/aws comes first because a pyenv or pip aws-cli v1 may come first on PATH."""
    if os.access("/usr/bin/aws", os.X_OK):
        return "/usr/bin/aws"
    return shutil.which("aws")


def aws_env(home: Path) -> dict[str, str]:
    """A clean environment for the AWS CLI: dummy credentials and region in `home`, no pager, no
    instance metadata lookups."""
    home.mkdir(exist_ok=True)
    (home / "config").write_text("[default]\nregion = ap-northeast-2\noutput = json\n")
    (home / "credentials").write_text(
        "[default]\naws_access_key_id = x\naws_secret_access_key = x\n")
    return clean_env(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
                     AWS_DEFAULT_REGION="ap-northeast-2", AWS_CONFIG_FILE=str(home / "config"),
                     AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
                     AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="", HOME=str(home))
