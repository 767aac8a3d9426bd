// `horizonctl kind init`: a kind cluster as the EKS lab of ../shared/seed (EKS-FACTS §6), sans-I/O.
//
// From `docker network inspect kind` (JSON) and `kind get kubeconfig` (YAML) it writes four texts:
// horizond's configuration (the kind network is the VPC, the control-plane nodes are the ENIs,
// a gate proxying to the API server is the NLB, on port 6443 like the API server), a CoreDNS
// ConfigMap that forwards the endpoint's zone to horizond, a kind cluster configuration with the
// endpoint name in the API server's certSANs, and a kubeconfig whose server is the endpoint name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/address.hpp"

namespace horizon::ctl::kind {

/// The API server's port inside kind, and so the endpoint's port on both sides.
inline constexpr uint16_t kApiPort = 6443;

/// What `docker network inspect kind` says that matters here.
struct Network {
    std::string name;                      ///< "kind"
    std::string id;                        ///< the full network ID
    std::vector<util::Cidr> subnets;       ///< IPAM.Config[].Subnet, in order
    std::vector<util::IpAddress> gateways; ///< one per subnet: Gateway, else subnet base + 1
    /// One per subnet: the network was created with it (`--subnet`), so it stays when the
    /// network is recreated. Docker's inspect shows a Gateway for every pool its IPAM chose
    /// itself, and none for a `--subnet` given without `--gateway` (moby's buildIPAMResources),
    /// so an entry without a Gateway is pinned; one with a Gateway may not be and counts as not.
    /// kind pins only its IPv6 /64 (`--ipv6 --subnet <ULA>`): its IPv4 subnet is Docker's choice.
    std::vector<bool> pinned;

    struct Container {
        std::string name; ///< "aews-control-plane", "aews-worker2", ...
        std::optional<util::IpAddress> ipv4;
        std::optional<util::IpAddress> ipv6;
    };

    std::vector<Container> containers; ///< sorted by name

