// Builds the sim's DNS queries and reads A records back, without ldns (no allocation per field).
#include "sim/dns_client.hpp"

#include "dns/snapshot.hpp"
#include "dns/wire.hpp"

namespace horizon::sim {

std::vector<uint8_t> build_query(const std::string& name, uint16_t id,
                                 const std::optional<util::IpAddress>& ecs) {
    std::vector<uint8_t> q(dns::kHeaderSize + dns::kMaxNameLen + 4 + 64);
    dns::Writer w(q);
    w.header(id, dns::flag::RD, 1, ecs ? 1 : 0);
    w.bytes(dns::to_wire_name(name));
    w.u16(dns::type::A);
    w.u16(dns::qclass::IN);
    if (ecs) {
        // RFC 6891 §6.1.2 OPT, RFC 7871 §6 ECS: FAMILY, SOURCE /32 (/128), SCOPE 0, the address.
        dns::OptRecord opt;
        opt.udp_payload = 1232;
        opt.ecs = true;
        opt.ecs_addr = *ecs;
        opt.ecs_source = ecs->is_v4() ? 32 : 128;
        w.opt(opt);
    }
    q.resize(w.size());
    return q;
}

std::optional<ParsedAnswer> parse_answer(std::span<const uint8_t> msg) {
    const auto h = dns::read_header(msg);
    if (!h || (h->flags & dns::flag::QR) == 0) {
        return std::nullopt;
    }
    ParsedAnswer out;
    out.id = h->id;
    out.truncated = (h->flags & dns::flag::TC) != 0;
    out.rcode = static_cast<uint8_t>(h->flags & 0x0F);
    size_t at = dns::kHeaderSize;
    for (uint16_t i = 0; i < h->qdcount; ++i) {
        if (!dns::skip_name(msg, at) || at + 4 > msg.size()) {
            return std::nullopt;
        }
        at += 4;
    }
    bool first = true;
    for (uint16_t i = 0; i < h->ancount; ++i) {
        if (!dns::skip_name(msg, at) || at + 10 > msg.size()) {
            return std::nullopt;
        }
        const uint16_t type = dns::get16(msg, at);
        const uint16_t klass = dns::get16(msg, at + 2);
        const uint32_t ttl = dns::get32(msg, at + 4);
        const uint16_t rdlen = dns::get16(msg, at + 8);
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
