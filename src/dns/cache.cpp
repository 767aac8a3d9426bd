// The forwarder's answer cache: normalizing upstream answers, writing them for each client, and
// the LRU map. Every read of an upstream message is bounds-checked: it is untrusted data.
#include "dns/cache.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace horizon::dns {

namespace {

constexpr uint16_t kTypeTsig = 250;      // RFC 8945: must be last; never ours to pass on
constexpr uint32_t kMaxTtl = 0x7FFFFFFF; // RFC 2181 §8

uint32_t clamp_ttl(uint32_t ttl, const TtlPolicy& policy) {
    if (ttl > kMaxTtl) {
        ttl = 0; // RFC 2181 §8: a TTL with the top bit set is treated as zero
    }
    return std::clamp(ttl, policy.min_ttl, std::max(policy.min_ttl, policy.max_ttl));
}

/// Our OPT (RFC 6891 §6.1.2): payload size, DO copied (RFC 3225 §3), NSID when asked (RFC 5001),
/// and an Extended DNS Error when given (RFC 8914).
OptRecord our_opt(const Asker& asker, const AnswerOptions& options, Rcode rcode,
                  std::optional<uint16_t> ede_code = std::nullopt, std::string_view ede_text = {}) {
    OptRecord o;
    o.udp_payload = options.udp_payload;
    o.rcode = rcode;
    o.do_bit = asker.edns.do_bit;
    if (asker.edns.nsid) {
        o.nsid = options.identity;
    }
    o.ede = ede_code;
    o.ede_text = ede_text;
    return o;
}

uint16_t answer_flags(const Asker& asker, Rcode rcode, const AnswerOptions& options) {
    return static_cast<uint16_t>(flag::QR | (options.ra ? flag::RA : 0) |
                                 (asker.flags & (flag::OpcodeMask | flag::RD | flag::CD)) |
                                 (static_cast<uint16_t>(rcode) & 0xF));
}

/// The question and OPT alone with TC=1 (RFC 1035 §4.2.1, RFC 6891 §7).
Written write_truncated(const Asker& asker, Rcode rcode, const AnswerOptions& options,
                        std::span<uint8_t> out) {
    Writer w(out);
    w.header(asker.id, answer_flags(asker, rcode, options), 1, 0);
    w.bytes(asker.question);
    const OptRecord opt = our_opt(asker, options, rcode);
    w.truncate(w.size(), asker.edns.present ? &opt : nullptr);
    return {w.overflow() ? 0 : w.size(), true};
}

/// How many names an RDATA of `type` starts with, that a sender may have compressed: the
/// RFC 1035 types (RFC 3597 §4); `skip` bytes come first (MX preference). SOA: two names.
unsigned rdata_names(uint16_t type, size_t& skip) {
    skip = 0;
    switch (type) {
    case type::NS:
    case type::CNAME:
    case 3:  // MD
    case 4:  // MF
    case 7:  // MB
    case 8:  // MG
    case 9:  // MR
    case 12: // PTR
        return 1;
    case 14: // MINFO
    case type::SOA:
        return 2;
    case 15: // MX
        skip = 2;
        return 1;
    default:
        return 0;
    }
}

/// Where the one name an additional-section-processing record asks addresses for starts in its
/// RDATA: NS (RFC 1035 §3.3.11), MX (§3.3.9), SRV (RFC 2782), SVCB/HTTPS (RFC 9460 §4.2).
/// False for any other type.
bool names_a_host(uint16_t type, size_t& skip) {
    switch (type) {
    case type::NS:
        skip = 0;
        return true;
    case 15: // MX: PREFERENCE
    case 64: // SVCB: SvcPriority
    case 65: // HTTPS
        skip = 2;
        return true;
    case 33: // SRV: priority, weight, port
        skip = 6;
        return true;
    default:
        return false;
    }
}

/// Whether lower-case wire `name` is `zone` or below it (at a label boundary).
bool in_bailiwick(std::string_view name, std::string_view zone) {
    size_t at = 0;
    while (at < name.size()) {
        if (name.substr(at) == zone) {
            return true;
        }
        if (name[at] == 0) {
            break;
        }
        at += static_cast<uint8_t>(name[at]) + 1U;
    }
    return false;
}

struct UpstreamRecord {
    std::string owner; ///< lower-case wire, uncompressed
    uint16_t type = 0;
    size_t fixed = 0; ///< offset of TYPE CLASS TTL (RDLENGTH follows)
    size_t rdata = 0;
    uint16_t rdlen = 0;
    bool answer = false;
};

/// The scrubber of normalize(): rewrites `p` into `out` without the upstream's records for our
/// names (cutting the CNAME chain at the first name of ours) and without the additional records
/// a client has no reason to believe (see normalize()). False when nothing is to be removed (or
/// the message does not parse: the plain path rejects it).
bool scrub(std::span<const uint8_t> p, const OursFn& ours_fn, std::string_view bailiwick,
           std::vector<uint8_t>& out, std::string& cut) {
    const auto ours = [&ours_fn](std::string_view name) { return ours_fn && ours_fn(name); };
    if (p.size() < kHeaderSize || get16(p, 4) != 1) {
        return false;
    }
    const uint16_t flags = get16(p, 2);
    const uint16_t an = get16(p, 6);
    const unsigned total = unsigned{an} + get16(p, 8) + get16(p, 10);
    size_t pos = kHeaderSize;
    std::string qname;
    if (!read_name(p, pos, qname) || pos + 4 > p.size()) {
        return false;
    }
    const uint16_t qtype = get16(p, pos);
    const uint16_t qclass = get16(p, pos + 2);
    pos += 4;
    std::vector<UpstreamRecord> records;
    for (unsigned i = 0; i < total; ++i) {
        UpstreamRecord r;
        if (!read_name(p, pos, r.owner) || pos + 10 > p.size()) {
            return false;
        }
        r.type = get16(p, pos);
        r.fixed = pos;
        r.rdlen = get16(p, pos + 8);
        r.rdata = pos + 10;
        r.answer = i < an;
        if (r.rdata + r.rdlen > p.size()) {
            return false;
        }
        pos = r.rdata + r.rdlen;
        if (r.type == type::OPT || r.type == kTypeTsig) {
            if (r.type == type::OPT && p[r.fixed + 4] != 0) {
                return false; // an extended RCODE: never passed on (the forwarder refuses it)
            }
            break; // it and what follows are dropped anyway
        }
        records.push_back(std::move(r));
    }
    // RFC 1034 §3.6.2, §4.3.2: follow the chain from the question through the answer section.
    std::vector<std::string> chain{qname};
    if (qtype != type::CNAME && qtype != type::ANY) {
        for (size_t hop = 0; hop < records.size(); ++hop) {
            const auto it = std::find_if(records.begin(), records.end(), [&](const auto& r) {
                return r.answer && r.type == type::CNAME && r.owner == chain.back();
            });
            std::string target;
            size_t at = it == records.end() ? 0 : it->rdata;
            if (it == records.end() || !read_name(p, at, target) ||
                std::find(chain.begin(), chain.end(), target) != chain.end()) {
                break;
            }
            if (ours(target)) {
                cut = std::move(target);
                break;
            }
            chain.push_back(std::move(target));
        }
    }
    // Additional-section processing (RFC 1035 §3.3.9, §3.3.11, §4.3.2 step 6; RFC 2782;
    // RFC 9460 §4.2): the only additional records a client may use are addresses of the hosts
    // the answer and authority sections name, inside the zone we forwarded to (Unbound's
    // scrubber, scrub_sanitize). Anything else is what a poisoner rides on (RFC 5452 §6, RFC
    // 2181 §5.4.1: additional data is the least trusted), so it is neither passed on nor cached.
    const size_t before_additional = unsigned{an} + get16(p, 8);
    std::vector<std::string> hosts;
    std::string host;
    for (size_t i = 0; i < records.size() && i < before_additional; ++i) {
        size_t skip = 0;
        size_t at = records[i].rdata;
        if (names_a_host(records[i].type, skip) && skip < records[i].rdlen) {
            at += skip;
            if (read_name(p, at, host) && host.size() > 1) {
                hosts.push_back(host);
            }
        }
    }
    const auto believable = [&](size_t i) {
        const UpstreamRecord& r = records[i];
        if (i < before_additional) {
            return true;
        }
        return (r.type == type::A || r.type == type::AAAA || r.type == type::RRSIG) &&
               std::find(hosts.begin(), hosts.end(), r.owner) != hosts.end() &&
               in_bailiwick(r.owner, bailiwick);
    };
    const auto keep = [&](size_t i) {
        const UpstreamRecord& r = records[i];
        if (!cut.empty()) { // the chain before the cut, nothing about what lies after it
            return r.answer && std::find(chain.begin(), chain.end(), r.owner) != chain.end();
        }
        return (r.owner == qname || !ours(r.owner)) && believable(i);
    };
    bool all_kept = cut.empty();
    for (size_t i = 0; i < records.size() && all_kept; ++i) {
        all_kept = keep(i);
    }
    if (all_kept) {
        return false;
    }
    Writer w(std::span<uint8_t>(out.data(), out.size()));
    w.u16(get16(p, 0));
    // After a cut the RCODE is ours to decide (RFC 6604 §3: the last name's).
    w.u16(cut.empty() ? flags : static_cast<uint16_t>(flags & ~0xFU));
    w.u16(1);
    const size_t counts = w.size();
    w.u32(0);
    w.u16(0);
    w.bytes(qname);
    w.u16(qtype);
    w.u16(qclass);
    std::array<uint16_t, 3> count{};
    std::string name;
    for (size_t i = 0; i < records.size(); ++i) {
        const UpstreamRecord& r = records[i];
        if (!keep(i)) {
            continue;
        }
        const size_t section = r.answer ? 0 : i < unsigned{an} + get16(p, 8) ? 1 : 2;
        ++count[section];
        w.bytes(r.owner);
        w.bytes(p.subspan(r.fixed, 8)); // TYPE CLASS TTL
        const size_t rdlen_at = w.size();
        w.u16(r.rdlen);
        size_t skip = 0;
        unsigned names = rdata_names(r.type, skip);
        size_t at = r.rdata;
        if (names > 0 && skip <= r.rdlen) {
            w.bytes(p.subspan(at, skip));
            at += skip;
            for (; names > 0; --names) {
                if (!read_name(p, at, name) || at > r.rdata + r.rdlen) {
                    return false;
                }
                w.bytes(name);
            }
        }
        w.bytes(p.subspan(at, r.rdata + r.rdlen - at));
        if (w.size() - rdlen_at - 2 > 0xFFFF || w.overflow()) {
            return false;
        }
        w.put_u16_at(rdlen_at, static_cast<uint16_t>(w.size() - rdlen_at - 2));
    }
    if (w.overflow()) {
        return false;
    }
    for (size_t s = 0; s < 3; ++s) {
        w.put_u16_at(counts + 2 * s, count[s]);
    }
    out.resize(w.size());
    return true;
}

} // namespace

