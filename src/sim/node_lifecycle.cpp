// The node lifecycle controller: monitorNodeHealth, the zone states and taint-based eviction.
#include "sim/node_lifecycle.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>

namespace horizon::sim {

NodeLifecycleController::NodeLifecycleController(const Scenario& sc, const Millis& now,
                                                 std::vector<Node>& nodes, EventQueue& queue,
                                                 const Timeline& timeline)
    : sc_(sc)
    , m_(sc.model)
    , now_(now)
    , nodes_(nodes)
    , q_(queue)
    , timeline_(timeline) {
    zones_.resize(sc.zones.size());
    for (size_t z = 0; z < sc.zones.size(); ++z) {
        zones_[z].name = sc.zones[z];
    }
}

void NodeLifecycleController::start() {
    for (const Node& n : nodes_) {
        ++zones_[n.zone].nodes;
    }
    q_.push(now_, kMonitor, 0);
}

Millis NodeLifecycleController::grace_for(const Node& n) const {
    const Millis g = grace_;
    return now_ - n.created < m_.startup_grace ? std::max(g, m_.startup_grace) : g;
}

void NodeLifecycleController::account(uint64_t requests, uint64_t bytes) {
    counters_.api_requests += requests;
    counters_.etcd_bytes += bytes;
}

void NodeLifecycleController::node_event(uint32_t i, const std::string& text) const {
    timeline_.node_event(nodes_[i].ip, text);
}

void NodeLifecycleController::set_ready(uint32_t i, Cond c) {
    Node& n = nodes_[i];
    const Cond old = static_cast<Cond>(n.ready);
    n.ready = static_cast<uint8_t>(c);
    account(1, m_.node_bytes); // the controller writes the condition
    if (c == Cond::Unknown) {
        n.posted = static_cast<uint8_t>(Cond::Unknown); // what the API server now holds
        node_event(i, fmt::format("Ready {} -> Unknown: no heartbeat for {:.1f} s (grace {} s)",
                                  cond_text(old), static_cast<double>(now_ - n.seen_hb) / 1000.0,
                                  grace_for(n) / 1000));
    } else {
        node_event(i, fmt::format("Ready {} -> {}", cond_text(old), cond_text(c)));
    }
    if (c == Cond::True && n.taint != kNoTaint) {
        untaint(i, "the node is Ready again");
    }
}

void NodeLifecycleController::untaint(uint32_t i, const char* why) {
    Node& n = nodes_[i];
    if (n.taint == kNoTaint) {
        return;
    }
    node_event(i, fmt::format("taint {} removed ({})", taint_text(n.taint), why));
    n.taint = kNoTaint;
    n.taint_at = -1;
    ++n.evict_gen; // cancels the pending eviction
    account(1, m_.node_bytes);
}

void NodeLifecycleController::monitor_pass() {
    q_.push(now_ + m_.monitor_period, kMonitor, 0);
    std::vector<uint32_t> ready(zones_.size());
    std::vector<uint32_t> not_ready(zones_.size());
    update_conditions(ready, not_ready);
    update_zone_states(ready, not_ready);
    if (disrupted_all_) {
        return;
    }
    queue_taints();
    drain_taint_queues();
}

void NodeLifecycleController::update_conditions(std::vector<uint32_t>& ready,
                                                std::vector<uint32_t>& not_ready) {
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        // tryUpdateNodeHealth: a heartbeat newer than the one last observed (a newly observed
        // node included) stamps probeTimestamp with the controller's own clock; the node goes
        // Unknown only when now is strictly after probeTimestamp + grace. With 5 s passes that
        // is grace + 5..10 s after the kubelet's last renewal.
        if (const Millis hb = std::max(n.last_renew, n.last_post); hb > n.seen_hb) {
            n.seen_hb = hb;
            n.probe = now_;
        }
        if (now_ - n.probe > grace_for(n)) {
            if (n.ready != static_cast<uint8_t>(Cond::Unknown)) {
                set_ready(i, Cond::Unknown);
            }
        } else if (n.posted != static_cast<uint8_t>(Cond::Unknown) && n.ready != n.posted) {
            set_ready(i, static_cast<Cond>(n.posted));
        }
        if (n.ready == static_cast<uint8_t>(Cond::True)) {
            ++ready[n.zone];
        } else {
            ++not_ready[n.zone];
        }
    }
}

