// The API endpoint's gate (control/gate.hpp), table-driven: access mode x side x source in or out
// of publicAccessCidrs x a security group rule or none -> accept, hold or reset and why; the
// limits; what an update does to held and open connections; the log lines and metric labels.
// And "inside the VPC" asked through control and through a DNS snapshot: one trie, one answer.
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "control/api_access.hpp"
#include "control/gate.hpp"
#include "dns/snapshot.hpp"

namespace {

using horizon::config::AccessMode;
using horizon::config::ClusterConfig;
using horizon::config::Config;
using horizon::config::DenyAction;
using horizon::control::ApiReason;
using horizon::control::ApiSide;
using horizon::control::GateAction;
using horizon::control::GateDecision;
using horizon::control::GateLoad;
using horizon::control::GateReason;
using horizon::control::GateRequest;
using horizon::control::GateRules;
using horizon::util::Cidr;
using horizon::util::IpAddress;

Config load(const std::string& text) {
    auto r = horizon::config::load(text, "t.toml");
    if (const auto* d = std::get_if<std::vector<horizon::config::Diagnostic>>(&r)) {
        FAIL(d->front().to_string());
    }
    return std::get<Config>(std::move(r));
}

IpAddress ip(const char* t) {
    return IpAddress::parse(t).value();
}

Cidr cidr(const char* t) {
    return Cidr::parse(t).value();
}

/// publicAccessCidrs 127.0.0.0/24; the security group admits 192.168.7.0/24, and the source
/// itself when `rule`; deny as given; max_connections 4, max_held 2, max_connections_per_source 3.
ClusterConfig gate_cluster(AccessMode mode, const char* source, bool rule,
                           DenyAction deny = DenyAction::Drop) {
    Config cfg = load("[server]\n"
                      "listen = [\"127.0.0.1:1053\"]\n"
                      "\n[[cluster]]\n"
                      "name = \"aews\"\n"
                      "region = \"ap-northeast-2\"\n"
                      "vpc_cidrs = [\"192.168.0.0/16\", \"127.10.0.0/16\"]\n"
                      "private_ips = [\"127.30.0.10\"]\n"
                      "public_ips = [\"127.20.0.10\"]\n"
                      "public_access_cidrs = [\"127.0.0.0/24\"]\n"
                      "[cluster.api]\n"
                      "max_connections = 4\n"
                      "max_held = 2\n"
                      "max_connections_per_source = 3\n"
                      "hold_timeout = \"5s\"\n");
    ClusterConfig c = cfg.clusters.front();
    c.access_mode = mode;
    c.api->deny = deny;
    c.api->security_group_ingress = {cidr("192.168.7.0/24")};
    if (rule) {
        c.api->security_group_ingress.push_back(Cidr{ip(source), 32});
    }
    return c;
}

GateDecision accept(const ClusterConfig& c, ApiSide side, const char* source, GateLoad load = {}) {
    return horizon::control::gate_accept(GateRules{&c, nullptr}, GateRequest{side, ip(source)},
                                         load);
}

} // namespace

