// The API endpoint's listeners and lifetime: TLS set-up and one listener per cluster side address
// at create(), the loop thread, snapshot notifications, and an orderly close of every handle.
// What happens to a connection is in api_gate.cpp (the decision) and api_connection.cpp.
#include "server/api_endpoint.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <unistd.h>

#include "server/api_endpoint_impl.hpp"
#include "server/bind_socket.hpp"
#include "server/runtime.hpp"
#include "util/file.hpp"

namespace horizon::server {

using api::Address;
using api::Listener;
using control::ApiSide;

const dns::Cluster* api::find_cluster(const dns::Snapshot& snap, const std::string& name) {
    for (const auto& c : snap.clusters) {
        if (c.cfg.name == name) {
            return &c;
        }
    }
    return nullptr;
}

namespace {

using api::kBacklog;

/// A listening socket bound to `a` (exclusively: bind_socket.hpp), or -1 with a.error set and
/// `in_use` true when another program holds the port.
int bind_address(Address& a, bool& in_use) {
    BindError e;
    const int fd = bind_listener(
        a.at, SocketType::Tcp, Share::Exclusive, kBacklog,
        fmt::format("give cluster {}'s [cluster.api] port another value", a.cluster), e);
    if (fd < 0) {
        a.error = e.reason;
        in_use = e.code == EADDRINUSE;
    }
    return fd;
}

} // namespace

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

void api::Listener::close() {
    uv_close(handle(&tcp), [](uv_handle_t* h) {
        delete static_cast<Listener*>(h->data); // NOLINT(cppcoreguidelines-owning-memory)
    });
}

namespace {

void on_listen(uv_stream_t* s, int status) {
    auto* listener = static_cast<Listener*>(s->data);
    if (status < 0) {
        spdlog::warn("api: accept on {}: {}", listener->address.at.to_string(),
                     uv_strerror(status));
        return;
    }
    try {
        listener->impl->on_connection(*listener);
    } catch (const std::exception& e) {
        spdlog::error("api: accept on {}: {}", listener->address.at.to_string(), e.what());
    }
}

/// Listens on `fd` (bound to a.at) for `impl`; sets a.error and closes fd when it cannot.
void listen_on(ApiEndpoint::Impl& impl, int fd, Address& a) {
    auto* l = new Listener; // NOLINT(cppcoreguidelines-owning-memory): freed by Listener::close
    l->impl = &impl;
    l->address = a;
    l->tcp.data = l;
    if (const int rc = uv_tcp_init(&impl.loop, &l->tcp); rc != 0) {
        a.error = uv_strerror(rc);
        ::close(fd);
        delete l; // NOLINT(cppcoreguidelines-owning-memory): its handle was never initialised
        return;
    }
    int rc = uv_tcp_open(&l->tcp, fd);
    if (rc != 0) {
        ::close(fd); // not the handle's yet
    } else {
        rc = uv_listen(api::stream(&l->tcp), kBacklog, on_listen);
    }
    if (rc != 0) {
        a.error = uv_strerror(rc);
        l->close(); // closes fd too once it is the handle's
        return;
    }
    impl.listeners.push_back(l);
}

} // namespace

void ApiEndpoint::Impl::shutdown() {
    if (shut_down) {
        return;
    }
    shut_down = true;
    const std::vector<api::Conn*> all(conns.begin(), conns.end());
    for (api::Conn* c : all) {
        c->close(false);
    }
    for (Listener* l : listeners) {
        l->close();
    }
    listeners.clear();
    uv_close(api::handle(&stop_async), nullptr);    // lives in Impl: see the header
    uv_close(api::handle(&publish_async), nullptr); // (freed after uv_run returned)
}

ApiEndpoint::Impl::~Impl() {
    if (!loop_ready) {
        return;
    }
    // Never started, or create() failed half-way: close what was opened, then let the loop
    // run every close callback. After the thread ran, this finds nothing left to do.
    shutdown();
    if (const int rc = uv_run(&loop, UV_RUN_DEFAULT); rc != 0) {
        spdlog::warn("api: the event loop still has active handles at exit");
    }
    if (const int rc = uv_loop_close(&loop); rc != 0) {
        spdlog::warn("api: closing the event loop: {}", uv_strerror(rc));
    }
}

ApiEndpoint::ApiEndpoint(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ApiEndpoint::~ApiEndpoint() {
    stop();
    impl_->runtime->set_publish_hook(nullptr);
    // impl_'s destructor closes the loop.
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
    int rc = uv_async_init(&impl->loop, &impl->stop_async, [](uv_async_t* a) {
        auto* i = static_cast<Impl*>(a->loop->data);
        i->shutdown();
    });
    if (rc == 0) {
        rc = uv_async_init(&impl->loop, &impl->publish_async, [](uv_async_t* a) {
            auto* i = static_cast<Impl*>(a->loop->data);
            try {
                i->on_publish();
            } catch (const std::exception& e) {
                spdlog::error("api: applying a new configuration: {}", e.what());
            }
        });
        if (rc != 0) {
            uv_close(api::handle(&impl->stop_async), nullptr);
        }
    }
    if (rc != 0) {
        error = fmt::format("API endpoint: cannot set up its event loop: {}", uv_strerror(rc));
        impl->shut_down = true; // nothing else to close; ~Impl runs the loop and closes it
        return nullptr;
    }

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
        if (util::write_file_atomically(base + ".crt", cert->cert_pem, werr, 0644) &&
            util::write_file_atomically(base + ".key", cert->key_pem, werr, 0600)) {
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
                bool in_use = false;
                const int fd = bind_address(a, in_use);
                if (in_use) {
                    // Another server on the port would take some of the connections (or all):
                    // never start beside it. A missing address only narrows what can be tested.
                    error =
                        fmt::format("cluster {}: API endpoint cannot listen on {} ({} side): {}",
                                    c.name, a.at.to_string(), control::to_string(side), a.error);
                    return nullptr;
                }
                if (fd >= 0) {
                    listen_on(*impl, fd, a);
                }
                if (a.error.empty()) {
                    bound.push_back(
                        fmt::format("{} ({})", a.at.to_string(), control::to_string(side)));
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
    impl_->thread = std::thread([this] {
        // Returns once shutdown() closed every handle (uv_stop is never called).
        (void)uv_run(&impl_->loop, UV_RUN_DEFAULT);
    });
}

void ApiEndpoint::stop() {
    if (impl_->thread.joinable()) {
        if (const int rc = uv_async_send(&impl_->stop_async); rc != 0) {
            // Only for a closing handle, i.e. the loop is shutting down already.
            spdlog::warn("api: stopping the endpoint: {}", uv_strerror(rc));
        }
        impl_->thread.join();
    }
}

void ApiEndpoint::notify() {
    if (impl_->running && impl_->thread.joinable()) {
        if (const int rc = uv_async_send(&impl_->publish_async); rc != 0) {
            spdlog::warn("api: applying a new configuration: {}", uv_strerror(rc));
        }
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

} // namespace horizon::server
