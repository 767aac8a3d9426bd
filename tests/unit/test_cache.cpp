// The forwarder's sans-I/O core: normalizing upstream answers (RFC 2308 negative caching, TTL
// caps), writing them for clients (TTL decay, truncation, EDE), the LRU cache, and the RFC 5452
// checks on upstream responses.
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "dns/cache.hpp"
#include "dns/upstream.hpp"
#include "dns_test_util.hpp"

namespace {

using horizon::dns::AnswerOptions;
using horizon::dns::Asker;
using horizon::dns::Cache;
using horizon::dns::CachedAnswer;
using horizon::dns::Match;
using horizon::dns::Query;
using horizon::dns::Rcode;
using horizon::dns::TtlPolicy;
namespace dns = horizon::dns;
namespace flag = horizon::dns::flag;

constexpr uint16_t kA = 1;
constexpr uint16_t kNs = 2;
constexpr uint16_t kCname = 5;
constexpr uint16_t kSoa = 6;
constexpr uint16_t kTxt = 16;
constexpr uint16_t kOpt = 41;

void put16(std::vector<uint8_t>& m, uint16_t v) {
    m.push_back(static_cast<uint8_t>(v >> 8));
    m.push_back(static_cast<uint8_t>(v));
}

void put32(std::vector<uint8_t>& m, uint32_t v) {
    put16(m, static_cast<uint16_t>(v >> 16));
    put16(m, static_cast<uint16_t>(v));
}

uint16_t get16(const std::vector<uint8_t>& m, size_t at) {
    return static_cast<uint16_t>((m[at] << 8) | m[at + 1]);
}

uint32_t get32(const std::vector<uint8_t>& m, size_t at) {
    return (uint32_t{get16(m, at)} << 16) | get16(m, at + 2);
}

std::vector<uint8_t> wire_name(const std::string& name) {
    std::vector<uint8_t> out;
    size_t start = 0;
    while (start < name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) {
            dot = name.size();
        }
        out.push_back(static_cast<uint8_t>(dot - start));
        out.insert(out.end(), name.begin() + static_cast<long>(start),
                   name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    out.push_back(0);
    return out;
}

struct Rr {
    uint16_t type;
    uint32_t ttl;
    std::vector<uint8_t> rdata;
    std::vector<uint8_t> owner = {0xC0, 0x0C}; // the question name
};

std::vector<uint8_t> soa_rdata(uint32_t minimum) {
    std::vector<uint8_t> r = wire_name("ns.example");
    const auto mbox = wire_name("hostmaster.example");
    r.insert(r.end(), mbox.begin(), mbox.end());
    for (const uint32_t v : {1U, 3600U, 600U, 86400U, minimum}) {
        put32(r, v);
    }
    return r;
}

/// An upstream response: the question, then the records of each section.
std::vector<uint8_t> response(const std::string& qname, uint16_t qtype, uint16_t flags,
                              const std::vector<Rr>& an, const std::vector<Rr>& ns = {},
                              const std::vector<Rr>& ar = {}, uint16_t id = 0x4242) {
    std::vector<uint8_t> m;
    put16(m, id);
    put16(m, static_cast<uint16_t>(flag::QR | flags));
    put16(m, 1);
    put16(m, static_cast<uint16_t>(an.size()));
    put16(m, static_cast<uint16_t>(ns.size()));
    put16(m, static_cast<uint16_t>(ar.size()));
    const auto q = wire_name(qname);
    m.insert(m.end(), q.begin(), q.end());
    put16(m, qtype);
    put16(m, 1);
    for (const auto* section : {&an, &ns, &ar}) {
        for (const auto& rr : *section) {
            m.insert(m.end(), rr.owner.begin(), rr.owner.end());
            put16(m, rr.type);
            put16(m, rr.type == kOpt ? 1232 : 1);
            put32(m, rr.ttl);
            put16(m, static_cast<uint16_t>(rr.rdata.size()));
            m.insert(m.end(), rr.rdata.begin(), rr.rdata.end());
        }
    }
    return m;
}

Rr a_record(uint32_t ttl, uint8_t last = 1) {
    return {kA, ttl, {192, 0, 2, last}};
}

Rr opt_record() {
    return {kOpt, 0, {}, {0}};
}

Query parsed(const std::vector<uint8_t>& query) {
    Query q;
    REQUIRE(dns::parse_query(query, q) == dns::ParseStatus::Ok);
    return q;
}

/// The client's view of its own query, as the forwarder keeps it.
struct Client {
    std::vector<uint8_t> wire;
    Query q;
    Asker asker;

    explicit Client(const std::string& name, uint16_t qtype,
                    const horizon::test::QueryOptions& o = {})
        : wire(horizon::test::make_query(name, qtype, o))
        , q(parsed(wire)) {
        asker.id = q.id;
        asker.flags = q.flags;
        asker.question = std::span<const uint8_t>(wire).subspan(12, q.question_end - 12);
        asker.edns = q.edns;
    }
};

CachedAnswer normalized(const std::vector<uint8_t>& m, const TtlPolicy& policy = {}) {
    const auto a = dns::normalize(m, policy);
    REQUIRE(a.has_value());
    return *a;
}

std::vector<uint8_t> written(const CachedAnswer& a, uint32_t age, const Asker& asker,
                             AnswerOptions options = {}, bool* truncated = nullptr) {
    std::vector<uint8_t> out(dns::kMaxMessage);
    const auto w = dns::write_answer(a, age, asker, options, out);
    REQUIRE(w.size > 0);
    out.resize(w.size);
    if (truncated != nullptr) {
        *truncated = w.truncated;
    }
    return out;
}

/// The TTLs of every record in a decoded message's answer and authority sections.
std::vector<uint32_t> ttls_of(const std::vector<uint8_t>& wire) {
    const auto pkt = horizon::test::decode(wire);
    std::vector<uint32_t> out;
    for (auto* list : {ldns_pkt_answer(pkt.get()), ldns_pkt_authority(pkt.get())}) {
        for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
            out.push_back(ldns_rr_ttl(ldns_rr_list_rr(list, i)));
        }
    }
    return out;
}

} // namespace

