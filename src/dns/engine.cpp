// The query engine: parse, decide, and write the answer from the snapshot's precomputed records.
#include "dns/engine.hpp"

#include <algorithm>

namespace horizon::dns {

namespace {

constexpr std::string_view kChaosNames[] = {
    // id.server and hostname.bind answer the identity, version.bind the version
    {"\x02id\x06server", 10},
    {"\x08hostname\x04" "bind", 14},
    {"\x07version\x04" "bind", 13},
};

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
};

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
/// RFC 3225 §3; NSID per RFC 5001 §2.3 when asked for and we have an identity.
void write_opt(Writer& w, const Snapshot& snap, const Query& q, const Reply& r) {
    w.u8(0); // root owner
    w.u16(type::OPT);
    w.u16(snap.server.udp_payload);
    w.u8(static_cast<uint8_t>(static_cast<uint16_t>(r.rcode) >> 4));
    w.u8(0); // VERSION 0
    w.u16(q.edns.do_bit ? 0x8000 : 0);
    const std::string& id = snap.server.identity;
    const bool nsid = q.edns.nsid && !id.empty();
    const size_t ecs_bytes = (q.edns.ecs_source + 7U) / 8U;
    size_t rdlen = nsid ? 4 + id.size() : 0;
    rdlen += r.ecs ? 8 + ecs_bytes : 0;
    w.u16(static_cast<uint16_t>(rdlen));
    if (nsid) {
        w.u16(kOptionNsid);
        w.u16(static_cast<uint16_t>(id.size()));
        w.bytes(id);
    }
    if (r.ecs) { // FAMILY, SOURCE and ADDRESS as sent, our SCOPE
        w.u16(kOptionEcs);
        w.u16(static_cast<uint16_t>(4 + ecs_bytes));
        w.u16(q.edns.ecs_addr.is_v4() ? 1 : 2);
        w.u8(q.edns.ecs_source);
        w.u8(r.ecs_scope);
        w.bytes(std::span<const uint8_t>(q.edns.ecs_addr.bytes.data(), ecs_bytes));
    }
}

/// Writes the whole message; if it does not fit in `limit`, writes the truncated form instead:
/// question and OPT only, TC=1 (RFC 1035 §4.2.1, RFC 2181 §9, RFC 6891 §7).
size_t write_reply(Writer& w, const Snapshot& snap, std::span<const uint8_t> query, const Query& q,
                   const Reply& r, size_t limit, bool& truncated) {
    uint16_t flags = flag::QR | (q.flags & (flag::OpcodeMask | flag::RD | flag::CD));
    flags |= static_cast<uint16_t>(r.aa ? flag::AA : 0);
    flags |= static_cast<uint16_t>(r.ra ? flag::RA : 0);
    flags |= static_cast<uint16_t>(static_cast<uint16_t>(r.rcode) & 0xF);
    w.u16(q.id);
    w.u16(flags);
    w.u16(r.echo_question ? 1 : 0);
    w.u32(0); // ANCOUNT, NSCOUNT: patched below
    w.u16(0); // ARCOUNT
    if (r.echo_question) {
        w.bytes(query.subspan(kHeaderSize, q.question_end - kHeaderSize)); // as received (0x20)
    }
    const size_t after_question = w.size();
    uint16_t an = 0;
    uint16_t ns = 0;
    write_set(w, r.answer, r.answer_owner, an);
    write_set(w, r.authority, r.authority_owner, ns);
    if (r.opt) {
        write_opt(w, snap, q, r);
    }
    truncated = w.overflow() || w.size() > limit;
    if (truncated) {
        w.rewind(after_question);
        an = 0;
        ns = 0;
        if (r.opt) {
            write_opt(w, snap, q, r);
        }
        w.put_u16_at(2, flags | flag::TC);
    }
    w.put_u16_at(6, an);
    w.put_u16_at(8, ns);
    w.put_u16_at(10, r.opt ? 1 : 0);
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
RecordSet explain_txt(const Snapshot& snap, const Cluster& c, const util::IpAddress& source) {
    std::vector<uint8_t> rr = {0, type::TXT, 0, qclass::CH, 0, 0, 0, 0, 0, 0};
    for (const auto& line : c.explain(source, snap.generation)) {
        const size_t n = std::min<size_t>(line.size(), 255); // RFC 1035 §3.3: <character-string>
        rr.push_back(static_cast<uint8_t>(n));
        rr.insert(rr.end(), line.begin(), line.begin() + static_cast<std::ptrdiff_t>(n));
    }
    const size_t rdlen = rr.size() - 10;
    rr[8] = static_cast<uint8_t>(rdlen >> 8);
    rr[9] = static_cast<uint8_t>(rdlen);
    return {{std::move(rr)}};
}

/// The endpoint zone: EKS-FACTS §2 decides the address set; RFC 1034 §4.3.2 the rest.
void answer_endpoint(const Cluster& c, const Query& q, const Decision& d, Reply& r) {
    const unsigned below = q.label_count - c.apex_labels; // labels in front of the apex
    const auto apex_owner = static_cast<uint16_t>(kHeaderSize + q.labels[below]);
    r.aa = true;
    r.authority_owner = apex_owner;
    if (d.set == AnswerSet::NxDomain) {
        // The public zone had no such name: NXDOMAIN with the parent zone's SOA (RFC 2308 §3).
        const size_t parent = below + 1 < q.label_count ? q.labels[below + 1] : q.name_len - 1;
        r.rcode = Rcode::NxDomain;
        r.authority = &c.soa;
        r.authority_owner = static_cast<uint16_t>(kHeaderSize + parent);
        return;
    }
    if (below > 0) { // nothing exists under an endpoint name
        r.rcode = Rcode::NxDomain;
        r.authority = &c.soa;
        return;
    }
    const auto set = static_cast<size_t>(d.set);
    const RecordSet* found = nullptr;
    switch (q.qtype) {
    case type::A: found = &c.a[set]; break;
    case type::AAAA: found = &c.aaaa[set]; break;
    case type::SOA: found = &c.soa; break;
    case type::NS: found = &c.ns; break;
    case type::ANY: // RFC 8482 §4.2: answer with one RRset, the one clients most likely want
        found = !c.a[set].empty() ? &c.a[set] : !c.aaaa[set].empty() ? &c.aaaa[set] : &c.soa;
        break;
    default: break;
    }
    if (found == nullptr || found->empty()) {
        r.authority = &c.soa; // NODATA: NOERROR, empty answer, SOA in authority (RFC 2308 §2.2)
        return;
    }
    r.answer = found;
    r.answer_owner = apex_owner;
}

} // namespace

Outcome answer(const Snapshot& snap, std::span<const uint8_t> query, const Client& client,
               std::span<uint8_t> out, bool can_forward) {
    Outcome o;
    Query q;
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
        break;
    case ParseStatus::FormErrHeader:
        r.rcode = Rcode::FormErr;
        r.echo_question = false;
        break;
    case ParseStatus::FormErrQuestion:
        r.rcode = Rcode::FormErr;
        r.opt = q.edns_error; // RFC 6891 §7: a FORMERR about the OPT carries an OPT
        break;
    default: break;
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
                o.decision = c->decide(client.addr);
                r.aa = true;
                if (q.qtype == type::TXT || q.qtype == type::ANY) {
                    explained = explain_txt(snap, *c, client.addr);
                    r.answer = &explained;
                }
            } else {
                answer_chaos(snap, q, r);
            }
        } else if (q.qclass != qclass::IN) {
            r.rcode = Rcode::Refused;
        } else if (const Cluster* c = snap.find_apex(q.lower_name()); c == nullptr) {
            if (r.ra) {
                o.forward = true; // not ours, and this client may recurse through us
                o.rcode = Rcode::NoError;
                return o;
            }
            r.rcode = Rcode::Refused; // RFC 8906 §3.1.3: not authoritative, no recursion for it
        } else if (q.qtype == type::AXFR || q.qtype == type::IXFR) {
            r.rcode = Rcode::Refused; // zone transfers are not offered (RFC 5936 §2.2.1)
        } else if (q.qtype == type::MAILA || q.qtype == type::MAILB) {
            r.rcode = Rcode::NotImp;
        } else {
            o.cluster = c;
            if (q.edns.ecs && snap.ecs_trusted(client.addr)) {
                // RFC 7871 §7.1.1: a trusted forwarder speaks for its client's subnet.
                unsigned scope = 0;
                o.decision = c->decide_subnet(q.edns.ecs_addr, q.edns.ecs_source, scope);
                r.ecs = true;
                r.ecs_scope = static_cast<uint8_t>(scope);
            } else {
                o.decision = c->decide(client.addr); // any other ECS is ignored
            }
            answer_endpoint(*c, q, o.decision, r);
        }
    }
    // RFC 6891 §6.2.5: the client's size, at least 512, capped by ours; 512 without EDNS
    // (RFC 1035 §4.2.1). TCP is limited only by the frame length (RFC 7766 §8).
    size_t limit = kMaxMessage;
    if (client.transport == Transport::Udp) {
        limit = q.edns.present && st == ParseStatus::Ok
                    ? std::min<size_t>(std::max<size_t>(512, q.edns.udp_size),
                                       snap.server.udp_payload)
                    : 512;
    }
    Writer w(out.first(std::min(out.size(), kMaxMessage)));
    o.size = write_reply(w, snap, query, q, r, limit, o.truncated);
    o.rcode = r.rcode;
    return o;
}

} // namespace horizon::dns
