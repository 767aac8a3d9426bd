// The API endpoint: listeners per cluster side, the connection decision at accept time from the
// current snapshot, and what happens next: proxy to the upstream (bytes as they come, with
// backpressure), the built-in responder, hold ("drop"), or reset.
#include "server/api_endpoint.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <unordered_set>

#include <spdlog/spdlog.h>
#include <uv.h>

#include "control/api_access.hpp"
#include "control/state_file.hpp"
#include "server/api_responder.hpp"
#include "server/api_tls.hpp"
#include "server/runtime.hpp"

namespace horizon::server {

namespace {

using control::ApiReason;
using control::ApiSide;

constexpr size_t kHeldBuffer = 64 * 1024;      ///< bytes read from a held client, then no more
constexpr size_t kConnectBuffer = 1024 * 1024; ///< bytes buffered while the upstream connects
constexpr size_t kHighWater = 1024 * 1024;     ///< stop reading a side while this much is unsent
constexpr size_t kLowWater = 256 * 1024;       ///< ... and read again below this
constexpr uint64_t kConnectTimeoutMs = 10000;
/// An open connection with no byte either way for this long is reset, as an AWS NLB resets a TCP
/// flow idle for 350 s: no client can keep a slot of max_connections forever.
constexpr uint64_t kIdleTimeoutMs = 350 * 1000;
constexpr int kBacklog = 511;
constexpr unsigned kLogPerSecond = 20; ///< decision log lines per second, beyond: counted only

enum class State : uint8_t { Held, Connecting, Proxied, Responder };

std::string_view to_string(State s) {
    switch (s) {
    case State::Held:
        return "held";
    case State::Connecting:
        return "connecting";
    case State::Proxied:
        return "proxied";
    case State::Responder:
        return "responder";
    }
    return "?";
}

util::Endpoint endpoint_of(const sockaddr_storage& ss) {
    util::Endpoint ep;
    ep.addr = util::IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss)).unmapped();
    ep.port =
        ntohs(ss.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&ss)->sin_port
                                      : reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return ep;
}

uv_stream_t* stream(uv_tcp_t* t) {
    return reinterpret_cast<uv_stream_t*>(t);
}

uv_handle_t* handle(void* h) {
    return reinterpret_cast<uv_handle_t*>(h);
}

const config::ClusterConfig* find_cluster(const dns::Snapshot& snap, const std::string& name) {
    for (const auto& c : snap.clusters) {
        if (c.cfg.name == name) {
            return &c.cfg;
        }
    }
    return nullptr;
}

/// One bound or unbound address, for the start-up log and the connections view.
struct Address {
    std::string cluster;
    ApiSide side = ApiSide::Public;
    util::Endpoint at;
    std::string error; ///< why it could not be bound; "" when bound
};

/// A listening socket bound to `a`, or -1 with a.error set.
int bind_listener(Address& a) {
    const int family = a.at.addr.is_v4() ? AF_INET : AF_INET6;
    const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        a.error = fmt::format("socket: {}", std::strerror(errno));
        return -1;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) {
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    sockaddr_storage ss{};
    const unsigned len = a.at.to_sockaddr(ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, kBacklog) != 0) {
        const int e = errno;
        ::close(fd);
        a.error = fmt::format(
            "{}{}", std::strerror(e),
            e == EADDRNOTAVAIL
                ? fmt::format(" (not an address of this machine: use 127.x addresses in a "
                              "loopback lab, or add it, e.g. `ip addr add {}/{} dev lo`)",
                              a.at.addr.to_string(), a.at.addr.is_v4() ? 32 : 128)
            : e == EACCES     ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            : e == EADDRINUSE ? " (another program listens there)"
                              : "");
        return -1;
    }
    return fd;
}

/// Writes `text` to `path` with `mode`, replacing it atomically.
bool write_private(const std::string& path, const std::string& text, mode_t mode,
                   std::string& error) {
    if (!control::write_file_atomically(path, text, error)) {
        return false;
    }
    if (::chmod(path.c_str(), mode) != 0) {
        error = fmt::format("cannot chmod {}: {}", path, std::strerror(errno));
        return false;
    }
    return true;
}

} // namespace

struct Conn;

/// The metric labels: {name, cluster, side, label}.
using CounterKey = std::tuple<std::string, std::string, std::string, std::string>;

/// What the admin thread may see of a connection.
struct ConnInfo {
    std::string cluster;
    ApiSide side = ApiSide::Public;
    util::Endpoint local;
    util::Endpoint peer;
    State state = State::Held;
    std::chrono::system_clock::time_point since;
    uint64_t bytes_in = 0;  ///< from the client
    uint64_t bytes_out = 0; ///< to the client
};

