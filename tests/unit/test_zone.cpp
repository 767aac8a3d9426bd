// Zones: [[zone]] loading, master-file checks with their file:LINE messages, and the engine's
// authoritative answers from zone data (both views, CNAME, wildcards, delegations, negatives).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "dns/zone.hpp"
#include "dns_test_util.hpp"

using namespace horizon;
using namespace horizon::test;

namespace {

const char* const kConfig = R"(
[server]
listen = ["127.0.0.1:1053"]
udp_payload = 1232

[[cluster]]
name = "lab"
region = "ap-northeast-2"
endpoint = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com"
vpc_cidrs = ["10.0.0.0/16", "127.10.0.0/16"]
vpc_exclude_cidrs = ["127.10.99.0/24"]
private_ips = ["10.0.1.10"]
public_ips = ["203.0.113.10"]

[resolver]
upstreams = ["127.0.0.1:5300"]
allow_recursion = ["127.0.0.0/8"]
)";

// The VPC's side of the split zone: every feature once.
const char* const kVpcZone = R"($ORIGIN lab.internal.
$TTL 300
@       3600 IN SOA ns1 hostmaster 2024010101 3600 600 86400 60
@            IN NS  ns1
ns1          IN A   10.0.0.53
www          IN A   10.0.0.10
www          IN A   10.0.0.11
alias        IN CNAME www
chain        IN CNAME alias
ext          IN CNAME www.example.com.
loop1        IN CNAME loop2
loop2        IN CNAME loop1
vpconly      IN CNAME only.corp.internal.
toeks        IN CNAME CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com.
*.apps       IN A   10.0.1.1
*.apps       IN TXT "wild"
a.b.apps     IN A   10.0.1.2
*.cname      IN CNAME www
sub          IN NS  ns.sub
sub          IN NS  ns.elsewhere.example.
ns.sub       IN A   10.0.5.53
big          IN TXT "0123456789012345678901234567890123456789012345678901234567890123456789"
big          IN TXT "1123456789012345678901234567890123456789012345678901234567890123456789"
big          IN TXT "2123456789012345678901234567890123456789012345678901234567890123456789"
big          IN TXT "3123456789012345678901234567890123456789012345678901234567890123456789"
big          IN TXT "4123456789012345678901234567890123456789012345678901234567890123456789"
big          IN TXT "5123456789012345678901234567890123456789012345678901234567890123456789"
big          IN TXT "6123456789012345678901234567890123456789012345678901234567890123456789"
)";

// The public side: SOA TTL below MINIMUM, so the negative TTL is the SOA TTL (RFC 2308 §3).
const char* const kPublicZone = R"($ORIGIN lab.internal.
@    20 IN SOA ns1.lab.internal. hostmaster.lab.internal. 7 3600 600 86400 600
@   300 IN NS  ns1.lab.internal.
ns1 300 IN A   203.0.113.53
www 300 IN A   203.0.113.80
tocorp 300 IN CNAME only.corp.internal.
toeks 300 IN CNAME CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com.
)";

const char* const kCorpZone = R"(@ 300 IN SOA ns hostmaster 1 3600 600 86400 120
@ 300 IN NS ns
ns 300 IN A 10.0.0.54
only 300 IN A 10.0.9.9
)";

// A zone holding a cluster endpoint name: the endpoint keeps its own answers.
const char* const kEksZone = R"(@ 300 IN SOA ns hostmaster 1 3600 600 86400 120
@ 300 IN NS ns
ns 300 IN A 10.0.0.55
other 300 IN A 10.0.7.7
)";

config::ZoneConfig zone_cfg(const std::string& path, const std::string& origin, bool vpc,
                            bool pub) {
    config::ZoneConfig z;
    z.file = path;
    z.path = path;
    z.origin = origin;
    z.vpc = vpc;
    z.pub = pub;
    return z;
}

dns::Zone parse_ok(const char* text, const config::ZoneConfig& cfg) {
    auto r = dns::parse_zone(text, cfg);
    if (auto* errors = std::get_if<std::vector<dns::ZoneError>>(&r)) {
        std::string all;
        for (const auto& e : *errors) {
            all += e.to_string() + "\n";
        }
        FAIL_CHECK(all);
        throw std::runtime_error("zone does not load");
    }
    return std::get<dns::Zone>(std::move(r));
}

