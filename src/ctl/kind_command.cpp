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
#include <variant>

#include "config/config.hpp"
#include "ctl/cli.hpp"
#include "ctl/failure.hpp"
#include "ctl/http_client.hpp"
#include "ctl/kind_doctor.hpp"
#include "ctl/kind_init.hpp"
#include "util/file.hpp"
#include "util/process.hpp"

namespace horizon::ctl {

namespace {

constexpr std::string_view kKindUsage = R"(usage: horizonctl kind init [options]
       horizonctl kind doctor [options]   (horizonctl kind doctor --help)

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

using Options = std::set<std::string, std::less<>>;
using Values = std::map<std::string, std::string, std::less<>>;

/// argparse's rules, by hand as in cli.cpp (which says why not CLI11), for args[1..]: `--x V`,
/// `--x=V`, and `flags` without a value. "" or what is wrong.
std::string parse_options(const std::vector<std::string>& args, const Options& options,
                          const Options& flags, Values& opt) {
    for (size_t i = 1; i < args.size(); ++i) {
        std::string name = args[i];
        std::string value;
        if (const size_t eq = name.find('='); name.starts_with("--") && eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        } else if (options.contains(name)) {
            if (i + 1 >= args.size()) {
                return "argument " + name + ": expected one argument";
            }
            value = args[++i];
        }
        if (!options.contains(name) && !flags.contains(name)) {
            return "Unknown options: " + args[i];
        }
        opt[name] = value;
    }
    return {};
}

constexpr std::string_view kDoctorUsage = R"(usage: horizonctl kind doctor [options]

Shows which answer each path of a kind lab gets for the endpoint name, what horizond says that
path's source should get (its admin API's explain), why they differ, and the fix:
  host   this machine's resolver (dig)
  node   every node of the cluster (docker exec NODE: its resolv.conf, getent ahostsv4)
  pod    a pod through CoreDNS, and horizond asked directly from it (kubectl run, or --pod);
         plus what CoreDNS's ConfigMap does with the endpoint's zone
Exit status: 0 when every path gets horizond's answer, 1 when one does not, 252 for usage
errors, 255 when it cannot look (no horizon.toml, docker missing, no such network).

options:
  --lab DIR              the directory kind init wrote (default .): horizon.toml is read
  --name NAME            the cluster in horizon.toml (default: its only one)
  --network NAME         the docker network (default kind)
  --context CONTEXT      kubectl's context (default kind-NAME)
  --pod NAMESPACE/NAME   run the pod's lookups in this running pod (it needs sh, dig, hostname)
  --pod-image IMAGE      else in a throwaway pod of this image (default nicolaka/netshoot)
  --no-pod               skip the pod path
  --endpoint-url URL     horizond's admin API (default: admin_listen of horizon.toml)
)";

