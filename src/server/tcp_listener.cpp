// TCP on a worker (RFC 7766): accept on our own REUSEPORT socket, 2-byte length framing,
// pipelined queries answered in order with their answers coalesced into one write, a cap on
// what a client leaves unread, idle timeout, and the server-wide and per-source limits.
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <spdlog/spdlog.h>

#include "server/uv_check.hpp"
#include "server/worker.hpp"

namespace horizon::server {

namespace {

/// Answers queued and not yet written: at this much, the connection's next query waits and its
/// socket is not read (the kernel's buffers then push back on the client). Checked before each
/// query, so a connection holds at most this plus one answer (64 KiB) however it pipelines.
constexpr size_t kOutputCap = 16U << 10;
/// Reading resumes once the queued answers are below this.
constexpr size_t kOutputResume = 4U << 10;
/// Bytes read at a time; what a paused connection holds of its unanswered queries.
constexpr size_t kReadChunk = 16U << 10;
/// A buffer larger than this is freed once empty rather than kept for the next answers.
constexpr size_t kKeepBuffer = 4U << 10;
/// Connections accepted per wake-up before the loop's other handles (UDP) get their turn.
constexpr unsigned kAcceptBatch = 32;
/// Out of descriptors (EMFILE, ENFILE): the listener stops accepting for this long.
constexpr uint64_t kAcceptPauseMs = 100;
/// At most one log line per listener this often about accept failures.
constexpr uint64_t kAcceptLogEveryMs = 10000;

struct TcpConnection;

/// What a forwarded query's late answer holds on to: null once the connection is closing.
struct TcpGuard {
    TcpConnection* connection = nullptr;
};

struct TcpConnection final : Owned {
    uv_tcp_t tcp{};
    uv_timer_t idle{};
    uv_write_t write_req{}; ///< one write in flight at a time: `writing`
    Worker* worker = nullptr;
    dns::Client client;
    TcpBudget::SourceKey source{};
    std::list<Owned*>::iterator where; ///< in worker->tcp_connections() until close()
    bool listed = false;
    std::vector<uint8_t> input;   ///< bytes received, not yet answered (a partial frame, or
                                  ///< queries waiting while the output is at its cap)
    std::vector<uint8_t> pending; ///< framed answers not yet handed to libuv
    std::vector<uint8_t> writing; ///< framed answers libuv is writing
    bool write_busy = false;
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
        if (listed) {
            worker->tcp_connections().erase(where);
            listed = false;
        }
        const auto done = [](uv_handle_t* h) {
            auto* c = static_cast<TcpConnection*>(static_cast<Owned*>(h->data));
            if (--c->open_handles == 0) {
                TcpBudget& b = c->worker->tcp_budget();
                b.open.fetch_sub(1, std::memory_order_relaxed);
                b.release_source(c->source);
                delete c; // NOLINT(cppcoreguidelines-owning-memory): both handles are closed
            }
        };
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp), done);
        uv_close(reinterpret_cast<uv_handle_t*>(&idle), done);
    }

    [[nodiscard]] uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }

    /// Answers queued on this connection and not yet written to the socket.
    [[nodiscard]] size_t queued() const {
        return (write_busy ? writing.size() : 0) + pending.size();
    }

    /// RFC 7766 §6.2.3: idle = no query outstanding and nothing owed; such a connection is the
    /// one to close when every slot is taken.
    [[nodiscard]] bool idle_now() const { return !closing && forwarded == 0 && queued() == 0; }

    void restart_idle_timer() {
        if (listed) { // the most recently active goes last
            auto& list = worker->tcp_connections();
            list.splice(list.end(), list, where);
        }
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
        if (eof && !closing && forwarded == 0 && queued() == 0) {
            close();
        }
    }

    void start_reading();

    void stop_reading() {
        if (reading) {
            uv_ok(uv_read_stop(stream()), "tcp: stop reading");
            reading = false;
        }
    }

    void on_data(const char* data, size_t len);
    /// Answers the complete queries at the start of `bytes` until the output cap; returns how
    /// many bytes it consumed.
    size_t answer_queries(std::span<const uint8_t> bytes);
    /// After answer_queries: stop reading if the output is at its cap, and write.
    void after_answering();
    /// The client read enough: answer the queries held back, then read again.
    void resume();
    /// Frames one answer onto `pending` (written by the next flush()).
    void queue(const uint8_t* data, size_t len);
    /// Hands `pending` to libuv as one write, unless a write is in flight (its callback does).
    void flush();
    size_t forward(std::span<const uint8_t> query, const dns::Query& q, std::span<uint8_t> out);
};

