// Zone store: master files read record by record with ldns (so every error has its line),
// checked for sanity, and turned into per-name nodes the engine walks without ldns.
#include "dns/zone.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <system_error>

#include "dns/ldns.hpp"
#include "dns/wire.hpp"
#include "util/file.hpp"

namespace horizon::dns {

namespace {

struct FileCloser {
    void operator()(std::FILE* f) const {
        std::fclose(f); // NOLINT(cppcoreguidelines-owning-memory)
    }
};

std::string lower_wire(const ldns_rdf* dname) {
    std::string out(reinterpret_cast<const char*>(ldns_rdf_data(dname)), ldns_rdf_size(dname));
    for (size_t i = 0; i < out.size() && out[i] != 0; i += static_cast<uint8_t>(out[i]) + 1U) {
        for (size_t j = i + 1; j <= i + static_cast<uint8_t>(out[i]) && j < out.size(); ++j) {
            if (out[j] >= 'A' && out[j] <= 'Z') {
                out[j] = static_cast<char>(out[j] + 32);
            }
        }
    }
    return out;
}

/// Offsets of the labels of a wire name (the root label not counted).
std::vector<size_t> label_offsets(std::string_view name) {
    std::vector<size_t> out;
    for (size_t i = 0; i < name.size() && name[i] != 0; i += static_cast<uint8_t>(name[i]) + 1U) {
        out.push_back(i);
    }
    return out;
}

/// Whether `name` is `origin` or below it (both lower-case wire), at a label boundary.
bool at_or_below(std::string_view name, std::string_view origin) {
    for (size_t i = 0; i < name.size(); i += static_cast<uint8_t>(name[i]) + 1U) {
        if (name.substr(i) == origin) {
            return true;
        }
        if (name[i] == 0) {
            break;
        }
    }
    return false;
}

std::string type_name(uint16_t type) {
    const ldns_rr_descriptor* d = ldns_rr_descript(type);
    return d != nullptr && d->_name != nullptr ? d->_name : type_to_string(type);
}

uint32_t get32(const std::vector<uint8_t>& rr, size_t at) {
    return (uint32_t{rr[at]} << 24) | (uint32_t{rr[at + 1]} << 16) | (uint32_t{rr[at + 2]} << 8) |
           rr[at + 3];
}

void put32(std::vector<uint8_t>& rr, size_t at, uint32_t v) {
    rr[at] = static_cast<uint8_t>(v >> 24);
    rr[at + 1] = static_cast<uint8_t>(v >> 16);
    rr[at + 2] = static_cast<uint8_t>(v >> 8);
    rr[at + 3] = static_cast<uint8_t>(v);
}

/// One entry of a master file: a record or a directive, possibly over several lines.
struct Entry {
    unsigned line = 0; ///< its first line
    std::string_view text;
};

/// The entries of a master file, blank and comment-only lines left out (RFC 1035 §5.1).
std::vector<Entry> split_entries(std::string_view text) {
    std::vector<Entry> out;
    unsigned line = 1;
    size_t start = 0;
    unsigned start_line = 1;
    int depth = 0;
    bool quoted = false;
    bool comment = false;
    bool content = false; // something other than blanks and comments since `start`
    for (size_t i = 0; i <= text.size(); ++i) {
        const char c = i < text.size() ? text[i] : '\n';
        if (c == '\n') {
            comment = false;
            quoted = false; // a string does not span lines; ldns reports the broken entry
            if (depth <= 0 || i == text.size()) {
                if (content) {
                    out.push_back(
                        {start_line, text.substr(start, std::min(i, text.size()) - start)});
                }
                start = i + 1;
                start_line = line + 1;
                depth = 0;
                content = false;
            }
            ++line;
            continue;
        }
        if (comment) {
            continue;
        }
        if (quoted) {
            if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
                ++i;
            } else if (c == '"') {
                quoted = false;
            }
            continue;
        }
        switch (c) {
        case ';':
            comment = true;
            break;
        case '"':
            quoted = content = true;
            break;
        case '(':
            ++depth;
            content = true;
            break;
        case ')':
            --depth;
            content = true;
            break;
        case '\\':
            i += i + 1 < text.size() && text[i + 1] != '\n' ? 1 : 0;
            content = true;
            break;
        case ' ':
        case '\t':
        case '\r':
            break;
        default:
            content = true;
            break;
        }
    }
    return out;
}

/// An entry's text for a message: one line, at most 60 characters, control characters escaped.
std::string shorten(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (out.size() >= 60) {
            return out + "...";
        }
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n' || c == '\t') {
            if (!out.empty() && out.back() != ' ') {
                out += ' ';
            }
        } else if (byte < 0x20 || byte == 0x7f) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out += c;
        }
    }
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    return out;
}

