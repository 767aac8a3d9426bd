// Test helpers: build queries byte by byte and decode answers with ldns (an independent parser).
#pragma once

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "dns/engine.hpp"
#include "dns/ldns.hpp"
#include "dns/snapshot.hpp"

namespace horizon::test {

struct QueryOptions {
    uint16_t id = 0x1234;
    uint16_t flags = 0x0100; // RD
    uint16_t qclass = 1;
    bool edns = false;
    uint16_t udp_size = 1232;
    uint8_t version = 0;
    bool do_bit = false;
    bool nsid = false;
    std::vector<uint8_t> options; ///< raw EDNS options appended after NSID
};

/// An EDNS Client Subnet option (RFC 7871 §6) for `addr`/`source`.
inline std::vector<uint8_t> ecs_option(const std::string& addr, uint8_t source, uint8_t scope = 0) {
    const auto ip = *util::IpAddress::parse(addr);
    const size_t n = (source + 7U) / 8U;
    std::vector<uint8_t> o = {
        0,      8,    0, static_cast<uint8_t>(4 + n), 0, static_cast<uint8_t>(ip.is_v4() ? 1 : 2),
        source, scope};
    o.insert(o.end(), ip.bytes.begin(), ip.bytes.begin() + static_cast<long>(n));
    return o;
}

inline std::vector<uint8_t> make_query(const std::string& name, uint16_t qtype,
                                       const QueryOptions& o = {}) {
    std::vector<uint8_t> q;
    auto u16 = [&](uint16_t v) {
        q.push_back(static_cast<uint8_t>(v >> 8));
        q.push_back(static_cast<uint8_t>(v));
    };
    u16(o.id);
    u16(o.flags);
    u16(1);
    u16(0);
    u16(0);
    u16(o.edns ? 1 : 0);
    size_t start = 0;
    while (start < name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) {
            dot = name.size();
        }
        q.push_back(static_cast<uint8_t>(dot - start));
        q.insert(q.end(), name.begin() + static_cast<long>(start),
                 name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    q.push_back(0);
    u16(qtype);
    u16(o.qclass);
    if (o.edns) {
        q.push_back(0);
        u16(41);
        u16(o.udp_size);
        q.push_back(0);
        q.push_back(o.version);
        u16(o.do_bit ? 0x8000 : 0);
        u16(static_cast<uint16_t>((o.nsid ? 4 : 0) + o.options.size()));
        if (o.nsid) {
            u16(3);
            u16(0);
        }
        q.insert(q.end(), o.options.begin(), o.options.end());
    }
    return q;
}

struct PktDeleter {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};

using PktPtr = std::unique_ptr<ldns_pkt, PktDeleter>;

inline PktPtr decode(const std::vector<uint8_t>& wire) {
    ldns_pkt* p = nullptr;
    if (ldns_wire2pkt(&p, wire.data(), wire.size()) != LDNS_STATUS_OK) {
        throw std::runtime_error("answer does not decode");
    }
    return PktPtr(p);
}

/// The rdata of every record of `type` in a section, as presentation strings.
inline std::set<std::string> rdata_of(ldns_rr_list* list, ldns_rr_type type) {
    std::set<std::string> out;
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
        ldns_rr* rr = ldns_rr_list_rr(list, i);
        if (ldns_rr_get_type(rr) == type) {
            char* s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
            out.insert(s);
            free(s); // NOLINT(cppcoreguidelines-no-malloc)
        }
    }
    return out;
}

inline std::string owner_of(ldns_rr_list* list, size_t i) {
    char* s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(list, i)));
    std::string out(s);
    free(s); // NOLINT(cppcoreguidelines-no-malloc)
    return out;
}

inline std::shared_ptr<const dns::Snapshot> snapshot_of(const std::string& toml) {
    auto loaded = config::load(toml, "test.toml");
    if (auto* errs = std::get_if<std::vector<config::Diagnostic>>(&loaded)) {
        std::string all;
        for (const auto& d : *errs) {
            all += d.to_string() + "\n";
        }
        throw std::runtime_error("test config does not load:\n" + all);
    }
    return dns::build_snapshot(std::get<config::Config>(loaded), 42);
}

struct Answer {
    dns::Outcome outcome;
    std::vector<uint8_t> wire;
};

inline Answer ask(const dns::Snapshot& snap, const std::vector<uint8_t>& query,
                  const dns::Client& client, bool can_forward = false) {
    std::vector<uint8_t> out(dns::kMaxMessage);
    Answer a{dns::answer(snap, query, client, out, can_forward), {}};
    out.resize(a.outcome.size);
    a.wire = std::move(out);
    return a;
}

inline Answer ask(const dns::Snapshot& snap, const std::vector<uint8_t>& query,
                  const std::string& source, dns::Transport t = dns::Transport::Udp,
                  bool can_forward = false) {
    return ask(snap, query, dns::Client{*util::IpAddress::parse(source), t}, can_forward);
}

} // namespace horizon::test