TEST_CASE("normalize: a positive answer keeps its records, loses the upstream OPT") {
    const auto m = response("WWW.Example.COM", kA, flag::RD | flag::RA | flag::AA,
                            {a_record(300), a_record(300, 2)}, {}, {opt_record()});
    const CachedAnswer a = normalized(m);
    CHECK(a.rcode == Rcode::NoError);
    CHECK_FALSE(a.negative);
    CHECK(a.ttl == 300);
    CHECK(a.ttl_offsets.size() == 2);
    CHECK(a.additional_count == 0);
    CHECK(get16(a.message, 10) == 0); // ARCOUNT without the OPT
    CHECK(a.message.size() == m.size() - 11);
    CHECK(a.message[13] == 'w'); // the question is stored in lower case
    CHECK(a.message[17] == 'e');
}

TEST_CASE(
    "normalize: min_ttl and max_ttl cap every positive TTL; the entry lives as the shortest") {
    const auto m = response("example.com", kA, 0, {a_record(5), a_record(200000, 2)},
                            {{kNs, 100, wire_name("ns.example.com")}});
    const CachedAnswer a = normalized(m, TtlPolicy{60, 86400, 3600});
    std::vector<uint32_t> got;
    for (const auto at : a.ttl_offsets) {
        got.push_back(get32(a.message, at));
    }
    CHECK(got == std::vector<uint32_t>{60, 86400, 100});
    CHECK(a.ttl == 60);
    // RFC 2181 §8: a TTL with the top bit set counts as zero (then capped up by min_ttl).
    const CachedAnswer b = normalized(response("example.com", kA, 0, {a_record(0x80000000U)}));
    CHECK(b.ttl == 0);
}

