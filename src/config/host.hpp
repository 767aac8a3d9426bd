// The facts about the machine that loading a configuration depends on, behind one interface so
// that loading stays pure: horizond passes the real host, tests pass a fake one.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "util/address.hpp"
#include "util/file.hpp"

namespace horizon::config {

class Host {
public:
    Host() = default;
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;
    Host(Host&&) = delete;
    Host& operator=(Host&&) = delete;
    virtual ~Host() = default;

    /// The host's own addresses (a wildcard listener receives what is sent to any of them);
    /// empty if they cannot be listed.
    [[nodiscard]] virtual std::vector<util::IpAddress> local_addresses() const = 0;

    /// Whether `name` is in the system's user database: 0 when it is, ENOENT when it is not,
    /// another errno value when the lookup itself failed.
    [[nodiscard]] virtual int find_user(const std::string& name) const = 0;

    /// A small file: /etc/resolv.conf (kResolvConf), a secret such as admin_token_file.
    [[nodiscard]] virtual util::FileText read_file(const std::string& path, size_t limit) const = 0;
};

/// Where upstream "system" finds its nameservers (resolv.conf(5)).
inline constexpr const char* kResolvConf = "/etc/resolv.conf";

/// The machine horizond runs on: getifaddrs(3), getpwnam_r(3) and the file system.
const Host& system_host();

} // namespace horizon::config
