// The open file descriptor budget: what horizond needs at most, set against RLIMIT_NOFILE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"

namespace horizon::server {

/// How the descriptors allowed by the open file limit are shared out at start-up.
struct FdPlan {
    uint64_t limit = 0;       ///< RLIMIT_NOFILE (soft), after raising it to the hard one
    uint64_t fixed = 0;       ///< listeners, event loops, the admin API, state writes, a reserve
    uint64_t gate = 0;        ///< the API endpoint's listeners and connections at their maxima
    unsigned tcp = 0;         ///< TCP client connections allowed (<= tcp_max_connections)
    size_t upstream = 0;      ///< upstream sockets (Forwarder::set_socket_budget)
    bool tcp_clamped = false; ///< tcp_max_connections did not fit: `tcp` is less
    bool gate_short = false;  ///< the gate's maxima do not fit in the limit

    /// The limit a configuration needs for everything at its maxima (what to raise it to).
    [[nodiscard]] uint64_t wanted(unsigned tcp_max_connections) const;
};

/// The worker threads: [server] workers, or one per core when 0.
unsigned worker_count(const config::ServerConfig& server);

/// Fixed descriptors: stdio, per worker (its loop, its UDP and TCP socket per listen address),
/// the main loop, the API endpoint's loop, the admin listener and its threads, state writes and
/// a reserve for reloads, logs and a connection closed on accept. Then the TCP clients get
/// min(tcp_max_connections, half of what is left) and the upstream sockets the rest, at most
/// half the limit (as before). `workers` is the resolved worker count (never 0).
FdPlan plan_descriptors(const config::Config& cfg, unsigned workers, uint64_t limit);

} // namespace horizon::server