namespace {

std::optional<CachedAnswer> normalize_plain(std::span<const uint8_t> response,
                                            const TtlPolicy& policy);

} // namespace

std::optional<CachedAnswer> normalize(std::span<const uint8_t> response, const TtlPolicy& policy,
                                      const OursFn& ours, std::string_view bailiwick) {
    {
        // Upstream data about our names never reaches a client: it could carry private IPs to
        // an outside source, or an upstream's addresses to an inside one (docs/horizond.md,
        // Forwarding). Nor do additional records it had no business sending.
        std::vector<uint8_t> rewritten(65535);
        std::string cut;
        if (scrub(response, ours, bailiwick, rewritten, cut)) {
            auto a = normalize_plain(rewritten, policy);
            if (a && !cut.empty()) {
                // Not negative: the rest of the answer is ours. It lives as its records do.
                a->negative = false;
                uint32_t lifetime = a->ttl_offsets.empty() ? 0 : kMaxTtl;
                for (const uint16_t at : a->ttl_offsets) {
                    lifetime = std::min(lifetime, get32(a->message, at));
                }
                const uint16_t flags = get16(a->message, 2);
                a->ttl = (flags & flag::TC) == 0 && a->rcode == Rcode::NoError ? lifetime : 0;
                a->cut = std::move(cut);
            }
            return a;
        }
    }
    return normalize_plain(response, policy);
}

