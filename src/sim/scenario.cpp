// Loads a scenario file: [scenario], [cluster] (horizond's keys through the config loader, plus
// the sim's), [[host]], [model] and [[step]], each key checked with its file:line:col.
#include "sim/scenario.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <fmt/format.h>

#include "config/diagnostics.hpp"
#include "config/duration.hpp"
#include "config/loader.hpp"
#include "sim/scenario_checker.hpp"
#include "util/file.hpp"

namespace horizon::sim {

unsigned version_number(std::string_view version) {
    const auto dot = version.find('.');
    unsigned major = 0;
    unsigned minor = 0;
    if (dot == std::string_view::npos ||
        std::from_chars(version.data(), version.data() + dot, major).ec != std::errc() ||
        std::from_chars(version.data() + dot + 1, version.data() + version.size(), minor).ec !=
            std::errc()) {
        return 0;
    }
    return major * 100 + minor;
}

std::string clock_text(Millis t) {
    const char* sign = t < 0 ? "-" : "";
    t = t < 0 ? -t : t;
    return fmt::format("{}{:02}:{:02}:{:02}.{:03}", sign, t / 3'600'000, t / 60'000 % 60,
                       t / 1000 % 60, t % 1000);
}

namespace detail {

std::optional<Millis> parse_time(std::string_view text) {
    Millis total = 0;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find_first_not_of("0123456789", start);
        end = end == std::string_view::npos ? text.size() : text.find_first_of("0123456789", end);
        const auto part = config::parse_duration(text.substr(start, end - start));
        if (!part || total > INT64_MAX / 2 - part->count()) {
            return std::nullopt;
        }
        total += part->count();
        start = end == std::string_view::npos ? text.size() : end;
    }
    if (text.empty()) {
        return std::nullopt;
    }
    return total;
}

} // namespace detail

namespace {

using config::Diagnostic;
using detail::Checker;
using detail::read_steps;

/// "2025-02-06T10:00:00Z" -> milliseconds since the epoch.
std::optional<int64_t> parse_utc(std::string_view s) {
    int y = 0;
    unsigned mo = 0;
    unsigned d = 0;
    unsigned h = 0;
    unsigned mi = 0;
    unsigned se = 0;
    if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z') {
        return std::nullopt;
    }
    const auto num = [&](size_t at, size_t len, auto& out) {
        return std::from_chars(s.data() + at, s.data() + at + len, out).ptr == s.data() + at + len;
    };
    if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) ||
        !num(17, 2, se) || h > 23 || mi > 59 || se > 59) {
        return std::nullopt;
    }
    const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                          std::chrono::day(d)};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    const auto days = std::chrono::sys_days(ymd).time_since_epoch().count();
    return ((static_cast<int64_t>(days) * 24 + h) * 60 + mi) * 60'000 + se * 1000LL;
}

void read_scenario_table(Checker& c, const toml::table& t, Scenario& sc) {
    c.keys(t, "in [scenario]",
           {"name", "description", "duration", "seed", "start", "metrics_interval", "node_events"});
    if (const auto* s = c.string(t, "name")) {
        sc.name = *s;
    }
    if (const auto* s = c.string(t, "description")) {
        sc.description = *s;
    }
    if (const auto d = c.duration(t, "duration", true)) {
        sc.until = *d;
    }
    if (const auto v = c.integer(t, "seed", 0, INT64_MAX)) {
        sc.seed = static_cast<uint64_t>(*v);
    }
    if (const auto* s = c.string(t, "start")) {
        if (parse_utc(*s)) {
            sc.start = *s;
        } else {
            c.error(*t.get("start"), fmt::format("invalid start '{}' (expected UTC as "
                                                 "\"2025-02-06T10:00:00Z\")",
                                                 *s));
        }
    }
    if (const auto d = c.duration(t, "metrics_interval", true)) {
        sc.metrics_interval = *d;
    }
    sc.node_events = c.boolean(t, "node_events");
}

