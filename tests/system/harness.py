"""The system tests' shared runner: named checks, each printed as `ok`/`FAIL`, bounded in time.

Each test script registers (name, function, needs_server) tuples and calls run_checks(); the
script's closing line `N passed, M failed` is what CI reads.
"""
from __future__ import annotations

import re
import time
import traceback
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