TEST_CASE("gate: mode x side x allowlist x security group rule -> accept, hold or reset") {
    struct Case {
        AccessMode mode;
        ApiSide side;
        bool allowlisted; ///< the source is in publicAccessCidrs
        bool rule;        ///< a security group rule admits the source
        ApiReason access;
    };

    constexpr auto P = AccessMode::Public;
    constexpr auto PP = AccessMode::PublicPrivate;
    constexpr auto V = AccessMode::Private;
    constexpr auto Pub = ApiSide::Public;
    constexpr auto Priv = ApiSide::Private;
    constexpr auto Ok = ApiReason::Allowed;
    constexpr auto Cidrs = ApiReason::PublicAccessCidrs;
    constexpr auto Sg = ApiReason::SecurityGroup;
    constexpr auto PubOff = ApiReason::PublicAccessDisabled;
    constexpr auto PrivOff = ApiReason::PrivateAccessDisabled;
    // The public side reads only publicAccessCidrs, the private side only the security group.
    const Case cases[] = {
        {P, Pub, true, true, Ok},        {P, Pub, true, false, Ok},
        {P, Pub, false, true, Cidrs},    {P, Pub, false, false, Cidrs},
        {P, Priv, true, true, PrivOff},  {P, Priv, true, false, PrivOff},
        {P, Priv, false, true, PrivOff}, {P, Priv, false, false, PrivOff},
        {PP, Pub, true, true, Ok},       {PP, Pub, true, false, Ok},
        {PP, Pub, false, true, Cidrs},   {PP, Pub, false, false, Cidrs},
        {PP, Priv, true, true, Ok},      {PP, Priv, true, false, Sg},
        {PP, Priv, false, true, Ok},     {PP, Priv, false, false, Sg},
        {V, Pub, true, true, PubOff},    {V, Pub, true, false, PubOff},
        {V, Pub, false, true, PubOff},   {V, Pub, false, false, PubOff},
        {V, Priv, true, true, Ok},       {V, Priv, true, false, Sg},
        {V, Priv, false, true, Ok},      {V, Priv, false, false, Sg},
    };
    for (const auto& c : cases) {
        const char* source = c.allowlisted ? "127.0.0.5" : "127.1.0.5";
        INFO(horizon::config::to_string(c.mode), " ", horizon::control::to_string(c.side), " ",
             source, c.rule ? " with a rule" : " without a rule");
        for (const auto deny : {DenyAction::Drop, DenyAction::Reset}) {
            INFO("deny ", horizon::config::to_string(deny));
            const auto cfg = gate_cluster(c.mode, source, c.rule, deny);
            const auto g = accept(cfg, c.side, source);
            CHECK(horizon::control::to_string(g.access.reason) ==
                  horizon::control::to_string(c.access));
            if (c.access == ApiReason::Allowed) {
                CHECK(g.action == GateAction::Accept);
                CHECK(g.reason == GateReason::Allowed);
                CHECK(g.connections_label() == "accepted/allowed");
                CHECK(g.reset_label().empty());
            } else if (deny == DenyAction::Drop) {
                CHECK(g.action == GateAction::Hold);
                CHECK(g.reason == GateReason::Drop);
                CHECK(g.connections_label() ==
                      "denied/" + std::string(horizon::control::to_string(c.access)));
                CHECK(g.reset_label().empty());
            } else {
                CHECK(g.action == GateAction::Reset);
                CHECK(g.reason == GateReason::Deny);
                CHECK(g.reset_label() == "deny");
            }
        }
    }
}

TEST_CASE("gate: max_connections and max_held") {
    const auto c = gate_cluster(AccessMode::PublicPrivate, "127.0.0.5", false);
    // Admitted, but four are open on this side: reset, counted as denied, not as a reset.
    const auto full = accept(c, ApiSide::Public, "127.0.0.5", GateLoad{4, 0});
    CHECK(full.action == GateAction::Reset);
    CHECK(full.reason == GateReason::ConnectionLimit);
    CHECK(full.connections_label() == "denied/connection_limit");
    CHECK(full.reset_label().empty());
    CHECK(accept(c, ApiSide::Public, "127.0.0.5", GateLoad{3, 2}).action == GateAction::Accept);
    // Denied with deny = "drop": held while fewer than max_held are, then reset.
    CHECK(accept(c, ApiSide::Public, "127.1.0.5", GateLoad{4, 1}).action == GateAction::Hold);
    const auto held_full = accept(c, ApiSide::Public, "127.1.0.5", GateLoad{0, 2});
    CHECK(held_full.action == GateAction::Reset);
    CHECK(held_full.reason == GateReason::HoldLimit);
    CHECK(held_full.connections_label() == "denied/public_access_cidrs");
    CHECK(held_full.reset_label() == "hold_limit");
    auto none = c;
    none.api->max_held = 0;
    CHECK(accept(none, ApiSide::Public, "127.1.0.5").reason == GateReason::HoldLimit);
}

