// The libuv transport of dns::Resolver: one Attempt (a UDP or TCP socket and a timer) per
// Command::Send, client replies through their ReplyFn, and every socket and timer event fed back
// to the resolver. Policy lives in the resolver; here only I/O and its errors.
#include "server/forwarder.hpp"

#include <chrono>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "dns/resolver.hpp"
#include "server/worker.hpp"

namespace horizon::server {

namespace {

/// Upstream sockets open across all workers, and their bound (Forwarder::set_socket_budget).
dns::SocketBudget g_budget;

uint64_t monotonic_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

util::Endpoint endpoint_of(const sockaddr* sa) {
    const uint16_t port =
        ntohs(sa->sa_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(sa)->sin_port
                                       : reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
    return {util::IpAddress::from_sockaddr(sa), port};
}

std::string uv_text(std::string_view what, int rc) {
    return std::string(what) + uv_strerror(rc);
}

struct Attempt;

/// A client waiting for a forwarded answer.
struct Waiting {
    ReplyFn reply;
    dns::Client client;
};

} // namespace

struct Forwarder::Impl {
    Worker& worker;
    dns::Resolver resolver{g_budget};
    std::unordered_map<dns::AttemptId, Attempt*> attempts; ///< open ones (not closing)
    std::unordered_map<dns::ClientId, Waiting> clients;
    dns::ClientId next_client = 1;
    /// While resolve() runs: the client answered into `now_out` rather than through its reply.
    dns::ClientId now_client = 0;
    std::span<uint8_t> now_out;
    size_t now_size = 0;
    uint64_t event_start = 0;

    explicit Impl(Worker& w)
        : worker(w) {}

    /// The resolver sees the worker's current snapshot and [resolver] before every event.
    dns::Resolver& fresh() {
        resolver.configure(worker.snapshot_ptr(), worker.resolver());
        event_start = monotonic_ns();
        return resolver;
    }

    void run(dns::Commands commands);
    void execute(dns::Command& c, std::deque<dns::Command>& queue);
    void send(dns::Command& c, std::deque<dns::Command>& queue);
    void deliver(dns::Command& c);

    /// A failure of `id`'s socket while a command ran: fed back after the commands before it.
    void fail(dns::AttemptId id, const std::string& why, std::deque<dns::Command>& queue) {
        for (auto& next : fresh().on_error(id, why, dns::Cache::Clock::now())) {
            queue.push_back(std::move(next));
        }
    }
};

namespace {

/// One try of one upstream over UDP or TCP, with its timer. Owned by the loop: freed only in the
/// close callback of its last handle. After close() no event of it reaches the resolver.
struct Attempt final : Owned {
    Forwarder::Impl* fwd = nullptr;
    dns::AttemptId id = 0;
    util::Endpoint upstream;
    bool tcp = false;
    std::vector<uint8_t> wire;  ///< our query (with the TCP length prefix over TCP)
    std::vector<uint8_t> input; ///< TCP bytes received so far
    uv_udp_t udp{};
    uv_tcp_t stream{};
    uv_timer_t timer{};
    uv_connect_t connect{};
    uv_write_t write{};
    bool timer_open = false;
    bool socket_open = false;
    int open_handles = 0;
    bool closing = false;

    uv_handle_t* socket() {
        return tcp ? reinterpret_cast<uv_handle_t*>(&stream) : reinterpret_cast<uv_handle_t*>(&udp);
    }

    void close() override {
        if (closing) {
            return;
        }
        closing = true;
        fwd->attempts.erase(id);
        const auto done = [](uv_handle_t* h) {
            auto* a = static_cast<Attempt*>(static_cast<Owned*>(h->data));
            if (--a->open_handles == 0) {
                delete a; // NOLINT(cppcoreguidelines-owning-memory): every handle is closed
            }
        };
        if (open_handles == 0) {
            delete this; // NOLINT(cppcoreguidelines-owning-memory): it never owned a handle
            return;
        }
        if (timer_open) {
            uv_close(reinterpret_cast<uv_handle_t*>(&timer), done);
        }
        if (socket_open) {
            uv_close(socket(), done);
        }
    }