/// An RRset while the file is read: where it was first seen, for messages.
struct BuildSet {
    RecordSet set;
    unsigned line = 0;
};

struct BuildNode {
    std::map<uint16_t, BuildSet> sets;
    std::string text; ///< the owner as written (presentation), for messages
    std::string cname_target;
    std::vector<std::string> ns_targets;
};

class ZoneBuilder {
public:
    explicit ZoneBuilder(const config::ZoneConfig& cfg)
        : cfg_(cfg)
        , origin_text_(cfg.origin + ".") {}

    /// Parses the whole text; errors go to errors_.
    void parse(std::string_view text);
    /// The sanity checks across records, then the nodes.
    std::variant<Zone, std::vector<ZoneError>> finish();

private:
    void error(unsigned line, std::string message) {
        errors_.push_back({cfg_.path, line, std::move(message)});
    }

    void add(const ldns_rr* rr, unsigned line);

    const config::ZoneConfig& cfg_;
    std::string origin_text_;
    std::string origin_;
    std::map<std::string, BuildNode> nodes_;
    unsigned soa_line_ = 0;
    std::vector<ZoneError> errors_;
};

void ZoneBuilder::parse(std::string_view text) {
    const RdfPtr origin_rdf(ldns_dname_new_frm_str(origin_text_.c_str()));
    if (!origin_rdf) {
        error(1, fmt::format("invalid origin '{}'", origin_text_));
        return;
    }
    origin_ = lower_wire(origin_rdf.get());
    // ldns updates origin and prev in place ($ORIGIN, owners left blank); it owns what they hold.
    ldns_rdf* origin = ldns_rdf_clone(origin_rdf.get());
    ldns_rdf* prev = ldns_rdf_clone(origin_rdf.get());
    uint32_t default_ttl = 3600;
    // ldns's own line count drifts over blank and comment lines, so entries are split here
    // (RFC 1035 §5.1: an entry ends at a newline outside parentheses and quotes; ';' starts a
    // comment) and ldns reads each one alone: every error then has the entry's first line.
    for (const Entry& entry : split_entries(text)) {
        if (errors_.size() >= 50) {
            error(entry.line, "too many errors, giving up on this file");
            break;
        }
        std::string body(entry.text);
        body += '\n';
        // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): the unique_ptr owns it
        const std::unique_ptr<std::FILE, FileCloser> fp(fmemopen(body.data(), body.size(), "r"));
        if (!fp) {
            error(entry.line,
                  fmt::format("cannot read: {}", std::generic_category().message(errno)));
            break;
        }
        ldns_rr* raw = nullptr;
        int line_nr = 0;
        const ldns_status st =
            ldns_rr_new_frm_fp_l(&raw, fp.get(), &default_ttl, &origin, &prev, &line_nr);
        const RrPtr rr(raw);
        if (st == LDNS_STATUS_OK) {
            add(rr.get(), entry.line);
        } else if (st == LDNS_STATUS_SYNTAX_INCLUDE) {
            error(entry.line, "$INCLUDE is not supported (list each file as its own [[zone]])");
        } else if (st != LDNS_STATUS_SYNTAX_EMPTY && st != LDNS_STATUS_SYNTAX_TTL &&
                   st != LDNS_STATUS_SYNTAX_ORIGIN) {
            error(entry.line,
                  fmt::format("{} in '{}'", ldns_get_errorstr_by_id(st), shorten(entry.text)));
        }
    }
    ldns_rdf_deep_free(origin);
    ldns_rdf_deep_free(prev);
}

