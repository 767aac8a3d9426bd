// [cluster.api] loader tests (defaults, every key, cross checks) and the connection decision
// (EKS-FACTS §2 "who may connect") table-driven over sides, modes and sources.
#include <string>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "control/api_access.hpp"

namespace {

using horizon::config::AccessMode;
using horizon::config::ClusterConfig;
using horizon::config::Config;
using horizon::config::DenyAction;
using horizon::control::ApiReason;
using horizon::control::ApiSide;
using horizon::util::Cidr;
using horizon::util::IpAddress;

std::string cluster_text(const std::string& api, const std::string& extra = "") {
    return "[server]\n"
           "listen = [\"127.0.0.1:1053\"]\n"
           "\n[[cluster]]\n"
           "name = \"aews\"\n"
           "region = \"ap-northeast-2\"\n"
           "vpc_cidrs = [\"192.168.0.0/16\", \"127.10.0.0/16\"]\n"
           "private_ips = [\"127.30.0.10\"]\n"
           "public_ips = [\"127.20.0.10\"]\n" +
           extra + api;
}

std::string errors_of(const horizon::config::LoadResult& r) {
    std::string out;
    if (const auto* diags = std::get_if<std::vector<horizon::config::Diagnostic>>(&r)) {
        for (const auto& d : *diags) {
            out += (out.empty() ? "" : "\n") + d.to_string();
        }
    }
    return out;
}

Config load(const std::string& text) {
    auto r = horizon::config::load(text, "t.toml");
    const std::string errors = errors_of(r);
    REQUIRE_MESSAGE(errors.empty(), errors);
    return std::get<Config>(std::move(r));
}

IpAddress ip(const char* t) {
    return IpAddress::parse(t).value();
}

Cidr cidr(const char* t) {
    return Cidr::parse(t).value();
}

} // namespace

TEST_CASE("[cluster.api] is optional; when present every key has its documented default") {
    CHECK_FALSE(load(cluster_text("")).clusters.front().api.has_value());
    const Config cfg = load(cluster_text("[cluster.api]\n"));
    const auto& api = cfg.clusters.front().api;
    REQUIRE(api.has_value());
    CHECK(api->port == 443);
    CHECK_FALSE(api->upstream.has_value());
    // EKS's cluster security group admits its members: here, the VPC.
    CHECK(api->security_group_ingress == cfg.clusters.front().vpc_cidrs);
    CHECK_FALSE(api->vpc_egress_ip.has_value());
    CHECK(api->deny == DenyAction::Drop);
    CHECK(api->hold_timeout == std::chrono::seconds(30));
    CHECK(api->max_connections == 512);
    CHECK(api->max_held == 256);
    CHECK(api->max_connections_per_source == 128);
    CHECK_FALSE(api->reset_on_update);
}

TEST_CASE("[cluster.api] reads every key") {
    const Config cfg = load(cluster_text("[cluster.api]\n"
                                         "port = 6443\n"
                                         "upstream = \"kind-control-plane:6443\"\n"
                                         "security_group_ingress = [\"127.10.0.0/24\"]\n"
                                         "vpc_egress_ip = \"127.0.0.9\"\n"
                                         "deny = \"reset\"\n"
                                         "hold_timeout = \"5s\"\n"
                                         "max_connections = 10\n"
                                         "max_held = 0\n"
                                         "max_connections_per_source = 3\n"
                                         "reset_on_update = true\n"));
    const auto& api = *cfg.clusters.front().api;
    CHECK(api.port == 6443);
    REQUIRE(api.upstream.has_value());
    CHECK(api.upstream->host == "kind-control-plane");
    CHECK(api.upstream->port == 6443);
    CHECK(api.security_group_ingress == std::vector{cidr("127.10.0.0/24")});
    CHECK(api.vpc_egress_ip == ip("127.0.0.9"));
    CHECK(api.deny == DenyAction::Reset);
    CHECK(api.hold_timeout == std::chrono::seconds(5));
    CHECK(api.max_connections == 10);
    CHECK(api.max_held == 0);
    CHECK(api.max_connections_per_source == 3);
    CHECK(api.reset_on_update);
}