std::shared_ptr<const dns::Snapshot> make_snapshot() {
    auto loaded = config::load(kConfig, "test.toml");
    REQUIRE(std::holds_alternative<config::Config>(loaded));
    std::vector<dns::Zone> zones;
    zones.push_back(
        parse_ok(kVpcZone, zone_cfg("zones/lab.internal.vpc.zone", "lab.internal", true, false)));
    zones.push_back(parse_ok(
        kPublicZone, zone_cfg("zones/lab.internal.public.zone", "lab.internal", false, true)));
    zones.push_back(parse_ok(kCorpZone, zone_cfg("zones/corp.zone", "corp.internal", true, false)));
    zones.push_back(parse_ok(
        kEksZone, zone_cfg("zones/eks.zone", "gr7.ap-northeast-2.eks.amazonaws.com", true, true)));
    return dns::build_snapshot(std::get<config::Config>(loaded), 42, {},
                               std::make_shared<const dns::ZoneSet>(std::move(zones)));
}

const dns::Snapshot& snap() {
    static const auto s = make_snapshot();
    return *s;
}

/// A section as "owner TTL CLASS TYPE RDATA" lines, in message order.
std::vector<std::string> lines(ldns_rr_list* list) {
    std::vector<std::string> out;
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
        char* s = ldns_rr2str(ldns_rr_list_rr(list, i));
        std::string line(s);
        free(s); // NOLINT(cppcoreguidelines-no-malloc)
        std::replace(line.begin(), line.end(), '\t', ' ');
        while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) {
            line.pop_back();
        }
        out.push_back(line);
    }
    return out;
}

/// One line per element, so that doctest prints what differs.
std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& line : v) {
        out += line + "\n";
    }
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

constexpr const char* kVpc = "127.10.0.5";
constexpr const char* kOut = "127.0.0.1";
constexpr const char* kExcluded = "127.10.99.5"; // in vpc_exclude_cidrs: public

const char* const kVpcSoa = "lab.internal. 60 IN SOA ns1.lab.internal. hostmaster.lab.internal. "
                            "2024010101 3600 600 86400 60";
const char* const kPubSoa = "lab.internal. 20 IN SOA ns1.lab.internal. hostmaster.lab.internal. "
                            "7 3600 600 86400 600";

struct Case {
    const char* what;
    const char* source;
    const char* name;
    uint16_t qtype;
    dns::Rcode rcode;
    bool aa;
    std::vector<std::string> answer;     // compared as sets
    std::vector<std::string> authority;  // compared as sets
    std::vector<std::string> additional; // compared as sets (OPT excluded)
};

