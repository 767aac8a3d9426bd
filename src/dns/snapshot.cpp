// Builds the serving snapshot: answer records are rendered once with ldns, here, never per query.
#include "dns/snapshot.hpp"

#include <stdexcept>

#include "dns/ldns.hpp"
#include "dns/wire.hpp"

namespace horizon::dns {

namespace {

constexpr std::string_view kNsName = "ns.horizon.invalid."; // RFC 6761 §6.4: .invalid is reserved
constexpr std::string_view kMbox = "hostmaster.horizon.invalid.";

/// Renders one record from presentation format into TYPE CLASS TTL RDLENGTH RDATA.
std::vector<uint8_t> render(const std::string& text) {
    ldns_rr* raw = nullptr;
    if (ldns_rr_new_frm_str(&raw, text.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK) {
        throw std::runtime_error("cannot build record: " + text);
    }
    const RrPtr rr(raw);
    auto out = encode_rr(rr.get());
    if (out.empty()) {
        throw std::runtime_error("cannot encode record: " + text);
    }
    return out;
}

RecordSet addresses(const std::vector<util::IpAddress>& ips, bool v4, uint32_t ttl) {
    RecordSet set;
    for (const auto& ip : ips) {
        if (ip.is_v4() == v4) {
            set.records.push_back(render(". " + std::to_string(ttl) +
                                         (v4 ? " IN A " : " IN AAAA ") + ip.to_string()));
        }
    }
    return set;
}

RecordSet soa(uint64_t serial, uint32_t ttl) {
    const auto t = std::to_string(ttl);
    return {{render(". " + t + " IN SOA " + std::string(kNsName) + " " + std::string(kMbox) + " " +
                    std::to_string(serial % 4294967296ULL) + " 3600 600 86400 " + t)}};
}

RecordSet chaos_txt(const std::string& text) {
    if (text.empty()) {
        return {};
    }
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            quoted += '\\';
        }
        quoted += c;
    }
    return {{render(". 0 CH TXT " + quoted + "\"")}};
}

} // namespace

std::vector<uint8_t> encode_rr(const ldns_rr* rr) {
    const BufferPtr rdata(ldns_buffer_new(512));
    for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
        if (ldns_rdf2buffer_wire(rdata.get(), ldns_rr_rdf(rr, i)) != LDNS_STATUS_OK) {
            return {};
        }
    }
    const size_t rdlen = ldns_buffer_position(rdata.get());
    if (rdlen > 65535) {
        return {};
    }
    std::vector<uint8_t> out(10);
    put16(out, 0, static_cast<uint16_t>(ldns_rr_get_type(rr)));
    put16(out, 2, static_cast<uint16_t>(ldns_rr_get_class(rr)));
    put32(out, 4, ldns_rr_ttl(rr));
    put16(out, 8, static_cast<uint16_t>(rdlen));
    const auto* begin = ldns_buffer_begin(rdata.get());
    out.insert(out.end(), begin, begin + rdlen);
    return out;
}

std::string_view to_string(AnswerSet s) {
    switch (s) {
    case AnswerSet::Private:
        return "private";
    case AnswerSet::Public:
        return "public";
    case AnswerSet::NxDomain:
        return "nxdomain";
    }
    return "?";
}

std::string to_wire_name(std::string_view text) {
    std::string out;
    size_t start = 0;
    while (start < text.size()) {
        size_t dot = text.find('.', start);
        if (dot == std::string_view::npos) {
            dot = text.size();
        }
        const auto label = text.substr(start, dot - start);
        out += static_cast<char>(label.size());
        for (const char c : label) {
            out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        }
        start = dot + 1;
    }
    out += '\0';
    return out;
}

AnswerSet Cluster::set_for(bool inside) const {
    switch (cfg.access_mode) {
    case config::AccessMode::Public:
        return AnswerSet::Public;
    case config::AccessMode::PublicPrivate:
        return inside ? AnswerSet::Private : AnswerSet::Public;
    case config::AccessMode::Private:
        return inside || cfg.private_outside == config::PrivateOutside::PrivateIps
                   ? AnswerSet::Private
                   : AnswerSet::NxDomain;
    }
    return AnswerSet::Public;
}

VpcTrie vpc_trie(const config::ClusterConfig& c) {
    VpcTrie vpc;
    for (const auto& p : c.vpc_cidrs) {
        vpc.insert(p, {p, true});
    }
    for (const auto& p : c.vpc_exclude_cidrs) {
        vpc.insert(p, {p, false}); // more specific than its vpc_cidrs entry, so it wins
    }
    return vpc;
}

const VpcPrefix* vpc_match(const VpcTrie& vpc, const util::IpAddress& source) {
    return vpc.longest_match(source.unmapped());
}

Decision Cluster::decide(const util::IpAddress& source) const {
    const VpcPrefix* hit = vpc_match(vpc, source);
    const bool inside = hit != nullptr && hit->inside;
    return {inside, set_for(inside), hit != nullptr ? &hit->prefix : nullptr};
}