TEST_CASE("normalize: negative answers per RFC 2308") {
    SUBCASE("NXDOMAIN: the SOA's TTL becomes min(TTL, MINIMUM), capped by negative_ttl") {
        const auto m = response("nx.example.com", kA, 3, {}, {{kSoa, 900, soa_rdata(300)}});
        const CachedAnswer a = normalized(m);
        CHECK(a.rcode == Rcode::NxDomain);
        CHECK(a.negative);
        CHECK(a.ttl == 300);
        CHECK(get32(a.message, a.ttl_offsets[0]) == 300);
        CHECK(normalized(m, TtlPolicy{0, 86400, 60}).ttl == 60);
        CHECK(normalized(response("nx.example.com", kA, 3, {}, {{kSoa, 30, soa_rdata(300)}})).ttl ==
              30);
    }
    SUBCASE("NODATA: NOERROR without the type asked for, even behind a CNAME") {
        const auto m = response("example.com", kTxt, 0, {}, {{kSoa, 600, soa_rdata(120)}});
        const CachedAnswer a = normalized(m);
        CHECK(a.negative);
        CHECK(a.ttl == 120);
        const auto cname =
            response("alias.example.com", kA, 0, {{kCname, 500, wire_name("target.example.com")}},
                     {{kSoa, 600, soa_rdata(90)}});
        const CachedAnswer c = normalized(cname);
        CHECK(c.negative);
        CHECK(c.ttl == 90);
    }
    SUBCASE("without an SOA a negative answer is served but never cached (RFC 2308 §5)") {
        CHECK(normalized(response("nx.example.com", kA, 3, {})).ttl == 0);
        CHECK(normalized(response("example.com", kTxt, 0, {})).ttl == 0);
        CHECK(normalized(
                  response("example.com", kTxt, 0, {}, {{kNs, 600, wire_name("ns.example.com")}}))
                  .ttl == 0);
    }
}

TEST_CASE("normalize: failures, truncated answers and extended RCODEs are never cached") {
    CHECK(normalized(response("example.com", kA, 2, {})).ttl == 0); // SERVFAIL
    CHECK(normalized(response("example.com", kA, 5, {})).ttl == 0); // REFUSED
    const auto tc = normalized(response("example.com", kA, flag::TC, {a_record(300)}));
    CHECK(tc.ttl == 0);
    auto ext = response("example.com", kA, 0, {a_record(300)}, {}, {{kOpt, 0x01000000, {}, {0}}});
    const CachedAnswer e = normalized(ext); // extended RCODE 16 (BADVERS) in the OPT TTL
    CHECK(static_cast<uint16_t>(e.rcode) == 16);
    CHECK(e.ttl == 0);
}

TEST_CASE("normalize: additional records before OPT are kept, OPT and what follows are dropped") {
    const Rr glue{kA, 300, {192, 0, 2, 53}, wire_name("ns.example.com")};
    const auto m = response("example.com", kNs, 0, {{kNs, 300, wire_name("ns.example.com")}}, {},
                            {glue, opt_record(), glue});
    const CachedAnswer a = normalized(m);
    CHECK(a.additional_count == 1);
    CHECK(get16(a.message, 10) == 1);
    CHECK(a.ttl_offsets.size() == 2);
    CHECK(a.additional_at < a.message.size());
}

TEST_CASE("normalize rejects malformed messages") {
    const auto good = response("example.com", kA, 0, {a_record(300)});
    REQUIRE(dns::normalize(good, {}).has_value());
    for (size_t n = 0; n < good.size(); ++n) { // every truncation
        CAPTURE(n);
        CHECK_FALSE(dns::normalize(std::span(good).first(n), {}).has_value());
    }
    auto trailing = good;
    trailing.push_back(0);
    CHECK_FALSE(dns::normalize(trailing, {}).has_value());
    auto two_questions = good;
    two_questions[5] = 2;
    CHECK_FALSE(dns::normalize(two_questions, {}).has_value());
    CHECK_FALSE(dns::normalize(response("example.com", kA, 0, {opt_record()}), {}).has_value());
    auto bad_label = good;
    bad_label[12] = 0x40; // reserved label type
    CHECK_FALSE(dns::normalize(bad_label, {}).has_value());
}

