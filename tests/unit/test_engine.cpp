// The engine, table-driven: every access mode x source kind x question kind, decoded with ldns.
#include <algorithm>
#include <cctype>

#include <doctest/doctest.h>

#include "dns_test_util.hpp"

using namespace horizon;
using namespace horizon::test;

namespace {

const char* const kConfig = R"(
[server]
listen = ["127.0.0.1:1053"]
identity = "lab-1"
version = "horizon-test"
udp_payload = 1232

[[cluster]]
name = "pub"
region = "ap-northeast-2"
endpoint = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.gr7.ap-northeast-2.eks.amazonaws.com"
vpc_cidrs = ["192.168.0.0/16", "127.10.0.0/16", "fd00:10::/48"]
vpc_exclude_cidrs = ["192.168.99.0/24"]
private_ips = ["192.168.1.10", "192.168.2.10", "fd00:10::10"]
public_ips = ["203.0.113.10", "203.0.113.20", "2001:db8::10"]
access_mode = "public"

[[cluster]]
name = "both"
region = "ap-northeast-2"
endpoint = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB.gr7.ap-northeast-2.eks.amazonaws.com"
vpc_cidrs = ["192.168.0.0/16", "127.10.0.0/16", "fd00:10::/48"]
vpc_exclude_cidrs = ["192.168.99.0/24"]
private_ips = ["192.168.1.10", "192.168.2.10", "fd00:10::10"]
public_ips = ["203.0.113.10", "203.0.113.20", "2001:db8::10"]
access_mode = "public+private"

[[cluster]]
name = "priv"
region = "ap-northeast-2"
endpoint = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com"
vpc_cidrs = ["192.168.0.0/16", "127.10.0.0/16", "fd00:10::/48"]
vpc_exclude_cidrs = ["192.168.99.0/24"]
private_ips = ["192.168.1.10", "192.168.2.10", "fd00:10::10"]
public_ips = ["203.0.113.10", "203.0.113.20", "2001:db8::10"]
access_mode = "private"

[[cluster]]
name = "privnx"
region = "eu-west-1"
endpoint = "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD.yl4.eu-west-1.eks.amazonaws.com"
vpc_cidrs = ["192.168.0.0/16", "127.10.0.0/16", "fd00:10::/48"]
vpc_exclude_cidrs = ["192.168.99.0/24"]
private_ips = ["192.168.1.10", "192.168.2.10", "fd00:10::10"]
public_ips = ["203.0.113.10", "203.0.113.20", "2001:db8::10"]
access_mode = "private"
private_outside = "nxdomain"
ttl = 30
)";

const dns::Snapshot& snap() {
    static const auto s = snapshot_of(kConfig);
    return *s;
}

struct Mode {
    const char* cluster;
    const char* name;
    dns::AnswerSet inside;
    dns::AnswerSet outside;
};

const Mode kModes[] = {
    {"pub", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.gr7.ap-northeast-2.eks.amazonaws.com",
     dns::AnswerSet::Public, dns::AnswerSet::Public},
    {"both", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB.gr7.ap-northeast-2.eks.amazonaws.com",
     dns::AnswerSet::Private, dns::AnswerSet::Public},
    {"priv", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.gr7.ap-northeast-2.eks.amazonaws.com",
     dns::AnswerSet::Private, dns::AnswerSet::Private},
    {"privnx", "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD.yl4.eu-west-1.eks.amazonaws.com",
     dns::AnswerSet::Private, dns::AnswerSet::NxDomain},
};

struct Source {
    const char* addr;
    bool inside;
    const char* what;
};

const Source kSources[] = {
    {"127.10.0.5", true, "in-VPC IPv4 (loopback playing inside)"},
    {"192.168.3.4", true, "in-VPC IPv4"},
    {"127.0.0.1", false, "outside IPv4"},
    {"192.168.99.5", false, "excluded from the VPC (longest prefix wins)"},
    {"fd00:10::5", true, "in-VPC IPv6"},
    {"2001:db8:ff::1", false, "outside IPv6"},
    {"::ffff:192.168.3.4", true, "IPv4-mapped in-VPC"},
    {"::ffff:198.51.100.7", false, "IPv4-mapped outside"},
};