const std::vector<Case> kCases = {
    // Both views of the split zone.
    {"vpc view",
     kVpc,
     "www.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"www.lab.internal. 300 IN A 10.0.0.10", "www.lab.internal. 300 IN A 10.0.0.11"},
     {},
     {}},
    {"public view",
     kOut,
     "www.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"www.lab.internal. 300 IN A 203.0.113.80"},
     {},
     {}},
    {"excluded source is public",
     kExcluded,
     "www.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"www.lab.internal. 300 IN A 203.0.113.80"},
     {},
     {}},
    {"mixed case",
     kVpc,
     "WwW.LaB.InTeRnAl",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"WwW.LaB.InTeRnAl. 300 IN A 10.0.0.10", "WwW.LaB.InTeRnAl. 300 IN A 10.0.0.11"},
     {},
     {}},
    {"apex SOA",
     kOut,
     "lab.internal",
     LDNS_RR_TYPE_SOA,
     dns::Rcode::NoError,
     true,
     {"lab.internal. 20 IN SOA ns1.lab.internal. hostmaster.lab.internal. 7 3600 600 86400 600"},
     {},
     {}},
    {"apex NS",
     kVpc,
     "lab.internal",
     LDNS_RR_TYPE_NS,
     dns::Rcode::NoError,
     true,
     {"lab.internal. 300 IN NS ns1.lab.internal."},
     {},
     {}},
    // Negative answers: SOA TTL = min(SOA TTL, MINIMUM) (RFC 2308 §3), both directions.
    {"NXDOMAIN vpc (MINIMUM < TTL)",
     kVpc,
     "nope.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NxDomain,
     true,
     {},
     {kVpcSoa},
     {}},
    {"NXDOMAIN public (TTL < MINIMUM)",
     kOut,
     "alias.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NxDomain,
     true,
     {},
     {kPubSoa},
     {}},
    {"NODATA",
     kVpc,
     "www.lab.internal",
     LDNS_RR_TYPE_AAAA,
     dns::Rcode::NoError,
     true,
     {},
     {kVpcSoa},
     {}},
    // CNAME chasing inside our zones (RFC 1034 §4.3.2 step 3a).
    {"CNAME",
     kVpc,
     "alias.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"alias.lab.internal. 300 IN CNAME www.lab.internal.", "www.lab.internal. 300 IN A 10.0.0.10",
      "www.lab.internal. 300 IN A 10.0.0.11"},
     {},
     {}},
    {"CNAME chain",
     kVpc,
     "chain.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"chain.lab.internal. 300 IN CNAME alias.lab.internal.",
      "alias.lab.internal. 300 IN CNAME www.lab.internal.", "www.lab.internal. 300 IN A 10.0.0.10",
      "www.lab.internal. 300 IN A 10.0.0.11"},
     {},
     {}},
    {"CNAME then NODATA",
     kVpc,
     "alias.lab.internal",
     LDNS_RR_TYPE_AAAA,
     dns::Rcode::NoError,
     true,
     {"alias.lab.internal. 300 IN CNAME www.lab.internal."},
     {kVpcSoa},
     {}},
    {"CNAME asked for itself",
     kVpc,
     "alias.lab.internal",
     LDNS_RR_TYPE_CNAME,
     dns::Rcode::NoError,
     true,
     {"alias.lab.internal. 300 IN CNAME www.lab.internal."},
     {},
     {}},
    {"CNAME out of our zones",
     kVpc,
     "ext.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"ext.lab.internal. 300 IN CNAME www.example.com."},
     {},
     {}},
    {"CNAME loop ends",
     kVpc,
     "loop1.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"loop1.lab.internal. 300 IN CNAME loop2.lab.internal.",
      "loop2.lab.internal. 300 IN CNAME loop1.lab.internal."},
     {},
     {}},
    {"CNAME into another zone of the view",
     kVpc,
     "vpconly.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"vpconly.lab.internal. 300 IN CNAME only.corp.internal.",
      "only.corp.internal. 300 IN A 10.0.9.9"},
     {},
     {}},
    {"CNAME into a zone the view does not see is not followed",
     kOut,
     "tocorp.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"tocorp.lab.internal. 300 IN CNAME only.corp.internal."},
     {},
     {}},
    // A CNAME to an endpoint name gets the endpoint's answer for the same client.
    {"CNAME to an endpoint name, inside: private IPs",
     kVpc,
     "toeks.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"toeks.lab.internal. 300 IN CNAME "
      "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com.",
      "cccccccccccccccccccccccccccccccc.gr7.ap-northeast-2.eks.amazonaws.com. 60 IN A 10.0.1.10"},
     {},
     {}},
    {"CNAME to an endpoint name, outside: public IPs",
     kOut,
     "toeks.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"toeks.lab.internal. 300 IN CNAME "
      "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com.",
      "cccccccccccccccccccccccccccccccc.gr7.ap-northeast-2.eks.amazonaws.com. 60 IN A "
      "203.0.113.10"},
     {},
     {}},
    {"CNAME to an endpoint name, no AAAA there: NODATA with the endpoint's SOA",
     kOut,
     "toeks.lab.internal",
     LDNS_RR_TYPE_AAAA,
     dns::Rcode::NoError,
     true,
     {"toeks.lab.internal. 300 IN CNAME "
      "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com."},
     {"cccccccccccccccccccccccccccccccc.gr7.ap-northeast-2.eks.amazonaws.com. 60 IN SOA "
      "ns.horizon.invalid. hostmaster.horizon.invalid. 42 3600 600 86400 60"},
     {}},
    {"ANY at a CNAME is the CNAME (RFC 8482)",
     kVpc,
     "alias.lab.internal",
     LDNS_RR_TYPE_ANY,
     dns::Rcode::NoError,
     true,
     {"alias.lab.internal. 300 IN CNAME www.lab.internal."},
     {},
     {}},
    // Wildcards (RFC 4592).
    {"wildcard",
     kVpc,
     "web.apps.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"web.apps.lab.internal. 300 IN A 10.0.1.1"},
     {},
     {}},
    {"wildcard, several labels",
     kVpc,
     "x.y.apps.lab.internal",
     LDNS_RR_TYPE_TXT,
     dns::Rcode::NoError,
     true,
     {"x.y.apps.lab.internal. 300 IN TXT \"wild\""},
     {},
     {}},
    {"NODATA at a wildcard",
     kVpc,
     "web.apps.lab.internal",
     LDNS_RR_TYPE_AAAA,
     dns::Rcode::NoError,
     true,
     {},
     {kVpcSoa},
     {}},
    {"empty non-terminal: NODATA",
     kVpc,
     "b.apps.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {},
     {kVpcSoa},
     {}},
    {"empty non-terminal blocks the wildcard above",
     kVpc,
     "c.b.apps.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NxDomain,
     true,
     {},
     {kVpcSoa},
     {}},
    {"the wildcard's own name",
     kVpc,
     "*.apps.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"*.apps.lab.internal. 300 IN A 10.0.1.1"},
     {},
     {}},
    {"apps itself is an empty non-terminal",
     kVpc,
     "apps.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {},
     {kVpcSoa},
     {}},
    {"wildcard CNAME is chased",
     kVpc,
     "foo.cname.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"foo.cname.lab.internal. 300 IN CNAME www.lab.internal.",
      "www.lab.internal. 300 IN A 10.0.0.10", "www.lab.internal. 300 IN A 10.0.0.11"},
     {},
     {}},
    // Delegation: a referral, AA=0, NS in authority, in-zone glue in additional (§4.3.2 3b).
    {"referral below the cut",
     kVpc,
     "host.sub.lab.internal",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     false,
     {},
     {"sub.lab.internal. 300 IN NS ns.sub.lab.internal.",
      "sub.lab.internal. 300 IN NS ns.elsewhere.example."},
     {"ns.sub.lab.internal. 300 IN A 10.0.5.53"}},
    {"referral at the cut",
     kVpc,
     "sub.lab.internal",
     LDNS_RR_TYPE_NS,
     dns::Rcode::NoError,
     false,
     {},
     {"sub.lab.internal. 300 IN NS ns.sub.lab.internal.",
      "sub.lab.internal. 300 IN NS ns.elsewhere.example."},
     {"ns.sub.lab.internal. 300 IN A 10.0.5.53"}},
    {"DS at the cut is the parent's: NODATA",
     kVpc,
     "sub.lab.internal",
     LDNS_RR_TYPE_DS,
     dns::Rcode::NoError,
     true,
     {},
     {kVpcSoa},
     {}},
    // ANY: one RRset (RFC 8482 §4.2).
    {"ANY at the apex",
     kVpc,
     "lab.internal",
     LDNS_RR_TYPE_ANY,
     dns::Rcode::NoError,
     true,
     {"lab.internal. 3600 IN SOA ns1.lab.internal. hostmaster.lab.internal. 2024010101 3600 600 "
      "86400 60"},
     {},
     {}},
    {"ANY at a name with A",
     kVpc,
     "www.lab.internal",
     LDNS_RR_TYPE_ANY,
     dns::Rcode::NoError,
     true,
     {"www.lab.internal. 300 IN A 10.0.0.10", "www.lab.internal. 300 IN A 10.0.0.11"},
     {},
     {}},
    // Endpoint names keep their answers inside a zone that holds them.
    {"endpoint wins over a zone",
     kVpc,
     "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com. 60 IN A 10.0.1.10"},
     {},
     {}},
    {"the zone around the endpoint",
     kOut,
     "other.gr7.ap-northeast-2.eks.amazonaws.com",
     LDNS_RR_TYPE_A,
     dns::Rcode::NoError,
     true,
     {"other.gr7.ap-northeast-2.eks.amazonaws.com. 300 IN A 10.0.7.7"},
     {},
     {}},
};

} // namespace