struct Listener {
    uv_tcp_t tcp{};
    ApiEndpoint::Impl* impl = nullptr;
    Address address;
};

struct ApiEndpoint::Impl {
    Runtime* runtime = nullptr;
    SnapshotHolder* holder = nullptr;
    uv_loop_t loop{};
    uv_async_t stop_async{};
    uv_async_t publish_async{};
    bool loop_ready = false;
    std::thread thread;
    std::atomic<bool> running{false};
    std::vector<std::unique_ptr<Listener>> listeners;
    std::vector<Address> addresses;             ///< bound and unbound, immutable after create
    std::map<std::string, SslCtxPtr> tls;       ///< per cluster
    std::map<std::string, std::string> layout;  ///< cluster -> its API addresses at start
    std::atomic<uint64_t> layout_warned_gen{0}; ///< last generation warned about (notify)

    // Loop thread only.
    std::unordered_set<Conn*> conns;
    std::map<std::pair<std::string, ApiSide>, unsigned> open_count;
    std::map<std::string, unsigned> held_count;
    uint64_t next_id = 1;
    std::chrono::steady_clock::time_point log_window;
    unsigned logged_in_window = 0;
    unsigned suppressed = 0;

    // Shared with the admin thread.
    mutable std::mutex mu;
    std::map<uint64_t, ConnInfo> registry;
    std::map<CounterKey, uint64_t> counters;

    void count(const char* name, const std::string& cluster, ApiSide side, std::string_view label) {
        const std::lock_guard lock(mu);
        ++counters[{name, cluster, std::string(control::to_string(side)), std::string(label)}];
    }

    /// Rate-limited decision log: a flood must not flood the log.
    void log_decision(const std::string& line) {
        const auto now = std::chrono::steady_clock::now();
        if (now - log_window >= std::chrono::seconds(1)) {
            if (suppressed > 0) {
                spdlog::info("api: {} more connection decisions not logged", suppressed);
            }
            log_window = now;
            logged_in_window = 0;
            suppressed = 0;
        }
        if (logged_in_window++ < kLogPerSecond) {
            spdlog::info("api: {}", line);
        } else {
            ++suppressed;
        }
    }

    void on_connection(Listener& l);
    void on_publish();
    void shutdown();
    std::string layout_of(const config::ClusterConfig& c) const;
};

/// One accepted connection. Freed when its last handle is closed and no request is pending.
struct Conn {
    ApiEndpoint::Impl* impl = nullptr;
    uint64_t id = 0;
    std::string cluster;
    ApiSide side = ApiSide::Public;
    util::Endpoint local;
    util::Endpoint peer;
    State state = State::Held;
    uv_tcp_t client{};
    uv_tcp_t upstream{};
    uv_timer_t timer{};
    uv_connect_t connect_req{};
    uv_getaddrinfo_t resolve_req{};
    bool upstream_open = false; ///< upstream handle initialised
    bool resolving = false;
    int handles = 0;
    bool closing = false;
    bool client_reading = false;
    bool upstream_reading = false;
    bool client_eof = false;
    bool upstream_eof = false;
    bool counted_open = false;
    bool counted_held = false;
    std::string pending; ///< client bytes not yet delivered (held, connecting)
    std::unique_ptr<ApiResponder> responder;
    std::optional<config::ApiUpstream> target;

    void close(bool reset);

    void maybe_free() {
        if (handles == 0 && !resolving) {
            delete this; // NOLINT(cppcoreguidelines-owning-memory): every handle is closed
        }
    }

    void start_client_reading();

    void stop_client_reading() {
        if (client_reading) {
            uv_read_stop(stream(&client));
            client_reading = false;
        }
    }

    void start_upstream_reading();

    void stop_upstream_reading() {
        if (upstream_reading) {
            uv_read_stop(stream(&upstream));
            upstream_reading = false;
        }
    }

    void on_client_data(const char* data, size_t len);
    void on_upstream_data(const char* data, size_t len);
    /// (Re)arms the idle timer of a proxied or answered connection.
    void touch();
    void write(uv_tcp_t* to, std::string data);
    void shutdown_then_close(uv_tcp_t* which);
    void open(const config::ClusterConfig& cfg);
    void hold(const config::ClusterConfig& cfg);
    void connect_upstream();
    void connect_to(const sockaddr* addr);
    void upstream_failed(const std::string& why);

