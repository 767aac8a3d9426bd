// `horizonctl kind init`'s outputs: horizond's configuration, the CoreDNS stub zone, the kind
// cluster configuration and the kubeconfig for a kind lab (the inputs: kind_inputs.cpp).
#include "ctl/kind_init.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <random>
#include <sstream>
#include <yaml-cpp/yaml.h>

#include "config/config.hpp"
#include "ctl/kind_support.hpp"

namespace horizon::ctl::kind {

std::string toml_string(std::string_view s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\u{:04X}", c);
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

namespace {

std::string toml_strings(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& i : items) {
        out += (out.size() > 1 ? ", " : "") + toml_string(i);
    }
    return out + "]";
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

/// "host" or "[v6]" for a host:port string.
std::string host_port(const util::IpAddress& a, uint16_t port) {
    return util::Endpoint{a, port}.to_string();
}

/// Whether a Corefile line opens the server block for `zone` ("zone:53 {", "zone {", ...).
bool opens_zone_block(std::string_view line, std::string_view zone) {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
        line.remove_prefix(1);
    }
    const std::string l = lower(line);
    const std::string z = lower(zone);
    for (const std::string& head : {z + ":", z + ".:", z + " ", z + ".", z + "{"}) {
        if (l.starts_with(head) && l.find('{') != std::string::npos) {
            return head.back() != '.' || l.size() == head.size() || l[head.size()] == ':' ||
                   l[head.size()] == ' ' || l[head.size()] == '{';
        }
    }
    return false;
}

constexpr std::string_view kMarker = "# horizon:";

/// `corefile` without a server block for `zone` (and our comment line before it).
std::vector<std::string> without_zone_block(const std::string& corefile, std::string_view zone) {
    std::vector<std::string> lines;
    std::istringstream in(corefile);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() &&
               (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
            line.pop_back(); // trailing blanks would force kubectl and us out of block style
        }
        lines.push_back(line);
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (!opens_zone_block(lines[i], zone)) {
            out.push_back(lines[i]);
            continue;
        }
        if (!out.empty() && out.back().starts_with(kMarker)) {
            out.pop_back();
        }
        // Skip to the closing brace of the block (braces balance in a Corefile server block).
        int depth = 0;
        for (; i < lines.size(); ++i) {
            depth += static_cast<int>(std::count(lines[i].begin(), lines[i].end(), '{'));
            depth -= static_cast<int>(std::count(lines[i].begin(), lines[i].end(), '}'));
            if (depth <= 0) {
                break;
            }
        }
    }
    while (!out.empty() && out.back().empty()) {
        out.pop_back();
    }
    return out;
}

constexpr std::string_view kUpstreamMarker = "# horizon: was forward . /etc/resolv.conf";

/// `lines` with each `forward . /etc/resolv.conf` (and each one we rewrote before, the line after
/// our marker) forwarding to `upstream` instead, our marker line above it.
std::vector<std::string> with_explicit_upstream(const std::vector<std::string>& lines,
                                                std::string_view upstream) {
    const auto trimmed = [](const std::string& l) {
        return std::string_view(l).substr(std::min(l.find_first_not_of(" \t"), l.size()));
    };
    std::vector<std::string> out;
    bool marked = false;
    for (const std::string& line : lines) {
        const std::string_view t = trimmed(line);
        if (t.starts_with(kUpstreamMarker)) {
            marked = true;
            continue; // written again below, with the current reason
        }
        constexpr std::string_view kForward = "forward . ";
        const bool original = t.starts_with("forward . /etc/resolv.conf") &&
                              (t.size() == 26 || t[26] == ' ' || t[26] == '{');
        if ((original || (marked && t.starts_with(kForward)))) {
            const std::string indent = line.substr(0, line.size() - t.size());
            std::string_view rest = t.substr(kForward.size());
            rest = rest.substr(std::min(rest.find_first_of(" {"), rest.size()));
            // The nodes' resolv.conf names horizond first, which refuses other names.
            out.push_back(indent + std::string(kUpstreamMarker) +
                          " (horizond, first there, refuses other names)");
            out.push_back(indent + std::string(kForward) + std::string(upstream) +
                          std::string(rest));
        } else {
            out.push_back(line);
        }
        marked = false;
    }
    return out;
}

std::string random_token() {
    std::random_device rd;
    std::string out;
    for (int i = 0; i < 4; ++i) {
        out += fmt::format("{:08x}", rd());
    }
    return out;
}

} // namespace

