// The discrete-event model of an EKS cluster behind its endpoint (EKS-FACTS §2-5): the control
// plane (horizond's ControlPlane and DNS engine, in process), nodes whose kubelet and kube-proxy
// resolve and connect to the endpoint, heartbeats, the node controller and evictions. One class
// whose members are defined by concern, one file each (the private section names the file;
// src/sim/README.md has the map).
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
#include "sim/node_lifecycle.hpp"
#include "sim/node_state.hpp"
#include "sim/output.hpp"
#include "sim/scenario.hpp"

namespace horizon::sim {

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

    [[nodiscard]] Millis grace() const { return controller_.grace(); }

    [[nodiscard]] std::vector<GroupTotals> totals() const;

    [[nodiscard]] uint64_t events() const { return events_; }

    [[nodiscard]] uint64_t pods_evicted() const { return controller_.pods_evicted(); }

    [[nodiscard]] const control::ControlPlane& control() const { return cp_; }

    [[nodiscard]] const Scenario& scenario() const { return sc_; }

    /// Actions, for tests: the code the scenario's steps run.
    void fail_node(size_t i, bool power_off, bool not_ready);
    void recover_node(size_t i);
    void restart_kubelet(size_t i);
    void restart_kube_proxy(size_t i);

private:
    struct Rollout {
        std::vector<uint32_t> nodes;
        size_t next = 0;
        Millis every = 0;
    };

    // simulation.cpp: setup and the loop
    void place_nodes();
    void dispatch(const Event& e);
    uint64_t rand();
    uint16_t ephemeral_port();
    [[nodiscard]] control::TimePoint wall(Millis t) const;
    [[nodiscard]] util::IpAddress node_ip(uint32_t i) const;
    void node_event(uint32_t i, const std::string& text, const char* type = "node");
    void account(uint16_t group, uint64_t requests, uint64_t bytes);

    // world_dns.cpp: the control plane's state as the data plane sees it, and DNS answers
    void rebuild();
    uint16_t peer_index(const util::IpAddress& a, bool is_public);
    [[nodiscard]] util::IpAddress dns_view(const util::IpAddress& addr) const;
    uint16_t answer_for(const util::IpAddress& client, bool& nxdomain);
    uint16_t resolve_node(uint32_t i);
    /// The address, public egress and security group membership of a host or node; false if
    /// `from` names neither.
    bool source_of(const std::string& from, util::IpAddress& addr, util::IpAddress& egress,
                   bool& member) const;

    // connections.cpp: who connects where, and whether the endpoint lets them
    [[nodiscard]] std::optional<std::string> denied(const util::IpAddress& source,
                                                    const util::IpAddress& egress, bool member,
                                                    uint16_t peer) const;
    bool connect(uint32_t i, Conn& c, bool kube_proxy);
    void reset_conn(uint32_t i, Conn& c, bool kube_proxy, const char* why);
    bool kubelet_request(uint32_t i);
    void proxy_connect(uint32_t i);
    void reset_denied_conns();

    // heartbeats.cpp: the kubelet's Lease and NodeStatus traffic
    void lease_renew(uint32_t i);
    void status_tick(uint32_t i);

    // steps.cpp: the scenario's actions, one function per step kind, and their continuations
    void run_step(const Step& s, size_t index);
    void step_update_cluster_config(const Step& s, Record r);
    void step_authorize_sg_ingress(const Step& s, Record r);
    void step_fail_node(const Step& s, Record r);
    void step_recover_node(const Step& s, Record r);
    void step_partition(const Step& s, size_t index, Record r);
    void step_heal(const Step& s, Record r);
    void step_restart(const Step& s, Record r);
    void step_upgrade(const Step& s, Record r);
    void step_exec(const Step& s, Record r);
    /// The step's nodes, announced with the record `r` ("fail-node (3 node(s)...)").
    std::vector<uint32_t> announce_nodes(const Step& s, Record r);
    [[nodiscard]] std::vector<uint32_t> select(const Selector& s) const;
    void update_due();
    void rollout_next(uint32_t rollout);
    void api_server_restarted(uint32_t instance);
    void upgrade_done();

    // observe.cpp: the observation steps, rendered as the real tools print them
    using Observation = void (Simulation::*)(const Step&, Record&);
    /// Emits an "observe" record that `what` fills in.
    void observe(const Step& s, Observation what);
    void observe_dig(const Step& s, Record& r);
    void observe_ss(const Step& s, Record& r);
    void observe_nodes(const Step& s, Record& r);
    void observe_leases(const Step& s, Record& r);
    void observe_cluster(const Step& s, Record& r);
    void observe_update(const Step& s, Record& r);
    void observe_connect(const Step& s, Record& r);
    [[nodiscard]] std::vector<std::string> render_ss(uint32_t i) const;
    [[nodiscard]] std::vector<std::string> render_nodes(const std::vector<uint32_t>& nodes,
                                                        bool conditions) const;
    [[nodiscard]] std::vector<std::string> render_leases(const std::vector<uint32_t>& nodes) const;

    // metrics.cpp: the metrics samples and the end-of-run summary
    void sample();
    [[nodiscard]] Record summary() const;

    const Scenario& sc_;
    Options opt_;
    Millis now_ = 0;
    Millis until_ = 0;
    uint64_t events_ = 0;
    uint64_t rng_ = 0;
    EventQueue q_;
    Timeline timeline_;
    std::vector<std::string> cp_log_; ///< the ControlPlane's log lines (precedence; unused)
    control::ControlPlane cp_;
    config::ClusterConfig eff_; ///< the effective cluster (ControlPlane::effective)
    std::shared_ptr<const dns::Snapshot> snap_;
    std::vector<Node> nodes_;
    std::vector<Peer> peers_;
    std::vector<std::vector<uint16_t>> answers_; ///< interned DNS answers (peer indexes)
    NodeLifecycleController controller_;
    std::vector<Rollout> rollouts_;
    std::vector<Counters> group_counters_;
    uint16_t upgrade_gen_ = 0;
    std::vector<util::IpAddress> pending_private_ips_;
    std::string pending_version_;
    // metrics over the current interval
    uint64_t dns_count_[3] = {0, 0, 0};
    uint64_t last_bytes_ = 0, last_requests_ = 0;
};

} // namespace horizon::sim