    void set_state(State s) {
        state = s;
        const std::lock_guard lock(impl->mu);
        if (auto it = impl->registry.find(id); it != impl->registry.end()) {
            it->second.state = s;
        }
    }

    void add_bytes(uint64_t in, uint64_t out) {
        const std::lock_guard lock(impl->mu);
        if (auto it = impl->registry.find(id); it != impl->registry.end()) {
            it->second.bytes_in += in;
            it->second.bytes_out += out;
        }
    }

    std::string who() const {
        return fmt::format("{} -> {} ({} {})", peer.to_string(), local.to_string(), cluster,
                           control::to_string(side));
    }
};

namespace {

void alloc_buffer(uv_handle_t* /*h*/, size_t suggested, uv_buf_t* buf) {
    buf->base = new char[suggested]; // NOLINT(cppcoreguidelines-owning-memory): freed in on_read
    buf->len = suggested;
}

struct WriteReq {
    uv_write_t req{};
    std::string data;
    Conn* conn = nullptr;
    bool to_client = false;
};

} // namespace

void Conn::close(bool reset) {
    if (closing) {
        return;
    }
    closing = true;
    impl->conns.erase(this);
    {
        const std::lock_guard lock(impl->mu);
        impl->registry.erase(id);
    }
    if (counted_open) {
        --impl->open_count[{cluster, side}];
    }
    if (counted_held) {
        --impl->held_count[cluster];
    }
    if (resolving) {
        uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req));
    }
    const auto done = [](uv_handle_t* h) {
        auto* c = static_cast<Conn*>(h->data);
        --c->handles;
        c->maybe_free();
    };
    // A RST rather than a FIN: what "reset" means, and it frees the socket without TIME_WAIT.
    if (!reset || uv_tcp_close_reset(&client, done) != 0) {
        uv_close(handle(&client), done);
    }
    uv_close(handle(&timer), done);
    if (upstream_open) {
        uv_close(handle(&upstream), done);
    }
}

void Conn::start_client_reading() {
    if (client_reading || client_eof || closing) {
        return;
    }
    client_reading = true;
    uv_read_start(
        stream(&client), alloc_buffer, [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
            const std::unique_ptr<char[]> owned(buf->base);
            auto* c = static_cast<Conn*>(s->data);
            if (c->closing) {
                return;
            }
            try {
                if (n > 0) {
                    c->add_bytes(static_cast<uint64_t>(n), 0);
                    c->on_client_data(buf->base, static_cast<size_t>(n));
                } else if (n == UV_EOF) {
                    c->client_eof = true;
                    c->stop_client_reading();
                    if (c->state == State::Proxied) {
                        c->shutdown_then_close(&c->upstream);
                    } else {
                        c->close(false); // held, connecting or the responder: the client is gone
                    }
                } else if (n < 0) {
                    c->close(true);
                }
            } catch (const std::exception& e) {
                spdlog::error("api: {}: {}", c->who(), e.what());
                c->close(true);
            }
        });
}

void Conn::start_upstream_reading() {
    if (upstream_reading || upstream_eof || closing) {
        return;
    }
    upstream_reading = true;
    uv_read_start(stream(&upstream), alloc_buffer,
                  [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                      const std::unique_ptr<char[]> owned(buf->base);
                      auto* c = static_cast<Conn*>(s->data);
                      if (c->closing) {
                          return;
                      }
                      if (n > 0) {
                          c->on_upstream_data(buf->base, static_cast<size_t>(n));
                      } else if (n == UV_EOF) {
                          c->upstream_eof = true;
                          c->stop_upstream_reading();
                          c->shutdown_then_close(&c->client);
                      } else if (n < 0) {
                          c->close(true); // the upstream reset: so does the client's view
                      }
                  });
}

void Conn::write(uv_tcp_t* to, std::string data) {
    auto* w = new WriteReq; // NOLINT(cppcoreguidelines-owning-memory): freed in the callback
    w->data = std::move(data);
    w->conn = this;
    w->to_client = to == &client;
    if (w->to_client) {
        add_bytes(0, w->data.size());
    }
    const uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    const int rc = uv_write(&w->req, stream(to), &buf, 1, [](uv_write_t* req, int status) {
        const std::unique_ptr<WriteReq> done(reinterpret_cast<WriteReq*>(req));
        Conn* c = done->conn;
        if (c->closing) {
            return;
        }
        if (status < 0) {
            c->close(true);
            return;
        }
        // Backpressure: the side whose bytes these were may read again once they drained.
        uv_tcp_t* dst = done->to_client ? &c->client : &c->upstream;
        if (uv_stream_get_write_queue_size(stream(dst)) < kLowWater) {
            if (done->to_client && c->state == State::Proxied) {
                c->start_upstream_reading();
            } else if (!done->to_client) {
                c->start_client_reading();
            }
        }
    });
    if (rc != 0) {
        delete w; // NOLINT(cppcoreguidelines-owning-memory): never queued
        close(true);
        return;
    }
    if (uv_stream_get_write_queue_size(stream(to)) > kHighWater) {
        if (w->to_client) {
            stop_upstream_reading();
        } else {
            stop_client_reading();
        }
    }
}

