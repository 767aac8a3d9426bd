// `horizonctl kind doctor` (kind_doctor.hpp): each path's answer, horizond's verdict, the why.
#include "ctl/kind_doctor.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <map>
#include <set>
#include <sstream>
#include <yaml-cpp/yaml.h>

#include "ctl/kind_init.hpp"
#include "ctl/kind_support.hpp"
#include "util/address.hpp"

namespace horizon::ctl::kind {

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() &&
               (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.pop_back();
        }
        out.push_back(line);
    }
    return out;
}

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    return s;
}

std::string first_word(std::string_view s) {
    s = trimmed(s);
    return std::string(s.substr(0, std::min(s.find_first_of(" \t\r\n"), s.size())));
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

/// What one lookup gave: the addresses (sorted, unique), or why there are none.
struct Lookup {
    std::vector<std::string> addresses;
    bool failed = false; ///< no answer at all (timeout, unreachable, the command failed)
    std::string note;    ///< the resolver's or the command's own words, when it failed
};

Lookup sorted_unique(Lookup l) {
    std::sort(l.addresses.begin(), l.addresses.end());
    l.addresses.erase(std::unique(l.addresses.begin(), l.addresses.end()), l.addresses.end());
    return l;
}

/// `dig +short` output: address lines; ";;" lines are dig's errors ("connection timed out").
Lookup from_dig(const std::string& text, int status) {
    Lookup l;
    for (const std::string& line : lines_of(text)) {
        const std::string w = first_word(line);
        if (util::IpAddress::parse(w)) {
            l.addresses.push_back(util::IpAddress::parse(w)->to_string());
        } else if (std::string_view(line).starts_with(";;") && l.note.empty()) {
            l.note = std::string(trimmed(std::string_view(line).substr(2)));
        }
    }
    l.failed = l.addresses.empty() && (status != 0 || !l.note.empty());
    if (l.failed && l.note.empty()) {
        l.note = fmt::format("dig exited {}", status);
    }
    return sorted_unique(l);
}

/// `getent ahostsv4 NAME` output ("172.18.0.2  STREAM name" ...); exit 2 = not found.
Lookup from_getent(const std::string& text, int status) {
    Lookup l;
    if (status == 0) {
        for (const std::string& line : lines_of(text)) {
            if (const auto a = util::IpAddress::parse(first_word(line))) {
                l.addresses.push_back(a->to_string());
            }
        }
    } else if (status != 2) {
        l.failed = true;
        l.note = fmt::format("getent exited {}: {}", status, text.substr(0, 200));
    }
    return sorted_unique(l);
}

/// The nameserver lines of a resolv.conf, in order.
std::vector<std::string> nameservers(const std::string& resolv_conf) {
    std::vector<std::string> out;
    for (const std::string& line : lines_of(resolv_conf)) {
        const std::string_view t = trimmed(line);
        if (t.starts_with("nameserver")) {
            const std::string ns = first_word(t.substr(10));
            if (const auto a = util::IpAddress::parse(ns)) {
                out.push_back(a->to_string());
            }
        }
    }
    return out;
}

/// "host:port" of a Corefile forward target ("172.18.0.1:1053", "172.18.0.1", "dns://...").
std::optional<util::Endpoint> forward_target(std::string t) {
    if (t.starts_with("dns://")) {
        t = t.substr(6);
    }
    if (const auto a = util::IpAddress::parse(t)) {
        return util::Endpoint{*a, 53};
    }
    return util::Endpoint::parse(t);
}

/// What CoreDNS's Corefile does with the endpoint's zone and with the other names.
struct CorefileFacts {
    bool read = false;        ///< the ConfigMap was read and parsed
    std::string error;        ///< why not
    bool stub = false;        ///< a server block for the endpoint's zone
    std::string target;       ///< its forward target as written
    bool resolv_conf = false; ///< some `forward . /etc/resolv.conf` left
};

CorefileFacts corefile_facts(const CommandResult& r, const std::string& zone) {
    CorefileFacts f;
    if (r.status != 0) {
        f.error = fmt::format("exit {}: {}", r.status, r.output.substr(0, 300));
        return f;
    }
    std::string corefile;
    try {
        const YAML::Node root = YAML::Load(r.output);
        corefile = scalar(root["data"], "Corefile");
    } catch (const YAML::Exception& e) {
        f.error = "not YAML: " + e.msg;
        return f;
    }
    if (corefile.empty()) {
        f.error = "no data.Corefile";
        return f;
    }
    f.read = true;
    const std::string z = lower(zone);
    int depth = 0;
    bool in_zone = false;
    for (const std::string& line : lines_of(corefile)) {
        const std::string t = lower(std::string(trimmed(line)));
        if (depth == 0 && t.find('{') != std::string::npos) {
            in_zone = false;
            for (const std::string& head : {z + ":", z + ".:", z + " ", z + "{", z + ". "}) {
                in_zone = in_zone || t.starts_with(head);
            }
            f.stub = f.stub || in_zone;
        }
        if (t.starts_with("forward . ")) {
            const std::string to = first_word(std::string_view(t).substr(10));
            if (in_zone && f.target.empty()) {
                f.target = to;
            } else if (!in_zone && to == "/etc/resolv.conf") {
                f.resolv_conf = true;
            }
        }
        depth += static_cast<int>(std::count(t.begin(), t.end(), '{'));
        depth -= static_cast<int>(std::count(t.begin(), t.end(), '}'));
    }
    return f;
}

struct Report {
    std::string text;
    unsigned paths = 0;
    unsigned failed = 0;

    void line(std::string_view label, const std::string& what) {
        text += fmt::format("  {:<10}{}\n", label, what);
    }
};

class Doctor {
public:
    Doctor(const LabFacts& lab, const DoctorOptions& o, const Runner& run, const Explainer& explain)
        : lab_(lab)
        , o_(o)
        , run_(run)
        , explain_(explain) {}

    DoctorReport go();

private:
    std::string described(const std::vector<std::string>& addresses) const;
    /// Prints what horizond says `source` gets; none when it cannot say.
    std::optional<Expected> expected(const std::string& source);
    /// The verdict on one path: ok, or FAIL with why and the fix.
    /// `path_ok`: the lookup went the lab's way (through horizond); a right answer the wrong way
    /// fails too, as it will not follow the next mode change.
    void verdict(const Lookup& got, const std::optional<Expected>& want, const std::string& why,
                 const std::string& fix, bool path_ok = true);
    void host();
    void node(const Network::Container& c);
    void pod();

    [[nodiscard]] std::string context() const {
        return o_.context.empty() ? "kind-" + lab_.cluster : o_.context;
    }

    [[nodiscard]] std::string gw4() const { return gw4_ ? gw4_->to_string() : "<gateway>"; }

    /// The port of horizond's listener on the gateway (CoreDNS's, reachable from the host over
    /// the bridge), else of its loopback one.
    [[nodiscard]] std::string gateway_port() const {
        std::string port = lab_.loopback_dns.substr(lab_.loopback_dns.rfind(':') + 1);
        for (const auto& l : lab_.listen) {
            const auto e = util::Endpoint::parse(l);
            if (e && gw4_ && e->addr == *gw4_) {
                port = std::to_string(e->port);
            }
        }
        return port;
    }

    const LabFacts& lab_;
    const DoctorOptions& o_;
    const Runner& run_;
    const Explainer& explain_;
    Report r_;
    Network net_;
    std::optional<util::IpAddress> gw4_;
    std::optional<util::IpAddress> gw6_;
    /// Where the nodes should find horizond: the gate's address in container mode, else gw6_.
    std::optional<util::IpAddress> node_ns_;
};

std::string Doctor::described(const std::vector<std::string>& addresses) const {
    if (addresses.empty()) {
        return "no address";
    }
    std::string list;
    for (const auto& a : addresses) {
        list += (list.empty() ? "" : ", ") + a;
    }
    const auto within = [&](const std::vector<std::string>& set) {
        return std::all_of(addresses.begin(), addresses.end(), [&](const std::string& a) {
            return std::find(set.begin(), set.end(), a) != set.end();
        });
    };
    if (within(lab_.private_ips)) {
        return list + " (the ENIs)";
    }
    if (within(lab_.public_ips)) {
        return list + " (the NLB)";
    }
    return list + " (neither the ENIs nor the NLB: not horizond's answer)";
}

std::optional<Expected> Doctor::expected(const std::string& source) {
    std::string error;
    auto e = explain_(source, error);
    if (!e) {
        r_.line("expected", "unknown: " + error);
        return std::nullopt;
    }
    std::sort(e->addresses.begin(), e->addresses.end());
    std::string why;
    for (const auto& line : e->reason) {
        if (line.starts_with("in-vpc") || line.starts_with("mode")) {
            why += (why.empty() ? "" : "; ") + line;
        }
    }
    r_.line("expected",
            fmt::format("{}, horizond's answer for source {}{}", described(e->addresses), source,
                        why.empty() ? "" : " (" + why + ")"));
    return e;
}

void Doctor::verdict(const Lookup& got, const std::optional<Expected>& want, const std::string& why,
                     const std::string& fix, bool path_ok) {
    ++r_.paths;
    const bool right = want && !got.failed && got.addresses == want->addresses;
    if (right && path_ok) {
        r_.text += "  ok\n";
        return;
    }
    ++r_.failed;
    r_.line("FAIL", right ? "the answer is right only because both views get it now: " + why : why);
    if (!fix.empty()) {
        r_.line("fix", fix);
    }
}

void Doctor::host() {
    r_.text += "host (this machine's resolver)\n";
    const CommandResult res = run_({"dig", "+short", "+time=2", "+tries=1", lab_.endpoint});
    if (res.status == 127) {
        ++r_.paths;
        ++r_.failed;
        r_.line("FAIL", "dig is not installed (apt-get install bind9-dnsutils)");
        return;
    }
    const Lookup got = from_dig(res.output, res.status);
    r_.line("got", got.failed ? "no answer: " + got.note : described(got.addresses));
    // The host reaches the network from the bridge gateway (outside, vpc_exclude_cidrs).
    const auto want = expected(gw4_ ? gw4_->to_string() : "127.0.0.1");
    std::string why;
    std::string fix = fmt::format(
        "send the endpoint's domain to horizond: sudo resolvectl dns {0} {1}:{2}; sudo "
        "resolvectl domain {0} '~eks.amazonaws.com' (systemd-resolved 246+), or an /etc/hosts "
        "line for the NLB; dig @127.0.0.1 -p {2} asks horizond directly",
        net_.bridge.empty() ? "<bridge>" : net_.bridge, gw4(), gateway_port());
    if (got.failed) {
        why = "the host's resolver did not answer (" + got.note + ")";
    } else if (got.addresses.empty()) {
        why = "the host's resolver does not know the name: it does not ask horizond for the "
              "endpoint's domain";
    } else if (want && described(got.addresses).ends_with("not horizond's answer)")) {
        why = "another resolver answered (the public DNS?), not horizond";
    } else if (want) {
        why = "horizond's answer for a different source: the host's resolver asks horizond from "
              "an address that is not the host's view (a resolver listener, or an ECS forwarder)";
        fix = "ask from the host itself (resolvectl dns <bridge> " + gw4() + ":<port>)";
    }
    verdict(got, want, why, fix);
}

void Doctor::node(const Network::Container& c) {
    r_.text += fmt::format("node {} ({}{})\n", c.name, c.ipv4 ? c.ipv4->to_string() : "no IPv4",
                           c.ipv6 ? ", " + c.ipv6->to_string() : "");
    const CommandResult conf = run_({"docker", "exec", c.name, "cat", "/etc/resolv.conf"});
    if (conf.status != 0) {
        ++r_.paths;
        ++r_.failed;
        r_.line("FAIL", fmt::format("docker exec {} cat /etc/resolv.conf: exit {}: {}", c.name,
                                    conf.status, conf.output.substr(0, 200)));
        return;
    }
    const std::vector<std::string> ns = nameservers(conf.output);
    const std::string first = ns.empty() ? "" : ns.front();
    const bool via_horizond = node_ns_ && first == node_ns_->to_string();
    const bool via_docker = gw4_ && first == gw4_->to_string();
    std::string chain;
    for (const auto& n : ns) {
        std::string who = "?";
        if (node_ns_ && n == node_ns_->to_string()) {
            who = "horizond";
        } else if (gw4_ && n == gw4_->to_string()) {
            who = "Docker's DNS via kind's DNAT of the gateway's :53";
        }
        chain += (chain.empty() ? "" : ", then ") + n + " (" + who + ")";
    }
    r_.line("resolver", chain.empty() ? "no nameserver in /etc/resolv.conf" : chain);

    const CommandResult res = run_({"docker", "exec", c.name, "getent", "ahostsv4", lab_.endpoint});
    const Lookup got = from_getent(res.output, res.status);
    r_.line("got", got.failed ? "no answer: " + got.note : described(got.addresses));
    // horizond sees the node's address of the nameserver's family.
    std::optional<util::IpAddress> source = c.ipv4;
    if (via_horizond && node_ns_ && !node_ns_->is_v4() && c.ipv6) {
        source = c.ipv6;
    }
    const auto want = expected(source ? source->to_string() : "");

    const std::string script = std::string(kNodeDir) + "/" + std::string(kNodeDnsScript);
    std::string why;
    std::string fix;
    if (!via_horizond) {
        if (via_docker) {
            why = fmt::format("the node asks {0}:53 first, as kind's entrypoint wrote; kind DNATs "
                              "that to Docker's embedded DNS, which forwards to the host's "
                              "resolvers, so horizond sees the host (outside) if anything",
                              first);
        } else {
            why = fmt::format("the node's first nameserver {} is not horizond{}",
                              first.empty() ? "(none)" : first,
                              node_ns_ ? " (" + node_ns_->to_string() + ")" : "");
        }
        if (!got.failed && !got.addresses.empty() && want && want->set == "private" &&
            described(got.addresses).ends_with("(the NLB)")) {
            why += ": the NLB instead of the ENIs";
        }
        if (!node_ns_) {
            fix = fmt::format("network {} has no IPv6, so horizond on the host has no address "
                              "kind does not rewrite: enable IPv6 in Docker and recreate the "
                              "cluster, or run horizond in a container on a pinned network "
                              "(kind init --horizon-ip, docs/container.md)",
                              net_.name);
        } else {
            const CommandResult has = run_({"docker", "exec", c.name, "test", "-f", script});
            fix = has.status == 0
                      ? fmt::format("the kubelet drop-in has not run since the node started "
                                    "(or found no IPv6 route: journalctl -u kubelet): docker exec "
                                    "{0} systemctl restart kubelet, then kubectl -n kube-system "
                                    "rollout restart daemonset kube-proxy",
                                    c.name)
                      : fmt::format("the cluster was not created with {0}/kind-cluster.yaml (no "
                                    "{1} in the node): kind delete cluster --name {2}; kind create "
                                    "cluster --config {0}/kind-cluster.yaml; or, until the node "
                                    "restarts: docker cp {0}/node/{3} {4}:/tmp/ && docker exec {4} "
                                    "sh /tmp/{3}",
                                    o_.lab, script, lab_.cluster, kNodeDnsScript, c.name);
        }
    } else if (got.failed || got.addresses.empty()) {
        why = fmt::format("horizond did not answer at {}:53 (the resolver then asks Docker's DNS, "
                          "which does not know the name)",
                          node_ns_->is_v4() ? node_ns_->to_string()
                                            : "[" + node_ns_->to_string() + "]");
        fix = fmt::format("is horizond running as root and listening there (its log at start)? "
                          "does the host's firewall accept UDP and TCP port 53 from {} on {}?",
                          net_.name, net_.bridge.empty() ? "the bridge" : net_.bridge);
    } else {
        why = "horizond answered the node as another source would: check the explain above and "
              "vpc_cidrs in " +
              o_.lab + "/horizon.toml";
    }
    verdict(got, want, why, fix, via_horizond);
}

void Doctor::pod() {
    r_.text += "pod (CoreDNS)\n";
    const CorefileFacts cf =
        corefile_facts(run_({"kubectl", "--context", context(), "-n", "kube-system", "get",
                             "configmap", "coredns", "-o", "yaml"}),
                       lab_.endpoint);
    const std::string apply =
        fmt::format("kubectl --context {0} apply -f {1}/coredns-configmap.yaml && kubectl "
                    "--context {0} -n kube-system rollout restart deployment coredns",
                    context(), o_.lab);
    std::optional<util::Endpoint> target;
    if (!cf.read) {
        r_.line("stub zone", "unknown: kubectl get configmap coredns: " + cf.error);
    } else if (!cf.stub) {
        r_.line("stub zone", "none: CoreDNS sends the name where it sends every other name");
    } else {
        target = forward_target(cf.target);
        r_.line("stub zone", "forwards the endpoint's zone to " + cf.target);
    }
    if (cf.read && cf.resolv_conf) {
        r_.line("warning", "CoreDNS forwards other names to /etc/resolv.conf, which names "
                           "horizond first on the nodes; horizond refuses them and CoreDNS does "
                           "not move on: " +
                               apply);
    }

    // One pod, four sections: its address, the lookup through CoreDNS, the lookup at horizond.
    const std::string direct =
        target ? fmt::format("dig +short +time=2 +tries=1 -p {} @{} {}", target->port,
                             target->addr.to_string(), lab_.endpoint)
               : std::string("true");
    const std::string script = fmt::format(
        "echo '@@ ip'; hostname -i; echo '@@ coredns'; dig +short +time=2 +tries=1 {0}; "
        "echo '@@ horizond'; {1}; echo '@@ end'",
        lab_.endpoint, direct);
    std::vector<std::string> argv = {"kubectl", "--context", context()};
    if (o_.pod.empty()) {
        argv.insert(argv.end(),
                    {"run", "horizon-doctor", "--image=" + o_.pod_image, "--restart=Never", "--rm",
                     "-i", "--quiet", "--pod-running-timeout=2m", "--command", "--", "sh", "-c",
                     script});
    } else {
        const size_t slash = o_.pod.find('/');
        argv.insert(argv.end(),
                    {"exec", "-n", slash == std::string::npos ? "default" : o_.pod.substr(0, slash),
                     o_.pod.substr(slash == std::string::npos ? 0 : slash + 1), "--", "sh", "-c",
                     script});
    }
    const CommandResult res = run_(argv);
    std::map<std::string, std::string> section;
    std::string current;
    for (const std::string& line : lines_of(res.output)) {
        if (line.starts_with("@@ ")) {
            current = line.substr(3);
            section[current];
        } else if (!current.empty()) {
            section[current] += line + "\n";
        }
    }
    if (!section.contains("coredns") || res.output.find("@@ end") == std::string::npos) {
        ++r_.paths;
        ++r_.failed;
        r_.line("FAIL", fmt::format("the pod's lookups did not run (kubectl exit {}): {}",
                                    res.status, res.output.substr(0, 300)));
        r_.line("fix", o_.pod.empty() ? "the pod needs the image " + o_.pod_image +
                                            " (sh, dig, hostname): --pod-image, or --pod "
                                            "NAMESPACE/NAME of a running pod that has them"
                                      : "the pod " + o_.pod + " needs sh, dig and hostname");
        return;
    }
    const Lookup got = from_dig(section["coredns"], 0);
    r_.line("got", got.failed ? "no answer: " + got.note : described(got.addresses));
    const Lookup at = from_dig(section["horizond"], 0);
    if (target) {
        r_.line("horizond", "asked directly at " + cf.target + ": " +
                                (at.failed ? "no answer: " + at.note : described(at.addresses)));
    }
    std::string source = first_word(section["ip"]);
    if (!util::IpAddress::parse(source)) {
        source = net_.containers.empty() || !net_.containers.front().ipv4
                     ? ""
                     : net_.containers.front().ipv4->to_string();
    }
    const auto want = expected(source);

    std::string why;
    std::string fix;
    if (!cf.read) {
        why = "CoreDNS's ConfigMap could not be read";
        fix = "kubectl --context " + context() + " works? (kind export kubeconfig --name " +
              lab_.cluster + ")";
    } else if (!cf.stub) {
        why = "CoreDNS has no stub zone for the endpoint: the name goes to Docker's DNS and the "
              "host's resolvers";
        fix = apply;
    } else if (target && gw4_ && target->addr == *gw4_ && target->port == 53) {
        why = fmt::format("the stub zone forwards to {}:53, which kind's node entrypoint DNATs "
                          "(PREROUTING, so pods too) to Docker's embedded DNS: horizond never "
                          "sees the query",
                          gw4());
        fix = "horizonctl kind init again (CoreDNS then forwards to " + gw4() + ":1053), then " +
              apply;
    } else if (at.failed || at.addresses.empty()) {
        why = "horizond does not answer at " + cf.target + " from the pod";
        fix = "is horizond listening on " + cf.target +
              " (listen in horizon.toml, its log at start), and does the host's firewall accept "
              "it from the pod network?";
    } else if (want && at.addresses == want->addresses) {
        why = "horizond answers right but the lookup through CoreDNS does not: CoreDNS has not "
              "loaded the ConfigMap yet (or serves its 30 s cache)";
        fix =
            "kubectl --context " + context() + " -n kube-system rollout restart deployment coredns";
    } else {
        why = "horizond answers this pod as another source would: check the explain above and "
              "the pod network in vpc_cidrs (" +
              o_.lab + "/horizon.toml)";
    }
    const bool hijacked = target && gw4_ && target->addr == *gw4_ && target->port == 53;
    verdict(got, want, why, fix, cf.read && cf.stub && !hijacked);
}

DoctorReport Doctor::go() {
    r_.text += fmt::format("kind doctor: cluster {}, endpoint {}\n", lab_.cluster, lab_.endpoint);
    const CommandResult inspect = run_({"docker", "network", "inspect", o_.network});
    if (inspect.status != 0) {
        r_.text += fmt::format("cannot look: docker network inspect {} exited {}: {}\n", o_.network,
                               inspect.status,
                               inspect.status == 127 ? "docker is not installed or not in PATH"
                                                     : inspect.output.substr(0, 300));
        return {r_.text, 0, 0, true};
    }
    auto parsed = parse_network(inspect.output);
    if (!parsed.value) {
        r_.text += "cannot look: docker network inspect " + o_.network + ": " + parsed.error + "\n";
        return {r_.text, 0, 0, true};
    }
    net_ = std::move(*parsed.value);
    for (size_t i = 0; i < net_.subnets.size(); ++i) {
        auto& gw = net_.subnets[i].addr.is_v4() ? gw4_ : gw6_;
        if (!gw) {
            gw = net_.gateways[i];
        }
    }
    // Container mode: the gate (public_ips) is horizond's container, not the gateway.
    const std::string gate = lab_.public_ips.empty() ? "" : lab_.public_ips.front();
    node_ns_ = gw4_ && gate != gw4_->to_string() ? util::IpAddress::parse(gate) : gw6_;
    r_.text += fmt::format("network {} (bridge {}): gateway {}{}; the nodes' horizond: {}\n\n",
                           net_.name, net_.bridge.empty() ? "?" : net_.bridge, gw4(),
                           gw6_ ? ", " + gw6_->to_string() : "",
                           node_ns_ ? util::Endpoint{*node_ns_, 53}.to_string() : "none (no IPv6)");

    host();
    const std::string cp = lab_.cluster + "-control-plane";
    const std::string worker = lab_.cluster + "-worker";
    const auto numbered = [](const std::string& name, const std::string& prefix) {
        return name.starts_with(prefix) &&
               std::all_of(name.begin() + static_cast<ptrdiff_t>(prefix.size()), name.end(),
                           [](unsigned char ch) { return std::isdigit(ch) != 0; });
    };
    unsigned nodes = 0;
    for (const auto& c : net_.containers) {
        if (numbered(c.name, cp) || numbered(c.name, worker)) {
            node(c);
            ++nodes;
        }
    }
    if (nodes == 0) {
        r_.text +=
            fmt::format("no node of kind cluster {} on network {}\n", lab_.cluster, net_.name);
        ++r_.paths;
        ++r_.failed;
    }
    if (!o_.skip_pod) {
        pod();
    }
    r_.text += fmt::format("\n{} of {} paths get horizond's answer{}\n", r_.paths - r_.failed,
                           r_.paths, r_.failed == 0 ? "" : "; the fixes are above");
    return {r_.text, r_.paths, r_.failed, false};
}

} // namespace

DoctorReport doctor(const LabFacts& lab, const DoctorOptions& o, const Runner& run,
                    const Explainer& explain) {
    return Doctor(lab, o, run, explain).go();
}

} // namespace horizon::ctl::kind
