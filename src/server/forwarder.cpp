// Forwarding on a worker's loop. One Pending per distinct question in flight (identical questions
// are coalesced); it tries the upstreams in order, one Attempt at a time: UDP from a fresh socket
// (random source port) with a random ID, TCP when the answer is truncated. Answers are believed
// only from the upstream's address and port with our ID and question (RFC 5452 §9.1).
#include "server/forwarder.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <sys/random.h>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "dns/cache.hpp"
#include "dns/upstream.hpp"
#include "dns/zone.hpp"
#include "server/worker.hpp"

namespace horizon::server {

namespace {

constexpr size_t kMaxPending = 4096; ///< distinct questions in flight per worker; more are dropped
constexpr size_t kMaxWaiters = 256;  ///< clients waiting on one question; more are dropped
constexpr size_t kMaxFailureText = 200; ///< EDE EXTRA-TEXT budget

/// Upstream sockets open across all workers, and their bound (Forwarder::set_socket_budget).
std::atomic<size_t> g_sockets{0};
std::atomic<size_t> g_socket_budget{0};

uint64_t monotonic_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

/// Unpredictable query IDs (RFC 5452 §4.3) from the kernel's CSPRNG, fetched in batches.
class Random {
public:
    uint16_t u16() {
        if (pos_ + 2 > buf_.size()) {
            refill();
        }
        const auto v = static_cast<uint16_t>((buf_[pos_] << 8) | buf_[pos_ + 1]);
        pos_ += 2;
        return v;
    }

private:
    void refill() {
        size_t got = 0;
        while (got < buf_.size()) {
            const ssize_t n = ::getrandom(buf_.data() + got, buf_.size() - got, 0);
            if (n <= 0) {
                break;
            }
            got += static_cast<size_t>(n);
        }
        if (got < buf_.size()) { // getrandom cannot fail after boot; be safe anyway
            std::random_device rd;
            for (size_t i = got; i < buf_.size(); ++i) {
                buf_[i] = static_cast<uint8_t>(rd());
            }
        }
        pos_ = 0;
    }

    std::array<uint8_t, 256> buf_{};
    size_t pos_ = 256;
};

/// One client waiting for the answer to a question.
struct Waiter {
    uint16_t id = 0;
    uint16_t flags = 0;
    std::vector<uint8_t> question; ///< QNAME QTYPE QCLASS as the client wrote them
    std::vector<uint8_t> query;    ///< the whole query, for an answer we complete (a cut chain)
    dns::Edns edns;
    dns::Client client;
    ReplyFn reply;

    [[nodiscard]] dns::Asker asker() const { return {id, flags, question, edns}; }
};

/// Why one upstream did not give us an answer.
struct Failure {
    util::Endpoint upstream;
    std::string why;
    bool network = false; ///< a network error (refused, unreachable), not a timeout or a refusal
};

struct Attempt;

/// One question in flight, shared by every client asking it.
struct Pending {
    std::string key;
    dns::Query q; ///< the first client's parsed query: the question we ask and match
    std::vector<util::Endpoint> upstreams;
    std::chrono::milliseconds timeout{0};
    size_t next = 0; ///< the upstream to try after the current one
    std::vector<Waiter> waiters;
    std::vector<Failure> failures;
    Attempt* attempt = nullptr;
};

} // namespace

struct Forwarder::Impl {
    Worker& worker;
    dns::Cache cache;
    Random random;
    std::unordered_map<std::string, std::unique_ptr<Pending>> pending;
    /// The [resolver] the state below was built from (compared by identity on every query).
    std::shared_ptr<const config::ResolverConfig> config;
    std::unordered_map<std::string, std::vector<util::Endpoint>> zones; ///< lower wire -> upstreams
    dns::TtlPolicy policy;
    uint64_t ignored = 0; ///< answers that failed the RFC 5452 checks
    /// Which names were ours (endpoint names, zones) when the cached answers were cut: a
    /// snapshot that changes them empties the cache, which may hold upstream data for them.
    uint64_t names_generation = ~uint64_t{0};
    std::string names;

    explicit Impl(Worker& w)
        : worker(w) {}

