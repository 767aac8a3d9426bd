// dns::Resolver driven through a scripted fake transport: no socket, explicit time.
#include <doctest/doctest.h>

#include "dns/resolver.hpp"
#include "dns_test_util.hpp"

using namespace horizon;
using namespace horizon::test;
using Kind = dns::Command::Kind;

namespace {

struct Lab {
    dns::SocketBudget budget;
    uint16_t next_id = 100;
    dns::Resolver r{budget, [this] { return next_id++; }};
    std::shared_ptr<const dns::Snapshot> snap;
    std::shared_ptr<config::ResolverConfig> cfg;
    dns::TimePoint now{};

    Lab() {
        auto loaded = config::load(std::string(config::default_text()), "default");
        auto c = std::get<config::Config>(loaded);
        c.resolver.upstreams = {*util::Endpoint::parse("127.0.0.1:5300"),
                                *util::Endpoint::parse("127.0.0.2:5300")};
        c.resolver.allow_recursion = {*util::Cidr::parse("127.10.0.0/16")};
        snap = dns::build_snapshot(c, 1);
        cfg = std::make_shared<config::ResolverConfig>(c.resolver);
        r.configure(snap, cfg);
    }

    dns::Commands ask(dns::ClientId id, const std::string& name, const char* src = "127.10.0.5") {
        QueryOptions o;
        o.id = static_cast<uint16_t>(id);
        const auto wire = make_query(name, LDNS_RR_TYPE_A, o);
        dns::Query q;
        REQUIRE(dns::parse_query(wire, q) == dns::ParseStatus::Ok);
        return r.on_query(id, wire, q, {*util::IpAddress::parse(src), dns::Transport::Udp}, now);
    }
};

/// An upstream's answer to `send` (an A record, TTL 60), with `flags` added.
std::vector<uint8_t> answer_to(const dns::Command& send, uint16_t flags = 0) {
    std::vector<uint8_t> m = send.message;
    m.resize(m.size() - 11); // without our OPT
    dns::put16(m, 2, static_cast<uint16_t>(0x8180 | flags));
    m[10] = m[11] = 0;
    m[6] = 0;
    m[7] = 1;
    m.insert(m.end(), {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1});
    return m;
}

const dns::Command* find(const dns::Commands& cs, Kind k) {
    for (const auto& c : cs) {
        if (c.kind == k) {
            return &c;
        }
    }
    return nullptr;
}

} // namespace

TEST_CASE("resolver: lost replies go to the next upstream, then SERVFAIL with EDE 22") {
    Lab lab;
    auto cs = lab.ask(1, "a.example.test");
    const auto* send = find(cs, Kind::Send);
    REQUIRE(send != nullptr);
    CHECK(send->upstream.to_string() == "127.0.0.1:5300");
    CHECK(find(cs, Kind::ArmTimer) != nullptr);
    cs = lab.r.on_timeout(send->attempt, lab.now);
    CHECK(find(cs, Kind::Close) != nullptr);
    const auto* second = find(cs, Kind::Send);
    REQUIRE(second != nullptr);
    CHECK(second->upstream.to_string() == "127.0.0.2:5300");
    cs = lab.r.on_timeout(second->attempt, lab.now);
    const auto* reply = find(cs, Kind::Reply);
    REQUIRE(reply != nullptr);
    CHECK(reply->outcome.rcode == dns::Rcode::ServFail);
    CHECK(lab.r.pending() == 0);
    CHECK(lab.budget.open.load() == 0);
}

TEST_CASE("resolver: wrong ID, wrong source ignored; TC retried over TCP; coalescing; cache") {
    Lab lab;
    auto cs = lab.ask(1, "b.example.test");
    const dns::Command send = *find(cs, Kind::Send);
    CHECK(lab.ask(2, "B.example.test").empty()); // coalesced: nothing more goes upstream
    auto wrong = answer_to(send);
    dns::put16(wrong, 0, static_cast<uint16_t>(dns::get16(wrong, 0) + 1));
    CHECK(lab.r.on_response(send.attempt, send.upstream, wrong, lab.now).empty());
    CHECK(lab.r
              .on_response(send.attempt, *util::Endpoint::parse("127.9.9.9:53"), answer_to(send),
                           lab.now)
              .empty());
    CHECK(lab.r.ignored() == 2);
    cs = lab.r.on_response(send.attempt, send.upstream, answer_to(send, dns::flag::TC), lab.now);
    const auto* tcp = find(cs, Kind::Send);
    REQUIRE(tcp != nullptr);
    CHECK(tcp->tcp);
    cs = lab.r.on_response(tcp->attempt, tcp->upstream, answer_to(*tcp), lab.now);
    CHECK(std::count_if(cs.begin(), cs.end(), [](auto& c) { return c.kind == Kind::Reply; }) == 2);
    // From the cache while the TTL lasts, upstream again after it.
    lab.now += std::chrono::seconds(30);
    cs = lab.ask(3, "b.example.test");
    REQUIRE(find(cs, Kind::Reply) != nullptr);
    CHECK(find(cs, Kind::Reply)->via == "cache");
    lab.now += std::chrono::seconds(31);
    CHECK(find(lab.ask(4, "b.example.test"), Kind::Send) != nullptr);
}

