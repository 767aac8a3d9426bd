// The open file descriptor budget (fd_budget.hpp): counted from the configuration at start-up.
#include "server/fd_budget.hpp"

#include <algorithm>
#include <thread>

namespace horizon::server {

namespace {

constexpr uint64_t kStdio = 3;
/// A worker's loop: epoll, its wake-up eventfd, libuv's spare descriptor for accept errors.
constexpr uint64_t kPerLoop = 4;
/// The main loop: a loop, libuv's signal pipe (2), inotify for the config and zone directories.
constexpr uint64_t kMainLoop = kPerLoop + 3;
/// The admin API (cpp-httplib): its listener, one connection per pool thread, some queued.
constexpr uint64_t kAdminQueued = 16;
/// Saving state.json: the temporary file, its directory (fsync), the lock file, a reload's reads.
constexpr uint64_t kStateWrites = 4;
/// getaddrinfo, /proc, OpenSSL files, a reload's zone files, and the connection each worker
/// accepts only to close it (over a limit).
constexpr uint64_t kReserve = 32;
/// The upstream sockets never take more than this share (as before this budget existed).
constexpr uint64_t kUpstreamCeiling = uint64_t{1} << 20;

uint64_t admin_threads() {
    // cpp-httplib's default pool: CPPHTTPLIB_THREAD_POOL_COUNT = max(8, cores - 1).
    const unsigned cores = std::thread::hardware_concurrency();
    return std::max(8U, cores > 0 ? cores - 1 : 0U);
}

} // namespace

unsigned worker_count(const config::ServerConfig& server) {
    return server.workers != 0 ? server.workers : std::max(1U, std::thread::hardware_concurrency());
}

uint64_t FdPlan::wanted(unsigned tcp_max_connections) const {
    return fixed + gate + 2 * uint64_t{tcp_max_connections};
}

FdPlan plan_descriptors(const config::Config& cfg, unsigned workers, uint64_t limit) {
    FdPlan p;
    p.limit = limit;
    const uint64_t listeners = cfg.server.listen.size();
    p.fixed = kStdio + workers * (kPerLoop + 2 * listeners) + kMainLoop + kStateWrites + kReserve;
    if (cfg.server.admin_listen) {
        p.fixed += 1 + admin_threads() + kAdminQueued;
    }
    bool any_api = false;
    for (const auto& c : cfg.clusters) {
        if (!c.api) {
            continue;
        }
        any_api = true;
        // Both sides (public, private): max_connections each, two descriptors apiece when
        // proxied (client and upstream), and max_held each held silent.
        p.gate += c.public_ips.size() + c.private_ips.size() +
                  2 * (2 * uint64_t{c.api->max_connections} + c.api->max_held);
    }
    if (any_api) {
        p.gate += kPerLoop;
    }
    const uint64_t used = p.fixed + p.gate;
    p.gate_short = used >= limit;
    const uint64_t left = limit > used ? limit - used : 0;
    // The TCP clients get what they ask for while it is at most half of what is left: the
    // forwarder keeps the other half for questions in flight.
    const uint64_t tcp_fit = std::max<uint64_t>(left / 2, 1);
    p.tcp = static_cast<unsigned>(std::min<uint64_t>(cfg.server.tcp_max_connections, tcp_fit));
    p.tcp_clamped = p.tcp < cfg.server.tcp_max_connections;
    const uint64_t upstream_fit = left > p.tcp ? left - p.tcp : 1;
    p.upstream = static_cast<size_t>(
        std::max<uint64_t>(1, std::min({upstream_fit, limit / 2, kUpstreamCeiling})));
    return p;
}

} // namespace horizon::server
