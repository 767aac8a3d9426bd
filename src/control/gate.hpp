// The API endpoint's gate: what happens to one connection (accept, hold, reset) and why, from the
// cluster's access rules, the side it arrived on, its source and the endpoint's load. Pure: the
// libuv endpoint (server/api_endpoint) and horizon-sim ask the same function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "control/api_access.hpp"
#include "dns/snapshot.hpp"

namespace horizon::control {

enum class GateAction : uint8_t {
    Accept, ///< open it: proxy to the upstream or answer with the built-in responder
    Hold,   ///< keep it open and silent (deny = "drop"): the client times out, as when a
            ///< security group drops its SYN; reset after hold_timeout
    Reset,  ///< close it with a RST
    Keep,   ///< (after an update) leave it as it is
};

/// "accept", "hold", "reset", "keep".
std::string_view to_string(GateAction a);

enum class GateReason : uint8_t {
    Allowed,            ///< the access rules admit it
    AllowedAfterUpdate, ///< held, and the new configuration admits it: it goes through
    ConnectionLimit,    ///< admitted, but max_connections are open on this side
    SourceLimit,        ///< admitted, or denied with deny = "drop", but its source has
                        ///< max_connections_per_source open or held on this side
    Deny,               ///< denied, and deny = "reset" (or the cluster has no [cluster.api])
    Drop,               ///< denied, and deny = "drop": held
    HoldLimit,          ///< denied, deny = "drop", but max_held connections are held on this side
    Update,             ///< open, the new configuration denies it, and reset_on_update is on
    Unchanged,          ///< after an update: nothing to do
};

/// "allowed", "allowed_after_update", "connection_limit", "source_limit", "deny", "drop",
/// "hold_limit", "update", "unchanged".
std::string_view to_string(GateReason r);

/// The endpoint's load at the moment it decides. Every number is of one cluster and one side:
/// each side (the public NLB, the private ENIs) has its own budget, so a flood on one side never
/// changes what the other side does.
struct GateLoad {
    unsigned open = 0;        ///< connections open (accepted)
    unsigned held = 0;        ///< connections held
    unsigned from_source = 0; ///< connections open or held from the request's source
                              ///< (util::source_key: its IPv4 address or IPv6 /64)
};

/// One connection as the gate sees it.
struct GateRequest {
    ApiSide side = ApiSide::Public;
    util::IpAddress source; ///< as the endpoint's socket sees it
    /// Its ENI is in the cluster security group, whose own rule admits members (horizon-sim
    /// knows this of its nodes; a socket never does, so the endpoint leaves it false).
    bool security_group_member = false;
};

/// The rules the gate reads: a cluster's effective configuration and its VPC trie.
struct GateRules {
    const config::ClusterConfig* cfg = nullptr; ///< null: the cluster is gone (a reload)
    const dns::VpcTrie* vpc = nullptr;          ///< null: built from cfg when needed

    /// The rules DNS answers from: an update flips both at the same moment.
    static GateRules of(const dns::Cluster* c) {
        return c != nullptr ? GateRules{&c->cfg, &c->vpc} : GateRules{};
    }
};

struct GateDecision {
    GateAction action = GateAction::Reset;
    GateReason reason = GateReason::Deny;
    ApiDecision access; ///< what the access rules said (their reason, seen_as, the entry)

    /// horizon_api_connections_total's "outcome/reason" label: "accepted/allowed",
    /// "accepted/allowed_after_update", "denied/connection_limit", "denied/source_limit" (for an
    /// admitted one), "denied/<ApiReason>"; "" when the decision is not counted there (an update
    /// that keeps or resets).
    [[nodiscard]] std::string connections_label() const;
    /// horizon_api_resets_total's reason for a Reset not counted as denied/connection_limit or
    /// denied/source_limit: "deny", "hold_limit", "source_limit" (a denied one), "update"; ""
    /// otherwise.
    [[nodiscard]] std::string_view reset_label() const;
    /// The log line after "<peer> -> <local> (<cluster> <side>): ", e.g. "denied: 127.1.0.5 is
    /// not in publicAccessCidrs: dropped (held silent for up to 30000 ms)". `rules` as decided.
    [[nodiscard]] std::string explain(const GateRequest& r, const GateRules& rules) const;
};

/// A new connection, at accept (every limit counts its cluster's side only):
///   admitted by the access rules: Accept, unless its source has max_connections_per_source
///   open or held (Reset, SourceLimit) or max_connections are open (Reset, ConnectionLimit);
///   denied: with deny = "drop", Hold unless its source has max_connections_per_source (Reset,
///   SourceLimit) or max_held are held (Reset, HoldLimit); with deny = "reset" or no
///   [cluster.api], Reset (Deny).
GateDecision gate_accept(const GateRules& rules, const GateRequest& r, GateLoad load);

/// A connection already `held` or open, when a new configuration is published: a held one the
/// rules now admit is accepted (AllowedAfterUpdate), unless max_connections are open (it waits:
/// Keep; it counts against max_connections_per_source already); an open one they now deny is reset
/// (Update) with the cluster's reset_on_update or `reset_on_update_flag` (horizond
/// --reset-on-update, for every cluster). Anything else, and a cluster gone or without
/// [cluster.api], is Keep (Unchanged).
GateDecision gate_update(const GateRules& rules, const GateRequest& r, bool held, GateLoad load,
                         bool reset_on_update_flag);

} // namespace horizon::control
