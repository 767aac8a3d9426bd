// Live mode: a running horizond answers the nodes' DNS questions over UDP (--dns, the node's
// address as EDNS Client Subnet) and receives the scenario's updates through its admin API
// (--control). Only ever pointed at addresses the user gives (tests: loopback).
#pragma once

#include <cstdint>
#include <string>

#include "sim/simulation.hpp"
#include "util/address.hpp"

namespace horizon::sim {

class UdpResolver final : public Resolver {
public:
    explicit UdpResolver(const util::Endpoint& server);
    ~UdpResolver() override;
    UdpResolver(const UdpResolver&) = delete;
    UdpResolver& operator=(const UdpResolver&) = delete;

    /// Three tries, one second each; the answer must carry our ID (RFC 5452 §9.1).
    bool resolve(const dns::Snapshot& snap, const std::string& name, const util::IpAddress& client,
                 std::vector<util::IpAddress>& ips, uint32_t& ttl, bool& nxdomain) override;

    [[nodiscard]] uint64_t failures() const { return failures_; }

private:
    int fd_ = -1;
    uint16_t next_id_ = 1;
    uint64_t failures_ = 0;
};

class HttpControl final : public ControlSink {
public:
    /// `url`: "http://127.0.0.1:8053"; `token`: bearer token, "" for none.
    HttpControl(std::string url, std::string token);
    control::ApiResult update_cluster_config(const std::string& cluster,
                                             const nlohmann::json& body) override;
    control::ApiResult authorize_sg_ingress(const std::string& cluster,
                                            const nlohmann::json& body) override;

private:
    control::ApiResult post(const std::string& path, const nlohmann::json& body);
    std::string url_;
    std::string token_;
};

} // namespace horizon::sim