/// Our names for the bailiwick tests: anything at or below "ours".
bool ours(std::string_view name) {
    const std::string_view suffix("\x04ours\x00", 6);
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
}

TEST_CASE("normalize: an upstream's CNAME chain to one of our names is cut there") {
    // alias.example CNAME ep.ours; ep.ours A 192.168.1.10 (owner compressed into the CNAME's
    // RDATA); ep.ours NS in authority. Only the CNAME survives; the rest is ours to answer.
    const std::vector<uint8_t> target = wire_name("ep.ours");
    const size_t rdata_at = 12 + wire_name("alias.example").size() + 4 + 2 + 10;
    const std::vector<uint8_t> ptr = {static_cast<uint8_t>(0xC0 | (rdata_at >> 8)),
                                      static_cast<uint8_t>(rdata_at)};
    const auto m = response("alias.example", kA, flag::AA | 3, // NXDOMAIN from the upstream
                            {{kCname, 300, target}, {kA, 300, {192, 168, 1, 10}, ptr}},
                            {{kNs, 300, wire_name("ns.evil"), ptr}}, {opt_record()});
    const auto a = dns::normalize(m, TtlPolicy{}, ours);
    REQUIRE(a.has_value());
    CHECK(a->cut == std::string(target.begin(), target.end()));
    CHECK(a->rcode == Rcode::NoError); // the last name's RCODE is ours (RFC 6604 §3)
    CHECK_FALSE(a->negative);
    CHECK(a->ttl == 300);
    const auto pkt = horizon::test::decode(a->message);
    REQUIRE(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())) == 1);
    CHECK(horizon::test::owner_of(ldns_pkt_answer(pkt.get()), 0) == "alias.example.");
    CHECK(horizon::test::rdata_of(ldns_pkt_answer(pkt.get()), LDNS_RR_TYPE_CNAME) ==
          std::set<std::string>{"ep.ours."});
    CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(pkt.get())) == 0);
    CHECK(ldns_rr_list_rr_count(ldns_pkt_additional(pkt.get())) == 0);
    std::vector<uint8_t> chain;
    CHECK(dns::answer_records(*a, 100, chain) == 1);
    REQUIRE(chain.size() == wire_name("alias.example").size() + 10 + target.size());
    CHECK(get32(chain, wire_name("alias.example").size() + 4) == 200); // decayed
    // Without the bailiwick check, the upstream's data is kept (what the leak was).
    CHECK(normalized(m).message.size() > a->message.size());
}

TEST_CASE(
    "normalize: records for our names are dropped from every section, the rest decompressed") {
    // www.example A; authority: example NS ns.example (RDATA compressed into the question);
    // additional: ep.ours A 10.0.0.1 (dropped), then ns.example A (owner compressed, kept).
    const size_t ns_rdata = 12 + wire_name("www.example").size() + 4 + 2 + 10 + 4 + 2 + 10;
    const auto m = response("www.example", kA, 0, {a_record(60)},
                            {{kNs, 60, {2, 'n', 's', 0xC0, 16}, {0xC0, 16}}},
                            {{kA, 60, {10, 0, 0, 1}, wire_name("ep.ours")},
                             {kA, 60, {192, 0, 2, 53}, {0xC0, static_cast<uint8_t>(ns_rdata)}},
                             opt_record()});
    const auto a = dns::normalize(m, TtlPolicy{}, ours);
    REQUIRE(a.has_value());
    CHECK(a->cut.empty());
    CHECK(a->ttl == 60);
    const auto pkt = horizon::test::decode(a->message);
    CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())) == 1);
    CHECK(horizon::test::rdata_of(ldns_pkt_authority(pkt.get()), LDNS_RR_TYPE_NS) ==
          std::set<std::string>{"ns.example."});
    REQUIRE(ldns_rr_list_rr_count(ldns_pkt_additional(pkt.get())) == 1);
    CHECK(horizon::test::owner_of(ldns_pkt_additional(pkt.get()), 0) == "ns.example.");
    CHECK(a->additional_count == 1);
    // The question's own name is never "ours" here: it was forwarded for this client.
    const auto own = dns::normalize(response("x.ours", kA, 0, {a_record(60)}), TtlPolicy{}, ours);
    REQUIRE(own.has_value());
    CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(horizon::test::decode(own->message).get())) == 1);
    // Nothing of ours: the message is kept byte for byte (no rewrite).
    const auto plain = response("www.example", kA, 0, {a_record(60)}, {}, {opt_record()});
    CHECK(dns::normalize(plain, TtlPolicy{}, ours)->message == normalized(plain).message);
}

