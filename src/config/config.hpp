// The configuration as plain structs, and the one loader that parses and validates it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/address.hpp"

namespace horizon::config {

struct ServerConfig {
    std::vector<util::Endpoint> listen; ///< each serves UDP and TCP
    unsigned workers = 0;               ///< 0 = one per core
    uint16_t udp_payload = 1232;        ///< our EDNS buffer size, 512..4096
    std::chrono::milliseconds tcp_idle_timeout{10000};
    unsigned tcp_max_connections = 1024;
    std::string log_level = "info"; ///< trace, debug, info, warn, error, critical, off
    bool query_log = false;
    std::string identity = "horizon"; ///< CHAOS id.server / hostname.bind and NSID; "" = off
    std::string version;              ///< CHAOS version.bind; "" = REFUSED
};

enum class AccessMode : uint8_t { Public, PublicPrivate, Private };
enum class PrivateOutside : uint8_t { PrivateIps, NxDomain };

struct ClusterConfig {
    std::string name;
    std::string region;
    std::string endpoint; ///< as configured (case kept) or derived from name+region
    std::vector<util::Cidr> vpc_cidrs;
    std::vector<util::Cidr> vpc_exclude_cidrs;
    std::vector<util::IpAddress> private_ips; ///< EKS-owned ENIs
    std::vector<util::IpAddress> public_ips;  ///< the NLB
    AccessMode access_mode = AccessMode::PublicPrivate;
    std::vector<util::Cidr> public_access_cidrs; ///< gates connections only, never answers
    PrivateOutside private_outside = PrivateOutside::PrivateIps;
    uint32_t ttl = 60;
};

struct Config {
    ServerConfig server;
    std::vector<ClusterConfig> clusters;
};

/// One problem found while loading, printed compiler-style.
struct Diagnostic {
    std::string path;
    unsigned line = 0;
    unsigned col = 0;
    std::string message;

    /// "path:line:col: error: message"
    [[nodiscard]] std::string to_string() const;
};

using LoadResult = std::variant<Config, std::vector<Diagnostic>>;

/// Parses and validates `text` (named `path` in diagnostics). Reports every semantic error at
/// once; a TOML syntax error is reported alone.
LoadResult load(std::string_view text, const std::string& path);

/// Reads the file and calls `load`; an unreadable file gives one diagnostic at path:1:1.
LoadResult load_file(const std::string& path);

/// The built-in default configuration (config/default.toml compiled in).
std::string_view default_text();

/// "<32 upper-case hex>.gr7.<region>.eks.amazonaws.com", derived deterministically.
std::string derive_endpoint(std::string_view name, std::string_view region);

std::string_view to_string(AccessMode m);

/// "private-ips" or "nxdomain", as written in the configuration.
std::string_view to_string(PrivateOutside p);

} // namespace horizon::config