/// Frees a buffer's memory once it is empty, unless it is small enough to keep for reuse.
void release(std::vector<uint8_t>& v) {
    if (v.capacity() > kKeepBuffer) {
        std::vector<uint8_t>().swap(v);
    } else {
        v.clear();
    }
}

void TcpConnection::queue(const uint8_t* data, size_t len) {
    const size_t at = pending.size();
    pending.resize(at + 2 + len);
    pending[at] = static_cast<uint8_t>(len >> 8); // RFC 1035 §4.2.2: two-byte length prefix
    pending[at + 1] = static_cast<uint8_t>(len);
    std::memcpy(pending.data() + at + 2, data, len);
}

void TcpConnection::flush() {
    if (closing || write_busy || pending.empty()) {
        return;
    }
    writing.swap(pending); // both buffers keep their capacity: no allocation per write
    pending.clear();
    write_busy = true;
    write_req.data = this;
    // Partial writes are libuv's business; `writing` stays untouched until the callback.
    const uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(writing.data()), static_cast<unsigned>(writing.size()));
    const int rc = uv_write(&write_req, stream(), &buf, 1, [](uv_write_t* req, int status) {
        auto* c = static_cast<TcpConnection*>(req->data);
        c->write_busy = false;
        release(c->writing);
        if (status < 0) {
            c->close(); // an error, or UV_ECANCELED: closing already
            return;
        }
        c->flush(); // what was answered meanwhile
        if (c->eof) {
            c->close_if_done();
        } else if (!c->closing && !c->reading && c->queued() < kOutputResume) {
            c->resume(); // the client caught up
        }
    });
    if (rc != 0) {
        write_busy = false;
        uv_ok(rc, "tcp: write");
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
                                           c->queue(answer.data(), answer.size());
                                           c->flush();
                                           if (!c->closing) {
                                               c->restart_idle_timer();
                                           }
                                       });
}

size_t TcpConnection::answer_queries(std::span<const uint8_t> bytes) {
    size_t at = 0;
    std::array<uint8_t, dns::kMaxMessage> answer{};
    // RFC 7766 §6.2.1.1: pipelined queries are all processed; we answer them in order, each
    // only while the client has read enough of the earlier answers (the cap comes first).
    while (bytes.size() - at >= 2 && queued() < kOutputCap && !closing) {
        const size_t frame = (size_t{bytes[at]} << 8) | bytes[at + 1];
        if (bytes.size() - at - 2 < frame) {
            break; // a partial frame: wait for the rest
        }
        const std::span<const uint8_t> query = bytes.subspan(at + 2, frame);
        at += 2 + frame;
        dns::Query parsed;
        const dns::Outcome o = worker->answer(query, parsed, client, answer);
        const size_t size = o.forward ? forward(query, parsed, answer) : o.size;
        if (size > 0) {
            queue(answer.data(), size);
        }
        restart_idle_timer(); // RFC 7766 §6.2.3: idle = no query since the last answer
    }
    return at;
}

void TcpConnection::after_answering() {
    if (closing) {
        return;
    }
    if (queued() >= kOutputCap && reading) {
        stop_reading(); // a client that does not read its answers gets no more of them
        worker->metrics().tcp_read_paused.add();
    }
    flush();
}

void TcpConnection::on_data(const char* data, size_t len) {
    const std::span<const uint8_t> got(reinterpret_cast<const uint8_t*>(data), len);
    if (input.empty()) { // the usual case: answer straight from the read buffer
        const size_t used = answer_queries(got);
        input.assign(got.begin() + static_cast<std::ptrdiff_t>(used), got.end());
    } else {
        input.insert(input.end(), got.begin(), got.end());
        const size_t used = answer_queries(input);
        input.erase(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(used));
    }
    if (input.empty()) {
        release(input);
    }
    after_answering();
}

void TcpConnection::resume() {
    if (!input.empty()) {
        const size_t used = answer_queries(input);
        input.erase(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(used));
        if (input.empty()) {
            release(input);
        }
        if (closing) {
            return;
        }
        flush();
        if (queued() >= kOutputCap) {
            return; // still behind: the next write's callback resumes again
        }
    }
    start_reading();
}

