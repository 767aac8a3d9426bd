// Messages to and from upstream resolvers: our query, and the checks on the response.
#include "dns/upstream.hpp"

namespace horizon::dns {

size_t write_upstream_query(const Query& q, uint16_t id, uint16_t udp_payload,
                            std::span<uint8_t> out) {
    Writer w(out);
    w.u16(id);
    w.u16(static_cast<uint16_t>(flag::RD | (q.flags & flag::CD))); // RFC 4035 §3.2.2: CD copied
    w.u16(1);
    w.u32(0);
    w.u16(1); // ARCOUNT: our OPT
    w.bytes(q.lower_name());
    w.u16(q.qtype);
    w.u16(q.qclass);
    w.u8(0); // OPT (RFC 6891 §6.1.2): root owner, our payload size, version 0, DO copied
    w.u16(type::OPT);
    w.u16(udp_payload);
    w.u32(q.edns.do_bit ? 0x8000 : 0);
    w.u16(0);
    return w.overflow() ? 0 : w.size();
}

Match match_response(std::span<const uint8_t> response, uint16_t id, const Query& q) {
    const auto p = response;
    if (p.size() < kHeaderSize) {
        return Match::NotAResponse;
    }
    const auto get16 = [&](size_t at) { return static_cast<uint16_t>((p[at] << 8) | p[at + 1]); };
    const uint16_t flags = get16(2);
    if ((flags & flag::QR) == 0 || (flags & flag::OpcodeMask) != 0) {
        return Match::NotAResponse;
    }
    if (get16(0) != id) {
        return Match::WrongId;
    }
    if (get16(4) != 1) {
        return Match::WrongQuestion;
    }
    // The name must be exactly ours, uncompressed, up to ASCII case (RFC 4343).
    const auto name = q.lower_name();
    if (p.size() < kHeaderSize + name.size() + 4) {
        return Match::WrongQuestion;
    }
    size_t at = kHeaderSize;
    for (size_t i = 0; i < name.size(); ++i, ++at) {
        uint8_t c = p[at];
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<uint8_t>(c + 32);
        }
        if (c != static_cast<uint8_t>(name[i])) {
            return Match::WrongQuestion;
        }
    }
    if (get16(at) != q.qtype || get16(at + 2) != q.qclass) {
        return Match::WrongQuestion;
    }
    return Match::Ok;
}

} // namespace horizon::dns
