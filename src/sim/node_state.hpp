// The model's compact per-node state, shared by every concern of the simulation (DNS,
// connections, heartbeats, the node lifecycle controller, steps, observations), and the event
// kinds of its queue.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sim/event_queue.hpp"
#include "util/address.hpp"

namespace horizon::sim {

/// What an event in the queue does (Event::kind); dispatched in simulation.cpp.
enum EventKind : uint8_t {
    kLease = 1,   ///< a kubelet renews its Lease (heartbeats.cpp)
    kStatus,      ///< a kubelet computes (and maybe posts) its NodeStatus (heartbeats.cpp)
    kProxy,       ///< kube-proxy (re)connects (connections.cpp)
    kEvict,       ///< a taint's toleration ran out (node_lifecycle.cpp)
    kMonitor,     ///< a node lifecycle controller pass (node_lifecycle.cpp)
    kStep,        ///< a scenario step (steps.cpp)
    kUpdateDue,   ///< a cluster update may complete (steps.cpp)
    kRollout,     ///< the next pod of a DaemonSet rollout restart (steps.cpp)
    kApiRoll,     ///< an upgrade restarts an API server instance (steps.cpp)
    kUpgradeDone, ///< an upgrade completes (steps.cpp)
    kHeal,        ///< a partition with a duration heals (steps.cpp)
    kSample,      ///< a metrics sample (metrics.cpp)
};

/// The engine's view of the Ready condition (kubectl get nodes STATUS).
enum class Cond : uint8_t { True, False, Unknown };

inline constexpr uint16_t kNoPeer = 0xFFFF;
inline constexpr uint8_t kNoTaint = 0;

enum class ConnState : uint8_t { None, SynSent, Established };

/// One long-lived client connection to the endpoint (kubelet's or kube-proxy's).
struct Conn {
    uint16_t peer = kNoPeer; ///< index into Simulation's peers
    uint16_t lport = 0;
    ConnState state = ConnState::None;
    uint8_t api_server = 0; ///< the API server instance behind it
};

/// Compact on purpose: 100,000 of them are walked every node-controller pass.
struct Node {
    uint32_t ip = 0;       ///< IPv4, host order
    uint32_t egress = 0;   ///< the public address it is seen as; 0 = no way out of the VPC
    Millis last_renew = 0; ///< Lease renewTime
    Millis last_post = 0;  ///< last NodeStatus post
    /// The node controller's probeTimestamp: when *it* observed a new heartbeat (lease renewTime
    /// or Ready heartbeat), not when the kubelet sent it (tryUpdateNodeHealth in
    /// pkg/controller/nodelifecycle/node_lifecycle_controller.go).
    Millis probe = 0;
    Millis seen_hb = std::numeric_limits<Millis>::min(); ///< the heartbeat it last observed
    Millis dns_expiry = -1;
    Millis taint_at = -1;
    Millis created = 0;
    Conn kubelet;
    Conn proxy;
    uint16_t dns_answer = 0;
    uint16_t group = 0;
    uint16_t pods = 0; ///< ordinary pods still on the node
    uint16_t lease_gen = 0, status_gen = 0, proxy_gen = 0, evict_gen = 0;
    uint8_t zone = 0;
    uint8_t ready = 0;        ///< Cond as the node controller recorded it
    uint8_t reported = 0;     ///< Cond the kubelet computes (True or False)
    uint8_t posted = 0;       ///< Cond in the last posted NodeStatus
    uint8_t taint = kNoTaint; ///< 1 unreachable, 2 not-ready
    uint8_t backoff = 0;      ///< lease retries so far
    uint8_t proxy_backoff = 0;
    bool kubelet_running = true;
    bool proxy_running = true;
    bool partitioned = false;
    bool queued = false;            ///< waiting in its zone's tainting queue
    bool fail_logged = false;       ///< the kubelet's failing connect was reported
    bool proxy_fail_logged = false; ///< kube-proxy's
    uint16_t kubelet_pid = 0, proxy_pid = 0;
    uint16_t exec_peer = kNoPeer; ///< kubectl exec: the ENI the API server streams from
    uint16_t exec_port = 0;
    Millis exec_until = 0;
};

/// An address of the endpoint as the nodes see it.
struct Peer {
    util::IpAddress addr;
    bool is_public = false; ///< the NLB (else an EKS-owned ENI)
    bool alive = true;      ///< an ENI deleted by an upgrade is not
};

/// API and etcd load of one node group (or of the node controller).
struct Counters {
    uint64_t lease_updates = 0, status_gets = 0, status_patches = 0;
    uint64_t etcd_bytes = 0, api_requests = 0;
};

inline uint32_t v4_of(const util::IpAddress& a) {
    const auto u = a.unmapped();
    return (static_cast<uint32_t>(u.bytes[0]) << 24) | (static_cast<uint32_t>(u.bytes[1]) << 16) |
           (static_cast<uint32_t>(u.bytes[2]) << 8) | u.bytes[3];
}

inline util::IpAddress from_v4(uint32_t v) {
    return util::IpAddress::v4(static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                               static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v));
}

inline bool contains(const std::vector<util::IpAddress>& list, const util::IpAddress& a) {
    return std::find(list.begin(), list.end(), a) != list.end();
}

/// "True", "False", "Unknown", as kubectl prints a condition.
const char* cond_text(Cond c);
/// The NoExecute taint the node controller sets: 1 unreachable, 2 not-ready.
const char* taint_text(uint8_t t);
/// EC2's private DNS name: "ip-10-0-1-20.us-east-1.compute.internal".
std::string node_name(uint32_t ip, const std::string& region);

} // namespace horizon::sim
