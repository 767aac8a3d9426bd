// Messages to and from upstream resolvers, sans-I/O: our query for a client's question, and the
// RFC 5452 checks an upstream response must pass before it is believed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dns/wire.hpp"

namespace horizon::dns {

/// Writes our query for the question of `q` into `out` (512 bytes are always enough) and returns
/// its size: ID `id`, RD=1, CD copied, the name in lower case, and an OPT with `udp_payload` and
/// DO copied. Nothing else of the client's query travels: no ECS, cookie or NSID option.
size_t write_upstream_query(const Query& q, uint16_t id, uint16_t udp_payload,
                            std::span<uint8_t> out);

enum class Match : uint8_t {
    Ok,
    Short,         ///< the message ends before its header or its question does (cut short)
    NotAResponse,  ///< QR=0, or another opcode
    WrongId,       ///< RFC 5452 §9.1: not the ID we sent
    WrongQuestion, ///< RFC 5452 §9.1: not the question we asked (QDCOUNT, name, type, class)
};

/// Whether `response` answers our query `id` for the question of `q` (name compared
/// case-insensitively). The caller checks the source address and port (RFC 5452 §9.1).
Match match_response(std::span<const uint8_t> response, uint16_t id, const Query& q);

} // namespace horizon::dns