void read_model(Checker& c, const toml::table& t, Model& m) {
    c.keys(t, "in [model]",
           {"api_servers", "etcd_members", "lease_interval", "status_interval", "status_report",
            "monitor_period", "grace", "startup_grace", "toleration", "request_timeout",
            "backoff_min", "backoff_max", "eviction_rate", "secondary_eviction_rate",
            "unhealthy_zone_threshold", "large_cluster_threshold", "node_bytes", "lease_bytes",
            "pod_bytes"});
    const auto u32 = [&](std::string_view k, uint32_t& out, int64_t lo, int64_t hi) {
        if (const auto v = c.integer(t, k, lo, hi)) {
            out = static_cast<uint32_t>(*v);
        }
    };
    const auto dur = [&](std::string_view k, Millis& out) {
        if (const auto v = c.duration(t, k, true)) {
            out = *v;
        }
    };
    u32("api_servers", m.api_servers, 1, 16);
    u32("etcd_members", m.etcd_members, 1, 7);
    dur("lease_interval", m.lease_interval);
    dur("status_interval", m.status_interval);
    dur("status_report", m.status_report);
    dur("monitor_period", m.monitor_period);
    if (const auto v = c.duration(t, "grace", true)) {
        m.grace = *v;
    }
    dur("startup_grace", m.startup_grace);
    if (const auto v = c.duration(t, "toleration", false)) {
        m.toleration = *v;
    }
    dur("request_timeout", m.request_timeout);
    dur("backoff_min", m.backoff_min);
    dur("backoff_max", m.backoff_max);
    if (const auto v = c.number(t, "eviction_rate", 0, 1000)) {
        m.eviction_rate = *v;
    }
    if (const auto v = c.number(t, "secondary_eviction_rate", 0, 1000)) {
        m.secondary_eviction_rate = *v;
    }
    if (const auto v = c.number(t, "unhealthy_zone_threshold", 0, 1)) {
        m.unhealthy_zone_threshold = *v;
    }
    u32("large_cluster_threshold", m.large_cluster_threshold, 0, 1'000'000);
    u32("node_bytes", m.node_bytes, 1, 10'000'000);
    u32("lease_bytes", m.lease_bytes, 1, 10'000'000);
    u32("pod_bytes", m.pod_bytes, 1, 10'000'000);
}

