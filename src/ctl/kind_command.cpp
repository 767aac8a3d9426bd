// `horizonctl kind init`'s glue: options, reading the inputs, writing the files.
#include "ctl/kind_command.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "config/config.hpp"
#include "ctl/cli.hpp"
#include "ctl/failure.hpp"
#include "ctl/kind_init.hpp"
#include "util/file.hpp"

namespace horizon::ctl {

namespace {

constexpr std::string_view kKindUsage = R"(usage: horizonctl kind init [options]

Writes the files of a kind lab reproducing the EKS endpoint (docs/kind.md):
  horizon.toml           horizond's configuration: the kind network is the VPC (minus the bridge
                         gateway, the host), the control-plane nodes are the ENIs, a gate proxying
                         to the API server is the NLB, on port 6443 like the API server
  coredns-configmap.yaml CoreDNS's ConfigMap forwarding the endpoint's zone to horizond
  kind-cluster.yaml      kind's cluster configuration: the endpoint name in the certSANs,
                         node/ mounted into every node
  node/                  horizon-node-dns.sh and the kubelet drop-in that runs it: horizond
                         first in each node's resolv.conf (kubelet, kube-proxy, containerd)
  kubeconfig             the cluster's kubeconfig with server https://<endpoint>:6443

Before the cluster exists, without --network and --kubeconfig, it writes kind-cluster.yaml and
node/ only.

options:
  --name NAME            the kind and EKS cluster name (default: from the kubeconfig's
                         kind-NAME, else "kind")
  --region REGION        (default ap-northeast-2)
  --endpoint NAME        the endpoint name (default: derived from name and region, as horizond)
  --network FILE         `docker network inspect kind` output ("-" = standard input)
  --kubeconfig FILE      `kind get kubeconfig --name NAME` output ("-" = standard input)
  --coredns FILE         `kubectl -n kube-system get configmap coredns -o yaml` output
                         (default: the ConfigMap of a new kind cluster)
  --horizon-ip IP        horizond runs in a container on the kind network with this address
                         (container/compose.yaml); only on a network whose IPv4 range is pinned
                         (created before kind with --subnet: docs/container.md); default: on
                         the host, on the bridge gateway
  --dns-port N           where CoreDNS reaches horizond (default 1053 on the host: kind sends
                         <gateway>:53 to Docker's DNS; 53 with --horizon-ip)
  --admin-port N         (default 8053)
  --pod-subnet CIDR      also inside the VPC (default 10.244.0.0/16, kind's; "" = none)
  --workers N            worker nodes in kind-cluster.yaml (default 2)
  --out DIR              where to write (default .; created if missing)
)";

/// Inputs are `docker network inspect`, a kubeconfig and a ConfigMap: kilobytes, never this.
constexpr size_t kMaxInputBytes = 16U << 20U;

std::optional<std::string> read_input(const std::string& path, std::string& error) {
    std::ostringstream ss;
    if (path == "-") {
        ss << std::cin.rdbuf();
        return ss.str();
    }
    auto file = util::read_file(path, kMaxInputBytes);
    if (!file.ok()) {
        error = "cannot read " + path + ": " + file.reason();
        return std::nullopt;
    }
    return std::move(file.text);
}

} // namespace

int run_kind(const std::vector<std::string>& args) {
    const auto kind_usage = [](const std::string& message) {
        std::cerr << "\nusage: horizonctl kind init [options] (horizonctl kind --help)\n"
                  << "horizonctl: error: " << message << "\n";
        return kExitUsage;
    };
    if (std::any_of(args.begin(), args.end(),
                    [](const std::string& a) { return a == "--help" || a == "-h"; })) {
        std::cout << kKindUsage;
        return 0;
    }
    if (args.empty() || args[0] != "init") {
        return kind_usage(args.empty() ? "the following arguments are required: init"
                                       : "argument kind: Invalid choice '" + args[0] +
                                             "', valid choices are: init");
    }
    // argparse's rules, by hand as in cli.cpp (which says why not CLI11).
    static const std::set<std::string, std::less<>> kOptions{
        "--name",       "--region",   "--endpoint",   "--network",    "--kubeconfig", "--coredns",
        "--horizon-ip", "--dns-port", "--admin-port", "--pod-subnet", "--workers",    "--out"};
    std::map<std::string, std::string, std::less<>> opt;
    for (size_t i = 1; i < args.size(); ++i) {
        std::string name = args[i];
        std::string value;
        if (const size_t eq = name.find('='); name.starts_with("--") && eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        } else if (kOptions.contains(name)) {
            if (i + 1 >= args.size()) {
                return kind_usage("argument " + name + ": expected one argument");
            }
            value = args[++i];
        }
        if (!kOptions.contains(name)) {
            return kind_usage("Unknown options: " + args[i]);
        }
        opt[name] = value;
    }
    const auto get = [&](std::string_view name, std::string fallback = {}) {
        const auto it = opt.find(name);
        return it == opt.end() ? fallback : it->second;
    };
    kind::Options o;
    o.name = get("--name");
    o.region = get("--region", o.region);
    o.endpoint = get("--endpoint");
    o.pod_subnet = get("--pod-subnet", o.pod_subnet);
    if (opt.contains("--workers")) {
        const auto v = parse_seconds(get("--workers"));
        if (!v || *v != std::floor(*v) || *v > 100) {
            return kind_usage("argument --workers: invalid count '" + get("--workers") + "'");
        }
        o.workers = static_cast<unsigned>(*v);
    }
    for (const std::string_view name : {"--dns-port", "--admin-port"}) {
        if (opt.contains(name)) {
            const auto v = parse_seconds(get(name));
            if (!v || *v != std::floor(*v) || *v < 1 || *v > 65535) {
                return kind_usage("argument " + std::string(name) + ": invalid port '" + get(name) +
                                  "'");
            }
            if (name == "--dns-port") {
                o.dns_port = static_cast<uint16_t>(*v);
            } else {
                o.admin_port = static_cast<uint16_t>(*v);
            }
        }
    }
    if (opt.contains("--horizon-ip")) {
        o.horizon_ip = util::IpAddress::parse(get("--horizon-ip"));
        if (!o.horizon_ip || !o.horizon_ip->is_v4()) {
            return kind_usage("argument --horizon-ip: not an IPv4 address: '" +
                              get("--horizon-ip") + "'");
        }
    }
    const std::string network_path = get("--network");
    const std::string kubeconfig_path = get("--kubeconfig");
    if (network_path.empty() != kubeconfig_path.empty()) {
        return kind_usage("--network and --kubeconfig go together (or neither, before the "
                          "cluster exists)");
    }
    if (network_path == "-" && kubeconfig_path == "-") {
        return kind_usage("only one of --network and --kubeconfig can be standard input");
    }
    const std::filesystem::path out_dir = get("--out", ".");
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) {
        std::cerr << "horizonctl: cannot create " << out_dir.string() << ": " << ec.message()
                  << "\n";
        return kExitOther;
    }
    // Written atomically (0600), then opened up where horizond in a container must read it.
    const auto write = [&](const std::string& file, const std::string& text, bool secret) {
        const std::string path = (out_dir / file).string();
        std::string error;
        if (!util::write_file_atomically(path, text, error)) {
            std::cerr << "horizonctl: " << error << "\n";
            return false;
        }
        if (!secret) {
            std::filesystem::permissions(path, std::filesystem::perms(0644),
                                         std::filesystem::perm_options::replace, ec);
        }
        std::cout << "wrote " << path << "\n";
        return true;
    };