TEST_CASE("write_answer: the client's ID, flags and question; TTLs decayed; our OPT") {
    const CachedAnswer a =
        normalized(response("www.example.com", kA, flag::RD | flag::RA | flag::AA | flag::AD,
                            {a_record(300)}, {}, {opt_record()}));
    horizon::test::QueryOptions o;
    o.id = 0xBEEF;
    o.flags = flag::RD | flag::CD;
    const Client plain("WwW.ExAmPlE.cOm", kA, o);
    const auto out = written(a, 10, plain.asker);
    CHECK(get16(out, 0) == 0xBEEF);
    const uint16_t flags = get16(out, 2);
    CHECK((flags & flag::QR) != 0);
    CHECK((flags & flag::RA) != 0);
    CHECK((flags & flag::RD) != 0);
    CHECK((flags & flag::CD) != 0);
    CHECK((flags & flag::AA) == 0); // we are not the authority
    CHECK((flags & flag::AD) == 0); // nor a validator
    CHECK(std::equal(plain.asker.question.begin(), plain.asker.question.end(), out.begin() + 12));
    CHECK(ttls_of(out) == std::vector<uint32_t>{290});
    CHECK(get16(out, 10) == 0); // no EDNS from the client: no OPT
    CHECK(ttls_of(written(a, 300, plain.asker)) == std::vector<uint32_t>{0});

    horizon::test::QueryOptions e;
    e.edns = true;
    e.do_bit = true;
    e.nsid = true;
    const Client edns("www.example.com", kA, e);
    const auto out2 = written(a, 0, edns.asker, AnswerOptions{1232, "horizon", 65535});
    const auto pkt = horizon::test::decode(out2);
    CHECK(ldns_pkt_edns(pkt.get()));
    CHECK(ldns_pkt_edns_udp_size(pkt.get()) == 1232);
    CHECK(ldns_pkt_edns_do(pkt.get()));
    CHECK(ldns_pkt_ancount(pkt.get()) == 1);
    CHECK(std::string(out2.end() - 7, out2.end()) == "horizon"); // NSID (RFC 5001)
}

TEST_CASE("write_answer: over the client's limit, additional goes first, then TC") {
    std::vector<Rr> many;
    for (uint8_t i = 1; i <= 40; ++i) {
        many.push_back(a_record(300, i));
    }
    const Rr glue{kA, 300, {192, 0, 2, 53}, wire_name("ns.example.com")};
    std::vector<Rr> ns = {{kNs, 300, wire_name("ns.example.com")}};
    const CachedAnswer small =
        normalized(response("example.com", kA, 0, {a_record(300)}, ns, {glue, glue, glue}));
    const Client c("example.com", kA);
    const auto full = written(small, 0, c.asker);
    CHECK(get16(full, 10) == 3);
    bool truncated = true;
    const auto fit =
        written(small, 0, c.asker, AnswerOptions{1232, "", full.size() - 1}, &truncated);
    CHECK_FALSE(truncated);
    CHECK(get16(fit, 6) == 1);
    CHECK(get16(fit, 8) == 1);
    CHECK(get16(fit, 10) == 0);
    CHECK((get16(fit, 2) & flag::TC) == 0);

    const CachedAnswer big = normalized(response("example.com", kA, 0, many));
    const auto tc = written(big, 0, c.asker, AnswerOptions{1232, "", 512}, &truncated);
    CHECK(truncated);
    CHECK((get16(tc, 2) & flag::TC) != 0);
    CHECK(tc.size() == 12 + c.asker.question.size());
    CHECK(get16(tc, 6) == 0);
}

