// Server set-up: binds the REUSEPORT sockets, runs one worker thread per loop, stops on signals.
#include "server/server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "server/worker.hpp"

namespace horizon::server {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

/// A socket bound to `ep`; `reuseport` lets every worker bind its own (libuv 1.44 cannot).
int bind_socket(const util::Endpoint& ep, int type, bool reuseport, std::string& error) {
    const int family = ep.addr.is_v4() ? AF_INET : AF_INET6;
    const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const char* proto = type == SOCK_DGRAM ? "udp" : "tcp";
    if (fd < 0) {
        error = fmt::format("cannot listen on {} ({}): socket: {}", ep.to_string(), proto,
                            errno_text(errno));
        return -1;
    }
    const int one = 1;
    if (type == SOCK_STREAM) {
        // TCP: only lets us rebind past TIME_WAIT. Not for UDP, where SO_REUSEADDR would let us
        // share a port with another program's SO_REUSEADDR socket instead of reporting it in use.
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (reuseport) {
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    if (family == AF_INET6) {
        // [::] and 0.0.0.0 are separate listeners; IPv6 sockets carry IPv6 only.
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    const bool wildcard = ep.addr == util::IpAddress{ep.addr.family, {}};
    if (type == SOCK_DGRAM && wildcard) {
        if (family == AF_INET) {
            ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        } else {
            ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        }
    }
    sockaddr_storage ss{};
    const unsigned len = ep.to_sockaddr(ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        const int e = errno;
        ::close(fd);
        error = fmt::format("cannot listen on {} ({}): {}{}", ep.to_string(), proto,
                            errno_text(e),
                            e == EADDRINUSE  ? " (another server is using it; pick another port "
                                               "in [server] listen)"
                            : e == EACCES    ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                            : e == EADDRNOTAVAIL ? " (no interface has this address)"
                                                 : "");
        return -1;
    }
    if (type == SOCK_STREAM && ::listen(fd, 1024) != 0) {
        error = fmt::format("cannot listen on {} ({}): {}", ep.to_string(), proto,
                            errno_text(errno));
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace

struct Server::Impl {
    SnapshotHolder holder;
    TcpBudget budget;
    std::vector<std::unique_ptr<Worker>> workers;

    ~Impl() = default;
};

Worker::Worker(unsigned index, SnapshotHolder& holder, TcpBudget& budget,
               std::vector<ListenSocket> sockets)
    : index_(index), holder_(holder), budget_(budget), sockets_(std::move(sockets)) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &stop_, [](uv_async_t* a) {
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
    });
    refresh();
}

Worker::~Worker() {
    // Sockets that were never handed to a handle (set-up failed) are still ours.
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
}

void Worker::refresh() {
    generation_ = holder_.generation.load(std::memory_order_acquire);
    snap_ = holder_.current.load(std::memory_order_acquire);
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

void Worker::stop() { uv_async_send(&stop_); }

void Worker::log_query(std::span<const uint8_t> query, const dns::Client& client,
                       const dns::Outcome& o) {
    const char* transport = client.transport == dns::Transport::Udp ? "udp" : "tcp";
    if (o.size == 0) {
        spdlog::info("query from {} {}: dropped ({} bytes)", client.addr.to_string(), transport,
                     query.size());
        return;
    }
    const std::string name =
        o.name_len > 0 ? dns::name_to_text({reinterpret_cast<const char*>(query.data()) +
                                                dns::kHeaderSize,
                                            o.name_len})
                       : "-";
    if (o.cluster == nullptr) {
        spdlog::info("query from {} {}: {} {} -> {}{}", client.addr.to_string(), transport, name,
                     dns::type_to_string(o.qtype), dns::to_string(o.rcode),
                     o.truncated ? " TC" : "");
        return;
    }
    spdlog::info("query from {} {}: {} {} cluster={} source={} answer={} -> {}{}",
                 client.addr.to_string(), transport, name, dns::type_to_string(o.qtype),
                 o.cluster->cfg.name, o.decision.inside ? "in-vpc" : "outside",
                 dns::to_string(o.decision.set), dns::to_string(o.rcode),
                 o.truncated ? " TC" : "");
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

std::unique_ptr<Server> Server::create(std::shared_ptr<const dns::Snapshot> snapshot,
                                       std::string& error) {
    auto impl = std::make_unique<Impl>();
    const auto& cfg = snapshot->server;
    unsigned n = cfg.workers != 0 ? cfg.workers : std::max(1U, std::thread::hardware_concurrency());
    impl->holder.current.store(std::move(snapshot));
    impl->holder.generation.store(impl->holder.current.load()->generation);

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
    for (const auto& ep : cfg.listen) {
        // With SO_REUSEPORT a second server would silently share the port; probe without it
        // first so that "address in use" is reported as such.
        for (const int type : {SOCK_DGRAM, SOCK_STREAM}) {
            const int probe = bind_socket(ep, type, false, error);
            if (probe < 0) {
                close_all();
                return nullptr;
            }
            ::close(probe);
        }
        for (unsigned w = 0; w < n; ++w) {
            ListenSocket s;
            s.v6 = !ep.addr.is_v4();
            s.wildcard = ep.addr == util::IpAddress{ep.addr.family, {}};
            s.udp_fd = bind_socket(ep, SOCK_DGRAM, true, error);
            s.tcp_fd = s.udp_fd < 0 ? -1 : bind_socket(ep, SOCK_STREAM, true, error);
            per_worker[w].push_back(s);
            if (s.udp_fd < 0 || s.tcp_fd < 0) {
                close_all();
                return nullptr;
            }
        }
    }
    for (unsigned w = 0; w < n; ++w) {
        impl->workers.push_back(std::make_unique<Worker>(w, impl->holder, impl->budget,
                                                         std::move(per_worker[w])));
    }
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::run() {
    struct MainLoop {
        uv_loop_t loop{};
        uv_signal_t sigint{};
        uv_signal_t sigterm{};
        uv_async_t failed{}; // a worker could not start its listeners
        Server* server = nullptr;

        void stop_all() {
            for (auto& w : server->impl_->workers) {
                w->stop();
            }
            uv_walk(&loop, [](uv_handle_t* h, void*) { uv_close(h, nullptr); }, nullptr);
        }
    } m;
    m.server = this;
    uv_loop_init(&m.loop);
    m.loop.data = &m;
    const auto on_signal = [](uv_signal_t* s, int signum) {
        spdlog::info("received {}, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
        static_cast<MainLoop*>(s->loop->data)->stop_all();
    };
    uv_signal_init(&m.loop, &m.sigint);
    uv_signal_init(&m.loop, &m.sigterm);
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_async_init(&m.loop, &m.failed,
                  [](uv_async_t* a) { static_cast<MainLoop*>(a->loop->data)->stop_all(); });

    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    threads.reserve(impl_->workers.size());
    for (auto& w : impl_->workers) {
        threads.emplace_back([&w, &failed, &m] {
            if (!w->run()) {
                failed = true;
                uv_async_send(&m.failed);
            }
        });
    }
    uv_run(&m.loop, UV_RUN_DEFAULT);
    for (auto& t : threads) {
        t.join();
    }
    uv_loop_close(&m.loop);
    return failed ? 1 : 0;
}

} // namespace horizon::server