namespace {

std::optional<CachedAnswer> normalize_plain(std::span<const uint8_t> response,
                                            const TtlPolicy& policy) {
    const std::span<const uint8_t> p = response;
    if (p.size() < kHeaderSize || p.size() > 65535) {
        return std::nullopt;
    }
    const uint16_t flags = get16(p, 2);
    const uint16_t an = get16(p, 6);
    const uint16_t ns = get16(p, 8);
    const uint16_t ar = get16(p, 10);
    if (get16(p, 4) != 1) {
        return std::nullopt;
    }
    size_t pos = kHeaderSize;
    if (!skip_name(p, pos) || pos + 4 > p.size()) {
        return std::nullopt;
    }
    const uint16_t qtype = get16(p, pos);
    pos += 4;
    const size_t question_end = pos;

    CachedAnswer a;
    a.rcode = static_cast<Rcode>(flags & 0xF);
    a.additional_at = question_end;

    struct Ttl {
        size_t at; ///< offset of the TTL field
        uint32_t value;
        uint16_t type;
        bool authority;
        size_t rdata;
        uint16_t rdlen;
    };

    std::vector<Ttl> ttls;
    bool answers_question = false;
    size_t keep_end = question_end; // the message is kept up to here: everything before OPT
    bool keeping = true;
    const unsigned total = unsigned{an} + ns + ar;
    for (unsigned i = 0; i < total; ++i) {
        const size_t start = pos;
        if (!skip_name(p, pos) || pos + 10 > p.size()) {
            return std::nullopt;
        }
        const uint16_t rtype = get16(p, pos);
        const uint32_t ttl = get32(p, pos + 4);
        const uint16_t rdlen = get16(p, pos + 8);
        if (pos + 10 + rdlen > p.size()) {
            return std::nullopt;
        }
        const bool in_additional = i >= unsigned{an} + ns;
        if ((rtype == type::OPT || rtype == kTypeTsig) && !in_additional) {
            return std::nullopt; // RFC 6891 §6.1.1: OPT only in the additional section
        }
        if (rtype == type::OPT && keeping) {
            // RFC 6891 §6.1.3: the upper 8 bits of an extended RCODE
            a.rcode = static_cast<Rcode>((uint16_t{p[pos + 4]} << 4) | (flags & 0xF));
        }
        if (rtype == type::OPT || rtype == kTypeTsig) {
            // It and whatever follows are dropped: additional data is optional (RFC 2181 §9),
            // and a record after OPT could point into bytes we remove.
            keeping = false;
            keep_end = std::min(keep_end, start);
        }
        if (keeping) {
            if (i < an && (rtype == qtype || qtype == type::ANY)) {
                answers_question = true;
            }
            ttls.push_back({pos + 4, ttl, rtype, i >= an && !in_additional, pos + 10, rdlen});
            a.additional_count =
                static_cast<uint16_t>(a.additional_count + (in_additional ? 1 : 0));
        }
        pos += 10U + rdlen;
        if (keeping) {
            keep_end = pos;
            if (!in_additional) {
                a.additional_at = pos;
            }
        }
    }
    if (pos != p.size()) {
        return std::nullopt; // trailing bytes: not a message we understand
    }

    a.message.assign(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep_end));
    for (size_t i = kHeaderSize; i < question_end - 4; ++i) {
        a.message[i] = ascii_lower(a.message[i]);
    }
    put16(a.message, 10, a.additional_count);

