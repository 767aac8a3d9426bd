// What the run measures: a metrics sample every metrics_interval (--metrics, --plot) and the
// end-of-run summary of API and etcd load per node group.
#include <cmath>
#include <fmt/format.h>

#include "sim/simulation.hpp"

namespace horizon::sim {

namespace {

constexpr uint32_t kLeaseDuration = 40'000; // leaseDurationSeconds: "fresh" in the metrics

} // namespace

std::vector<GroupTotals> Simulation::totals() const {
    std::vector<GroupTotals> out;
    for (size_t g = 0; g < sc_.groups.size(); ++g) {
        const Counters& c = group_counters_[g];
        out.push_back({sc_.groups[g].name, sc_.groups[g].heartbeat, sc_.groups[g].nodes,
                       c.lease_updates, c.status_gets, c.status_patches, c.etcd_bytes,
                       c.api_requests});
    }
    return out;
}

void Simulation::sample() {
    q_.push(now_ + sc_.metrics_interval, kSample, 0);
    Sample s;
    s.t = now_;
    for (const Node& n : nodes_) {
        const auto c = static_cast<Cond>(n.ready);
        s.ready += c == Cond::True ? 1 : 0;
        s.not_ready += c == Cond::False ? 1 : 0;
        s.unknown += c == Cond::Unknown ? 1 : 0;
        s.tainted += n.taint != kNoTaint ? 1 : 0;
        s.leases_fresh += sc_.groups[n.group].heartbeat == Heartbeat::Lease &&
                                  now_ - n.last_renew < kLeaseDuration
                              ? 1
                              : 0;
        for (const Conn* cn : {&n.kubelet, &n.proxy}) {
            if (cn->state == ConnState::Established) {
                (peers_[cn->peer].is_public ? s.conns_public : s.conns_private) += 1;
            }
        }
    }
    uint64_t bytes = controller_.counters().etcd_bytes;
    uint64_t requests = controller_.counters().api_requests;
    for (const auto& c : group_counters_) {
        bytes += c.etcd_bytes;
        requests += c.api_requests;
    }
    const double secs = static_cast<double>(sc_.metrics_interval) / 1000.0;
    s.etcd_bytes_per_s = static_cast<double>(bytes - last_bytes_) / secs;
    s.api_requests_per_s = static_cast<double>(requests - last_requests_) / secs;
    last_bytes_ = bytes;
    last_requests_ = requests;
    s.dns_private = dns_count_[0];
    s.dns_public = dns_count_[1];
    s.dns_nxdomain = dns_count_[2];
    dns_count_[0] = dns_count_[1] = dns_count_[2] = 0;
    s.pods_evicted = static_cast<uint32_t>(pods_evicted());
    opt_.on_sample(s);
}

Record Simulation::summary() const {
    Record r;
    r.type = "end";
    r.text = fmt::format("end: {} events; {} pod(s) evicted", events_, pods_evicted());
    r.data["events"] = events_;
    std::vector<std::vector<std::string>> rows = {{"NODE GROUP", "HEARTBEAT", "NODES",
                                                   "ETCD MB/MIN", "API REQ/S", "LEASE PUT/S",
                                                   "NODE GET/S", "NODE PATCH/S"}};
    const double seconds = static_cast<double>(std::max<Millis>(until_, 1)) / 1000.0;
    nlohmann::ordered_json groups = nlohmann::ordered_json::array();
    for (const auto& g : totals()) {
        const double mb_min = static_cast<double>(g.etcd_bytes) / 1e6 / (seconds / 60.0);
        rows.push_back({g.name, g.heartbeat == Heartbeat::Lease ? "lease" : "status-only",
                        std::to_string(g.nodes), fmt::format("{:.1f}", mb_min),
                        fmt::format("{:.1f}", static_cast<double>(g.api_requests) / seconds),
                        fmt::format("{:.1f}", static_cast<double>(g.lease_updates) / seconds),
                        fmt::format("{:.1f}", static_cast<double>(g.status_gets) / seconds),
                        fmt::format("{:.1f}", static_cast<double>(g.status_patches) / seconds)});
        groups.push_back({{"group", g.name},
                          {"heartbeat", g.heartbeat == Heartbeat::Lease ? "lease" : "status-only"},
                          {"nodes", g.nodes},
                          {"etcd_bytes", g.etcd_bytes},
                          {"etcd_mb_per_min", std::round(mb_min * 10) / 10},
                          {"api_requests", g.api_requests}});
    }
    r.lines = table(rows);
    const Counters& other = controller_.counters();
    r.lines.push_back(fmt::format("node controller and evictions: {} API requests, {:.1f} MB "
                                  "written to etcd",
                                  other.api_requests, static_cast<double>(other.etcd_bytes) / 1e6));
    r.data["groups"] = groups;
    return r;
}

} // namespace horizon::sim
