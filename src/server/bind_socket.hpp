// Listening sockets, bound exclusively: the one place horizond binds a DNS listener (UDP and TCP,
// every worker's SO_REUSEPORT copy) or an API endpoint listener. Internal to src/server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/address.hpp"

namespace horizon::server {

enum class SocketType : uint8_t { Udp, Tcp };

/// "udp", "tcp".
std::string_view to_string(SocketType t);

enum class Share : uint8_t {
    /// The only socket on the address: fails with EADDRINUSE when any other socket holds the port
    /// there (or on the wildcard), another program's included, whatever SO_REUSEADDR or
    /// SO_REUSEPORT it set. This is what detects a second server.
    Exclusive,
    /// One of a group (each worker its own, the kernel spreads the traffic): SO_REUSEPORT, so it
    /// would share the port with another program's SO_REUSEPORT socket too. Bind the address
    /// Exclusive once first (and close that socket) so that such a program is reported.
    Group,
};

/// Why a bind failed: the errno, and its text with what to do (e.g. "Address already in use
/// (another program holds it: `ss -ltnp 'sport = :1053'` names it; stop it, or pick another
/// port in [server] listen)").
struct BindError {
    int code = 0;
    std::string reason;
};

/// A non-blocking, close-on-exec socket bound to `at`, listening with `backlog` when TCP; or -1
/// with `error` set. TCP sets SO_REUSEADDR (to rebind past TIME_WAIT only: a listening socket is
/// never shared through it); UDP does not (it would share the port with another program's
/// SO_REUSEADDR socket). IPv6 sockets are IPv6-only; a wildcard UDP socket asks for the arrival
/// address of each datagram (IP_PKTINFO / IPV6_RECVPKTINFO) to reply from it. `in_use` is what
/// to do about a port in use, after "stop it, or " ("pick another port in [server] listen").
int bind_listener(const util::Endpoint& at, SocketType type, Share share, int backlog,
                  std::string_view in_use, BindError& error);

} // namespace horizon::server