TEST_CASE("zones: authoritative answers, table-driven") {
    for (const auto& c : kCases) {
        for (const auto t : {dns::Transport::Udp, dns::Transport::Tcp}) {
            const std::string what = c.what;
            CAPTURE(what);
            const std::string qname = c.name;
            CAPTURE(qname);
            CAPTURE(t == dns::Transport::Udp ? "udp" : "tcp");
            QueryOptions o;
            o.edns = true;
            const auto a = ask(snap(), make_query(c.name, c.qtype, o), c.source, t, true);
            REQUIRE(a.outcome.size > 0);
            CHECK_FALSE(a.outcome.forward);
            const auto pkt = decode(a.wire);
            CHECK(static_cast<int>(ldns_pkt_get_rcode(pkt.get())) == static_cast<int>(c.rcode));
            CHECK(ldns_pkt_aa(pkt.get()) == c.aa);
            CHECK_FALSE(ldns_pkt_tc(pkt.get()));
            CHECK(ldns_pkt_ra(pkt.get())); // 127.x may recurse here
            CHECK(joined(sorted(lines(ldns_pkt_answer(pkt.get())))) == joined(sorted(c.answer)));
            CHECK(joined(sorted(lines(ldns_pkt_authority(pkt.get())))) ==
                  joined(sorted(c.authority)));
            CHECK(joined(sorted(lines(ldns_pkt_additional(pkt.get())))) ==
                  joined(sorted(c.additional)));
        }
    }
}

