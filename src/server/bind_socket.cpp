// Listening sockets, bound exclusively (see bind_socket.hpp).
#include "server/bind_socket.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace horizon::server {

std::string_view to_string(SocketType t) {
    return t == SocketType::Udp ? "udp" : "tcp";
}

namespace {

std::string reason_of(int e, const util::Endpoint& at, SocketType type, std::string_view in_use) {
    switch (e) {
    case EADDRINUSE:
        return fmt::format("{} (another program holds it: `ss -l{}p 'sport = :{}'` names it; stop "
                           "it, or {})",
                           std::strerror(e), type == SocketType::Udp ? "nu" : "nt", at.port,
                           in_use);
    case EACCES:
        return fmt::format("{} (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
                           std::strerror(e));
    case EADDRNOTAVAIL:
        return fmt::format("{} (not an address of this machine: use 127.x addresses in a loopback "
                           "lab, or add it, e.g. `ip addr add {}/{} dev lo`)",
                           std::strerror(e), at.addr.to_string(), at.addr.is_v4() ? 32 : 128);
    default:
        return std::strerror(e);
    }
}

} // namespace

int bind_listener(const util::Endpoint& at, SocketType type, Share share, int backlog,
                  std::string_view in_use, BindError& error) {
    const int family = at.addr.is_v4() ? AF_INET : AF_INET6;
    const int fd = ::socket(
        family, (type == SocketType::Udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
        0);
    if (fd < 0) {
        error = {errno, fmt::format("socket: {}", std::strerror(errno))};
        return -1;
    }
    const int one = 1;
    if (type == SocketType::Tcp) {
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (share == Share::Group) {
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    if (family == AF_INET6) {
        // [::] and 0.0.0.0 are separate listeners; IPv6 sockets carry IPv6 only.
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (type == SocketType::Udp && at.addr == util::IpAddress{at.addr.family, {}}) {
        if (family == AF_INET) {
            ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        } else {
            ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        }
    }
    sockaddr_storage ss{};
    const unsigned len = at.to_sockaddr(ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
        (type == SocketType::Tcp && ::listen(fd, backlog) != 0)) {
        const int e = errno;
        ::close(fd);
        error = {e, reason_of(e, at, type, in_use)};
        return -1;
    }
    return fd;
}

} // namespace horizon::server