    /// Feeds one event's commands to the transport, unless this attempt is over.
    template <typename Event>
    void feed(Event&& event) {
        if (!closing) {
            fwd->run(event(fwd->fresh()));
        }
    }
};

Attempt* attempt_of(void* data) {
    return static_cast<Attempt*>(static_cast<Owned*>(data));
}

void alloc_buffer(uv_handle_t* /*h*/, size_t /*suggested*/, uv_buf_t* buf) {
    thread_local std::vector<char> scratch(65536);
    *buf = uv_buf_init(scratch.data(), static_cast<unsigned>(scratch.size()));
}

void on_udp_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                 unsigned /*flags*/) noexcept {
    Attempt* a = attempt_of(h->data);
    try {
        if (n < 0) { // e.g. ECONNREFUSED: an ICMP port unreachable on our connected socket
            const std::string why = uv_strerror(static_cast<int>(n));
            a->feed(
                [&](dns::Resolver& r) { return r.on_error(a->id, why, dns::Cache::Clock::now()); });
            return;
        }
        if (from == nullptr) {
            return; // nothing more to read
        }
        const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(buf->base),
                                            static_cast<size_t>(n));
        const util::Endpoint source = endpoint_of(from);
        a->feed([&](dns::Resolver& r) {
            return r.on_response(a->id, source, data, dns::Cache::Clock::now());
        });
    } catch (const std::exception& e) {
        spdlog::error("forward: {}", e.what());
        a->feed([&](dns::Resolver& r) {
            return r.on_error(a->id, "internal error", dns::Cache::Clock::now());
        });
    }
}

void on_tcp_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
    Attempt* a = attempt_of(s->data);
    try {
        if (n < 0) {
            std::string why = uv_strerror(static_cast<int>(n));
            if (n == UV_EOF && a->input.size() >= 2) {
                // RFC 7766 §8: the length said more was coming; the answer was cut mid-message.
                why = fmt::format("closed the TCP connection after {} of the {} bytes of its "
                                  "answer",
                                  a->input.size() - 2, (size_t{a->input[0]} << 8) | a->input[1]);
            } else if (n == UV_EOF) {
                why = "closed the TCP connection without an answer";
            }
            a->feed(
                [&](dns::Resolver& r) { return r.on_error(a->id, why, dns::Cache::Clock::now()); });
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
        a->feed([&](dns::Resolver& r) {
            return r.on_response(a->id, a->upstream, data, dns::Cache::Clock::now());
        });
    } catch (const std::exception& e) {
        spdlog::error("forward: {}", e.what());
        a->feed([&](dns::Resolver& r) {
            return r.on_error(a->id, "internal error", dns::Cache::Clock::now());
        });
    }
}

void on_tcp_write(uv_write_t* w, int status) noexcept {
    Attempt* a = attempt_of(w->handle->data);
    if (status < 0 && status != UV_ECANCELED) {
        const std::string why = uv_text("TCP: ", status);
        a->feed([&](dns::Resolver& r) { return r.on_error(a->id, why, dns::Cache::Clock::now()); });
    }
}

void on_tcp_connect(uv_connect_t* req, int status) noexcept {
    Attempt* a = attempt_of(req->handle->data);
    if (status == UV_ECANCELED) {
        return; // closed before it connected
    }
    int rc = status;
    if (rc == 0) {
        rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&a->stream), alloc_buffer, on_tcp_read);
    }
    if (rc == 0) {
        // The attempt (and `wire`) lives until its handles are closed, which cancels the write.
        const uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(a->wire.data()),
                                         static_cast<unsigned>(a->wire.size()));
        rc = uv_write(&a->write, reinterpret_cast<uv_stream_t*>(&a->stream), &buf, 1, on_tcp_write);
    }
    if (rc != 0) {
        const std::string why = uv_text("TCP: ", rc);
        a->feed([&](dns::Resolver& r) { return r.on_error(a->id, why, dns::Cache::Clock::now()); });
    }
}

void on_timer(uv_timer_t* t) noexcept {
    Attempt* a = attempt_of(t->data);
    try {
        a->feed([&](dns::Resolver& r) { return r.on_timeout(a->id, dns::Cache::Clock::now()); });
    } catch (const std::exception& e) {
        spdlog::error("forward: {}", e.what());
    }
}

/// Opens `a`'s UDP socket and sends its query. RFC 5452 §9.2: a fresh socket per query, on an
/// ephemeral port the kernel picks at random; connected, so the kernel also drops datagrams
/// from any other address or port.
int open_udp(Attempt& a, uv_loop_t* loop, const sockaddr* to) {
    int rc = uv_udp_init(loop, &a.udp);
    if (rc != 0) {
        return rc;
    }
    a.udp.data = static_cast<Owned*>(&a);
    a.socket_open = true;
    ++a.open_handles;
    sockaddr_storage any{};
    util::Endpoint{util::IpAddress{a.upstream.addr.family, {}}, 0}.to_sockaddr(any);
    rc = uv_udp_bind(&a.udp, reinterpret_cast<const sockaddr*>(&any),
                     a.upstream.addr.is_v4() ? 0 : UV_UDP_IPV6ONLY);
    if (rc == 0) {
        rc = uv_udp_connect(&a.udp, to);
    }
    if (rc == 0) {
        rc = uv_udp_recv_start(&a.udp, alloc_buffer, on_udp_recv);
    }
    if (rc == 0) {
        const uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(a.wire.data()),
                                         static_cast<unsigned>(a.wire.size()));
        const int sent = uv_udp_try_send(&a.udp, &buf, 1, nullptr);
        rc = sent < 0 ? sent : 0;
    }
    return rc;
}

