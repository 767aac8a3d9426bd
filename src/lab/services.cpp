// ipinfo.io, the AWS API relay and the node agents of the lab (services.hpp).
#include "lab/services.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <httplib.h>
#include <iostream>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "lab/netns.hpp"
#include "util/address.hpp"

namespace horizon::lab {

namespace {

void say(const std::string& line) {
    std::cerr << line << std::endl; // the process's log file; one line each, flushed
}

/// A listening TCP socket on `at` in the calling thread's namespace, or -1 (logged).
int listen_on(const util::Endpoint& at) {
    sockaddr_storage ss{};
    const unsigned len = at.to_sockaddr(ss);
    const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 64) != 0) {
        say(fmt::format("cannot listen on {}: {}", at.to_string(), std::strerror(errno)));
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }
    return fd;
}

int connect_to(const util::Endpoint& to) {
    sockaddr_storage ss{};
    const unsigned len = to.to_sockaddr(ss);
    const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
        return fd;
    }
    if (fd >= 0) {
        ::close(fd);
    }
    return -1;
}

/// Copies both ways between `a` and `b` until either side closes; closes both.
void pump(int a, int b) {
    std::array<pollfd, 2> fds{{{a, POLLIN, 0}, {b, POLLIN, 0}}};
    std::array<char, 16384> buf{};
    bool open = true;
    while (open && ::poll(fds.data(), fds.size(), -1) > 0) {
        for (size_t i = 0; i < 2 && open; ++i) {
            if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
            if (n <= 0) {
                open = false;
                break;
            }
            const int to = fds[1 - i].fd;
            for (ssize_t sent = 0; sent < n;) {
                const ssize_t w = ::write(to, buf.data() + sent, static_cast<size_t>(n - sent));
                if (w <= 0) {
                    open = false;
                    break;
                }
                sent += w;
            }
        }
    }
    ::close(a);
    ::close(b);
}

/// The agent's one lookup of the endpoint, through the namespace's resolv.conf.
std::optional<std::string> resolve_once(const std::string& name) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(name.c_str(), "443", &hints, &res) != 0 || res == nullptr) {
        return std::nullopt;
    }
    const std::string ip = util::IpAddress::from_sockaddr(res->ai_addr).to_string();
    ::freeaddrinfo(res);
    return ip;
}

/// kubelet's server port, dual-stack as the real one ([::ffff:a.b.c.d] peers in ss): connections
/// to it (kubectl exec, logs) are accepted and held until
/// the peer closes, so `ss -tnp` shows them as the seed does.
void serve_kubelet_port() {
    const int fd = listen_on(*util::Endpoint::parse("[::]:10250"));
    if (fd < 0) {
        return;
    }
    std::thread([fd] {
        while (true) {
            const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                continue;
            }
            std::thread([c] {
                std::array<char, 4096> buf{};
                while (::read(c, buf.data(), buf.size()) > 0) {
                }
                ::close(c);
            }).detach();
        }
    }).detach();
}

} // namespace

int serve_ipinfo(const std::vector<std::string>& args) {
    const auto at = args.size() == 1 ? util::Endpoint::parse(args[0]) : std::nullopt;
    if (!at) {
        std::cerr << "usage: horizonctl lab serve-ipinfo ADDR:PORT\n";
        return 2;
    }
    httplib::Server http;
    http.Get("/ip", [](const httplib::Request& req, httplib::Response& res) {
        res.set_content(req.remote_addr, "text/plain; charset=utf-8");
    });
    http.Get("/", [](const httplib::Request& req, httplib::Response& res) {
        res.set_content(fmt::format("{{\n  \"ip\": \"{}\"\n}}", req.remote_addr),
                        "application/json; charset=utf-8");
    });
    say(fmt::format("ipinfo.io on {}", at->to_string()));
    if (!http.listen(at->addr.to_string(), at->port)) {
        say(fmt::format("cannot listen on {}", at->to_string()));
        return 1;
    }
    return 0;
}

