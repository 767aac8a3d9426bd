// The discrete-event model of an EKS cluster behind its endpoint (EKS-FACTS §2-5): the control
// plane (horizond's ControlPlane and DNS engine, in process), nodes whose kubelet and kube-proxy
// resolve and connect to the endpoint, heartbeats, the node controller and evictions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "control/control_plane.hpp"
#include "dns/snapshot.hpp"
#include "sim/event_queue.hpp"
#include "sim/scenario.hpp"

namespace horizon::sim {

/// One line of the timeline: an action, a state change, or an observation with its output.
struct Record {
    Millis t = 0;
    std::string type;               ///< "action", "update", "node", "conn", "observe", ...
    std::string text;               ///< the one-line summary
    std::vector<std::string> lines; ///< an observation's output, as the real tool prints it
    nlohmann::ordered_json data = nlohmann::ordered_json::object(); ///< structured fields (json)
};

/// One row of the metrics time series.
struct Sample {
    Millis t = 0;
    uint32_t ready = 0, not_ready = 0, unknown = 0, tainted = 0;
    uint32_t leases_fresh = 0; ///< leases renewed within the last lease duration (40 s)
    double etcd_bytes_per_s = 0;
    double api_requests_per_s = 0;
    uint64_t dns_private = 0, dns_public = 0, dns_nxdomain = 0; ///< answers in the interval
    uint32_t conns_public = 0, conns_private = 0; ///< established kubelet + kube-proxy connections
    uint32_t pods_evicted = 0;                    ///< so far
};

/// Totals per node group over the whole run (heartbeat-scale's table).
struct GroupTotals {
    std::string name;
    Heartbeat heartbeat = Heartbeat::Lease;
    uint32_t nodes = 0;
    uint64_t lease_updates = 0, status_gets = 0, status_patches = 0;
    uint64_t etcd_bytes = 0, api_requests = 0;
};

/// Where a node's DNS question goes: in process (horizond's engine on the sim's snapshot) or a
/// real horizond over UDP (--dns). `client` is the address the answer is for.
class Resolver {
public:
    virtual ~Resolver() = default;
    /// Fills `ips` (A records, in answer order) and `ttl`; false when no answer came at all.
    virtual bool resolve(const dns::Snapshot& snap, const std::string& name,
                         const util::IpAddress& client, std::vector<util::IpAddress>& ips,
                         uint32_t& ttl, bool& nxdomain) = 0;
};

/// Where updates also go (--control): a running horizond's admin API. Each returns the HTTP
/// status and body for the timeline.
class ControlSink {
public:
    virtual ~ControlSink() = default;
    virtual control::ApiResult update_cluster_config(const std::string& cluster,
                                                     const nlohmann::json& body) = 0;
    virtual control::ApiResult authorize_sg_ingress(const std::string& cluster,
                                                    const nlohmann::json& body) = 0;
};

struct Options {
    uint64_t seed = 1;
    Millis until = 0; ///< 0: the scenario's
    std::function<void(const Record&)> on_record;
    std::function<void(const Sample&)> on_sample; ///< every metrics_interval when set
    Resolver* resolver = nullptr;                 ///< null: in process
    ControlSink* control = nullptr;
    /// Called before each event at virtual time t (--speed pacing); may sleep.
    std::function<void(Millis)> pace;
};

/// The engine's view of the Ready condition (kubectl get nodes STATUS).
enum class Cond : uint8_t { True, False, Unknown };

class Simulation {
public:
    Simulation(const Scenario& sc, Options opt);

    /// Runs to `until` (the scenario's, or Options::until); returns the events processed.
    uint64_t run();
    /// Runs the events due at or before `t` (tests step through time with it).
    void run_until(Millis t);

    // Read-only views for tests and reports.
    [[nodiscard]] Millis now() const { return now_; }

    [[nodiscard]] Millis until() const { return until_; }

    [[nodiscard]] size_t node_count() const { return nodes_.size(); }

    /// The node with that name ("ip-192-168-1-99...") or address; npos if none.
    [[nodiscard]] size_t node_index(const std::string& name_or_ip) const;
    [[nodiscard]] std::string node_name(size_t i) const;

    [[nodiscard]] Cond ready(size_t i) const { return static_cast<Cond>(nodes_[i].ready); }

    [[nodiscard]] bool tainted(size_t i) const { return nodes_[i].taint != kNoTaint; }

    [[nodiscard]] Millis taint_time(size_t i) const { return nodes_[i].taint_at; }

    [[nodiscard]] Millis last_renew(size_t i) const { return nodes_[i].last_renew; }

    [[nodiscard]] uint32_t pods_left(size_t i) const;
    /// State ("ESTAB", "SYN-SENT" or "") and peer address of the kubelet's or kube-proxy's
    /// connection to the endpoint.
    [[nodiscard]] std::pair<std::string, std::string> connection(size_t i, bool kube_proxy) const;
    /// The A records a host or node (name or address) gets now, asked without any cache.
    [[nodiscard]] std::vector<std::string> dig(const std::string& from);
    [[nodiscard]] Millis grace() const;
    [[nodiscard]] std::vector<GroupTotals> totals() const;

    [[nodiscard]] uint64_t events() const { return events_; }

    [[nodiscard]] uint64_t pods_evicted() const { return pods_evicted_; }

