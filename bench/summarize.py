#!/usr/bin/env python3
"""Summarize bench/run.sh results: one markdown table per mode, medians over rounds.

usage: summarize.py OUTDIR   (reads OUTDIR/results.tsv, prints markdown)

Medians over the clean attempts (run.sh flags an attempt unclean when other work on the machine
used more than UNATTR_MAX % of a core meanwhile). Ratios are horizond / peer: qps ratio >= 1 and CPU ratio
<= 1 mean horizond is at least as good as that peer.
"""
import csv
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
rows = list(csv.DictReader(open(out / "results.tsv"), delimiter="\t"))
# Per (server, mode): every clean attempt (no foreign CPU load seen) of every round. When a
# (server, mode) has no clean attempt at all, all its attempts are used and the row says so.
servers, modes = [], []
for r in rows:
    if r["server"] not in servers:
        servers.append(r["server"])
    if r["mode"] not in modes:
        modes.append(r["mode"])
order = {"horizond": 0, "knot": 1, "nsd": 2, "echo": 3}
servers.sort(key=lambda s: order.get(s, 9))

agg = {}
for srv in servers:
    for mode in modes:
        mine = [r for r in rows if r["server"] == srv and r["mode"] == mode]
        if not mine:
            continue
        clean = [r for r in mine if r["clean"] == "1"]
        use = clean or mine
        agg[(srv, mode)] = {
            "qps": [float(r["qps"]) for r in use],
            "us": [float(r["srv_us_per_query"]) for r in use],
            "scpu": [float(r["srv_cpu_pct"]) for r in use],
            "pcpu": [float(r["perf_cpu_pct"]) for r in use],
            "lost": sum(int(r["lost"]) for r in mine),
            "sent": sum(int(r["sent"]) for r in mine),
            "n": len(use), "noisy": not clean, "rounds": len({r["round"] for r in mine}),
            "rc": {r["rcodes"] for r in mine},
        }

MODE_TITLE = {
    "udp-vpc": "UDP from 127.10.0.5 (VPC view)",
    "udp-pub": "UDP from 127.0.0.1 (public view)",
    "tcp-vpc": "TCP from 127.10.0.5 (VPC view)",
}


def med(v):
    return statistics.median(v) if v else float("nan")


for mode in modes:
    print(f"\n### {MODE_TITLE.get(mode, mode)}\n")
    print("| server | qps | server CPU µs/query | horizond/peer qps | horizond/peer CPU µs/query "
          "| server CPU % | dnsperf CPU % | runs used | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    h = agg.get(("horizond", mode))
    for s in servers:
        a = agg.get((s, mode))
        if not a:
            continue
        q, us = med(a["qps"]), med(a["us"])
        lost = f"{a['lost']}/{a['sent']}" if a["lost"] else "0"
        if h and s != "horizond":
            rq = f"{med(h['qps']) / q:.2f}" if q else "-"
            rc = f"{med(h['us']) / us:.2f}" if us else "-"
        else:
            rq = rc = "-"
        name = {"knot": "Knot + geoip", "nsd": "NSD (no views)", "echo": "echo (UDP floor)"}.get(s, s)
        used = f"{a['n']} clean" if not a["noisy"] else f"{a['n']} NOISY"
        print(f"| {name} | {q:,.0f} | {us:.2f} | {rq} | {rc} | {med(a['scpu']):.0f} | {med(a['pcpu']):.0f} "
              f"| {used} | {lost} |")
    odd = {s: sorted(agg[(s, mode)]["rc"]) for s in servers if (s, mode) in agg
           and any(not rc.startswith("NOERROR") or rc.count("(") > 1 for rc in agg[(s, mode)]["rc"])}
    for s, rcs in odd.items():
        print(f"\nnote: {s} rcodes in {mode}: {'; '.join(rcs)}")