void NodeLifecycleController::update_zone_states(const std::vector<uint32_t>& ready,
                                                 const std::vector<uint32_t>& not_ready) {
    // Zone states (ComputeZoneState) and the disruption rules of EKS-FACTS §5.
    bool all_full = true;
    bool any = false;
    for (size_t z = 0; z < zones_.size(); ++z) {
        Zone& zone = zones_[z];
        if (zone.nodes == 0) {
            continue;
        }
        any = true;
        uint8_t state = 0;
        if (ready[z] == 0 && not_ready[z] > 0) {
            state = 2;
        } else if (not_ready[z] > 2 &&
                   static_cast<double>(not_ready[z]) / static_cast<double>(zone.nodes) >=
                       m_.unhealthy_zone_threshold) {
            state = 1;
        }
        if (state != 2) {
            all_full = false;
        }
        if (state != zone.state) {
            static constexpr std::array<const char*, 3> kNames = {"Normal", "PartialDisruption",
                                                                  "FullDisruption"};
            Record r;
            r.type = "zone";
            r.text = fmt::format("zone {}: {} -> {} ({} of {} nodes not Ready)", zone.name,
                                 kNames[zone.state], kNames[state], not_ready[z], zone.nodes);
            r.data["zone"] = zone.name;
            r.data["state"] = kNames[state];
            timeline_.emit(std::move(r));
            zone.state = state;
        }
    }
    all_full = all_full && any;
    if (all_full == disrupted_all_) {
        return;
    }
    disrupted_all_ = all_full;
    Record r;
    r.type = "controller";
    r.text = all_full ? "all zones fully disrupted: the node controller assumes a control-plane "
                        "network problem, removes NoExecute taints and stops evicting"
                      : "some nodes are Ready again: evictions resume";
    timeline_.emit(std::move(r));
    if (all_full) {
        for (uint32_t i = 0; i < nodes_.size(); ++i) {
            untaint(i, "all zones fully disrupted");
            nodes_[i].queued = false;
        }
        for (auto& zone : zones_) {
            zone.queue.clear();
            zone.queue_head = 0;
        }
    }
}

void NodeLifecycleController::queue_taints() {
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        if (n.ready == static_cast<uint8_t>(Cond::True)) {
            continue;
        }
        const uint8_t kind = n.ready == static_cast<uint8_t>(Cond::Unknown) ? 1 : 2;
        if (n.taint != kNoTaint && n.taint != kind) {
            // Swapped at once, not rate limited; the new taint's tolerations start now.
            node_event(
                i, fmt::format("taint {} replaced by {}", taint_text(n.taint), taint_text(kind)));
            n.taint = kind;
            n.taint_at = now_;
            q_.push(now_ + m_.toleration, kEvict, i, ++n.evict_gen);
        } else if (n.taint == kNoTaint && !n.queued) {
            n.queued = true;
            zones_[n.zone].queue.push_back(i);
        }
    }
}

void NodeLifecycleController::drain_taint_queues() {
    // One token bucket (burst 1) per zone.
    for (auto& zone : zones_) {
        double rate = m_.eviction_rate;
        if (zone.state == 1) {
            rate = zone.nodes > m_.large_cluster_threshold ? m_.secondary_eviction_rate : 0.0;
        }
        while (zone.queue_head < zone.queue.size() && rate > 0 && now_ >= zone.next_token) {
            const uint32_t i = zone.queue[zone.queue_head++];
            Node& n = nodes_[i];
            n.queued = false;
            if (n.ready == static_cast<uint8_t>(Cond::True) || n.taint != kNoTaint) {
                continue; // recovered meanwhile: no token spent
            }
            n.taint = n.ready == static_cast<uint8_t>(Cond::Unknown) ? 1 : 2;
            n.taint_at = now_;
            account(1, m_.node_bytes);
            node_event(i, fmt::format("taint {} added; pods without a toleration are evicted "
                                      "at +{} s",
                                      taint_text(n.taint), m_.toleration / 1000));
            q_.push(now_ + m_.toleration, kEvict, i, ++n.evict_gen);
            zone.next_token = now_ + static_cast<Millis>(1000.0 / rate);
        }
        if (zone.queue_head == zone.queue.size()) {
            zone.queue.clear();
            zone.queue_head = 0;
        }
    }
}

void NodeLifecycleController::evict(uint32_t i) {
    Node& n = nodes_[i];
    if (n.taint == kNoTaint) {
        return;
    }
    const uint16_t ds = sc_.groups[n.group].daemonset_pods;
    if (n.pods > 0) {
        node_event(i, fmt::format("evicted {} pod(s) after the {} s toleration of {}; {} "
                                  "DaemonSet pod(s) stay",
                                  n.pods, m_.toleration / 1000, taint_text(n.taint), ds));
        pods_evicted_ += n.pods;
        account(n.pods, static_cast<uint64_t>(n.pods) * m_.pod_bytes);
        n.pods = 0;
    }
}

} // namespace horizon::sim
