// The node lifecycle controller of kube-controller-manager as the model runs it (EKS-FACTS §5):
// a node without a heartbeat for the grace period goes Unknown, a node not Ready gets a
// NoExecute taint through its zone's rate-limited queue, and its ordinary pods are evicted when
// the toleration runs out; zone disruption states slow or stop the tainting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/event_queue.hpp"
#include "sim/node_state.hpp"
#include "sim/output.hpp"
#include "sim/scenario.hpp"

namespace horizon::sim {

class NodeLifecycleController {
public:
    /// Works on the simulation's nodes, clock, queue and timeline, which must outlive it.
    NodeLifecycleController(const Scenario& sc, const Millis& now, std::vector<Node>& nodes,
                            EventQueue& queue, const Timeline& timeline);

    /// Counts the nodes per zone and schedules the first pass now; call once, after the nodes
    /// exist.
    void start();
    /// One pass (kMonitor, every monitor_period): conditions, zone states, taints.
    void monitor_pass();
    /// A taint's toleration ran out (kEvict): the node's ordinary pods are evicted.
    void evict(uint32_t i);

    /// node-monitor-grace-period (it follows the Kubernetes version).
    void set_grace(Millis grace) { grace_ = grace; }

    [[nodiscard]] Millis grace() const { return grace_; }

    [[nodiscard]] uint64_t pods_evicted() const { return pods_evicted_; }

    /// The controller's own API requests and etcd writes (conditions, taints, evictions).
    [[nodiscard]] const Counters& counters() const { return counters_; }

private:
    struct Zone {
        std::string name;
        std::vector<uint32_t> queue; ///< nodes waiting to be tainted, FIFO
        size_t queue_head = 0;
        Millis next_token = 0;
        uint32_t nodes = 0;
        uint8_t state = 0; ///< 0 normal, 1 partial disruption, 2 full disruption
    };

    /// The grace period of this node: longer while it is starting up.
    [[nodiscard]] Millis grace_for(const Node& n) const;
    void set_ready(uint32_t i, Cond c);
    void untaint(uint32_t i, const char* why);
    void account(uint64_t requests, uint64_t bytes);
    void node_event(uint32_t i, const std::string& text) const;

    // The steps of a pass, in order.
    void update_conditions(std::vector<uint32_t>& ready, std::vector<uint32_t>& not_ready);
    void update_zone_states(const std::vector<uint32_t>& ready,
                            const std::vector<uint32_t>& not_ready);
    void queue_taints();
    void drain_taint_queues();

    const Scenario& sc_;
    const Model& m_;
    const Millis& now_;
    std::vector<Node>& nodes_;
    EventQueue& q_;
    const Timeline& timeline_;
    std::vector<Zone> zones_;
    bool disrupted_all_ = false;
    Millis grace_ = 40'000;
    uint64_t pods_evicted_ = 0;
    Counters counters_;
};

} // namespace horizon::sim