const std::string_view kDefaultCorednsConfigMap = R"(apiVersion: v1
data:
  Corefile: |
    .:53 {
        errors
        health {
           lameduck 5s
        }
        ready
        kubernetes cluster.local in-addr.arpa ip6.arpa {
           pods insecure
           fallthrough in-addr.arpa ip6.arpa
           ttl 30
        }
        prometheus :9153
        forward . /etc/resolv.conf {
           max_concurrent 1000
        }
        cache 30
        loop
        reload
        loadbalance
    }
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
)";

std::vector<std::string> kind_cert_sans(std::string_view name, std::string_view endpoint) {
    return {std::string(endpoint), "localhost", "127.0.0.1", std::string(name) + "-control-plane"};
}

uint16_t stub_port(const Options& o) {
    return o.dns_port.value_or(o.horizon_ip ? 53 : 1053);
}

std::string node_dns_script(const std::optional<util::IpAddress>& nameserver) {
    std::string out = fmt::format(
        "#!/bin/sh\n"
        "# horizon-node-dns (written by `horizonctl kind init`): kind-cluster.yaml mounts it in\n"
        "# every kind node at {0}, and the kubelet drop-in\n"
        "# {1}\n"
        "# runs it before each kubelet start (so after every node start too).\n"
        "#\n"
        "# kind's node entrypoint rewrites /etc/resolv.conf at every node start to name the "
        "docker\n"
        "# network's gateway, and DNATs the gateway's port 53 to Docker's embedded DNS, which\n"
        "# forwards to the host's resolvers: horizond never sees the node there. This puts\n"
        "# horizond first, at an address kind does not rewrite. horizond answers the endpoint's\n"
        "# zone and REFUSES every other name, and glibc's and Go's resolvers (kubelet, "
        "kube-proxy,\n"
        "# containerd) then ask the next nameserver, Docker's DNS, as before.\n"
        "# usage: horizon-node-dns.sh [RESOLV.CONF]   (default /etc/resolv.conf)\n"
        "set -u\n"
        "conf=${{1:-/etc/resolv.conf}}\n",
        kNodeDir, kNodeDropinPath);
    if (nameserver) {
        out += "# horizond's container on the kind network (kind init --horizon-ip).\n";
        out += "ns=" + nameserver->to_string() + "\n";
    } else {
        out +=
            "# horizond on the host: the host's IPv6 address on the kind network, the node's IPv6\n"
            "# default gateway (kind pins the network's IPv6 /64; kind's DNAT is IPv4 only).\n"
            "ns=$(ip -6 route show default 2>/dev/null | awk '$1 == \"default\" && $2 == "
            "\"via\" {print $3; exit}')\n"
            "if [ -z \"$ns\" ]; then\n"
            "    echo \"horizon-node-dns: no IPv6 default route: the kind network has no IPv6, so "
            "\"\\\n"
            "\"horizond has no address here that kind does not rewrite; this node keeps Docker's "
            "\"\\\n"
            "\"DNS (horizonctl kind doctor)\" >&2\n"
            "    exit 0\n"
            "fi\n";
    }
    out += "rest=$(grep -v -F -x \"nameserver $ns\" \"$conf\" | grep -v '^# horizon:')\n"
           "# Written in place: Docker bind-mounts /etc/resolv.conf, a rename would not reach it.\n"
           "{\n"
           "    echo \"# horizon: horizond first (horizonctl kind init); the rest is kind's\"\n"
           "    echo \"nameserver $ns\"\n"
           "    printf '%s\\n' \"$rest\"\n"
           "} >\"$conf\"\n";
    return out;
}

std::string node_dns_dropin() {
    return fmt::format("# horizon (horizonctl kind init): horizond first in this node's "
                       "resolv.conf before\n# every kubelet start ({0}/{1});\n# \"-\": a "
                       "failure never keeps kubelet from starting.\n"
                       "[Service]\n"
                       "ExecStartPre=-/bin/sh {0}/{1}\n",
                       kNodeDir, kNodeDnsScript);
}

