#!/usr/bin/env python3
"""horizon-sim against its golden outputs: every shipped scenario (config/scenarios/*.toml) in
text and json, byte for byte (tests/sim/<name>.txt, .jsonl); the same seed twice gives the same
bytes; the heartbeat-scale figures (status-only near 0.9 GB/min of etcd writes); --metrics CSV;
`check` with file:line:col errors. --update rewrites the golden files (review the diff)."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import CheckFailed, Checks, parse_args, run, run_script

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "config" / "scenarios").glob("*.toml"))
GOLDEN = ROOT / "tests" / "sim"


def sim(binary: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run([binary, *args], timeout=timeout, cwd=ROOT)


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def first_difference(got: str, want: str) -> str:
    g, w = got.splitlines(), want.splitlines()
    for i, (a, b) in enumerate(zip(g, w)):
        if a != b:
            return f"line {i + 1}:\n  got:  {a}\n  want: {b}"
    return f"lengths differ: got {len(g)} lines, want {len(w)}"


def main() -> int:
    a = parse_args(__doc__, "sim", more=lambda ap: ap.add_argument(
        "--update", action="store_true", help="rewrite the golden files"))
    checks = Checks()

    for scenario in SCENARIOS:
        for fmt, ext in (("text", "txt"), ("json", "jsonl")):
            golden = GOLDEN / f"{scenario.stem}.{ext}"

            def golden_check(scenario=scenario, fmt=fmt, golden=golden):
                r = sim(a.sim, "run", str(scenario.relative_to(ROOT)), "--format", fmt)
                expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
                if a.update:
                    golden.write_text(r.stdout)
                    return "(updated)"
                expect(golden.exists(), f"{golden} is missing (run with --update)")
                want = golden.read_text()
                expect(r.stdout == want, f"{golden.name} differs, " +
                       first_difference(r.stdout, want))
                if fmt == "json":
                    for line in r.stdout.splitlines():
                        json.loads(line)  # one JSON object per line
                return None

            checks.add(f"golden.{scenario.stem}.{fmt}", golden_check, server=False)

    def same_seed_same_bytes():
        one = sim(a.sim, "run", str(SCENARIOS[0]), "--seed", "9").stdout
        two = sim(a.sim, "run", str(SCENARIOS[0]), "--seed", "9").stdout
        other = sim(a.sim, "run", str(SCENARIOS[0]), "--seed", "10").stdout
        expect(one == two and one, "two runs with --seed 9 differ")
        expect(one != other, "--seed 10 gave the same output as --seed 9")

    def heartbeat_figures():
        r = sim(a.sim, "run", str(ROOT / "config/scenarios/heartbeat-scale.toml"), "--format",
                "json")
        end = [json.loads(x) for x in r.stdout.splitlines() if '"type":"end"' in x][0]
        groups = {g["heartbeat"]: g for g in end["groups"]}
        status, lease = groups["status-only"], groups["lease"]
        expect(status["nodes"] == 10000 and lease["nodes"] == 10000, str(groups))
        # EKS-FACTS §5: 10,000 nodes × 15 kB / 10 s ≈ 0.9 GB/min.
        expect(abs(status["etcd_mb_per_min"] - 900) < 900 * 0.02, str(status))
        expect(lease["etcd_mb_per_min"] < 60, str(lease))
        return f"status-only {status['etcd_mb_per_min']} MB/min, lease {lease['etcd_mb_per_min']}"

    def metrics_csv():
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "m.csv"
            r = sim(a.sim, "run", str(ROOT / "config/scenarios/node-failure.toml"), "--metrics",
                    str(out), "--until", "3m")
            expect(r.returncode == 0, r.stderr)
            rows = out.read_text().splitlines()
            expect(rows[0].startswith("t_s,ready,not_ready,unknown,tainted"), rows[0])
            expect(len(rows) == 1 + 18, f"{len(rows)} lines for 3 minutes at 10 s")
            last = dict(zip(rows[0].split(","), rows[-1].split(",")))
            expect(last["unknown"] == "1" and last["ready"] == "3", str(last))

    def check_ok():
        r = sim(a.sim, "check", *map(str, SCENARIOS))
        expect(r.returncode == 0, r.stderr)
        expect(r.stdout.count(": ok (") == len(SCENARIOS), r.stdout)

    def check_errors():
        with tempfile.TemporaryDirectory() as d:
            bad = Path(d) / "bad.toml"
            bad.write_text('[scenario]\nduration = "1h"\n[cluster]\nname = "x"\n'
                           'region = "eu-west-1"\nvpc_cidrs = ["10.0.0.0/16"]\n'
                           'private_ips = ["10.0.0.1"]\npublic_ips = ["192.0.2.1"]\n'
                           'acess_mode = "public"\n[[step]]\nat = "2h"\ndo = "get-nodes"\n')
            r = sim(a.sim, "check", str(bad))
            expect(r.returncode == 2, f"exit {r.returncode}")
            want = [f"{bad}:9:1: error: unknown key 'acess_mode' in [cluster] (did you mean "
                    "'access_mode'?)",
                    f"{bad}:11:6: error: step at 02:00:00.000 is after the scenario's duration "
                    "01:00:00.000"]
            expect(r.stderr.splitlines() == want, r.stderr)
            r = sim(a.sim, "run", str(Path(d) / "missing.toml"))
            expect(r.returncode == 2 and ":1:1: error: cannot read file" in r.stderr, r.stderr)

    checks.add_all([("determinism.same-seed", same_seed_same_bytes),
                    ("heartbeat-scale.figures", heartbeat_figures),
                    ("metrics.csv", metrics_csv),
                    ("check.shipped", check_ok),
                    ("check.errors", check_errors)])
    return run_script(checks, a, time_budget=240)


if __name__ == "__main__":
    sys.exit(main())