TEST_CASE("write_answer: an answer larger than the output buffer is truncated, not dropped") {
    // A TCP-sized cached answer served through a UDP listener's smaller buffer (RFC 1035 §4.2.1).
    std::vector<Rr> many;
    for (uint8_t i = 1; i <= 250; ++i) {
        many.push_back(a_record(300, i));
    }
    const CachedAnswer big = normalized(response("example.com", kA, 0, many));
    horizon::test::QueryOptions e;
    e.edns = true;
    const Client c("example.com", kA, e);
    std::vector<uint8_t> out(2048);
    REQUIRE(big.message.size() > out.size());
    const auto w = dns::write_answer(big, 0, c.asker, AnswerOptions{1232, "", 65535}, out);
    REQUIRE(w.size > 0);
    CHECK(w.truncated);
    CHECK((get16(out, 2) & flag::TC) != 0);
    CHECK(get16(out, 10) == 1); // our OPT is still there
}

TEST_CASE("write_error: SERVFAIL with an Extended DNS Error (RFC 8914) for EDNS clients") {
    horizon::test::QueryOptions e;
    e.edns = true;
    const Client c("example.com", kA, e);
    std::vector<uint8_t> out(512);
    const auto w = dns::write_error(c.asker, Rcode::ServFail, dns::ede::NoReachableAuthority,
                                    "127.0.0.1:5300 timed out", AnswerOptions{}, out);
    out.resize(w.size);
    CHECK((get16(out, 2) & 0xF) == 2);
    CHECK((get16(out, 2) & flag::RA) != 0);
    CHECK(get16(out, 10) == 1);
    const size_t opt = 12 + c.asker.question.size();
    CHECK(get16(out, opt + 1) == kOpt);
    CHECK(get16(out, opt + 11) == dns::kOptionEde);
    CHECK(get16(out, opt + 13) == 2 + 24);
    CHECK(get16(out, opt + 15) == 22);
    CHECK(std::string(out.begin() + static_cast<long>(opt) + 17, out.end()) ==
          "127.0.0.1:5300 timed out");
    CHECK(horizon::test::decode(out) != nullptr);

    const Client plain("example.com", kA);
    std::vector<uint8_t> out2(512);
    const auto w2 = dns::write_error(plain.asker, Rcode::ServFail, dns::ede::NetworkError, "x",
                                     AnswerOptions{}, out2);
    CHECK(w2.size == 12 + plain.asker.question.size()); // no OPT without EDNS
}

TEST_CASE("cache_key: case-insensitive name, and the type, class, DO and CD bits") {
    const auto key = [](const std::string& name, uint16_t qtype,
                        horizon::test::QueryOptions o = {}) {
        return dns::cache_key(parsed(horizon::test::make_query(name, qtype, o)));
    };
    CHECK(key("Example.COM", kA) == key("example.com", kA));
    CHECK(key("example.com", kA) != key("example.com", kTxt));
    horizon::test::QueryOptions d;
    d.edns = true;
    d.do_bit = true;
    CHECK(key("example.com", kA) != key("example.com", kA, d));
    horizon::test::QueryOptions cd;
    cd.flags = flag::RD | flag::CD;
    CHECK(key("example.com", kA) != key("example.com", kA, cd));
    horizon::test::QueryOptions id;
    id.id = 7;
    CHECK(key("example.com", kA) == key("example.com", kA, id));
}

