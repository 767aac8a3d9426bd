// Messages to and from upstream resolvers: our query, and the checks on the response.
#include "dns/upstream.hpp"

namespace horizon::dns {

size_t write_upstream_query(const Query& q, uint16_t id, uint16_t udp_payload,
                            std::span<uint8_t> out) {
    Writer w(out);
    w.header(id, static_cast<uint16_t>(flag::RD | (q.flags & flag::CD)), 1, 1); // RFC 4035 §3.2.2
    w.bytes(q.lower_name());
    w.u16(q.qtype);
    w.u16(q.qclass);
    // RFC 6891 §6.1.2: our payload size, version 0, DO copied, no option of the client's.
    OptRecord opt;
    opt.udp_payload = udp_payload;
    opt.do_bit = q.edns.do_bit;
    w.opt(opt);
    return w.overflow() ? 0 : w.size();
}

Match match_response(std::span<const uint8_t> response, uint16_t id, const Query& q) {
    const auto h = read_header(response);
    if (!h) {
        return Match::Short;
    }
    if ((h->flags & flag::QR) == 0 || (h->flags & flag::OpcodeMask) != 0) {
        return Match::NotAResponse;
    }
    if (h->id != id) {
        return Match::WrongId;
    }
    // The name must be exactly ours, uncompressed, up to ASCII case (RFC 4343).
    const auto name = q.lower_name();
    const size_t at = kHeaderSize + name.size();
    if (size_t end = kHeaderSize;
        h->qdcount >= 1 && (!skip_name(response, end) || end + 4 > response.size())) {
        return Match::Short; // the message ends inside its own question: it was cut
    }
    if (h->qdcount != 1 || !name_equals(response, kHeaderSize, name) || response.size() < at + 4 ||
        get16(response, at) != q.qtype || get16(response, at + 2) != q.qclass) {
        return Match::WrongQuestion;
    }
    return Match::Ok;
}

} // namespace horizon::dns