/// `horizonctl kind doctor`.
int run_doctor(const std::vector<std::string>& args) {
    const auto usage = [](const std::string& message) {
        std::cerr << "\nusage: horizonctl kind doctor [options] (horizonctl kind doctor --help)\n"
                  << "horizonctl: error: " << message << "\n";
        return kExitUsage;
    };
    Values opt;
    if (const std::string error = parse_options(
            args,
            {"--lab", "--name", "--network", "--context", "--pod", "--pod-image", "--endpoint-url"},
            {"--no-pod"}, opt);
        !error.empty()) {
        return usage(error);
    }
    const auto get = [&](std::string_view name, std::string fallback = {}) {
        const auto it = opt.find(name);
        return it == opt.end() ? fallback : it->second;
    };
    kind::DoctorOptions o;
    o.lab = get("--lab", ".");
    o.network = get("--network", o.network);
    o.context = get("--context");
    o.pod = get("--pod");
    o.pod_image = get("--pod-image", o.pod_image);
    o.skip_pod = opt.contains("--no-pod");

    const std::string toml_path = (std::filesystem::path(o.lab) / "horizon.toml").string();
    auto file = util::read_file(toml_path, kMaxInputBytes);
    if (!file.ok()) {
        std::cerr << "horizonctl: cannot read " << toml_path << ": " << file.reason()
                  << " (the directory `horizonctl kind init --out` wrote; --lab DIR)\n";
        return kExitOther;
    }
    auto loaded = config::load(file.text, toml_path);
    if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&loaded)) {
        for (const auto& d : *errors) {
            std::cerr << d.to_string() << "\n";
        }
        return kExitOther;
    }
    const config::Config& cfg = std::get<config::Config>(loaded);
    const config::ClusterConfig* cluster = nullptr;
    std::string names;
    for (const auto& c : cfg.clusters) {
        names += (names.empty() ? "" : ", ") + c.name;
        if (c.name == get("--name", cfg.clusters.size() == 1 ? c.name : std::string())) {
            cluster = &c;
        }
    }
    if (cluster == nullptr) {
        return usage(opt.contains("--name")
                         ? "no cluster '" + get("--name") + "' in " + toml_path +
                               " (clusters: " + names + ")"
                         : toml_path + " has several clusters (" + names + "): pass --name");
    }
    kind::LabFacts lab;
    lab.cluster = cluster->name;
    lab.endpoint = cluster->endpoint;
    for (const auto& a : cluster->private_ips) {
        lab.private_ips.push_back(a.to_string());
    }
    for (const auto& a : cluster->public_ips) {
        lab.public_ips.push_back(a.to_string());
    }
    lab.loopback_dns = "127.0.0.1:53";
    for (const auto& l : cfg.server.listen) {
        lab.listen.push_back(l.endpoint.to_string());
        if (l.endpoint.addr == util::IpAddress::v4(127, 0, 0, 1) && !l.vpc) {
            lab.loopback_dns = l.endpoint.to_string();
        }
    }

    std::string url_text = get("--endpoint-url");
    if (url_text.empty() && cfg.server.admin_listen) {
        util::Endpoint admin = *cfg.server.admin_listen;
        if (admin.addr == util::IpAddress::v4(0, 0, 0, 0)) {
            admin.addr = util::IpAddress::v4(127, 0, 0, 1);
        }
        url_text = "http://" + admin.to_string();
    }
    std::string why;
    const auto url = parse_url(url_text, why);
    if (!url) {
        return usage("argument --endpoint-url: " + why);
    }
    HttpOptions http;
    http.token = cfg.server.admin_token;
    http.connect_timeout = 5;
    http.read_timeout = 10;
    HttpClient client(*url, http);
    const std::string cluster_name = cluster->name;
    const kind::Explainer explain = [&](const std::string& source,
                                        std::string& error) -> std::optional<kind::Expected> {
        auto r = client.call("GET", "/clusters/" + percent_encode(cluster_name) +
                                        "/explain?source=" + percent_encode(source));
        if (auto* f = std::get_if<Failure>(&r)) {
            error = "horizond's admin API " + url->shown + " does not answer (" + f->message +
                    "): start horizond --config " + toml_path;
            return std::nullopt;
        }
        const Reply& reply = std::get<Reply>(r);
        if (!reply.error.empty()) {
            error = "horizond's admin API: " + reply.error + ": " + reply.message;
            return std::nullopt;
        }
        kind::Expected e;
        try {
            const Json& x = reply.body.at("explain");
            for (const auto& a : x.at("addresses")) {
                e.addresses.push_back(a.get<std::string>());
            }
            e.set = x.at("answerSet").get<std::string>();
            for (const auto& line : x.at("reason")) {
                e.reason.push_back(line.get<std::string>());
            }
        } catch (const Json::exception& ex) {
            error = std::string("horizond's explain answer is not what this horizonctl reads: ") +
                    ex.what();
            return std::nullopt;
        }
        return e;
    };
    const kind::Runner runner = [](const std::vector<std::string>& argv) {
        kind::CommandResult r;
        r.status = util::run_command(argv, r.output);
        return r;
    };
    const kind::DoctorReport report = kind::doctor(lab, o, runner, explain);
    std::cout << report.text;
    if (report.broken) {
        return kExitOther;
    }
    return report.failed == 0 ? 0 : 1;
}

} // namespace

int run_kind(const std::vector<std::string>& args) {
    if (!args.empty() && args[0] == "doctor") {
        if (std::any_of(args.begin(), args.end(),
                        [](const std::string& a) { return a == "--help" || a == "-h"; })) {
            std::cout << kDoctorUsage;
            return 0;
        }
        return run_doctor(args);
    }
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
                                             "', valid choices are: init, doctor");
    }
    // argparse's rules, by hand as in cli.cpp (which says why not CLI11).
    static const std::set<std::string, std::less<>> kOptions{
        "--name",       "--region",   "--endpoint",   "--network",    "--kubeconfig", "--coredns",
        "--horizon-ip", "--dns-port", "--admin-port", "--pod-subnet", "--workers",    "--out"};
    std::map<std::string, std::string, std::less<>> opt;
    if (const std::string error = parse_options(args, kOptions, {}, opt); !error.empty()) {
        return kind_usage(error);
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