std::set<std::string> v4_of(dns::AnswerSet s) {
    return s == dns::AnswerSet::Private ? std::set<std::string>{"192.168.1.10", "192.168.2.10"}
                                        : std::set<std::string>{"203.0.113.10", "203.0.113.20"};
}

std::set<std::string> v6_of(dns::AnswerSet s) {
    return s == dns::AnswerSet::Private ? std::set<std::string>{"fd00:10::10"}
                                        : std::set<std::string>{"2001:db8::10"};
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string mixed_case(std::string s) {
    for (size_t i = 0; i < s.size(); i += 2) {
        s[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
    }
    for (size_t i = 1; i < s.size(); i += 2) {
        s[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[i])));
    }
    return s;
}

enum class Kind { A, AAAA, SOA, NS, TXT, ANY, Below, OtherZone, MixedCase };

struct Question {
    Kind kind;
    const char* what;
};

const Question kQuestions[] = {
    {Kind::A, "A"},
    {Kind::AAAA, "AAAA"},
    {Kind::SOA, "SOA"},
    {Kind::NS, "NS"},
    {Kind::TXT, "TXT (NODATA)"},
    {Kind::ANY, "ANY (RFC 8482)"},
    {Kind::Below, "below"},
    {Kind::OtherZone, "other zone"},
    {Kind::MixedCase, "mixed case A"},
};

} // namespace