std::string kind_cluster_config(std::string_view name, std::string_view endpoint, unsigned workers,
                                std::string_view node_dir) {
    std::string out = fmt::format(
        "# kind cluster {0} for the horizon lab (written by `horizonctl kind init`):\n"
        "#   kind create cluster --config kind-cluster.yaml\n"
        "# The EKS endpoint name is a SAN of the API server's certificate, so that one kubeconfig\n"
        "# URL works through horizond's gate and on the nodes alike:\n"
        "#   https://{1}:{2}\n"
        "# Every node mounts the lab's node/ directory, whose script puts horizond first in the\n"
        "# node's resolv.conf before each kubelet start (kind's entrypoint sends <gateway>:53 to\n"
        "# Docker's DNS, docs/kind.md).\n"
        "kind: Cluster\n"
        "apiVersion: kind.x-k8s.io/v1alpha4\n"
        "name: {0}\n"
        "nodes:\n",
        name, endpoint, kApiPort);
    const std::string dir(node_dir);
    const std::string mounts =
        fmt::format("    extraMounts:\n"
                    "      - hostPath: {}\n"
                    "        containerPath: {}\n"
                    "        readOnly: true\n"
                    "      - hostPath: {}\n"
                    "        containerPath: {}\n"
                    "        readOnly: true\n",
                    toml_string(dir), kNodeDir,
                    toml_string(dir + "/" + std::string(kNodeDnsDropin)), kNodeDropinPath);
    out += "  - role: control-plane\n" + mounts;
    for (unsigned i = 0; i < workers; ++i) {
        out += "  - role: worker\n" + mounts;
    }
    // kind's own ClusterConfiguration lists certSANs [localhost, <apiServerAddress>] (kind's
    // pkg/cluster/internal/kubeadm/config.go; 127.0.0.1 by default), and the kubeconfig kind
    // writes reaches the API server as https://127.0.0.1:<port>. kind before v0.32 applies this
    // patch as a JSON merge patch, which replaces a list (RFC 7386 §2), so the patch carries
    // kind's entries and the control plane's name (controlPlaneEndpoint, what nodes dial)
    // itself; kind v0.32 and later merge certSANs without duplicates, so listing them is harmless.
    out += "kubeadmConfigPatches:\n"
           "  - |\n"
           "    kind: ClusterConfiguration\n"
           "    apiServer:\n"
           "      certSANs:\n";
    for (const std::string& san : kind_cert_sans(name, endpoint)) {
        out += "        - \"" + san + "\"\n";
    }
    return out;
}

Parsed<std::string> patch_coredns(std::string_view configmap_yaml, std::string_view zone,
                                  std::string_view target, std::string_view upstream) {
    const std::string where = "coredns";
    YAML::Node root;
    try {
        root = YAML::Load(std::string(configmap_yaml));
    } catch (const YAML::Exception& e) {
        return yaml_failure<std::string>(where, e.mark, "not YAML: " + e.msg);
    }
    try {
        if (!root.IsMap() || scalar(root, "kind") != "ConfigMap" || !root["data"] ||
            !root["data"].IsMap() || scalar(root["data"], "Corefile").empty()) {
            return failure<std::string>(where,
                                        "expected CoreDNS's ConfigMap with data.Corefile "
                                        "(kubectl -n kube-system get configmap coredns "
                                        "-o yaml)",
                                        1, 1);
        }
        std::string name = scalar(root["metadata"], "name");
        std::string ns = scalar(root["metadata"], "namespace");
        std::vector<std::string> lines = without_zone_block(scalar(root["data"], "Corefile"), zone);
        if (!upstream.empty()) {
            lines = with_explicit_upstream(lines, upstream);
        }
        lines.emplace_back();
        lines.push_back(std::string(kMarker) + " the EKS endpoint zone, answered split-horizon by "
                                               "horizond (horizonctl kind init)");
        lines.push_back(fmt::format("{}:53 {{", lower(zone)));
        lines.emplace_back("    errors");
        lines.push_back(fmt::format("    forward . {}", target));
        lines.emplace_back("}");
        std::string corefile;
        for (const auto& l : lines) {
            corefile += l + "\n";
        }

        YAML::Emitter out;
        out << YAML::BeginMap;
        out << YAML::Key << "apiVersion" << YAML::Value << "v1";
        out << YAML::Key << "kind" << YAML::Value << "ConfigMap";
        out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
        out << YAML::Key << "name" << YAML::Value << (name.empty() ? "coredns" : name);
        out << YAML::Key << "namespace" << YAML::Value << (ns.empty() ? "kube-system" : ns);
        out << YAML::EndMap;
        out << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
        for (const auto& kv : root["data"]) {
            const std::string key = kv.first.Scalar();
            out << YAML::Key << key << YAML::Value;
            if (key == "Corefile") {
                out << YAML::Literal << corefile;
            } else {
                out << kv.second;
            }
        }
        out << YAML::EndMap << YAML::EndMap;
        if (!out.good()) {
            return failure<std::string>(where, "cannot write the ConfigMap: " + out.GetLastError());
        }
        return {std::string("# CoreDNS with a stub zone for the EKS endpoint (horizonctl kind "
                            "init):\n#   kubectl apply -f coredns-configmap.yaml\n") +
                    out.c_str() + "\n",
                {},
                {},
                0,
                0};
    } catch (const YAML::Exception& e) {
        return yaml_failure<std::string>(where, e.mark, e.msg);
    }
}

