// The query engine: parse, decide, and write the answer from the snapshot's precomputed records.
#include "dns/engine.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "dns/zone.hpp"

namespace horizon::dns {

namespace {

constexpr std::string_view kChaosNames[] = {
    // id.server and hostname.bind answer the identity, version.bind the version
    {"\x02id\x06server", 10},
    {"\x08hostname\x04"
     "bind",
     14},
    {"\x07version\x04"
     "bind",
     13},
};

/// CNAME hops followed inside our zones before answering with the chain so far (a loop bound;
/// RFC 1034 §3.6.2 forbids loops, but a zone file may still hold one).
constexpr unsigned kMaxCnameChain = 8;

/// A zone record to write: its owner (lower-case wire, owned by the query or the snapshot) and
/// TYPE CLASS TTL RDLENGTH RDATA.
struct RrRef {
    std::string_view owner;
    const std::vector<uint8_t>* rr = nullptr;
};

enum Section : uint8_t { AnswerSection, AuthoritySection, AdditionalSection };

/// What goes into the sections after the question. Owners are offsets into the message, where
/// the question name (or one of its suffixes) already stands: a compression pointer names them.
struct Reply {
    Rcode rcode = Rcode::NoError;
    bool aa = false;
    bool ra = false; ///< RFC 1035 §4.1.1: recursion available to this client
    bool echo_question = true;
    bool opt = false; ///< append our OPT (the query had EDNS)
    const RecordSet* answer = nullptr;
    uint16_t answer_owner = kHeaderSize;
    const RecordSet* authority = nullptr;
    uint16_t authority_owner = kHeaderSize;
    bool ecs = false; ///< echo the client's ECS option with `ecs_scope` (RFC 7871 §7.2.1)
    uint8_t ecs_scope = 0;
    /// Records that open the answer section, names uncompressed: a forwarded CNAME chain that
    /// reached one of our names (answer_forwarded).
    std::span<const uint8_t> prefix;
    uint16_t prefix_count = 0;
    /// Zone answers, written after `answer`/`authority`, owners by name (compressed).
    std::array<std::vector<RrRef>, 3> zone;

    void add(Section s, std::string_view owner, const RecordSet* set) {
        if (set != nullptr) {
            for (const auto& rr : set->records) {
                zone[s].push_back({owner, &rr});
            }
        }
    }

    /// One more part of the answer decided by a trusted ECS: the whole is valid only where every
    /// part is, so its SCOPE is the most specific (longest) of them (RFC 7871 §7.2.1).
    void merge_ecs(bool part_ecs, unsigned scope) {
        if (part_ecs) {
            ecs_scope = static_cast<uint8_t>(ecs ? std::max<unsigned>(ecs_scope, scope) : scope);
            ecs = true;
        }
    }
};

/// Names already in the message, for RFC 1035 §4.1.4 compression: (lower-case wire suffix,
/// offset). Matching is by lower-case bytes; what the pointer reaches keeps the client's case.
class NameTable {
public:
    void add(std::string_view name, size_t offset) {
        if (n_ < entries_.size() && offset < 0x4000) {
            entries_[n_++] = {name, static_cast<uint16_t>(offset)};
        }
    }

