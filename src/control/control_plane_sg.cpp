// The cluster security group through the EC2 API: describe, authorize and revoke inbound rules,
// applied at once as EC2 does.
#include <algorithm>
#include <array>
#include <fmt/format.h>
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

/// A request naming a GroupId must name this cluster's group.
std::optional<ApiResult> check_group(const json& request, const std::string& group_id) {
    const auto it = request.is_object() ? request.find("GroupId") : request.end();
    if (it == request.end() || (it->is_string() && it->get<std::string>() == group_id)) {
        return std::nullopt;
    }
    const std::string given = it->is_string() ? it->get<std::string>() : it->dump();
    return error(400, "InvalidGroup.NotFound",
                 fmt::format("The security group '{}' does not exist", given));
}

/// The request for `group`, or the EC2 error to answer it with.
std::variant<SgRequest, ApiResult> read_group_request(const json& request,
                                                      const std::string& group) {
    if (auto rejected = check_group(request, group)) {
        return *rejected;
    }
    auto parsed = read_sg_request(request);
    if (const auto* e = std::get_if<Ec2Error>(&parsed)) {
        return ec2_error(*e);
    }
    return std::get<SgRequest>(std::move(parsed));
}

/// The rules as EC2 lists them, for the cluster `c`'s group.
json rules_json(const std::vector<SgRule>& rules, const config::ClusterConfig& c) {
    const std::string group = cluster_security_group_id(c);
    const std::string owner = account_id(c);
    json out = json::array();
    for (const auto& r : rules) {
        out.push_back(rule_json(r, group, owner));
    }
    return out;
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
    auto parsed = read_group_request(request, cluster_security_group_id(c->file));
    if (auto* rejected = std::get_if<ApiResult>(&parsed)) {
        return std::move(*rejected);
    }
    auto& req = std::get<SgRequest>(parsed);
    if (!req.rule_ids.empty()) {
        return ec2_error(
            {"InvalidParameterValue", "SecurityGroupRuleIds can only be given to revoke rules"});
    }
    std::vector<SgRule> rules = sg_rules(*c);
    std::vector<SgRule> added;
    for (auto& r : req.rules) {
        const auto same = [&](const SgRule& x) { return x.same_permission(r); };
        if (std::any_of(rules.begin(), rules.end(), same) ||
            std::any_of(added.begin(), added.end(), same)) {
            return ec2_error(
                {"InvalidPermission.Duplicate",
                 fmt::format("the specified rule \"{}\" already exists", r.describe())});
        }
        r.id = new_rule_id();
        added.push_back(r);
    }
    if (rules.size() + added.size() > kMaxSgRules) {
        return ec2_error({"RulesPerSecurityGroupLimitExceeded",
                          "The maximum number of rules per security group has been reached."});
    }
    rules.insert(rules.end(), added.begin(), added.end());
    c->sg_change = SgChange{std::move(rules), file_ingress(c->file), floor_ms(now)};
    ++generation_;
    return {200, {{"Return", true}, {"SecurityGroupRules", rules_json(added, c->file)}}, ""};
}

ApiResult ControlPlane::revoke_security_group_ingress(const std::string& name, const json& request,
                                                      TimePoint now) {
    ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    auto parsed = read_group_request(request, cluster_security_group_id(c->file));
    if (auto* rejected = std::get_if<ApiResult>(&parsed)) {
        return std::move(*rejected);
    }
    const auto& req = std::get<SgRequest>(parsed);
    std::vector<SgRule> rules = sg_rules(*c);
    std::vector<SgRule> revoked;
    for (const auto& id : req.rule_ids) {
        const auto it =
            std::find_if(rules.begin(), rules.end(), [&](const SgRule& r) { return r.id == id; });
        if (it == rules.end()) {
            return ec2_error({"InvalidSecurityGroupRuleId.NotFound",
                              fmt::format("The security group rule ID '{}' does not exist", id)});
        }
        revoked.push_back(*it);
        rules.erase(it);
    }
    for (const auto& wanted : req.rules) {
        const auto it = std::find_if(rules.begin(), rules.end(),
                                     [&](const SgRule& r) { return r.same_permission(wanted); });
        if (it == rules.end()) {
            return ec2_error({"InvalidPermission.NotFound",
                              "The specified rule does not exist in this security group."});
        }
        revoked.push_back(*it);
        rules.erase(it);
    }
    c->sg_change = SgChange{std::move(rules), file_ingress(c->file), floor_ms(now)};
    ++generation_;
    return {
        200, {{"Return", true}, {"RevokedSecurityGroupRules", rules_json(revoked, c->file)}}, ""};
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
