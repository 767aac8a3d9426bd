// Counting outcomes and rendering them in the Prometheus text format.
#include "server/metrics.hpp"

#include <fmt/format.h>

namespace horizon::server {

namespace {

constexpr const char* kViewNames[kViews] = {"none", "vpc", "public"};
constexpr const char* kTransportNames[kTransports] = {"udp", "tcp"};
constexpr const char* kRcodeNames[kRcodes] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                              "NOTIMP",  "REFUSED", "BADVERS"};
constexpr const char* kQtypeNames[kQtypes] = {"A", "AAAA", "SOA", "NS", "TXT", "ANY", "other"};
constexpr const char* kDropNames[] = {"not_a_query", "udp_oversize", "send_failed"};

unsigned qtype_index(uint16_t t) {
    switch (t) {
    case dns::type::A:
        return 0;
    case dns::type::AAAA:
        return 1;
    case dns::type::SOA:
        return 2;
    case dns::type::NS:
        return 3;
    case dns::type::TXT:
        return 4;
    case dns::type::ANY:
        return 5;
    default:
        return 6;
    }
}

unsigned rcode_index(dns::Rcode r) {
    return r == dns::Rcode::BadVers ? 6 : std::min(static_cast<unsigned>(r), 5U);
}

size_t query_index(unsigned slot, unsigned view, unsigned transport, unsigned rcode,
                   unsigned qtype) {
    return (((size_t{slot} * kViews + view) * kTransports + transport) * kRcodes + rcode) *
               kQtypes +
           qtype;
}

} // namespace

void WorkerMetrics::count(const dns::Outcome& o, dns::Transport t, uint64_t ns) {
    if (o.forward) {
        return; // counted when the forwarded answer comes back
    }
    if (o.size == 0) {
        dropped[static_cast<size_t>(Drop::NotAQuery)].add();
        return;
    }
    const unsigned slot =
        o.cluster != nullptr ? std::min(o.cluster->slot, kClusterSlots - 1) : kClusterSlots - 1;
    const unsigned view = o.cluster == nullptr ? 0 : o.decision.inside ? 1 : 2;
    queries[query_index(slot, view, t == dns::Transport::Udp ? 0 : 1, rcode_index(o.rcode),
                        qtype_index(o.qtype))]
        .add();
    size_t b = 0;
    while (b < kLatencyBounds.size() && static_cast<double>(ns) > kLatencyBounds[b] * 1e9) {
        ++b;
    }
    latency[b].add();
    latency_sum_ns.add(ns);
}