void TcpConnection::start_reading() {
    if (reading || closing) {
        return;
    }
    const int rc = uv_read_start(
        stream(),
        [](uv_handle_t* /*h*/, size_t /*suggested*/, uv_buf_t* buf) {
            thread_local std::vector<char> scratch(kReadChunk);
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

/// At tcp_max_connections: closes this worker's least recently active idle connection
/// (RFC 7766 §6.2.3 lets a server reclaim idle connections under pressure); false if none is.
bool evict_idle(Worker& w) {
    for (Owned* o : w.tcp_connections()) {
        auto* c = static_cast<TcpConnection*>(o);
        if (c->idle_now()) {
            spdlog::debug("tcp: closing the idle connection from {} to admit a new one",
                          c->client.addr.to_string());
            c->close();
            w.metrics().tcp_evicted.add();
            return true;
        }
    }
    return false;
}

struct TcpListener final : Owned {
    uv_poll_t poll{};
    uv_timer_t retry{}; ///< while paused (out of descriptors): when to accept again
    Worker* worker = nullptr;
    const ListenSocket* socket = nullptr; ///< its marker (resolver listener); owned by the worker
    int fd = -1;
    int open_handles = 0;
    bool closing = false;
    std::string name; ///< the address it listens on, for logs
    uint64_t last_log_ms = 0;
    unsigned unlogged = 0; ///< accept failures since the last log line

    TcpListener() = default;
    TcpListener(const TcpListener&) = delete;
    TcpListener& operator=(const TcpListener&) = delete;

    ~TcpListener() override {
        if (fd >= 0) {
            ::close(fd);
        }
    }

    void close() override {
        if (closing) {
            return;
        }
        closing = true;
        const auto done = [](uv_handle_t* h) {
            auto* l = static_cast<TcpListener*>(static_cast<Owned*>(h->data));
            if (--l->open_handles == 0) {
                delete l; // NOLINT(cppcoreguidelines-owning-memory): both handles are closed
            }
        };
        uv_close(reinterpret_cast<uv_handle_t*>(&poll), done);
        uv_close(reinterpret_cast<uv_handle_t*>(&retry), done);
    }

    /// accept() failed with `e`: stop watching the socket for kAcceptPauseMs (never spin on a
    /// socket we cannot accept from), count it, and say so at most every kAcceptLogEveryMs.
    void pause(int e) {
        worker->metrics().tcp_accept_paused.add();
        const uint64_t now = uv_now(worker->loop());
        if (last_log_ms == 0 || now - last_log_ms >= kAcceptLogEveryMs) {
            const bool fds = e == EMFILE || e == ENFILE;
            spdlog::warn("tcp: cannot accept connections on {}: {}{}; new TCP connections wait "
                         "in the kernel's queue, retried every {} ms{}",
                         name, std::strerror(e),
                         fds ? " (every file descriptor is in use: raise the open file limit, "
                               "ulimit -n or LimitNOFILE=, or lower tcp_max_connections or "
                               "[cluster.api] max_connections)"
                             : "",
                         kAcceptPauseMs,
                         unlogged > 0
                             ? fmt::format(" ({} more failures since the last message)", unlogged)
                             : std::string());
            last_log_ms = now;
            unlogged = 0;
        } else {
            ++unlogged;
        }
        uv_ok(uv_poll_stop(&poll), "tcp: pausing a listener");
        uv_ok(uv_timer_start(
                  &retry,
                  [](uv_timer_t* t) {
                      auto* l = static_cast<TcpListener*>(static_cast<Owned*>(t->data));
                      l->watch();
                  },
                  kAcceptPauseMs, 0),
              "tcp: listener retry timer");
    }

    void watch();
    void accept_some();
    void admit(int conn, const sockaddr_storage& peer);
};

void TcpListener::watch() {
    uv_ok(uv_poll_start(&poll, UV_READABLE,
                        [](uv_poll_t* p, int status, int /*events*/) noexcept {
                            auto* l = static_cast<TcpListener*>(static_cast<Owned*>(p->data));
                            if (status < 0) {
                                spdlog::warn("tcp: listener on {}: {}", l->name,
                                             uv_strerror(status));
                                return;
                            }
                            try {
                                l->accept_some();
                            } catch (const std::exception& e) {
                                spdlog::error("tcp: accepting on {}: {}", l->name, e.what());
                            }
                        }),
          "tcp: watching a listener");
}

void TcpListener::accept_some() {
    for (unsigned i = 0; i < kAcceptBatch; ++i) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        const int conn =
            ::accept4(fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conn >= 0) {
            admit(conn, peer);
            continue;
        }
        const int e = errno;
        switch (e) {
        case EAGAIN:
#if EAGAIN != EWOULDBLOCK
        case EWOULDBLOCK:
#endif
            return; // the queue is empty
        case EINTR:
        case ECONNABORTED:
        // accept(2): Linux passes on the new socket's pending network errors; that connection
        // is gone, the next one may be fine.
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
            continue;
        default: // EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse: wait, never spin
            pause(e);
            return;
        }
    }
}

void TcpListener::admit(int conn, const sockaddr_storage& peer) {
    Worker& w = *worker;
    TcpBudget& budget = w.tcp_budget();
    const config::ServerConfig& server = w.snapshot().server;
    const auto addr = util::IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer));
    const TcpBudget::SourceKey source = util::source_key(addr);
    // RFC 7766 §10: a server limits the connections one client may hold.
    if (!budget.acquire_source(source, server.tcp_max_connections_per_source)) {
        w.metrics().tcp_rejected_per_source.add();
        spdlog::debug("tcp: {} has tcp_max_connections_per_source ({}) open; closing a new one",
                      addr.to_string(), server.tcp_max_connections_per_source);
        ::close(conn);
        return;
    }
    const unsigned limit = budget.limit(server.tcp_max_connections);
    // Every slot taken: the least recently active idle connection makes room (it gives its slot
    // back once closed), else the new one is closed.
    if (budget.open.fetch_add(1, std::memory_order_relaxed) >= limit && !evict_idle(w)) {
        budget.open.fetch_sub(1, std::memory_order_relaxed);
        budget.release_source(source);
        w.metrics().tcp_rejected.add();
        spdlog::debug("tcp: connection limit ({}) reached and none idle; closing a new one", limit);
        ::close(conn);
        return;
    }
    auto* c = new TcpConnection; // NOLINT(cppcoreguidelines-owning-memory): freed on close
    c->worker = &w;
    c->source = source;
    uv_ok(uv_tcp_init(w.loop(), &c->tcp), "tcp: connection handle");
    uv_ok(uv_timer_init(w.loop(), &c->idle), "tcp: idle timer");
    c->tcp.data = static_cast<Owned*>(c);
    c->idle.data = static_cast<Owned*>(c);
    c->open_handles = 2;
    if (!uv_ok(uv_tcp_open(&c->tcp, conn), "tcp: adopting a connection")) {
        ::close(conn);
        c->close();
        return;
    }
    c->client = socket->client(addr, dns::Transport::Tcp);
    c->where = w.tcp_connections().insert(w.tcp_connections().end(), c);
    c->listed = true;
    w.metrics().tcp_accepted.add();
    uv_ok(uv_tcp_nodelay(&c->tcp, 1), "tcp: TCP_NODELAY");
    c->restart_idle_timer();
    c->start_reading();
}

} // namespace

