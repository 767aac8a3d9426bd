// Server set-up: binds the REUSEPORT sockets (after an exclusive probe, bind_socket.hpp), runs one
// worker thread per loop, stops on signals.
#include "server/server.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <list>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "dns/zone.hpp"
#include "server/admin_http.hpp"
#include "server/api_endpoint.hpp"
#include "server/bind_socket.hpp"
#include "server/fd_budget.hpp"
#include "server/runtime.hpp"
#include "server/uv_check.hpp"
#include "server/worker.hpp"

namespace horizon::server {

namespace {

/// A DNS listener's socket on `ep` (bind_socket.hpp); -1 with `error` set.
int bind_dns(const util::Endpoint& ep, SocketType type, Share share, std::string& error) {
    BindError e;
    const int fd = bind_listener(ep, type, share, 1024, "pick another port in [server] listen", e);
    if (fd < 0) {
        error =
            fmt::format("cannot listen on {} ({}): {}", ep.to_string(), to_string(type), e.reason);
    }
    return fd;
}

} // namespace

struct Server::Impl {
    Runtime* runtime = nullptr;
    /// The listen entries as bound (a reload cannot change them); ListenSocket::vpc_cluster
    /// points into these, so they outlive the workers.
    std::vector<config::Listener> listeners;
    TcpBudget budget;
    std::vector<std::unique_ptr<WorkerMetrics>> metrics;
    std::vector<std::unique_ptr<Worker>> workers;
    std::unique_ptr<AdminHttp> admin;
    std::unique_ptr<ApiEndpoint> api; ///< [cluster.api] listeners, on their own thread