TEST_CASE("Cache: hits age, entries expire at their TTL, LRU eviction bounds the size") {
    using std::chrono::seconds;
    const auto t0 = Cache::Clock::time_point{} + std::chrono::hours(1);
    Cache cache;
    cache.set_capacity(2);
    const auto answer = [](uint32_t ttl) {
        return normalized(response("a.example", kA, 0, {a_record(ttl)}));
    };

    CHECK_FALSE(cache.lookup("a", t0).has_value());
    cache.insert("a", answer(100), t0);
    auto hit = cache.lookup("a", t0 + std::chrono::milliseconds(9999));
    REQUIRE(hit.has_value());
    CHECK(hit->age == 9);
    hit = cache.lookup("a", t0 + seconds(99));
    REQUIRE(hit.has_value());
    CHECK(hit->age == 99);
    CHECK_FALSE(cache.lookup("a", t0 + seconds(100)).has_value()); // expired: gone
    CHECK(cache.size() == 0);

    cache.insert("zero", answer(0), t0); // TTL 0: never stored
    CHECK(cache.size() == 0);

    cache.insert("a", answer(100), t0);
    cache.insert("b", answer(100), t0);
    CHECK(cache.lookup("a", t0).has_value()); // a is now the most recently used
    cache.insert("c", answer(100), t0);       // evicts b
    CHECK(cache.size() == 2);
    CHECK(cache.lookup("a", t0).has_value());
    CHECK_FALSE(cache.lookup("b", t0).has_value());
    CHECK(cache.lookup("c", t0).has_value());

    cache.insert("c", answer(50), t0 + seconds(10)); // a fresh answer replaces the old one
    hit = cache.lookup("c", t0 + seconds(20));
    REQUIRE(hit.has_value());
    CHECK(hit->age == 10);
    CHECK(hit->answer->ttl == 50);

    cache.set_capacity(1); // shrinking evicts at once
    CHECK(cache.size() == 1);
    cache.set_capacity(0);
    CHECK(cache.size() == 0);
    cache.insert("a", answer(100), t0);
    CHECK(cache.size() == 0);
}

TEST_CASE("Cache: the byte budget counts big answers more") {
    const auto t0 = Cache::Clock::time_point{} + std::chrono::hours(1);
    std::vector<Rr> many;
    for (uint8_t i = 1; i <= 150; ++i) {
        many.push_back({kTxt, 300, std::vector<uint8_t>(20, 'x')});
    }
    const CachedAnswer big = normalized(response("big.example", kTxt, 0, many));
    REQUIRE(big.message.size() > Cache::kBytesPerEntry * 2);
    Cache cache;
    cache.set_capacity(3);
    cache.insert("big", big, t0);
    CHECK(cache.size() == 1);
    cache.insert("small", normalized(response("a.example", kA, 0, {a_record(300)})), t0);
    CHECK(cache.size() == 2);
    cache.insert("big2", big, t0); // 3 entries fit the count, not the bytes
    CHECK(cache.bytes() <= 3 * Cache::kBytesPerEntry);
    CHECK_FALSE(cache.lookup("big", t0).has_value()); // evicted to make room
    CHECK(cache.lookup("big2", t0).has_value());
}

TEST_CASE("write_upstream_query: lower case, RD, CD and DO copied, our OPT and nothing else") {
    horizon::test::QueryOptions o;
    o.id = 0x1111;
    o.flags = flag::CD; // no RD from the client: we still want recursion upstream
    o.edns = true;
    o.do_bit = true;
    o.nsid = true;
    o.udp_size = 4096;
    const Query client = parsed(horizon::test::make_query("WWW.example.COM", kA, o));
    std::vector<uint8_t> out(512);
    out.resize(dns::write_upstream_query(client, 0xABCD, 1232, out));
    const Query up = parsed(out);
    CHECK(up.id == 0xABCD);
    CHECK((up.flags & flag::RD) != 0);
    CHECK((up.flags & flag::CD) != 0);
    CHECK(up.lower_name() == client.lower_name());
    CHECK(out[13] == 'w'); // sent in lower case
    CHECK(up.edns.present);
    CHECK(up.edns.do_bit);
    CHECK(up.edns.udp_size == 1232);
    CHECK_FALSE(up.edns.nsid);
}