    void sync();
    const std::vector<util::Endpoint>* upstreams_for(const dns::Query& q) const;
    void start(Pending& p);
    void start_attempt(Pending& p, const util::Endpoint& upstream, bool tcp);
    void failed(Attempt& a, std::string why, bool network);
    void answered(Attempt& a, std::span<const uint8_t> response);
    void finish(Pending& p, const dns::CachedAnswer* answer, std::string_view via);
    dns::AnswerOptions options(const Waiter& w) const;
    dns::Written write(const dns::CachedAnswer& a, uint32_t age, const Waiter& w,
                       std::span<uint8_t> out, dns::Outcome& o);
    void log(const Waiter& w, dns::Rcode rcode, std::string_view via) const;
};

namespace {

/// One try of one upstream over UDP or TCP, with its timer. Owned by the loop: freed when both
/// handles are closed. `pending` is cleared when the attempt is over (or the worker stops).
struct Attempt final : Owned {
    Forwarder::Impl* fwd = nullptr;
    Pending* pending = nullptr;
    util::Endpoint upstream;
    bool tcp = false;
    uint16_t id = 0;
    std::vector<uint8_t> wire;  ///< our query (with the TCP length prefix over TCP)
    std::vector<uint8_t> input; ///< TCP bytes received so far
    uv_udp_t udp{};
    uv_tcp_t stream{};
    uv_timer_t timer{};
    uv_connect_t connect{};
    uv_write_t write{};
    int open_handles = 0;
    bool closing = false;

    void close() override {
        if (closing) {
            return;
        }
        closing = true;
        if (pending != nullptr && pending->attempt == this) {
            pending->attempt = nullptr;
        }
        pending = nullptr;
        const auto done = [](uv_handle_t* h) {
            auto* a = static_cast<Attempt*>(static_cast<Owned*>(h->data));
            if (--a->open_handles == 0) {
                g_sockets.fetch_sub(1, std::memory_order_relaxed); // its socket is closed now
                delete a; // NOLINT(cppcoreguidelines-owning-memory): every handle is closed
            }
        };
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), done);
        uv_close(tcp ? reinterpret_cast<uv_handle_t*>(&stream)
                     : reinterpret_cast<uv_handle_t*>(&udp),
                 done);
    }
};

Attempt* attempt_of(void* data) {
    return static_cast<Attempt*>(static_cast<Owned*>(data));
}

void alloc_buffer(uv_handle_t* /*h*/, size_t /*suggested*/, uv_buf_t* buf) {
    thread_local std::vector<char> scratch(65536);
    *buf = uv_buf_init(scratch.data(), static_cast<unsigned>(scratch.size()));
}

std::string endpoint_text(const sockaddr* sa) {
    const auto addr = util::IpAddress::from_sockaddr(sa);
    const uint16_t port =
        ntohs(sa->sa_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(sa)->sin_port
                                       : reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
    return util::Endpoint{addr, port}.to_string();
}

void on_udp_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                 unsigned /*flags*/) noexcept {
    Attempt* a = attempt_of(h->data);
    if (a->pending == nullptr) {
        return;
    }
    try {
        if (n < 0) { // e.g. ECONNREFUSED: an ICMP port unreachable on our connected socket
            a->fwd->failed(*a, uv_strerror(static_cast<int>(n)), true);
            return;
        }
        if (from == nullptr) {
            return; // nothing more to read
        }
        const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(buf->base),
                                            static_cast<size_t>(n));
        // RFC 5452 §9.1: the source address and port, the ID and the question must all match;
        // anything else is ignored while we keep waiting for the real answer.
        const auto addr = util::IpAddress::from_sockaddr(from);
        const uint16_t port = ntohs(from->sa_family == AF_INET
                                        ? reinterpret_cast<const sockaddr_in*>(from)->sin_port
                                        : reinterpret_cast<const sockaddr_in6*>(from)->sin6_port);
        const char* why = nullptr;
        if (addr.unmapped() != a->upstream.addr.unmapped() || port != a->upstream.port) {
            why = "wrong source";
        } else {
            switch (dns::match_response(data, a->id, a->pending->q)) {
            case dns::Match::Ok:
                break;
            case dns::Match::NotAResponse:
                why = "not a response";
                break;
            case dns::Match::WrongId:
                why = "wrong ID";
                break;
            case dns::Match::WrongQuestion:
                why = "wrong question";
                break;
            }
        }
        if (why != nullptr) {
            ++a->fwd->ignored;
            spdlog::debug("forward: ignored an answer from {} to our query to {}: {}",
                          endpoint_text(from), a->upstream.to_string(), why);
            return;
        }
        a->fwd->answered(*a, data);
    } catch (const std::exception& e) {
        spdlog::error("forward: {}", e.what());
        a->fwd->failed(*a, "internal error", false);
    }
}