void read_network(Checker& c, const toml::table& cluster, Scenario& sc) {
    if (const auto v = c.boolean(cluster, "enable_dns_support")) {
        sc.enable_dns_support = *v;
    }
    if (const auto v = c.boolean(cluster, "enable_dns_hostnames")) {
        sc.enable_dns_hostnames = *v;
    }
    for (const auto* t : c.tables(cluster, "subnet", "cluster.subnet")) {
        c.keys(*t, "in [[cluster.subnet]]", {"id", "cidr", "az", "nat_ip", "public_ip_pool"});
        Subnet s;
        const auto* id = c.string(*t, "id");
        const auto* az = c.string(*t, "az");
        const auto cidr = c.cidr(*t, "cidr");
        c.require(*t, "in [[cluster.subnet]]", {"id", "az", "cidr"});
        if (id == nullptr || az == nullptr || !cidr) {
            continue;
        }
        for (const auto& other : sc.subnets) {
            if (other.id == *id) {
                c.error(*t->get("id"), fmt::format("duplicate subnet id '{}'", *id));
            }
        }
        s.id = *id;
        s.az = *az;
        s.cidr = *cidr;
        if (!sc.cluster.vpc_cidrs.empty() &&
            std::none_of(sc.cluster.vpc_cidrs.begin(), sc.cluster.vpc_cidrs.end(),
                         [&](const util::Cidr& v) {
                             return v.len <= s.cidr.len && v.contains(s.cidr.addr);
                         })) {
            c.error(*t->get("cidr"), fmt::format("subnet {} {} is not inside the cluster's "
                                                 "vpc_cidrs",
                                                 s.id, s.cidr.to_string()));
        }
        s.nat_ip = c.address(*t, "nat_ip", true);
        s.public_ip_pool = c.cidr(*t, "public_ip_pool");
        if (s.nat_ip && s.public_ip_pool) {
            c.error(*t->get("public_ip_pool"), "set either nat_ip or public_ip_pool, not both");
        }
        const auto z = std::find(sc.zones.begin(), sc.zones.end(), s.az);
        s.zone = static_cast<uint8_t>(z - sc.zones.begin());
        if (z == sc.zones.end()) {
            sc.zones.push_back(s.az);
        }
        sc.subnets.push_back(std::move(s));
    }
    std::vector<uint64_t> room_used(sc.subnets.size());
    for (const auto* t : c.tables(cluster, "node_group", "cluster.node_group")) {
        c.keys(*t, "in [[cluster.node_group]]",
               {"name", "nodes", "subnets", "addresses", "pods", "daemonset_pods", "heartbeat",
                "security_group_member", "age"});
        c.require(*t, "in [[cluster.node_group]]", {"name", "nodes", "subnets"});
        NodeGroup g;
        if (const auto* n = c.string(*t, "name")) {
            g.name = *n;
        }
        if (const auto n = c.integer(*t, "nodes", 0, 1'000'000)) {
            g.nodes = static_cast<uint32_t>(*n);
        }
        for (const auto& [subnet_id, node] : c.strings(*t, "subnets")) {
            const auto& id = subnet_id; // clang 14 cannot capture a structured binding
            const auto it = std::find_if(sc.subnets.begin(), sc.subnets.end(),
                                         [&](const Subnet& s) { return s.id == id; });
            if (it == sc.subnets.end()) {
                c.error(*node,
                        fmt::format("unknown subnet '{}' (not a [[cluster.subnet]] id)", id));
            } else {
                g.subnets.push_back(static_cast<uint16_t>(it - sc.subnets.begin()));
            }
        }
        for (const auto& [text, node] : c.strings(*t, "addresses")) {
            const auto ip = util::IpAddress::parse(text);
            if (!ip || !ip->is_v4()) {
                c.error(*node,
                        fmt::format("invalid address '{}' (expected an IPv4 address)", text));
                continue;
            }
            const bool in_group_subnet =
                std::any_of(g.subnets.begin(), g.subnets.end(),
                            [&](uint16_t s) { return sc.subnets[s].cidr.contains(*ip); });
            if (!in_group_subnet && !g.subnets.empty()) {
                c.error(*node, fmt::format("address {} is in none of the group's subnets", text));
            }
            g.addresses.push_back(*ip);
        }
        if (g.addresses.size() > g.nodes) {
            c.error(*t->get("addresses"), "more addresses than nodes");
        }
        if (const auto v = c.integer(*t, "pods", 0, 1000)) {
            g.pods = static_cast<uint16_t>(*v);
        }
        if (const auto v = c.integer(*t, "daemonset_pods", 0, 1000)) {
            g.daemonset_pods = static_cast<uint16_t>(*v);
        }
        if (const auto* h = c.string(*t, "heartbeat")) {
            if (*h == "lease") {
                g.heartbeat = Heartbeat::Lease;
            } else if (*h == "status-only") {
                g.heartbeat = Heartbeat::StatusOnly;
            } else {
                c.error(*t->get("heartbeat"), fmt::format("invalid heartbeat '{}' (expected "
                                                          "\"lease\" or \"status-only\")",
                                                          *h));
            }
        }
        if (const auto v = c.boolean(*t, "security_group_member")) {
            g.security_group_member = *v;
        }
        if (const auto v = c.duration(*t, "age", false)) {
            g.age = *v;
        }
        for (const auto& other : sc.groups) {
            if (other.name == g.name) {
                c.error(*t, fmt::format("duplicate node group '{}'", g.name));
            }
        }
        if (!g.subnets.empty()) {
            for (size_t k = 0; k < g.subnets.size(); ++k) {
                room_used[g.subnets[k]] +=
                    g.nodes / g.subnets.size() + (k < g.nodes % g.subnets.size() ? 1 : 0);
            }
        }
        sc.groups.push_back(std::move(g));
    }
    for (size_t s = 0; s < sc.subnets.size(); ++s) {
        const uint64_t room = (uint64_t{1} << (32 - sc.subnets[s].cidr.len)) - 11;
        if (sc.subnets[s].cidr.len > 28 || room_used[s] > room) {
            c.error(toml::source_position{1, 1},
                    fmt::format("subnet {} ({}) has room for {} nodes (from .10 on), node groups "
                                "put {} in it",
                                sc.subnets[s].id, sc.subnets[s].cidr.to_string(),
                                sc.subnets[s].cidr.len > 28 ? 0 : room, room_used[s]));
        }
    }
}

