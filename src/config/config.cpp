// The domain helpers declared in config.hpp: names of settings, endpoint names, EKS's
// publicAccessCidrs rules and the nameservers of resolv.conf. No TOML, no I/O.
#include "config/config.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "config/diagnostics.hpp"
#include "config/sections.hpp"
#include "util/crypto.hpp"

namespace horizon::config {

std::string_view to_string(AccessMode m) {
    switch (m) {
    case AccessMode::Public:
        return "public";
    case AccessMode::PublicPrivate:
        return "public+private";
    case AccessMode::Private:
        return "private";
    }
    return "?";
}

std::optional<AccessMode> parse_access_mode(std::string_view text) {
    for (const auto m : {AccessMode::Public, AccessMode::PublicPrivate, AccessMode::Private}) {
        if (to_string(m) == text) {
            return m;
        }
    }
    return std::nullopt;
}

std::string_view to_string(DenyAction a) {
    return a == DenyAction::Drop ? "drop" : "reset";
}

std::string_view to_string(PrivateOutside p) {
    switch (p) {
    case PrivateOutside::PrivateIps:
        return "private-ips";
    case PrivateOutside::NxDomain:
        return "nxdomain";
    }
    return "?";
}

std::string Listener::to_string() const {
    if (!vpc) {
        return endpoint.to_string();
    }
    return endpoint.to_string() + " (view vpc" + (cluster.empty() ? "" : ":" + cluster) + ")";
}

std::string ApiUpstream::to_string() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
}

std::string derive_endpoint(std::string_view name, std::string_view region) {
    return fmt::format(
        "{}.gr7.{}.eks.amazonaws.com",
        util::sha256_hex(fmt::format("{}/{}", name, region), 32, util::HexCase::Upper), region);
}

PublicAccessCidrsCheck check_public_access_cidrs(std::span<const std::string_view> blocks,
                                                 bool cluster_has_ipv6) {
    PublicAccessCidrsCheck out;
    out.too_many = blocks.size() > kMaxPublicAccessCidrs;
    std::string list;
    for (size_t i = 0; i < blocks.size(); ++i) {
        const auto cidr = util::Cidr::parse(blocks[i]);
        if (cidr && (cidr->addr.is_v4() || cluster_has_ipv6)) {
            out.valid.push_back(*cidr);
            continue;
        }
        list += (out.invalid.empty() ? "" : ", ") + escaped(blocks[i]);
        out.invalid.push_back(i);
    }
    if (!out.invalid.empty()) {
        out.invalid_message = "The following CIDRs are invalid in publicAccessCidrs: " + list;
    }
    return out;
}

std::string too_many_public_access_cidrs_message() {
    return fmt::format("publicAccessCidrs can contain at most {} CIDR blocks",
                       kMaxPublicAccessCidrs);
}

bool has_ipv6(const ClusterConfig& c) {
    const auto is_v6 = [](const util::IpAddress& ip) { return !ip.is_v4(); };
    return std::any_of(c.private_ips.begin(), c.private_ips.end(), is_v6) ||
           std::any_of(c.public_ips.begin(), c.public_ips.end(), is_v6);
}

namespace {

bool is_loopback(const util::IpAddress& ip) {
    const auto a = ip.unmapped();
    return a.is_v4() ? a.bytes[0] == 127 : a == *util::IpAddress::parse("::1");
}

} // namespace

bool detail::reaches(const util::Endpoint& upstream, const util::Endpoint& listen,
                     std::span<const util::IpAddress> local) {
    if (upstream.port != listen.port || upstream.addr.family != listen.addr.family) {
        return false;
    }
    if (upstream.addr == listen.addr) {
        return true;
    }
    const bool wildcard = listen.addr == util::IpAddress{listen.addr.family, {}};
    return wildcard && (is_loopback(upstream.addr) ||
                        std::find(local.begin(), local.end(), upstream.addr) != local.end());
}

std::vector<util::Endpoint> system_upstreams(std::string_view resolv_conf,
                                             std::span<const util::Endpoint> listen,
                                             std::span<const util::IpAddress> local) {
    std::vector<util::Endpoint> out;
    while (!resolv_conf.empty()) {
        const auto eol = resolv_conf.find('\n');
        std::string_view line = resolv_conf.substr(0, eol);
        resolv_conf = eol == std::string_view::npos ? "" : resolv_conf.substr(eol + 1);
        // resolv.conf(5): "nameserver ADDRESS"; '#' or ';' starts a comment.
        line = line.substr(0, line.find_first_of("#;"));
        const auto word = [&line]() {
            const auto begin = line.find_first_not_of(" \t\r");
            if (begin == std::string_view::npos) {
                line = {};
                return std::string_view{};
            }
            const auto end = line.find_first_of(" \t\r", begin);
            const auto w = line.substr(begin, end == std::string_view::npos ? end : end - begin);
            line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
            return w;
        };
        if (word() != "nameserver") {
            continue;
        }
        // A link-local address with a scope ("fe80::1%eth0") cannot be an Endpoint: skipped.
        const auto ip = util::IpAddress::parse(word());
        if (!ip) {
            continue;
        }
        const util::Endpoint ep{*ip, detail::kDnsPort};
        const bool ours = std::any_of(listen.begin(), listen.end(),
                                      [&](const auto& l) { return detail::reaches(ep, l, local); });
        if (!ours && std::find(out.begin(), out.end(), ep) == out.end()) {
            out.push_back(ep);
        }
    }
    return out;
}

} // namespace horizon::config