TEST_CASE("engine: every access mode x source x question") {
    for (const auto& mode : kModes) {
        for (const auto& src : kSources) {
            for (const auto& q : kQuestions) {
                CAPTURE(mode.cluster);
                CAPTURE(src.what);
                CAPTURE(q.what);
                const std::string apex = mode.name;
                std::string qname = apex;
                uint16_t qtype = LDNS_RR_TYPE_A;
                switch (q.kind) {
                case Kind::AAAA:
                    qtype = LDNS_RR_TYPE_AAAA;
                    break;
                case Kind::SOA:
                    qtype = LDNS_RR_TYPE_SOA;
                    break;
                case Kind::NS:
                    qtype = LDNS_RR_TYPE_NS;
                    break;
                case Kind::TXT:
                    qtype = LDNS_RR_TYPE_TXT;
                    break;
                case Kind::ANY:
                    qtype = LDNS_RR_TYPE_ANY;
                    break;
                case Kind::Below:
                    qname = "api.x." + apex;
                    break;
                case Kind::OtherZone:
                    qname = "eks.amazonaws.com";
                    break;
                case Kind::MixedCase:
                    qname = mixed_case(apex);
                    break;
                default:
                    break;
                }
                const auto query = make_query(qname, qtype);
                const auto a = ask(snap(), query, src.addr);
                REQUIRE(a.outcome.size > 0);
                // The question is echoed byte for byte (0x20 case preserved) and the ID kept.
                REQUIRE(std::equal(query.begin() + 12, query.end(), a.wire.begin() + 12));
                const auto p = decode(a.wire);
                CHECK(ldns_pkt_id(p.get()) == 0x1234);
                CHECK(ldns_pkt_qr(p.get()));
                CHECK(ldns_pkt_rd(p.get()));
                CHECK_FALSE(ldns_pkt_ra(p.get()));
                CHECK_FALSE(ldns_pkt_tc(p.get()));
                auto* an = ldns_pkt_answer(p.get());
                auto* ns = ldns_pkt_authority(p.get());

                if (q.kind == Kind::OtherZone) {
                    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_REFUSED);
                    CHECK_FALSE(ldns_pkt_aa(p.get()));
                    CHECK(ldns_pkt_ancount(p.get()) == 0);
                    continue;
                }
                CHECK(ldns_pkt_aa(p.get()));
                const auto set = src.inside ? mode.inside : mode.outside;
                CHECK(a.outcome.decision.set == set);
                CHECK(a.outcome.decision.inside == src.inside);
                // Invariant: in public+private, outsiders never see a private address.
                if (std::string(mode.cluster) == "both" && !src.inside) {
                    CHECK(rdata_of(an, LDNS_RR_TYPE_A).count("192.168.1.10") == 0);
                }
                if (set == dns::AnswerSet::NxDomain || q.kind == Kind::Below) {
                    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NXDOMAIN);
                    CHECK(ldns_pkt_ancount(p.get()) == 0);
                    REQUIRE(ldns_pkt_nscount(p.get()) == 1);
                    CHECK(ldns_rr_get_type(ldns_rr_list_rr(ns, 0)) == LDNS_RR_TYPE_SOA);
                    const std::string zone =
                        set == dns::AnswerSet::NxDomain ? apex.substr(apex.find('.') + 1) : apex;
                    CHECK(lower(owner_of(ns, 0)) == lower(zone) + ".");
                    continue;
                }
                CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
                switch (q.kind) {
                case Kind::A:
                case Kind::MixedCase:
                case Kind::ANY:
                    CHECK(rdata_of(an, LDNS_RR_TYPE_A) == v4_of(set));
                    CHECK(ldns_pkt_ancount(p.get()) == 2);
                    CHECK(lower(owner_of(an, 0)) == lower(apex) + ".");
                    CHECK(ldns_rr_ttl(ldns_rr_list_rr(an, 0)) ==
                          (std::string(mode.cluster) == "privnx" ? 30U : 60U));
                    break;
                case Kind::AAAA:
                    CHECK(rdata_of(an, LDNS_RR_TYPE_AAAA) == v6_of(set));
                    CHECK(ldns_pkt_ancount(p.get()) == 1);
                    break;
                case Kind::SOA:
                    REQUIRE(ldns_pkt_ancount(p.get()) == 1);
                    CHECK(rdata_of(an, LDNS_RR_TYPE_SOA) ==
                          std::set<std::string>{"ns.horizon.invalid."});
                    break;
                case Kind::NS:
                    CHECK(rdata_of(an, LDNS_RR_TYPE_NS) ==
                          std::set<std::string>{"ns.horizon.invalid."});
                    break;
                case Kind::TXT: // NODATA: SOA in authority (RFC 2308 §2.2)
                    CHECK(ldns_pkt_ancount(p.get()) == 0);
                    REQUIRE(ldns_pkt_nscount(p.get()) == 1);
                    CHECK(ldns_rr_get_type(ldns_rr_list_rr(ns, 0)) == LDNS_RR_TYPE_SOA);
                    break;
                default:
                    break;
                }
            }
        }
    }
}

TEST_CASE("engine: SOA fields follow the config generation and ttl") {
    const auto a = ask(snap(), make_query(kModes[3].name, LDNS_RR_TYPE_SOA), "127.10.0.5");
    const auto p = decode(a.wire);
    ldns_rr* soa = ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0);
    char* text = ldns_rr2str(soa);
    const std::string s(text);
    free(text); // NOLINT(cppcoreguidelines-no-malloc)
    CHECK(
        s.find(
            "30\tIN\tSOA\tns.horizon.invalid. hostmaster.horizon.invalid. 42 3600 600 86400 30") !=
        std::string::npos);
}

TEST_CASE("engine: a record set with no address of the asked family is NODATA") {
    const auto s = snapshot_of(R"(
[[cluster]]
name = "v4only"
region = "us-east-1"
vpc_cidrs = ["10.0.0.0/16"]
private_ips = ["10.0.1.10"]
public_ips = ["198.51.100.10"]
)");
    const std::string name = s->clusters[0].cfg.endpoint;
    const auto a = ask(*s, make_query(name, LDNS_RR_TYPE_AAAA), "127.0.0.1");
    const auto p = decode(a.wire);
    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(p.get()) == 0);
    CHECK(ldns_pkt_nscount(p.get()) == 1);
    // ANY falls back to the one address family present.
    const auto any = decode(ask(*s, make_query(name, LDNS_RR_TYPE_ANY), "10.0.0.5").wire);
    CHECK(rdata_of(ldns_pkt_answer(any.get()), LDNS_RR_TYPE_A) ==
          std::set<std::string>{"10.0.1.10"});
}