int open_tcp(Attempt& a, uv_loop_t* loop, const sockaddr* to) {
    int rc = uv_tcp_init(loop, &a.stream);
    if (rc != 0) {
        return rc;
    }
    a.stream.data = static_cast<Owned*>(&a);
    a.socket_open = true;
    ++a.open_handles;
    return uv_tcp_connect(&a.connect, &a.stream, to, on_tcp_connect);
}

} // namespace

void Forwarder::Impl::run(dns::Commands commands) {
    std::deque<dns::Command> queue(std::make_move_iterator(commands.begin()),
                                   std::make_move_iterator(commands.end()));
    while (!queue.empty()) {
        dns::Command c = std::move(queue.front());
        queue.pop_front();
        execute(c, queue);
    }
}

void Forwarder::Impl::execute(dns::Command& c, std::deque<dns::Command>& queue) {
    using Kind = dns::Command::Kind;
    switch (c.kind) {
    case Kind::Send:
        send(c, queue);
        return;
    case Kind::ArmTimer: {
        const auto it = attempts.find(c.attempt);
        if (it == attempts.end()) {
            return; // failed and closed already
        }
        Attempt& a = *it->second;
        int rc = uv_timer_init(worker.loop(), &a.timer);
        if (rc == 0) {
            a.timer.data = static_cast<Owned*>(&a);
            a.timer_open = true;
            ++a.open_handles;
            rc = uv_timer_start(&a.timer, on_timer, static_cast<uint64_t>(c.after.count()), 0);
        }
        if (rc != 0) {
            spdlog::error("forward: cannot arm a timer: {}", uv_strerror(rc));
            fail(c.attempt, uv_text("timer: ", rc), queue);
        }
        return;
    }
    case Kind::Close:
        if (const auto it = attempts.find(c.attempt); it != attempts.end()) {
            it->second->close();
        }
        return;
    case Kind::Reply:
        deliver(c);
        return;
    case Kind::Drop:
        clients.erase(c.client);
        return;
    }
}

void Forwarder::Impl::send(dns::Command& c, std::deque<dns::Command>& queue) {
    auto* a = new Attempt; // NOLINT(cppcoreguidelines-owning-memory): freed when closed
    a->fwd = this;
    a->id = c.attempt;
    a->upstream = c.upstream;
    a->tcp = c.tcp;
    attempts.emplace(a->id, a);
    if (c.tcp) { // RFC 1035 §4.2.2: the two-byte length prefix
        a->wire = {static_cast<uint8_t>(c.message.size() >> 8),
                   static_cast<uint8_t>(c.message.size())};
    }
    a->wire.insert(a->wire.end(), c.message.begin(), c.message.end());
    sockaddr_storage to{};
    c.upstream.to_sockaddr(to);
    const auto* sa = reinterpret_cast<const sockaddr*>(&to);
    const int rc = c.tcp ? open_tcp(*a, worker.loop(), sa) : open_udp(*a, worker.loop(), sa);
    if (rc != 0) {
        fail(a->id, c.tcp ? uv_text("TCP: ", rc) : uv_strerror(rc), queue);
    }
}

void Forwarder::Impl::deliver(dns::Command& c) {
    auto node = clients.extract(c.client);
    if (node.empty()) {
        return;
    }
    Waiting& w = node.mapped();
    worker.account(c.outcome, w.client, monotonic_ns() - event_start, c.message, c.via);
    if (c.client == now_client) {
        if (c.message.size() <= now_out.size()) {
            std::memcpy(now_out.data(), c.message.data(), c.message.size());
            now_size = c.message.size();
        }
        return;
    }
    w.reply(c.message);
}

void Forwarder::set_socket_budget(size_t sockets) {
    g_budget.limit.store(sockets, std::memory_order_relaxed);
}

Forwarder::Forwarder(Worker& worker)
    : impl_(std::make_unique<Impl>(worker)) {}

// The loop has closed every Attempt by now (the worker's stop walk); the clients still waiting
// are released with the map.
Forwarder::~Forwarder() = default;

size_t Forwarder::resolve(std::span<const uint8_t> query, const dns::Query& q,
                          const dns::Client& client, std::span<uint8_t> out, ReplyFn reply) {
    Impl& f = *impl_;
    const dns::ClientId id = f.next_client++;
    f.clients.emplace(id, Waiting{std::move(reply), client});
    f.now_client = id;
    f.now_out = out;
    f.now_size = 0;
    f.run(f.fresh().on_query(id, query, q, client, dns::Cache::Clock::now()));
    f.now_client = 0;
    f.now_out = {};
    return f.now_size;
}

} // namespace horizon::server
