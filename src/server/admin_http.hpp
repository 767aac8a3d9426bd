// The admin HTTP listener: health, readiness, Prometheus metrics and the EKS REST API shapes,
// served by cpp-httplib on its own threads.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server/runtime.hpp"
#include "util/address.hpp"

namespace horizon::server {

class AdminHttp {
public:
    /// Renders /metrics (called on an HTTP thread).
    using MetricsFn = std::function<std::string()>;
    /// The API endpoint's connections of one cluster (called on an HTTP thread).
    using ConnectionsFn = std::function<control::ApiResult(const std::string& cluster)>;

    /// Binds `listen` (so that "in use" is reported at start-up); serving starts with start().
    /// Returns null with one user-facing line in `error`.
    static std::unique_ptr<AdminHttp> create(const util::Endpoint& listen, std::string token,
                                             Runtime& runtime, MetricsFn metrics,
                                             std::string& error, ConnectionsFn connections = {});
    void start();
    void stop();
    ~AdminHttp();
    AdminHttp(const AdminHttp&) = delete;
    AdminHttp& operator=(const AdminHttp&) = delete;

private:
    struct Impl;
    explicit AdminHttp(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace horizon::server