TEST_CASE("zones: transfers, MAILA and other classes") {
    const auto rcode = [](uint16_t qtype, uint16_t qclass) {
        QueryOptions o;
        o.qclass = qclass;
        const auto a = ask(snap(), make_query("www.lab.internal", qtype, o), kVpc);
        return ldns_pkt_get_rcode(decode(a.wire).get());
    };
    CHECK(rcode(LDNS_RR_TYPE_AXFR, 1) == LDNS_RCODE_REFUSED);
    CHECK(rcode(LDNS_RR_TYPE_IXFR, 1) == LDNS_RCODE_REFUSED);
    CHECK(rcode(LDNS_RR_TYPE_MAILA, 1) == LDNS_RCODE_NOTIMPL);
    CHECK(rcode(LDNS_RR_TYPE_A, 4) == LDNS_RCODE_REFUSED); // class HS: not ours
}

TEST_CASE("zones: the CNAME chain is in order") {
    const auto a = ask(snap(), make_query("chain.lab.internal", LDNS_RR_TYPE_A), kVpc);
    const auto pkt = decode(a.wire);
    const auto an = lines(ldns_pkt_answer(pkt.get()));
    REQUIRE(an.size() == 4);
    CHECK(an[0] == "chain.lab.internal. 300 IN CNAME alias.lab.internal.");
    CHECK(an[1] == "alias.lab.internal. 300 IN CNAME www.lab.internal.");
}

TEST_CASE("zones: a zone not served to the view is not ours") {
    // corp.internal is VPC-only: a public client recurses (forward) or is REFUSED.
    const auto q = make_query("only.corp.internal", LDNS_RR_TYPE_A);
    const auto inside = ask(snap(), q, kVpc, dns::Transport::Udp, true);
    CHECK_FALSE(inside.outcome.forward);
    CHECK(inside.outcome.size > 0);
    const auto fwd = ask(snap(), q, kOut, dns::Transport::Udp, true);
    CHECK(fwd.outcome.forward);
    const auto refused = ask(snap(), q, "192.0.2.1", dns::Transport::Udp, true);
    CHECK_FALSE(refused.outcome.forward);
    CHECK(ldns_pkt_get_rcode(decode(refused.wire).get()) == LDNS_RCODE_REFUSED);
    // And a public CNAME target in a VPC-only zone is not followed from the public view: the
    // public zone has no such name at all here, so check from the VPC view only that it is.
}

TEST_CASE("zones: UDP overflow truncates, TCP carries it all") {
    QueryOptions o;
    const auto q = make_query("big.lab.internal", LDNS_RR_TYPE_TXT, o); // no EDNS: 512 bytes
    const auto udp = ask(snap(), q, kVpc, dns::Transport::Udp);
    const auto pkt = decode(udp.wire);
    CHECK(ldns_pkt_tc(pkt.get()));
    CHECK(ldns_pkt_ancount(pkt.get()) == 0);
    CHECK(udp.wire.size() <= 512);
    const auto tcp = ask(snap(), q, kVpc, dns::Transport::Tcp);
    const auto full = decode(tcp.wire);
    CHECK_FALSE(ldns_pkt_tc(full.get()));
    CHECK(ldns_pkt_ancount(full.get()) == 7);
    CHECK(ldns_pkt_aa(full.get()));
}