TEST_CASE("gate: max_connections_per_source, before the side's own limits") {
    const auto c = gate_cluster(AccessMode::PublicPrivate, "127.0.0.5", false);
    // Admitted: accepted while its source has fewer than 3 on this side, whatever the others.
    CHECK(accept(c, ApiSide::Public, "127.0.0.5", GateLoad{3, 0, 2}).action == GateAction::Accept);
    const auto capped = accept(c, ApiSide::Public, "127.0.0.5", GateLoad{1, 0, 3});
    CHECK(capped.action == GateAction::Reset);
    CHECK(capped.reason == GateReason::SourceLimit);
    CHECK(capped.connections_label() == "denied/source_limit");
    CHECK(capped.reset_label().empty()); // counted once, as denied/connection_limit is
    // Both full: the source's own cap is the reason (it is the one holding the slots).
    CHECK(accept(c, ApiSide::Public, "127.0.0.5", GateLoad{4, 0, 3}).reason ==
          GateReason::SourceLimit);
    CHECK(accept(c, ApiSide::Public, "127.0.0.5", GateLoad{4, 0, 2}).reason ==
          GateReason::ConnectionLimit);
    // Denied with deny = "drop": held while its source has fewer than 3, then reset.
    CHECK(accept(c, ApiSide::Public, "127.1.0.5", GateLoad{0, 1, 2}).action == GateAction::Hold);
    const auto held = accept(c, ApiSide::Public, "127.1.0.5", GateLoad{0, 1, 3});
    CHECK(held.action == GateAction::Reset);
    CHECK(held.reason == GateReason::SourceLimit);
    CHECK(held.connections_label() == "denied/public_access_cidrs");
    CHECK(held.reset_label() == "source_limit");
    CHECK(accept(c, ApiSide::Public, "127.1.0.5", GateLoad{0, 2, 3}).reason ==
          GateReason::SourceLimit);
    // Denied with deny = "reset": reset anyway, as denied.
    const auto r = gate_cluster(AccessMode::PublicPrivate, "127.0.0.5", false, DenyAction::Reset);
    CHECK(accept(r, ApiSide::Public, "127.1.0.5", GateLoad{0, 0, 3}).reason == GateReason::Deny);
    // After an update a held connection that goes through counts against its source already:
    // only max_connections holds it back.
    const GateRequest in{ApiSide::Public, ip("127.0.0.5")};
    CHECK(horizon::control::gate_update(GateRules{&c, nullptr}, in, true, GateLoad{3, 1, 3}, false)
              .action == GateAction::Accept);
}

TEST_CASE("gate: a cluster gone or without [cluster.api] resets") {
    const GateRequest r{ApiSide::Public, ip("::ffff:127.0.0.5")};
    const auto gone = horizon::control::gate_accept(GateRules{}, r, {});
    CHECK(gone.action == GateAction::Reset);
    CHECK(gone.reason == GateReason::Deny);
    CHECK(gone.access.reason == ApiReason::NoApi);
    CHECK(gone.access.seen_as == ip("127.0.0.5"));
    CHECK(gone.connections_label() == "denied/no_api");
    CHECK(gone.reset_label() == "deny");
    auto bare = gate_cluster(AccessMode::PublicPrivate, "127.0.0.5", true);
    bare.api.reset();
    CHECK(horizon::control::gate_accept(GateRules{&bare, nullptr}, r, {}).reason ==
          GateReason::Deny);
    // After an update such a cluster's connections are left alone.
    CHECK(horizon::control::gate_update(GateRules{}, r, false, {}, true).action ==
          GateAction::Keep);
    CHECK(horizon::control::gate_update(GateRules{&bare, nullptr}, r, true, {}, true).action ==
          GateAction::Keep);
}

TEST_CASE("gate: after an update, held ones the rules admit go through; denied open ones reset") {
    struct Case {
        const char* source; ///< 127.0.0.5 admitted, 127.1.0.5 denied (public side)
        bool held;
        bool cluster_reset; ///< [cluster.api] reset_on_update
        bool flag;          ///< horizond --reset-on-update
        unsigned open;
        GateAction action;
        GateReason reason;
    };

    const Case cases[] = {
        {"127.0.0.5", true, false, false, 0, GateAction::Accept, GateReason::AllowedAfterUpdate},
        {"127.0.0.5", true, false, false, 4, GateAction::Keep, GateReason::Unchanged}, // waits
        {"127.1.0.5", true, true, true, 0, GateAction::Keep, GateReason::Unchanged},   // stays held
        {"127.0.0.5", false, true, true, 0, GateAction::Keep, GateReason::Unchanged},
        {"127.1.0.5", false, false, false, 0, GateAction::Keep, GateReason::Unchanged},
        {"127.1.0.5", false, true, false, 0, GateAction::Reset, GateReason::Update},
        {"127.1.0.5", false, false, true, 0, GateAction::Reset, GateReason::Update},
    };
    for (const auto& c : cases) {
        INFO(c.source, c.held ? " held" : " open", " reset_on_update ", c.cluster_reset, " flag ",
             c.flag, " open ", c.open);
        auto cfg = gate_cluster(AccessMode::PublicPrivate, c.source, false);
        cfg.api->reset_on_update = c.cluster_reset;
        const auto g = horizon::control::gate_update(GateRules{&cfg, nullptr},
                                                     GateRequest{ApiSide::Public, ip(c.source)},
                                                     c.held, GateLoad{c.open, 1}, c.flag);
        CHECK(horizon::control::to_string(g.action) == horizon::control::to_string(c.action));
        CHECK(horizon::control::to_string(g.reason) == horizon::control::to_string(c.reason));
    }
    auto cfg = gate_cluster(AccessMode::PublicPrivate, "127.0.0.5", false);
    const GateRequest r{ApiSide::Public, ip("127.0.0.5")};
    const auto through =
        horizon::control::gate_update(GateRules{&cfg, nullptr}, r, true, {}, false);
    CHECK(through.connections_label() == "accepted/allowed_after_update");
    const GateRequest denied{ApiSide::Public, ip("127.1.0.5")};
    const auto reset =
        horizon::control::gate_update(GateRules{&cfg, nullptr}, denied, false, {}, true);
    CHECK(reset.connections_label().empty());
    CHECK(reset.reset_label() == "update");
}

