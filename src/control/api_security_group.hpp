// The cluster security group's inbound rules (EC2's shapes), which decide who reaches the API
// endpoint's private side. Sans-I/O: parsing EC2 requests, rendering EC2 answers, matching ports.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"

namespace horizon::control {

/// One inbound rule, as `aws ec2 describe-security-group-rules` shows it.
struct SgRule {
    std::string id;       ///< "sgr-" and 17 hex digits
    std::string protocol; ///< "-1" (all traffic), "tcp", "udp", "icmp" or "icmpv6"
    int from_port = -1;   ///< -1 for "-1"; for tcp/udp 0..65535
    int to_port = -1;
    util::Cidr cidr;
    std::string description;
    /// In the additional security group (securityGroupIds), not the cluster security group. Both
    /// are attached to EKS's ENIs, so the private side admits what either admits.
    bool additional = false;

    /// Whether the rule lets TCP to `port` in.
    [[nodiscard]] bool admits_tcp(uint16_t port) const;
    /// Same rule (what EC2 calls a duplicate): protocol, ports and CIDR; not id or description.
    [[nodiscard]] bool same_permission(const SgRule& other) const;
    /// EC2's words for the rule in messages: peer: 10.0.0.0/16, TCP, from port: 443, to port: 443,
    /// ALLOW" (the quote marks are the caller's).
    [[nodiscard]] std::string describe() const;
};

/// The rules the file implies: one all-traffic rule per CIDR of [cluster.api]
/// security_group_ingress, or of vpc_cidrs without [cluster.api] (EKS's cluster security group
/// admits its own members). Their IDs are stable: derived from cluster, region and CIDR.
std::vector<SgRule> file_rules(const config::ClusterConfig& c);

/// The file's CIDRs behind file_rules().
std::vector<util::Cidr> file_ingress(const config::ClusterConfig& c);

/// The CIDRs of `rules` that let TCP to `port` in, each once, in rule order.
std::vector<util::Cidr> admitted_cidrs(const std::vector<SgRule>& rules, uint16_t port);

/// `text` matches EC2 filter value `pattern`: '*' any run of characters, '?' any one, '\\'
/// escapes the next; case-sensitive, as EC2's filters are.
bool filter_match(std::string_view pattern, std::string_view text);

/// An EC2 error: the code (HTTP 400 and x-amzn-ErrorType) and EC2's message.
struct Ec2Error {
    std::string code;
    std::string message;
};

/// The rules of an authorize/revoke request, without IDs. The request is EC2's JSON:
/// {"IpPermissions": [{"IpProtocol", "FromPort", "ToPort", "IpRanges": [{"CidrIp",
/// "Description"}], "Ipv6Ranges": [{"CidrIpv6"}]}]} or the flat form of `aws ec2 ...
/// --protocol P --port N --cidr C` ({"IpProtocol", "FromPort", "ToPort", "CidrIp"}); "GroupId"
/// and "GroupName" are left to the caller. For a revoke, "SecurityGroupRuleIds" are returned in
/// `rule_ids` instead.
struct SgRequest {
    std::vector<SgRule> rules;
    std::vector<std::string> rule_ids;
};

std::variant<SgRequest, Ec2Error> read_sg_request(const nlohmann::json& request);

/// {"SecurityGroupRuleId", "GroupId", "GroupOwnerId", "IsEgress": false, "IpProtocol",
/// "FromPort", "ToPort", "CidrIpv4" | "CidrIpv6", "Description"?, "Tags": []}.
nlohmann::json rule_json(const SgRule& r, const std::string& group_id, const std::string& owner);

/// Reads a rule saved with saved_rule_json(); throws std::runtime_error naming `where`.
SgRule saved_rule(const nlohmann::json& j, const std::string& where);
nlohmann::json saved_rule_json(const SgRule& r);

} // namespace horizon::control
