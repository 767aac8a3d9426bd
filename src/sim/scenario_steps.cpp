// Reads a scenario's [[step]] tables: each kind's keys, its targets and its values.
#include <algorithm>
#include <array>
#include <fmt/format.h>

#include "sim/scenario_checker.hpp"

namespace horizon::sim::detail {

namespace {

struct StepSpec {
    std::string_view name;
    StepKind kind;
    std::initializer_list<std::string_view> keys;
};

const std::array<StepSpec, 16>& step_specs() {
    static const std::array<StepSpec, 16> specs = {{
        {"update-cluster-config", StepKind::UpdateClusterConfig, {"resources_vpc_config"}},
        {"authorize-security-group-ingress",
         StepKind::AuthorizeSgIngress,
         {"protocol", "port", "cidr"}},
        {"fail-node", StepKind::FailNode, {"node", "group", "zone", "all", "count", "how"}},
        {"recover-node", StepKind::RecoverNode, {"node", "group", "zone", "all", "count"}},
        {"partition", StepKind::Partition, {"node", "group", "zone", "all", "count", "duration"}},
        {"heal", StepKind::Heal, {"node", "group", "zone", "all", "count"}},
        {"restart",
         StepKind::Restart,
         {"target", "node", "group", "zone", "all", "count", "every"}},
        {"upgrade", StepKind::Upgrade, {"version", "duration", "private_ips"}},
        {"dig", StepKind::Dig, {"from"}},
        {"ss", StepKind::Ss, {"node", "group", "zone", "all", "count"}},
        {"get-nodes", StepKind::GetNodes, {"node", "group", "zone", "all", "count", "output"}},
        {"get-leases", StepKind::GetLeases, {"node", "group", "zone", "all", "count"}},
        {"describe-cluster", StepKind::DescribeCluster, {"query"}},
        {"describe-update", StepKind::DescribeUpdate, {}},
        {"connect", StepKind::Connect, {"from"}},
        {"exec", StepKind::Exec, {"node", "group", "zone", "all", "count", "duration"}},
    }};
    return specs;
}

bool node_like(std::string_view s) {
    if (util::IpAddress::parse(s)) {
        return true;
    }
    if (s.rfind("ip-", 0) != 0) {
        return false;
    }
    std::string dotted(s.substr(3, s.find('.') == std::string_view::npos ? std::string_view::npos
                                                                         : s.find('.') - 3));
    std::replace(dotted.begin(), dotted.end(), '-', '.');
    return util::IpAddress::parse(dotted).has_value();
}

} // namespace

void read_steps(Checker& c, const toml::table& root, Scenario& sc) {
    for (const auto* t : c.tables(root, "step", "step")) {
        Step s;
        s.line = t->source().begin.line;
        c.require(*t, "in [[step]]", {"at", "do"});
        s.at = c.duration(*t, "at", false).value_or(0);
        const std::string* what = c.string(*t, "do");
        if (what == nullptr) {
            continue;
        }
        const auto& specs = step_specs();
        const auto spec = std::find_if(specs.begin(), specs.end(),
                                       [&](const StepSpec& sp) { return sp.name == *what; });
        if (spec == specs.end()) {
            std::string names;
            for (const auto& sp : specs) {
                names += (names.empty() ? "" : ", ") + std::string(sp.name);
            }
            c.error(*t->get("do"),
                    fmt::format("unknown step '{}' (expected one of: {})", *what, names));
            continue;
        }
        s.kind = spec->kind;
        std::vector<std::string_view> known = {"at", "do"};
        known.insert(known.end(), spec->keys.begin(), spec->keys.end());
        for (const auto& [key, node] : *t) {
            if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
                c.error(key.source().begin,
                        fmt::format("unknown key '{}' for step '{}'", key.str(), *what));
            }
        }
        // The node selector.
        const bool selects =
            std::find(spec->keys.begin(), spec->keys.end(), "node") != spec->keys.end();
        if (selects) {
            int given = 0;
            if (const auto* n = c.string(*t, "node")) {
                s.nodes.node = *n;
                ++given;
                if (!node_like(*n)) {
                    c.error(*t->get("node"), fmt::format("invalid node '{}' (expected a node "
                                                         "name such as ip-192-168-1-99... or its "
                                                         "address)",
                                                         *n));
                }
            }
            if (const auto* g = c.string(*t, "group")) {
                s.nodes.group = *g;
                if (std::none_of(sc.groups.begin(), sc.groups.end(),
                                 [&](const NodeGroup& ng) { return ng.name == *g; })) {
                    c.error(*t->get("group"), fmt::format("unknown node group '{}'", *g));
                }
            }
            if (const auto* z = c.string(*t, "zone")) {
                s.nodes.zone = *z;
                if (std::find(sc.zones.begin(), sc.zones.end(), *z) == sc.zones.end()) {
                    c.error(*t->get("zone"),
                            fmt::format("unknown zone '{}' (no subnet is in it)", *z));
                }
            }
            if (const auto v = c.boolean(*t, "all")) {
                s.nodes.all = *v;
            }
            if (const auto v = c.integer(*t, "count", 1, 10'000'000)) {
                s.nodes.count = static_cast<uint32_t>(*v);
            }
            given += !s.nodes.group.empty() || !s.nodes.zone.empty() ? 1 : 0;
            given += s.nodes.all ? 1 : 0;
            if (given > 1) {
                c.error(*t, "give one of 'node', 'group'/'zone' or 'all'");
            }
            const bool observation = s.kind == StepKind::Ss || s.kind == StepKind::GetNodes ||
                                     s.kind == StepKind::GetLeases || (s.kind == StepKind::Restart);
            if (given == 0) {
                if (observation) {
                    s.nodes.all = true;
                } else {
                    c.error(*t, fmt::format("step '{}' needs 'node', 'group', 'zone' or 'all = "
                                            "true'",
                                            *what));
                }
            }
        }
        switch (s.kind) {
        case StepKind::UpdateClusterConfig:
            if (const auto* v = c.string(*t, "resources_vpc_config")) {
                s.text = *v;
            } else if (!t->contains("resources_vpc_config")) {
                c.error(*t, "step 'update-cluster-config' needs 'resources_vpc_config' (the AWS "
                            "CLI's shorthand or JSON)");
            }
            break;
        case StepKind::AuthorizeSgIngress:
            s.protocol = "-1";
            if (const auto* v = c.string(*t, "protocol")) {
                s.protocol = *v;
            }
            if (const auto v = c.integer(*t, "port", 0, 65535)) {
                s.port = static_cast<int>(*v);
            }
            if (const auto* v = c.string(*t, "cidr")) {
                s.cidr = *v;
            } else if (!t->contains("cidr")) {
                c.error(*t, "step 'authorize-security-group-ingress' needs 'cidr'");
            }
            break;
        case StepKind::FailNode:
            if (const auto* v = c.string(*t, "how")) {
                if (*v == "not-ready") {
                    s.not_ready = true;
                } else if (*v == "power-off") {
                    s.text = *v;
                } else if (*v != "kubelet-stop") {
                    c.error(*t->get("how"), fmt::format("invalid how '{}' (expected "
                                                        "\"kubelet-stop\", \"power-off\" or "
                                                        "\"not-ready\")",
                                                        *v));
                }
            }
            break;
        case StepKind::Partition:
        case StepKind::Exec:
            if (const auto v = c.duration(*t, "duration", true)) {
                s.duration = *v;
            }
            break;
        case StepKind::Restart:
            if (const auto* v = c.string(*t, "target")) {
                s.text = *v;
                if (*v != "ds/kube-proxy" && *v != "kubelet") {
                    c.error(*t->get("target"), fmt::format("invalid target '{}' (expected "
                                                           "\"ds/kube-proxy\" or \"kubelet\")",
                                                           *v));
                }
            } else if (!t->contains("target")) {
                c.error(*t, "step 'restart' needs 'target' (\"ds/kube-proxy\" or \"kubelet\")");
            }
            if (const auto v = c.duration(*t, "every", false)) {
                s.every = *v;
            }
            break;
        case StepKind::Upgrade: {
            s.duration = 600'000;
            if (const auto* v = c.string(*t, "version")) {
                s.text = *v;
                const unsigned now = version_number(sc.cluster.kubernetes_version);
                const unsigned next = version_number(*v);
                if (next == 0) {
                    c.error(*t->get("version"), fmt::format("invalid version '{}' (expected "
                                                            "MAJOR.MINOR such as \"1.32\")",
                                                            *v));
                } else if (next != now + 1) {
                    c.error(*t->get("version"), fmt::format("EKS upgrades one minor version at a "
                                                            "time: {} -> {} is not allowed",
                                                            sc.cluster.kubernetes_version, *v));
                }
            } else if (!t->contains("version")) {
                c.error(*t, "step 'upgrade' needs 'version'");
            }
            if (const auto v = c.duration(*t, "duration", true)) {
                s.duration = *v;
            }
            for (const auto& [text, node] : c.strings(*t, "private_ips")) {
                const auto ip = util::IpAddress::parse(text);
                if (!ip) {
                    c.error(*node, fmt::format("invalid address '{}' in private_ips", text));
                } else {
                    s.private_ips.push_back(*ip);
                }
            }
            break;
        }
        case StepKind::Dig:
        case StepKind::Connect:
            if (const auto* v = c.string(*t, "from")) {
                s.from = *v;
                const bool host = std::any_of(sc.hosts.begin(), sc.hosts.end(),
                                              [&](const Host& h) { return h.name == *v; });
                if (!host && !node_like(*v)) {
                    c.error(*t->get("from"), fmt::format("unknown 'from' '{}' (expected a [[host]] "
                                                         "name, or a node name or address)",
                                                         *v));
                }
            } else if (!t->contains("from")) {
                c.error(*t, fmt::format("step '{}' needs 'from' (a [[host]] or a node)", *what));
            }
            break;
        case StepKind::GetNodes:
            if (const auto* v = c.string(*t, "output")) {
                if (*v != "conditions" && *v != "default") {
                    c.error(*t->get("output"), fmt::format("invalid output '{}' (expected "
                                                           "\"default\" or \"conditions\")",
                                                           *v));
                } else {
                    s.text = *v;
                }
            }
            break;
        case StepKind::DescribeCluster:
            if (const auto* v = c.string(*t, "query")) {
                s.text = *v;
            }
            break;
        default:
            break;
        }
        if (s.at > sc.until) {
            c.error(*t->get("at"), fmt::format("step at {} is after the scenario's duration {}",
                                               clock_text(s.at), clock_text(sc.until)));
        }
        sc.steps.push_back(std::move(s));
    }
    std::stable_sort(sc.steps.begin(), sc.steps.end(),
                     [](const Step& a, const Step& b) { return a.at < b.at; });
}

} // namespace horizon::sim::detail