void on_tcp_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
    Attempt* a = attempt_of(s->data);
    if (a->pending == nullptr) {
        return;
    }
    try {
        if (n < 0) {
            a->fwd->failed(*a,
                           n == UV_EOF ? std::string("closed the TCP connection without an answer")
                                       : std::string(uv_strerror(static_cast<int>(n))),
                           true);
            return;
        }
        a->input.insert(a->input.end(), buf->base, buf->base + n);
        if (a->input.size() < 2) {
            return;
        }
        const size_t len = (size_t{a->input[0]} << 8) | a->input[1];
        if (a->input.size() < 2 + len) {
            return; // RFC 7766 §8: the rest of the frame is on its way
        }
        const std::span<const uint8_t> data(a->input.data() + 2, len);
        if (dns::match_response(data, a->id, a->pending->q) != dns::Match::Ok) {
            // On a connection we opened, a mismatch is the upstream's fault, not a spoofer's.
            a->fwd->failed(*a, "answered another question over TCP", false);
            return;
        }
        a->fwd->answered(*a, data);
    } catch (const std::exception& e) {
        spdlog::error("forward: {}", e.what());
        a->fwd->failed(*a, "internal error", false);
    }
}

void on_tcp_connect(uv_connect_t* req, int status) noexcept {
    Attempt* a = attempt_of(req->handle->data);
    if (a->pending == nullptr) {
        return;
    }
    if (status < 0) {
        a->fwd->failed(*a, std::string("TCP: ") + uv_strerror(status), true);
        return;
    }
    auto* stream = reinterpret_cast<uv_stream_t*>(&a->stream);
    const uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(a->wire.data()), static_cast<unsigned>(a->wire.size()));
    int rc = uv_read_start(stream, alloc_buffer, on_tcp_read);
    if (rc == 0) {
        // The attempt (and `wire`) lives until its handles are closed, which cancels the write.
        rc = uv_write(&a->write, stream, &buf, 1, [](uv_write_t* w, int st) {
            Attempt* at = attempt_of(w->handle->data);
            if (st < 0 && st != UV_ECANCELED && at->pending != nullptr) {
                at->fwd->failed(*at, std::string("TCP: ") + uv_strerror(st), true);
            }
        });
    }
    if (rc != 0) {
        a->fwd->failed(*a, std::string("TCP: ") + uv_strerror(rc), true);
    }
}

} // namespace

void Forwarder::Impl::sync() {
    if (const auto& snap = worker.snapshot(); snap.generation != names_generation) {
        names_generation = snap.generation;
        std::string now = std::to_string(reinterpret_cast<uintptr_t>(snap.zones.get()));
        for (const auto& c : snap.clusters) {
            now += c.apex;
        }
        if (now != names) {
            cache.clear();
            names = std::move(now);
        }
    }
    auto current = worker.resolver();
    if (current == config) {
        return;
    }
    const bool same_sources =
        config && current && config->upstreams == current->upstreams &&
        config->forward.size() == current->forward.size() &&
        std::equal(config->forward.begin(), config->forward.end(), current->forward.begin(),
                   [](const config::ForwardZone& x, const config::ForwardZone& y) {
                       return x.zone == y.zone && x.upstreams == y.upstreams;
                   }) &&
        config->min_ttl == current->min_ttl && config->max_ttl == current->max_ttl &&
        config->negative_ttl == current->negative_ttl;
    config = std::move(current);
    if (!same_sources) {
        cache.clear(); // answers from other upstreams or under another TTL policy
    }
    zones.clear();
    if (!config) {
        cache.set_capacity(0);
        return;
    }
    for (const auto& z : config->forward) {
        zones[dns::to_wire_name(z.zone)] = z.upstreams;
    }
    policy = {config->min_ttl, config->max_ttl, config->negative_ttl};
    cache.set_capacity(config->cache_size);
}

const std::vector<util::Endpoint>* Forwarder::Impl::upstreams_for(const dns::Query& q) const {
    for (unsigned i = 0; i < q.label_count && !zones.empty(); ++i) { // longest suffix first
        if (const auto it = zones.find(std::string(q.lower_suffix(i))); it != zones.end()) {
            return &it->second;
        }
    }
    return config && !config->upstreams.empty() ? &config->upstreams : nullptr;
}