TEST_CASE("gate: the log lines say what happened and why") {
    const auto c = gate_cluster(AccessMode::PublicPrivate, "127.0.0.5", false);
    const GateRules rules{&c, nullptr};
    const auto line = [&](const char* source, GateLoad load = {}) {
        const GateRequest r{ApiSide::Public, ip(source)};
        return horizon::control::gate_accept(rules, r, load).explain(r, rules);
    };
    CHECK(line("127.0.0.5") == "allowed: 127.0.0.5 is in publicAccessCidrs 127.0.0.0/24");
    CHECK(line("127.0.0.5", {4, 0}) == "allowed: 127.0.0.5 is in publicAccessCidrs 127.0.0.0/24, "
                                       "but max_connections (4) are open: reset");
    CHECK(line("127.1.0.5") == "denied: 127.1.0.5 is not in publicAccessCidrs: dropped (held "
                               "silent for up to 5000 ms)");
    CHECK(line("127.1.0.5", {0, 2}) == "denied: 127.1.0.5 is not in publicAccessCidrs: reset "
                                       "(max_held connections are held on this side already)");
    CHECK(line("127.0.0.5", {0, 0, 3}) ==
          "allowed: 127.0.0.5 is in publicAccessCidrs 127.0.0.0/24, but 127.0.0.5 has "
          "max_connections_per_source (3) connections on this side: reset");
    CHECK(line("127.1.0.5", {0, 0, 3}) ==
          "denied: 127.1.0.5 is not in publicAccessCidrs: reset (127.1.0.5 has "
          "max_connections_per_source (3) connections on this side)");
    auto r = c;
    r.api->deny = DenyAction::Reset;
    const GateRules reset_rules{&r, nullptr};
    const GateRequest out{ApiSide::Public, ip("127.1.0.5")};
    CHECK(horizon::control::gate_accept(reset_rules, out, {}).explain(out, reset_rules) ==
          "denied: 127.1.0.5 is not in publicAccessCidrs: reset");
    const auto up = horizon::control::gate_update(reset_rules, out, false, {}, true);
    CHECK(up.explain(out, reset_rules) ==
          "denied: 127.1.0.5 is not in publicAccessCidrs after an update: reset (reset_on_update)");
    const GateRequest in{ApiSide::Public, ip("127.0.0.5")};
    CHECK(horizon::control::gate_update(rules, in, true, {}, false).explain(in, rules) ==
          "allowed: 127.0.0.5 is in publicAccessCidrs 127.0.0.0/24 after an update: the held "
          "connection goes through");
}

TEST_CASE("gate: a member of the cluster security group is admitted on the private side") {
    // horizon-sim's nodes: EKS's default group admits its own members, whatever the rules.
    const auto c = gate_cluster(AccessMode::Private, "127.10.0.5", false);
    const GateRules rules{&c, nullptr};
    const GateRequest member{ApiSide::Private, ip("127.10.0.5"), true};
    const auto g = horizon::control::gate_accept(rules, member, {});
    CHECK(g.action == GateAction::Accept);
    CHECK(g.explain(member, rules) ==
          "allowed: 127.10.0.5 is a member of the cluster security group");
    CHECK(horizon::control::gate_accept(rules, GateRequest{ApiSide::Private, ip("127.10.0.5")}, {})
              .access.reason == ApiReason::SecurityGroup);
    const auto pub = gate_cluster(AccessMode::Public, "127.10.0.5", false);
    CHECK(horizon::control::gate_accept(GateRules{&pub, nullptr}, member, {}).access.reason ==
          ApiReason::PrivateAccessDisabled);
}