void Conn::shutdown_then_close(uv_tcp_t* which) {
    auto* req = new uv_shutdown_t; // NOLINT(cppcoreguidelines-owning-memory): freed in callback
    req->data = this;
    const int rc = uv_shutdown(req, stream(which), [](uv_shutdown_t* r, int /*status*/) {
        const std::unique_ptr<uv_shutdown_t> owned(r);
        auto* c = static_cast<Conn*>(r->data);
        if (c->closing) {
            return;
        }
        // Close once both directions are done (or at once when a side is not proxied).
        if (c->state != State::Proxied || (c->client_eof && c->upstream_eof)) {
            c->close(false);
        }
    });
    if (rc != 0) {
        delete req; // NOLINT(cppcoreguidelines-owning-memory): never queued
        close(false);
    }
}

void Conn::touch() {
    if (closing || (state != State::Proxied && state != State::Responder)) {
        return;
    }
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
            auto* c = static_cast<Conn*>(t->data);
            c->impl->count("resets", c->cluster, c->side, "idle");
            c->close(true);
        },
        kIdleTimeoutMs, 0);
}

void Conn::on_client_data(const char* data, size_t len) {
    touch();
    switch (state) {
    case State::Held:
        pending.append(data, len);
        if (pending.size() >= kHeldBuffer) {
            stop_client_reading(); // the kernel buffers the rest, as for any silent server
        }
        return;
    case State::Connecting:
        pending.append(data, len);
        if (pending.size() >= kConnectBuffer) {
            stop_client_reading();
        }
        return;
    case State::Proxied:
        write(&upstream, std::string(data, len));
        return;
    case State::Responder: {
        std::string out;
        const auto next = responder->feed({data, len}, out);
        if (!out.empty()) {
            write(&client, std::move(out));
        }
        if (next == ApiResponder::Next::Close && !closing) {
            stop_client_reading();
            shutdown_then_close(&client);
        }
        return;
    }
    }
}

void Conn::on_upstream_data(const char* data, size_t len) {
    touch();
    write(&client, std::string(data, len));
}

void Conn::open(const config::ClusterConfig& cfg) {
    counted_open = true;
    ++impl->open_count[{cluster, side}];
    if (cfg.api->upstream) {
        target = cfg.api->upstream;
        set_state(State::Connecting);
        connect_upstream();
    } else {
        set_state(State::Responder);
        touch();
        const auto it = impl->tls.find(cluster);
        responder =
            std::make_unique<ApiResponder>(it != impl->tls.end() ? it->second.get() : nullptr,
                                           ResponderInfo{cfg.kubernetes_version});
        if (!pending.empty()) {
            std::string held;
            held.swap(pending);
            on_client_data(held.data(), held.size());
        }
    }
    if (!closing) {
        start_client_reading();
    }
}

void Conn::hold(const config::ClusterConfig& cfg) {
    counted_held = true;
    ++impl->held_count[cluster];
    set_state(State::Held);
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
            auto* c = static_cast<Conn*>(t->data);
            c->impl->count("resets", c->cluster, c->side, "hold_timeout");
            c->close(true);
        },
        static_cast<uint64_t>(cfg.api->hold_timeout.count()), 0);
    start_client_reading();
}

void Conn::upstream_failed(const std::string& why) {
    impl->count("resets", cluster, side, "upstream");
    impl->log_decision(fmt::format("{}: upstream {} failed ({}): resetting the client", who(),
                                   target ? target->to_string() : "?", why));
    close(true);
}