TEST_CASE("upstream forms: IP:PORT, [IPv6]:PORT, HOST:PORT; \"\" = the built-in responder") {
    struct Case {
        const char* text;
        const char* host;
        uint16_t port;
        std::string shown;
    };

    for (const auto& c : {Case{"127.0.0.1:6443", "127.0.0.1", 6443, "127.0.0.1:6443"},
                          Case{"[::1]:443", "::1", 443, "[::1]:443"},
                          Case{"localhost:8080", "localhost", 8080, "localhost:8080"}}) {
        INFO(c.text);
        const Config cfg =
            load(cluster_text(std::string("[cluster.api]\nupstream = \"") + c.text + "\"\n"));
        const auto& up = cfg.clusters.front().api->upstream;
        REQUIRE(up.has_value());
        CHECK(up->host == c.host);
        CHECK(up->port == c.port);
        CHECK(up->to_string() == c.shown);
    }
    CHECK_FALSE(load(cluster_text("[cluster.api]\nupstream = \"\"\n"))
                    .clusters.front()
                    .api->upstream.has_value());
    for (const char* bad :
         {"localhost", ":443", "host:0", "host:65536", "ho st:1", "::1:443", "host:12x"}) {
        INFO(bad);
        const auto errors = errors_of(horizon::config::load(
            cluster_text(std::string("[cluster.api]\nupstream = \"") + bad + "\"\n"), "t.toml"));
        CHECK(errors.find("invalid upstream") != std::string::npos);
    }
}

TEST_CASE("[cluster.api] cross checks: one side per address, no shared socket") {
    const auto errors = [](const std::string& text) {
        return errors_of(horizon::config::load(text, "t.toml"));
    };
    CHECK(errors(cluster_text("[cluster.api]\n", "")).empty());
    // The same address on both sides: a connection's side would be unknown.
    CHECK(errors("[server]\nlisten = [\"127.0.0.1:1053\"]\n[[cluster]]\nname = \"a\"\n"
                 "region = \"r\"\nvpc_cidrs = [\"10.0.0.0/8\"]\nprivate_ips = [\"127.9.0.1\"]\n"
                 "public_ips = [\"127.9.0.1\"]\n[cluster.api]\n") ==
          "t.toml:9:1: error: address '127.9.0.1' is in both public_ips and private_ips; the API "
          "endpoint tells the sides apart by the address a connection arrives on");
    // An API address on the DNS listener's or the admin listener's TCP port.
    CHECK(errors(cluster_text("[cluster.api]\nport = 1053\n", "")).empty()); // other addresses
    CHECK(errors("[server]\nlisten = [\"0.0.0.0:1053\"]\n[[cluster]]\nname = \"a\"\n"
                 "region = \"r\"\nvpc_cidrs = [\"10.0.0.0/8\"]\nprivate_ips = [\"127.9.0.1\"]\n"
                 "public_ips = [\"127.9.0.2\"]\n[cluster.api]\nport = 1053\n") ==
          "t.toml:10:8: error: API endpoint address 127.9.0.2:1053 clashes with the DNS listen "
          "address '0.0.0.0:1053' (both need TCP port 1053)");
    CHECK(errors("[server]\nlisten = [\"127.0.0.1:1053\"]\nadmin_listen = \"127.9.0.1:8053\"\n"
                 "[[cluster]]\nname = \"a\"\nregion = \"r\"\nvpc_cidrs = [\"10.0.0.0/8\"]\n"
                 "private_ips = [\"127.9.0.1\"]\npublic_ips = [\"127.9.0.2\"]\n[cluster.api]\n"
                 "port = 8053\n") ==
          "t.toml:11:8: error: API endpoint address 127.9.0.1:8053 clashes with admin_listen "
          "'127.9.0.1:8053' (both need TCP port 8053)");
    // Two clusters on one address and port.
    CHECK(errors("[server]\nlisten = [\"127.0.0.1:1053\"]\n"
                 "[[cluster]]\nname = \"a\"\nregion = \"r\"\nvpc_cidrs = [\"10.0.0.0/8\"]\n"
                 "private_ips = [\"127.9.0.1\"]\npublic_ips = [\"127.9.0.2\"]\n[cluster.api]\n"
                 "[[cluster]]\nname = \"b\"\nregion = \"r\"\nvpc_cidrs = [\"10.0.0.0/8\"]\n"
                 "private_ips = [\"127.9.0.3\"]\npublic_ips = [\"127.9.0.2\"]\n[cluster.api]\n") ==
          "t.toml:16:1: error: API endpoint address 127.9.0.2:443 is also one of cluster 'a' "
          "(line 3); give the clusters different addresses or ports");
}

// ------------------------------------------------------------------------------------------------
// The decision

namespace {

ClusterConfig lab_cluster(AccessMode mode) {
    Config cfg = load(cluster_text("[cluster.api]\n"
                                   "security_group_ingress = [\"127.10.0.0/24\"]\n"
                                   "vpc_egress_ip = \"127.0.0.9\"\n",
                                   "vpc_exclude_cidrs = [\"127.10.9.0/24\"]\n"
                                   "public_access_cidrs = [\"127.0.0.0/24\"]\n"));
    ClusterConfig c = cfg.clusters.front();
    c.access_mode = mode;
    return c;
}

} // namespace

