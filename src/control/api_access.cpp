// The API endpoint's connection decision (EKS-FACTS §2).
#include "control/api_access.hpp"

#include <fmt/format.h>

namespace horizon::control {

std::string_view to_string(ApiSide s) {
    return s == ApiSide::Public ? "public" : "private";
}

std::string_view to_string(ApiReason r) {
    switch (r) {
    case ApiReason::Allowed:
        return "allowed";
    case ApiReason::PublicAccessDisabled:
        return "public_access_disabled";
    case ApiReason::PublicAccessCidrs:
        return "public_access_cidrs";
    case ApiReason::PrivateAccessDisabled:
        return "private_access_disabled";
    case ApiReason::SecurityGroup:
        return "security_group";
    case ApiReason::NoApi:
        return "no_api";
    }
    return "?";
}

namespace {

/// The first (longest) prefix of `list` containing `a`, or null: which publicAccessCidrs or
/// security group entry admitted a source (any one that contains it would; the longest is named).
const util::Cidr* longest_match(const std::vector<util::Cidr>& list, const util::IpAddress& a) {
    const util::Cidr* best = nullptr;
    for (const auto& c : list) {
        if (c.addr.family == a.family && c.contains(a) && (best == nullptr || c.len > best->len)) {
            best = &c;
        }
    }
    return best;
}

} // namespace

bool in_vpc(const dns::VpcTrie& vpc, const util::IpAddress& source) {
    const dns::VpcPrefix* hit = dns::vpc_match(vpc, source);
    return hit != nullptr && hit->inside;
}

bool in_vpc(const config::ClusterConfig& c, const util::IpAddress& source) {
    return in_vpc(dns::vpc_trie(c), source);
}

ApiDecision decide_api_connection(const config::ClusterConfig& c, ApiSide side,
                                  const util::IpAddress& source, const dns::VpcTrie* vpc,
                                  bool security_group_member) {
    ApiDecision d;
    d.seen_as = source.unmapped();
    if (!c.api) {
        d.reason = ApiReason::NoApi;
        return d;
    }
    if (side == ApiSide::Public) {
        if (c.access_mode == config::AccessMode::Private) {
            d.reason = ApiReason::PublicAccessDisabled;
            return d;
        }
        if (c.api->vpc_egress_ip &&
            (vpc != nullptr ? in_vpc(*vpc, d.seen_as) : in_vpc(c, d.seen_as))) {
            d.seen_as = *c.api->vpc_egress_ip;
        }
        d.matched = longest_match(c.public_access_cidrs, d.seen_as);
        d.reason = d.matched != nullptr ? ApiReason::Allowed : ApiReason::PublicAccessCidrs;
        return d;
    }
    if (c.access_mode == config::AccessMode::Public) {
        d.reason = ApiReason::PrivateAccessDisabled;
        return d;
    }
    if (security_group_member) {
        d.member = true;
        return d; // the group's self-referencing rule
    }
    d.matched = longest_match(c.api->security_group_ingress, d.seen_as);
    d.reason = d.matched != nullptr ? ApiReason::Allowed : ApiReason::SecurityGroup;
    return d;
}

std::string ApiDecision::explain(ApiSide side, const util::IpAddress& source) const {
    const std::string who = seen_as == source.unmapped()
                                ? source.unmapped().to_string()
                                : fmt::format("{} (seen as {}, vpc_egress_ip)",
                                              source.unmapped().to_string(), seen_as.to_string());
    switch (reason) {
    case ApiReason::Allowed:
        if (member) {
            return fmt::format("allowed: {} is a member of the cluster security group", who);
        }
        return fmt::format("allowed: {} is in {} {}", who,
                           side == ApiSide::Public ? "publicAccessCidrs"
                                                   : "the cluster security group's rule",
                           matched != nullptr ? matched->to_string() : "?");
    case ApiReason::PublicAccessDisabled:
        return "denied: public access is off (endpointPublicAccess false)";
    case ApiReason::PublicAccessCidrs:
        return fmt::format("denied: {} is not in publicAccessCidrs", who);
    case ApiReason::PrivateAccessDisabled:
        return "denied: private access is off (endpointPrivateAccess false)";
    case ApiReason::SecurityGroup:
        return fmt::format("denied: no rule of the cluster security group admits {} on TCP", who);
    case ApiReason::NoApi:
        return "denied: the cluster has no [cluster.api] any more";
    }
    return "?";
}

} // namespace horizon::control
