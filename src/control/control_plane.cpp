// The EKS-shaped control model's clusters: describe-cluster and list-clusters as EKS shows them
// (EKS-FACTS §4), the effective configuration DNS serves, and the update counts. The update
// lifecycle is in control_plane_updates.cpp, the saved state in control_plane_state.cpp, the
// security group API in control_plane_sg.cpp.
#include "control/control_plane.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "control/cluster_ids.hpp"
#include "control/control_plane_detail.hpp"

namespace horizon::control {

using namespace detail; // NOLINT(google-build-using-namespace): this class's own helpers
using nlohmann::json;

std::string_view to_string(UpdateStatus s) {
    switch (s) {
    case UpdateStatus::InProgress:
        return "InProgress";
    case UpdateStatus::Successful:
        return "Successful";
    case UpdateStatus::Failed:
        return "Failed";
    case UpdateStatus::Cancelled:
        return "Cancelled";
    }
    return "?";
}

const ClusterState* ControlPlane::find(const std::string& name) const {
    const auto it = std::find_if(clusters_.begin(), clusters_.end(),
                                 [&](const ClusterState& c) { return c.file.name == name; });
    return it == clusters_.end() ? nullptr : &*it;
}

ClusterState* ControlPlane::find(const std::string& name) {
    const auto it = std::find_if(clusters_.begin(), clusters_.end(),
                                 [&](const ClusterState& c) { return c.file.name == name; });
    return it == clusters_.end() ? nullptr : &*it;
}

ApiResult ControlPlane::list_clusters() const {
    json names = json::array();
    for (const auto& c : clusters_) {
        names.push_back(c.file.name);
    }
    return {200, {{"clusters", names}}, ""};
}

ApiResult ControlPlane::describe_cluster(const std::string& name) const {
    const ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    const config::ClusterConfig& f = c->file;
    const EndpointAccess access = effective_access(*c);
    const Partition partition = partition_of(f.region);
    const std::string account = account_id(f);

    json vpc;
    vpc["subnetIds"] = subnet_ids(f);
    vpc["securityGroupIds"] = security_group_ids(f);
    vpc["clusterSecurityGroupId"] = cluster_security_group_id(f);
    vpc["vpcId"] = aws_id("vpc", f, "vpc");
    vpc["endpointPublicAccess"] = public_access(access.mode);
    vpc["endpointPrivateAccess"] = private_access(access.mode);
    vpc["publicAccessCidrs"] = texts_of(access.cidrs);

    json network;
    network["serviceIpv4Cidr"] = "10.100.0.0/16";
    network["ipFamily"] = config::has_ipv6(f) ? "ipv6" : "ipv4";
    if (config::has_ipv6(f)) {
        // EKS picks a unique local /108 (RFC 4193) for IPv6 services.
        const auto d = digest_of(f, "service-ipv6");
        network["serviceIpv6Cidr"] =
            fmt::format("fd{:02x}:{:02x}{:02x}:{:02x}{:02x}::/108", d[0], d[1], d[2], d[3], d[4]);
    }

    json logging_types =
        json::array({"api", "audit", "authenticator", "controllerManager", "scheduler"});
    json logging_setup;
    logging_setup["types"] = logging_types;
    logging_setup["enabled"] = false;
    json logging;
    logging["clusterLogging"] = json::array({logging_setup});

    json cluster;
    cluster["name"] = f.name;
    cluster["arn"] =
        fmt::format("arn:{}:eks:{}:{}:cluster/{}", partition.arn, f.region, account, f.name);
    cluster["createdAt"] = epoch_seconds(c->created_at);
    cluster["version"] = f.kubernetes_version;
    cluster["endpoint"] = "https://" + f.endpoint;
    cluster["roleArn"] =
        fmt::format("arn:{}:iam::{}:role/eksctl-{}-cluster-ServiceRole-{}", partition.arn, account,
                    f.name, hex_of(digest_of(f, "role"), 12));
    cluster["resourcesVpcConfig"] = vpc;
    cluster["kubernetesNetworkConfig"] = network;
    cluster["logging"] = logging;
    cluster["identity"]["oidc"]["issuer"] =
        fmt::format("https://oidc.eks.{}.{}/id/{}", f.region, partition.dns_suffix, oidc_id(f));
    cluster["status"] = in_progress(*c) != nullptr ? "UPDATING" : "ACTIVE";
    cluster["certificateAuthority"]["data"] = certificate_authority(f);
    cluster["platformVersion"] = "eks.8";
    cluster["tags"] = json::object();
    cluster["accessConfig"]["authenticationMode"] = "API_AND_CONFIG_MAP";
    return {200, {{"cluster", cluster}}, ""};
}

config::Config ControlPlane::effective() const {
    config::Config out;
    out.server = server_;
    for (const auto& c : clusters_) {
        config::ClusterConfig cluster = c.file;
        const EndpointAccess access = effective_access(c);
        cluster.access_mode = access.mode;
        cluster.public_access_cidrs = access.cidrs;
        if (cluster.api) {
            cluster.api->security_group_ingress = admitted_cidrs(sg_rules(c), cluster.api->port);
        }
        out.clusters.push_back(std::move(cluster));
    }
    return out;
}

std::string ControlPlane::cluster_of_security_group(const std::string& group_id) const {
    for (const auto& c : clusters_) {
        if (cluster_security_group_id(c.file) == group_id ||
            additional_security_group_id(c.file) == group_id) {
            return c.file.name;
        }
    }
    return "";
}

std::map<std::string, uint64_t> ControlPlane::updates_by_status() const {
    std::map<std::string, uint64_t> out;
    for (const auto s : kStatuses) {
        out[std::string(to_string(s))] = 0;
    }
    for (const auto& c : clusters_) {
        for (const auto& u : c.updates) {
            ++out[std::string(to_string(u.status))];
        }
    }
    return out;
}

} // namespace horizon::control
