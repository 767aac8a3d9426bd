// Forwarding on a worker's loop: the libuv transport of dns::Resolver. It owns the upstream
// sockets and timers, executes the resolver's commands and feeds it their events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "dns/engine.hpp"
#include "dns/wire.hpp"

namespace horizon::server {

class Worker;

/// Sends one forwarded query's answer to its client (a UDP datagram or a TCP frame). Called on
/// the worker's loop, at most once, never from inside Forwarder::resolve; not at all when the
/// worker stops first or the query is dropped. It must cope with a client that is gone.
using ReplyFn = std::function<void(std::span<const uint8_t> answer)>;

/// One per worker, used only on that worker's loop thread.
class Forwarder {
public:
    explicit Forwarder(Worker& worker);
    ~Forwarder();
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    /// Answers a query the engine handed over (Outcome::forward); `q` is the engine's parse of
    /// `query`. Returns the size of the answer written to `out` when it is ready at once (from
    /// the cache, or an error of ours). Returns 0 when the answer will come through `reply` (or
    /// never, if the worker stops first); `reply` is released as soon as it is called or will
    /// never be.
    size_t resolve(std::span<const uint8_t> query, const dns::Query& q, const dns::Client& client,
                   std::span<uint8_t> out, ReplyFn reply);

    /// Bounds the upstream sockets (UDP or TCP, one per question in flight) of all workers
    /// together; a new question beyond it is answered SERVFAIL at once. Set once at start-up
    /// from the open file limit, before any worker runs. 0 = no bound.
    static void set_socket_budget(size_t sockets);

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

} // namespace horizon::server