    // RFC 2308 §2.1, §2.2: NXDOMAIN, or NOERROR without the type asked for, is negative.
    a.negative = a.rcode == Rcode::NxDomain || (a.rcode == Rcode::NoError && !answers_question);
    const Ttl* soa = nullptr;
    if (a.negative) {
        const auto it = std::find_if(ttls.begin(), ttls.end(), [](const Ttl& t) {
            return t.authority && t.type == type::SOA;
        });
        soa = it != ttls.end() ? &*it : nullptr;
    }
    uint32_t lifetime = kMaxTtl;
    for (const auto& t : ttls) {
        uint32_t ttl = clamp_ttl(t.value, policy);
        if (&t == soa) {
            // RFC 2308 §5: the negative TTL is the minimum of the SOA's TTL and MINIMUM field.
            const uint32_t minimum = t.rdlen >= 22 ? get32(p, t.rdata + t.rdlen - 4) : 0;
            ttl = std::min({t.value > kMaxTtl ? 0 : t.value, minimum > kMaxTtl ? 0 : minimum,
                            policy.negative_ttl, policy.max_ttl});
        }
        put32(a.message, t.at, ttl);
        a.ttl_offsets.push_back(static_cast<uint16_t>(t.at));
        lifetime = std::min(lifetime, ttl);
    }
    const bool cacheable = (a.rcode == Rcode::NoError || a.rcode == Rcode::NxDomain) &&
                           (flags & flag::TC) == 0 && !ttls.empty() &&
                           (!a.negative || soa != nullptr); // RFC 2308 §5: no SOA, no caching
    a.ttl = cacheable ? lifetime : 0;
    return a;
}

} // namespace

