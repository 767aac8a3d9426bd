// The transport-agnostic query engine: (query bytes, client) -> (answer bytes | drop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dns/snapshot.hpp"
#include "dns/wire.hpp"
#include "util/address.hpp"

namespace horizon::dns {

struct Zone;

enum class Transport : uint8_t { Udp, Tcp };

/// Who asked, and where: what view selection needs besides the query itself.
struct Client {
    util::IpAddress addr;
    Transport transport = Transport::Udp;
    /// Arrived on a resolver listener ([server] listen view "vpc"): in-VPC whatever the source,
    /// as a VPC's own resolver (VPC base + 2) decides in EKS.
    bool vpc_listener = false;
    /// With vpc_listener: the one cluster it is in-VPC for ("vpc:<cluster>"); empty = every
    /// cluster. Points into the listener's configuration, which outlives its queries.
    std::string_view vpc_cluster{};
};

/// What happened to one query, for the caller's counters and query log.
struct Outcome {
    size_t size = 0; ///< bytes written to `out`; 0 = drop, send nothing (or forward)
    /// Not ours and the client may recurse: nothing was written; the caller forwards the query
    /// (RFC 1034 §4.3.1: RA is set in the answer that comes back).
    bool forward = false;
    Rcode rcode = Rcode::NoError;
    bool truncated = false;
    const Cluster* cluster = nullptr; ///< the endpoint zone that answered, if any
    const Zone* zone = nullptr; ///< the [[zone]] that answered, if any (decision.inside = view)
    Decision decision;
    uint16_t qtype = 0;
    size_t name_len = 0; ///< the question name is query[12, 12 + name_len) when name_len > 0
};

/// The view of the [[zone]] data a query is answered from, and how it was decided.
struct ZoneView {
    config::View view = config::View::Public;
    bool ecs = false;   ///< decided by a trusted forwarder's ECS subnet: echo it with `scope`
    unsigned scope = 0; ///< RFC 7871 §7.2.1 SCOPE PREFIX-LENGTH when `ecs`
};

/// The one place zone views are decided: `vpc` for a query that arrived on a resolver listener
/// (any view "vpc" or "vpc:<cluster>"), or when the source (or, from a trusted ECS source,
/// the client subnet, RFC 7871 §7.1.1) is inside any cluster's vpc_cidrs minus its
/// vpc_exclude_cidrs; `public` for everyone else. A subnet straddling a VPC boundary counts as
/// outside, with a full-length scope (as for endpoint answers).
ZoneView zone_view(const Snapshot& snap, const Client& client, const Query& q);

/// Biggest answer the engine writes (the TCP frame limit, RFC 7766 §8).
constexpr size_t kMaxMessage = 65535;

/// Answers one query. `out` should hold kMaxMessage bytes; UDP answers are truncated to the
/// client's limit (RFC 6891 §6.2.5, RFC 1035 §4.2.1). Thread-safe: reads only the snapshot.
/// `can_forward`: the caller has a forwarder for Outcome::forward; without one, names outside
/// our zones are REFUSED and RA stays clear for everyone.
Outcome answer(const Snapshot& snap, std::span<const uint8_t> query, const Client& client,
               std::span<uint8_t> out, bool can_forward = false);
/// The same, leaving the parsed query in `q` (valid when the outcome is `forward`): the
/// resolver takes it from there instead of parsing the query again.
Outcome answer(const Snapshot& snap, std::span<const uint8_t> query, Query& q, const Client& client,
               std::span<uint8_t> out, bool can_forward);

/// The one place for the size an answer to `client` may have: over UDP the client's EDNS size,
/// at least 512, capped by our udp_payload (RFC 6891 §6.2.5), 512 without EDNS (RFC 1035
/// §4.2.1); over TCP only the frame length (RFC 7766 §8). Engine and resolver both use it.
size_t answer_limit(const Snapshot& snap, const Edns& edns, Transport transport);

/// A forwarded answer whose CNAME chain reached one of our names `cut` (dns::CachedAnswer::cut):
/// the upstream's `chain` (`chain_count` answer records, names uncompressed, TTLs decayed), then
/// our answer for `cut` computed for this client as for a question of its own (its view, its
/// ECS: the SCOPE is the most specific part's), RA set and AA clear. The RCODE is our last
/// name's (RFC 6604 §3). `query` is the client's, allowed recursion, and `q` its parse.
Outcome answer_forwarded(const Snapshot& snap, std::span<const uint8_t> query, const Query& q,
                         const Client& client, std::span<const uint8_t> chain, uint16_t chain_count,
                         std::string_view cut, std::span<uint8_t> out);

} // namespace horizon::dns