void ZoneBuilder::add(const ldns_rr* rr, unsigned line) {
    const uint16_t type = ldns_rr_get_type(rr);
    const std::string owner = lower_wire(ldns_rr_owner(rr));
    const std::string shown = name_to_text(owner);
    if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
        error(line, fmt::format("class of {} is not IN (only class IN zones are served)", shown));
        return;
    }
    if (!at_or_below(owner, origin_)) {
        error(line, fmt::format("{} is outside the zone origin {}", shown, origin_text_));
        return;
    }
    const bool apex = owner == origin_;
    if (type == type::SOA) {
        if (!apex) {
            error(line, fmt::format("SOA record at {}: an SOA belongs at the zone apex {}", shown,
                                    origin_text_));
            return;
        }
        if (soa_line_ != 0) {
            error(line, fmt::format("second SOA record at the apex (the first is at line {}; "
                                    "a zone has exactly one)",
                                    soa_line_));
            return;
        }
        soa_line_ = line;
    }
    if (type == type::DNAME) {
        error(line, fmt::format("DNAME at {} is not supported", shown));
        return;
    }
    if (type == type::OPT || (type >= 128 && type <= 255)) {
        error(line, fmt::format("{} is a meta type, not data", type_name(type)));
        return;
    }
    if (type == type::NS && owner.size() > 2 && owner[0] == 1 && owner[1] == '*') {
        error(line, fmt::format("NS at the wildcard {} (RFC 4592 §4.2: not allowed here)", shown));
        return;
    }
    auto rec = encode_rr(rr);
    if (rec.empty()) {
        error(line, fmt::format("cannot encode the {} record at {}", type_name(type), shown));
        return;
    }
    BuildNode& node = nodes_[owner];
    node.text = shown;
    if (type == type::CNAME && ldns_rr_rd_count(rr) == 1) {
        node.cname_target = lower_wire(ldns_rr_rdf(rr, 0));
    }
    if (type == type::NS && ldns_rr_rd_count(rr) == 1) {
        node.ns_targets.push_back(lower_wire(ldns_rr_rdf(rr, 0)));
    }
    auto [it, fresh] = node.sets.try_emplace(type);
    BuildSet& set = it->second;
    if (fresh) {
        set.line = line;
    }
    for (auto& existing : set.set.records) {
        // RFC 2181 §5: an RRset has no duplicates. Its TTLs must agree (§5.2): we keep the lowest.
        if (std::equal(existing.begin() + 8, existing.end(), rec.begin() + 8, rec.end())) {
            put32(existing, 4, std::min(get32(existing, 4), get32(rec, 4)));
            return;
        }
    }
    if (!set.set.records.empty()) {
        const uint32_t ttl = std::min(get32(set.set.records.front(), 4), get32(rec, 4));
        for (auto& existing : set.set.records) {
            put32(existing, 4, ttl);
        }
        put32(rec, 4, ttl);
    }
    set.set.records.push_back(std::move(rec));
}