Written write_answer(const CachedAnswer& a, uint32_t age, const Asker& asker,
                     const AnswerOptions& options, std::span<uint8_t> out) {
    const size_t question_end = kHeaderSize + asker.question.size();
    if (a.message.size() < question_end) {
        return {};
    }
    // The buffer bounds the answer like the client's limit does (a UDP listener's buffer is
    // smaller than a cached TCP-sized answer): shed the additional section, then answer with TC
    // (RFC 1035 §4.2.1, RFC 6891 §7) rather than not at all.
    const size_t limit = std::min(options.limit, out.size());
    const OptRecord opt = our_opt(asker, options, a.rcode);
    const size_t opt_size = asker.edns.present ? opt.size() : 0;
    size_t body = a.message.size();
    uint16_t additional = a.additional_count;
    if (body + opt_size > limit) {
        body = a.additional_at; // RFC 2181 §9: drop the additional section first
        additional = 0;
        if (body + opt_size > limit) {
            return write_truncated(asker, a.rcode, options, out);
        }
    }
    std::memcpy(out.data(), a.message.data(), body);
    put16(out, 0, asker.id);
    put16(out, 2, answer_flags(asker, a.rcode, options));
    std::memcpy(out.data() + kHeaderSize, asker.question.data(), asker.question.size());
    for (const uint16_t at : a.ttl_offsets) {
        if (at + 4U <= body) {
            const uint32_t ttl = get32(a.message, at);
            put32(out, at, ttl > age ? ttl - age : 0);
        }
    }
    put16(out, 10, static_cast<uint16_t>(additional + (asker.edns.present ? 1 : 0)));
    Writer w(out);
    w.rewind(body);
    if (asker.edns.present) {
        w.opt(opt);
    }
    if (w.overflow()) {
        return write_truncated(asker, a.rcode, options, out);
    }
    return {w.size(), false};
}