    [[nodiscard]] const control::ControlPlane& control() const { return cp_; }

    [[nodiscard]] const Scenario& scenario() const { return sc_; }

    /// Actions, for tests: the code the scenario's steps run.
    void fail_node(size_t i, bool power_off, bool not_ready);
    void recover_node(size_t i);
    void restart_kubelet(size_t i);
    void restart_kube_proxy(size_t i);

private:
    static constexpr uint16_t kNoPeer = 0xFFFF;
    static constexpr uint8_t kNoTaint = 0;

    enum class ConnState : uint8_t { None, SynSent, Established };

    /// One long-lived client connection to the endpoint (kubelet's or kube-proxy's).
    struct Conn {
        uint16_t peer = kNoPeer; ///< index into peers_
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
        Millis probe = 0;      ///< the node controller's last heartbeat seen (lease or status)
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

    struct Peer {
        util::IpAddress addr;
        bool is_public = false; ///< the NLB (else an EKS-owned ENI)
        bool alive = true;      ///< an ENI deleted by an upgrade is not
    };

    struct Zone {
        std::string name;
        std::vector<uint32_t> queue; ///< nodes waiting to be tainted, FIFO
        size_t queue_head = 0;
        Millis next_token = 0;
        uint32_t nodes = 0;
        uint8_t state = 0; ///< 0 normal, 1 partial disruption, 2 full disruption
    };

    struct Rollout {
        std::vector<uint32_t> nodes;
        size_t next = 0;
        Millis every = 0;
    };

    struct Counters {
        uint64_t lease_updates = 0, status_gets = 0, status_patches = 0;
        uint64_t etcd_bytes = 0, api_requests = 0;
    };

    // event handling
    void dispatch(const Event& e);
    void lease_renew(uint32_t i);
    void status_tick(uint32_t i);
    void proxy_connect(uint32_t i);
    void evict(uint32_t i);
    void monitor_pass();
    void run_step(const Step& s, size_t index);
    void update_due();
    void sample();

    // the network
    bool kubelet_request(uint32_t i);
    bool connect(uint32_t i, Conn& c, bool kube_proxy);
    void reset_conn(uint32_t i, Conn& c, bool kube_proxy, const char* why);
    uint16_t resolve_node(uint32_t i);
    uint16_t answer_for(const util::IpAddress& client, bool& nxdomain);
    [[nodiscard]] util::IpAddress dns_view(const util::IpAddress& addr) const;
    [[nodiscard]] std::optional<std::string> denied(const util::IpAddress& source,
                                                    const util::IpAddress& egress, bool member,
                                                    uint16_t peer) const;
    uint16_t peer_index(const util::IpAddress& a, bool is_public);
    void rebuild();

    // helpers
    void emit(Record r);
    void node_event(uint32_t i, const std::string& text, const char* type = "node");
    [[nodiscard]] std::vector<uint32_t> select(const Selector& s) const;
    [[nodiscard]] util::IpAddress node_ip(uint32_t i) const;
    [[nodiscard]] Millis grace_for(const Node& n) const;
    void set_ready(uint32_t i, Cond c);
    void untaint(uint32_t i, const char* why);
    uint64_t rand();
    uint16_t ephemeral_port();
    [[nodiscard]] control::TimePoint wall(Millis t) const;
    void observe(const Step& s);
    [[nodiscard]] std::vector<std::string> render_ss(uint32_t i) const;
    [[nodiscard]] std::vector<std::string> render_nodes(const std::vector<uint32_t>& nodes,
                                                        bool conditions) const;
    [[nodiscard]] std::vector<std::string> render_leases(const std::vector<uint32_t>& nodes) const;
    /// The address, public egress and security group membership of a host or node; false if
    /// `from` names neither.
    bool source_of(const std::string& from, util::IpAddress& addr, util::IpAddress& egress,
                   bool& member) const;
    void account(uint16_t group, uint64_t requests, uint64_t bytes);

    const Scenario& sc_;
    Options opt_;
    Millis now_ = 0;
    Millis until_ = 0;
    uint64_t events_ = 0;
    uint64_t rng_ = 0;
    bool node_events_ = true;
    EventQueue q_;
    std::vector<std::string> cp_log_; ///< the ControlPlane's log lines (precedence; unused)
    control::ControlPlane cp_;
    config::ClusterConfig eff_; ///< the effective cluster (ControlPlane::effective)
    std::shared_ptr<const dns::Snapshot> snap_;
    std::vector<Node> nodes_;
    std::vector<Peer> peers_;
    std::vector<std::vector<uint16_t>> answers_; ///< interned DNS answers (peer indexes)
    std::vector<Zone> zones_;
    std::vector<Rollout> rollouts_;
    std::vector<Counters> group_counters_;
    Counters other_; ///< the node controller's writes and evictions
    uint16_t upgrade_gen_ = 0;
    std::vector<util::IpAddress> pending_private_ips_;
    std::string pending_version_;
    bool disrupted_all_ = false;
    Millis grace_ = 40'000; ///< follows the effective Kubernetes version
    uint64_t pods_evicted_ = 0;
    // metrics over the current interval
    uint64_t dns_count_[3] = {0, 0, 0};
    uint64_t last_bytes_ = 0, last_requests_ = 0;
};

} // namespace horizon::sim