Parsed<std::string> rewrite_kubeconfig(std::string_view kubeconfig, std::string_view cluster,
                                       std::string_view server) {
    const std::string where = "kubeconfig";
    try {
        YAML::Node root = YAML::Load(std::string(kubeconfig));
        YAML::Node entry = named_entry(root, "clusters", std::string(cluster));
        if (!entry || !entry["cluster"].IsMap()) {
            return failure<std::string>(
                where, "cluster " + toml_string(cluster) + " is not in clusters", 1, 1);
        }
        entry["cluster"]["server"] = std::string(server);
        YAML::Emitter out;
        out << root;
        if (!out.good()) {
            return failure<std::string>(where, "cannot write it: " + out.GetLastError());
        }
        return {std::string(out.c_str()) + "\n", {}, {}, 0, 0};
    } catch (const YAML::Exception& e) {
        return yaml_failure<std::string>(where, e.mark, e.msg);
    }
}

Parsed<Outputs> generate(const Options& o, std::string_view network_json,
                         std::string_view kubeconfig_yaml, std::string_view coredns_yaml) {
    auto net = parse_network(network_json);
    if (!net.value) {
        return failure<Outputs>(net.where, net.error, net.line, net.col);
    }
    auto kc = parse_kubeconfig(kubeconfig_yaml);
    if (!kc.value) {
        return failure<Outputs>(kc.where, kc.error, kc.line, kc.col);
    }
    const Network& n = *net.value;
    const Kubeconfig& k = *kc.value;

    std::string name = o.name;
    if (name.empty()) {
        if (!k.cluster.starts_with("kind-") || k.cluster.size() == 5) {
            return failure<Outputs>("kubeconfig",
                                    "cluster " + toml_string(k.cluster) +
                                        " is not a kind cluster (kind-NAME); pass --name");
        }
        name = k.cluster.substr(5);
    }

    // The nodes of this cluster on the network: kind names them NAME-control-plane[N],
    // NAME-worker[N] and, with several control planes, NAME-external-load-balancer.
    std::vector<const Network::Container*> control_planes;
    const Network::Container* lb = nullptr;
    std::string others;
    for (const auto& c : n.containers) {
        const std::string cp = name + "-control-plane";
        if (c.name.starts_with(cp) &&
            std::all_of(c.name.begin() + static_cast<ptrdiff_t>(cp.size()), c.name.end(),
                        [](unsigned char ch) { return std::isdigit(ch) != 0; })) {
            if (c.ipv4) {
                control_planes.push_back(&c);
            }
        } else if (c.name == name + "-external-load-balancer" && c.ipv4) {
            lb = &c;
        }
        others += (others.empty() ? "" : ", ") + c.name;
    }
    if (control_planes.empty()) {
        return failure<Outputs>(
            "network", fmt::format("no control-plane node of kind cluster {} ({}-control-plane) "
                                   "with an IPv4 address on network {} (containers: {})",
                                   toml_string(name), name, toml_string(n.name),
                                   others.empty() ? "none" : others));
    }

    // The IPv4 subnet carries the lab (kind clusters are IPv4 by default).
    size_t v4 = n.subnets.size();
    for (size_t i = 0; i < n.subnets.size(); ++i) {
        if (n.subnets[i].addr.is_v4() && v4 == n.subnets.size()) {
            v4 = i;
        }
    }
    if (v4 == n.subnets.size()) {
        return failure<Outputs>("network",
                                "network " + toml_string(n.name) + " has no IPv4 subnet");
    }
    const util::IpAddress gateway = n.gateways[v4];
    const bool container_mode = o.horizon_ip.has_value();
    if (container_mode && !n.pinned[v4]) {
        // kind creates its network with `--ipv6 --subnet <ULA>` only (kind-facts.md): the IPv4
        // range is Docker's pick and may differ when the network is recreated.
        std::string v6;
        for (const auto& c : n.subnets) {
            if (!c.addr.is_v4() && v6.empty()) {
                v6 = "--ipv6 --subnet " + c.to_string() + " ";
            }
        }
        return failure<Outputs>(
            "options",
            fmt::format("--horizon-ip {0}: the IPv4 subnet {1} of network {2} is not pinned "
                        "(docker network inspect shows a Gateway for it, as for every range "
                        "Docker's IPAM picked itself; kind pins only its IPv6 range), so a fixed "
                        "address on it may be gone or taken when the network is recreated. Pin "
                        "it before `kind create cluster`, which reuses an existing network {2}: "
                        "docker network create {2} {3}--subnet {1} "
                        "-o com.docker.network.bridge.enable_ip_masquerade=true (without "
                        "--gateway); or run horizond on the host (no --horizon-ip)",
                        o.horizon_ip->to_string(), n.subnets[v4].to_string(), n.name, v6));
    }
    if (container_mode) {
        const auto& ip = *o.horizon_ip;
        const bool inside = std::any_of(n.subnets.begin(), n.subnets.end(),
                                        [&](const util::Cidr& c) { return c.contains(ip); });
        if (!inside || ip == gateway) {
            return failure<Outputs>(
                "options", fmt::format("--horizon-ip {} must be an address of network {} ({}) "
                                       "other than its gateway",
                                       ip.to_string(), n.name, n.subnets[v4].to_string()));
        }
        for (const auto& c : n.containers) {
            if ((c.ipv4 && *c.ipv4 == ip) || (c.ipv6 && *c.ipv6 == ip)) {
                return failure<Outputs>("options", fmt::format("--horizon-ip {} is already the "
                                                               "address of container {}",
                                                               ip.to_string(), c.name));
            }
        }
    }
    const util::IpAddress gate = container_mode ? *o.horizon_ip : gateway;

    // Where the gate sends allowed connections. On the host: where the kubeconfig reaches the API
    // server (a port kind publishes on 127.0.0.1), or a node's address when the kubeconfig names
    // a node (`kind get kubeconfig --internal`). In a container on the network: the API server's
    // address there (the load balancer of an HA cluster).
    std::string upstream;
    if (container_mode) {
        upstream = host_port(lb != nullptr ? *lb->ipv4 : *control_planes.front()->ipv4, kApiPort);
    } else {
        upstream = k.host + ":" + std::to_string(k.port);
        if (const auto a = util::IpAddress::parse(k.host)) {
            upstream = host_port(*a, k.port);
        }
        for (const auto& c : n.containers) {
            if (c.name == k.host && c.ipv4) {
                upstream = host_port(*c.ipv4, k.port);
            }
        }
    }

    const std::string endpoint =
        o.endpoint.empty() ? config::derive_endpoint(name, o.region) : o.endpoint;
    const util::IpAddress loopback = util::IpAddress::v4(127, 0, 0, 1);

    std::vector<std::string> vpc;
    std::vector<std::string> exclude;
    for (size_t i = 0; i < n.subnets.size(); ++i) {
        vpc.push_back(n.subnets[i].to_string());
        exclude.push_back(util::Cidr{n.gateways[i], n.gateways[i].bits()}.to_string());
    }
    if (!o.pod_subnet.empty()) {
        if (!util::Cidr::parse(o.pod_subnet)) {
            return failure<Outputs>("options",
                                    "--pod-subnet " + toml_string(o.pod_subnet) + " is not a CIDR");
        }
        vpc.push_back(o.pod_subnet);
    }
    std::vector<std::string> enis;
    std::string eni_names;
    for (const auto* c : control_planes) {
        enis.push_back(c->ipv4->to_string());
        eni_names += (eni_names.empty() ? "" : ", ") + c->ipv4->to_string() + " (" + c->name + ")";
    }
    const uint16_t port = stub_port(o);
    if (!container_mode && port == 53) {
        return failure<Outputs>(
            "options", fmt::format("--dns-port 53: kind's node entrypoint DNATs every packet a "
                                   "node or pod sends to {}:53 to Docker's embedded DNS "
                                   "(docs/kind-facts.md), so CoreDNS would never reach horizond "
                                   "there; leave --dns-port out (1053) or pick another port",
                                   gateway.to_string()));
    }
    // Where the nodes' own resolvers (kubelet, kube-proxy, containerd) reach horizond: port 53
    // (resolv.conf names no port) at an address kind does not rewrite. On the host that is its
    // IPv6 address on the network: kind pins the /64, and its DNAT (iptables) and Docker's
    // embedded DNS (127.0.0.11) are IPv4 only.
    std::optional<util::IpAddress> node_ns = o.horizon_ip;
    for (size_t i = 0; i < n.subnets.size() && !container_mode; ++i) {
        if (!n.subnets[i].addr.is_v4() && !node_ns) {
            node_ns = n.gateways[i];
        }
    }
    std::vector<std::string> listen = {host_port(gate, port)};
    if (node_ns && (!container_mode || port != 53)) {
        listen.push_back(host_port(*node_ns, 53));
    }
    listen.push_back(host_port(loopback, port));
    const std::string token =
        container_mode ? (o.admin_token.empty() ? random_token() : o.admin_token) : "";

    Outputs out;
    std::string& t = out.horizon_toml;
    t += fmt::format("# horizond for the kind cluster {} on docker network {} (written by "
                     "`horizonctl kind init`).\n",
                     toml_string(name), toml_string(n.name));
    t += "# The network plays the VPC (EKS-FACTS §6): nodes and pods are inside; the host reaches "
         "it\n# from the bridge gateway, carved out as outside. Serve it with:\n";
    t += container_mode ? "#   docker compose -f container/compose.yaml up -d\n"
                        : "#   horizond --config horizon.toml\n";
    t += "\n[server]\n";
    t += fmt::format("# {}: CoreDNS forwards the endpoint's zone here (pods).\n",
                     host_port(gate, port));
    if (node_ns) {
        t += fmt::format("# {}: first in the nodes' resolv.conf (node/{});\n# other names get "
                         "REFUSED, so their resolvers move on to Docker's DNS.\n",
                         host_port(*node_ns, 53), kNodeDnsScript);
    } else {
        t += fmt::format("# No node listener: network {} has no IPv6, so the nodes reach horizond "
                         "on no address\n# kind does not rewrite (docs/kind.md); pods still do.\n",
                         n.name);
    }
    t += fmt::format("# {}: dig on the {}.\n", host_port(loopback, port),
                     container_mode ? "container" : "host");
    t += "listen = " + toml_strings(listen) + "\n";
    if (container_mode) {
        t += "# Published on the host (compose.yaml); not loopback, so mutating calls need the "
             "token:\n#   export HORIZON_TOKEN=" +
             token + "\n";
        t += "admin_listen = " +
             toml_string(host_port(util::IpAddress::v4(0, 0, 0, 0), o.admin_port)) + "\n";
        t += "admin_token = " + toml_string(token) + "\n";
    } else {
        t += "admin_listen = " + toml_string(host_port(loopback, o.admin_port)) + "\n";
    }
    t += "\n[[cluster]]\n";
    t += "name = " + toml_string(name) + "\n";
    t += "region = " + toml_string(o.region) + "\n";
    t += "endpoint = " + toml_string(endpoint) + "\n";
    t += "# The kind network" + std::string(o.pod_subnet.empty() ? "" : " and the pod network") +
         ".\n";
    t += "vpc_cidrs = " + toml_strings(vpc) + "\n";
    t += "# The bridge gateway: the host's own traffic (dig, kubectl, published ports) comes "
         "from it.\n";
    t += "vpc_exclude_cidrs = " + toml_strings(exclude) + "\n";
    t += "# The EKS-owned ENIs: the control-plane nodes, whose API server listens on :" +
         std::to_string(kApiPort) + ".\n";
    t += "private_ips = " + toml_strings(enis) + "\n";
    t += "# The NLB: horizond's gate (below) on " +
         std::string(container_mode ? "its" : "the host's") + " address on the network.\n";
    t += "public_ips = " + toml_strings({gate.to_string()}) + "\n";
    t += "# EKS's default for a new cluster, where the seed lab starts: everyone gets the NLB.\n";
    t += "access_mode = \"public\"\n";
    t += "public_access_cidrs = [\"0.0.0.0/0\"]\n";
    t += "# EKS takes minutes to apply an endpoint update; \"6m\" makes the lab realistic.\n";
    t += "update_duration = \"0s\"\n";
    t +=
        "\n# The gate: admits connections to the public side as EKS's NLB does (public access on,\n"
        "# source in public_access_cidrs, else dropped: a client timeout) and proxies them to the\n"
        "# API server byte for byte (TLS passes through; the endpoint name is in its certSANs).\n"
        "# The private side is the API server itself on the nodes, so horizond reports that it\n"
        "# cannot listen on those addresses: expected.\n";
    t += "[cluster.api]\n";
    t += fmt::format("port = {}\n", kApiPort);
    t += "upstream = " + toml_string(upstream) + "\n";
    t += "deny = \"drop\"\n";

    out.kind_cluster = kind_cluster_config(name, endpoint, o.workers, o.node_dir);
    out.node_dns_script = node_dns_script(container_mode ? o.horizon_ip : std::nullopt);
    out.node_dns_dropin = node_dns_dropin();

    const std::string target = host_port(gate, port);
    auto corefile = patch_coredns(coredns_yaml.empty() ? kDefaultCorednsConfigMap : coredns_yaml,
                                  endpoint, target, gateway.to_string());
    if (!corefile.value) {
        return failure<Outputs>(corefile.where, corefile.error, corefile.line, corefile.col);
    }
    out.coredns_configmap = std::move(*corefile.value);

    const std::string server = fmt::format("https://{}:{}", endpoint, kApiPort);
    auto kubeconfig = rewrite_kubeconfig(kubeconfig_yaml, k.cluster, server);
    if (!kubeconfig.value) {
        return failure<Outputs>(kubeconfig.where, kubeconfig.error, kubeconfig.line,
                                kubeconfig.col);
    }
    out.kubeconfig = "# kind cluster " + name +
                     " through its EKS endpoint name (horizonctl kind "
                     "init); the host\n# must resolve the name through horizond (see README.md, "
                     "kind lab).\n" +
                     *kubeconfig.value;

    std::string& s = out.summary;
    s += fmt::format("kind cluster {} on docker network {}{}\n", name, n.name,
                     n.bridge.empty() ? "" : " (bridge " + n.bridge + ")");
    s += fmt::format("  endpoint       {}\n", endpoint);
    std::string vpc_text;
    for (const auto& v : vpc) {
        vpc_text += (vpc_text.empty() ? "" : ", ") + v;
    }
    s += fmt::format("  VPC            {} (minus the gateway {}: the host)\n", vpc_text,
                     gateway.to_string());
    s += fmt::format("  ENIs (private) {}: the API server on :{}\n", eni_names, kApiPort);
    s += fmt::format("  NLB (public)   {}: horizond's gate -> {}\n", host_port(gate, kApiPort),
                     upstream);
    s += fmt::format("  DNS (pods)     CoreDNS forwards the endpoint to horizond on {}\n", target);
    if (node_ns) {
        s += fmt::format("  DNS (nodes)    horizond on {} first in each node's resolv.conf "
                         "(node/{})\n",
                         host_port(*node_ns, 53), kNodeDnsScript);
    } else {
        s += fmt::format("  DNS (nodes)    none: network {} has no IPv6 address for horizond that "
                         "kind does not\n                 rewrite; nodes keep Docker's DNS "
                         "(enable IPv6 in Docker, or --horizon-ip on a pinned network)\n",
                         n.name);
    }
    s += fmt::format("  DNS (host)     horizond on {}\n", host_port(loopback, port));
    return {std::move(out), {}, {}, 0, 0};
}

} // namespace horizon::ctl::kind
