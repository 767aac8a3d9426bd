// Bounds-checked reading of DNS messages (RFC 1035 §4.1, RFC 6891 §6) and the writer.
#include "dns/wire.hpp"

#include <algorithm>
#include <cstring>

namespace horizon::dns {

namespace {

/// RFC 7871 §6: FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH, ADDRESS truncated to the
/// source prefix. An unknown family, a prefix longer than the address, a wrong ADDRESS length or
/// bits set past the prefix are malformed (RFC 7871 §7.1.2: FORMERR).
bool parse_ecs(std::span<const uint8_t> o, Edns& e) {
    if (o.size() < 4 || e.ecs) {
        return false;
    }
    const uint16_t family = get16(o, 0);
    const uint8_t source = o[2];
    const unsigned bits = family == 1 ? 32 : family == 2 ? 128 : 0;
    const size_t bytes = (source + 7U) / 8U;
    if (bits == 0 || source > bits || o.size() - 4 != bytes) {
        return false;
    }
    e.ecs_addr = util::IpAddress{};
    e.ecs_addr.family = family == 1 ? util::Family::V4 : util::Family::V6;
    for (size_t i = 0; i < bytes; ++i) {
        e.ecs_addr.bytes[i] = o[4 + i];
    }
    for (unsigned i = source; i < bytes * 8; ++i) {
        if (e.ecs_addr.bit(i)) {
            return false;
        }
    }
    e.ecs = true;
    e.ecs_source = source;
    return true;
}

/// Parses an OPT RR's fixed part and options (RFC 6891 §6.1.2, §6.1.3).
bool parse_opt(std::span<const uint8_t> p, size_t at, uint16_t rdlen, Query& q) {
    q.edns.present = true;
    q.edns.udp_size = get16(p, at);          // CLASS = requestor's payload size
    q.edns.version = p[at + 3];              // TTL byte 2 = VERSION
    q.edns.do_bit = (p[at + 4] & 0x80) != 0; // TTL byte 3, top bit = DO
    size_t o = at + 8;                       // past CLASS, TTL, RDLENGTH
    const size_t end = o + rdlen;
    while (o < end) {
        if (o + 4 > end) {
            return false;
        }
        const uint16_t code = get16(p, o);
        const uint16_t len = get16(p, o + 2);
        if (o + 4 + len > end) { // RFC 6891 §7: a badly formatted option is FORMERR
            return false;
        }
        if (code == kOptionNsid) {
            q.edns.nsid = true; // RFC 5001 §2.3: the request carries an empty option
        } else if (code == kOptionEcs && !parse_ecs(p.subspan(o + 4, len), q.edns)) {
            return false;
        }
        o += 4U + len; // RFC 6891 §6.1.2: unknown options are ignored
    }
    return true;
}

} // namespace

std::optional<Header> read_header(std::span<const uint8_t> p) {
    if (p.size() < kHeaderSize) {
        return std::nullopt;
    }
    return Header{get16(p, 0), get16(p, 2), get16(p, 4), get16(p, 6), get16(p, 8), get16(p, 10)};
}

bool skip_name(std::span<const uint8_t> p, size_t& pos, bool& is_root) {
    size_t len = 0;
    is_root = true;
    while (pos < p.size()) {
        const uint8_t l = p[pos];
        if (l == 0) {
            ++pos;
            return true;
        }
        is_root = false;
        if ((l & 0xC0) == 0xC0) { // pointer: two bytes, end of this name
            if (pos + 2 > p.size()) {
                return false;
            }
            pos += 2;
            return true;
        }
        if ((l & 0xC0) != 0) { // RFC 6891 §5: extended label types are gone; reject
            return false;
        }
        len += l + 1U;
        if (len + 1 > kMaxNameLen) {
            return false;
        }
        pos += l + 1U;
    }
    return false;
}

bool skip_name(std::span<const uint8_t> p, size_t& pos) {
    bool root = false;
    return skip_name(p, pos, root);
}

bool read_name(std::span<const uint8_t> p, size_t& pos, std::string& out) {
    out.clear();
    size_t at = pos;
    bool jumped = false;
    while (at < p.size()) {
        const uint8_t l = p[at];
        if (l == 0) {
            out.push_back('\0');
            if (!jumped) {
                pos = at + 1;
            }
            return out.size() <= kMaxNameLen;
        }
        if ((l & 0xC0) == 0xC0) {
            if (at + 2 > p.size()) {
                return false;
            }
            const size_t to = (size_t{l & 0x3FU} << 8) | p[at + 1];
            if (to >= at) {
                return false; // forward or self pointer: a loop or garbage
            }
            if (!jumped) {
                pos = at + 2;
                jumped = true;
            }
            at = to;
            continue;
        }
        if ((l & 0xC0) != 0 || at + 1 + l > p.size() || out.size() + l + 2 > kMaxNameLen) {
            return false;
        }
        out.push_back(static_cast<char>(l));
        for (size_t i = 1; i <= l; ++i) {
            out.push_back(static_cast<char>(ascii_lower(p[at + i])));
        }
        at += l + 1U;
    }
    return false;
}

bool name_equals(std::span<const uint8_t> p, size_t at, std::string_view lower_wire) {
    if (at > p.size() || p.size() - at < lower_wire.size()) {
        return false;
    }
    for (size_t i = 0; i < lower_wire.size(); ++i) {
        if (ascii_lower(p[at + i]) != static_cast<uint8_t>(lower_wire[i])) {
            return false;
        }
    }
    return true;
}

std::string_view to_string(Rcode r) {
    switch (r) {
    case Rcode::NoError:
        return "NOERROR";
    case Rcode::FormErr:
        return "FORMERR";
    case Rcode::ServFail:
        return "SERVFAIL";
    case Rcode::NxDomain:
        return "NXDOMAIN";
    case Rcode::NotImp:
        return "NOTIMP";
    case Rcode::Refused:
        return "REFUSED";
    case Rcode::BadVers:
        return "BADVERS";
    }
    return "RCODE?";
}

std::string type_to_string(uint16_t qtype) {
    switch (qtype) {
    case type::A:
        return "A";
    case type::NS:
        return "NS";
    case type::SOA:
        return "SOA";
    case type::TXT:
        return "TXT";
    case type::AAAA:
        return "AAAA";
    case type::OPT:
        return "OPT";
    case type::IXFR:
        return "IXFR";
    case type::AXFR:
        return "AXFR";
    case type::ANY:
        return "ANY";
    default:
        return "TYPE" + std::to_string(qtype); // RFC 3597 §5
    }
}

namespace {

/// The question and the other sections of a message whose header parse_query accepted.
ParseStatus parse_sections(std::span<const uint8_t> p, Query& q);

} // namespace

ParseStatus parse_query(std::span<const uint8_t> p, Query& q) {
    // RFC 1035 §4.1.1: a message shorter than its header is not DNS; say nothing.
    if (p.size() < kHeaderSize) {
        return ParseStatus::Drop;
    }
    q.id = get16(p, 0);
    q.flags = get16(p, 2);
    q.edns = Edns{};
    q.edns_error = false;
    // A response (QR=1) is never answered: answering could start a loop between two servers.
    if ((q.flags & flag::QR) != 0) {
        return ParseStatus::Drop;
    }
    const ParseStatus st = parse_sections(p, q);
    // RFC 1035 §4.1.1, RFC 8906 §3.1.4: only QUERY (opcode 0) is implemented. The sections are
    // parsed first so that the NOTIMP carries an OPT when the query had a valid one (RFC 6891
    // §6.1.1: a responder uses EDNS in its answer to a request that used it; RFC 8906 §3.2).
    if ((q.flags & flag::OpcodeMask) != 0) {
        if (st != ParseStatus::Ok) {
            q.edns = Edns{}; // no OPT we could trust
            q.edns_error = false;
        }
        return ParseStatus::NotImp;
    }
    return st;
}

namespace {

ParseStatus parse_sections(std::span<const uint8_t> p, Query& q) {
    const uint16_t qdcount = get16(p, 4);
    const uint16_t ancount = get16(p, 6);
    const uint16_t nscount = get16(p, 8);
    const uint16_t arcount = get16(p, 10);
    // RFC 9619: a QUERY carries exactly one question.
    if (qdcount != 1) {
        return ParseStatus::FormErrHeader;
    }

    // The question name. It is the first name in the message, so a compression pointer can only
    // point backwards into the header or at itself: both are malformed (RFC 1035 §4.1.4).
    size_t pos = kHeaderSize;
    size_t n = 0;
    q.label_count = 0;
    for (;;) {
        if (pos >= p.size()) {
            return ParseStatus::FormErrHeader;
        }
        const uint8_t l = p[pos];
        if ((l & 0xC0) != 0) { // pointer or reserved label type
            return ParseStatus::FormErrHeader;
        }
        if (n + l + 1 > kMaxNameLen || pos + l + 1 > p.size()) {
            return ParseStatus::FormErrHeader;
        }
        q.lower[n] = l;
        if (l == 0) {
            ++n;
            ++pos;
            break;
        }
        q.labels[q.label_count++] = static_cast<uint8_t>(n);
        for (size_t i = 1; i <= l; ++i) {
            const uint8_t c = p[pos + i];
            q.lower[n + i] = ascii_lower(c);
        }
        n += l + 1U;
        pos += l + 1U;
    }
    q.name_len = n;
    if (pos + 4 > p.size()) {
        return ParseStatus::FormErrHeader;
    }
    q.qtype = get16(p, pos);
    q.qclass = get16(p, pos + 2);
    pos += 4;
    q.question_end = pos;

    // The other sections: only OPT matters to us, but every record must be well formed.
    const unsigned total = unsigned{ancount} + nscount + arcount;
    unsigned opt_count = 0;
    for (unsigned i = 0; i < total; ++i) {
        bool root = false;
        if (!skip_name(p, pos, root) || pos + 10 > p.size()) {
            return ParseStatus::FormErrQuestion;
        }
        const uint16_t rtype = get16(p, pos);
        const uint16_t rdlen = get16(p, pos + 8);
        if (pos + 10 + rdlen > p.size()) {
            return ParseStatus::FormErrQuestion;
        }
        if (rtype == type::OPT) {
            // RFC 6891 §6.1.1: OPT only in the additional section, owner is the root, at most one.
            const bool in_additional = i >= unsigned{ancount} + nscount;
            if (!in_additional || !root || ++opt_count > 1 || !parse_opt(p, pos + 2, rdlen, q)) {
                q.edns_error = true;
                return ParseStatus::FormErrQuestion;
            }
        }
        pos += 10U + rdlen;
    }
    // Trailing bytes after the last record are ignored, as most servers do.
    return ParseStatus::Ok;
}

} // namespace

std::string name_to_text(std::string_view wire) {
    std::string out;
    size_t i = 0;
    while (i < wire.size() && wire[i] != 0) {
        const auto l = static_cast<uint8_t>(wire[i]);
        for (size_t k = 1; k <= l && i + k < wire.size(); ++k) {
            const auto c = static_cast<unsigned char>(wire[i + k]);
            if (c == '.' || c == '\\') {
                out += '\\';
                out += static_cast<char>(c);
            } else if (c < 0x21 || c > 0x7e) { // RFC 4343 §2.1 \DDD
                char buf[5];
                buf[0] = '\\';
                buf[1] = static_cast<char>('0' + c / 100);
                buf[2] = static_cast<char>('0' + c / 10 % 10);
                buf[3] = static_cast<char>('0' + c % 10);
                buf[4] = 0;
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
        out += '.';
        i += l + 1U;
    }
    return out.empty() ? "." : out;
}

size_t OptRecord::size() const {
    size_t n = 11;
    n += nsid.empty() ? 0 : 4 + nsid.size();
    n += ecs ? 8 + (ecs_source + 7U) / 8U : 0;
    n += ede ? 6 + std::min(ede_text.size(), kMaxEdeText) : 0;
    return n;
}

void Writer::opt(const OptRecord& o) {
    u8(0); // root owner
    u16(type::OPT);
    u16(o.udp_payload);
    u8(static_cast<uint8_t>(static_cast<uint16_t>(o.rcode) >> 4));
    u8(0); // VERSION 0
    u16(o.do_bit ? 0x8000 : 0);
    u16(static_cast<uint16_t>(o.size() - 11));
    if (!o.nsid.empty()) {
        u16(kOptionNsid);
        u16(static_cast<uint16_t>(o.nsid.size()));
        bytes(o.nsid);
    }
    if (o.ecs) { // FAMILY, SOURCE and ADDRESS truncated to SOURCE bits (RFC 7871 §6)
        const size_t n = (o.ecs_source + 7U) / 8U;
        u16(kOptionEcs);
        u16(static_cast<uint16_t>(4 + n));
        u16(o.ecs_addr.is_v4() ? 1 : 2);
        u8(o.ecs_source);
        u8(o.ecs_scope);
        bytes(std::span<const uint8_t>(o.ecs_addr.bytes.data(), n));
    }
    if (o.ede) {
        const std::string_view text = o.ede_text.substr(0, OptRecord::kMaxEdeText);
        u16(kOptionEde);
        u16(static_cast<uint16_t>(2 + text.size()));
        u16(*o.ede);
        bytes(text); // EXTRA-TEXT, UTF-8, not NUL-terminated (RFC 8914 §2)
    }
}

void Writer::truncate(size_t question_end, const OptRecord* opt) {
    rewind(question_end);
    if (opt != nullptr) {
        this->opt(*opt);
    }
    if (question_end >= kHeaderSize && buf_.size() >= kHeaderSize) {
        put_u16_at(2, static_cast<uint16_t>(((buf_[2] << 8) | buf_[3]) | flag::TC));
        put_u16_at(6, 0);
        put_u16_at(8, 0);
        put_u16_at(10, opt != nullptr ? 1 : 0);
    }
}

void Writer::bytes(std::span<const uint8_t> b) {
    if (room(b.size()) && !b.empty()) {
        std::memcpy(buf_.data() + pos_, b.data(), b.size());
        pos_ += b.size();
    }
}

} // namespace horizon::dns