    /// The Linux bridge device: com.docker.network.bridge.name, else "br-" + the ID's first 12.
    std::string bridge;
};

/// What `kind get kubeconfig` says that matters here.
struct Kubeconfig {
    std::string cluster; ///< the current context's cluster entry, "kind-aews"
    std::string server;  ///< its server URL, "https://127.0.0.1:41263"
    std::string host;    ///< the URL's host ("127.0.0.1", brackets removed)
    uint16_t port = 0;   ///< the URL's port
};

/// A result: the value, or one message saying what is wrong and where.
template <class T>
struct Parsed {
    std::optional<T> value;
    std::string error; ///< the message, "" with a value
    /// Which input it is about: "network", "kubeconfig", "coredns" or "options".
    std::string where;
    unsigned line = 0; ///< 1-based position in that input; 0 = not known
    unsigned col = 0;
};

/// Parses `docker network inspect <name>` output: a JSON array with one network (or the object).
Parsed<Network> parse_network(std::string_view json);

/// Parses a kubeconfig (YAML): the current context's cluster and its server.
Parsed<Kubeconfig> parse_kubeconfig(std::string_view yaml);

struct Options {
    std::string name; ///< the kind (and EKS) cluster name; "" = from the kubeconfig ("kind-NAME")
    std::string region = "ap-northeast-2";
    std::string endpoint; ///< "" = config::derive_endpoint(name, region)
    /// Container mode: horizond's fixed address on the kind network (container/compose.yaml); DNS
    /// and the gate listen there, the gate proxies to the API server's address on the network.
    /// Only on a network whose IPv4 subnet is pinned (Network::pinned): on one Docker chose, a
    /// fixed address may not exist after the network is recreated, or collide with a node.
    /// None = host mode: they listen on the bridge gateway (the host's address on the network)
    /// and the gate proxies to the kubeconfig's server.
    std::optional<util::IpAddress> horizon_ip;
    /// Where CoreDNS's stub zone reaches horizond. None: 1053 on the host (kind's node
    /// entrypoint DNATs every packet to <gateway>:53 to Docker's embedded DNS, so 53 is refused
    /// there), 53 in container mode (the container's address is not rewritten).
    std::optional<uint16_t> dns_port;
    uint16_t admin_port = 8053;
    /// The pod network, also "inside the VPC" (as pods are on EKS with the VPC CNI); kind's
    /// default podSubnet. Empty: none.
    std::string pod_subnet = "10.244.0.0/16";
    unsigned workers = 2; ///< worker nodes in the kind cluster configuration
    /// Container mode's admin token (its admin API is not on loopback); "" = a random one.
    std::string admin_token;
    /// The absolute path of the lab's node/ directory on the host (node_dns_script() and
    /// node_dns_dropin() inside), which kind-cluster.yaml mounts into every node.
    std::string node_dir = "/lab/node";
};

/// The port CoreDNS's stub zone uses: Options::dns_port, else 1053 on the host, 53 in a container.
uint16_t stub_port(const Options& o);

/// Where kind-cluster.yaml mounts the lab's node/ directory in each node, read-only.
inline constexpr std::string_view kNodeDir = "/etc/horizon";
/// The node/ files: the script and the kubelet drop-in that runs it.
inline constexpr std::string_view kNodeDnsScript = "horizon-node-dns.sh";
inline constexpr std::string_view kNodeDnsDropin = "20-horizon-dns.conf";
/// Where the drop-in is mounted: kubelet.service.d, beside kind's 10-kubeadm.conf and 11-kind.conf.
inline constexpr std::string_view kNodeDropinPath =
    "/etc/systemd/system/kubelet.service.d/20-horizon-dns.conf";

/// The script each kind node runs before every kubelet start (kind_cluster_config mounts it): it
/// puts `nameserver <horizond>` first in /etc/resolv.conf (or the file given as $1), which kind's
/// entrypoint rewrote at the node's start to name the gateway (Docker's DNS). `nameserver` none:
/// the node's IPv6 default gateway, the host's address on the kind network (host mode); else
/// horizond's container address. horizond answers the endpoint's zone and REFUSES every other
/// name (no recursion), and glibc's and Go's resolvers then ask the next nameserver, Docker's
/// DNS, as before (kind-facts.md).
std::string node_dns_script(const std::optional<util::IpAddress>& nameserver);

/// The kubelet drop-in (`ExecStartPre=-/bin/sh /etc/horizon/horizon-node-dns.sh`).
std::string node_dns_dropin();

/// The generated files.
struct Outputs {
    std::string horizon_toml;      ///< horizond's configuration
    std::string coredns_configmap; ///< the CoreDNS ConfigMap with the endpoint's stub zone
    std::string kind_cluster;      ///< kind's Cluster configuration (certSANs)
    std::string kubeconfig;        ///< the input kubeconfig, server = https://<endpoint>:6443
    std::string node_dns_script;   ///< node/horizon-node-dns.sh, node_dns_script()
    std::string node_dns_dropin;   ///< node/20-horizon-dns.conf, node_dns_dropin()
    std::string summary;           ///< what was chosen and what to run next, for the terminal
};

/// The API server certificate's extra SANs the kind configuration asks for: the endpoint name,
/// then what kind itself lists (localhost, 127.0.0.1: where `kind get kubeconfig` points) and
/// the control plane's name `<name>-control-plane`, so that a kind that replaces the list with
/// the patch's (before v0.32) still serves its own kubeconfig and nodes.
std::vector<std::string> kind_cert_sans(std::string_view name, std::string_view endpoint);

/// kind's Cluster configuration for `name`: one control plane, `workers` workers, and
/// kind_cert_sans() in the API server certificate's SANs (a kubeadm ClusterConfiguration patch);
/// every node mounts `node_dir` (absolute) at kNodeDir and its drop-in at kNodeDropinPath, so
/// that kubelet, kube-proxy and containerd resolve through horizond. Needed before the cluster
/// exists, so it depends on nothing else.
std::string kind_cluster_config(std::string_view name, std::string_view endpoint, unsigned workers,
                                std::string_view node_dir);

/// The CoreDNS ConfigMap (`kubectl -n kube-system get configmap coredns -o yaml`) with a server
/// block forwarding `zone` to `target` ("172.18.0.1:1053") added to its Corefile, replacing one
/// added before for the same zone; metadata reduced to name and namespace so that it applies.
/// With `upstream` ("172.18.0.1", Docker's DNS as kind's resolv.conf names it), every `forward .
/// /etc/resolv.conf` becomes `forward . <upstream>` (marked, so a re-run updates it): CoreDNS
/// reads the node's resolv.conf, which names horizond first, and CoreDNS does not move on to the
/// next upstream after horizond's REFUSED for other names (coredns issues #5999, #7457).
Parsed<std::string> patch_coredns(std::string_view configmap_yaml, std::string_view zone,
                                  std::string_view target, std::string_view upstream = {});

/// `kubeconfig` with the server of `cluster` replaced by `server`.
Parsed<std::string> rewrite_kubeconfig(std::string_view kubeconfig, std::string_view cluster,
                                       std::string_view server);

/// Everything `horizonctl kind init` writes, from the two inputs (and the CoreDNS ConfigMap; ""
/// = kind's default one, kDefaultCorednsConfigMap). Any problem: `error`, one message.
Parsed<Outputs> generate(const Options& options, std::string_view network_json,
                         std::string_view kubeconfig_yaml, std::string_view coredns_yaml = {});

/// The CoreDNS ConfigMap a new kind cluster has (kubeadm's default Corefile).
extern const std::string_view kDefaultCorednsConfigMap;

} // namespace horizon::ctl::kind
