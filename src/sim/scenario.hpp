// A horizon-sim scenario: the cluster (horizond's [[cluster]] keys plus the sim's), its nodes and
// hosts, the model's parameters and the timed steps; and the loader that checks a scenario file
// with file:line:col diagnostics like horizond's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "sim/event_queue.hpp"
#include "util/address.hpp"

namespace horizon::sim {

/// How a node's kubelet tells the control plane it is alive (KEP-0009).
enum class Heartbeat : uint8_t {
    Lease,      ///< Lease every 10 s, NodeStatus on change or every 5 min (Kubernetes >= 1.14)
    StatusOnly, ///< the whole NodeStatus every 10 s (before Leases)
};

struct Subnet {
    std::string id;
    util::Cidr cidr;
    std::string az;
    uint8_t zone = 0;                         ///< index into Scenario::zones
    std::optional<util::IpAddress> nat_ip;    ///< nodes leave the VPC through this NAT gateway
    std::optional<util::Cidr> public_ip_pool; ///< nodes get their own public IPs from here
};

struct NodeGroup {
    std::string name;
    uint32_t nodes = 0;
    std::vector<uint16_t> subnets;          ///< indexes into Scenario::subnets, round-robin
    std::vector<util::IpAddress> addresses; ///< explicit addresses for the first nodes
    uint16_t pods = 0;                      ///< ordinary pods per node (evictable)
    uint16_t daemonset_pods = 0;            ///< DaemonSet pods per node (never evicted)
    Heartbeat heartbeat = Heartbeat::Lease;
    bool security_group_member = true; ///< managed nodes carry the cluster security group
    Millis age = 600'000;              ///< how old the nodes are at t=0
};

/// A machine that is not a node: a bastion in the VPC, a laptop outside.
struct Host {
    std::string name;
    util::IpAddress address;
    std::optional<util::IpAddress> egress_ip; ///< public address it is seen as (in-VPC hosts)
    bool security_group_member = false;
};

/// Timings and sizes of the model (EKS-FACTS §5), each overridable in [model].
struct Model {
    uint32_t api_servers = 2;
    uint32_t etcd_members = 3;
    Millis lease_interval = 10'000;  ///< 0.25 × leaseDurationSeconds 40
    Millis status_interval = 10'000; ///< nodeStatusUpdateFrequency
    Millis status_report = 300'000;  ///< nodeStatusReportFrequency (Lease mode)
    Millis monitor_period = 5'000;   ///< node controller pass
    std::optional<Millis> grace;     ///< default by version: 40 s (< 1.32), 50 s (>= 1.32)
    Millis startup_grace = 60'000;
    Millis toleration = 300'000;     ///< default tolerationSeconds of ordinary pods
    Millis request_timeout = 10'000; ///< kubelet's heartbeat client timeout
    Millis backoff_min = 200;        ///< lease retry backoff, doubling ...
    Millis backoff_max = 7'000;      ///< ... up to this
    double eviction_rate = 0.1;      ///< nodes tainted per second per zone
    double secondary_eviction_rate = 0.01;
    double unhealthy_zone_threshold = 0.55;
    uint32_t large_cluster_threshold = 50;
    uint32_t node_bytes = 15'000; ///< a Node object (KEP-0009: over 15 kB)
    uint32_t lease_bytes = 300;   ///< a Lease object ("a few hundred bytes")
    uint32_t pod_bytes = 4'000;
};

enum class StepKind : uint8_t {
    // actions
    UpdateClusterConfig,
    AuthorizeSgIngress,
    FailNode,
    RecoverNode,
    Partition,
    Heal,
    Restart,
    Upgrade,
    // observations
    Dig,
    Ss,
    GetNodes,
    GetLeases,
    DescribeCluster,
    DescribeUpdate,
    Connect,
    Exec, ///< kubectl exec: the API server opens a stream to the node's kubelet (:10250)
};

/// Which nodes a step acts on: one node (name or address), a group, a zone, or all; `count`
/// keeps the first N of those.
struct Selector {
    std::string node;
    std::string group;
    std::string zone;
    bool all = false;
    uint32_t count = 0; ///< 0 = every selected node
};

struct Step {
    Millis at = 0;
    StepKind kind = StepKind::Dig;
    unsigned line = 0;
    Selector nodes;
    std::string from;     ///< dig/connect: a host or node name or address
    std::string text;     ///< resources_vpc_config, restart target, query, output, version
    std::string name;     ///< dig: the name asked (default: the cluster endpoint)
    std::string protocol; ///< authorize: "-1", "tcp", ...
    int port = -1;
    std::string cidr;
    std::vector<util::IpAddress> private_ips; ///< upgrade: the new ENIs
    Millis duration = 0;                      ///< partition, upgrade
    Millis every = 2'000;                     ///< restart ds/kube-proxy: one node after another
    bool not_ready = false; ///< fail-node: the kubelet reports Ready=False instead of stopping
};

struct Scenario {
    std::string path;
    std::string name;
    std::string description;
    Millis until = 3'600'000;
    uint64_t seed = 1;
    std::string start = "2025-02-06T10:00:00Z"; ///< the wall clock at t=0
    int64_t start_epoch_ms = 0;
    Millis metrics_interval = 10'000;
    std::optional<bool> node_events; ///< per-node lines in the timeline (default: <= 100 nodes)
    config::ClusterConfig cluster;
    bool has_api_table = false; ///< [cluster.api] was written: its security_group_ingress counts
    bool enable_dns_support = true;
    bool enable_dns_hostnames = true;
    std::vector<std::string> zones;
    std::vector<Subnet> subnets;
    std::vector<NodeGroup> groups;
    std::vector<Host> hosts;
    Model model;
    std::vector<Step> steps; ///< in time order (stable)
};

using ScenarioResult = std::variant<Scenario, std::vector<config::Diagnostic>>;

/// Parses and checks a scenario; every error with file:line:col (a TOML syntax error alone).
ScenarioResult load_scenario(std::string_view text, const std::string& path);
ScenarioResult load_scenario_file(const std::string& path);

/// "1.31" -> 131; 0 when unparsable.
unsigned version_number(std::string_view version);

/// "HH:MM:SS.mmm" for a virtual time.
std::string clock_text(Millis t);

} // namespace horizon::sim