uint16_t answer_records(const CachedAnswer& a, uint32_t age, std::vector<uint8_t>& out) {
    out.clear();
    size_t pos = kHeaderSize;
    if (a.message.size() < kHeaderSize || !skip_name(a.message, pos) || pos + 4 > a.additional_at ||
        a.additional_at > a.message.size()) {
        return 0;
    }
    pos += 4;
    out.assign(a.message.begin() + static_cast<std::ptrdiff_t>(pos),
               a.message.begin() + static_cast<std::ptrdiff_t>(a.additional_at));
    for (const uint16_t at : a.ttl_offsets) {
        if (at >= pos && at + 4U <= a.additional_at) {
            const uint32_t ttl = get32(a.message, at);
            put32(out, at - pos, ttl > age ? ttl - age : 0);
        }
    }
    return get16(a.message, 6);
}

Written write_error(const Asker& asker, Rcode rcode, std::optional<uint16_t> ede_code,
                    std::string_view ede_text, const AnswerOptions& options,
                    std::span<uint8_t> out) {
    Writer w(out.first(std::min(out.size(), options.limit)));
    w.header(asker.id, answer_flags(asker, rcode, options), 1, asker.edns.present ? 1 : 0);
    w.bytes(asker.question);
    if (asker.edns.present) {
        w.opt(our_opt(asker, options, rcode, ede_code, ede_text));
    }
    if (w.overflow()) {
        return write_truncated(asker, rcode, options, out);
    }
    return {w.size(), false};
}

std::string cache_key(const Query& q) {
    std::string key(q.lower_name());
    key += static_cast<char>(q.qtype >> 8);
    key += static_cast<char>(q.qtype & 0xFF);
    key += static_cast<char>(q.qclass >> 8);
    key += static_cast<char>(q.qclass & 0xFF);
    key += static_cast<char>((q.edns.do_bit ? 1 : 0) | ((q.flags & flag::CD) != 0 ? 2 : 0));
    return key;
}

void Cache::set_capacity(size_t max_entries) {
    max_entries_ = max_entries;
    evict_to(max_entries_, max_entries_ * kBytesPerEntry);
}

std::optional<Cache::Hit> Cache::lookup(const std::string& key, Clock::time_point now) {
    const auto found = index_.find(key);
    if (found == index_.end()) {
        return std::nullopt;
    }
    const auto it = found->second;
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - it->stored).count();
    if (age < 0 || static_cast<uint64_t>(age) >= it->answer.ttl) {
        erase(it); // RFC 1035 §3.2.1: never served past its TTL
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it);
    return Hit{&it->answer, static_cast<uint32_t>(age)};
}

void Cache::insert(const std::string& key, CachedAnswer a, Clock::time_point now) {
    if (a.ttl == 0 || max_entries_ == 0) {
        return;
    }
    const size_t size = a.message.size() + key.size();
    const size_t byte_limit = max_entries_ * kBytesPerEntry;
    if (size > byte_limit) {
        return;
    }
    if (const auto found = index_.find(key); found != index_.end()) {
        erase(found->second);
    }
    evict_to(max_entries_ - 1, byte_limit - size);
    lru_.push_front(Entry{key, std::move(a), now});
    index_.emplace(key, lru_.begin());
    bytes_ += size;
}

void Cache::clear() {
    lru_.clear();
    index_.clear();
    bytes_ = 0;
}

void Cache::erase(std::list<Entry>::iterator it) {
    bytes_ -= it->answer.message.size() + it->key.size();
    index_.erase(it->key);
    lru_.erase(it);
}

void Cache::evict_to(size_t entries, size_t bytes) {
    while (!lru_.empty() && (index_.size() > entries || bytes_ > bytes)) {
        erase(std::prev(lru_.end()));
    }
}

} // namespace horizon::dns
