// [resolver] and its [[resolver.forward]] zones: upstreams ("system" from resolv.conf), recursion
// access, timeouts and cache bounds; and the checks that need [server] and the clusters.
#include <unordered_map>

#include "config/sections.hpp"

namespace horizon::config::detail {

namespace {

constexpr std::string_view kSystem = "system"; // the nameservers of /etc/resolv.conf

/// "IP:PORT", "[IPv6]:PORT", or an address alone for port 53.
std::optional<util::Endpoint> parse_upstream(std::string_view text) {
    if (auto endpoint = util::Endpoint::parse(text)) {
        return endpoint;
    }
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
    }
    if (const auto ip = util::IpAddress::parse(text)) {
        return util::Endpoint{*ip, kDnsPort};
    }
    return std::nullopt;
}

void read_upstreams(Diagnostics& d, std::string_view key, const toml::node& node,
                    UpstreamsRead& out) {
    const auto items = read_strings(d, key, node);
    if (!items) {
        return;
    }
    std::vector<std::string_view> texts; // as written, parallel to out.list
    for (const auto& item : *items) {
        if (item.text == kSystem) {
            if (out.system != nullptr) {
                d.error(*item.node, fmt::format("duplicate upstream '{}' in {}", kSystem, key));
            } else {
                out.system = item.node;
            }
            continue;
        }
        const auto endpoint = parse_upstream(item.text);
        if (!endpoint) {
            d.error(*item.node, fmt::format("invalid upstream {} in {} (expected IP, IP:PORT, "
                                            "[IPv6]:PORT or \"system\")",
                                            quoted(item.text), key));
            continue;
        }
        if (endpoint->port == 0) {
            d.error(*item.node,
                    fmt::format("invalid upstream {} in {} (port must be between 1 and 65535)",
                                quoted(item.text), key));
            continue;
        }
        const auto seen = std::find(out.list.begin(), out.list.end(), *endpoint);
        if (seen != out.list.end()) {
            d.error(*item.node, fmt::format("duplicate upstream {} in {}{}", quoted(item.text), key,
                                            same_as(item.text, texts[seen - out.list.begin()])));
            continue;
        }
        out.list.push_back(*endpoint);
        out.nodes.push_back(item.node);
        texts.push_back(item.text);
    }
}

void read_forward_zone(Diagnostics& d, std::string_view key, const toml::node& node,
                       ForwardRead& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    std::string_view zone = *s;
    if (!zone.empty() && zone.back() == '.') {
        zone.remove_suffix(1); // an absolute name is the same name
    }
    if (const auto problem = zone_name_problem(zone)) {
        d.error(node, fmt::format("invalid zone {} ({})", quoted(*s), *problem));
        return;
    }
    out.zone.zone = zone;
}

void read_forward_upstreams(Diagnostics& d, std::string_view key, const toml::node& node,
                            ForwardRead& out) {
    read_upstreams(d, key, node, out.upstreams);
    if (const auto* array = node.as_array(); array != nullptr && array->empty()) {
        d.error(node, fmt::format("{} must list at least one upstream", key));
    }
}

constexpr auto kForwardKeys = std::to_array<KeySpec<ForwardRead>>({
    {"zone", Presence::Required, read_forward_zone},
    {"upstreams", Presence::Required, read_forward_upstreams},
});

void read_forward(Diagnostics& d, std::string_view key, const toml::node& node, ResolverRead& out) {
    for (const auto* table : read_tables(d, key, node, "resolver.forward")) {
        ForwardRead zone;
        zone.table = table;
        read_section<ForwardRead>(d, *table, "in [[resolver.forward]]", kForwardKeys, zone);
        out.forward.push_back(std::move(zone));
    }
}

/// The per-attempt timeout: above zero, and short enough that a client is still waiting.
void read_timeout(Diagnostics& d, std::string_view key, const toml::node& node, ResolverRead& out) {
    if (const auto duration = read_duration_in(d, key, node, true, std::chrono::seconds(30),
                                               "greater than zero and at most \"30s\"")) {
        out.config.timeout = *duration;
    }
}

/// A member of the ResolverConfig inside ResolverRead, read by one of the shared readers.
template <auto Read>
void in_config(Diagnostics& d, std::string_view key, const toml::node& node, ResolverRead& out) {
    Read(d, key, node, out.config);
}

void read_main_upstreams(Diagnostics& d, std::string_view key, const toml::node& node,
                         ResolverRead& out) {
    read_upstreams(d, key, node, out.upstreams);
}

constexpr auto kResolverKeys = std::to_array<KeySpec<ResolverRead>>({
    {"upstreams", Presence::Optional, read_main_upstreams},
    {"forward", Presence::Optional, read_forward},
    {"allow_recursion", Presence::Optional,
     in_config<cidrs<&ResolverConfig::allow_recursion, Empty::Allowed, ResolverConfig>>},
    {"timeout", Presence::Optional, read_timeout},
    {"cache_size", Presence::Optional,
     in_config<integer<&ResolverConfig::cache_size, 0, 10000000, ResolverConfig>>},
    // RFC 2181 §8: a TTL is an unsigned number from 0 to 2^31 - 1.
    {"min_ttl", Presence::Optional,
     in_config<integer<&ResolverConfig::min_ttl, 0, 2147483647, ResolverConfig>>},
    {"max_ttl", Presence::Optional,
     in_config<integer<&ResolverConfig::max_ttl, 0, 2147483647, ResolverConfig>>},
    {"negative_ttl", Presence::Optional,
     in_config<integer<&ResolverConfig::negative_ttl, 0, 2147483647, ResolverConfig>>},
});

/// The upstream lists' checks against the host: none is horizond itself, and "system" expands
/// to resolv.conf's nameservers (read once, when first needed).
class UpstreamCheck {
public:
    UpstreamCheck(Diagnostics& d, const Document& doc)
        : d_(d)
        , host_(doc.host) {
        for (const auto& l : doc.config.server.listen) {
            listen_.push_back(l.endpoint); // every DNS listener, resolver listeners too
        }
        const bool any_wildcard = std::any_of(listen_.begin(), listen_.end(), [](const auto& ep) {
            return ep.addr == util::IpAddress{ep.addr.family, {}};
        });
        if (any_wildcard) {
            local_ = host_.local_addresses();
        }
    }