std::variant<Zone, std::vector<ZoneError>> ZoneBuilder::finish() {
    if (origin_.empty()) {
        return std::move(errors_);
    }
    const auto apex = nodes_.find(origin_);
    if (soa_line_ == 0) {
        error(1, fmt::format("no SOA record at the zone apex {}", origin_text_));
    } else if (apex == nodes_.end() || !apex->second.sets.contains(type::NS)) {
        error(soa_line_, fmt::format("no NS record at the zone apex {}", origin_text_));
    }
    // Zone cuts: NS below the apex. Sorted by name, a cut's descendants follow it... not
    // contiguously (wire names sort by their first label), so each node checks its ancestors.
    const auto cut_above = [&](const std::string& name) -> const std::string* {
        for (size_t i = static_cast<uint8_t>(name[0]) + 1U; i < name.size() && name[i] != 0;
             i += static_cast<uint8_t>(name[i]) + 1U) {
            const auto suffix = name.substr(i);
            if (suffix.size() < origin_.size()) {
                break;
            }
            if (suffix == origin_) {
                break;
            }
            if (const auto it = nodes_.find(suffix);
                it != nodes_.end() && it->second.sets.contains(type::NS)) {
                return &it->first;
            }
        }
        return nullptr;
    };
    for (const auto& [name, node] : nodes_) {
        if (const auto cname = node.sets.find(type::CNAME); cname != node.sets.end()) {
            if (cname->second.set.records.size() > 1) {
                error(cname->second.line,
                      fmt::format("more than one CNAME record at {} (RFC 2181 §10.1)", node.text));
            }
            for (const auto& [type, set] : node.sets) {
                // RFC 1034 §3.6.2; RFC 4035 §2.5 allows the DNSSEC records beside a CNAME.
                if (type == type::CNAME || type == type::RRSIG || type == type::NSEC) {
                    continue;
                }
                error(std::max(set.line, cname->second.line),
                      fmt::format("CNAME and other data ({}) at {} (RFC 1034 §3.6.2)",
                                  type_name(type), node.text));
            }
        }
        const bool is_cut = name != origin_ && node.sets.contains(type::NS);
        if (is_cut) {
            for (const auto& [type, set] : node.sets) {
                if (type != type::NS && type != type::DS && type != type::A && type != type::AAAA &&
                    type != type::RRSIG && type != type::NSEC && type != type::CNAME) {
                    error(set.line, fmt::format("{} record at the delegation point {} (only NS, "
                                                "DS and glue belong at a zone cut)",
                                                type_name(type), node.text));
                }
            }
        }
        if (const std::string* cut = cut_above(name)) {
            for (const auto& [type, set] : node.sets) {
                if (type != type::A && type != type::AAAA) {
                    error(set.line, fmt::format("{} record at {} is below the delegation point {} "
                                                "(only glue A/AAAA may be there)",
                                                type_name(type), node.text, name_to_text(*cut)));
                }
            }
        }
    }
    if (!errors_.empty()) {
        std::stable_sort(errors_.begin(), errors_.end(),
                         [](const ZoneError& a, const ZoneError& b) { return a.line < b.line; });
        return std::move(errors_);
    }
    Zone z;
    z.origin = origin_;
    z.origin_labels = static_cast<unsigned>(label_offsets(origin_).size());
    z.path = cfg_.path;
    z.vpc = cfg_.vpc;
    z.pub = cfg_.pub;
    for (auto& [name, bn] : nodes_) {
        ZoneNode n;
        for (auto& [type, set] : bn.sets) {
            n.rrsets.push_back({type, std::move(set.set)});
        }
        n.cname_target = std::move(bn.cname_target);
        n.cut = name != origin_ && n.find(type::NS) != nullptr;
        if (n.cut) {
            n.ns_targets = std::move(bn.ns_targets);
        }
        // Every ancestor up to the origin exists, as an empty non-terminal if it has no data.
        const auto labels = label_offsets(name);
        for (size_t i = 1; i < labels.size() && name.size() - labels[i] > origin_.size(); ++i) {
            z.nodes.try_emplace(name.substr(labels[i]));
        }
        z.nodes.insert_or_assign(name, std::move(n));
    }
    const auto& soa = z.nodes.at(origin_).find(type::SOA)->records.front();
    std::vector<uint8_t> negative = soa;
    // RFC 2308 §3: the negative TTL is the lesser of the SOA's TTL and its MINIMUM field.
    put32(negative, 4, std::min(get32(soa, 4), get32(soa, soa.size() - 4)));
    z.negative_soa.records.push_back(std::move(negative));
    return z;
}

} // namespace

const RecordSet* ZoneNode::find(uint16_t type) const {
    for (const auto& s : rrsets) {
        if (s.type == type) {
            return &s.set;
        }
    }
    return nullptr;
}

const ZoneNode* Zone::node(std::string_view name) const {
    const auto it = nodes.find(name);
    return it == nodes.end() ? nullptr : &it->second;
}

