// The EKS-shaped control model: clusters as describe-cluster shows them, endpoint access updates,
// and the state that makes them survive a restart. Sans-I/O: no sockets, no threads, no clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "control/api_security_group.hpp"

namespace horizon::control {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

/// One API answer: the HTTP status and JSON body. On error the body is
/// {"__type": error_type, "message": ...} and the HTTP layer also sends error_type as the
/// x-amzn-ErrorType header; error_type is "" on success.
struct ApiResult {
    int status = 200;
    nlohmann::json body;
    std::string error_type;
};

/// What update-cluster-config changes: the access mode and publicAccessCidrs.
struct EndpointAccess {
    config::AccessMode mode = config::AccessMode::PublicPrivate;
    std::vector<util::Cidr> cidrs; ///< publicAccessCidrs
};

enum class UpdateStatus : uint8_t { InProgress, Successful, Failed, Cancelled };

/// "InProgress", "Successful", "Failed" or "Cancelled", as describe-update shows them.
std::string_view to_string(UpdateStatus s);

/// One update-cluster-config, as describe-update shows it and as it is saved.
struct Update {
    std::string id;           ///< a random UUID v4
    std::string client_token; ///< clientRequestToken, "" if none
    UpdateStatus status = UpdateStatus::InProgress;
    TimePoint created_at;
    TimePoint due; ///< when it completes
    nlohmann::json params = nlohmann::json::array();
    nlohmann::json errors = nlohmann::json::array();
    EndpointAccess target; ///< the access once it completes
    EndpointAccess base;   ///< the file's values when it was accepted
};

/// A completed API change in force over the file's values.
struct ApiChange {
    EndpointAccess value;
    EndpointAccess base; ///< the file's values it was based on
    TimePoint at;        ///< when it took effect
    std::string update_id;
};

/// The cluster security group's inbound rules as changed through the API (authorize/revoke),
/// in force over the file's security_group_ingress. Unlike an endpoint update it applies at once,
/// as EC2 security group changes do.
struct SgChange {
    std::vector<SgRule> rules;
    std::vector<util::Cidr> base; ///< the file's security_group_ingress it was based on
    TimePoint at;                 ///< the last change
};

/// One cluster: its file config and its runtime state.
struct ClusterState {
    config::ClusterConfig file;
    TimePoint created_at; ///< first seen: describe-cluster's createdAt, kept in the state
    std::optional<ApiChange> api_change;
    std::vector<Update> updates; ///< oldest first
    std::optional<SgChange> sg_change;
    /// Out of the file since then: kept, not served (ControlPlane's dormant clusters).
    std::optional<TimePoint> dormant_since;
};

// Precedence between the configuration file and API changes
// ---------------------------------------------------------
// An accepted update-cluster-config records, besides the new endpoint access (access mode and
// publicAccessCidrs), the file's values it was based on. Whenever a file is (re)loaded, at start-up
// from the saved state or on reload, each cluster's file values are compared with that base:
//   - unchanged: the API change wins; it stays in force and the log says so;
//   - edited since: the file wins; the API change is dropped, an update still in progress is
//     Cancelled (errorCode ConfigurationConflict), and the log says which and why.
// So a reload never silently discards an API change, and an edited file value is never silently
// ignored. Values are compared as sets: reordering CIDRs in the file is not an edit. The security
// group's rules follow the same rule against the file's [cluster.api] security_group_ingress.
// A cluster removed from the file keeps its state, dormant (saved, not served, not in the API);
// when a file names it again, its state returns under the rules above. Past kMaxDormant dormant
// clusters the longest dormant ones are dropped: take_dropped() hands them to the caller, who
// keeps a backup. An update in progress survives save()/restore: if it came due meanwhile it
// completes at the first tick().

/// The clusters of one configuration and their runtime state. NOT thread-safe: the caller
/// serialises every call (one mutex). Time is always passed in.
class ControlPlane {
public:
    /// `file`: the validated config from the file; `saved`: what save() returned earlier (null =
    /// none). Appends human log lines (precedence decisions, resumed updates) to `log`. Throws
    /// std::runtime_error, with a message naming the problem, on an unknown format or a malformed
    /// state, so that the caller can report it.
    ControlPlane(config::Config file, const nlohmann::json& saved, TimePoint now,
                 std::vector<std::string>& log);

    /// Reseeds the generator of update and rule IDs, for reproducible runs (horizon-sim).
    void seed(uint64_t value) { rng_.seed(value); }

