"""The system tests' shared runner: named checks, each printed as `ok`/`FAIL`, bounded in time.

Each test script registers (name, function, needs_server) tuples and calls run_checks(); the
script's closing line `N passed, M failed` is what CI reads.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
import traceback
from pathlib import Path
from typing import Callable


class CheckFailed(Exception):
    """A check's assertion failed; the message says what was expected and what came."""


ALWAYS_RUN = ("server.start", "server.sigterm-exits-0")


def run_checks(checks: list[tuple[str, Callable[[], object], bool]], *, only: str | None,
               time_budget: float, server_alive: Callable[[], None]) -> tuple[int, int]:
    """Runs every check in order (those matching `only`, plus start and stop); a check that
    needs the server first asserts it is alive. Returns (passed, failed)."""
    pattern = re.compile(only) if only else None
    start = time.monotonic()
    passed = failed = 0
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
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {name}\n" + "\n".join("     " + line for line in str(e).splitlines()),
                  flush=True)
            continue
        except Exception:  # a bug in the script or an unexpected OS error: still a failure
            failed += 1
            print(f"FAIL {name}\n" + "\n".join("     " + line for line in
                                               traceback.format_exc().splitlines()), flush=True)
            continue
        passed += 1
        print(f"ok   {name} ({time.monotonic() - t0:.2f}s){' ' + note if note else ''}", flush=True)
    return passed, failed


def stop_process(p: subprocess.Popen, timeout: float = 5.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`; returns the exit status."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
    return p.wait(timeout=timeout)


def finish(passed: int, failed: int, *, started: float, tmp: Path, keep: bool,
           log_excerpt: Callable[[], str] | None = None) -> int:
    """Ends a test script: on failure prints `log_excerpt()` and keeps `tmp`; prints the time and
    the closing `N passed, M failed` line; returns the script's exit status."""
    if failed:
        if log_excerpt is not None:
            print(log_excerpt())
        keep = True
    if keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.monotonic() - started:.1f}s")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def framed_log_tail(log: Path, n: int = 80) -> str:
    """The last `n` lines of a server log, framed, for a failed run."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join([f"----- {log} (last {min(n, len(lines))} of {len(lines)} lines):",
                      *lines[-n:], "-----"])