dns::AnswerOptions Forwarder::Impl::options(const Waiter& w) const {
    const auto& server = worker.snapshot().server;
    dns::AnswerOptions o{server.udp_payload, server.identity, dns::kMaxMessage};
    if (w.client.transport == dns::Transport::Udp) {
        // RFC 6891 §6.2.5 / RFC 1035 §4.2.1, as the engine does for its own answers
        o.limit = w.edns.present
                      ? std::min<size_t>(std::max<size_t>(512, w.edns.udp_size), server.udp_payload)
                      : 512;
    }
    return o;
}

dns::Written Forwarder::Impl::write(const dns::CachedAnswer& a, uint32_t age, const Waiter& w,
                                    std::span<uint8_t> out, dns::Outcome& o) {
    o.rcode = a.rcode;
    if (a.cut.empty()) {
        return dns::write_answer(a, age, w.asker(), options(w), out);
    }
    // The upstream's chain reached one of our names: the rest is ours, for this client.
    thread_local std::vector<uint8_t> chain;
    const uint16_t count = dns::answer_records(a, age, chain);
    dns::Query q;
    dns::parse_query(w.query, q);
    const dns::Outcome ours =
        dns::answer_forwarded(worker.snapshot(), w.query, q, w.client, chain, count, a.cut, out);
    o.rcode = ours.rcode;
    return {ours.size, ours.truncated};
}

void Forwarder::Impl::log(const Waiter& w, dns::Rcode rcode, std::string_view via) const {
    if (!worker.snapshot().server.query_log) {
        return;
    }
    const size_t name_len = w.question.size() - 4;
    const uint16_t qtype =
        static_cast<uint16_t>((w.question[name_len] << 8) | w.question[name_len + 1]);
    spdlog::info("query from {} {}: {} {} -> {} ({})", w.client.addr.to_string(),
                 w.client.transport == dns::Transport::Udp ? "udp" : "tcp",
                 dns::name_to_text({reinterpret_cast<const char*>(w.question.data()), name_len}),
                 dns::type_to_string(qtype), dns::to_string(rcode), via);
}

void Forwarder::Impl::start(Pending& p) {
    if (p.next >= p.upstreams.size()) {
        finish(p, nullptr, "");
        return;
    }
    start_attempt(p, p.upstreams[p.next++], false);
}

void Forwarder::Impl::start_attempt(Pending& p, const util::Endpoint& upstream, bool tcp) {
    auto* a = new Attempt; // NOLINT(cppcoreguidelines-owning-memory): freed when closed
    g_sockets.fetch_add(1, std::memory_order_relaxed);
    a->fwd = this;
    a->pending = &p;
    a->upstream = upstream;
    a->tcp = tcp;
    a->id = random.u16();
    p.attempt = a;
    uv_loop_t* loop = worker.loop();
    uv_timer_init(loop, &a->timer);
    a->timer.data = static_cast<Owned*>(a);
    a->open_handles = 2;
    std::array<uint8_t, 512> query{};
    const size_t n =
        dns::write_upstream_query(p.q, a->id, worker.snapshot().server.udp_payload, query);
    if (tcp) {
        a->wire = {static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    }
    a->wire.insert(a->wire.end(), query.begin(), query.begin() + static_cast<std::ptrdiff_t>(n));
    sockaddr_storage to{};
    upstream.to_sockaddr(to);

    int rc = 0;
    if (tcp) {
        uv_tcp_init(loop, &a->stream);
        a->stream.data = static_cast<Owned*>(a);
        rc = uv_tcp_connect(&a->connect, &a->stream, reinterpret_cast<const sockaddr*>(&to),
                            on_tcp_connect);
    } else {
        uv_udp_init(loop, &a->udp);
        a->udp.data = static_cast<Owned*>(a);
        // RFC 5452 §9.2: a fresh socket per query, on an ephemeral port the kernel picks at
        // random; connected, so the kernel also drops datagrams from any other address or port.
        sockaddr_storage any{};
        util::Endpoint{util::IpAddress{upstream.addr.family, {}}, 0}.to_sockaddr(any);
        rc = uv_udp_bind(&a->udp, reinterpret_cast<const sockaddr*>(&any),
                         upstream.addr.is_v4() ? 0 : UV_UDP_IPV6ONLY);
        if (rc == 0) {
            rc = uv_udp_connect(&a->udp, reinterpret_cast<const sockaddr*>(&to));
        }
        if (rc == 0) {
            rc = uv_udp_recv_start(&a->udp, alloc_buffer, on_udp_recv);
        }
        if (rc == 0) {
            const uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(a->wire.data()),
                                             static_cast<unsigned>(a->wire.size()));
            const int sent = uv_udp_try_send(&a->udp, &buf, 1, nullptr);
            rc = sent < 0 ? sent : 0;
        }
    }
    if (rc != 0) {
        failed(*a, uv_strerror(rc), true);
        return;
    }
    uv_timer_start(
        &a->timer,
        [](uv_timer_t* t) {
            Attempt* at = attempt_of(t->data);
            if (at->pending != nullptr) {
                at->fwd->failed(*at, at->tcp ? "timed out over TCP" : "timed out", false);
            }
        },
        static_cast<uint64_t>(p.timeout.count()), 0);
}