    /// ListClusters: {"clusters": [names]}, in file order.
    [[nodiscard]] ApiResult list_clusters() const;
    /// DescribeCluster: {"cluster": {...}}; 404 ResourceNotFoundException for an unknown name.
    [[nodiscard]] ApiResult describe_cluster(const std::string& name) const;
    /// UpdateClusterConfig with the EKS REST body {"resourcesVpcConfig": {...},
    /// "clientRequestToken": "..."}: validated as EKS does; an accepted one is InProgress and
    /// completes `update_duration` after `now`, at a tick(). A clientRequestToken already used
    /// for this cluster returns that update again (idempotent retry, as the AWS CLI does).
    ApiResult update_cluster_config(const std::string& name, const nlohmann::json& request,
                                    TimePoint now);
    /// ListUpdates: {"updateIds": [...]}, oldest first.
    [[nodiscard]] ApiResult list_updates(const std::string& name) const;
    /// DescribeUpdate: {"update": {...}}.
    [[nodiscard]] ApiResult describe_update(const std::string& name, const std::string& id) const;

    /// Completes the updates due at `now`; true if effective() changed.
    bool tick(TimePoint now);
    /// The earliest completion time of an update in progress; nullopt when none is.
    [[nodiscard]] std::optional<TimePoint> next_deadline() const;
    /// The file's config with every API change in force applied: what DNS serves.
    [[nodiscard]] config::Config effective() const;
    /// Takes a new file config (SIGHUP, file change), applying the precedence rules above; `now`
    /// is the first-seen time of clusters new in the file.
    void reload(config::Config file, TimePoint now, std::vector<std::string>& log);
    /// Everything to persist ({"format": 1, ...}); the constructor takes it back.
    [[nodiscard]] nlohmann::json save() const;
    /// Dormant clusters kept at most; beyond, the longest dormant are dropped.
    static constexpr size_t kMaxDormant = 1000;
    /// The names of the dormant clusters (removed from the file, state kept), sorted.
    [[nodiscard]] std::vector<std::string> dormant() const;
    /// The dormant clusters dropped since the last call, in save()'s format ({"format": 1,
    /// "generation": N, "clusters": {...}}), or null when none was.
    nlohmann::json take_dropped();

    /// DescribeSecurityGroupRules for the cluster's security groups (both; see GroupId):
    /// {"SecurityGroupRules": [...]} as `aws ec2 describe-security-group-rules` prints it.
    [[nodiscard]] ApiResult describe_security_group_rules(const std::string& name) const;
    /// AuthorizeSecurityGroupIngress with EC2's request JSON (see read_sg_request), on the group
    /// its GroupId names (the cluster security group when absent): {"Return": true,
    /// "SecurityGroupRules": [the new rules]}. Applies at once.
    ApiResult authorize_security_group_ingress(const std::string& name,
                                               const nlohmann::json& request, TimePoint now);
    /// RevokeSecurityGroupIngress by permission or by SecurityGroupRuleIds: {"Return": true,
    /// "RevokedSecurityGroupRules": [...]}; 400 InvalidPermission.NotFound if one does not exist.
    ApiResult revoke_security_group_ingress(const std::string& name, const nlohmann::json& request,
                                            TimePoint now);
    /// The cluster whose clusterSecurityGroupId or additional group (securityGroupIds) is
    /// `group_id`, or "".
    [[nodiscard]] std::string cluster_of_security_group(const std::string& group_id) const;
    /// Every cluster's two groups as EC2's DescribeSecurityGroups lists them (GroupId,
    /// GroupName, Description, OwnerId, VpcId, IpPermissions, IpPermissionsEgress, Tags): the
    /// cluster security group and the additional one, each with its inbound rules.
    [[nodiscard]] nlohmann::json describe_security_groups() const;

    /// Bumps on every change of effective() (a completed update, a reload) and at construction,
    /// continuing from the saved value, so that it only ever grows (it is the SOA serial).
    [[nodiscard]] uint64_t generation() const { return generation_; }

    /// Bumps on every change of what save() returns (an accepted call, a completed update, a
    /// reload); starts at 0. The caller persists when it moved.
    [[nodiscard]] uint64_t revision() const { return revision_; }

    /// Update counts by status (InProgress, Successful, Failed, Cancelled), all four present.
    [[nodiscard]] std::map<std::string, uint64_t> updates_by_status() const;

private:
    [[nodiscard]] const ClusterState* find(const std::string& name) const;
    ClusterState* find(const std::string& name);
    std::string new_update_id();
    std::string new_rule_id(); ///< "sgr-" and 17 random hex digits
    /// Keeps a cluster that left the file (logged).
    void go_dormant(const std::string& name, ClusterState c, TimePoint now,
                    std::vector<std::string>& log);
    /// Drops the longest dormant clusters beyond kMaxDormant into dropped_ (logged).
    void limit_dormant(std::vector<std::string>& log);

    config::ServerConfig server_;
    std::vector<ClusterState> clusters_;          ///< in file order
    std::map<std::string, ClusterState> dormant_; ///< removed from the file; dormant_since set
    nlohmann::json dropped_;                      ///< see take_dropped()
    uint64_t generation_ = 1;
    uint64_t revision_ = 0;
    std::mt19937_64 rng_;
};

} // namespace horizon::control
