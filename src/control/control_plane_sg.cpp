// The cluster security group through the EC2 API: describe, authorize and revoke inbound rules,
// applied at once as EC2 does.
#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <iterator>
#include <variant>

#include "control/cluster_ids.hpp"
#include "control/control_plane.hpp"
#include "control/control_plane_detail.hpp"

namespace horizon::control {

using namespace detail; // NOLINT(google-build-using-namespace): this class's own helpers
using nlohmann::json;

namespace {

/// EC2's limit of inbound rules per security group (quota L-0EA8095F, default 60).
constexpr size_t kMaxSgRules = 60;

ApiResult ec2_error(const Ec2Error& e) {
    return error(400, e.code, e.message);
}

/// Which of the cluster's two groups a request names: "GroupId" absent or the cluster
/// security group -> false, the additional group -> true; another ID -> the EC2 error.
std::variant<bool, ApiResult> group_of_request(const json& request,
                                               const config::ClusterConfig& c) {
    const auto it = request.is_object() ? request.find("GroupId") : request.end();
    if (it == request.end()) {
        return false;
    }
    const std::string given = it->is_string() ? it->get<std::string>() : it->dump();
    if (given == cluster_security_group_id(c)) {
        return false;
    }
    if (given == additional_security_group_id(c)) {
        return true;
    }
    return error(400, "InvalidGroup.NotFound",
                 fmt::format("The security group '{}' does not exist", given));
}

/// A parsed request and the group it is for, or the EC2 error to answer it with.
struct GroupRequest {
    SgRequest request;
    bool additional = false;
};

std::variant<GroupRequest, ApiResult> read_group_request(const json& request,
                                                         const config::ClusterConfig& c) {
    auto group = group_of_request(request, c);
    if (auto* rejected = std::get_if<ApiResult>(&group)) {
        return std::move(*rejected);
    }
    auto parsed = read_sg_request(request);
    if (const auto* e = std::get_if<Ec2Error>(&parsed)) {
        return ec2_error(*e);
    }
    return GroupRequest{std::get<SgRequest>(std::move(parsed)), std::get<bool>(group)};
}

std::string group_id_of(const SgRule& r, const config::ClusterConfig& c) {
    return r.additional ? additional_security_group_id(c) : cluster_security_group_id(c);
}

/// The rules as EC2 lists them, each with its own group's ID.
json rules_json(const std::vector<SgRule>& rules, const config::ClusterConfig& c) {
    const std::string owner = account_id(c);
    json out = json::array();
    for (const auto& r : rules) {
        out.push_back(rule_json(r, group_id_of(r, c), owner));
    }
    return out;
}

/// IpPermissions of describe-security-groups: rules of one protocol and port range together,
/// their CIDRs in IpRanges / Ipv6Ranges.
json permissions_json(const std::vector<SgRule>& rules) {
    json out = json::array();
    for (const auto& r : rules) {
        json* perm = nullptr;
        for (auto& p : out) {
            if (p["IpProtocol"] == r.protocol && p.value("FromPort", -1) == r.from_port &&
                p.value("ToPort", -1) == r.to_port) {
                perm = &p;
            }
        }
        if (perm == nullptr) {
            json p = {{"IpProtocol", r.protocol},
                      {"IpRanges", json::array()},
                      {"Ipv6Ranges", json::array()},
                      {"PrefixListIds", json::array()},
                      {"UserIdGroupPairs", json::array()}};
            if (r.protocol != "-1") {
                p["FromPort"] = r.from_port;
                p["ToPort"] = r.to_port;
            }
            out.push_back(std::move(p));
            perm = &out.back();
        }
        const bool v4 = r.cidr.addr.is_v4();
        json range = {{v4 ? "CidrIp" : "CidrIpv6", r.cidr.to_string()}};
        if (!r.description.empty()) {
            range["Description"] = r.description;
        }
        (*perm)[v4 ? "IpRanges" : "Ipv6Ranges"].push_back(std::move(range));
    }
    return out;
}

json tag(std::string key, std::string value) {
    return {{"Key", std::move(key)}, {"Value", std::move(value)}};
}

} // namespace

ApiResult ControlPlane::describe_security_group_rules(const std::string& name) const {
    const ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    return {200, {{"SecurityGroupRules", rules_json(sg_rules(*c), c->file)}}, ""};
}

ApiResult ControlPlane::authorize_security_group_ingress(const std::string& name,
                                                         const json& request, TimePoint now) {
    ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    auto parsed = read_group_request(request, c->file);
    if (auto* rejected = std::get_if<ApiResult>(&parsed)) {
        return std::move(*rejected);
    }
    // Not a structured binding: clang 14 cannot capture one in the lambdas below.
    SgRequest& req = std::get<GroupRequest>(parsed).request;
    const bool additional = std::get<GroupRequest>(parsed).additional;
    if (!req.rule_ids.empty()) {
        return ec2_error(
            {"InvalidParameterValue", "SecurityGroupRuleIds can only be given to revoke rules"});
    }
    std::vector<SgRule> rules = sg_rules(*c);
    std::vector<SgRule> added;
    for (auto& r : req.rules) {
        r.additional = additional;
        const auto same = [&](const SgRule& x) {
            return x.additional == r.additional && x.same_permission(r);
        };
        if (std::any_of(rules.begin(), rules.end(), same) ||
            std::any_of(added.begin(), added.end(), same)) {
            return ec2_error(
                {"InvalidPermission.Duplicate",
                 fmt::format("the specified rule \"{}\" already exists", r.describe())});
        }
        r.id = new_rule_id();
        added.push_back(r);
    }
    const auto in_group = static_cast<size_t>(std::count_if(
        rules.begin(), rules.end(), [&](const SgRule& x) { return x.additional == additional; }));
    if (in_group + added.size() > kMaxSgRules) {
        return ec2_error({"RulesPerSecurityGroupLimitExceeded",
                          "The maximum number of rules per security group has been reached."});
    }
    rules.insert(rules.end(), added.begin(), added.end());
    c->sg_change = SgChange{std::move(rules), file_ingress(c->file), floor_ms(now)};
    ++generation_;
    ++revision_;
    return {200, {{"Return", true}, {"SecurityGroupRules", rules_json(added, c->file)}}, ""};
}

ApiResult ControlPlane::revoke_security_group_ingress(const std::string& name, const json& request,
                                                      TimePoint now) {
    ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    auto parsed = read_group_request(request, c->file);
    if (auto* rejected = std::get_if<ApiResult>(&parsed)) {
        return std::move(*rejected);
    }
    const SgRequest& req = std::get<GroupRequest>(parsed).request;
    const bool additional = std::get<GroupRequest>(parsed).additional;
    std::vector<SgRule> rules = sg_rules(*c);
    std::vector<SgRule> revoked;
    for (const auto& id : req.rule_ids) {
        const auto it = std::find_if(rules.begin(), rules.end(), [&](const SgRule& r) {
            return r.additional == additional && r.id == id;
        });
        if (it == rules.end()) {
            return ec2_error({"InvalidSecurityGroupRuleId.NotFound",
                              fmt::format("The security group rule ID '{}' does not exist", id)});
        }
        revoked.push_back(*it);
        rules.erase(it);
    }
    for (const auto& wanted : req.rules) {
        const auto it = std::find_if(rules.begin(), rules.end(), [&](const SgRule& r) {
            return r.additional == additional && r.same_permission(wanted);
        });
        if (it == rules.end()) {
            return ec2_error({"InvalidPermission.NotFound",
                              "The specified rule does not exist in this security group."});
        }
        revoked.push_back(*it);
        rules.erase(it);
    }
    c->sg_change = SgChange{std::move(rules), file_ingress(c->file), floor_ms(now)};
    ++generation_;
    ++revision_;
    return {
        200, {{"Return", true}, {"RevokedSecurityGroupRules", rules_json(revoked, c->file)}}, ""};
}

json ControlPlane::describe_security_groups() const {
    json out = json::array();
    for (const auto& c : clusters_) {
        const config::ClusterConfig& f = c.file;
        const std::vector<SgRule> rules = sg_rules(c);
        const json egress = json::array({{{"IpProtocol", "-1"},
                                          {"IpRanges", json::array({{{"CidrIp", "0.0.0.0/0"}}})},
                                          {"Ipv6Ranges", json::array()},
                                          {"PrefixListIds", json::array()},
                                          {"UserIdGroupPairs", json::array()}}});
        for (const bool additional : {false, true}) {
            std::vector<SgRule> mine;
            std::copy_if(rules.begin(), rules.end(), std::back_inserter(mine),
                         [&](const SgRule& r) { return r.additional == additional; });
            json g;
            g["GroupId"] =
                additional ? additional_security_group_id(f) : cluster_security_group_id(f);
            g["GroupName"] =
                additional ? additional_security_group_name(f) : cluster_security_group_name(f);
            // EKS's and eksctl's descriptions, as they create the groups.
            g["Description"] =
                additional ? "Communication between the control plane and worker nodegroups"
                           : "EKS created security group applied to ENI that is attached to EKS "
                             "Control Plane master nodes, as well as any managed workloads.";
            g["OwnerId"] = account_id(f);
            g["VpcId"] = aws_id("vpc", f, "vpc");
            g["IpPermissions"] = permissions_json(mine);
            g["IpPermissionsEgress"] = egress;
            g["Tags"] =
                additional
                    ? json::array(
                          {tag("alpha.eksctl.io/cluster-name", f.name),
                           tag("eksctl.cluster.k8s.io/v1alpha1/cluster-name", f.name),
                           tag("aws:cloudformation:logical-id", "ControlPlaneSecurityGroup"),
                           tag("aws:cloudformation:stack-name", "eksctl-" + f.name + "-cluster"),
                           tag("Name", "eksctl-" + f.name + "-cluster/ControlPlaneSecurityGroup")})
                    : json::array({tag("aws:eks:cluster-name", f.name),
                                   tag("kubernetes.io/cluster/" + f.name, "owned"),
                                   tag("Name", cluster_security_group_name(f))});
            out.push_back(std::move(g));
        }
    }
    return out;
}

std::string ControlPlane::new_rule_id() {
    std::array<unsigned char, 9> b{};
    const uint64_t high = rng_();
    for (size_t i = 0; i < b.size(); ++i) {
        b[i] = static_cast<unsigned char>(i < 8 ? high >> (8 * i) : rng_());
    }
    return "sgr-" + hex_of(b, 17);
}

} // namespace horizon::control
