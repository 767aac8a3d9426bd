// IP addresses, CIDR prefixes and host:port endpoints: parsing and printing, no I/O.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

namespace horizon::util {

enum class Family : uint8_t { V4, V6 };

/// An IPv4 or IPv6 address in network byte order. IPv4 uses the first 4 bytes.
struct IpAddress {
    Family family = Family::V4;
    std::array<uint8_t, 16> bytes{};

    [[nodiscard]] unsigned bits() const { return family == Family::V4 ? 32 : 128; }

    [[nodiscard]] bool is_v4() const { return family == Family::V4; }

    /// ::ffff:a.b.c.d becomes a.b.c.d; anything else is returned unchanged.
    [[nodiscard]] IpAddress unmapped() const;

    [[nodiscard]] bool bit(unsigned i) const { return ((bytes[i / 8] >> (7 - i % 8)) & 1U) != 0; }

    [[nodiscard]] std::string to_string() const;
    bool operator==(const IpAddress&) const = default;

    static std::optional<IpAddress> parse(std::string_view text);
    static IpAddress from_sockaddr(const sockaddr* sa);
    static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
};

/// A prefix such as 192.168.0.0/16. `parse` accepts host bits set only when asked to.
struct Cidr {
    IpAddress addr;
    unsigned len = 0;

    [[nodiscard]] bool contains(const IpAddress& a) const;
    [[nodiscard]] std::string to_string() const;
    bool operator==(const Cidr&) const = default;

    enum class Error : uint8_t { None, Syntax, HostBits };
    /// Strict parse (RFC 4632 §3.1 prefix notation); a bare address is not a CIDR.
    static std::optional<Cidr> parse(std::string_view text, Error* why = nullptr);
};

/// A listen or upstream address: "127.0.0.1:1053", "[::1]:1053".
struct Endpoint {
    IpAddress addr;
    uint16_t port = 0;

    [[nodiscard]] std::string to_string() const;
    bool operator==(const Endpoint&) const = default;
    /// Fills `out` and returns its length.
    unsigned to_sockaddr(sockaddr_storage& out) const;
    static std::optional<Endpoint> parse(std::string_view text);
};

/// What a per-source connection limit counts as one source (the DNS listeners'
/// tcp_max_connections_per_source, the API endpoint's [cluster.api] max_connections_per_source):
/// an IPv4 address, an IPv4-mapped IPv6 address as that IPv4 address, or the /64 of an IPv6
/// address (interface identifiers are 64 bits, RFC 4291 §2.5.1: one host may use any address of
/// its /64, so counting addresses would not bound it). Small, ordered, cheap to copy.
struct SourceKey {
    uint64_t hi = 0; ///< IPv6: the /64; IPv4: 0
    uint64_t lo = 0; ///< IPv4: 1 << 32 | the address; IPv6: 0
    auto operator<=>(const SourceKey&) const = default;
    /// "192.0.2.1" or "2001:db8:1:2::/64", for log lines.
    [[nodiscard]] std::string to_string() const;
};

/// The per-source key of `a` (see SourceKey): the one implementation every limit uses.
SourceKey source_key(const IpAddress& a);

} // namespace horizon::util
