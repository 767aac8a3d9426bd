// [[cluster]] and its [cluster.api]: one EKS cluster's endpoint, addresses, access settings and
// API endpoint, each key checked as EKS would.
#include <charconv>

#include "config/sections.hpp"

namespace horizon::config::detail {

namespace {

/// Like EKS cluster names: 1..100 of [a-zA-Z0-9_-], starting with a letter or digit.
void read_name(Diagnostics& d, std::string_view key, const toml::node& node, ClusterConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const bool ok = !s->empty() && s->size() <= 100 && is_alnum(s->front()) &&
                    std::all_of(s->begin(), s->end(),
                                [](char ch) { return is_alnum(ch) || ch == '-' || ch == '_'; });
    if (!ok) {
        d.error(node, fmt::format("invalid cluster name {} (expected 1 to 100 letters, digits, "
                                  "'-' or '_', starting with a letter or digit)",
                                  quoted(*s)));
        return;
    }
    out.name = *s;
}

/// An AWS region such as "ap-northeast-2"; it becomes a label of the endpoint name.
void read_region(Diagnostics& d, std::string_view key, const toml::node& node, ClusterConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const bool ok = !s->empty() && s->size() <= 63 && s->front() != '-' && s->back() != '-' &&
                    std::all_of(s->begin(), s->end(), [](char ch) {
                        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
                    });
    if (!ok) {
        d.error(node, fmt::format("invalid region {} (expected lower-case letters, digits and "
                                  "hyphens, e.g. \"ap-northeast-2\")",
                                  quoted(*s)));
        return;
    }
    out.region = *s;
}

void read_endpoint(Diagnostics& d, std::string_view key, const toml::node& node,
                   ClusterConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    std::string_view name = *s;
    if (name.empty()) {
        d.error(node, "invalid endpoint '' (expected a DNS name; leave 'endpoint' out to derive it "
                      "from name and region)");
        return;
    }
    if (name.back() == '.') {
        name.remove_suffix(1); // an absolute name is the same name
    }
    if (const auto problem = dns_name_problem(name)) {
        d.error(node, fmt::format("invalid endpoint {} ({})", quoted(*s), *problem));
        return;
    }
    out.endpoint = name;
}

/// "MAJOR.MINOR" such as "1.31", as `aws eks describe-cluster` shows `version`.
void read_kubernetes_version(Diagnostics& d, std::string_view key, const toml::node& node,
                             ClusterConfig& out) {
    if (node.is_floating_point() || node.is_integer()) {
        // 1.30 as a TOML number is the float 1.3: never guess, ask for the string.
        d.error(node, fmt::format("'{}' must be a string such as \"1.31\" (quote it)", key));
        return;
    }
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const auto is_number = [](std::string_view part) {
        return !part.empty() && part.size() <= 3 && (part.size() == 1 || part.front() != '0') &&
               std::all_of(part.begin(), part.end(),
                           [](char ch) { return ch >= '0' && ch <= '9'; });
    };
    const auto dot = s->find('.');
    const std::string_view text = *s;
    if (dot == std::string::npos || !is_number(text.substr(0, dot)) ||
        !is_number(text.substr(dot + 1))) {
        d.error(node, fmt::format("invalid {} {} (expected MAJOR.MINOR such as \"1.31\")", key,
                                  quoted(*s)));
        return;
    }
    out.kubernetes_version = *s;
}

// ---------------------------------------------------------------------------------------------
// [cluster.api]

/// "host:port", "[IPv6]:port" or "IP:port"; the host a name or an address.
std::optional<ApiUpstream> parse_api_upstream(std::string_view text) {
    if (const auto endpoint = util::Endpoint::parse(text)) {
        if (endpoint->port == 0) {
            return std::nullopt;
        }
        return ApiUpstream{endpoint->addr.to_string(), endpoint->port};
    }
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    const std::string_view host = text.substr(0, colon);
    const std::string_view digits = text.substr(colon + 1);
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || end != digits.data() + digits.size() || port == 0 || port > 65535) {
        return std::nullopt;
    }
    // A host name (RFC 1123 §2.1): letters, digits, '-' and '.', at most 253 characters.
    const bool name_ok = host.size() <= 253 && host.front() != '.' && host.front() != '-' &&
                         std::all_of(host.begin(), host.end(), [](char ch) {
                             return is_alnum(ch) || ch == '-' || ch == '.';
                         });
    if (!name_ok) {
        return std::nullopt;
    }
    return ApiUpstream{std::string(host), static_cast<uint16_t>(port)};
}

void read_api_upstream(Diagnostics& d, std::string_view key, const toml::node& node,
                       ApiConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    if (s->empty()) {
        return; // "": the built-in responder, as when the key is absent
    }
    out.upstream = parse_api_upstream(*s);
    if (!out.upstream) {
        d.error(node, fmt::format("invalid upstream {} (expected HOST:PORT, IP:PORT or "
                                  "[IPv6]:PORT, e.g. \"127.0.0.1:6443\" for a kind API server)",
                                  quoted(*s)));
    }
}

void read_vpc_egress_ip(Diagnostics& d, std::string_view key, const toml::node& node,
                        ApiConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const auto ip = util::IpAddress::parse(*s);
    if (!ip) {
        d.error(node,
                fmt::format("invalid {} {} (expected an IPv4 or IPv6 address)", key, quoted(*s)));
        return;
    }
    out.vpc_egress_ip = ip->unmapped();
}

/// A duration above zero and at most an hour: a held connection must always be let go.
void read_hold_timeout(Diagnostics& d, std::string_view key, const toml::node& node,
                       ApiConfig& out) {
    if (const auto duration = read_duration_in(d, key, node, true, std::chrono::hours(1),
                                               "greater than zero and at most \"1h\"")) {
        out.hold_timeout = *duration;
    }
}

constexpr auto kDenyActions = std::to_array<Choice<DenyAction>>({
    {"drop", DenyAction::Drop},
    {"reset", DenyAction::Reset},
});

constexpr auto kApiKeys = std::to_array<KeySpec<ApiConfig>>({
    {"port", Presence::Optional, integer<&ApiConfig::port, 1, 65535>},
    {"upstream", Presence::Optional, read_api_upstream},
    {"security_group_ingress", Presence::Optional,
     cidrs<&ApiConfig::security_group_ingress, Empty::Allowed>},
    {"vpc_egress_ip", Presence::Optional, read_vpc_egress_ip},
    {"deny", Presence::Optional, choice<&ApiConfig::deny, kDenyActions>},
    {"hold_timeout", Presence::Optional, read_hold_timeout},
    {"max_connections", Presence::Optional, integer<&ApiConfig::max_connections, 1, 100000>},
    {"max_held", Presence::Optional, integer<&ApiConfig::max_held, 0, 100000>},
    {"max_connections_per_source", Presence::Optional,
     integer<&ApiConfig::max_connections_per_source, 1, 100000>},
    {"reset_on_update", Presence::Optional, boolean<&ApiConfig::reset_on_update>},
});

void read_api(Diagnostics& d, std::string_view key, const toml::node& node, ClusterConfig& out) {
    const auto* table = node.as_table();
    if (table == nullptr) {
        d.error(node,
                fmt::format("'{}' must be a table ([cluster.api] after its [[cluster]])", key));
        return;
    }
    out.api.emplace();
    read_section<ApiConfig>(d, *table, "in [cluster.api]", kApiKeys, *out.api);
}

/// [cluster.api] checks that need the whole cluster: the security group's default (EKS's cluster
/// security group admits the VPC's members; here, its vpc_cidrs), and one side per address.
void finish_api(Diagnostics& d, const toml::table& table, ClusterConfig& c) {
    const auto* api = table.get_as<toml::table>("api");
    if (!c.api || api == nullptr) {
        return;
    }
    if (!api->contains("security_group_ingress")) {
        c.api->security_group_ingress = c.vpc_cidrs;
    }
    for (const auto& ip : c.public_ips) {
        if (std::find(c.private_ips.begin(), c.private_ips.end(), ip) != c.private_ips.end()) {
            d.error(*api, fmt::format("address '{}' is in both public_ips and private_ips; the API "
                                      "endpoint tells the sides apart by the address a connection "
                                      "arrives on",
                                      ip.to_string()));
        }
    }
}

constexpr auto kAccessModes = std::to_array<Choice<AccessMode>>({
    {"public", AccessMode::Public},
    {"public+private", AccessMode::PublicPrivate},
    {"private", AccessMode::Private},
});

constexpr auto kPrivateOutside = std::to_array<Choice<PrivateOutside>>({
    {"private-ips", PrivateOutside::PrivateIps},
    {"nxdomain", PrivateOutside::NxDomain},
});

constexpr auto kClusterKeys = std::to_array<KeySpec<ClusterConfig>>({
    {"name", Presence::Required, read_name},
    {"region", Presence::Required, read_region},
    {"endpoint", Presence::Optional, read_endpoint},
    {"vpc_cidrs", Presence::Required, cidrs<&ClusterConfig::vpc_cidrs, Empty::Rejected>},
    {"vpc_exclude_cidrs", Presence::Optional,
     cidrs<&ClusterConfig::vpc_exclude_cidrs, Empty::Allowed>},
    {"private_ips", Presence::Required, ip_addresses<&ClusterConfig::private_ips>},
    {"public_ips", Presence::Required, ip_addresses<&ClusterConfig::public_ips>},
    {"access_mode", Presence::Optional, choice<&ClusterConfig::access_mode, kAccessModes>},
    {"public_access_cidrs", Presence::Optional, read_later}, // needs the addresses: see finish
    {"private_outside", Presence::Optional,
     choice<&ClusterConfig::private_outside, kPrivateOutside>},
    // RFC 2181 §8: a TTL is an unsigned number from 0 to 2^31 - 1.
    {"ttl", Presence::Optional, integer<&ClusterConfig::ttl, 0, 2147483647>},
    // A lab never needs a longer update; the bound keeps now + duration far from overflow.
    {"update_duration", Presence::Optional, bounded_duration<&ClusterConfig::update_duration, 24>},
    {"kubernetes_version", Presence::Optional, read_kubernetes_version},
    {"api", Presence::Optional, read_api},
});

/// EKS's rules for publicAccessCidrs (check_public_access_cidrs, shared with the control API):
/// the count at the array, one error naming every invalid block at the first of them.
void read_public_access_cidrs(Diagnostics& d, const toml::table& table, ClusterConfig& c) {
    static constexpr std::string_view kKey = "public_access_cidrs";
    const toml::node* node = table.get(kKey);
    if (node == nullptr) {
        c.public_access_cidrs = {*util::Cidr::parse("0.0.0.0/0")};
        return;
    }
    const auto items = read_strings(d, kKey, *node);
    if (!items) {
        return;
    }
    std::vector<std::string_view> blocks;
    for (const auto& item : *items) {
        blocks.push_back(item.text);
    }
    auto check = check_public_access_cidrs(blocks, has_ipv6(c));
    if (node->as_array()->size() > kMaxPublicAccessCidrs) {
        d.error(*node, too_many_public_access_cidrs_message());
    }
    if (!check.invalid.empty()) {
        d.error(*(*items)[check.invalid.front()].node, check.invalid_message);
    }
    c.public_access_cidrs = std::move(check.valid);
}

} // namespace

std::span<const KeySpec<ClusterConfig>> cluster_keys() {
    return kClusterKeys;
}

void finish_cluster(Diagnostics& d, const toml::table& table, ClusterConfig& c) {
    read_public_access_cidrs(d, table, c);
    if (!table.contains("endpoint") && !c.name.empty() && !c.region.empty()) {
        c.endpoint = derive_endpoint(c.name, c.region);
    }
    finish_api(d, table, c);
}

void read_clusters(Diagnostics& d, std::string_view key, const toml::node& node, Document& out) {
    for (const auto* table : read_tables(d, key, node, "cluster")) {
        ClusterConfig cluster;
        read_section<ClusterConfig>(d, *table, "in [[cluster]]", kClusterKeys, cluster);
        finish_cluster(d, *table, cluster);
        out.config.clusters.push_back(std::move(cluster));
        out.cluster_tables.push_back(table);
    }
}

} // namespace horizon::config::detail