TEST_CASE("match_response: RFC 5452 §9.1 ID and question checks") {
    const Query q = parsed(horizon::test::make_query("www.example.com", kA));
    const auto ok = response("WWW.EXAMPLE.com", kA, 0, {a_record(300)}, {}, {}, 0x4242);
    CHECK(dns::match_response(ok, 0x4242, q) == Match::Ok);
    CHECK(dns::match_response(ok, 0x4243, q) == Match::WrongId);
    CHECK(dns::match_response(response("www.example.org", kA, 0, {}), 0x4242, q) ==
          Match::WrongQuestion);
    CHECK(dns::match_response(response("www.example.com", kTxt, 0, {}), 0x4242, q) ==
          Match::WrongQuestion);
    CHECK(dns::match_response(response("www.example.co", kA, 0, {}), 0x4242, q) ==
          Match::WrongQuestion);
    auto query_bit = ok;
    query_bit[2] &= 0x7F; // QR=0: a query, not a response
    CHECK(dns::match_response(query_bit, 0x4242, q) == Match::NotAResponse);
    auto no_question = ok;
    no_question[5] = 0;
    CHECK(dns::match_response(no_question, 0x4242, q) == Match::WrongQuestion);
    // Cut mid-message (a TCP frame whose length covers only part of the answer): Short, not
    // "another question" (issue 17 item 12).
    CHECK(dns::match_response(std::span(ok).first(11), 0x4242, q) == Match::Short);
    CHECK(dns::match_response(std::span(ok).first(20), 0x4242, q) == Match::Short);
    CHECK(dns::match_response(std::span(ok).first(31), 0x4242, q) == Match::Short);
}

TEST_CASE("normalize: additional records the answer does not call for are scrubbed") {
    // www.example MX 10 mail.example; authority: example NS ns.example, example NS ns.elsewhere.
    // Additional: mail.example A and ns.example AAAA (named hosts, in bailiwick: kept),
    // evil.test A (named by nothing), ns.elsewhere A (named, outside the forward zone "example"
    // in the second case), mail.example TXT (not an address).
    std::vector<uint8_t> mx = {0, 10};
    const auto mail = wire_name("mail.example");
    mx.insert(mx.end(), mail.begin(), mail.end());
    const auto m = response("www.example", 15, 0, {{15, 60, mx}},
                            {{kNs, 60, wire_name("ns.example"), wire_name("example")},
                             {kNs, 60, wire_name("ns.elsewhere"), wire_name("example")}},
                            {{kA, 60, {192, 0, 2, 25}, mail},
                             {28, 60, std::vector<uint8_t>(16, 1), wire_name("ns.example")},
                             {kA, 60, {6, 6, 6, 6}, wire_name("evil.test")},
                             {kA, 60, {192, 0, 2, 99}, wire_name("ns.elsewhere")},
                             {kTxt, 60, {2, 'h', 'i'}, mail},
                             opt_record()});
    const auto owners = [](const CachedAnswer& a) {
        const auto pkt = horizon::test::decode(a.message);
        std::set<std::string> out;
        for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_additional(pkt.get())); ++i) {
            out.insert(horizon::test::owner_of(ldns_pkt_additional(pkt.get()), i) + " " +
                       std::to_string(
                           ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_additional(pkt.get()), i))));
        }
        return out;
    };
    const auto root = dns::normalize(m, TtlPolicy{});
    REQUIRE(root.has_value());
    CHECK(owners(*root) ==
          std::set<std::string>{"mail.example. 1", "ns.example. 28", "ns.elsewhere. 1"});
    CHECK(root->additional_count == 3);
    const auto zone = wire_name("example");
    const auto fwd =
        dns::normalize(m, TtlPolicy{}, {},
                       std::string_view(reinterpret_cast<const char*>(zone.data()), zone.size()));
    REQUIRE(fwd.has_value());
    CHECK(owners(*fwd) == std::set<std::string>{"mail.example. 1", "ns.example. 28"});
    // The answer and authority sections are untouched.
    const auto pkt = horizon::test::decode(fwd->message);
    CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())) == 1);
    CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(pkt.get())) == 2);
    // A clean answer is kept byte for byte.
    const auto clean = response("www.example", kA, 0, {a_record(60)}, {}, {opt_record()});
    CHECK(dns::normalize(clean, TtlPolicy{})->message == normalized(clean).message);
}
