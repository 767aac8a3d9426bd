// The immutable serving snapshot: clusters with their view tries and precomputed answer records,
// built once per configuration generation and shared read-only by every worker.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "util/prefix_trie.hpp"

namespace horizon::dns {

/// Records of one RRset in wire format without their owner name: TYPE, CLASS, TTL, RDLENGTH,
/// RDATA each. The engine writes a compression pointer to the owner in front of each.
struct RecordSet {
    std::vector<std::vector<uint8_t>> records;

    [[nodiscard]] bool empty() const { return records.empty(); }
};

/// Which addresses a source gets (EKS-FACTS §2).
enum class AnswerSet : uint8_t {
    Private,  ///< the EKS-owned ENIs
    Public,   ///< the NLB
    NxDomain, ///< private mode before Dec 2019: the public zone had no such name
};

std::string_view to_string(AnswerSet s);

struct Decision {
    bool inside = false; ///< the source counts as inside the cluster VPC
    AnswerSet set = AnswerSet::Public;
    const util::Cidr* matched = nullptr; ///< the vpc_cidrs / vpc_exclude_cidrs entry that decided
};

/// A prefix of the VPC trie: a vpc_cidrs entry (inside) or a vpc_exclude_cidrs one.
struct VpcPrefix {
    util::Cidr prefix;
    bool inside = true;
};

/// The one rule for "is this source inside the cluster VPC": the longest prefix of vpc_cidrs
/// and vpc_exclude_cidrs, order-independent. DNS views, the API endpoint's gate and horizon-sim
/// all ask it.
using VpcTrie = util::PrefixTrie<VpcPrefix>;

/// Every vpc_cidrs entry (inside), then every vpc_exclude_cidrs entry (outside): an exclude
/// entry equal to a vpc_cidrs entry replaces it, so it wins.
VpcTrie vpc_trie(const config::ClusterConfig& c);

/// The entry that decides for `source` (IPv4-mapped IPv6 counts as IPv4), or null when no entry
/// contains it (outside).
const VpcPrefix* vpc_match(const VpcTrie& vpc, const util::IpAddress& source);

/// A query that arrived on a resolver listener ([server] listen view "vpc" or "vpc:<cluster>").
struct Listened {
    std::string_view cluster; ///< "" = in-VPC for every cluster
};

struct Cluster {
    config::ClusterConfig cfg;
    std::string apex;         ///< lower-case wire-format endpoint name
    unsigned apex_labels = 0; ///< labels in the endpoint name
    VpcTrie vpc;
    unsigned slot = 0; ///< stable per cluster name across reloads (metrics)
    RecordSet a[2];    ///< indexed by AnswerSet Private/Public
    RecordSet aaaa[2];
    RecordSet soa; ///< the apex SOA; also the negative-answer SOA (RFC 2308 §3), and the parent
                   ///< zone's for AnswerSet::NxDomain (only its owner differs)
    RecordSet ns;

    /// The view decision for a source address (IPv4-mapped IPv6 counts as IPv4).
    [[nodiscard]] Decision decide(const util::IpAddress& source) const;
    /// The decision for a whole client subnet (trusted ECS, RFC 7871). `scope` is the prefix
    /// length the answer is valid for (§7.2.1); a subnet that straddles a VPC boundary counts
    /// as outside, with a full-length scope so that no cache reuses that answer for an inside one.
    [[nodiscard]] Decision decide_subnet(const util::IpAddress& addr, unsigned len,
                                         unsigned& scope) const;
    /// The decision table of EKS-FACTS §2: what a source inside/outside the VPC gets.
    [[nodiscard]] AnswerSet set_for(bool inside) const;
    /// Why `source` gets what it gets, in a few human lines (CHAOS TXT explain and the admin
    /// API). Names the answer set and counts its addresses; never lists private addresses.
    /// `listened`: it arrived on a resolver listener, which decides instead of the source.
    [[nodiscard]] std::vector<std::string> explain(const util::IpAddress& source,
                                                   uint64_t generation,
                                                   std::optional<Listened> listened = {}) const;
};

class ZoneSet;

struct Snapshot {
    config::ServerConfig server;
    uint64_t generation = 0;
    std::vector<Cluster> clusters;
    RecordSet chaos_identity; ///< TXT CH records; empty = REFUSED
    RecordSet chaos_version;
    bool forwarding = false;              ///< [resolver] has upstreams: recursion is offered
    util::PrefixTrie<bool> recursion;     ///< allow_recursion (true entries only)
    util::PrefixTrie<bool> trusted_ecs;   ///< trusted_ecs_sources
    std::shared_ptr<const ZoneSet> zones; ///< [[zone]] data; null = none (shared across reloads)

    /// Whether `source` is a forwarder whose ECS option we believe.
    [[nodiscard]] bool ecs_trusted(const util::IpAddress& source) const {
        return !trusted_ecs.empty() && trusted_ecs.longest_match(source.unmapped()) != nullptr;
    }

    /// Whether `source` may recurse through us (never when forwarding is off).
    [[nodiscard]] bool recursion_allowed(const util::IpAddress& source) const {
        return forwarding && recursion.longest_match(source.unmapped()) != nullptr;
    }

    /// The cluster whose endpoint is `name` or an ancestor of it (lower-case wire format), or null.
    [[nodiscard]] const Cluster* find_apex(std::string_view name) const;

private:
    friend std::shared_ptr<const Snapshot> build_snapshot(const config::Config&, uint64_t,
                                                          const std::vector<unsigned>&,
                                                          std::shared_ptr<const ZoneSet>);

    struct Hash {
        using is_transparent = void;

        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    std::unordered_map<std::string, size_t, Hash, std::equal_to<>> by_apex_;
};

/// Builds the snapshot of a validated configuration; `generation` is the SOA serial. `slots`
/// gives each cluster's metric slot by position (missing: its position). `zones`: the zone files
/// as loaded by load_zones (dns/zone.hpp), read once and shared by successive snapshots.
std::shared_ptr<const Snapshot> build_snapshot(const config::Config& cfg, uint64_t generation,
                                               const std::vector<unsigned>& slots = {},
                                               std::shared_ptr<const ZoneSet> zones = nullptr);

/// Lower-case wire format of a presentation name ("a.b." or "a.b").
std::string to_wire_name(std::string_view text);

} // namespace horizon::dns