bool TcpBudget::acquire_source(const SourceKey& key, unsigned limit) {
    const std::lock_guard<std::mutex> lock(sources_mutex_);
    unsigned& n = sources_[key];
    if (n >= limit) {
        if (n == 0) {
            sources_.erase(key);
        }
        return false;
    }
    ++n;
    return true;
}

void TcpBudget::release_source(const SourceKey& key) {
    const std::lock_guard<std::mutex> lock(sources_mutex_);
    const auto it = sources_.find(key);
    if (it != sources_.end() && --it->second == 0) {
        sources_.erase(it);
    }
}

bool start_tcp(Worker& w, const ListenSocket& s) {
    auto* l = new TcpListener; // NOLINT(cppcoreguidelines-owning-memory): freed on close
    l->worker = &w;
    l->socket = &s;
    l->fd = s.tcp_fd; // listening already (Server::create); ours to close from now on
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(l->fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
        const uint16_t port = ss.ss_family == AF_INET
                                  ? ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port)
                                  : ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
        l->name = util::Endpoint{util::IpAddress::from_sockaddr(sa), port}.to_string();
    } else {
        l->name = fmt::format("socket {}", l->fd);
    }
    uv_ok(uv_timer_init(w.loop(), &l->retry), "tcp: listener retry timer");
    l->retry.data = static_cast<Owned*>(l);
    l->open_handles = 1;
    if (const int rc = uv_poll_init(w.loop(), &l->poll, l->fd); rc != 0) {
        spdlog::error("tcp: cannot watch the socket of {}: {}", l->name, uv_strerror(rc));
        uv_close(reinterpret_cast<uv_handle_t*>(&l->retry), [](uv_handle_t* h) {
            delete static_cast<Owned*>(h->data); // NOLINT(cppcoreguidelines-owning-memory)
        });
        return false;
    }
    l->poll.data = static_cast<Owned*>(l);
    l->open_handles = 2;
    l->watch();
    return true;
}

} // namespace horizon::server
