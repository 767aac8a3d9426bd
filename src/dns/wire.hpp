// DNS wire format, the one module for it: header fields, names (skip, read, compare), the query
// parse, OPT/ECS/EDE readers and writers, truncation. No allocation on the query path; ldns is
// used only when snapshots are built.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "util/address.hpp"

namespace horizon::dns {

namespace type {
constexpr uint16_t A = 1;
constexpr uint16_t NS = 2;
constexpr uint16_t CNAME = 5;
constexpr uint16_t SOA = 6;
constexpr uint16_t TXT = 16;
constexpr uint16_t AAAA = 28;
constexpr uint16_t DNAME = 39;
constexpr uint16_t OPT = 41;
constexpr uint16_t DS = 43;
constexpr uint16_t RRSIG = 46;
constexpr uint16_t NSEC = 47;
constexpr uint16_t IXFR = 251;
constexpr uint16_t AXFR = 252;
constexpr uint16_t MAILB = 253;
constexpr uint16_t MAILA = 254;
constexpr uint16_t ANY = 255;
} // namespace type

namespace qclass {
constexpr uint16_t IN = 1;
constexpr uint16_t CH = 3;
} // namespace qclass

enum class Rcode : uint16_t {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    BadVers = 16, // RFC 6891 §9: extended, upper 8 bits go in the OPT TTL
};

std::string_view to_string(Rcode r);
std::string type_to_string(uint16_t qtype);

// RFC 1035 §4.1.1 header flag bits (in the 16-bit flags word).
namespace flag {
constexpr uint16_t QR = 0x8000;
constexpr uint16_t AA = 0x0400;
constexpr uint16_t TC = 0x0200;
constexpr uint16_t RD = 0x0100;
constexpr uint16_t RA = 0x0080;
constexpr uint16_t AD = 0x0020;
constexpr uint16_t CD = 0x0010;
constexpr uint16_t OpcodeMask = 0x7800;
} // namespace flag

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameLen = 255; // RFC 1035 §2.3.4
constexpr uint16_t kOptionNsid = 3; // RFC 5001
constexpr uint16_t kOptionEcs = 8;  // RFC 7871
constexpr uint16_t kOptionEde = 15; // RFC 8914 §2

/// Big-endian fields. The caller has checked the bounds (every reader below does).
inline uint16_t get16(std::span<const uint8_t> p, size_t at) {
    return static_cast<uint16_t>((p[at] << 8) | p[at + 1]);
}

inline uint32_t get32(std::span<const uint8_t> p, size_t at) {
    return (uint32_t{get16(p, at)} << 16) | get16(p, at + 2);
}

inline void put16(std::span<uint8_t> p, size_t at, uint16_t v) {
    p[at] = static_cast<uint8_t>(v >> 8);
    p[at + 1] = static_cast<uint8_t>(v);
}

inline void put32(std::span<uint8_t> p, size_t at, uint32_t v) {
    put16(p, at, static_cast<uint16_t>(v >> 16));
    put16(p, at + 2, static_cast<uint16_t>(v));
}

inline uint8_t ascii_lower(uint8_t c) {
    return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c; // RFC 4343 §3
}

/// RFC 1035 §4.1.1 header, read from a message of at least kHeaderSize bytes.
struct Header {
    uint16_t id = 0;
    uint16_t flags = 0;
    uint16_t qdcount = 0;
    uint16_t ancount = 0;
    uint16_t nscount = 0;
    uint16_t arcount = 0;

    [[nodiscard]] unsigned records() const { return unsigned{ancount} + nscount + arcount; }

    [[nodiscard]] Rcode rcode() const { return static_cast<Rcode>(flags & 0xF); }
};

/// The header of `p`; nullopt when `p` is shorter than one.
std::optional<Header> read_header(std::span<const uint8_t> p);

/// Skips a possibly compressed name at `pos`. A pointer ends the name in place (RFC 1035
/// §4.1.4), so skipping never follows one and cannot loop. False if the name runs off the
/// message, is longer than 255 bytes or uses a reserved label type (RFC 6891 §5).
bool skip_name(std::span<const uint8_t> p, size_t& pos);
/// The same, telling whether the name is the root (an OPT owner must be, RFC 6891 §6.1.2).
bool skip_name(std::span<const uint8_t> p, size_t& pos, bool& is_root);

/// Reads a possibly compressed name at `pos` into `out` (lower-case wire, uncompressed) and
/// moves `pos` past it in place. Pointers must point backwards (RFC 1035 §4.1.4), so this ends.
bool read_name(std::span<const uint8_t> p, size_t& pos, std::string& out);

/// Whether the uncompressed name at `at` is `lower_wire` up to ASCII case (RFC 4343).
bool name_equals(std::span<const uint8_t> p, size_t at, std::string_view lower_wire);

struct Edns {
    bool present = false;
    uint16_t udp_size = 0;
    uint8_t version = 0;
    bool do_bit = false;      // RFC 3225
    bool nsid = false;        // RFC 5001: the client asked for our NSID
    bool ecs = false;         // RFC 7871: an EDNS Client Subnet option was sent
    uint8_t ecs_source = 0;   ///< SOURCE PREFIX-LENGTH
    util::IpAddress ecs_addr; ///< ADDRESS, zero-padded
};

/// What the hot path needs from a query. `lower` is the question name in wire format, lower-cased;
/// `labels[i]` is the offset of label i within it (the root label is not counted).
struct Query {
    uint16_t id = 0;
    uint16_t flags = 0;
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    size_t question_end = 0; ///< offset just past QTYPE/QCLASS; [12, question_end) is echoed
    size_t name_len = 0;     ///< wire length of the question name, root label included
    uint8_t label_count = 0;
    std::array<uint8_t, 128> labels{};
    std::array<uint8_t, kMaxNameLen> lower{};
    Edns edns;
    bool edns_error = false; ///< the FORMERR came from the OPT record: answer with an OPT

