// Authoritative zones from RFC 1035 master files: read with ldns, checked once, then held
// read-only by the serving snapshot (the engine answers from them, never touching ldns).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "dns/snapshot.hpp"

namespace horizon::dns {

/// Hashes names as string_view, so that lookups by a name inside the query need no copy.
struct NameHash {
    using is_transparent = void;

    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

/// One RRset of a zone node; its records carry no owner (see RecordSet).
struct ZoneRRset {
    uint16_t type = 0;
    RecordSet set;
};

/// The data at one name of a zone. A node without RRsets is an empty non-terminal (RFC 4592
/// §2.2.2): it exists, so it answers NODATA and blocks wildcards above it.
struct ZoneNode {
    std::vector<ZoneRRset> rrsets; ///< sorted by type
    std::string cname_target;      ///< lower-case wire name when the node owns a CNAME
    bool cut = false;              ///< NS below the apex: a delegation point (RFC 1034 §4.2.1)
    std::vector<std::string> ns_targets; ///< at a cut: lower-case wire names of the NS targets

    [[nodiscard]] const RecordSet* find(uint16_t type) const;
};

/// How a name resolves inside one zone (RFC 1034 §4.3.2 step 3, RFC 4592 §3.3.1).
struct ZoneMatch {
    enum Kind : uint8_t {
        Exact,      ///< `node` is the name's own node
        Wildcard,   ///< no such name; `node` is the wildcard at its closest encloser
        Delegation, ///< at or below a zone cut; `node` is the cut, `owner` its name
        NxDomain,   ///< no such name and no wildcard to synthesise from
    };

    Kind kind = NxDomain;
    const ZoneNode* node = nullptr;
    std::string_view owner; ///< the cut's name (Delegation)
};

struct Zone {
    std::string origin; ///< lower-case wire format
    unsigned origin_labels = 0;
    std::string path; ///< the master file, for messages
    bool vpc = true;
    bool pub = true;
    std::unordered_map<std::string, ZoneNode, NameHash, std::equal_to<>>
        nodes; ///< by lower-case wire name; apex included
    /// The apex SOA with TTL = min(SOA TTL, SOA MINIMUM): the negative-answer SOA (RFC 2308 §3).
    RecordSet negative_soa;

    /// Resolves a lower-case wire name at or below the origin. `ds`: the question is for DS,
    /// which the parent side of a cut answers (RFC 4035 §3.1.4.1).
    [[nodiscard]] ZoneMatch lookup(std::string_view name, bool ds = false) const;
    [[nodiscard]] const ZoneNode* node(std::string_view name) const;
};

/// Every configured zone, found by the closest enclosing origin among those a view is served.
class ZoneSet {
public:
    explicit ZoneSet(std::vector<Zone> zones);

    /// The zone whose origin is the closest ancestor of (or equal to) `name` (lower-case wire)
    /// among the zones served to `view`; null when none is.
    [[nodiscard]] const Zone* find(std::string_view name, config::View view) const;

    [[nodiscard]] const std::vector<Zone>& zones() const { return zones_; }

    [[nodiscard]] bool empty() const { return zones_.empty(); }

private:
    std::vector<Zone> zones_;
    std::unordered_map<std::string, std::array<int, 2>, NameHash, std::equal_to<>>
        by_origin_; ///< index per View, -1 = none
};

/// A problem in a master file: "path:LINE: error: message".
struct ZoneError {
    std::string path;
    unsigned line = 0;
    std::string message;

    [[nodiscard]] std::string to_string() const;
};

/// Parses master-file text for `zone` (its path names the text in messages). Collects every
/// error; a zone with any error is not returned.
std::variant<Zone, std::vector<ZoneError>> parse_zone(std::string_view text,
                                                      const config::ZoneConfig& zone);

struct ZoneLoad {
    std::shared_ptr<const ZoneSet> zones; ///< null when there were errors
    std::vector<ZoneError> errors;
    /// A digest of each file's bytes as read, in configuration order (to notice a changed file).
    std::vector<size_t> digests;
};

/// Reads and parses every configured zone file (`path`, not `file`).
ZoneLoad load_zones(const std::vector<config::ZoneConfig>& zones);

/// The digest load_zones records for `path`'s current content (0 when unreadable).
size_t zone_file_digest(const std::string& path);

} // namespace horizon::dns