    [[nodiscard]] int find(std::string_view name) const {
        for (size_t i = 0; i < n_; ++i) {
            if (entries_[i].first == name) {
                return entries_[i].second;
            }
        }
        return -1;
    }

private:
    std::array<std::pair<std::string_view, uint16_t>, 64> entries_{};
    size_t n_ = 0;
};

void write_name(Writer& w, std::string_view name, NameTable& names) {
    size_t at = 0;
    while (at < name.size() && name[at] != 0) {
        const std::string_view suffix = name.substr(at);
        if (const int offset = names.find(suffix); offset >= 0) {
            w.u16(static_cast<uint16_t>(0xC000U | static_cast<unsigned>(offset)));
            return;
        }
        names.add(suffix, w.size());
        const size_t len = static_cast<uint8_t>(name[at]) + 1U;
        w.bytes(name.substr(at, len));
        at += len;
    }
    w.u8(0);
}

void write_refs(Writer& w, const std::vector<RrRef>& refs, NameTable& names, uint16_t& count) {
    for (const auto& ref : refs) {
        write_name(w, ref.owner, names);
        w.bytes(*ref.rr);
        ++count;
    }
}

void write_set(Writer& w, const RecordSet* set, uint16_t owner, uint16_t& count) {
    if (set == nullptr) {
        return;
    }
    for (const auto& rr : set->records) {
        w.u16(static_cast<uint16_t>(0xC000U | owner)); // RFC 1035 §4.1.4 compression pointer
        w.bytes(rr);
        ++count;
    }
}

/// RFC 6891 §6.1.2/§6.1.3: our OPT, carrying the upper bits of an extended RCODE; DO copied per
/// RFC 3225 §3; NSID per RFC 5001 §2.3 when asked for and we have an identity; the client's ECS
/// with our SCOPE when a trusted ECS decided (RFC 7871 §7.2.1).
OptRecord our_opt(const Snapshot& snap, const Query& q, const Reply& r) {
    OptRecord o;
    o.udp_payload = snap.server.udp_payload;
    o.rcode = r.rcode;
    o.do_bit = q.edns.do_bit;
    if (q.edns.nsid) {
        o.nsid = snap.server.identity;
    }
    if (r.ecs) { // FAMILY, SOURCE and ADDRESS as sent, our SCOPE
        o.ecs = true;
        o.ecs_addr = q.edns.ecs_addr;
        o.ecs_source = q.edns.ecs_source;
        o.ecs_scope = r.ecs_scope;
    }
    return o;
}

/// Writes the whole message; if it does not fit in `limit`, writes the truncated form instead:
/// question and OPT only, TC=1 (RFC 1035 §4.2.1, RFC 2181 §9, RFC 6891 §7).
size_t write_reply(Writer& w, const Snapshot& snap, std::span<const uint8_t> query, const Query& q,
                   const Reply& r, size_t limit, bool& truncated) {
    // RFC 1035 §4.1.1: RD is copied into the response; RFC 4035 §3.2.2: so is CD. Both (and AD,
    // RFC 6840 §5.8) are defined for QUERY only: any other opcode gets its opcode back and
    // nothing else (RFC 8906 §3.1.4; a compliance test's "opcodeflg").
    const bool is_query = (q.flags & flag::OpcodeMask) == 0;
    uint16_t flags = flag::QR | (q.flags & flag::OpcodeMask);
    flags |= static_cast<uint16_t>(is_query ? q.flags & (flag::RD | flag::CD) : 0);
    flags |= static_cast<uint16_t>(r.aa ? flag::AA : 0);
    flags |= static_cast<uint16_t>(r.ra ? flag::RA : 0);
    flags |= static_cast<uint16_t>(static_cast<uint16_t>(r.rcode) & 0xF);
    // The question as received (0x20 kept); the counts are patched below.
    w.header(q.id, flags, r.echo_question ? 1 : 0, 0);
    if (r.echo_question) {
        w.bytes(query.subspan(kHeaderSize, q.question_end - kHeaderSize));
    }
    const size_t after_question = w.size();
    NameTable names;
    if (r.echo_question) {
        for (unsigned i = 0; i < q.label_count; ++i) {
            names.add(q.lower_suffix(i), kHeaderSize + q.labels[i]);
        }
    }
    uint16_t an = r.prefix_count;
    uint16_t ns = 0;
    uint16_t ar = 0;
    w.bytes(r.prefix);
    write_set(w, r.answer, r.answer_owner, an);
    write_refs(w, r.zone[AnswerSection], names, an);
    write_set(w, r.authority, r.authority_owner, ns);
    write_refs(w, r.zone[AuthoritySection], names, ns);
    // Only referral glue goes here, and it is required glue (RFC 9471 §3): when it does not
    // fit, the whole answer is truncated rather than sent without it.
    write_refs(w, r.zone[AdditionalSection], names, ar);
    const OptRecord opt = our_opt(snap, q, r);
    if (r.opt) {
        w.opt(opt);
    }
    truncated = w.overflow() || w.size() > limit;
    if (truncated) {
        w.truncate(after_question, r.opt ? &opt : nullptr);
        return w.size();
    }
    w.put_u16_at(6, an);
    w.put_u16_at(8, ns);
    w.put_u16_at(10, static_cast<uint16_t>(ar + (r.opt ? 1 : 0)));
    return w.size();
}

/// CHAOS-class server identification (id.server RFC 4892, hostname.bind, version.bind).
void answer_chaos(const Snapshot& snap, const Query& q, Reply& r) {
    const auto name = q.lower_name().substr(0, q.name_len - 1);
    const auto* hit = std::find(std::begin(kChaosNames), std::end(kChaosNames), name);
    if (hit == std::end(kChaosNames)) {
        r.rcode = Rcode::Refused;
        return;
    }
    const bool version = hit == std::end(kChaosNames) - 1;
    const RecordSet& set = version ? snap.chaos_version : snap.chaos_identity;
    if (set.empty()) {
        r.rcode = Rcode::Refused; // configured off
        return;
    }
    r.aa = true;
    if (q.qtype == type::TXT || q.qtype == type::ANY) {
        r.answer = &set;
    }
}

/// CHAOS TXT at an endpoint name explains the decision for the asking source (a lab aid, like
/// id.server): one TXT record whose strings are Cluster::explain's lines.
RecordSet explain_txt(const Snapshot& snap, const Cluster& c, const Client& client) {
    std::vector<uint8_t> rr = {0, type::TXT, 0, qclass::CH, 0, 0, 0, 0, 0, 0};
    std::optional<Listened> listened;
    if (client.vpc_listener) {
        listened = Listened{client.vpc_cluster};
    }
    for (const auto& line : c.explain(client.addr, snap.generation, listened)) {
        const size_t n = std::min<size_t>(line.size(), 255); // RFC 1035 §3.3: <character-string>
        rr.push_back(static_cast<uint8_t>(n));
        rr.insert(rr.end(), line.begin(), line.begin() + static_cast<std::ptrdiff_t>(n));
    }
    const size_t rdlen = rr.size() - 10;
    rr[8] = static_cast<uint8_t>(rdlen >> 8);
    rr[9] = static_cast<uint8_t>(rdlen);
    return {{std::move(rr)}};
}

/// The subnet a trusted ECS option names, as the VPC prefixes see it: an IPv4-mapped IPv6
/// subnet (::ffff:a.b.c.d/96+n) is the IPv4 subnet a.b.c.d/n, as a mapped source address is.
/// `offset` is added back to a SCOPE, which is in the option's own family (RFC 7871 §7.2.1).
struct EcsSubnet {
    util::IpAddress addr;
    unsigned len = 0;
    unsigned offset = 0;
};

EcsSubnet ecs_subnet(const Edns& e) {
    if (e.ecs_source >= 96) {
        if (const util::IpAddress v4 = e.ecs_addr.unmapped(); v4.is_v4()) {
            return {v4, e.ecs_source - 96U, 96};
        }
    }
    return {e.ecs_addr, e.ecs_source, 0};
}

/// View selection, the one place for it: whether `client` counts as inside cluster `c`'s VPC
/// and so which answer set it gets. In order: a resolver listener decides for its cluster(s)
/// (and outside for any other: it is not their VPC's resolver); then a trusted forwarder's ECS
/// subnet (RFC 7871 §7.1.1); then the source address. ECS from anyone else is ignored, so a
/// spoofed ECS never obtains private IPs. Sets `r.ecs`/`r.ecs_scope` when a trusted ECS option
/// is to be echoed (RFC 7871 §7.2.1).
Decision classify(const Snapshot& snap, const Cluster& c, const Query& q, const Client& client,
                  Reply& r) {
    const bool trusted_ecs = q.edns.ecs && snap.ecs_trusted(client.addr);
    if (client.vpc_listener) {
        const bool inside = client.vpc_cluster.empty() || client.vpc_cluster == c.cfg.name;
        if (trusted_ecs) {
            r.ecs = true;
            r.ecs_scope = 0; // §7.2.1: the answer is the same for every client subnet
        }
        return {inside, c.set_for(inside), nullptr};
    }
    if (trusted_ecs && q.edns.ecs_source == 0) {
        // RFC 7871 §7.1.2: SOURCE 0, the client opted out: the forwarder's own address decides,
        // and the answer says SCOPE 0.
        r.ecs = true;
        r.ecs_scope = 0;
        return c.decide(client.addr);
    }
    if (trusted_ecs) {
        unsigned scope = 0;
        const EcsSubnet sn = ecs_subnet(q.edns);
        Decision d = c.decide_subnet(sn.addr, sn.len, scope);
        r.ecs = true;
        r.ecs_scope = static_cast<uint8_t>(scope + sn.offset);
        return d;
    }
    return c.decide(client.addr);
}

/// The endpoint zone: EKS-FACTS §2 decides the address set; RFC 1034 §4.3.2 the rest. `name`
/// (lower-case wire) is the endpoint name or below it.
void answer_endpoint(const Cluster& c, std::string_view name, uint16_t qtype, const Decision& d,
                     Reply& r) {
    const std::string_view apex = name.substr(name.size() - c.apex.size());
    r.aa = true;
    if (d.set == AnswerSet::NxDomain) {
        // The public zone had no such name: NXDOMAIN with the parent zone's SOA (RFC 2308 §3).
        r.rcode = Rcode::NxDomain;
        r.add(AuthoritySection, apex.substr(static_cast<uint8_t>(apex[0]) + 1U), &c.soa);
        return;
    }
    if (name.size() != apex.size()) { // nothing exists under an endpoint name
        r.rcode = Rcode::NxDomain;
        r.add(AuthoritySection, apex, &c.soa);
        return;
    }
    const auto set = static_cast<size_t>(d.set);
    const RecordSet* found = nullptr;
    switch (qtype) {
    case type::A:
        found = &c.a[set];
        break;
    case type::AAAA:
        found = &c.aaaa[set];
        break;
    case type::SOA:
        found = &c.soa;
        break;
    case type::NS:
        found = &c.ns;
        break;
    case type::ANY: // RFC 8482 §4.2: answer with one RRset, the one clients most likely want
        found = !c.a[set].empty() ? &c.a[set] : !c.aaaa[set].empty() ? &c.aaaa[set] : &c.soa;
        break;
    default:
        break;
    }
    if (found == nullptr || found->empty()) {
        // NODATA: NOERROR, empty answer, SOA in authority (RFC 2308 §2.2)
        r.add(AuthoritySection, apex, &c.soa);
        return;
    }
    r.add(AnswerSection, apex, found);
}

bool answer_name(const Snapshot& snap, std::string_view name, const Query& q, const Client& client,
                 Reply& r);

/// Authoritative data from a zone (RFC 1034 §4.3.2 step 3, RFC 4592 wildcards, RFC 2308
/// negative answers). `zone` holds the question name and is served to `view`.
void answer_zone(const Snapshot& snap, const Zone* zone, config::View view, std::string_view name,
                 const Query& q, const Client& client, Reply& r) {
    r.aa = true;
    std::array<std::string_view, kMaxCnameChain> chain{};
    for (unsigned hop = 0;; ++hop) {
        chain[hop] = name;
        const ZoneMatch m = zone->lookup(name, q.qtype == type::DS);
        if (m.kind == ZoneMatch::NxDomain) {
            // RFC 2308 §3 (SOA TTL = min(TTL, MINIMUM)); after a CNAME, the rcode is the last
            // name's (RFC 6604 §3).
            r.rcode = Rcode::NxDomain;
            r.add(AuthoritySection, zone->origin, &zone->negative_soa);
            return;
        }
        if (m.kind == ZoneMatch::Delegation) {
            // Step 3b, a referral: not authoritative for what lies below the cut (unless one of
            // our CNAMEs led here, RFC 1035 §4.1.1), the cut's NS in authority, glue in
            // additional for the name servers inside this zone.
            r.aa = hop > 0;
            r.add(AuthoritySection, m.owner, m.node->find(type::NS));
            for (const auto& target : m.node->ns_targets) {
                if (const ZoneNode* glue = zone->node(target); glue != nullptr) {
                    r.add(AdditionalSection, target, glue->find(type::A));
                    r.add(AdditionalSection, target, glue->find(type::AAAA));
                }
            }
            return;
        }
        const ZoneNode& node = *m.node; // the name's own node, or the wildcard synthesising it
        if (!node.cname_target.empty() && q.qtype != type::CNAME && q.qtype != type::ANY) {
            r.add(AnswerSection, name, node.find(type::CNAME));
            // Step 3a: restart at the canonical name, if it is in a zone of this view; an
            // endpoint name gets the endpoint's answer for this client (stub resolvers do not
            // follow CNAMEs). Anything else (another server's name, a loop, a chain too long)
            // ends the answer here; the client's resolver follows the last CNAME itself.
            const std::string_view target = node.cname_target;
            if (snap.find_apex(target) != nullptr) {
                answer_name(snap, target, q, client, r);
                return;
            }
            if (hop + 1 >= kMaxCnameChain || std::find(chain.begin(), chain.begin() + hop + 1,
                                                       target) != chain.begin() + hop + 1) {
                return;
            }
            const Zone* next = snap.zones->find(target, view);
            if (next == nullptr) {
                return;
            }
            zone = next;
            name = target;
            continue;
        }
        const RecordSet* found = nullptr;
        if (q.qtype == type::ANY) {
            // RFC 8482 §4.2: one RRset, the one a client most likely wants (as for endpoints).
            for (const uint16_t t : {type::A, type::AAAA, type::SOA}) {
                found = found != nullptr ? found : node.find(t);
            }
            if (found == nullptr && !node.rrsets.empty()) {
                found = &node.rrsets.front().set;
            }
        } else {
            found = node.find(q.qtype);
        }
        if (found == nullptr) {
            // NODATA, also at an empty non-terminal or a wildcard without the type (RFC 2308 §2.2,
            // RFC 4592 §2.2.2).
            r.add(AuthoritySection, zone->origin, &zone->negative_soa);
            return;
        }
        r.add(AnswerSection, name, found); // a wildcard's records take the name asked for
        return;
    }
}

/// "Answer this name for this client and append": our answer for `name` (lower-case wire) to the
/// question's type, as this client's view sees it (endpoint decision and ECS scope included),
/// added to `r` after what it holds: the CNAME chain that led here, ours or an upstream's.
/// False, with nothing added, when `name` is not ours for this client.
bool answer_name(const Snapshot& snap, std::string_view name, const Query& q, const Client& client,
                 Reply& r) {
    if (const Cluster* c = snap.find_apex(name); c != nullptr) {
        Reply part;
        const Decision d = classify(snap, *c, q, client, part);
        r.merge_ecs(part.ecs, part.ecs_scope);
        answer_endpoint(*c, name, q.qtype, d, r);
        return true;
    }
    if (!snap.zones) {
        return false;
    }
    const ZoneView view = zone_view(snap, client, q);
    const Zone* zone = snap.zones->find(name, view.view);
    if (zone == nullptr) {
        return false;
    }
    r.merge_ecs(view.ecs, view.scope);
    answer_zone(snap, zone, view.view, name, q, client, r);
    return true;
}

} // namespace

size_t answer_limit(const Snapshot& snap, const Edns& edns, Transport transport) {
    if (transport != Transport::Udp) {
        return kMaxMessage;
    }
    return edns.present
               ? std::min<size_t>(std::max<size_t>(512, edns.udp_size), snap.server.udp_payload)
               : 512;
}

ZoneView zone_view(const Snapshot& snap, const Client& client, const Query& q) {
    ZoneView v;
    if (client.vpc_listener) {
        // A resolver listener is a VPC's own resolver ("vpc" or "vpc:<cluster>" alike): its
        // queries see the vpc zones, for every subnet a trusted ECS names (RFC 7871 §7.2.1).
        v.view = config::View::Vpc;
        v.ecs = q.edns.ecs && snap.ecs_trusted(client.addr);
        return v;
    }
    bool inside = false;
    const bool trusted_ecs = q.edns.ecs && snap.ecs_trusted(client.addr);
    if (trusted_ecs && q.edns.ecs_source != 0) {
        // RFC 7871 §7.2.1: SCOPE is the prefix over which the view cannot change. Inside one
        // cluster's VPC over its whole scope means vpc over that prefix; outside every one, the
        // longest scope covers them all (a straddling subnet gives the full length).
        v.ecs = true;
        unsigned inside_scope = 0;
        unsigned outside_scope = 0;
        const EcsSubnet sn = ecs_subnet(q.edns);
        for (const auto& c : snap.clusters) {
            unsigned scope = 0;
            if (c.decide_subnet(sn.addr, sn.len, scope).inside) {
                inside_scope = inside ? std::min(inside_scope, scope) : scope;
                inside = true;
            } else {
                outside_scope = std::max(outside_scope, scope);
            }
        }
        v.scope = (inside ? inside_scope : outside_scope) + sn.offset;
    } else {
        v.ecs = trusted_ecs; // SOURCE 0 (RFC 7871 §7.1.2): by the forwarder's address, SCOPE 0
        inside = std::any_of(snap.clusters.begin(), snap.clusters.end(),
                             [&](const Cluster& c) { return c.decide(client.addr).inside; });
    }
    v.view = inside ? config::View::Vpc : config::View::Public;
    return v;
}

Outcome answer(const Snapshot& snap, std::span<const uint8_t> query, const Client& client,
               std::span<uint8_t> out, bool can_forward) {
    Query q;
    return answer(snap, query, q, client, out, can_forward);
}

Outcome answer(const Snapshot& snap, std::span<const uint8_t> query, Query& q, const Client& client,
               std::span<uint8_t> out, bool can_forward) {
    Outcome o;
    const ParseStatus st = parse_query(query, q);
    if (st == ParseStatus::Drop) {
        return o;
    }
    Reply r;
    RecordSet explained; // the CHAOS explain answer, built per query (a rare, diagnostic path)
    switch (st) {
    case ParseStatus::NotImp:
        r.rcode = Rcode::NotImp;
        r.echo_question = false;
        r.opt = q.edns.present; // RFC 6891 §6.1.1, RFC 8906 §3.2: EDNS in, EDNS out
        break;
    case ParseStatus::FormErrHeader:
        r.rcode = Rcode::FormErr;
        r.echo_question = false;
        break;
    case ParseStatus::FormErrQuestion:
        r.rcode = Rcode::FormErr;
        r.opt = q.edns_error; // RFC 6891 §7: a FORMERR about the OPT carries an OPT
        break;
    default:
        break;
    }
    if (st == ParseStatus::Ok) {
        o.qtype = q.qtype;
        o.name_len = q.name_len;
        r.opt = q.edns.present;
        r.ra = can_forward && snap.recursion_allowed(client.addr);
        if (q.edns.present && q.edns.version > 0) {
            r.rcode = Rcode::BadVers; // RFC 6891 §6.1.3: we speak only version 0
        } else if (q.qclass == qclass::CH) {
            const Cluster* c = snap.find_apex(q.lower_name());
            if (c != nullptr && q.label_count == c->apex_labels) {
                o.cluster = c;
                Reply ignored; // no ECS option in a CHAOS answer
                o.decision = classify(snap, *c, q, client, ignored);
                r.aa = true;
                if (q.qtype == type::TXT || q.qtype == type::ANY) {
                    explained = explain_txt(snap, *c, client);
                    r.answer = &explained;
                }
            } else {
                answer_chaos(snap, q, r);
            }
        } else if (q.qclass != qclass::IN) {
            r.rcode = Rcode::Refused;
        } else if (const Cluster* c = snap.find_apex(q.lower_name()); c == nullptr) {
            // Not an endpoint name (those win over any zone holding them): a zone of the
            // client's view, or not ours at all.
            const Zone* zone = nullptr;
            ZoneView view;
            if (snap.zones) {
                view = zone_view(snap, client, q);
                zone = snap.zones->find(q.lower_name(), view.view);
            }
            if (zone == nullptr) {
                if (r.ra) {
                    o.forward = true; // not ours, and this client may recurse through us
                    o.rcode = Rcode::NoError;
                    return o;
                }
                r.rcode = Rcode::Refused; // RFC 8906 §3.1.3: not authoritative, no recursion
            } else if (q.qtype == type::AXFR || q.qtype == type::IXFR) {
                r.rcode = Rcode::Refused; // zone transfers are not offered (RFC 5936 §2.2.1)
            } else if (q.qtype == type::MAILA || q.qtype == type::MAILB) {
                r.rcode = Rcode::NotImp;
            } else {
                o.zone = zone;
                o.decision.inside = view.view == config::View::Vpc;
                r.ecs = view.ecs;
                r.ecs_scope = static_cast<uint8_t>(view.scope);
                answer_zone(snap, zone, view.view, q.lower_name(), q, client, r);
            }
        } else if (q.qtype == type::AXFR || q.qtype == type::IXFR) {
            r.rcode = Rcode::Refused; // zone transfers are not offered (RFC 5936 §2.2.1)
        } else if (q.qtype == type::MAILA || q.qtype == type::MAILB) {
            r.rcode = Rcode::NotImp;
        } else {
            o.cluster = c;
            o.decision = classify(snap, *c, q, client, r);
            answer_endpoint(*c, q.lower_name(), q.qtype, o.decision, r);
        }
    }
    const size_t limit =
        answer_limit(snap, st == ParseStatus::Ok ? q.edns : Edns{}, client.transport);
    Writer w(out.first(std::min(out.size(), kMaxMessage)));
    o.size = write_reply(w, snap, query, q, r, limit, o.truncated);
    o.rcode = r.rcode;
    return o;
}

Outcome answer_forwarded(const Snapshot& snap, std::span<const uint8_t> query, const Query& q,
                         const Client& client, std::span<const uint8_t> chain, uint16_t chain_count,
                         std::string_view cut, std::span<uint8_t> out) {
    Outcome o;
    o.qtype = q.qtype;
    o.name_len = q.name_len;
    Reply r;
    r.opt = q.edns.present;
    r.ra = true; // only a client allowed recursion gets a forwarded answer
    r.prefix = chain;
    r.prefix_count = chain_count;
    // Not ours for this client (a zone its view does not see): the chain ends at the CNAME.
    answer_name(snap, cut, q, client, r);
    // RFC 1035 §4.1.1: AA speaks for the question's name (the first owner), whose data is the
    // upstream's here; as for any forwarded answer, AA is clear.
    r.aa = false;
    Writer w(out.first(std::min(out.size(), kMaxMessage)));
    o.size = write_reply(w, snap, query, q, r, answer_limit(snap, q.edns, client.transport),
                         o.truncated);
    o.rcode = r.rcode;
    return o;
}

} // namespace horizon::dns
