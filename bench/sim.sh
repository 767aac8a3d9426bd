#!/usr/bin/env bash
# horizon-sim's benchmark (on demand, never in CI): 10,000 and 100,000 Lease nodes for one
# simulated hour. Prints wall time, peak memory (RSS) and events per second against the targets
# of issue 5 (< 2 s, < 30 s, < 1 GiB). Usage: bench/sim.sh [build-dir] (default: build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
sim=$build/horizon-sim
[[ -x $sim ]] || { echo "bench/sim.sh: $sim not built (cmake --build $build)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "bench/sim.sh: needs /usr/bin/time (package time)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scenario() { # nodes
    cat <<TOML
[scenario]
name = "bench-$1"
duration = "1h"
node_events = false
[cluster]
name = "bench"
region = "us-east-1"
vpc_cidrs = ["10.0.0.0/8"]
private_ips = ["10.0.0.20", "10.64.0.20", "10.128.0.20"]
public_ips = ["203.0.113.10", "203.0.113.20"]
access_mode = "public+private"
[[cluster.subnet]]
id = "a"
cidr = "10.0.0.0/12"
az = "us-east-1a"
nat_ip = "198.51.100.1"
[[cluster.subnet]]
id = "b"
cidr = "10.64.0.0/12"
az = "us-east-1b"
nat_ip = "198.51.100.2"
[[cluster.subnet]]
id = "c"
cidr = "10.128.0.0/12"
az = "us-east-1c"
nat_ip = "198.51.100.3"
[[cluster.node_group]]
name = "ng"
nodes = $1
subnets = ["a", "b", "c"]
pods = 20
daemonset_pods = 3
TOML
}

printf '%-10s %-8s %10s %8s %12s %14s %s\n' nodes sim-time wall-s target peak-MiB events events/s
status=0
for spec in 10000:2 100000:30; do
    nodes=${spec%%:*}
    target=${spec##*:}
    scenario "$nodes" >"$work/s.toml"
    /usr/bin/time -f '%e %M' -o "$work/time" "$sim" run "$work/s.toml" --format json >"$work/out"
    read -r wall rss_kb <"$work/time"
    events=$(grep '"type":"end"' "$work/out" | sed 's/.*"events":\([0-9]*\).*/\1/')
    rate=$(awk -v e="$events" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? e / w : 0) }')
    mib=$(awk -v k="$rss_kb" 'BEGIN { printf "%.0f", k / 1024 }')
    verdict=ok
    if awk -v w="$wall" -v t="$target" -v m="$mib" 'BEGIN { exit !(w >= t || m >= 1024) }'; then
        verdict=SLOW; status=1
    fi
    printf '%-10s %-8s %10s %7ss %12s %14s %s %s\n' "$nodes" 1h "$wall" "$target" "$mib" "$events" "$rate" "$verdict"
done
exit $status