    // node/: mounted into every node by kind-cluster.yaml, as a directory, so that files
    // replaced here (atomically, a rename) reach nodes that already run.
    const std::filesystem::path node_dir = std::filesystem::absolute(out_dir / "node", ec);
    if (!ec) {
        std::filesystem::create_directories(node_dir, ec);
    }
    if (ec) {
        std::cerr << "horizonctl: cannot create " << (out_dir / "node").string() << ": "
                  << ec.message() << "\n";
        return kExitOther;
    }
    o.node_dir = node_dir.lexically_normal().string();
    const auto write_node_files = [&](const std::string& script) {
        return write(std::string("node/") + std::string(kind::kNodeDnsScript), script, false) &&
               write(std::string("node/") + std::string(kind::kNodeDnsDropin),
                     kind::node_dns_dropin(), false);
    };

    if (network_path.empty()) {
        const std::string name = o.name.empty() ? "kind" : o.name;
        const std::string endpoint =
            o.endpoint.empty() ? config::derive_endpoint(name, o.region) : o.endpoint;
        if (!write("kind-cluster.yaml",
                   kind::kind_cluster_config(name, endpoint, o.workers, o.node_dir), false) ||
            !write_node_files(kind::node_dns_script(o.horizon_ip))) {
            return kExitOther;
        }
        const std::string dir = out_dir.string();
        std::cout << "next:\n  kind create cluster --config " << dir << "/kind-cluster.yaml\n"
                  << "  docker network inspect kind > " << dir << "/network.json\n"
                  << "  kind get kubeconfig --name " << name << " > " << dir
                  << "/kind-kubeconfig.yaml\n"
                  << "  horizonctl kind init --name " << name << " --network " << dir
                  << "/network.json --kubeconfig " << dir << "/kind-kubeconfig.yaml --out " << dir
                  << "\n";
        return 0;
    }
    std::map<std::string, std::string, std::less<>> paths{
        {"network", network_path}, {"kubeconfig", kubeconfig_path}, {"coredns", get("--coredns")}};
    std::map<std::string, std::string, std::less<>> texts;
    for (const auto& [what, path] : paths) {
        if (path.empty()) {
            continue;
        }
        std::string error;
        auto text = read_input(path, error);
        if (!text) {
            std::cerr << "horizonctl: " << error << "\n";
            return kExitOther;
        }
        texts[what] = std::move(*text);
    }
    const auto result = kind::generate(o, texts["network"], texts["kubeconfig"], texts["coredns"]);
    if (!result.value) {
        const auto it = paths.find(result.where);
        std::string at =
            it != paths.end() ? (it->second == "-" ? "<stdin>" : it->second) : "horizonctl";
        if (result.line != 0) {
            at += ":" + std::to_string(result.line) + ":" + std::to_string(result.col);
        }
        std::cerr << at << ": error: " << result.error << "\n";
        return kExitUsage;
    }
    const kind::Outputs& out = *result.value;
    std::cout << out.summary;
    if (!write("horizon.toml", out.horizon_toml, false) ||
        !write("coredns-configmap.yaml", out.coredns_configmap, false) ||
        !write("kind-cluster.yaml", out.kind_cluster, false) ||
        !write("kubeconfig", out.kubeconfig, true) || !write_node_files(out.node_dns_script)) {
        return kExitOther;
    }
    return 0;
}

} // namespace horizon::ctl