void Forwarder::Impl::failed(Attempt& a, std::string why, bool network) {
    Pending* p = a.pending;
    a.close();
    if (p == nullptr) {
        return;
    }
    spdlog::debug("forward: {} for {}: {}", a.upstream.to_string(),
                  dns::name_to_text(p->q.lower_name()), why);
    p->failures.push_back({a.upstream, std::move(why), network});
    start(*p);
}

void Forwarder::Impl::answered(Attempt& a, std::span<const uint8_t> response) {
    Pending* p = a.pending;
    const util::Endpoint upstream = a.upstream;
    const bool tcp = a.tcp;
    // TC first: a truncated answer may be cut mid-record and not parse (RFC 2181 §9).
    const uint16_t flags = static_cast<uint16_t>((response[2] << 8) | response[3]);
    if ((flags & dns::flag::TC) != 0 && !tcp) {
        a.close(); // RFC 7766 §5: a truncated answer is retried over TCP, same upstream
        start_attempt(*p, upstream, true);
        return;
    }
    const dns::Snapshot& snap = worker.snapshot();
    const auto normalized = dns::normalize(response, policy, [&snap](std::string_view name) {
        return snap.find_apex(name) != nullptr ||
               (snap.zones && (snap.zones->find(name, config::View::Vpc) != nullptr ||
                               snap.zones->find(name, config::View::Public) != nullptr));
    });
    if (!normalized) {
        failed(a, "sent a malformed answer", false);
        return;
    }
    if (normalized->rcode != dns::Rcode::NoError && normalized->rcode != dns::Rcode::NxDomain) {
        const auto rcode = static_cast<uint16_t>(normalized->rcode);
        failed(a,
               rcode < 16 ? "answered " + std::string(dns::to_string(normalized->rcode))
                          : "answered RCODE " + std::to_string(rcode),
               false);
        return;
    }
    a.close();
    cache.insert(p->key, *normalized, dns::Cache::Clock::now());
    finish(*p, &*normalized, "forwarded to " + upstream.to_string());
}

void Forwarder::Impl::finish(Pending& p, const dns::CachedAnswer* answer, std::string_view via) {
    // Out of the map first: a reply must never find this question still in flight.
    auto node = pending.extract(p.key);
    if (node.empty()) {
        return;
    }
    const std::unique_ptr<Pending> owned = std::move(node.mapped());
    std::string text;
    bool all_network = !owned->failures.empty();
    for (const auto& f : owned->failures) {
        all_network = all_network && f.network;
        std::string item = f.upstream.to_string() + " " + f.why;
        if (text.size() + item.size() + 2 > kMaxFailureText) {
            text += text.empty() ? "" : "; ...";
            break;
        }
        text += (text.empty() ? "" : "; ") + item;
    }
    // RFC 8914 §4.23 / §4.24: a network error everywhere, else no upstream would answer.
    const uint16_t ede = all_network ? dns::ede::NetworkError : dns::ede::NoReachableAuthority;
    const std::string outcome =
        answer != nullptr ? std::string(via) : "all upstreams failed: " + text;
    if (answer == nullptr) {
        spdlog::debug("forward: SERVFAIL for {}: {}", dns::name_to_text(owned->q.lower_name()),
                      text);
    }
    thread_local std::vector<uint8_t> out(dns::kMaxMessage);
    for (auto& w : owned->waiters) {
        const uint64_t start = monotonic_ns();
        const dns::Asker asker = w.asker();
        dns::Outcome o;
        o.rcode = dns::Rcode::ServFail;
        const dns::Written written =
            answer != nullptr
                ? write(*answer, 0, w, out, o)
                : dns::write_error(asker, dns::Rcode::ServFail, ede, text, options(w), out);
        if (written.size == 0) {
            continue;
        }
        o.size = written.size;
        o.truncated = written.truncated;
        o.qtype = owned->q.qtype;
        worker.metrics().count(o, w.client.transport, monotonic_ns() - start);
        log(w, o.rcode, outcome);
        w.reply(std::span<const uint8_t>(out.data(), written.size));
    }
}

