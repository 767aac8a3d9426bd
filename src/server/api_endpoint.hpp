// The API endpoint behind the names: TCP listeners on each cluster's public_ips (the NLB side) and
// private_ips (the ENI side) that admit connections as EKS does (publicAccessCidrs, the cluster
// security group) and proxy them to an upstream or answer them with the built-in responder.
// Runs on its own libuv loop thread, never on the DNS workers.
#pragma once

#include <memory>
#include <string>

#include "control/control_plane.hpp"

namespace horizon::server {

class Runtime;

class ApiEndpoint {
public:
    /// Binds every API endpoint address ([cluster.api] port on public_ips and private_ips) that is
    /// local to this machine, exclusively (bind_socket.hpp), and logs each one that cannot be
    /// bound and why (not fatal: a lab binds what it has), except a port another program holds.
    /// Makes each cluster's self-signed certificate and writes it to
    /// `<state_dir>/api-<cluster>.crt` (key: `.key`, mode 0600). Registers with `runtime` to
    /// hear of every published snapshot. Returns null with `error` set when an address is in use
    /// (another server would take some of its connections) or TLS cannot be set up. Decisions
    /// read the snapshot DNS answers from, so both flip at the same moment.
    static std::unique_ptr<ApiEndpoint> create(Runtime& runtime, std::string& error);

    /// Starts the loop thread (nothing to do when no address was bound).
    void start();
    /// Closes every listener and connection and joins the thread. Idempotent.
    void stop();
    /// Thread-safe and non-blocking: a new snapshot was published (held connections that are now
    /// allowed go through; with reset_on_update, connections now denied are reset).
    void notify();

    /// The `ss -tn` view for the admin API: {"cluster", "listeners": [...], "unbound": [...],
    /// "connections": [{"side", "local", "peer", "state", "since", "bytesIn", "bytesOut"}]}.
    /// Thread-safe.
    [[nodiscard]] control::ApiResult connections(const std::string& cluster) const;
    /// horizon_api_* metrics in the Prometheus text format. Thread-safe.
    [[nodiscard]] std::string render_metrics() const;

    ~ApiEndpoint();
    ApiEndpoint(const ApiEndpoint&) = delete;
    ApiEndpoint& operator=(const ApiEndpoint&) = delete;

    struct Impl;

private:
    explicit ApiEndpoint(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace horizon::server
