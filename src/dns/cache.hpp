// The forwarder's answer cache, sans-I/O: upstream answers normalized once (RFC 2308 negative
// caching, min/max TTL caps), served to any client with decayed TTLs, bounded with LRU eviction.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/wire.hpp"

namespace horizon::dns {

/// The TTL policy applied to every upstream answer (from [resolver]).
struct TtlPolicy {
    uint32_t min_ttl = 0;
    uint32_t max_ttl = 86400;
    uint32_t negative_ttl = 3600; ///< cap for NXDOMAIN/NODATA (RFC 2308 §5)
};

/// An upstream answer ready to serve to anyone asking the same question: header, the question
/// (lower case), answer, authority and additional records without the upstream's OPT (and
/// whatever followed it). ID and flags are the client's business; `ttl_offsets` locate every TTL,
/// each holding its capped value at the time the answer arrived.
struct CachedAnswer {
    std::vector<uint8_t> message;
    std::vector<uint16_t> ttl_offsets;
    size_t additional_at = 0; ///< where the additional section starts (dropped first to fit)
    uint16_t additional_count = 0;
    Rcode rcode = Rcode::NoError;
    bool negative = false; ///< NXDOMAIN or NODATA (RFC 2308 §1)
    uint32_t ttl = 0;      ///< how long it may be served; 0 = not cacheable
    /// The upstream's CNAME chain reached one of our names here (lower-case wire): `message`
    /// holds only the chain before it (answer section, names uncompressed) and each client's
    /// answer is completed with ours for this name (dns::answer_forwarded). Empty: no cut.
    std::string cut;
};

/// Whether a lower-case wire name is one of ours: a cluster endpoint name (or below one) or a
/// name in any [[zone]], whatever its view. Upstream data for such names is never passed on.
using OursFn = std::function<bool(std::string_view)>;

/// Why an upstream response could not be normalized.
enum class NormalizeError : uint8_t { None, Malformed };

/// Normalizes an upstream response (already matched to its query). Positive TTLs are clamped to
/// [min_ttl, max_ttl]; a negative answer's SOA TTL becomes min(SOA TTL, SOA MINIMUM,
/// negative_ttl) (RFC 2308 §5) and, without an SOA, it is not cacheable (RFC 2308 §5). Only
/// NOERROR and NXDOMAIN answers without TC are cacheable; the entry lives as long as its
/// shortest TTL. Returns nullopt for a message that does not parse (bounds-checked).
///
/// With `ours` (a bailiwick check): the CNAME chain is walked from the question, and at the
/// first target that is ours it is cut (CachedAnswer::cut), keeping only the answer records of
/// the chain before it; without a cut, every record owned by one of our names other than the
/// question's (any section) is dropped. Either way the message is rewritten with uncompressed
/// names. The question's own name is exempt: it was forwarded, so it is not ours for this client.
///
/// Always: the additional section keeps only A, AAAA and RRSIG records owned by a host that an
/// NS, MX, SRV, SVCB or HTTPS record of the answer or authority section names, at or below
/// `bailiwick` (lower-case wire: the forward zone the upstream was asked for; the root by
/// default). Anything else there is out of bailiwick or unrelated (RFC 2181 §5.4.1, RFC 5452 §6)
/// and is neither passed on nor cached.
std::optional<CachedAnswer> normalize(std::span<const uint8_t> response, const TtlPolicy& policy,
                                      const OursFn& ours = {},
                                      std::string_view bailiwick = std::string_view("\0", 1));

/// The answer records of `a` (after the question, before authority) with every TTL decreased by
/// `age`, and how many there are: the upstream part of a cut chain (CachedAnswer::cut).
uint16_t answer_records(const CachedAnswer& a, uint32_t age, std::vector<uint8_t>& out);

/// What a client's answer takes from its query.
struct Asker {
    uint16_t id = 0;
    uint16_t flags = 0; ///< RD and CD are copied (RFC 1035 §4.1.1, RFC 4035 §3.2.2)
    std::span<const uint8_t> question; ///< QNAME QTYPE QCLASS exactly as received (0x20 kept)
    Edns edns;                         ///< the client's EDNS: our OPT is added when present
};

/// What the answer writers need from the server configuration.
struct AnswerOptions {
    uint16_t udp_payload = 1232; ///< our OPT's payload size
    std::string_view identity;   ///< NSID (RFC 5001) when the client asked; "" = none
    size_t limit = 65535;        ///< the client's size limit (UDP: RFC 6891 §6.2.5)
    bool ra = true;              ///< RA: recursion is available to this client (RFC 1035 §4.1.1)
};

struct Written {
    size_t size = 0;
    bool truncated = false;
};

/// Writes `a` for one client into `out`: its ID, QR RA and its RD/CD, AA and AD clear (we are
/// neither authoritative nor validating), its question as asked, every TTL minus `age` seconds,
/// and our OPT if it used EDNS. Over `limit`, the additional section goes first (RFC 2181 §9);
/// if that is not enough, the question and OPT alone with TC=1 (RFC 1035 §4.2.1).
Written write_answer(const CachedAnswer& a, uint32_t age, const Asker& asker,
                     const AnswerOptions& options, std::span<uint8_t> out);

/// Writes an answer of our own with no records: `rcode`, RA set, and when the client used EDNS
/// our OPT with an Extended DNS Error (RFC 8914 §2) if `ede_code` is set.
Written write_error(const Asker& asker, Rcode rcode, std::optional<uint16_t> ede_code,
                    std::string_view ede_text, const AnswerOptions& options,
                    std::span<uint8_t> out);

/// RFC 8914 §4 info codes the forwarder uses.
namespace ede {
constexpr uint16_t Other = 0;
constexpr uint16_t NoReachableAuthority = 22;
constexpr uint16_t NetworkError = 23;
} // namespace ede

/// The cache key of a question: lower-case QNAME, QTYPE, QCLASS, and the DO and CD bits (they
/// change what the upstream sends: RFC 3225 §3, RFC 4035 §3.2.2).
std::string cache_key(const Query& q);

/// An LRU-bounded map from cache_key to CachedAnswer. Not thread-safe: one per worker.
class Cache {
public:
    using Clock = std::chrono::steady_clock;

    /// Limits: at most `max_entries` answers and max_entries × kBytesPerEntry bytes of them.
    void set_capacity(size_t max_entries);

    [[nodiscard]] size_t capacity() const { return max_entries_; }

    struct Hit {
        const CachedAnswer* answer = nullptr; ///< valid until the next insert/clear
        uint32_t age = 0;                     ///< whole seconds since it was stored
    };

    /// The live entry for `key` (most recently used from now on); an expired one is removed.
    std::optional<Hit> lookup(const std::string& key, Clock::time_point now);
    /// Stores `a` if it is cacheable (a.ttl > 0), evicting the least recently used as needed.
    void insert(const std::string& key, CachedAnswer a, Clock::time_point now);
    void clear();

    [[nodiscard]] size_t size() const { return index_.size(); }

    [[nodiscard]] size_t bytes() const { return bytes_; }

    static constexpr size_t kBytesPerEntry = 2048; ///< average budget: big answers count more

private:
    struct Entry {
        std::string key;
        CachedAnswer answer;
        Clock::time_point stored;
    };

    void erase(std::list<Entry>::iterator it);
    void evict_to(size_t entries, size_t bytes);

    size_t max_entries_ = 0;
    size_t bytes_ = 0;
    std::list<Entry> lru_; ///< most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

} // namespace horizon::dns
