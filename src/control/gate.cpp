// The API endpoint's gate: accept, hold or reset, and why (see gate.hpp).
#include "control/gate.hpp"

#include <fmt/format.h>

namespace horizon::control {

std::string_view to_string(GateAction a) {
    switch (a) {
    case GateAction::Accept:
        return "accept";
    case GateAction::Hold:
        return "hold";
    case GateAction::Reset:
        return "reset";
    case GateAction::Keep:
        return "keep";
    }
    return "?";
}

std::string_view to_string(GateReason r) {
    switch (r) {
    case GateReason::Allowed:
        return "allowed";
    case GateReason::AllowedAfterUpdate:
        return "allowed_after_update";
    case GateReason::ConnectionLimit:
        return "connection_limit";
    case GateReason::SourceLimit:
        return "source_limit";
    case GateReason::Deny:
        return "deny";
    case GateReason::Drop:
        return "drop";
    case GateReason::HoldLimit:
        return "hold_limit";
    case GateReason::Update:
        return "update";
    case GateReason::Unchanged:
        return "unchanged";
    }
    return "?";
}

namespace {

ApiDecision access_of(const GateRules& rules, const GateRequest& r) {
    if (rules.cfg == nullptr) {
        return ApiDecision{ApiReason::NoApi, r.source.unmapped()};
    }
    return decide_api_connection(*rules.cfg, r.side, r.source, rules.vpc, r.security_group_member);
}

} // namespace

GateDecision gate_accept(const GateRules& rules, const GateRequest& r, GateLoad load) {
    GateDecision g;
    g.access = access_of(rules, r);
    // The source's own cap comes first: one client must not take every slot of its side (an NLB
    // or a security group never runs out for the others because of one client).
    if (g.access.allowed()) {
        // allowed() implies [cluster.api]: decide_api_connection says NoApi without it.
        const config::ApiConfig& api = *rules.cfg->api;
        g.action = GateAction::Reset;
        if (load.from_source >= api.max_connections_per_source) {
            g.reason = GateReason::SourceLimit;
        } else if (load.open >= api.max_connections) {
            g.reason = GateReason::ConnectionLimit;
        } else {
            g.action = GateAction::Accept;
            g.reason = GateReason::Allowed;
        }
        return g;
    }
    const bool drop =
        rules.cfg != nullptr && rules.cfg->api && rules.cfg->api->deny == config::DenyAction::Drop;
    g.action = GateAction::Reset;
    if (!drop) {
        g.reason = GateReason::Deny;
    } else if (load.from_source >= rules.cfg->api->max_connections_per_source) {
        g.reason = GateReason::SourceLimit;
    } else if (load.held >= rules.cfg->api->max_held) {
        g.reason = GateReason::HoldLimit;
    } else {
        g.action = GateAction::Hold;
        g.reason = GateReason::Drop;
    }
    return g;
}

GateDecision gate_update(const GateRules& rules, const GateRequest& r, bool held, GateLoad load,
                         bool reset_on_update_flag) {
    GateDecision g;
    g.action = GateAction::Keep;
    g.reason = GateReason::Unchanged;
    if (rules.cfg == nullptr || !rules.cfg->api) {
        g.access = ApiDecision{ApiReason::NoApi, r.source.unmapped()};
        return g; // the cluster is gone: its connections stay until they end or time out
    }
    g.access = access_of(rules, r);
    const config::ApiConfig& api = *rules.cfg->api;
    if (held && g.access.allowed()) {
        // As a retransmitted SYN gets through once the rule allows it; while max_connections
        // are open it waits (the next update, or hold_timeout).
        if (load.open < api.max_connections) {
            g.action = GateAction::Accept;
            g.reason = GateReason::AllowedAfterUpdate;
        }
    } else if (!held && !g.access.allowed() && (api.reset_on_update || reset_on_update_flag)) {
        g.action = GateAction::Reset;
        g.reason = GateReason::Update;
    }
    return g;
}

std::string GateDecision::connections_label() const {
    switch (reason) {
    case GateReason::Allowed:
        return "accepted/allowed";
    case GateReason::AllowedAfterUpdate:
        return "accepted/allowed_after_update";
    case GateReason::ConnectionLimit:
        return "denied/connection_limit";
    case GateReason::SourceLimit:
        return access.allowed() ? std::string("denied/source_limit")
                                : fmt::format("denied/{}", to_string(access.reason));
    case GateReason::Deny:
    case GateReason::Drop:
    case GateReason::HoldLimit:
        return fmt::format("denied/{}", to_string(access.reason));
    case GateReason::Update:
    case GateReason::Unchanged:
        return "";
    }
    return "";
}

std::string_view GateDecision::reset_label() const {
    switch (reason) {
    case GateReason::Deny:
        return "deny";
    case GateReason::HoldLimit:
        return "hold_limit";
    case GateReason::SourceLimit:
        return access.allowed() ? "" : "source_limit";
    case GateReason::Update:
        return "update";
    default:
        return "";
    }
}

std::string GateDecision::explain(const GateRequest& r, const GateRules& rules) const {
    const std::string why = access.explain(r.side, r.source);
    const config::ApiConfig* api =
        rules.cfg != nullptr && rules.cfg->api ? &*rules.cfg->api : nullptr;
    switch (reason) {
    case GateReason::Allowed:
        return why;
    case GateReason::AllowedAfterUpdate:
        return why + " after an update: the held connection goes through";
    case GateReason::ConnectionLimit:
        return fmt::format("{}, but max_connections ({}) are open: reset", why,
                           api != nullptr ? api->max_connections : 0U);
    case GateReason::SourceLimit: {
        const unsigned cap = api != nullptr ? api->max_connections_per_source : 0U;
        const std::string from = util::source_key(r.source).to_string();
        return access.allowed()
                   ? fmt::format("{}, but {} has max_connections_per_source ({}) connections on "
                                 "this side: reset",
                                 why, from, cap)
                   : fmt::format("{}: reset ({} has max_connections_per_source ({}) connections "
                                 "on this side)",
                                 why, from, cap);
    }
    case GateReason::Deny:
        return why + ": reset";
    case GateReason::Drop:
        return fmt::format("{}: dropped (held silent for up to {} ms)", why,
                           api != nullptr ? api->hold_timeout.count() : 0);
    case GateReason::HoldLimit:
        return why + ": reset (max_held connections are held on this side already)";
    case GateReason::Update:
        return why + " after an update: reset (reset_on_update)";
    case GateReason::Unchanged:
        return why + " after an update: unchanged";
    }
    return why;
}

} // namespace horizon::control