TEST_CASE("engine: CHAOS identity and version") {
    struct Case {
        const char* name;
        ldns_pkt_rcode rcode;
        const char* text;
    };

    for (const Case c : {Case{"id.server", LDNS_RCODE_NOERROR, "\"lab-1\""},
                         Case{"HOSTNAME.bind", LDNS_RCODE_NOERROR, "\"lab-1\""},
                         Case{"version.bind", LDNS_RCODE_NOERROR, "\"horizon-test\""},
                         Case{"authors.bind", LDNS_RCODE_REFUSED, nullptr}}) {
        CAPTURE(c.name);
        QueryOptions o;
        o.qclass = LDNS_RR_CLASS_CH;
        const auto p =
            decode(ask(snap(), make_query(c.name, LDNS_RR_TYPE_TXT, o), "127.0.0.1").wire);
        CHECK(ldns_pkt_get_rcode(p.get()) == c.rcode);
        if (c.text != nullptr) {
            CHECK(rdata_of(ldns_pkt_answer(p.get()), LDNS_RR_TYPE_TXT) ==
                  std::set<std::string>{c.text});
        }
    }
    // identity = "" and version = "" (the default) refuse.
    const auto off = snapshot_of(R"(
[server]
identity = ""
)");
    QueryOptions o;
    o.qclass = LDNS_RR_CLASS_CH;
    for (const char* n : {"id.server", "hostname.bind", "version.bind"}) {
        const auto p = decode(ask(*off, make_query(n, LDNS_RR_TYPE_TXT, o), "127.0.0.1").wire);
        CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_REFUSED);
    }
}

TEST_CASE("engine: CHAOS TXT at an endpoint explains the decision without listing private IPs") {
    QueryOptions o;
    o.qclass = LDNS_RR_CLASS_CH;
    const std::string both = kModes[1].name;

    struct Case {
        const char* source;
        std::vector<std::string> want;
    };

    for (const auto& c :
         {Case{"127.10.0.5",
               {"in-vpc yes: inside vpc_cidrs entry 127.10.0.0/16",
                "answer private set (2 A, 1 AAAA)"}},
          Case{"192.168.99.5",
               {"in-vpc no: inside vpc_exclude_cidrs entry 192.168.99.0/24", "answer public set"}},
          Case{"127.0.0.1",
               {"in-vpc no: in no vpc_cidrs entry", "answer public set", "generation 42",
                "mode public+private"}}}) {
        CAPTURE(c.source);
        const auto a = ask(snap(), make_query(both, LDNS_RR_TYPE_TXT, o), c.source);
        const auto p = decode(a.wire);
        CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
        CHECK(ldns_pkt_aa(p.get()));
        REQUIRE(ldns_pkt_ancount(p.get()) == 1);
        char* text = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0));
        const std::string s(text);
        free(text); // NOLINT(cppcoreguidelines-no-malloc)
        for (const auto& w : c.want) {
            CHECK_MESSAGE(s.find(w) != std::string::npos, s, " lacks ", w);
        }
        CHECK(s.find("192.168.1.10") == std::string::npos);
    }
}

