// Who may connect to the API endpoint (EKS-FACTS §2, "who may connect"): the decision for one
// connection from its side, its source and the cluster's current effective config. Sans-I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "dns/snapshot.hpp"

namespace horizon::control {

/// Which addresses a connection arrived on.
enum class ApiSide : uint8_t {
    Public,  ///< public_ips: the NLB
    Private, ///< private_ips: the EKS-owned ENIs
};

/// "public" or "private".
std::string_view to_string(ApiSide s);

enum class ApiReason : uint8_t {
    Allowed,
    PublicAccessDisabled,  ///< public side, endpointPublicAccess false
    PublicAccessCidrs,     ///< public side, source (as seen) not in publicAccessCidrs
    PrivateAccessDisabled, ///< private side, endpointPrivateAccess false
    SecurityGroup,         ///< private side, no security group rule admits the source
    NoApi,                 ///< the cluster or its [cluster.api] is gone (after a reload)
};

/// "allowed", "public_access_disabled", "public_access_cidrs", "private_access_disabled",
/// "security_group", "no_api": the metric label.
std::string_view to_string(ApiReason r);

struct ApiDecision {
    ApiReason reason = ApiReason::Allowed;
    /// The source as the endpoint sees it: vpc_egress_ip for an in-VPC source on the public side.
    util::IpAddress seen_as;
    const util::Cidr* matched = nullptr; ///< the publicAccessCidrs / ingress entry that admitted it
    bool member = false; ///< admitted as a member of the cluster security group (matched null)

    [[nodiscard]] bool allowed() const { return reason == ApiReason::Allowed; }

    /// One human line: "allowed: 127.0.0.1 is in publicAccessCidrs 0.0.0.0/0", "denied: ...".
    [[nodiscard]] std::string explain(ApiSide side, const util::IpAddress& source) const;
};

/// Whether `source` counts as inside the cluster VPC whose trie is `vpc` (dns::Cluster::vpc, the
/// one DNS answers from): dns::vpc_match, the one rule.
bool in_vpc(const dns::VpcTrie& vpc, const util::IpAddress& source);
/// The same for a cluster's configuration: builds its trie (dns::vpc_trie) for this one question;
/// callers that ask often keep the trie (a snapshot has it) and use the overload above.
bool in_vpc(const config::ClusterConfig& c, const util::IpAddress& source);

/// The decision for a connection from `source` arriving on `side` of cluster `c` (whose
/// effective config must have [cluster.api]):
///   public side:  public access on, and the source in publicAccessCidrs; an in-VPC source is
///                 seen as vpc_egress_ip when set (it leaves the VPC through a NAT gateway);
///   private side: private access on, and the source admitted by the cluster security group:
///                 by a rule of security_group_ingress, or, with `security_group_member`, by the
///                 group's rule that admits its own members (EKS's default; horizon-sim knows
///                 which sources are members, a socket never does).
/// `vpc`: the cluster's VPC trie; null = built from `c` when needed. The returned decision points
/// into `c` (matched).
ApiDecision decide_api_connection(const config::ClusterConfig& c, ApiSide side,
                                  const util::IpAddress& source, const dns::VpcTrie* vpc = nullptr,
                                  bool security_group_member = false);

} // namespace horizon::control
