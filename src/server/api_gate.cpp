// The gate applied: every accepted socket and, on each published snapshot, every open or held
// connection goes through control::gate_accept / gate_update; this file only carries the decision
// out (accept, hold, reset), counts it and logs it.
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "server/api_endpoint_impl.hpp"
#include "server/runtime.hpp"

namespace horizon::server {

using api::Conn;
using control::GateAction;

namespace {

util::Endpoint endpoint_of(const sockaddr_storage& ss) {
    util::Endpoint ep;
    ep.addr = util::IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss)).unmapped();
    ep.port =
        ntohs(ss.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&ss)->sin_port
                                      : reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return ep;
}

} // namespace

void ApiEndpoint::Impl::count(const char* name, const std::string& cluster, control::ApiSide side,
                              std::string_view label) {
    const std::lock_guard lock(mu);
    ++counters[{name, cluster, std::string(control::to_string(side)), std::string(label)}];
}

void ApiEndpoint::Impl::log_decision(const std::string& line) {
    const auto now = std::chrono::steady_clock::now();
    if (now - log_window >= std::chrono::seconds(1)) {
        if (suppressed > 0) {
            spdlog::info("api: {} more connection decisions not logged", suppressed);
        }
        log_window = now;
        logged_in_window = 0;
        suppressed = 0;
    }
    if (logged_in_window++ < api::kLogPerSecond) {
        spdlog::info("api: {}", line);
    } else {
        ++suppressed;
    }
}

control::GateLoad ApiEndpoint::Impl::load_of(const api::Conn& c) {
    const auto side = std::make_pair(c.cluster, c.side);
    const auto from = source_count.find({c.cluster, c.side, c.source});
    return {open_count[side], held_count[side], from == source_count.end() ? 0U : from->second};
}

void ApiEndpoint::Impl::on_connection(api::Listener& l) {
    auto* c = new Conn; // NOLINT(cppcoreguidelines-owning-memory): freed by Conn::maybe_free
    c->impl = this;
    c->cluster = l.address.cluster;
    c->side = l.address.side;
    c->local = l.address.at;
    if (!c->init(loop)) {
        return; // logged (never in practice: both inits only check their arguments)
    }
    conns.insert(c);
    if (const int rc = uv_accept(api::stream(&l.tcp), api::stream(&c->client)); rc != 0) {
        spdlog::warn("api: accept on {}: {}", l.address.at.to_string(), uv_strerror(rc));
        c->close(false);
        return;
    }
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (const int rc = uv_tcp_getpeername(&c->client, reinterpret_cast<sockaddr*>(&ss), &len);
        rc != 0) {
        spdlog::warn("api: accept on {}: getpeername: {}", l.address.at.to_string(),
                     uv_strerror(rc));
        c->close(true);
        return;
    }
    c->peer = endpoint_of(ss);
    c->source = util::source_key(c->peer.addr);
    c->id = next_id++;
    c->ok(uv_tcp_nodelay(&c->client, 1), "TCP_NODELAY");
    {
        const std::lock_guard lock(mu);
        registry[c->id] = api::ConnInfo{c->cluster,
                                        c->side,
                                        c->local,
                                        c->peer,
                                        api::State::Held,
                                        std::chrono::system_clock::now(),
                                        0,
                                        0};
    }

    // The snapshot DNS answers from: an update flips both at the same moment.
    const auto snap = holder->current.load(std::memory_order_acquire);
    const auto rules = control::GateRules::of(api::find_cluster(*snap, c->cluster));
    const auto request = c->request();
    const auto g = control::gate_accept(rules, request, load_of(*c));
    count("connections", c->cluster, c->side, g.connections_label());
    if (const auto reset = g.reset_label(); !reset.empty()) {
        count("resets", c->cluster, c->side, reset);
    }
    log_decision(fmt::format("{}: {}", c->who(), g.explain(request, rules)));
    switch (g.action) {
    case GateAction::Accept:
        c->open(*rules.cfg);
        return;
    case GateAction::Hold:
        c->hold(*rules.cfg);
        return;
    case GateAction::Reset:
    case GateAction::Keep: // never at accept
        c->close(true);
        return;
    }
}

void ApiEndpoint::Impl::on_publish() {
    const auto snap = holder->current.load(std::memory_order_acquire);
    const bool flag = runtime->reset_on_update();
    const std::vector<Conn*> all(conns.begin(), conns.end());
    for (Conn* c : all) {
        if (c->closing) {
            continue;
        }
        const auto rules = control::GateRules::of(api::find_cluster(*snap, c->cluster));
        const auto request = c->request();
        const bool held = c->state == api::State::Held;
        const auto g = control::gate_update(rules, request, held, load_of(*c), flag);
        if (g.action == GateAction::Accept) {
            if (!c->ok(uv_timer_stop(&c->timer), "stopping the hold timer")) {
                continue;
            }
            c->counted_held = false;
            --held_count[{c->cluster, c->side}];
            count("connections", c->cluster, c->side, g.connections_label());
            log_decision(fmt::format("{}: {}", c->who(), g.explain(request, rules)));
            c->open(*rules.cfg);
        } else if (g.action == GateAction::Reset) {
            count("resets", c->cluster, c->side, g.reset_label());
            log_decision(fmt::format("{}: {}", c->who(), g.explain(request, rules)));
            c->close(true);
        }
    }
}

} // namespace horizon::server
