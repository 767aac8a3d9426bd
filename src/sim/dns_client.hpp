// The sim's DNS client side: the query a node's stub resolver sends (optionally with an EDNS
// Client Subnet option, for --dns) and the A records read back from the answer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "util/address.hpp"

namespace horizon::sim {

/// An A query for `name` (presentation form) with RD=1. With `ecs`, an OPT record carrying
/// EDNS Client Subnet for that address as a /32 (/128) (RFC 7871 §6).
std::vector<uint8_t> build_query(const std::string& name, uint16_t id,
                                 const std::optional<util::IpAddress>& ecs);

struct ParsedAnswer {
    uint16_t id = 0;
    uint8_t rcode = 0;
    bool truncated = false;
    std::vector<util::IpAddress> a; ///< A records of the answer section, in order
    uint32_t ttl = 0;               ///< the smallest TTL among them
};

/// Reads an answer, bounds-checked; nullopt when it is not a well-formed DNS response.
std::optional<ParsedAnswer> parse_answer(std::span<const uint8_t> msg);

} // namespace horizon::sim