TEST_CASE(
    "engine: recursion is offered only to allow_recursion sources, and only when forwarding") {
    auto loaded = config::load(std::string(config::default_text()), "default");
    auto cfg = std::get<config::Config>(loaded);
    const std::string endpoint = cfg.clusters.front().endpoint;
    const auto plain = dns::build_snapshot(cfg, 1);
    cfg.resolver.upstreams.push_back(*util::Endpoint::parse("127.0.0.1:5300"));
    cfg.resolver.allow_recursion = {*util::Cidr::parse("127.10.0.0/16")};
    const auto fwd = dns::build_snapshot(cfg, 1);

    // Without forwarding: REFUSED for everyone, RA never set.
    auto a = ask(*plain, make_query("example.com", LDNS_RR_TYPE_A), "127.10.0.5");
    CHECK_FALSE(a.outcome.forward);
    CHECK((a.wire[3] & 0x0F) == LDNS_RCODE_REFUSED);
    CHECK((a.wire[3] & 0x80) == 0);

    // A forwarding config without a forwarder in the caller: REFUSED, RA clear.
    a = ask(*fwd, make_query("example.com", LDNS_RR_TYPE_A), "127.10.0.5");
    CHECK_FALSE(a.outcome.forward);
    CHECK((a.wire[3] & 0x0F) == LDNS_RCODE_REFUSED);
    CHECK((a.wire[3] & 0x80) == 0);

    // With forwarding: an allowed source is forwarded (nothing written) ...
    a = ask(*fwd, make_query("example.com", LDNS_RR_TYPE_A), "127.10.0.5", dns::Transport::Udp,
            true);
    CHECK(a.outcome.forward);
    CHECK(a.outcome.size == 0);
    // ... and sees RA on our own authoritative answers.
    a = ask(*fwd, make_query(endpoint, LDNS_RR_TYPE_A), "127.10.0.5", dns::Transport::Udp, true);
    CHECK((a.wire[3] & 0x80) != 0);
    CHECK((a.wire[2] & 0x04) != 0);
    // Anyone else: REFUSED for other names (never an open resolver), no RA, endpoint still
    // answered.
    a = ask(*fwd, make_query("example.com", LDNS_RR_TYPE_A), "127.0.0.1", dns::Transport::Udp,
            true);
    CHECK_FALSE(a.outcome.forward);
    CHECK((a.wire[3] & 0x0F) == LDNS_RCODE_REFUSED);
    CHECK((a.wire[3] & 0x80) == 0);
    a = ask(*fwd, make_query(endpoint, LDNS_RR_TYPE_A), "127.0.0.1", dns::Transport::Udp, true);
    CHECK((a.wire[3] & 0x0F) == LDNS_RCODE_NOERROR);
    CHECK((a.wire[3] & 0x80) == 0);
}

