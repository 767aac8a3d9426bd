// What the simulation reports and how it is printed: the timeline's records (text, a terminal
// transcript, or json, one object a line), the metrics samples and the per-group totals.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

/// Where the simulation's records go: each is stamped with the virtual time `now` refers to.
/// Per-node lines ("node", "conn") are dropped while node events are off (by default in
/// scenarios of more than 100 nodes, where they would drown the rest).
class Timeline {
public:
    Timeline(const Millis& now, std::function<void(const Record&)> sink, std::string region)
        : now_(now)
        , sink_(std::move(sink))
        , region_(std::move(region)) {}

    void emit(Record r) const;
    /// "ip-10-0-1-20.<region>.compute.internal: <text>", with the node's name in the data.
    void node_event(uint32_t ip, const std::string& text, const char* type = "node") const;

    void set_node_events(bool on) { node_events_ = on; }

    [[nodiscard]] bool node_events() const { return node_events_; }

private:
    const Millis& now_;
    std::function<void(const Record&)> sink_;
    std::string region_;
    bool node_events_ = true;
};

/// Appends a record as horizon-sim prints it: json, {"t","time","type","text", the data's
/// fields, "output"} on one line; or text, "HH:MM:SS.mmm  [$ ]text" then the output lines
/// indented under it ("$ " marks actions and observations, a "start" record is a "# " line).
void append_record(std::string& out, const Record& r, bool json);

/// Left-aligned columns separated by three spaces, as kubectl prints tables.
std::vector<std::string> table(const std::vector<std::vector<std::string>>& rows);
/// The AWS CLI's JSON output: 4-space indentation, one string a line.
std::vector<std::string> json_lines(const nlohmann::json& j);

} // namespace horizon::sim