TEST_CASE("who may connect, per side, access mode and source (EKS-FACTS §2)") {
    struct Case {
        AccessMode mode;
        ApiSide side;
        const char* source;
        ApiReason expected;
    };

    constexpr auto P = AccessMode::Public;
    constexpr auto PP = AccessMode::PublicPrivate;
    constexpr auto V = AccessMode::Private;
    constexpr auto Pub = ApiSide::Public;
    constexpr auto Priv = ApiSide::Private;
    // 127.0.0.5: outside, in publicAccessCidrs. 127.1.0.5: outside, not in it.
    // 127.10.0.5: in the VPC and the security group; seen as 127.0.0.9 on the public side.
    // 127.10.1.5: in the VPC, not in the security group. 127.10.9.5: excluded from the VPC.
    const Case cases[] = {
        {P, Pub, "127.0.0.5", ApiReason::Allowed},
        {P, Pub, "127.1.0.5", ApiReason::PublicAccessCidrs},
        {P, Pub, "127.10.0.5", ApiReason::Allowed}, // via the NAT 127.0.0.9
        {P, Priv, "127.10.0.5", ApiReason::PrivateAccessDisabled},
        {PP, Pub, "127.0.0.5", ApiReason::Allowed},
        {PP, Pub, "127.1.0.5", ApiReason::PublicAccessCidrs},
        {PP, Priv, "127.10.0.5", ApiReason::Allowed},
        {PP, Priv, "127.10.1.5", ApiReason::SecurityGroup}, // a bastion without a rule
        {PP, Priv, "127.0.0.5", ApiReason::SecurityGroup},  // publicAccessCidrs do not count
        {V, Pub, "127.0.0.5", ApiReason::PublicAccessDisabled},
        {V, Priv, "127.10.0.5", ApiReason::Allowed},
        {V, Priv, "127.1.0.5", ApiReason::SecurityGroup},
        {PP, Pub, "::ffff:127.0.0.5", ApiReason::Allowed}, // IPv4-mapped counts as IPv4
        {PP, Pub, "::1", ApiReason::PublicAccessCidrs},
    };
    for (const auto& c : cases) {
        INFO(horizon::config::to_string(c.mode), " ", horizon::control::to_string(c.side), " ",
             c.source);
        const ClusterConfig cluster = lab_cluster(c.mode);
        const auto d = horizon::control::decide_api_connection(cluster, c.side, ip(c.source));
        CHECK(horizon::control::to_string(d.reason) == horizon::control::to_string(c.expected));
    }
}

TEST_CASE("vpc_egress_ip: an in-VPC source is seen as the NAT's address on the public side") {
    ClusterConfig c = lab_cluster(AccessMode::Public);
    c.public_access_cidrs = {cidr("203.0.113.5/32")}; // the lab's own IP only: nodes locked out
    const auto node = horizon::control::decide_api_connection(c, ApiSide::Public, ip("127.10.0.5"));
    CHECK(node.reason == ApiReason::PublicAccessCidrs);
    CHECK(node.seen_as == ip("127.0.0.9"));
    CHECK(node.explain(ApiSide::Public, ip("127.10.0.5")) ==
          "denied: 127.10.0.5 (seen as 127.0.0.9, vpc_egress_ip) is not in publicAccessCidrs");
    c.public_access_cidrs.push_back(cidr("127.0.0.9/32"));
    const auto fixed =
        horizon::control::decide_api_connection(c, ApiSide::Public, ip("127.10.0.5"));
    CHECK(fixed.allowed());
    // A source excluded from the VPC is outside: it is seen as itself.
    const auto excluded =
        horizon::control::decide_api_connection(c, ApiSide::Public, ip("127.10.9.5"));
    CHECK(excluded.seen_as == ip("127.10.9.5"));
    CHECK(horizon::control::in_vpc(c, ip("127.10.0.5")));
    CHECK_FALSE(horizon::control::in_vpc(c, ip("127.10.9.5")));
    CHECK_FALSE(horizon::control::in_vpc(c, ip("127.0.0.5")));
}

TEST_CASE("the decision explains itself") {
    const ClusterConfig c = lab_cluster(AccessMode::PublicPrivate);
    const auto ok = horizon::control::decide_api_connection(c, ApiSide::Private, ip("127.10.0.5"));
    CHECK(ok.explain(ApiSide::Private, ip("127.10.0.5")) ==
          "allowed: 127.10.0.5 is in the cluster security group's rule 127.10.0.0/24");
    const auto no = horizon::control::decide_api_connection(c, ApiSide::Private, ip("127.10.1.5"));
    CHECK(no.explain(ApiSide::Private, ip("127.10.1.5")) ==
          "denied: no rule of the cluster security group admits 127.10.1.5 on TCP");
    ClusterConfig gone = c;
    gone.api.reset();
    CHECK(horizon::control::decide_api_connection(gone, ApiSide::Public, ip("127.0.0.5")).reason ==
          ApiReason::NoApi);
}