TEST_CASE("engine: EDNS Client Subnet from trusted forwarders only (RFC 7871)") {
    auto loaded = config::load(std::string(config::default_text()), "default");
    auto cfg = std::get<config::Config>(loaded);
    cfg.server.trusted_ecs_sources = {*util::Cidr::parse("127.0.0.53/32")};
    cfg.clusters.front().vpc_exclude_cidrs = {*util::Cidr::parse("192.168.99.0/24")};
    const auto s = dns::build_snapshot(cfg, 1);
    const std::string name = cfg.clusters.front().endpoint;
    const std::set<std::string> priv = {"192.168.1.10", "192.168.2.10"};
    const std::set<std::string> pub = {"203.0.113.10", "203.0.113.20"};

    struct Case {
        const char* source; // who sends the query
        const char* subnet;
        uint8_t len;
        std::set<std::string> want;
        int scope; // -1: no ECS option in the answer
    };

    for (const auto& c : {
             // A trusted forwarder speaking for an in-VPC /24: private set, valid as far as the
             // answer cannot change: 192.168.0.0/18, which stops short of the excluded /24.
             Case{"127.0.0.53", "192.168.3.0", 24, priv, 18},
             Case{"127.0.0.53", "192.168.130.0", 24, priv, 17},
             // The same ECS from anyone else is ignored: the sender's own address decides.
             Case{"127.0.0.1", "192.168.3.0", 24, pub, -1},
             Case{"127.10.0.5", "198.51.100.0", 24, priv, -1},
             // Trusted, outside: public set; scope is where the path leaves every VPC prefix.
             Case{"127.0.0.53", "10.1.2.0", 24, pub, 2},
             // A /8 that straddles 192.168.0.0/16 decides nothing: outside, full-length scope.
             Case{"127.0.0.53", "192.0.0.0", 8, pub, 32},
             // A /16 that contains an excluded /24 straddles too.
             Case{"127.0.0.53", "192.168.0.0", 16, pub, 32},
             // Inside the excluded /24: outside, valid for that /24.
             Case{"127.0.0.53", "192.168.99.0", 24, pub, 24},
             // IPv4-mapped IPv6 (family 2) is the IPv4 subnet; SCOPE in the option's family.
             Case{"127.0.0.53", "::ffff:192.168.3.0", 120, priv, 96 + 18},
             Case{"127.0.0.53", "::ffff:10.1.2.0", 120, pub, 96 + 2},
             // SOURCE 0: the client opted out (RFC 7871 §7.1.2): the forwarder's own address
             // (outside) decides, SCOPE 0.
             Case{"127.0.0.53", "0.0.0.0", 0, pub, 0},
             Case{"127.0.0.53", "::", 0, pub, 0},
         }) {
        CAPTURE(c.source);
        CAPTURE(c.subnet);
        QueryOptions o;
        o.edns = true;
        o.options = ecs_option(c.subnet, c.len);
        const auto a = ask(*s, make_query(name, LDNS_RR_TYPE_A, o), c.source);
        const auto p = decode(a.wire);
        CHECK(rdata_of(ldns_pkt_answer(p.get()), LDNS_RR_TYPE_A) == c.want);
        const std::string wire(a.wire.begin(), a.wire.end());
        // The option's header (code 8, length, family): not the OPT's RDLENGTH, which may be 8.
        const std::vector<uint8_t> ecs = ecs_option(c.subnet, c.len);
        const auto at = wire.find(std::string(ecs.begin(), ecs.begin() + 6), 12 + name.size());
        if (c.scope < 0) {
            CHECK(at == std::string::npos);
            continue;
        }
        REQUIRE(at != std::string::npos);
        CHECK(static_cast<uint8_t>(wire[at + 6]) == c.len);                     // SOURCE echoed
        CHECK(static_cast<int>(static_cast<uint8_t>(wire[at + 7])) == c.scope); // our SCOPE
    }

    // Malformed ECS is FORMERR (RFC 7871 §7.1.2): bits past the prefix, wrong address length,
    // unknown family.
    for (const auto& bad : {std::vector<uint8_t>{0, 8, 0, 7, 0, 1, 23, 0, 192, 168, 3},
                            std::vector<uint8_t>{0, 8, 0, 5, 0, 1, 24, 0, 192},
                            std::vector<uint8_t>{0, 8, 0, 4, 0, 3, 0, 0}}) {
        QueryOptions o;
        o.edns = true;
        o.options = bad;
        const auto a = ask(*s, make_query(name, LDNS_RR_TYPE_A, o), "127.0.0.53");
        CHECK((a.wire[3] & 0x0F) == LDNS_RCODE_FORMERR);
    }
}

