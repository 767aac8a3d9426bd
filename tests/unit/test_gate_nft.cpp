// The gate's drop decisions as nftables rules (control/gate_nft.hpp): what each side drops.
#include <string>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "control/gate_nft.hpp"

namespace {

horizon::config::ClusterConfig cluster(horizon::config::AccessMode mode) {
    using horizon::util::Cidr;
    using horizon::util::IpAddress;
    horizon::config::ClusterConfig c;
    c.name = "myeks";
    c.access_mode = mode;
    c.vpc_cidrs = {*Cidr::parse("192.168.0.0/16")};
    c.public_ips = {*IpAddress::parse("203.0.113.10"), *IpAddress::parse("2001:db8::10")};
    c.private_ips = {*IpAddress::parse("192.168.1.113")};
    c.public_access_cidrs = {*Cidr::parse("203.0.113.100/32")};
    c.api = horizon::config::ApiConfig{};
    c.api->port = 443;
    c.api->security_group_ingress = {*Cidr::parse("192.168.1.99/32")};
    return c;
}

bool has(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

} // namespace

TEST_CASE("gate nft: public+private drops the SYNs the gate denies, on each side") {
    const auto text = horizon::control::gate_nft_ruleset(
        {cluster(horizon::config::AccessMode::PublicPrivate)}, "hz_gate");
    // One transaction that replaces the table.
    CHECK(text.rfind("table inet hz_gate {}\ndelete table inet hz_gate\ntable inet hz_gate {", 0) ==
          0);
    CHECK(has(text, "type filter hook input priority filter - 10; policy accept;"));
    CHECK(has(text, "elements = { 203.0.113.100/32 }"));
    CHECK(has(text, "ip daddr { 203.0.113.10 } tcp dport 443 tcp flags & (syn | ack) == syn ip "
                    "saddr != @allow0 drop"));
    CHECK(has(text, "elements = { 192.168.1.99/32 }"));
    CHECK(has(text, "ip daddr { 192.168.1.113 } tcp dport 443 tcp flags & (syn | ack) == syn ip "
                    "saddr != @allow1 drop"));
    // The NLB's IPv6 address: no IPv6 entry admits anyone there.
    CHECK(
        has(text, "ip6 daddr { 2001:db8::10 } tcp dport 443 tcp flags & (syn | ack) == syn drop"));
}

TEST_CASE("gate nft: a closed side drops every SYN; reset clusters are left to the gate") {
    const auto pub =
        horizon::control::gate_nft_ruleset({cluster(horizon::config::AccessMode::Public)}, "t");
    CHECK(has(pub, "ip daddr { 192.168.1.113 } tcp dport 443 tcp flags & (syn | ack) == syn drop"));
    const auto priv =
        horizon::control::gate_nft_ruleset({cluster(horizon::config::AccessMode::Private)}, "t");
    CHECK(has(priv, "ip daddr { 203.0.113.10 } tcp dport 443 tcp flags & (syn | ack) == syn drop"));
    auto reset = cluster(horizon::config::AccessMode::PublicPrivate);
    reset.api->deny = horizon::config::DenyAction::Reset;
    CHECK_FALSE(has(horizon::control::gate_nft_ruleset({reset}, "t"), "drop"));
}

TEST_CASE("gate nft: with vpc_egress_ip, in-VPC sources share the egress address's verdict") {
    auto c = cluster(horizon::config::AccessMode::PublicPrivate);
    c.api->vpc_egress_ip = *horizon::util::IpAddress::parse("203.0.113.100");
    CHECK(has(horizon::control::gate_nft_ruleset({c}, "t"),
              "elements = { 203.0.113.100/32, 192.168.0.0/16 }"));
    c.api->vpc_egress_ip = *horizon::util::IpAddress::parse("203.0.113.7");
    CHECK(has(horizon::control::gate_nft_ruleset({c}, "t"), "ip saddr { 192.168.0.0/16 } drop"));
}