TEST_CASE("resolver: REFUSED without allow_recursion, RA clear") {
    Lab lab;
    const auto cs = lab.ask(1, "c.example.test", "192.0.2.1");
    const auto* reply = find(cs, Kind::Reply);
    REQUIRE(reply != nullptr);
    CHECK(reply->outcome.rcode == dns::Rcode::Refused);
    CHECK((dns::get16(reply->message, 2) & dns::flag::RA) == 0);
    CHECK(find(cs, Kind::Send) == nullptr);
}

TEST_CASE("resolver: a slow upstream's late answer is ignored; so is one to another question") {
    Lab lab;
    auto cs = lab.ask(1, "d.example.test");
    const dns::Command first = *find(cs, Kind::Send);
    lab.now += std::chrono::seconds(1);
    cs = lab.r.on_timeout(first.attempt, lab.now);
    const auto* next = find(cs, Kind::Send);
    REQUIRE(next != nullptr);
    const dns::Command second = *next;
    // The first upstream answers after its attempt timed out: that attempt is gone.
    CHECK(lab.r.on_response(first.attempt, first.upstream, answer_to(first), lab.now).empty());
    CHECK(lab.r.pending() == 1);
    // RFC 5452 §4.2: an answer whose question is not ours is not taken.
    auto other = answer_to(second);
    other[13] = 'x'; // d.example.test -> x.example.test
    CHECK(lab.r.on_response(second.attempt, second.upstream, other, lab.now).empty());
    CHECK(lab.r.pending() == 1);
    cs = lab.r.on_response(second.attempt, second.upstream, answer_to(second), lab.now);
    const auto* reply = find(cs, Kind::Reply);
    REQUIRE(reply != nullptr);
    CHECK(reply->outcome.rcode == dns::Rcode::NoError);
    CHECK(lab.r.pending() == 0);
}

TEST_CASE("resolver: a TCP answer cut mid-message is reported as cut, not as another question") {
    Lab lab;
    QueryOptions o;
    o.id = 7;
    o.edns = true; // so the SERVFAIL carries its EDE text (RFC 8914 §2)
    const auto wire = make_query("cut.example.test", LDNS_RR_TYPE_A, o);
    dns::Query q;
    REQUIRE(dns::parse_query(wire, q) == dns::ParseStatus::Ok);
    auto cs = lab.r.on_query(7, wire, q,
                             {*util::IpAddress::parse("127.10.0.5"), dns::Transport::Udp}, lab.now);
    const dns::Command send = *find(cs, Kind::Send);
    cs = lab.r.on_response(send.attempt, send.upstream, answer_to(send, dns::flag::TC), lab.now);
    const dns::Command tcp = *find(cs, Kind::Send);
    REQUIRE(tcp.tcp);
    const auto whole = answer_to(tcp);
    SUBCASE("cut inside the question") {
        cs = lab.r.on_response(tcp.attempt, tcp.upstream, std::span(whole).first(20), lab.now);
    }
    SUBCASE("cut inside the answer records") {
        cs = lab.r.on_response(tcp.attempt, tcp.upstream, std::span(whole).first(whole.size() - 3),
                               lab.now);
    }
    const auto* next = find(cs, Kind::Send);
    REQUIRE(next != nullptr); // on to the next upstream
    cs = lab.r.on_timeout(next->attempt, lab.now);
    const auto* reply = find(cs, Kind::Reply);
    REQUIRE(reply != nullptr);
    CHECK(reply->outcome.rcode == dns::Rcode::ServFail);
    const std::string text(reply->message.begin(), reply->message.end());
    CHECK(text.find("another question") == std::string::npos);
    const bool cut = text.find("cut short over TCP") != std::string::npos ||
                     text.find("malformed answer over TCP") != std::string::npos;
    CHECK(cut);
}
