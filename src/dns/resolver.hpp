// The forwarding resolver, sans-I/O (Unbound's fake-event idea): events in, commands out. It owns
// pending questions, coalescing, upstream choice and retry, budgets, the cache and the policy;
// a transport (server/forwarder.cpp, or a unit test's script) owns sockets, timers and clocks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "dns/cache.hpp"
#include "dns/engine.hpp"
#include "dns/snapshot.hpp"
#include "dns/wire.hpp"
#include "util/address.hpp"

namespace horizon::dns {

using TimePoint = Cache::Clock::time_point;
/// A client query waiting for its answer; chosen by the transport, unique among those it holds.
using ClientId = uint64_t;
/// One try of one upstream (one socket); chosen by the resolver, never reused.
using AttemptId = uint64_t;

/// Upstream sockets open across every resolver of the process (one per attempt), and their
/// bound: a new question beyond it is answered SERVFAIL at once. 0 = no bound.
struct SocketBudget {
    std::atomic<size_t> open{0};
    std::atomic<size_t> limit{0};
};

/// What the transport is to do. Commands of one event are executed in order.
struct Command {
    enum class Kind : uint8_t {
        /// Open a socket for `attempt` (UDP from a fresh random port, or TCP when `tcp`) to
        /// `upstream` and send `message` (over TCP with its length prefix, RFC 1035 §4.2.2).
        /// Its datagrams / messages go to on_response, its failures to on_error.
        Send,
        /// Call on_timeout(`attempt`) after `after`, unless the attempt is closed first.
        ArmTimer,
        /// The attempt is over: close its socket and cancel its timer.
        Close,
        /// Send `message` to client `client`, who is forgotten; `outcome` and `via` are for the
        /// transport's counters and query log.
        Reply,
        /// Client `client` gets no answer; forget it.
        Drop,
    };
    Kind kind = Kind::Drop;
    AttemptId attempt = 0;
    util::Endpoint upstream;
    bool tcp = false;
    std::chrono::milliseconds after{0};
    ClientId client = 0;
    std::vector<uint8_t> message;
    Outcome outcome;
    std::string via; ///< "cache", "forwarded to ...", or why we answered ourselves
};

using Commands = std::vector<Command>;

/// One per worker; not thread-safe. Every event may be fed at any time; an event about an
/// attempt that is closed (or a client already answered) is ignored.
class Resolver {
public:
    using RandomFn = std::function<uint16_t()>;

    /// `random` gives the upstream query IDs (RFC 5452 §4.3); empty: the kernel's CSPRNG.
    explicit Resolver(SocketBudget& budget, RandomFn random = {});
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    /// The snapshot and [resolver] to work with; call before every event (cheap when neither
    /// changed). A change of upstreams or TTL policy, or of which names are ours, empties the
    /// cache. Null `config`: no forwarding (every query REFUSED).
    void configure(std::shared_ptr<const Snapshot> snap,
                   std::shared_ptr<const config::ResolverConfig> config);

    /// A query the engine handed over (Outcome::forward): `query` its bytes, `q` the engine's
    /// parse of them (not parsed again). The answer may be among the commands (cache, our
    /// errors) or come with a later event.
    Commands on_query(ClientId id, std::span<const uint8_t> query, const Query& q,
                      const Client& client, TimePoint now);
    /// A UDP datagram from `from` on the attempt's socket, or one whole TCP message.
    Commands on_response(AttemptId attempt, const util::Endpoint& from,
                         std::span<const uint8_t> message, TimePoint now);
    /// The attempt's socket failed (refused, unreachable, connection closed): a network error.
    Commands on_error(AttemptId attempt, std::string_view why, TimePoint now);
    /// The attempt's timer expired.
    Commands on_timeout(AttemptId attempt, TimePoint now);
    /// Drops every waiting client and closes every attempt (the worker stops).
    Commands shutdown();

    [[nodiscard]] size_t pending() const { return pending_.size(); }

    /// Answers that failed the RFC 5452 checks (source, ID, question) and were ignored.
    [[nodiscard]] uint64_t ignored() const { return ignored_; }

    [[nodiscard]] const Cache& cache() const { return cache_; }

    static constexpr size_t kMaxPending = 4096;    ///< distinct questions in flight
    static constexpr size_t kMaxWaiters = 256;     ///< clients waiting on one question
    static constexpr size_t kMaxFailureText = 200; ///< EDE EXTRA-TEXT budget

private:
    struct Waiter;
    struct Failure;
    struct Pending;

    /// The upstreams for `q` and, in `zone`, the forward zone they serve (the root for the
    /// [resolver] upstreams).
    const std::vector<util::Endpoint>* upstreams_for(const Query& q,
                                                     std::string* zone = nullptr) const;
    AnswerOptions options(const Waiter& w) const;
    Written write_cached(const Waiter& w, const CachedAnswer& a, uint32_t age, Outcome& o);
    void answer_now(const Waiter& w, Rcode rcode, std::string_view why, bool ede, Commands& out);
    void reply(const Waiter& w, const Written& written, Outcome o, std::string via, Commands& out);
    void start(Pending& p, Commands& out);
    void start_attempt(Pending& p, const util::Endpoint& upstream, bool tcp, Commands& out);
    void close_attempt(Pending& p, Commands& out);
    void failed(Pending& p, std::string why, bool network, Commands& out);
    void answered(Pending& p, std::span<const uint8_t> response, TimePoint now, Commands& out);
    void finish(Pending& p, const CachedAnswer* answer, const std::string& via, Commands& out);
    Pending* attempt(AttemptId id);

    SocketBudget& budget_;
    RandomFn random_;
    std::shared_ptr<const Snapshot> snap_;
    std::shared_ptr<const config::ResolverConfig> config_;
    std::unordered_map<std::string, std::vector<util::Endpoint>> zones_; ///< lower wire
    TtlPolicy policy_;
    Cache cache_;
    std::unordered_map<std::string, std::unique_ptr<Pending>> pending_;
    std::unordered_map<AttemptId, Pending*> attempts_;
    AttemptId next_attempt_ = 1;
    uint64_t ignored_ = 0;
    uint64_t names_generation_ = ~uint64_t{0};
    std::string names_; ///< which names were ours when the cached answers were cut
    std::vector<uint8_t> scratch_;
};

} // namespace horizon::dns