TEST_CASE("engine: a resolver listener decides in-VPC whatever the source (view vpc)") {
    const std::string both = kModes[1].name;   // public+private
    const std::string privnx = kModes[3].name; // private, nxdomain outside
    const std::set<std::string> priv = {"192.168.1.10", "192.168.2.10"};
    const std::set<std::string> pub = {"203.0.113.10", "203.0.113.20"};

    struct Case {
        const char* source;
        bool listener;
        const char* cluster; // "vpc:<cluster>"; "" = every cluster
        bool inside_both;    // the view cluster "both" sees
        bool inside_privnx;
    };

    for (const auto& c : {
             Case{"127.0.0.1", false, "", false, false},    // plain listener: by source
             Case{"127.10.0.5", false, "", true, true},     // plain listener: by source
             Case{"127.0.0.1", true, "", true, true},       // view "vpc": every cluster
             Case{"203.0.113.99", true, "", true, true},    // any source at all
             Case{"127.0.0.1", true, "both", true, false},  // "vpc:both": that cluster only
             Case{"127.10.0.5", true, "both", true, false}, // outside for the others, even
                                                            // from a source in their vpc_cidrs
         }) {
        CAPTURE(c.source);
        CAPTURE(c.listener);
        CAPTURE(c.cluster);
        for (const auto t : {dns::Transport::Udp, dns::Transport::Tcp}) {
            const dns::Client client{*util::IpAddress::parse(c.source), t, c.listener, c.cluster};
            auto a = ask(snap(), make_query(both, LDNS_RR_TYPE_A), client);
            CHECK(a.outcome.decision.inside == c.inside_both);
            CHECK(rdata_of(ldns_pkt_answer(decode(a.wire).get()), LDNS_RR_TYPE_A) ==
                  (c.inside_both ? priv : pub));
            a = ask(snap(), make_query(privnx, LDNS_RR_TYPE_A), client);
            CHECK(a.outcome.decision.inside == c.inside_privnx);
            CHECK((a.wire[3] & 0x0F) ==
                  (c.inside_privnx ? LDNS_RCODE_NOERROR : LDNS_RCODE_NXDOMAIN));
        }
    }

    // Zones: any resolver listener ("vpc" or "vpc:<cluster>") sees the vpc face, from any source.
    const dns::Query q;
    for (const char* cluster : {"", "both", "pub"}) {
        const dns::Client c{*util::IpAddress::parse("198.51.100.1"), dns::Transport::Tcp, true,
                            cluster};
        CHECK(dns::zone_view(snap(), c, q).view == config::View::Vpc);
    }
    CHECK(dns::zone_view(snap(), {*util::IpAddress::parse("198.51.100.1"), dns::Transport::Tcp}, q)
              .view == config::View::Public);

    // CHAOS TXT explain says why.
    QueryOptions o;
    o.qclass = LDNS_RR_CLASS_CH;
    const dns::Client client{*util::IpAddress::parse("127.0.0.1"), dns::Transport::Udp, true,
                             "both"};
    const auto a = ask(snap(), make_query(both, LDNS_RR_TYPE_TXT, o), client);
    const auto p = decode(a.wire);
    REQUIRE(ldns_pkt_ancount(p.get()) == 1);
    char* text = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0));
    const std::string s(text);
    free(text); // NOLINT(cppcoreguidelines-no-malloc)
    CHECK_MESSAGE(s.find("in-vpc yes: arrived on a resolver listener (view vpc:both)") !=
                      std::string::npos,
                  s);
    CHECK(s.find("answer private set") != std::string::npos);
}

TEST_CASE("engine: a trusted ECS on a resolver listener is echoed with SCOPE 0") {
    auto loaded = config::load(std::string(config::default_text()), "default");
    auto cfg = std::get<config::Config>(loaded);
    cfg.server.trusted_ecs_sources = {*util::Cidr::parse("127.0.0.53/32")};
    const auto s = dns::build_snapshot(cfg, 1);
    const std::string name = cfg.clusters.front().endpoint;
    QueryOptions o;
    o.edns = true;
    o.options = ecs_option("10.1.2.0", 24); // outside every VPC, but the listener decides
    const dns::Client client{*util::IpAddress::parse("127.0.0.53"), dns::Transport::Udp, true, ""};
    const auto a = ask(*s, make_query(name, LDNS_RR_TYPE_A, o), client);
    CHECK(a.outcome.decision.inside);
    const std::string wire(a.wire.begin(), a.wire.end());
    const auto at = wire.find(std::string("\x00\x08", 2), 12 + name.size());
    REQUIRE(at != std::string::npos);
    CHECK(static_cast<uint8_t>(wire[at + 6]) == 24);
    CHECK(static_cast<uint8_t>(wire[at + 7]) == 0); // RFC 7871 §7.2.1: valid for every subnet
}