ZoneMatch Zone::lookup(std::string_view name, bool ds) const {
    // Labels of `name` below the origin, walked from the origin down (RFC 1034 §4.3.2 step 3).
    std::array<size_t, 128> offsets{};
    size_t n = 0;
    for (size_t i = 0; i < name.size() && name[i] != 0 && n < offsets.size();
         i += static_cast<uint8_t>(name[i]) + 1U) {
        offsets[n++] = i;
    }
    if (n < origin_labels) {
        return {};
    }
    const size_t below = n - origin_labels; // labels in front of the origin
    for (size_t k = below; k-- > 0;) {
        const std::string_view suffix = name.substr(offsets[k]);
        const ZoneNode* found = node(suffix);
        if (found == nullptr) {
            // RFC 4592 §3.3.1: the closest encloser is the longest existing ancestor; only its
            // own wildcard child may synthesise an answer.
            std::string wildcard = "\x01*";
            wildcard += name.substr(offsets[k + 1]); // k + 1 <= below < n: the origin at most
            if (const ZoneNode* w = node(wildcard); w != nullptr) {
                return {ZoneMatch::Wildcard, w, {}};
            }
            return {};
        }
        if (found->cut && !(k == 0 && ds)) {
            return {ZoneMatch::Delegation, found, suffix}; // step 3b: a referral
        }
    }
    return {ZoneMatch::Exact, node(name), {}};
}

ZoneSet::ZoneSet(std::vector<Zone> zones)
    : zones_(std::move(zones)) {
    for (size_t i = 0; i < zones_.size(); ++i) {
        auto& slots =
            by_origin_.try_emplace(zones_[i].origin, std::array<int, 2>{-1, -1}).first->second;
        if (zones_[i].vpc) {
            slots[static_cast<size_t>(config::View::Vpc)] = static_cast<int>(i);
        }
        if (zones_[i].pub) {
            slots[static_cast<size_t>(config::View::Public)] = static_cast<int>(i);
        }
    }
}

const Zone* ZoneSet::find(std::string_view name, config::View view) const {
    if (zones_.empty()) {
        return nullptr;
    }
    for (size_t at = 0; at < name.size(); at += static_cast<uint8_t>(name[at]) + 1U) {
        if (name[at] == 0) {
            break;
        }
        if (const auto it = by_origin_.find(name.substr(at)); it != by_origin_.end()) {
            const int i = it->second[static_cast<size_t>(view)];
            if (i >= 0) {
                return &zones_[static_cast<size_t>(i)];
            }
        }
    }
    return nullptr;
}

std::string ZoneError::to_string() const {
    return fmt::format("{}:{}: error: {}", path, line, message);
}

std::variant<Zone, std::vector<ZoneError>> parse_zone(std::string_view text,
                                                      const config::ZoneConfig& zone) {
    ZoneBuilder b(zone);
    b.parse(text);
    return b.finish();
}

namespace {

/// A zone file of a lab is kilobytes; the bound keeps a setting pointed at a device or a log from
/// exhausting memory (the same bound as the configuration file).
constexpr size_t kMaxZoneFileBytes = config::kMaxConfigBytes;

} // namespace

size_t zone_file_digest(const std::string& path) {
    const auto file = util::read_file(path, kMaxZoneFileBytes);
    if (!file.ok()) {
        return 0;
    }
    return std::hash<std::string>{}(file.text) | 1U; // never 0, which means unreadable
}

ZoneLoad load_zones(const std::vector<config::ZoneConfig>& zones) {
    ZoneLoad out;
    std::vector<Zone> parsed;
    for (const auto& cfg : zones) {
        const auto file = util::read_file(cfg.path, kMaxZoneFileBytes);
        if (!file.ok()) {
            out.errors.push_back({cfg.path, 1, "cannot read the zone file: " + file.reason()});
            out.digests.push_back(0);
            continue;
        }
        out.digests.push_back(std::hash<std::string>{}(file.text) | 1U);
        auto result = parse_zone(file.text, cfg);
        if (auto* errors = std::get_if<std::vector<ZoneError>>(&result)) {
            out.errors.insert(out.errors.end(), errors->begin(), errors->end());
        } else {
            parsed.push_back(std::get<Zone>(std::move(result)));
        }
    }
    if (out.errors.empty()) {
        out.zones = std::make_shared<const ZoneSet>(std::move(parsed));
    }
    return out;
}

} // namespace horizon::dns
