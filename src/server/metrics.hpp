// Query and server counters. Each worker owns its counters (single writer, relaxed atomics, no
// locked instructions on the hot path); the admin listener sums them when /metrics is scraped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/engine.hpp"

namespace horizon::server {

/// A counter written by one thread and read by others.
class Counter {
public:
    void add(uint64_t n = 1) {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }

    [[nodiscard]] uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

constexpr unsigned kClusterSlots = 64; ///< cluster metric slots; the last one is "no cluster"
constexpr unsigned kViews = 3;         ///< none, vpc, public
constexpr unsigned kTransports = 2;
constexpr unsigned kRcodes = 7; ///< NOERROR FORMERR SERVFAIL NXDOMAIN NOTIMP REFUSED BADVERS
constexpr unsigned kQtypes = 7; ///< A AAAA SOA NS TXT ANY other
constexpr std::array<double, 9> kLatencyBounds = {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5,
                                                  5e-5, 1e-4,   1e-3, 1e-2};

enum class Drop : uint8_t { NotAQuery, UdpOversize, SendFailed, Count };

struct WorkerMetrics {
    std::array<Counter, kClusterSlots * kViews * kTransports * kRcodes * kQtypes> queries;
    std::array<Counter, kLatencyBounds.size() + 1> latency; ///< last bucket: +Inf
    Counter latency_sum_ns;
    std::array<Counter, static_cast<size_t>(Drop::Count)> dropped;
    Counter tcp_accepted;
    Counter tcp_rejected;            ///< closed on accept: tcp_max_connections, none idle
    Counter tcp_rejected_per_source; ///< closed on accept: tcp_max_connections_per_source
    Counter tcp_evicted;             ///< idle connections closed to make room (RFC 7766 §6.2.3)
    Counter tcp_accept_paused;       ///< accept failed for want of descriptors: paused
    Counter tcp_read_paused;         ///< reading stopped: a client's unread answers hit the cap

    /// Counts one engine outcome that took `ns` nanoseconds.
    void count(const dns::Outcome& o, dns::Transport t, uint64_t ns);
};

/// What the admin listener needs to render /metrics besides the workers' counters.
struct ServerGauges {
    uint64_t generation = 0;
    uint64_t tcp_open = 0;
    uint64_t reloads_ok = 0;
    uint64_t reloads_failed = 0;
    bool last_reload_ok = true;
    bool state_writable = true;       ///< the last save of the state file worked
    uint64_t state_save_failures = 0; ///< saves of the state file that failed

    std::vector<std::pair<std::string, uint64_t>> updates_by_status;
    std::vector<std::string> cluster_slots; ///< slot -> cluster name ("" = unused)
};

/// Prometheus text exposition format 0.0.4.
std::string render_prometheus(const std::vector<const WorkerMetrics*>& workers,
                              const ServerGauges& gauges);

} // namespace horizon::server