int serve_aws_api(const std::vector<std::string>& args) {
    const auto at = args.size() == 4 ? util::Endpoint::parse(args[0]) : std::nullopt;
    const auto to = args.size() == 4 ? util::Endpoint::parse(args[3]) : std::nullopt;
    if (!at || !to) {
        std::cerr << "usage: horizonctl lab serve-aws-api ADDR:PORT CERT KEY ADMIN-ADDR:PORT\n";
        return 2;
    }
    httplib::SSLServer https(args[1].c_str(), args[2].c_str());
    if (!https.is_valid()) {
        say(fmt::format("cannot load the certificate {} and key {}", args[1], args[2]));
        return 1;
    }
    const util::Endpoint admin = *to;
    // Every request goes to horizond's admin API as it came (method, target, headers, body): the
    // AWS CLI's signed EKS REST and EC2 Query calls, answered by horizond's EKS shapes.
    const auto relay = [admin](const httplib::Request& req, httplib::Response& res) {
        httplib::Client api(admin.addr.to_string(), admin.port);
        api.set_read_timeout(30);
        httplib::Request out;
        out.method = req.method;
        out.path = req.target;
        out.body = req.body;
        for (const auto& [name, value] : req.headers) {
            if (name != "Content-Length" && name != "Connection" && name != "REMOTE_ADDR" &&
                name != "REMOTE_PORT" && name != "LOCAL_ADDR" && name != "LOCAL_PORT") {
                out.headers.emplace(name, value);
            }
        }
        const auto answer = api.send(out);
        if (!answer) {
            res.status = 503;
            res.set_content("horizond's admin API does not answer: " +
                                httplib::to_string(answer.error()) + "\n",
                            "text/plain");
            return;
        }
        res.status = answer->status;
        for (const auto& [name, value] : answer->headers) {
            if (name != "Content-Length" && name != "Connection" && name != "Keep-Alive" &&
                name != "Transfer-Encoding") {
                res.headers.emplace(name, value);
            }
        }
        res.body = answer->body;
    };
    const std::string any = ".*";
    https.Get(any, relay);
    https.Post(any, relay);
    https.Put(any, relay);
    https.Delete(any, relay);
    https.Patch(any, relay);
    say(fmt::format("the AWS API on https://{} -> http://{}", at->to_string(), admin.to_string()));
    if (!https.listen(at->addr.to_string(), at->port)) {
        say(fmt::format("cannot listen on {}", at->to_string()));
        return 1;
    }
    return 0;
}

int serve_relay(const std::vector<std::string>& args) {
    const auto to = !args.empty() ? util::Endpoint::parse(args[0]) : std::nullopt;
    if (!to || args.size() < 2) {
        std::cerr << "usage: horizonctl lab serve-relay ADDR:PORT NAMESPACE...\n";
        return 2;
    }
    std::vector<std::thread> listeners;
    for (size_t i = 1; i < args.size(); ++i) {
        // Each listener is made on a thread that joined that namespace: a socket stays in the
        // namespace it was created in, while its connections are relayed from this one.
        int fd = -1;
        std::string error;
        if (!in_netns(
                args[i], [&] { fd = listen_on(*to); }, error) ||
            fd < 0) {
            say(error.empty() ? fmt::format("no relay in {}", args[i]) : error);
            return 1;
        }
        say(fmt::format("relaying {} in {} to {} here", to->to_string(), args[i], to->to_string()));
        listeners.emplace_back([fd, target = *to] {
            while (true) {
                const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
                if (c < 0) {
                    continue;
                }
                const int up = connect_to(target);
                if (up < 0) {
                    ::close(c);
                    continue;
                }
                std::thread(pump, c, up).detach();
            }
        });
    }
    for (auto& t : listeners) {
        t.join();
    }
    return 0;
}

int run_agent(const std::vector<std::string>& args) {
    if (args.size() != 2 || (args[0] != "kubelet" && args[0] != "kube-proxy")) {
        std::cerr << "usage: horizonctl lab agent kubelet|kube-proxy ENDPOINT\n";
        return 2;
    }
    const std::string& role = args[0];
    const std::string& endpoint = args[1];
    ::prctl(PR_SET_NAME, role.c_str()); // what `ss -tnp` and `ps` show
    const bool kubelet = role == "kubelet";
    if (kubelet) {
        serve_kubelet_port();
    }
    // As the real agents: the name is resolved when the process starts, then the address is
    // kept for every reconnection until the process restarts.
    std::optional<std::string> ip;
    for (int delay = 1; !(ip = resolve_once(endpoint)); delay = std::min(delay * 2, 10)) {
        say(fmt::format("{}: cannot resolve {}; retrying in {}s", role, endpoint, delay));
        std::this_thread::sleep_for(std::chrono::seconds(delay));
    }
    say(fmt::format("{}: {} is {}", role, endpoint, *ip));
    const auto every = std::chrono::seconds(kubelet ? 10 : 30);
    const std::string path = kubelet ? "/version" : "/api/v1/services";
    httplib::SSLClient api(*ip, 443);
    api.enable_server_certificate_verification(false);
    api.set_keep_alive(true);
    api.set_connection_timeout(10);
    api.set_read_timeout(30);
    const httplib::Headers headers = {{"Host", endpoint}, {"User-Agent", role + "/lab"}};
    int backoff = 1;
    while (true) {
        const auto res = api.Get(path.c_str(), headers);
        if (res) {
            backoff = 1;
            std::this_thread::sleep_for(every);
            continue;
        }
        say(fmt::format("{}: {}:443: {}; reconnecting in {}s", role, *ip,
                        httplib::to_string(res.error()), backoff));
        std::this_thread::sleep_for(std::chrono::seconds(backoff));
        backoff = std::min(backoff * 2, 30);
    }
}

} // namespace horizon::lab
