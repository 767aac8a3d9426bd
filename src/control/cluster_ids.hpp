// Stable generated values of a cluster for what the configuration has no source for (account,
// resource IDs, ARNs' partition, the OIDC issuer ID, a placeholder CA): SHA-256 of
// "name/region/purpose", so that every instance describes a cluster the same way.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "util/crypto.hpp"

namespace horizon::control {

using Digest = util::Sha256;

/// SHA-256 of "name/region/purpose".
Digest digest_of(const config::ClusterConfig& c, std::string_view purpose);
/// The first `digits` hex digits of `bytes`.
std::string hex_of(std::span<const unsigned char> bytes, size_t digits);
/// "vpc-0a1b2c3d4e5f60718": AWS resource IDs have 17 hex digits after the prefix.
std::string aws_id(std::string_view prefix, const config::ClusterConfig& c,
                   std::string_view purpose);
/// describe-cluster's clusterSecurityGroupId: the group EKS creates and attaches to its ENIs.
std::string cluster_security_group_id(const config::ClusterConfig& c);
/// EKS's name for it: "eks-cluster-sg-<cluster>-<number>".
std::string cluster_security_group_name(const config::ClusterConfig& c);
/// The additional group of describe-cluster's securityGroupIds (what eksctl's stack creates and
/// EKS attaches to the same ENIs): its ID and eksctl's CloudFormation name for it,
/// "eksctl-<cluster>-cluster-ControlPlaneSecurityGroup-<13 characters>".
std::string additional_security_group_id(const config::ClusterConfig& c);
std::string additional_security_group_name(const config::ClusterConfig& c);
/// Twelve digits, never starting with 0 so that no tool strips it to eleven.
std::string account_id(const config::ClusterConfig& c);

struct Partition {
    std::string_view arn;        ///< "aws", "aws-cn", "aws-us-gov"
    std::string_view dns_suffix; ///< of the OIDC issuer
};

Partition partition_of(std::string_view region);
/// The OIDC issuer reuses the endpoint's ID (EKS-FACTS §1); a custom endpoint name without one
/// gets the ID derive_endpoint would have given.
std::string oidc_id(const config::ClusterConfig& c);
/// certificateAuthority.data: base64 of a PEM block, shaped like EKS's but a placeholder (it does
/// not parse as a certificate; the lab's API server has its own CA).
std::string certificate_authority(const config::ClusterConfig& c);
/// As many cluster subnets as ENIs (EKS puts one ENI per subnet), at least the two EKS requires.
std::vector<std::string> subnet_ids(const config::ClusterConfig& c);
std::vector<std::string> security_group_ids(const config::ClusterConfig& c);

} // namespace horizon::control
