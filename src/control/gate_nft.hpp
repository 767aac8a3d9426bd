// The API endpoint gate's "drop" decisions as an nftables ruleset: a denied client's SYN is
// dropped in the kernel (a real connect timeout, as EKS's security groups and allowlist give)
// instead of being accepted and held. Pure text; server/runtime applies it with the DNS flip.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace horizon::control {

/// An `nft -f` script that replaces table `inet <table>` atomically (one transaction) with rules
/// dropping the SYNs that decide_api_connection denies, for every cluster with [cluster.api]
/// and deny = "drop": on the public addresses, from sources outside publicAccessCidrs (an
/// in-VPC source counts as vpc_egress_ip when set) or every source when public access is off;
/// on the private addresses, from sources outside security_group_ingress, or every source when
/// private access is off. Established connections are not touched (EKS keeps them).
std::string gate_nft_ruleset(const std::vector<config::ClusterConfig>& clusters,
                             std::string_view table);

/// The script that removes the table (at exit).
std::string gate_nft_removal(std::string_view table);

} // namespace horizon::control