TEST_CASE("zones: trusted ECS picks the view, with the scope of the VPC split") {
    std::string text = kConfig;
    text.insert(text.find("udp_payload"), "trusted_ecs_sources = [\"127.0.0.1/32\"]\n");
    auto loaded = config::load(text, "test.toml");
    REQUIRE(std::holds_alternative<config::Config>(loaded));
    std::vector<dns::Zone> zones;
    zones.push_back(parse_ok(kVpcZone, zone_cfg("v", "lab.internal", true, false)));
    zones.push_back(parse_ok(kPublicZone, zone_cfg("p", "lab.internal", false, true)));
    const auto s = dns::build_snapshot(std::get<config::Config>(loaded), 1, {},
                                       std::make_shared<const dns::ZoneSet>(std::move(zones)));

    struct EcsCase {
        const char* source; // who sends the query
        const char* subnet;
        uint8_t len;
        const char* address;
        int scope; // the SCOPE PREFIX-LENGTH in the answer; -1: no ECS option at all
    };

    const EcsCase cases[] = {
        {"127.0.0.1", "10.0.3.0", 24, "10.0.0.10", 16},    // inside 10.0.0.0/16: scope /16
        {"127.0.0.1", "192.0.2.0", 24, "203.0.113.80", 1}, // outside: 1 bit tells 192/8 apart
        {"127.0.0.2", "10.0.3.0", 24, "203.0.113.80", -1}, // untrusted: ECS ignored
        {"127.0.0.1", "10.0.0.0", 8, "203.0.113.80", 32},  // straddles: outside, full scope
    };
    for (const auto& c : cases) {
        CAPTURE(c.source);
        CAPTURE(c.subnet);
        QueryOptions o;
        o.edns = true;
        o.options = ecs_option(c.subnet, c.len);
        const auto a = ask(*s, make_query("www.lab.internal", LDNS_RR_TYPE_A, o), c.source);
        const auto pkt = decode(a.wire);
        const auto an = lines(ldns_pkt_answer(pkt.get()));
        REQUIRE_FALSE(an.empty());
        CHECK(an.front().substr(an.front().rfind(' ') + 1) == c.address);
        // The ECS option in our OPT: family(2) source(1) scope(1) after code and length.
        const auto& w = a.wire;
        const std::vector<uint8_t> code = {0, 8};
        const auto at = std::search(w.begin() + 12, w.end(), code.begin(), code.end());
        if (c.scope == -1) {
            CHECK(at == w.end());
            continue;
        }
        REQUIRE(at != w.end());
        CHECK(static_cast<int>(*(at + 7)) == c.scope);
    }
}

TEST_CASE("zones: zone_view is the one VPC/public decision") {
    const dns::Query q;
    const auto view = [&](const char* source) {
        return dns::zone_view(snap(), {*util::IpAddress::parse(source), dns::Transport::Udp}, q)
            .view;
    };
    CHECK(view("10.0.200.1") == config::View::Vpc);
    CHECK(view("127.10.0.9") == config::View::Vpc);
    CHECK(view("127.10.99.9") == config::View::Public); // vpc_exclude_cidrs
    CHECK(view("::ffff:10.0.0.1") == config::View::Vpc);
    CHECK(view("198.51.100.1") == config::View::Public);
}

// ---------------------------------------------------------------------------------------------
// Master-file errors: every one with its exact file:LINE.

namespace {

std::vector<std::string> errors_of(const std::string& text) {
    auto r = dns::parse_zone(text, zone_cfg("zones/x.zone", "lab.internal", true, true));
    std::vector<std::string> out;
    if (auto* errors = std::get_if<std::vector<dns::ZoneError>>(&r)) {
        for (const auto& e : *errors) {
            out.push_back(e.to_string());
        }
    }
    return out;
}

const std::string kHead = "$ORIGIN lab.internal.\n"                          // line 1
                          "@ 300 IN SOA ns hostmaster 1 3600 600 86400 60\n" // line 2
                          "@ 300 IN NS ns\n"                                 // line 3
                          "ns 300 IN A 10.0.0.1\n";                          // line 4

} // namespace

