// One API endpoint connection after the gate decided: held (bytes read and kept, nothing sent),
// proxied to the upstream (bytes as they come, with backpressure) or answered by the built-in
// responder; and how it ends (FIN, RST, idle and hold timeouts).
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "server/api_endpoint_impl.hpp"

namespace horizon::server::api {

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

/// The close callback of every handle of a Conn: the last one frees it.
void on_conn_handle_closed(uv_handle_t* h) {
    auto* c = static_cast<Conn*>(h->data);
    --c->handles;
    c->maybe_free();
}

} // namespace

bool Conn::init(uv_loop_t& loop) {
    client.data = this;
    timer.data = this;
    if (!uv_ok(uv_tcp_init(&loop, &client), "initialising a connection")) {
        delete this; // NOLINT(cppcoreguidelines-owning-memory): no handle was initialised
        return false;
    }
    ++handles;
    if (!uv_ok(uv_timer_init(&loop, &timer), "initialising a connection's timer")) {
        closing = true;
        uv_close(handle(&client), on_conn_handle_closed); // frees this
        return false;
    }
    ++handles;
    return true;
}

void Conn::maybe_free() {
    if (handles == 0 && !resolving) {
        delete this; // NOLINT(cppcoreguidelines-owning-memory): every handle is closed
    }
}

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
        --impl->held_count[{cluster, side}];
    }
    if (counted_source) {
        const auto it = impl->source_count.find({cluster, side, source});
        if (it != impl->source_count.end() && --it->second == 0) {
            impl->source_count.erase(it);
        }
    }
    if (resolving) {
        // UV_EBUSY: the lookup runs already; its callback sees `closing` and frees this.
        (void)uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req));
    }
    // A RST rather than a FIN: what "reset" means, and it frees the socket without TIME_WAIT.
    if (!reset || uv_tcp_close_reset(&client, on_conn_handle_closed) != 0) {
        uv_close(handle(&client), on_conn_handle_closed);
    }
    uv_close(handle(&timer), on_conn_handle_closed);
    if (upstream_open) {
        uv_close(handle(&upstream), on_conn_handle_closed);
    }
}

void Conn::set_state(State s) {
    state = s;
    const std::lock_guard lock(impl->mu);
    if (auto it = impl->registry.find(id); it != impl->registry.end()) {
        it->second.state = s;
    }
}

void Conn::add_bytes(uint64_t in, uint64_t out) {
    const std::lock_guard lock(impl->mu);
    if (auto it = impl->registry.find(id); it != impl->registry.end()) {
        it->second.bytes_in += in;
        it->second.bytes_out += out;
    }
}

bool Conn::ok(int rc, const char* what) const {
    if (rc == 0) {
        return true;
    }
    spdlog::warn("api: {}: {}: {}", who(), what, uv_strerror(rc));
    return false;
}

std::string Conn::who() const {
    return fmt::format("{} -> {} ({} {})", peer.to_string(), local.to_string(), cluster,
                       control::to_string(side));
}

void Conn::start_client_reading() {
    if (client_reading || client_eof || closing) {
        return;
    }
    const int rc = uv_read_start(
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
    if (!ok(rc, "reading from the client")) {
        close(true);
        return;
    }
    client_reading = true;
}

void Conn::stop_client_reading() {
    if (client_reading) {
        ok(uv_read_stop(stream(&client)), "stop reading from the client");
        client_reading = false;
    }
}

void Conn::start_upstream_reading() {
    if (upstream_reading || upstream_eof || closing) {
        return;
    }
    const int rc = uv_read_start(stream(&upstream), alloc_buffer,
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
                                         c->close(true); // the upstream reset: so does the client
                                     }
                                 });
    if (!ok(rc, "reading from the upstream")) {
        close(true);
        return;
    }
    upstream_reading = true;
}

void Conn::stop_upstream_reading() {
    if (upstream_reading) {
        ok(uv_read_stop(stream(&upstream)), "stop reading from the upstream");
        upstream_reading = false;
    }
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
    const int rc = uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
            auto* c = static_cast<Conn*>(t->data);
            c->impl->count("resets", c->cluster, c->side, "idle");
            c->close(true);
        },
        kIdleTimeoutMs, 0);
    ok(rc, "arming the idle timer");
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

void Conn::count_source() {
    if (!counted_source) {
        counted_source = true;
        ++impl->source_count[{cluster, side, source}];
    }
}

void Conn::open(const config::ClusterConfig& cfg) {
    counted_open = true;
    ++impl->open_count[{cluster, side}];
    count_source(); // a held one that goes through counts already
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
    ++impl->held_count[{cluster, side}];
    count_source();
    set_state(State::Held);
    const int rc = uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
            auto* c = static_cast<Conn*>(t->data);
            c->impl->count("resets", c->cluster, c->side, "hold_timeout");
            c->close(true);
        },
        static_cast<uint64_t>(cfg.api->hold_timeout.count()), 0);
    if (!ok(rc, "arming the hold timer")) {
        close(true); // never held forever
        return;
    }
    start_client_reading();
}

void Conn::upstream_failed(const std::string& why) {
    impl->count("resets", cluster, side, "upstream");
    impl->log_decision(fmt::format("{}: upstream {} failed ({}): resetting the client", who(),
                                   target ? target->to_string() : "?", why));
    close(true);
}

void Conn::connect_to(const sockaddr* addr) {
    if (const int rc = uv_tcp_init(&impl->loop, &upstream); rc != 0) {
        upstream_failed(uv_strerror(rc));
        return;
    }
    upstream.data = this;
    upstream_open = true;
    ++handles;
    connect_req.data = this;
    const int timer_rc = uv_timer_start(
        &timer,
        [](uv_timer_t* t) { static_cast<Conn*>(t->data)->upstream_failed("connect timed out"); },
        kConnectTimeoutMs, 0);
    if (timer_rc != 0) {
        upstream_failed(uv_strerror(timer_rc));
        return;
    }
    const int rc = uv_tcp_connect(&connect_req, &upstream, addr, [](uv_connect_t* req, int status) {
        auto* c = static_cast<Conn*>(req->data);
        if (c->closing) {
            return;
        }
        c->ok(uv_timer_stop(&c->timer), "stopping the connect timer");
        if (status < 0) {
            c->upstream_failed(uv_strerror(status));
            return;
        }
        c->ok(uv_tcp_nodelay(&c->upstream, 1), "TCP_NODELAY to the upstream");
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

} // namespace horizon::server::api