void read_hosts(Checker& c, const toml::table& root, Scenario& sc) {
    for (const auto* t : c.tables(root, "host", "host")) {
        c.keys(*t, "in [[host]]", {"name", "address", "egress_ip", "security_group_member"});
        c.require(*t, "in [[host]]", {"name", "address"});
        Host h;
        if (const auto* n = c.string(*t, "name")) {
            h.name = *n;
        }
        if (const auto a = c.address(*t, "address", true)) {
            h.address = *a;
        }
        h.egress_ip = c.address(*t, "egress_ip", true);
        if (const auto v = c.boolean(*t, "security_group_member")) {
            h.security_group_member = *v;
        }
        sc.hosts.push_back(std::move(h));
    }
}

} // namespace

ScenarioResult load_scenario(std::string_view text, const std::string& path) {
    Checker c(path);
    const auto parsed = config::parse_toml(c, text, path);
    if (!parsed) {
        return c.take();
    }
    const toml::table& root = *parsed;
    Scenario sc;
    sc.path = path;
    c.keys(root, "at top level", {"scenario", "cluster", "host", "model", "step"});
    // [cluster]: horizond's [[cluster]] keys, read by horizond's loader, plus the sim's.
    static constexpr std::array<std::string_view, 4> kExtra = {
        "enable_dns_support", "enable_dns_hostnames", "subnet", "node_group"};
    const toml::table* cluster = root.get_as<toml::table>("cluster");
    if (cluster == nullptr) {
        c.error(root.get("cluster") != nullptr ? root.get("cluster")->source().begin
                                               : toml::source_position{1, 1},
                "missing [cluster] (horizond's [[cluster]] keys, written as one [cluster] table)");
    } else {
        sc.cluster = config::read_cluster_table(c, *cluster, "in [cluster]", kExtra);
        sc.has_api_table = cluster->contains("api");
    }
    if (const auto* t = root.get("scenario")) {
        if (t->is_table()) {
            read_scenario_table(c, *t->as_table(), sc);
        } else {
            c.error(*t, "'scenario' must be a table ([scenario])");
        }
    }
    if (sc.name.empty()) {
        auto base = path.substr(path.find_last_of('/') + 1);
        sc.name = base.substr(0, base.rfind(".toml"));
    }
    sc.start_epoch_ms = *parse_utc(sc.start);
    if (const auto* t = root.get("model")) {
        if (t->is_table()) {
            read_model(c, *t->as_table(), sc.model);
        } else {
            c.error(*t, "'model' must be a table ([model])");
        }
    }
    if (cluster != nullptr) {
        read_network(c, *cluster, sc);
        if (sc.subnets.empty() && !sc.groups.empty()) {
            c.error(*cluster, "node groups need at least one [[cluster.subnet]]");
        }
    }
    read_hosts(c, root, sc);
    read_steps(c, root, sc);
    if (!c.empty()) {
        return c.take();
    }
    return sc;
}

ScenarioResult load_scenario_file(const std::string& path) {
    static constexpr size_t kMaxScenarioBytes = size_t{16} << 20;
    const auto file = util::read_file(path, kMaxScenarioBytes);
    if (!file.ok()) {
        return std::vector<Diagnostic>{{path, 1, 1, "cannot read file: " + file.reason()}};
    }
    return load_scenario(file.text, path);
}

} // namespace horizon::sim