    std::string render_metrics() {
        std::vector<const WorkerMetrics*> all;
        for (const auto& m : metrics) {
            all.push_back(m.get());
        }
        return render_prometheus(all, runtime->gauges(budget.open.load())) +
               (api ? api->render_metrics() : std::string());
    }
};

namespace {

uint64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace

Worker::Worker(unsigned index, SnapshotHolder& holder, TcpBudget& budget, WorkerMetrics& metrics,
               std::vector<ListenSocket> sockets)
    : index_(index)
    , holder_(holder)
    , budget_(budget)
    , metrics_(metrics)
    , sockets_(std::move(sockets)) {
    uv_check(uv_loop_init(&loop_), "worker loop");
    uv_check(uv_async_init(&loop_, &stop_,
                           [](uv_async_t* a) {
                               uv_walk(
                                   a->loop,
                                   [](uv_handle_t* h, void* /*arg*/) {
                                       if (uv_is_closing(h) != 0) {
                                           return;
                                       }
                                       if (h->data != nullptr) {
                                           static_cast<Owned*>(h->data)->close();
                                       } else {
                                           uv_close(h, nullptr);
                                       }
                                   },
                                   nullptr);
                           }),
             "worker stop handle");
    refresh();
    forwarder_ = std::make_unique<Forwarder>(*this);
}

Worker::~Worker() {
    // Sockets that were never handed to a handle (set-up failed) are still ours.
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_ok(uv_loop_close(&loop_), "closing a worker loop");
}

void Worker::refresh() {
    generation_ = holder_.generation.load(std::memory_order_acquire);
    snap_ = holder_.current.load(std::memory_order_acquire);
    resolver_ = holder_.resolver.load(std::memory_order_acquire);
}

bool Worker::run() {
    bool ok = true;
    for (const auto& s : sockets_) {
        ok = ok && start_udp(*this, s) && start_tcp(*this, s);
    }
    if (!ok) {
        stop();
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    return ok;
}

void Worker::stop() {
    uv_ok(uv_async_send(&stop_), "stopping a worker");
}

dns::Outcome Worker::answer(std::span<const uint8_t> query, dns::Query& q,
                            const dns::Client& client, std::span<uint8_t> out) {
    const dns::Snapshot& snap = snapshot();
    const uint64_t start = monotonic_ns();
    const dns::Outcome o = dns::answer(snap, query, q, client, out, /*can_forward=*/true);
    account(o, client, monotonic_ns() - start, query);
    return o;
}

void Worker::account(const dns::Outcome& o, const dns::Client& client, uint64_t ns,
                     std::span<const uint8_t> message, std::string_view via) {
    metrics_.count(o, client.transport, ns); // a forwarded query counts when its answer does
    if (snapshot().server.query_log) {
        log_query(message, client, o, via);
    }
}

void Worker::log_query(std::span<const uint8_t> query, const dns::Client& client,
                       const dns::Outcome& o, std::string_view via) {
    const char* transport = client.transport == dns::Transport::Udp ? "udp" : "tcp";
    if (o.size == 0 && !o.forward) {
        spdlog::info("query from {} {}: dropped ({} bytes)", client.addr.to_string(), transport,
                     query.size());
        return;
    }
    const std::string name =
        o.name_len > 0
            ? dns::name_to_text(
                  {reinterpret_cast<const char*>(query.data()) + dns::kHeaderSize, o.name_len})
            : "-";
    if (!via.empty()) { // the resolver's answer
        spdlog::info("query from {} {}: {} {} -> {} ({})", client.addr.to_string(), transport, name,
                     dns::type_to_string(o.qtype), dns::to_string(o.rcode), via);
        return;
    }
    if (o.zone != nullptr) {
        spdlog::info("query from {} {}: {} {} zone={} view={} -> {}{}", client.addr.to_string(),
                     transport, name, dns::type_to_string(o.qtype),
                     dns::name_to_text(o.zone->origin), o.decision.inside ? "vpc" : "public",
                     dns::to_string(o.rcode), o.truncated ? " TC" : "");
        return;
    }
    if (o.cluster == nullptr) {
        spdlog::info("query from {} {}: {} {} -> {}{}", client.addr.to_string(), transport, name,
                     dns::type_to_string(o.qtype),
                     o.forward ? std::string_view("forwarded") : dns::to_string(o.rcode),
                     o.truncated ? " TC" : "");
        return;
    }
    spdlog::info("query from {} {}: {} {} cluster={} source={} answer={} -> {}{}",
                 client.addr.to_string(), transport, name, dns::type_to_string(o.qtype),
                 o.cluster->cfg.name, o.decision.inside ? "in-vpc" : "outside",
                 dns::to_string(o.decision.set), dns::to_string(o.rcode), o.truncated ? " TC" : "");
}

Server::Server(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

Server::~Server() = default;

std::unique_ptr<Server> Server::create(Runtime& runtime, std::string& error, unsigned tcp_cap) {
    auto impl = std::make_unique<Impl>();
    impl->runtime = &runtime;
    impl->budget.cap = tcp_cap;
    const auto& cfg = runtime.file_config().server;
    const unsigned n = worker_count(cfg);

    std::vector<std::vector<ListenSocket>> per_worker(n);
    const auto close_all = [&] {
        for (auto& sockets : per_worker) {
            for (auto& s : sockets) {
                if (s.udp_fd >= 0) {
                    ::close(s.udp_fd);
                }
                if (s.tcp_fd >= 0) {
                    ::close(s.tcp_fd);
                }
            }
        }
    };
    impl->listeners = cfg.listen;
    // With SO_REUSEPORT a second server would silently share the port; bind every address
    // exclusively first so that "address in use" is reported as such. All probes before any
    // bind: a wildcard and a specific address on one port (a resolver listener next to
    // 0.0.0.0:53) coexist only when both use SO_REUSEPORT. The kernel then delivers a query to
    // the specific one: it matches the destination more closely.
    for (const auto& l : impl->listeners) {
        for (const auto type : {SocketType::Udp, SocketType::Tcp}) {
            const int probe = bind_dns(l.endpoint, type, Share::Exclusive, error);
            if (probe < 0) {
                return nullptr;
            }
            ::close(probe);
        }
    }
    for (const auto& l : impl->listeners) {
        const util::Endpoint& ep = l.endpoint;
        for (unsigned w = 0; w < n; ++w) {
            ListenSocket s;
            s.v6 = !ep.addr.is_v4();
            s.wildcard = ep.addr == util::IpAddress{ep.addr.family, {}};
            s.vpc_listener = l.vpc;
            s.vpc_cluster = l.cluster;
            s.udp_fd = bind_dns(ep, SocketType::Udp, Share::Group, error);
            s.tcp_fd = s.udp_fd < 0 ? -1 : bind_dns(ep, SocketType::Tcp, Share::Group, error);
            per_worker[w].push_back(s);
            if (s.udp_fd < 0 || s.tcp_fd < 0) {
                close_all();
                return nullptr;
            }
        }
    }
    impl->api = ApiEndpoint::create(runtime, error);
    if (!impl->api) {
        close_all();
        return nullptr;
    }
    if (cfg.admin_listen) {
        Impl* raw = impl.get();
        impl->admin = AdminHttp::create(
            *cfg.admin_listen, cfg.admin_token, runtime, [raw] { return raw->render_metrics(); },
            error, [raw](const std::string& cluster) { return raw->api->connections(cluster); });
        if (!impl->admin) {
            close_all();
            return nullptr;
        }
    }
    try {
        for (unsigned w = 0; w < n; ++w) {
            impl->metrics.push_back(std::make_unique<WorkerMetrics>());
            impl->workers.push_back(std::make_unique<Worker>(w, runtime.holder(), impl->budget,
                                                             *impl->metrics.back(),
                                                             std::move(per_worker[w])));
        }
    } catch (const std::exception& e) { // a worker's loop could not be set up (uv_check)
        error = e.what();
        close_all();
        return nullptr;
    }
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::run() {
    struct MainLoop {
        uv_loop_t loop{};
        uv_signal_t sigint{};
        uv_signal_t sigterm{};
        uv_async_t failed{}; // a worker could not start its listeners
        uv_signal_t sighup{};
        uv_timer_t tick{};     // completes due endpoint updates
        uv_fs_event_t watch{}; // the config file's directory (ConfigMap-style symlink swaps)
        std::list<uv_fs_event_t> zone_watch; // the zone files' other directories
        uv_timer_t settle{};                 // reload once a burst of file events has settled
        uint64_t burst_start = 0;            // uv_now() at the burst's first event
        Server* server = nullptr;

        void stop_all() {
            if (server->impl_->admin) {
                server->impl_->admin->stop();
            }
            server->impl_->api->stop();
            for (auto& w : server->impl_->workers) {
                w->stop();
            }
            uv_walk(
                &loop, [](uv_handle_t* h, void*) { uv_close(h, nullptr); }, nullptr);
        }
    } m;

    m.server = this;
    uv_check(uv_loop_init(&m.loop), "main loop");
    m.loop.data = &m;
    const auto on_signal = [](uv_signal_t* s, int signum) {
        spdlog::info("received {}, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
        static_cast<MainLoop*>(s->loop->data)->stop_all();
    };
    uv_check(uv_signal_init(&m.loop, &m.sigint), "SIGINT handler");
    uv_check(uv_signal_init(&m.loop, &m.sigterm), "SIGTERM handler");
    uv_check(uv_signal_start(&m.sigint, on_signal, SIGINT), "SIGINT handler");
    uv_check(uv_signal_start(&m.sigterm, on_signal, SIGTERM), "SIGTERM handler");
    uv_check(
        uv_async_init(&m.loop, &m.failed,
                      [](uv_async_t* a) { static_cast<MainLoop*>(a->loop->data)->stop_all(); }),
        "worker failure handle");
    uv_check(uv_signal_init(&m.loop, &m.sighup), "SIGHUP handler");
    uv_check(uv_signal_start(
                 &m.sighup,
                 [](uv_signal_t* s, int) {
                     spdlog::info("received SIGHUP, reloading");
                     static_cast<MainLoop*>(s->loop->data)->server->impl_->runtime->reload(false);
                 },
                 SIGHUP),
             "SIGHUP handler");
    uv_check(uv_timer_init(&m.loop, &m.tick), "update timer");
    uv_check(uv_timer_start(
                 &m.tick,
                 [](uv_timer_t* t) {
                     static_cast<MainLoop*>(t->loop->data)->server->impl_->runtime->tick();
                 },
                 100, 100),
             "update timer");
    uv_check(uv_timer_init(&m.loop, &m.settle), "reload settle timer");
    if (const auto& path = impl_->runtime->config_path()) {
        // Watch directories, not files: editors and Kubernetes replace files by rename. The zone
        // files' directories too (as at start-up; a reload that moves them needs a restart).
        const auto dir_of = [](const std::string& file) {
            const auto slash = file.rfind('/');
            return slash == std::string::npos ? std::string(".") : file.substr(0, slash + 1);
        };
        const auto on_change = [](uv_fs_event_t* h, const char*, int, int) {
            // Each event restarts the 200 ms settle timer, but only for 1 s after the first one
            // of a burst: a file that never stops changing in a watched directory (a log next
            // to the config, say) must not postpone the reload for ever.
            auto* main = static_cast<MainLoop*>(h->loop->data);
            const uint64_t now = uv_now(h->loop);
            if (uv_is_active(reinterpret_cast<uv_handle_t*>(&main->settle)) == 0) {
                main->burst_start = now;
            } else if (now - main->burst_start >= 1000) {
                return; // it fires within 200 ms anyway
            }
            uv_ok(
                uv_timer_start(
                    &main->settle,
                    [](uv_timer_t* t) {
                        static_cast<MainLoop*>(t->loop->data)->server->impl_->runtime->reload(true);
                    },
                    200, 0),
                "reload settle timer");
        };
        std::vector<std::string> dirs = {dir_of(*path)};
        for (const auto& z : impl_->runtime->file_config().zones) {
            const std::string dir = dir_of(z.path);
            const auto same = [&](const std::string& d) {
                std::error_code ec;
                return d == dir || std::filesystem::equivalent(d, dir, ec);
            };
            if (std::none_of(dirs.begin(), dirs.end(), same)) {
                dirs.push_back(dir);
            }
        }
        for (size_t i = 0; i < dirs.size(); ++i) {
            uv_fs_event_t* h = i == 0 ? &m.watch : &m.zone_watch.emplace_back();
            uv_check(uv_fs_event_init(&m.loop, h), "config directory watch");
            const int rc = uv_fs_event_start(h, on_change, dirs[i].c_str(), 0);
            if (rc != 0) {
                spdlog::warn("cannot watch {} for changes ({}); reload with SIGHUP", dirs[i],
                             uv_strerror(rc));
            }
        }
    }
    impl_->api->start();
    if (impl_->admin) {
        impl_->admin->start();
    }

    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    threads.reserve(impl_->workers.size());
    for (auto& w : impl_->workers) {
        threads.emplace_back([&w, &failed, &m] {
            if (!w->run()) {
                failed = true;
                uv_ok(uv_async_send(&m.failed), "reporting a worker's failure");
            }
        });
    }
    uv_run(&m.loop, UV_RUN_DEFAULT); // returns once stop_all closed every handle
    for (auto& t : threads) {
        t.join();
    }
    uv_ok(uv_loop_close(&m.loop), "closing the main loop");
    return failed ? 1 : 0;
}

} // namespace horizon::server
