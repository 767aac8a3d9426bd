// One worker: a libuv loop with its UDP and TCP listeners. Internal to src/server.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <uv.h>

#include "dns/engine.hpp"
#include "dns/snapshot.hpp"
#include "server/forwarder.hpp"
#include "server/metrics.hpp"
#include "util/address.hpp"

namespace horizon::server {

/// The snapshot every worker answers from; replaced atomically (reload comes with the control
/// plane). Workers re-read it when `generation` moves, so the hot path takes no lock.
struct SnapshotHolder {
    std::atomic<std::shared_ptr<const dns::Snapshot>> current;
    std::atomic<uint64_t> generation{0};
    /// [resolver] of the current configuration, for the forwarders; stored before `current`.
    std::atomic<std::shared_ptr<const config::ResolverConfig>> resolver;
};

/// Every handle a worker owns has `data` pointing to one of these, so that shutdown can close
/// them all with one walk. close() must be safe to call twice.
struct Owned {
    Owned() = default;
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    virtual ~Owned() = default;
    virtual void close() = 0;
};

/// Server-wide TCP connection accounting (tcp_max_connections covers all workers).
struct TcpBudget {
    std::atomic<unsigned> open{0};
    /// What the open file limit allows (FdPlan::tcp), set before any worker runs; 0 = no cap.
    unsigned cap = 0;

    /// tcp_max_connections as configured now, held to `cap`.
    [[nodiscard]] unsigned limit(unsigned configured) const {
        return cap != 0 ? std::min(cap, configured) : configured;
    }

    /// A connection's source for tcp_max_connections_per_source (util::source_key: an IPv4
    /// address, or the /64 of an IPv6 one).
    using SourceKey = util::SourceKey;

    /// Counts a connection from `key` unless `limit` are open from it already (all workers).
    bool acquire_source(const SourceKey& key, unsigned limit);
    void release_source(const SourceKey& key);

private:
    std::mutex sources_mutex_;
    std::map<SourceKey, unsigned> sources_; ///< sources with connections open
};

struct ListenSocket {
    int udp_fd = -1;
    int tcp_fd = -1;
    bool wildcard = false; ///< reply from the arrival address (IP_PKTINFO / IPV6_PKTINFO)
    bool v6 = false;
    /// A resolver listener's marker, copied into every dns::Client from this socket. Its
    /// vpc_cluster points into the configuration the Server keeps for its lifetime.
    bool vpc_listener = false;
    std::string_view vpc_cluster;

    /// A client of this socket: its source address, and the listener's marker.
    [[nodiscard]] dns::Client client(const util::IpAddress& addr, dns::Transport t) const {
        return {addr, t, vpc_listener, vpc_cluster};
    }
};

class Worker {
public:
    Worker(unsigned index, SnapshotHolder& holder, TcpBudget& budget, WorkerMetrics& metrics,
           std::vector<ListenSocket> sockets);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    /// Runs the loop on the calling thread until stop(); returns false if set-up failed.
    bool run();
    /// Thread-safe: asks the loop to close everything and return.
    void stop();

    /// The current snapshot (refreshed when the holder's generation moves).
    const dns::Snapshot& snapshot() {
        if (holder_.generation.load(std::memory_order_acquire) != generation_) {
            refresh();
        }
        return *snap_;
    }

    /// The same, shared: for the resolver, which keeps it across its events.
    const std::shared_ptr<const dns::Snapshot>& snapshot_ptr() {
        snapshot();
        return snap_;
    }

    /// [resolver] as of the current snapshot (null until one is published).
    const std::shared_ptr<const config::ResolverConfig>& resolver() {
        snapshot();
        return resolver_;
    }

    /// This worker's forwarder (its loop thread only).
    Forwarder& forwarder() { return *forwarder_; }

    uv_loop_t* loop() { return &loop_; }

    TcpBudget& tcp_budget() { return budget_; }

    /// This worker's TCP connections, least recently active first (tcp_listener.cpp picks the
    /// one to close at tcp_max_connections from the front). Its loop thread only.
    std::list<Owned*>& tcp_connections() { return tcp_connections_; }

    WorkerMetrics& metrics() { return metrics_; }

    /// Answers one query, accounting for it unless it is forwarded; `q` receives its parse
    /// (what the forwarder takes when the outcome is `forward`).
    dns::Outcome answer(std::span<const uint8_t> query, dns::Query& q, const dns::Client& client,
                        std::span<uint8_t> out);

    unsigned index() const { return index_; }

    /// The one place a query is counted (with the `ns` it took) and logged when query_log is
    /// on: the engine's answers from answer(), the resolver's from the forwarder. `message` (the
    /// query or the answer) holds the question name at [12, 12 + o.name_len); `via` is the
    /// resolver's reason ("" for the engine's own answers).
    void account(const dns::Outcome& o, const dns::Client& client, uint64_t ns,
                 std::span<const uint8_t> message, std::string_view via = {});
    /// Logs one query when query_log is on.
    void log_query(std::span<const uint8_t> message, const dns::Client& client,
                   const dns::Outcome& outcome, std::string_view via = {});

private:
    void refresh();

    unsigned index_;
    SnapshotHolder& holder_;
    TcpBudget& budget_;
    WorkerMetrics& metrics_;
    std::vector<ListenSocket> sockets_;
    std::list<Owned*> tcp_connections_;
    std::shared_ptr<const dns::Snapshot> snap_;
    std::shared_ptr<const config::ResolverConfig> resolver_;
    uint64_t generation_ = ~uint64_t{0};
    uv_loop_t loop_{};
    uv_async_t stop_{};
    std::unique_ptr<Forwarder> forwarder_; ///< destroyed after the loop closed: touches no handle
};

/// Starts serving UDP on a bound socket with the worker's loop. Owned by the loop (freed on close).
bool start_udp(Worker& w, const ListenSocket& s);
/// Starts accepting TCP on a bound socket with the worker's loop.
bool start_tcp(Worker& w, const ListenSocket& s);

} // namespace horizon::server
