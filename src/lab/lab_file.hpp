// A lab file (config/labs/*.toml): the network of the seed lab, as plain structs, validated.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/address.hpp"

namespace horizon::lab {

enum class Role : uint8_t {
    Node,     ///< a worker node in the VPC: runs the kubelet and kube-proxy agents
    Operator, ///< a VPC host people work from (the seed's eksctl-host): may call the AWS API
    Internet, ///< a host on the internet (the seed's home PC): may call the AWS API
};

std::string_view to_string(Role r);

struct Host {
    std::string name; ///< "node1"; the namespace is prefix + name
    Role role = Role::Node;
    util::IpAddress address;
    std::optional<util::IpAddress> public_ip; ///< VPC hosts: their 1:1 NAT address
};

struct Cluster {
    std::string name = "myeks";
    std::string region = "ap-northeast-2";
    std::string kubernetes_version = "1.31";
    std::string access_mode = "public";
    std::vector<util::Cidr> public_access_cidrs;
    std::vector<util::IpAddress> public_ips;  ///< the NLB
    std::vector<util::IpAddress> private_ips; ///< the EKS-owned ENIs
    std::string update_duration = "10s";
};

struct LabSpec {
    std::string path; ///< where it was read from ("<built-in aews-week1>")
    std::string prefix = "hz-";
    util::Cidr vpc;
    util::IpAddress vpc_resolver;
    std::vector<util::Cidr> subnets; ///< /24 .. /28, each inside vpc
    util::Cidr internet;
    util::IpAddress internet_resolver;
    util::IpAddress ipinfo;
    util::IpAddress aws_api;
    Cluster cluster;
    std::vector<Host> hosts;

    [[nodiscard]] const Host* host(std::string_view name) const;
    /// The subnet (of `subnets`, or the resolver's implicit one) holding `a`; nullptr if none.
    [[nodiscard]] const util::Cidr* subnet_of(const util::IpAddress& a) const;
    /// The resolver's subnet: the /24 of the VPC base + 2 when no listed subnet holds it.
    [[nodiscard]] util::Cidr resolver_subnet() const;
    /// Every subnet a bridge is made for: `subnets`, plus the resolver's when it is not in one.
    [[nodiscard]] std::vector<util::Cidr> all_subnets() const;
};

/// Errors as "file:line:col: message", one per line.
using LabLoad = std::variant<LabSpec, std::vector<std::string>>;

LabLoad load_lab(std::string_view text, const std::string& path);

/// The built-in lab (config/labs/aews-week1.toml compiled in).
std::string_view builtin_lab_text();
inline constexpr std::string_view kBuiltinLabName = "<built-in aews-week1>";

} // namespace horizon::lab