TEST_CASE("zones: master-file errors name the file and line") {
    struct ErrCase {
        const char* what;
        std::string text;
        std::vector<std::string> errors;
    };

    const std::vector<ErrCase> cases = {
        {"valid", kHead, {}},
        {"syntax",
         kHead + "www 300 IN A 10.0.0.300\n",
         {"zones/x.zone:5: error: Syntax error, could not parse the RR's rdata in 'www 300 IN A "
          "10.0.0.300'"}},
        {"unknown type",
         kHead + "\n; a comment\nwww 300 IN BOGUS 1\n",
         {"zones/x.zone:7: error: Syntax error, could not parse the RR's rdata in 'www 300 IN "
          "BOGUS 1'"}},
        {"outside the origin",
         kHead + "www.example.com. 300 IN A 10.0.0.1\n",
         {"zones/x.zone:5: error: www.example.com. is outside the zone origin lab.internal."}},
        {"no SOA",
         "$ORIGIN lab.internal.\n@ 300 IN NS ns\n",
         {"zones/x.zone:1: error: no SOA record at the zone apex lab.internal."}},
        {"no NS",
         "$ORIGIN lab.internal.\n@ 300 IN SOA ns hostmaster 1 3600 600 86400 60\n",
         {"zones/x.zone:2: error: no NS record at the zone apex lab.internal."}},
        {"second SOA",
         kHead + "@ 300 IN SOA ns hostmaster 2 3600 600 86400 60\n",
         {"zones/x.zone:5: error: second SOA record at the apex (the first is at line 2; a zone "
          "has exactly one)"}},
        {"SOA below the apex",
         kHead + "sub 300 IN SOA ns hostmaster 2 3600 600 86400 60\n",
         {"zones/x.zone:5: error: SOA record at sub.lab.internal.: an SOA belongs at the zone "
          "apex lab.internal."}},
        {"CNAME and other data",
         kHead + "www 300 IN A 10.0.0.1\n\nwww 300 IN CNAME ns\n",
         {"zones/x.zone:7: error: CNAME and other data (A) at www.lab.internal. (RFC 1034 "
          "§3.6.2)"}},
        {"two CNAMEs",
         kHead + "www 300 IN CNAME ns\nwww 300 IN CNAME ns2\n",
         {"zones/x.zone:5: error: more than one CNAME record at www.lab.internal. (RFC 2181 "
          "§10.1)"}},
        {"data below a cut",
         kHead + "sub 300 IN NS ns.sub\nx.sub 300 IN TXT \"hidden\"\n",
         {"zones/x.zone:6: error: TXT record at x.sub.lab.internal. is below the delegation "
          "point sub.lab.internal. (only glue A/AAAA may be there)"}},
        {"$INCLUDE",
         kHead + "$INCLUDE other.zone\n",
         {"zones/x.zone:5: error: $INCLUDE is not supported (list each file as its own "
          "[[zone]])"}},
        {"class CH",
         kHead + "www 300 CH A 10.0.0.1\n",
         {"zones/x.zone:5: error: class of www.lab.internal. is not IN (only class IN zones "
          "are served)"}},
        {"multi-line record keeps its first line",
         kHead + "big 300 IN SOA ns hostmaster (\n  1 3600 600\n  86400 60 )\n",
         {"zones/x.zone:5: error: SOA record at big.lab.internal.: an SOA belongs at the zone "
          "apex lab.internal."}},
        {"the line after a multi-line record",
         "$ORIGIN lab.internal.\n@ 300 IN SOA ns hostmaster (\n 1 3600 600\n 86400 60 )\n"
         "@ 300 IN NS ns\nwww.example. 300 IN A 10.0.0.1\n",
         {"zones/x.zone:6: error: www.example. is outside the zone origin lab.internal."}},
        {"several errors, in line order",
         kHead + "a.example. 300 IN A 10.0.0.1\nb 300 IN A nope\nc.example. 300 IN A 10.0.0.1\n",
         {"zones/x.zone:5: error: a.example. is outside the zone origin lab.internal.",
          "zones/x.zone:6: error: Syntax error, could not parse the RR's rdata in 'b 300 IN A "
          "nope'",
          "zones/x.zone:7: error: c.example. is outside the zone origin lab.internal."}},
    };
    for (const auto& c : cases) {
        const std::string what = c.what;
        CAPTURE(what);
        CHECK(joined(errors_of(c.text)) == joined(c.errors));
    }
}