void Conn::connect_to(const sockaddr* addr) {
    uv_tcp_init(&impl->loop, &upstream);
    upstream.data = this;
    upstream_open = true;
    ++handles;
    connect_req.data = this;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) { static_cast<Conn*>(t->data)->upstream_failed("connect timed out"); },
        kConnectTimeoutMs, 0);
    const int rc = uv_tcp_connect(&connect_req, &upstream, addr, [](uv_connect_t* req, int status) {
        auto* c = static_cast<Conn*>(req->data);
        if (c->closing) {
            return;
        }
        uv_timer_stop(&c->timer);
        if (status < 0) {
            c->upstream_failed(uv_strerror(status));
            return;
        }
        uv_tcp_nodelay(&c->upstream, 1);
        c->set_state(State::Proxied);
        c->touch();
        if (!c->pending.empty()) {
            std::string held;
            held.swap(c->pending);
            c->write(&c->upstream, std::move(held));
        }
        if (c->client_eof) {
            c->shutdown_then_close(&c->upstream);
        }
        c->start_upstream_reading();
        c->start_client_reading();
    });
    if (rc != 0) {
        upstream_failed(uv_strerror(rc));
    }
}

void Conn::connect_upstream() {
    const auto ip = util::IpAddress::parse(target->host);
    if (ip) {
        sockaddr_storage ss{};
        util::Endpoint{*ip, target->port}.to_sockaddr(ss);
        connect_to(reinterpret_cast<const sockaddr*>(&ss));
        return;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    resolve_req.data = this;
    resolving = true;
    const std::string port = std::to_string(target->port);
    const int rc = uv_getaddrinfo(
        &impl->loop, &resolve_req,
        [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
            auto* c = static_cast<Conn*>(req->data);
            c->resolving = false;
            if (c->closing) {
                uv_freeaddrinfo(res);
                c->maybe_free();
                return;
            }
            if (status < 0 || res == nullptr) {
                uv_freeaddrinfo(res);
                c->upstream_failed(
                    fmt::format("cannot resolve {}: {}", c->target->host, uv_strerror(status)));
                return;
            }
            c->connect_to(res->ai_addr);
            uv_freeaddrinfo(res);
        },
        target->host.c_str(), port.c_str(), &hints);
    if (rc != 0) {
        resolving = false;
        upstream_failed(uv_strerror(rc));
    }
}

std::string ApiEndpoint::Impl::layout_of(const config::ClusterConfig& c) const {
    if (!c.api) {
        return "";
    }
    std::string out = fmt::format("port {}:", c.api->port);
    for (const auto& ip : c.public_ips) {
        out += " public " + ip.to_string();
    }
    for (const auto& ip : c.private_ips) {
        out += " private " + ip.to_string();
    }
    return out;
}

void ApiEndpoint::Impl::on_connection(Listener& l) {
    auto* c = new Conn; // NOLINT(cppcoreguidelines-owning-memory): freed by Conn::maybe_free
    c->impl = this;
    c->cluster = l.address.cluster;
    c->side = l.address.side;
    c->local = l.address.at;
    uv_tcp_init(&loop, &c->client);
    uv_timer_init(&loop, &c->timer);
    c->client.data = c;
    c->timer.data = c;
    c->handles = 2;
    conns.insert(c);
    if (uv_accept(stream(&l.tcp), stream(&c->client)) != 0) {
        c->close(false);
        return;
    }
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->client, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        c->close(true);
        return;
    }
    c->peer = endpoint_of(ss);
    c->id = next_id++;
    uv_tcp_nodelay(&c->client, 1);
    {
        const std::lock_guard lock(mu);
        registry[c->id] = ConnInfo{
            c->cluster, c->side, c->local, c->peer, State::Held, std::chrono::system_clock::now(),
            0,          0};
    }

    // The snapshot DNS answers from: an update flips both at the same moment.
    const auto snap = holder->current.load(std::memory_order_acquire);
    const config::ClusterConfig* cfg = find_cluster(*snap, c->cluster);
    const control::ApiDecision d = cfg != nullptr
                                       ? control::decide_api_connection(*cfg, c->side, c->peer.addr)
                                       : control::ApiDecision{ApiReason::NoApi, c->peer.addr};
    const std::string why = d.explain(c->side, c->peer.addr);
    if (d.allowed()) {
        if (open_count[{c->cluster, c->side}] >= cfg->api->max_connections) {
            count("connections", c->cluster, c->side, "denied/connection_limit");
            log_decision(fmt::format("{}: {}, but max_connections ({}) are open: reset", c->who(),
                                     why, cfg->api->max_connections));
            c->close(true);
            return;
        }
        count("connections", c->cluster, c->side, "accepted/allowed");
        log_decision(fmt::format("{}: {}", c->who(), why));
        c->open(*cfg);
        return;
    }
    count("connections", c->cluster, c->side,
          fmt::format("denied/{}", control::to_string(d.reason)));
    const bool drop = cfg != nullptr && cfg->api && cfg->api->deny == config::DenyAction::Drop;
    if (drop && held_count[c->cluster] < cfg->api->max_held) {
        log_decision(fmt::format("{}: {}: dropped (held silent for up to {} ms)", c->who(), why,
                                 cfg->api->hold_timeout.count()));
        c->hold(*cfg);
        return;
    }
    count("resets", c->cluster, c->side, drop ? "hold_limit" : "deny");
    log_decision(fmt::format("{}: {}: reset{}", c->who(), why,
                             drop ? " (max_held connections are held already)" : ""));
    c->close(true);
}