void Forwarder::set_socket_budget(size_t sockets) {
    g_socket_budget.store(sockets, std::memory_order_relaxed);
}

Forwarder::Forwarder(Worker& worker)
    : impl_(std::make_unique<Impl>(worker)) {}

Forwarder::~Forwarder() {
    // The loop has closed every Attempt by now (the worker's stop walk); detach what is left.
    for (auto& [key, p] : impl_->pending) {
        if (p->attempt != nullptr) {
            p->attempt->pending = nullptr;
        }
    }
}

size_t Forwarder::resolve(std::span<const uint8_t> query, const dns::Client& client,
                          std::span<uint8_t> out, ReplyFn reply) {
    Impl& f = *impl_;
    f.sync();
    dns::Query q;
    if (dns::parse_query(query, q) != dns::ParseStatus::Ok) {
        return 0; // the engine parsed it already; never happens
    }
    Waiter w;
    w.id = q.id;
    w.flags = q.flags;
    w.question.assign(query.begin() + dns::kHeaderSize,
                      query.begin() + static_cast<std::ptrdiff_t>(q.question_end));
    w.edns = q.edns;
    w.query.assign(query.begin(), query.end());
    w.client = client;
    const auto answer_now = [&](dns::Rcode rcode, std::string_view why,
                                std::optional<uint16_t> ede = std::nullopt) {
        const auto written = dns::write_error(w.asker(), rcode, ede, ede ? why : std::string_view{},
                                              f.options(w), out);
        dns::Outcome o;
        o.size = written.size;
        o.rcode = rcode;
        o.qtype = q.qtype;
        f.worker.metrics().count(o, client.transport, 0);
        f.log(w, rcode, why);
        return written.size;
    };

    const auto* upstreams = f.config ? f.upstreams_for(q) : nullptr;
    if (upstreams == nullptr) {
        return answer_now(dns::Rcode::Refused, "no upstream for this name");
    }
    if (q.qtype == dns::type::AXFR || q.qtype == dns::type::IXFR) {
        return answer_now(dns::Rcode::Refused, "no zone transfers through a forwarder");
    }
    const std::string key = dns::cache_key(q);
    if (const auto hit = f.cache.lookup(key, dns::Cache::Clock::now())) {
        const uint64_t start = monotonic_ns();
        dns::Outcome o;
        const auto written = f.write(*hit->answer, hit->age, w, out, o);
        o.size = written.size;
        o.truncated = written.truncated;
        o.qtype = q.qtype;
        f.worker.metrics().count(o, client.transport, monotonic_ns() - start);
        f.log(w, o.rcode, "cache");
        return written.size;
    }
    if ((q.flags & dns::flag::RD) == 0) {
        // RFC 1034 §4.3.1: without RD the client wants no recursion, so the cache alone answers.
        // Not cached: REFUSED, as Unbound does for non-recursive queries (access-control
        // "allow") and the PowerDNS Recursor by default since 5.0 (allow-no-rd); we have no
        // referral to give.
        return answer_now(dns::Rcode::Refused, "RD=0 and not cached");
    }
    const auto it = f.pending.find(key);
    if (it != f.pending.end() ? it->second->waiters.size() >= kMaxWaiters
                              : f.pending.size() >= kMaxPending) {
        return answer_now(dns::Rcode::ServFail, "too many queries in flight", dns::ede::Other);
    }
    if (const size_t budget = g_socket_budget.load(std::memory_order_relaxed);
        it == f.pending.end() && budget != 0 &&
        g_sockets.load(std::memory_order_relaxed) >= budget) {
        // A socket more could starve the listeners and the admin API of file descriptors:
        // SERVFAIL now, saying why (RFC 8914 §4.1: Other, with EXTRA-TEXT).
        return answer_now(dns::Rcode::ServFail, "too many upstream queries in flight",
                          dns::ede::Other);
    }
    w.reply = std::move(reply);
    if (it != f.pending.end()) {
        it->second->waiters.push_back(std::move(w)); // coalesced: already on its way upstream
        return 0;
    }
    auto p = std::make_unique<Pending>();
    p->key = key;
    p->q = q;
    p->upstreams = *upstreams;
    p->timeout = f.config->timeout;
    p->waiters.push_back(std::move(w));
    Pending& ref = *p;
    f.pending.emplace(key, std::move(p));
    f.start(ref);
    return 0;
}

} // namespace horizon::server
