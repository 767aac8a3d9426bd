// The kubelet's heartbeats (KEP-0009): a Lease renewal every 10 s with retry and backoff, and
// the NodeStatus computed every 10 s and posted on change, every 5 min, or always without
// Leases; each counted as API requests and etcd bytes of its node group.
#include <algorithm>
#include <fmt/format.h>

#include "sim/simulation.hpp"

namespace horizon::sim {

void Simulation::lease_renew(uint32_t i) {
    Node& n = nodes_[i];
    if (!n.kubelet_running) {
        return;
    }
    const Model& m = sc_.model;
    if (kubelet_request(i)) {
        if (n.backoff > 0) {
            node_event(i, fmt::format("lease renewed after {} failed attempt(s)", n.backoff));
        }
        n.backoff = 0;
        n.last_renew = now_;
        ++group_counters_[n.group].lease_updates;
        account(n.group, 1, m.lease_bytes); // one PUT of the Lease
        q_.push(now_ + m.lease_interval, kLease, i, n.lease_gen);
        return;
    }
    // The request failed after the client timeout (a dropped SYN or a silent peer); retry with
    // backoff 200 ms doubling to 7 s (EKS-FACTS §5).
    const Millis backoff =
        std::min<Millis>(m.backoff_min << std::min<uint8_t>(n.backoff, 20), m.backoff_max);
    if (n.backoff < 255) {
        ++n.backoff;
    }
    if (n.backoff == 1) {
        node_event(i, "lease renewal failed; retrying with backoff");
    }
    q_.push(now_ + m.request_timeout + backoff, kLease, i, n.lease_gen);
}

void Simulation::status_tick(uint32_t i) {
    Node& n = nodes_[i];
    if (!n.kubelet_running) {
        return;
    }
    const Model& m = sc_.model;
    q_.push(now_ + m.status_interval, kStatus, i, n.status_gen);
    if (!kubelet_request(i)) {
        return;
    }
    // Each computation reads the Node (one GET, from the API server's cache), and posts it when
    // it changed (against what the API server holds), every 5 min, or always without Leases.
    Counters& gc = group_counters_[n.group];
    ++gc.status_gets;
    account(n.group, 1, 0);
    const bool status_only = sc_.groups[n.group].heartbeat == Heartbeat::StatusOnly;
    if (status_only || n.reported != n.posted || now_ - n.last_post >= m.status_report) {
        if (n.reported != n.posted) {
            node_event(i, fmt::format("kubelet posts NodeStatus Ready={}",
                                      cond_text(static_cast<Cond>(n.reported))));
        }
        ++gc.status_patches;
        account(n.group, 1, m.node_bytes); // the whole Node object is written again
        n.last_post = now_;
        n.posted = n.reported;
    }
}

} // namespace horizon::sim