void ApiEndpoint::Impl::on_publish() {
    const auto snap = holder->current.load(std::memory_order_acquire);
    const std::vector<Conn*> all(conns.begin(), conns.end());
    for (Conn* c : all) {
        if (c->closing) {
            continue;
        }
        const config::ClusterConfig* cfg = find_cluster(*snap, c->cluster);
        if (cfg == nullptr || !cfg->api) {
            continue;
        }
        const auto d = control::decide_api_connection(*cfg, c->side, c->peer.addr);
        if (c->state == State::Held && d.allowed()) {
            // As a retransmitted SYN gets through once the rule allows it.
            if (open_count[{c->cluster, c->side}] >= cfg->api->max_connections) {
                continue;
            }
            uv_timer_stop(&c->timer);
            c->counted_held = false;
            --held_count[c->cluster];
            count("connections", c->cluster, c->side, "accepted/allowed_after_update");
            log_decision(fmt::format("{}: {} after an update: the held connection goes through",
                                     c->who(), d.explain(c->side, c->peer.addr)));
            c->open(*cfg);
        } else if (c->state != State::Held && !d.allowed() &&
                   (cfg->api->reset_on_update || runtime->reset_on_update())) {
            count("resets", c->cluster, c->side, "update");
            log_decision(fmt::format("{}: {} after an update: reset (reset_on_update)", c->who(),
                                     d.explain(c->side, c->peer.addr)));
            c->close(true);
        }
    }
}

void ApiEndpoint::Impl::shutdown() {
    const std::vector<Conn*> all(conns.begin(), conns.end());
    for (Conn* c : all) {
        c->close(false);
    }
    for (auto& l : listeners) {
        if (uv_is_closing(handle(&l->tcp)) == 0) {
            uv_close(handle(&l->tcp), nullptr);
        }
    }
    uv_close(handle(&stop_async), nullptr);
    uv_close(handle(&publish_async), nullptr);
}