    void finish(UpstreamsRead& u, std::string_view key) {
        for (size_t i = 0; i < u.list.size(); ++i) {
            for (const auto& ep : listen_) {
                if (reaches(u.list[i], ep, local_)) {
                    d_.error(*u.nodes[i],
                             fmt::format("upstream '{}' in {} is horizond's own listen address "
                                         "'{}' (queries would loop)",
                                         u.list[i].to_string(), key, ep.to_string()));
                    break;
                }
            }
        }
        if (u.system != nullptr) {
            expand_system(u);
        }
    }

private:
    void expand_system(UpstreamsRead& u) {
        if (!resolv_conf_) {
            resolv_conf_ = host_.read_file(kResolvConf, size_t{1} << 20);
        }
        if (!resolv_conf_->ok()) {
            d_.error(*u.system, fmt::format("cannot read {} for upstream \"system\": {}",
                                            kResolvConf, resolv_conf_->reason()));
            return;
        }
        const auto found = system_upstreams(resolv_conf_->text, listen_, local_);
        if (found.empty()) {
            d_.error(*u.system, fmt::format("upstream \"system\": {} names no nameserver other "
                                            "than horizond itself",
                                            kResolvConf));
        }
        for (const auto& ep : found) {
            if (std::find(u.list.begin(), u.list.end(), ep) == u.list.end()) {
                u.list.push_back(ep);
                u.nodes.push_back(u.system);
            }
        }
    }

    Diagnostics& d_;
    const Host& host_;
    std::vector<util::Endpoint> listen_;
    std::vector<util::IpAddress> local_;
    std::optional<util::FileText> resolv_conf_;
};

} // namespace

void read_resolver(Diagnostics& d, std::string_view key, const toml::node& node, Document& out) {
    const auto* table = node.as_table();
    if (table == nullptr) {
        d.error(node, fmt::format("'{}' must be a table ([resolver])", key));
        return;
    }
    out.resolver.table = table;
    read_section<ResolverRead>(d, *table, "in [resolver]", kResolverKeys, out.resolver);
}

void finish_resolver(Diagnostics& d, Document& doc) {
    ResolverRead& r = doc.resolver;
    UpstreamCheck upstreams(d, doc);
    upstreams.finish(r.upstreams, "upstreams");
    r.config.upstreams = r.upstreams.list;
    std::unordered_map<std::string, const toml::table*> zones; // lower-cased zone -> table
    for (auto& f : r.forward) {
        upstreams.finish(f.upstreams, "upstreams");
        if (f.zone.zone.empty()) {
            continue; // missing or invalid: reported
        }
        const auto [first, fresh] = zones.emplace(lower(f.zone.zone), f.table);
        if (!fresh) {
            const toml::node& at = *f.table->get("zone");
            d.error(at, fmt::format("duplicate forward zone {} (first defined at line {})",
                                    quoted(at.as_string()->get()),
                                    first->second->get("zone")->source().begin.line));
            continue;
        }
        f.zone.upstreams = f.upstreams.list;
        r.config.forward.push_back(std::move(f.zone));
    }
    if (r.table == nullptr || !r.table->contains("allow_recursion")) {
        // Loopback and every cluster's VPC: never an open resolver by default.
        auto& allow = r.config.allow_recursion;
        allow = {*util::Cidr::parse("127.0.0.0/8"), *util::Cidr::parse("::1/128")};
        for (const auto& c : doc.config.clusters) {
            for (const auto& cidr : c.vpc_cidrs) {
                if (std::find(allow.begin(), allow.end(), cidr) == allow.end()) {
                    allow.push_back(cidr);
                }
            }
        }
    }
    if (r.config.min_ttl > r.config.max_ttl && r.table != nullptr) {
        d.error(*r.table->get("min_ttl"), fmt::format("min_ttl ({}) must not exceed max_ttl ({})",
                                                      r.config.min_ttl, r.config.max_ttl));
    }
    doc.config.resolver = std::move(r.config);
}

} // namespace horizon::config::detail
