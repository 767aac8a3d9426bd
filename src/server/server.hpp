// horizond's network server: worker threads, each with a libuv loop and its own SO_REUSEPORT
// UDP and TCP sockets for every listen address, all answering from one shared snapshot.
#pragma once

#include <memory>
#include <string>

namespace horizon::server {

class Runtime;

class Server {
public:
    /// Binds every listener, the admin one too (so that "address in use" is reported before
    /// anything runs). Returns null and sets `error` to one user-facing line on failure.
    /// `tcp_cap` (0 = none) holds tcp_max_connections, on reload too, to what the open file
    /// limit allows (FdPlan::tcp).
    static std::unique_ptr<Server> create(Runtime& runtime, std::string& error,
                                          unsigned tcp_cap = 0);

    /// Serves until SIGINT or SIGTERM; returns the process exit status.
    int run();

    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

private:
    struct Impl;
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace horizon::server