ApiEndpoint::ApiEndpoint(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ApiEndpoint::~ApiEndpoint() {
    stop();
    impl_->runtime->set_publish_hook(nullptr);
    if (impl_->loop_ready) {
        if (!impl_->running) {
            // Never started: close what create() opened, then let the loop finish them.
            impl_->shutdown();
            uv_run(&impl_->loop, UV_RUN_DEFAULT);
        }
        uv_loop_close(&impl_->loop);
    }
}

std::unique_ptr<ApiEndpoint> ApiEndpoint::create(Runtime& runtime, std::string& error) {
    auto impl = std::make_unique<Impl>();
    impl->runtime = &runtime;
    impl->holder = &runtime.holder();
    if (const int rc = uv_loop_init(&impl->loop); rc != 0) {
        error = fmt::format("API endpoint: cannot create its event loop: {}", uv_strerror(rc));
        return nullptr;
    }
    impl->loop_ready = true;
    impl->loop.data = impl.get();
    uv_async_init(&impl->loop, &impl->stop_async, [](uv_async_t* a) {
        auto* i = static_cast<Impl*>(a->loop->data);
        i->shutdown();
    });
    uv_async_init(&impl->loop, &impl->publish_async, [](uv_async_t* a) {
        auto* i = static_cast<Impl*>(a->loop->data);
        try {
            i->on_publish();
        } catch (const std::exception& e) {
            spdlog::error("api: applying a new configuration: {}", e.what());
        }
    });

    const std::string state_path = runtime.state_path();
    const std::string state_dir = state_path.substr(0, state_path.rfind('/'));
    const auto snap = impl->holder->current.load();
    for (const auto& cluster : snap->clusters) {
        const auto& c = cluster.cfg;
        if (!c.api) {
            continue;
        }
        impl->layout[c.name] = impl->layout_of(c);
        std::vector<util::IpAddress> ips = c.public_ips;
        ips.insert(ips.end(), c.private_ips.begin(), c.private_ips.end());
        const auto cert =
            make_certificate({c.endpoint, "kubernetes", "kubernetes.default",
                              "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
                             ips, error);
        if (!cert) {
            return nullptr;
        }
        auto ctx = make_server_context(*cert, error);
        if (!ctx) {
            return nullptr;
        }
        impl->tls[c.name] = std::move(ctx);
        const std::string base = fmt::format("{}/api-{}", state_dir, c.name);
        std::string werr;
        if (write_private(base + ".crt", cert->cert_pem, 0644, werr) &&
            write_private(base + ".key", cert->key_pem, 0600, werr)) {
            spdlog::info("cluster {}: API endpoint certificate for {} in {}.crt (trust it with "
                         "curl --cacert {}.crt)",
                         c.name, c.endpoint, base, base);
        } else {
            spdlog::warn("cluster {}: cannot save the API endpoint certificate: {}", c.name, werr);
        }

        std::vector<std::string> bound;
        for (const auto side : {ApiSide::Public, ApiSide::Private}) {
            for (const auto& ip : side == ApiSide::Public ? c.public_ips : c.private_ips) {
                Address a{c.name, side, util::Endpoint{ip, c.api->port}, ""};
                const int fd = bind_listener(a);
                if (fd >= 0) {
                    auto l = std::make_unique<Listener>();
                    l->impl = impl.get();
                    l->address = a;
                    uv_tcp_init(&impl->loop, &l->tcp);
                    l->tcp.data = l.get();
                    int rc = uv_tcp_open(&l->tcp, fd);
                    if (rc == 0) {
                        rc = uv_listen(stream(&l->tcp), kBacklog, [](uv_stream_t* s, int status) {
                            auto* listener = static_cast<Listener*>(s->data);
                            if (status < 0) {
                                spdlog::warn("api: accept on {}: {}",
                                             listener->address.at.to_string(), uv_strerror(status));
                                return;
                            }
                            try {
                                listener->impl->on_connection(*listener);
                            } catch (const std::exception& e) {
                                spdlog::error("api: accept on {}: {}",
                                              listener->address.at.to_string(), e.what());
                            }
                        });
                    }
                    if (rc != 0) {
                        a.error = uv_strerror(rc);
                        uv_close(handle(&l->tcp), nullptr);      // closes fd too
                        impl->listeners.push_back(std::move(l)); // freed after the loop ran
                    } else {
                        bound.push_back(
                            fmt::format("{} ({})", a.at.to_string(), control::to_string(side)));
                        impl->listeners.push_back(std::move(l));
                    }
                }
                if (!a.error.empty()) {
                    spdlog::warn("cluster {}: API endpoint cannot listen on {} ({} side): {}",
                                 c.name, a.at.to_string(), control::to_string(side), a.error);
                }
                impl->addresses.push_back(std::move(a));
            }
        }
        const std::string behind =
            c.api->upstream ? "proxied to " + c.api->upstream->to_string()
                            : std::string("answered by the built-in responder (HTTPS, or HTTP "
                                          "when the client speaks it)");
        if (bound.empty()) {
            spdlog::warn("cluster {}: API endpoint has no local address to listen on; no "
                         "connection can be tested",
                         c.name);
        } else {
            std::string list;
            for (const auto& b : bound) {
                list += (list.empty() ? "" : ", ") + b;
            }
            spdlog::info("cluster {}: API endpoint on {}, {}; denied connections: {}", c.name, list,
                         behind, config::to_string(c.api->deny));
        }
    }
    auto api = std::unique_ptr<ApiEndpoint>(new ApiEndpoint(std::move(impl)));
    ApiEndpoint* raw = api.get();
    runtime.set_publish_hook([raw] { raw->notify(); });
    return api;
}

void ApiEndpoint::start() {
    if (impl_->running || impl_->listeners.empty()) {
        return;
    }
    impl_->running = true;
    impl_->thread = std::thread([this] { uv_run(&impl_->loop, UV_RUN_DEFAULT); });
}

void ApiEndpoint::stop() {
    if (impl_->thread.joinable()) {
        uv_async_send(&impl_->stop_async);
        impl_->thread.join();
    }
}

void ApiEndpoint::notify() {
    if (impl_->running && impl_->thread.joinable()) {
        uv_async_send(&impl_->publish_async);
    }
    const uint64_t gen = impl_->holder->generation.load();
    if (impl_->layout_warned_gen.exchange(gen) == gen) {
        return;
    }
    const auto snap = impl_->holder->current.load();
    for (const auto& cluster : snap->clusters) {
        const auto it = impl_->layout.find(cluster.cfg.name);
        const std::string now = impl_->layout_of(cluster.cfg);
        const std::string then = it == impl_->layout.end() ? "" : it->second;
        if (now != then) {
            spdlog::warn("cluster {}: the API endpoint's port or addresses changed; they take "
                         "effect at restart (access rules, upstream and deny apply now)",
                         cluster.cfg.name);
        }
    }
}

control::ApiResult ApiEndpoint::connections(const std::string& cluster) const {
    const auto snap = impl_->holder->current.load();
    if (find_cluster(*snap, cluster) == nullptr) {
        return {404,
                {{"__type", "ResourceNotFoundException"},
                 {"message", "No cluster found for name: " + cluster + "."}},
                "ResourceNotFoundException"};
    }
    nlohmann::json listeners = nlohmann::json::array();
    nlohmann::json unbound = nlohmann::json::array();
    for (const auto& a : impl_->addresses) {
        if (a.cluster != cluster) {
            continue;
        }
        nlohmann::json j = {{"side", control::to_string(a.side)}, {"address", a.at.to_string()}};
        if (a.error.empty()) {
            listeners.push_back(j);
        } else {
            j["error"] = a.error;
            unbound.push_back(j);
        }
    }
    nlohmann::json list = nlohmann::json::array();
    const std::lock_guard lock(impl_->mu);
    for (const auto& [id, info] : impl_->registry) {
        if (info.cluster != cluster) {
            continue;
        }
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(info.since.time_since_epoch())
                .count();
        list.push_back({{"id", id},
                        {"side", control::to_string(info.side)},
                        {"local", info.local.to_string()},
                        {"peer", info.peer.to_string()},
                        {"state", to_string(info.state)},
                        {"since", static_cast<double>(ms) / 1000.0},
                        {"bytesIn", info.bytes_in},
                        {"bytesOut", info.bytes_out}});
    }
    return {200,
            {{"cluster", cluster},
             {"listeners", listeners},
             {"unbound", unbound},
             {"connections", list}},
            ""};
}

std::string ApiEndpoint::render_metrics() const {
    std::string out;
    const std::lock_guard lock(impl_->mu);
    out += "# HELP horizon_api_connections_total API endpoint connections by cluster, side, "
           "outcome (accepted, denied) and reason.\n"
           "# TYPE horizon_api_connections_total counter\n";
    for (const auto& [key, n] : impl_->counters) {
        const auto& [name, cluster, side, label] = key;
        if (name != "connections") {
            continue;
        }
        const auto slash = label.find('/');
        out += fmt::format("horizon_api_connections_total{{cluster=\"{}\",side=\"{}\","
                           "outcome=\"{}\",reason=\"{}\"}} {}\n",
                           cluster, side, label.substr(0, slash), label.substr(slash + 1), n);
    }
    out += "# HELP horizon_api_resets_total API endpoint connections reset, by reason (deny, "
           "hold_limit, hold_timeout, idle, update, upstream).\n"
           "# TYPE horizon_api_resets_total counter\n";
    for (const auto& [key, n] : impl_->counters) {
        const auto& [name, cluster, side, label] = key;
        if (name == "resets") {
            out += fmt::format("horizon_api_resets_total{{cluster=\"{}\",side=\"{}\","
                               "reason=\"{}\"}} {}\n",
                               cluster, side, label, n);
        }
    }
    std::map<std::tuple<std::string, std::string, std::string>, uint64_t> open;
    for (const auto& a : impl_->addresses) {
        for (const char* state : {"open", "held"}) {
            open[{a.cluster, std::string(control::to_string(a.side)), state}] = 0;
        }
    }
    for (const auto& [id, info] : impl_->registry) {
        ++open[{info.cluster, std::string(control::to_string(info.side)),
                info.state == State::Held ? "held" : "open"}];
    }
    out += "# HELP horizon_api_connections API endpoint connections now, by state (open, held).\n"
           "# TYPE horizon_api_connections gauge\n";
    for (const auto& [key, n] : open) {
        const auto& [cluster, side, state] = key;
        out += fmt::format("horizon_api_connections{{cluster=\"{}\",side=\"{}\",state=\"{}\"}} "
                           "{}\n",
                           cluster, side, state, n);
    }
    return out;
}

} // namespace horizon::server