// ------------------------------------------------------------------------------------------------
// Inside the VPC: one trie

namespace {

/// The linear scan control/api_access.cpp had before it asked the trie: a reference to show the
/// behaviour did not change.
bool linear_in_vpc(const ClusterConfig& c, const IpAddress& source) {
    const IpAddress a = source.unmapped();
    const auto longest = [&](const std::vector<Cidr>& list) {
        const Cidr* best = nullptr;
        for (const auto& p : list) {
            if (p.addr.family == a.family && p.contains(a) &&
                (best == nullptr || p.len > best->len)) {
                best = &p;
            }
        }
        return best;
    };
    const Cidr* inside = longest(c.vpc_cidrs);
    if (inside == nullptr) {
        return false;
    }
    const Cidr* outside = longest(c.vpc_exclude_cidrs);
    return outside == nullptr || outside->len < inside->len;
}

} // namespace

TEST_CASE("inside the VPC: control and a DNS snapshot agree on overlapping prefixes") {
    // Nested and equal prefixes in both lists, IPv4 and IPv6; an exclude equal to a vpc_cidrs
    // entry wins.
    Config cfg = load("[server]\n"
                      "listen = [\"127.0.0.1:1053\"]\n"
                      "\n[[cluster]]\n"
                      "name = \"aews\"\n"
                      "region = \"ap-northeast-2\"\n"
                      "vpc_cidrs = [\"10.0.0.0/8\", \"10.1.2.0/24\", \"10.9.0.0/16\", "
                      "\"fd00::/8\", \"fd00:1:2::/48\"]\n"
                      "vpc_exclude_cidrs = [\"10.1.0.0/16\", \"10.1.2.3/32\", \"10.9.0.0/16\", "
                      "\"fd00:1::/32\", \"fd00:1:2:3::/64\"]\n"
                      "private_ips = [\"127.30.0.10\"]\n"
                      "public_ips = [\"127.20.0.10\"]\n");
    const ClusterConfig& c = cfg.clusters.front();
    const auto snap = horizon::dns::build_snapshot(cfg, 1);
    const horizon::dns::Cluster& dns = snap->clusters.front();

    struct Case {
        const char* source;
        bool inside;
    };

    const Case cases[] = {
        {"10.0.0.1", true},
        {"10.1.0.1", false},
        {"10.1.2.4", true},
        {"10.1.2.3", false},
        {"10.9.0.1", false},
        {"11.0.0.1", false},
        {"::ffff:10.1.2.4", true},
        {"::ffff:10.1.2.3", false},
        {"::ffff:10.0.0.1", true},
        {"fd00::1", true},
        {"fd00:1::1", false},
        {"fd00:1:2::1", true},
        {"fd00:1:2:3::1", false},
        {"fd01::1", true},
        {"fe80::1", false},
        {"::ffff:fd00:0:0", false},
        {"::1", false},
    };
    for (const auto& k : cases) {
        INFO(k.source);
        const IpAddress a = ip(k.source);
        CHECK(horizon::control::in_vpc(c, a) == k.inside);
        CHECK(horizon::control::in_vpc(dns.vpc, a) == k.inside);
        CHECK(dns.decide(a).inside == k.inside);
        CHECK(linear_in_vpc(c, a) == k.inside);
    }
    // And everywhere near the boundaries: random addresses inside each prefix's neighbourhood.
    std::mt19937 rng(12);
    std::vector<Cidr> all = c.vpc_cidrs;
    all.insert(all.end(), c.vpc_exclude_cidrs.begin(), c.vpc_exclude_cidrs.end());
    for (int i = 0; i < 4000; ++i) {
        const Cidr& p = all[rng() % all.size()];
        IpAddress a = p.addr;
        const unsigned keep = p.len > 4 ? p.len - 4 : 0; // flip bits from just above the prefix
        for (unsigned b = keep; b < a.bits(); ++b) {
            if ((rng() & 1U) != 0) {
                a.bytes[b / 8] ^= static_cast<uint8_t>(0x80U >> (b % 8));
            }
        }
        INFO(a.to_string());
        const bool expected = linear_in_vpc(c, a);
        REQUIRE(horizon::control::in_vpc(c, a) == expected);
        REQUIRE(dns.decide(a).inside == expected);
        if (a.is_v4()) {
            const IpAddress mapped = ip(("::ffff:" + a.to_string()).c_str());
            REQUIRE(horizon::control::in_vpc(dns.vpc, mapped) == expected);
        }
    }
}