TEST_CASE("zones: load_zones reads files, reports unreadable ones, digests them") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("horizon-zone-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto good = (dir / "good.zone").string();
    std::ofstream(good) << kHead;
    const auto cfg = zone_cfg(good, "lab.internal", true, true);
    auto ok = dns::load_zones({cfg});
    CHECK(ok.errors.empty());
    REQUIRE(ok.zones != nullptr);
    CHECK(ok.zones->zones().size() == 1);
    REQUIRE(ok.digests.size() == 1);
    CHECK(ok.digests[0] == dns::zone_file_digest(good));
    std::ofstream(good, std::ios::app) << "www 300 IN A 10.0.0.9\n";
    CHECK(ok.digests[0] != dns::zone_file_digest(good));
    auto missing = dns::load_zones({zone_cfg((dir / "missing.zone").string(), "x", true, true)});
    CHECK(missing.zones == nullptr);
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].to_string() ==
          (dir / "missing.zone").string() +
              ":1: error: cannot read the zone file: No such file or directory");
    std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// [[zone]] in the configuration.

TEST_CASE("zones: [[zone]] loads, resolving file against the config file's directory") {
    const std::string text = R"(
[[zone]]
file = "../zones/lab.internal.vpc.zone"
origin = "Lab.Internal."
views = ["vpc"]

[[zone]]
file = "/srv/zones/lab.internal.public.zone"
origin = "lab.internal"
views = ["public"]

[[zone]]
file = "corp.zone"
origin = "corp.internal"
)";
    auto loaded = config::load(text, "config/lab.toml");
    REQUIRE(std::holds_alternative<config::Config>(loaded));
    const auto& zones = std::get<config::Config>(loaded).zones;
    REQUIRE(zones.size() == 3);
    CHECK(zones[0].path == "zones/lab.internal.vpc.zone");
    CHECK(zones[0].origin == "Lab.Internal");
    CHECK(zones[0].vpc);
    CHECK_FALSE(zones[0].pub);
    CHECK(zones[1].path == "/srv/zones/lab.internal.public.zone");
    CHECK_FALSE(zones[1].vpc);
    CHECK(zones[1].pub);
    CHECK(zones[2].path == "config/corp.zone");
    CHECK(zones[2].vpc); // no views: both
    CHECK(zones[2].pub);
}

TEST_CASE("zones: [[zone]] errors") {
    struct ErrCase {
        const char* what;
        const char* text;
        std::vector<std::string> errors;
    };

    const std::vector<ErrCase> cases = {
        {"same origin and view twice",
         "[[zone]]\nfile = \"a.zone\"\norigin = \"lab.internal\"\nviews = [\"vpc\", "
         "\"public\"]\n\n[[zone]]\nfile = \"b.zone\"\norigin = \"LAB.internal.\"\nviews = "
         "[\"public\"]\n",
         {"c.toml:8:10: error: origin 'LAB.internal.' is already served to the public view by the "
          "[[zone]] at line 1 (one zone per origin and view)"}},
        {"missing keys",
         "[[zone]]\nviews = [\"vpc\"]\n",
         {"c.toml:1:1: error: missing required key 'file' in [[zone]]",
          "c.toml:1:1: error: missing required key 'origin' in [[zone]]"}},
        {"bad view",
         "[[zone]]\nfile = \"a\"\norigin = \"x\"\nviews = [\"vpc\", \"private\"]\n",
         {"c.toml:4:17: error: unknown view 'private' in views (expected \"vpc\" or \"public\")"}},
        {"empty views",
         "[[zone]]\nfile = \"a\"\norigin = \"x\"\nviews = []\n",
         {"c.toml:4:9: error: 'views' must list \"vpc\", \"public\" or both"}},
        {"bad origin",
         "[[zone]]\nfile = \"a\"\norigin = \"a..b\"\n",
         {"c.toml:3:10: error: invalid origin 'a..b' (empty label)"}},
        {"root origin",
         "[[zone]]\nfile = \"a\"\norigin = \".\"\n",
         {"c.toml:3:10: error: invalid origin '.' (horizond does not serve the root zone)"}},
        {"not an array",
         "[zone]\nfile = \"a\"\n",
         {"c.toml:1:1: error: 'zone' must be an array of tables: write [[zone]], not [zone]"}},
        {"unknown key",
         "[[zone]]\nfile = \"a\"\norigin = \"x\"\nview = [\"vpc\"]\n",
         {"c.toml:4:1: error: unknown key 'view' in [[zone]] (did you mean 'views'?)"}},
    };
    for (const auto& c : cases) {
        const std::string what = c.what;
        CAPTURE(what);
        auto loaded = config::load(c.text, "c.toml");
        std::vector<std::string> got;
        if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&loaded)) {
            for (const auto& d : *errors) {
                got.push_back(d.to_string());
            }
        }
        CHECK(joined(got) == joined(c.errors));
    }
}
