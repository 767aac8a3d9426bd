// Builds the sim's DNS queries and reads A records back, without ldns (no allocation per field).
#include "sim/dns_client.hpp"

#include "dns/snapshot.hpp"
#include "dns/wire.hpp"

namespace horizon::sim {

std::vector<uint8_t> build_query(const std::string& name, uint16_t id,
                                 const std::optional<util::IpAddress>& ecs) {
    std::vector<uint8_t> q = {
        static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0,
        ecs ? uint8_t{1} : uint8_t{0}};
    const std::string wire = dns::to_wire_name(name);
    q.insert(q.end(), wire.begin(), wire.end());
    q.insert(q.end(), {0, 1, 0, 1}); // A IN
    if (ecs) {
        // RFC 6891 §6.1.2 OPT, RFC 7871 §6 ECS: FAMILY, SOURCE, SCOPE 0, the address bytes.
        const bool v4 = ecs->is_v4();
        const uint8_t bits = v4 ? 32 : 128;
        const uint8_t bytes = v4 ? 4 : 16;
        const uint16_t optlen = 4 + 4 + bytes;
        q.insert(q.end(), {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, static_cast<uint8_t>(optlen >> 8),
                           static_cast<uint8_t>(optlen), 0, 8, 0, static_cast<uint8_t>(4 + bytes),
                           0, static_cast<uint8_t>(v4 ? 1 : 2), bits, 0});
        q.insert(q.end(), ecs->bytes.begin(), ecs->bytes.begin() + bytes);
    }
    return q;
}

namespace {

/// Skips a (possibly compressed) name starting at `at`; false past the end.
bool skip_name(std::span<const uint8_t> msg, size_t& at) {
    while (at < msg.size()) {
        const uint8_t len = msg[at];
        if ((len & 0xC0) == 0xC0) { // RFC 1035 §4.1.4: a pointer ends the name
            at += 2;
            return at <= msg.size();
        }
        if ((len & 0xC0) != 0) {
            return false;
        }
        at += 1U + len;
        if (len == 0) {
            return at <= msg.size();
        }
    }
    return false;
}

uint16_t u16(std::span<const uint8_t> m, size_t at) {
    return static_cast<uint16_t>((m[at] << 8) | m[at + 1]);
}

} // namespace

std::optional<ParsedAnswer> parse_answer(std::span<const uint8_t> msg) {
    if (msg.size() < dns::kHeaderSize || (msg[2] & 0x80) == 0) {
        return std::nullopt;
    }
    ParsedAnswer out;
    out.id = u16(msg, 0);
    out.truncated = (msg[2] & 0x02) != 0;
    out.rcode = msg[3] & 0x0F;
    const uint16_t qd = u16(msg, 4);
    const uint16_t an = u16(msg, 6);
    size_t at = dns::kHeaderSize;
    for (uint16_t i = 0; i < qd; ++i) {
        if (!skip_name(msg, at) || at + 4 > msg.size()) {
            return std::nullopt;
        }
        at += 4;
    }
    bool first = true;
    for (uint16_t i = 0; i < an; ++i) {
        if (!skip_name(msg, at) || at + 10 > msg.size()) {
            return std::nullopt;
        }
        const uint16_t type = u16(msg, at);
        const uint16_t klass = u16(msg, at + 2);
        const uint32_t ttl = (static_cast<uint32_t>(u16(msg, at + 4)) << 16) | u16(msg, at + 6);
        const uint16_t rdlen = u16(msg, at + 8);
        at += 10;
        if (at + rdlen > msg.size()) {
            return std::nullopt;
        }
        if (type == dns::type::A && klass == dns::qclass::IN && rdlen == 4) {
            out.a.push_back(util::IpAddress::v4(msg[at], msg[at + 1], msg[at + 2], msg[at + 3]));
            out.ttl = first ? ttl : std::min(out.ttl, ttl);
            first = false;
        }
        at += rdlen;
    }
    return out;
}

} // namespace horizon::sim