Decision Cluster::decide_subnet(const util::IpAddress& addr, unsigned len, unsigned& scope) const {
    bool straddles = false;
    const VpcPrefix* hit = vpc.match_prefix(addr, len, scope, straddles);
    const bool inside = !straddles && hit != nullptr && hit->inside;
    return {inside, set_for(inside), straddles || hit == nullptr ? nullptr : &hit->prefix};
}

std::vector<std::string> Cluster::explain(const util::IpAddress& source, uint64_t generation,
                                          std::optional<Listened> listened) const {
    Decision d = decide(source);
    const bool by_listener = listened.has_value();
    if (by_listener) {
        const bool inside = listened->cluster.empty() || listened->cluster == cfg.name;
        d = {inside, set_for(inside), nullptr};
    }
    const auto set = static_cast<size_t>(d.set == AnswerSet::NxDomain ? AnswerSet::Public : d.set);
    std::vector<std::string> out;
    out.push_back("source " + source.to_string() + " cluster " + cfg.name);
    if (by_listener) {
        out.push_back(std::string("in-vpc ") + (d.inside ? "yes" : "no") +
                      ": arrived on a resolver listener (view vpc" +
                      (listened->cluster.empty() ? "" : ":" + std::string(listened->cluster)) +
                      "), whatever the source");
    } else if (d.inside) {
        out.push_back("in-vpc yes: inside vpc_cidrs entry " + d.matched->to_string());
    } else if (d.matched != nullptr) {
        out.push_back("in-vpc no: inside vpc_exclude_cidrs entry " + d.matched->to_string());
    } else {
        out.push_back("in-vpc no: in no vpc_cidrs entry");
    }
    out.push_back("mode " + std::string(config::to_string(cfg.access_mode)) +
                  " (endpointPublicAccess=" +
                  (cfg.access_mode != config::AccessMode::Private ? "true" : "false") +
                  ", endpointPrivateAccess=" +
                  (cfg.access_mode != config::AccessMode::Public ? "true" : "false") + ")");
    if (d.set == AnswerSet::NxDomain) {
        out.push_back("answer nxdomain: private mode with private_outside = nxdomain");
    } else {
        out.push_back("answer " + std::string(to_string(d.set)) + " set (" +
                      std::to_string(a[set].records.size()) + " A, " +
                      std::to_string(aaaa[set].records.size()) + " AAAA)" +
                      (d.set == AnswerSet::Private ? " = the EKS-owned ENIs" : " = the NLB"));
    }
    out.push_back("generation " + std::to_string(generation));
    return out;
}

const Cluster* Snapshot::find_apex(std::string_view name) const {
    // Walk the suffixes from the full name up: the first hit is the longest (closest) apex.
    size_t at = 0;
    while (at < name.size() && name[at] != 0) {
        if (const auto it = by_apex_.find(name.substr(at)); it != by_apex_.end()) {
            return &clusters[it->second];
        }
        at += static_cast<uint8_t>(name[at]) + 1U;
    }
    return nullptr;
}

std::shared_ptr<const Snapshot> build_snapshot(const config::Config& cfg, uint64_t generation,
                                               const std::vector<unsigned>& slots,
                                               std::shared_ptr<const ZoneSet> zones) {
    auto snap = std::make_shared<Snapshot>();
    snap->zones = std::move(zones);
    snap->server = cfg.server;
    snap->generation = generation;
    snap->chaos_identity = chaos_txt(cfg.server.identity);
    snap->chaos_version = chaos_txt(cfg.server.version);
    snap->forwarding = cfg.resolver.enabled();
    for (const auto& p : cfg.resolver.allow_recursion) {
        snap->recursion.insert(p, true);
    }
    for (const auto& p : cfg.server.trusted_ecs_sources) {
        snap->trusted_ecs.insert(p, true);
    }
    snap->clusters.reserve(cfg.clusters.size());
    for (const auto& cc : cfg.clusters) {
        Cluster& c = snap->clusters.emplace_back();
        c.cfg = cc;
        const size_t index = snap->clusters.size() - 1;
        c.slot = index < slots.size() ? slots[index] : static_cast<unsigned>(index);
        c.apex = to_wire_name(cc.endpoint);
        for (size_t i = 0; c.apex[i] != 0; i += static_cast<uint8_t>(c.apex[i]) + 1U) {
            ++c.apex_labels;
        }
        c.vpc = vpc_trie(cc);
        const auto priv = static_cast<size_t>(AnswerSet::Private);
        const auto pub = static_cast<size_t>(AnswerSet::Public);
        c.a[priv] = addresses(cc.private_ips, true, cc.ttl);
        c.aaaa[priv] = addresses(cc.private_ips, false, cc.ttl);
        c.a[pub] = addresses(cc.public_ips, true, cc.ttl);
        c.aaaa[pub] = addresses(cc.public_ips, false, cc.ttl);
        c.soa = soa(generation, cc.ttl);
        c.ns = {{render(". " + std::to_string(cc.ttl) + " IN NS " + std::string(kNsName))}};
        snap->by_apex_.emplace(c.apex, snap->clusters.size() - 1);
    }
    return snap;
}

} // namespace horizon::dns