    [[nodiscard]] std::string_view lower_name() const {
        return {reinterpret_cast<const char*>(lower.data()), name_len};
    }

    /// The wire-format suffix starting at label `i` (lower-cased).
    [[nodiscard]] std::string_view lower_suffix(unsigned i) const {
        return lower_name().substr(labels[i]);
    }
};

enum class ParseStatus : uint8_t {
    Ok,
    Drop,            ///< not a query we may answer at all (too short, QR=1)
    NotImp,          ///< opcode other than QUERY; only the header is valid
    FormErrHeader,   ///< QDCOUNT != 1 or no parsable question: answer without a question
    FormErrQuestion, ///< the question parsed, the rest did not: echo the question
};

/// Parses `pkt` into `q`. Never reads outside `pkt`.
ParseStatus parse_query(std::span<const uint8_t> pkt, Query& q);

/// "www.example.com." from an uncompressed wire name (for logs; never on the answer path).
std::string name_to_text(std::string_view wire);

/// Where the bytes of an OPT record we write come from (RFC 6891 §6.1.2). Options appear in
/// this order: NSID, ECS, EDE.
struct OptRecord {
    uint16_t udp_payload = 1232;
    Rcode rcode = Rcode::NoError; ///< its upper 8 bits go in the TTL (RFC 6891 §6.1.3)
    bool do_bit = false;          ///< RFC 3225 §3: copied from the query
    std::string_view nsid;        ///< RFC 5001 §2.3: our identity when asked for; "" = none
    bool ecs = false;             ///< RFC 7871 §6: FAMILY SOURCE SCOPE ADDRESS
    util::IpAddress ecs_addr;
    uint8_t ecs_source = 0;
    uint8_t ecs_scope = 0;
    std::optional<uint16_t> ede; ///< RFC 8914 §2 INFO-CODE
    std::string_view ede_text;   ///< EXTRA-TEXT (at most kMaxEdeText bytes are written)

    static constexpr size_t kMaxEdeText = 300;

    /// Its wire size.
    [[nodiscard]] size_t size() const;
};

/// Appends to a fixed buffer; remembers overflow instead of failing on each call.
class Writer {
public:
    explicit Writer(std::span<uint8_t> buf)
        : buf_(buf) {}

    void u8(uint8_t v) {
        if (room(1)) {
            buf_[pos_++] = v;
        }
    }

    void u16(uint16_t v) {
        if (room(2)) {
            buf_[pos_++] = static_cast<uint8_t>(v >> 8);
            buf_[pos_++] = static_cast<uint8_t>(v);
        }
    }

    void u32(uint32_t v) {
        u16(static_cast<uint16_t>(v >> 16));
        u16(static_cast<uint16_t>(v));
    }

    void bytes(std::span<const uint8_t> b);

    void bytes(std::string_view s) {
        bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    }

    void put_u16_at(size_t at, uint16_t v) {
        buf_[at] = static_cast<uint8_t>(v >> 8);
        buf_[at + 1] = static_cast<uint8_t>(v);
    }

    /// An OPT record (root owner).
    void opt(const OptRecord& o);

    /// A header with ANCOUNT and NSCOUNT 0 (patched later with put_u16_at when records follow).
    void header(uint16_t id, uint16_t flags, uint16_t qdcount, uint16_t arcount) {
        u16(id);
        u16(flags);
        u16(qdcount);
        u32(0);
        u16(arcount);
    }

    /// Cuts a message written from the start of the buffer back to its header and question
    /// (which end at `question_end`), then our OPT if any, with TC=1 (RFC 1035 §4.2.1, RFC 2181
    /// §9, RFC 6891 §7). Counts are patched.
    void truncate(size_t question_end, const OptRecord* opt);

    [[nodiscard]] size_t size() const { return pos_; }

    [[nodiscard]] bool overflow() const { return overflow_; }

    void rewind(size_t to) {
        pos_ = to;
        overflow_ = false;
    }

private:
    bool room(size_t n) {
        if (pos_ + n > buf_.size()) {
            overflow_ = true;
            return false;
        }
        return true;
    }

    std::span<uint8_t> buf_;
    size_t pos_ = 0;
    bool overflow_ = false;
};

} // namespace horizon::dns