std::string render_prometheus(const std::vector<const WorkerMetrics*>& workers,
                              const ServerGauges& g) {
    std::string out;
    const auto sum = [&](auto field) {
        uint64_t s = 0;
        for (const auto* w : workers) {
            s += field(*w);
        }
        return s;
    };
    out += "# HELP horizon_queries_total DNS queries answered, by cluster, source view, "
           "transport, rcode and qtype.\n# TYPE horizon_queries_total counter\n";
    for (unsigned slot = 0; slot < kClusterSlots; ++slot) {
        const bool none = slot == kClusterSlots - 1;
        if (!none && (slot >= g.cluster_slots.size() || g.cluster_slots[slot].empty())) {
            continue;
        }
        const std::string cluster = none ? "" : g.cluster_slots[slot];
        for (unsigned v = 0; v < kViews; ++v) {
            for (unsigned t = 0; t < kTransports; ++t) {
                for (unsigned r = 0; r < kRcodes; ++r) {
                    for (unsigned q = 0; q < kQtypes; ++q) {
                        const size_t i = query_index(slot, v, t, r, q);
                        const uint64_t n =
                            sum([i](const WorkerMetrics& w) { return w.queries[i].get(); });
                        if (n == 0) {
                            continue;
                        }
                        out += fmt::format("horizon_queries_total{{cluster=\"{}\",view=\"{}\","
                                           "transport=\"{}\",rcode=\"{}\",qtype=\"{}\"}} {}\n",
                                           cluster, kViewNames[v], kTransportNames[t],
                                           kRcodeNames[r], kQtypeNames[q], n);
                    }
                }
            }
        }
    }
    out += "# HELP horizon_query_duration_seconds Time the engine spent on one query.\n"
           "# TYPE horizon_query_duration_seconds histogram\n";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kLatencyBounds.size(); ++b) {
        cumulative += sum([b](const WorkerMetrics& w) { return w.latency[b].get(); });
        out += fmt::format("horizon_query_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                           b < kLatencyBounds.size() ? fmt::format("{:g}", kLatencyBounds[b])
                                                     : std::string("+Inf"),
                           cumulative);
    }
    out += fmt::format(
        "horizon_query_duration_seconds_sum {:.9f}\n",
        static_cast<double>(sum([](const WorkerMetrics& w) { return w.latency_sum_ns.get(); })) /
            1e9);
    out += fmt::format("horizon_query_duration_seconds_count {}\n", cumulative);
    out += "# HELP horizon_dropped_total Datagrams and messages not answered, by reason.\n"
           "# TYPE horizon_dropped_total counter\n";
    for (size_t d = 0; d < static_cast<size_t>(Drop::Count); ++d) {
        out += fmt::format("horizon_dropped_total{{reason=\"{}\"}} {}\n", kDropNames[d],
                           sum([d](const WorkerMetrics& w) { return w.dropped[d].get(); }));
    }
    out += "# HELP horizon_tcp_connections Open TCP connections.\n"
           "# TYPE horizon_tcp_connections gauge\n";
    out += fmt::format("horizon_tcp_connections {}\n", g.tcp_open);
    out += "# HELP horizon_tcp_accepted_total TCP connections accepted.\n"
           "# TYPE horizon_tcp_accepted_total counter\n";
    out += fmt::format("horizon_tcp_accepted_total {}\n",
                       sum([](const WorkerMetrics& w) { return w.tcp_accepted.get(); }));
    out += "# HELP horizon_tcp_rejected_total TCP connections closed on accept, by reason: "
           "limit (tcp_max_connections and no idle one to close), per_source "
           "(tcp_max_connections_per_source).\n# TYPE horizon_tcp_rejected_total counter\n";
    out += fmt::format("horizon_tcp_rejected_total{{reason=\"limit\"}} {}\n",
                       sum([](const WorkerMetrics& w) { return w.tcp_rejected.get(); }));
    out += fmt::format("horizon_tcp_rejected_total{{reason=\"per_source\"}} {}\n",
                       sum([](const WorkerMetrics& w) { return w.tcp_rejected_per_source.get(); }));
    out += "# HELP horizon_tcp_evicted_total Idle TCP connections closed to admit a new one at "
           "tcp_max_connections (RFC 7766 6.2.3).\n# TYPE horizon_tcp_evicted_total counter\n";
    out += fmt::format("horizon_tcp_evicted_total {}\n",
                       sum([](const WorkerMetrics& w) { return w.tcp_evicted.get(); }));
    out += "# HELP horizon_tcp_accept_paused_total Times a TCP listener stopped accepting for "
           "100 ms because no file descriptor was left (EMFILE, ENFILE).\n"
           "# TYPE horizon_tcp_accept_paused_total counter\n";
    out += fmt::format("horizon_tcp_accept_paused_total {}\n",
                       sum([](const WorkerMetrics& w) { return w.tcp_accept_paused.get(); }));
    out += "# HELP horizon_tcp_read_paused_total Times a TCP connection stopped being read "
           "because its unread answers reached the output cap.\n"
           "# TYPE horizon_tcp_read_paused_total counter\n";
    out += fmt::format("horizon_tcp_read_paused_total {}\n",
                       sum([](const WorkerMetrics& w) { return w.tcp_read_paused.get(); }));
    out += "# HELP horizon_reloads_total Configuration reloads by outcome.\n"
           "# TYPE horizon_reloads_total counter\n";
    out += fmt::format("horizon_reloads_total{{outcome=\"success\"}} {}\n", g.reloads_ok);
    out += fmt::format("horizon_reloads_total{{outcome=\"failure\"}} {}\n", g.reloads_failed);
    out += "# HELP horizon_last_reload_success 1 if the last reload succeeded (or none yet).\n"
           "# TYPE horizon_last_reload_success gauge\n";
    out += fmt::format("horizon_last_reload_success {}\n", g.last_reload_ok ? 1 : 0);
    out += "# HELP horizon_state_writable 1 if the last save of the state file succeeded; while 0 "
           "the admin API refuses changes (500).\n# TYPE horizon_state_writable gauge\n";
    out += fmt::format("horizon_state_writable {}\n", g.state_writable ? 1 : 0);
    out += "# HELP horizon_state_save_failures_total Saves of the state file that failed.\n"
           "# TYPE horizon_state_save_failures_total counter\n";
    out += fmt::format("horizon_state_save_failures_total {}\n", g.state_save_failures);
    out += "# HELP horizon_config_generation The serving configuration's generation (SOA "
           "serial).\n# TYPE horizon_config_generation gauge\n";
    out += fmt::format("horizon_config_generation {}\n", g.generation);
    out += "# HELP horizon_updates Endpoint updates by status.\n# TYPE horizon_updates gauge\n";
    for (const auto& [status, n] : g.updates_by_status) {
        out += fmt::format("horizon_updates{{status=\"{}\"}} {}\n", status, n);
    }
    return out;
}

} // namespace horizon::server
