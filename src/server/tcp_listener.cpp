// TCP on a worker (RFC 7766): accept on our own REUSEPORT socket, 2-byte length framing,
// pipelined queries answered in order, idle timeout, and a server-wide connection limit.
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "server/uv_check.hpp"
#include "server/worker.hpp"

namespace horizon::server {

namespace {

constexpr size_t kMaxBufferedOutput = 1U << 20; // stop reading while this much is unsent

struct TcpConnection;

/// What a forwarded query's late answer holds on to: null once the connection is closing.
struct TcpGuard {
    TcpConnection* connection = nullptr;
};

struct TcpConnection final : Owned {
    uv_tcp_t tcp{};
    uv_timer_t idle{};
    Worker* worker = nullptr;
    dns::Client client;
    std::vector<uint8_t> input; // bytes received, not yet a complete frame
    int open_handles = 0;
    unsigned forwarded = 0; // queries whose answers the forwarder still owes us
    bool reading = false;
    bool closing = false;
    bool eof = false; // the client half-closed: no more queries, answers still owed go out
    std::shared_ptr<TcpGuard> guard = std::make_shared<TcpGuard>(TcpGuard{this});

    void close() override {
        if (closing) {
            return;
        }
        closing = true;
        guard->connection = nullptr; // late forwarded answers are dropped from now on
        const auto done = [](uv_handle_t* h) {
            auto* c = static_cast<TcpConnection*>(static_cast<Owned*>(h->data));
            if (--c->open_handles == 0) {
                c->worker->tcp_budget().open.fetch_sub(1, std::memory_order_relaxed);
                delete c; // NOLINT(cppcoreguidelines-owning-memory): both handles are closed
            }
        };
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp), done);
        uv_close(reinterpret_cast<uv_handle_t*>(&idle), done);
    }

    void restart_idle_timer() {
        const auto ms = worker->snapshot().server.tcp_idle_timeout.count();
        uv_ok(uv_timer_start(
                  &idle,
                  [](uv_timer_t* t) {
                      auto* c = static_cast<TcpConnection*>(static_cast<Owned*>(t->data));
                      // RFC 7766 §6.2.3: idle means no query outstanding; a forwarded one still is.
                      if (c->forwarded > 0) {
                          c->restart_idle_timer();
                      } else {
                          c->close();
                      }
                  },
                  static_cast<uint64_t>(ms), 0),
              "tcp: idle timer");
    }

    /// RFC 7766 §6.2.4: after the client's EOF, close once every answer is written.
    void close_if_done() {
        if (eof && !closing && forwarded == 0 && unsent() == 0) {
            close();
        }
    }

    [[nodiscard]] size_t unsent() const {
        return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp));
    }

    void start_reading();

    void stop_reading() {
        if (reading) {
            uv_ok(uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp)), "tcp: stop reading");
            reading = false;
        }
    }

    void on_data(const char* data, size_t len);
    void send(const uint8_t* data, size_t len);
    size_t forward(std::span<const uint8_t> query, const dns::Query& q, std::span<uint8_t> out);
};

/// One queued answer: the frame is owned until libuv's write callback (partial writes are
/// libuv's business; the bytes must live until then).
struct WriteRequest {
    uv_write_t req{};
    std::vector<uint8_t> frame;
};

void TcpConnection::send(const uint8_t* data, size_t len) {
    auto* w = new WriteRequest; // NOLINT(cppcoreguidelines-owning-memory): freed in the callback
    w->frame.resize(len + 2);
    w->frame[0] = static_cast<uint8_t>(len >> 8); // RFC 1035 §4.2.2: two-byte length prefix
    w->frame[1] = static_cast<uint8_t>(len);
    std::memcpy(w->frame.data() + 2, data, len);
    w->req.data = this;
    const uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(w->frame.data()),
                                     static_cast<unsigned>(w->frame.size()));
    const int rc = uv_write(
        &w->req, reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1, [](uv_write_t* req, int status) {
            auto* wr = reinterpret_cast<WriteRequest*>(req);
            auto* c = static_cast<TcpConnection*>(req->data);
            delete wr; // NOLINT(cppcoreguidelines-owning-memory)
            if (status < 0) {
                c->close();
            } else if (c->eof) {
                c->close_if_done();
            } else if (!c->closing && !c->reading && c->unsent() < kMaxBufferedOutput / 2) {
                c->start_reading(); // the client caught up
            }
        });
    if (rc != 0) {
        delete w; // NOLINT(cppcoreguidelines-owning-memory)
        close();
    }
}

/// Hands a query to the forwarder; returns the size of an answer ready at once (in `out`). A later
/// answer is framed onto this connection if it is still open (RFC 7766 §7: answers to pipelined
/// queries may come out of order; the client matches them by ID).
size_t TcpConnection::forward(std::span<const uint8_t> query, const dns::Query& q,
                              std::span<uint8_t> out) {
    /// Counts the query as outstanding for as long as the forwarder holds its reply, whether it
    /// is answered, dropped, or the worker stops.
    struct Outstanding {
        std::shared_ptr<TcpGuard> guard;

        explicit Outstanding(std::shared_ptr<TcpGuard> g)
            : guard(std::move(g)) {
            ++guard->connection->forwarded;
        }

        Outstanding(const Outstanding&) = delete;
        Outstanding& operator=(const Outstanding&) = delete;

        ~Outstanding() {
            if (TcpConnection* c = guard->connection; c != nullptr) {
                --c->forwarded;
                c->close_if_done(); // the last answer a half-closed client waited for
            }
        }
    };

    auto outstanding = std::make_shared<Outstanding>(guard);
    return worker->forwarder().resolve(query, q, client, out,
                                       [outstanding](std::span<const uint8_t> answer) {
                                           TcpConnection* c = outstanding->guard->connection;
                                           if (c == nullptr) {
                                               return; // the client went away meanwhile
                                           }
                                           c->send(answer.data(), answer.size());
                                           if (!c->closing) {
                                               c->restart_idle_timer();
                                           }
                                       });
}

void TcpConnection::on_data(const char* data, size_t len) {
    input.insert(input.end(), data, data + len);
    size_t at = 0;
    std::array<uint8_t, dns::kMaxMessage> answer{};
    // RFC 7766 §6.2.1.1: pipelined queries are all processed; we answer them in order.
    while (input.size() - at >= 2) {
        const size_t frame = (size_t{input[at]} << 8) | input[at + 1];
        if (input.size() - at - 2 < frame) {
            break; // a partial frame: wait for the rest
        }
        const std::span<const uint8_t> query(input.data() + at + 2, frame);
        at += 2 + frame;
        dns::Query parsed;
        const dns::Outcome o = worker->answer(query, parsed, client, answer);
        const size_t size = o.forward ? forward(query, parsed, answer) : o.size;
        if (size > 0) {
            send(answer.data(), size);
            if (closing) {
                return;
            }
        }
        restart_idle_timer(); // RFC 7766 §6.2.3: idle = no query since the last answer
    }
    input.erase(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(at));
    if (unsent() > kMaxBufferedOutput) {
        stop_reading(); // a client that does not read its answers gets no more of them
    }
}

void TcpConnection::start_reading() {
    const int rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp),
        [](uv_handle_t* /*h*/, size_t suggested, uv_buf_t* buf) {
            thread_local std::vector<char> scratch(65536);
            (void)suggested;
            *buf = uv_buf_init(scratch.data(), static_cast<unsigned>(scratch.size()));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
            auto* c = static_cast<TcpConnection*>(static_cast<Owned*>(s->data));
            if (n == UV_EOF) {
                // RFC 7766 §6.2.4: a half-close ends the queries, not the answers still owed
                // (forwarded ones included): stop reading, close once they are all written.
                c->stop_reading();
                c->eof = true;
                c->close_if_done();
                return;
            }
            if (n < 0) {
                c->close(); // an error
                return;
            }
            try {
                c->on_data(buf->base, static_cast<size_t>(n));
            } catch (const std::exception& e) {
                spdlog::error("tcp: closing a connection after an internal error: {}", e.what());
                c->close();
            }
        });
    reading = rc == 0;
    if (rc != 0) {
        close();
    }
}

struct TcpListener final : Owned {
    uv_tcp_t tcp{};
    Worker* worker = nullptr;
    const ListenSocket* socket = nullptr; ///< its marker (resolver listener); owned by the worker

    void close() override {
        if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp)) != 0) {
            return;
        }
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
            delete static_cast<Owned*>(h->data); // NOLINT(cppcoreguidelines-owning-memory)
        });
    }
};

void on_connection(uv_stream_t* server, int status) noexcept {
    auto* l = static_cast<TcpListener*>(static_cast<Owned*>(server->data));
    if (status < 0) {
        spdlog::warn("tcp: accept failed: {}", uv_strerror(status));
        return;
    }
    Worker& w = *l->worker;
    auto* c = new TcpConnection; // NOLINT(cppcoreguidelines-owning-memory): freed on close
    c->worker = &w;
    uv_ok(uv_tcp_init(w.loop(), &c->tcp), "tcp: connection handle");
    uv_ok(uv_timer_init(w.loop(), &c->idle), "tcp: idle timer");
    c->tcp.data = static_cast<Owned*>(c);
    c->idle.data = static_cast<Owned*>(c);
    c->open_handles = 2;
    w.tcp_budget().open.fetch_add(1, std::memory_order_relaxed);
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
        c->close();
        return;
    }
    const unsigned limit = w.snapshot().server.tcp_max_connections;
    if (w.tcp_budget().open.load(std::memory_order_relaxed) > limit) {
        w.metrics().tcp_rejected.add();
        spdlog::debug("tcp: connection limit ({}) reached; closing a new connection", limit);
        c->close();
        return;
    }
    sockaddr_storage peer{};
    int len = sizeof peer;
    if (!uv_ok(uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&peer), &len),
               "tcp: peer address")) {
        c->close(); // without its source no view can be chosen
        return;
    }
    c->client = l->socket->client(
        util::IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&peer)), dns::Transport::Tcp);
    w.metrics().tcp_accepted.add();
    uv_ok(uv_tcp_nodelay(&c->tcp, 1), "tcp: TCP_NODELAY");
    c->restart_idle_timer();
    c->start_reading();
}

} // namespace

bool start_tcp(Worker& w, const ListenSocket& s) {
    auto* l = new TcpListener; // NOLINT(cppcoreguidelines-owning-memory): freed on close
    l->worker = &w;
    l->socket = &s;
    uv_ok(uv_tcp_init(w.loop(), &l->tcp), "tcp: listener handle");
    l->tcp.data = static_cast<Owned*>(l);
    if (const int rc = uv_tcp_open(&l->tcp, s.tcp_fd); rc != 0) {
        spdlog::error("tcp: cannot adopt socket: {}", uv_strerror(rc));
        l->close();
        return false;
    }
    if (const int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), 1024, on_connection);
        rc != 0) {
        spdlog::error("tcp: cannot listen: {}", uv_strerror(rc));
        l->close();
        return false;
    }
    return true;
}

} // namespace horizon::server
