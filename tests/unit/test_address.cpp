// Tests for util/address.hpp (addresses, CIDRs, endpoints) and util/prefix_trie.hpp.
#include <algorithm>
#include <cstdint>
#include <netinet/in.h>
#include <optional>
#include <span>
#include <string>
#include <sys/socket.h>
#include <vector>

#include <doctest/doctest.h>

#include "util/address.hpp"
#include "util/prefix_trie.hpp"

namespace {

using horizon::util::Cidr;
using horizon::util::Endpoint;
using horizon::util::Family;
using horizon::util::IpAddress;
using horizon::util::PrefixTrie;
using horizon::util::source_key;

IpAddress ip(const char* text) {
    return IpAddress::parse(text).value();
}

Cidr cidr(const char* text) {
    return Cidr::parse(text).value();
}

/// A small deterministic generator, so the big trie test is the same on every run.
class Lcg {
public:
    explicit Lcg(uint64_t seed)
        : state_(seed) {}

    uint32_t next() {
        state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<uint32_t>(state_ >> 32);
    }

private:
    uint64_t state_;
};

} // namespace

TEST_CASE("IpAddress::parse accepts IPv4 and IPv6 and prints them canonically") {
    struct Case {
        const char* text;
        Family family;
        const char* printed;
    };

    for (const Case& c : {
             Case{"192.0.2.1", Family::V4, "192.0.2.1"},
             Case{"0.0.0.0", Family::V4, "0.0.0.0"},
             Case{"255.255.255.255", Family::V4, "255.255.255.255"},
             Case{"::", Family::V6, "::"},
             Case{"::1", Family::V6, "::1"},
             Case{"2001:DB8:0:0::1", Family::V6, "2001:db8::1"},
             Case{"fe80::1:2:3:4", Family::V6, "fe80::1:2:3:4"},
             Case{"::ffff:192.0.2.1", Family::V6, "::ffff:192.0.2.1"},
         }) {
        INFO(std::string(c.text));
        const auto a = IpAddress::parse(c.text);
        REQUIRE(a.has_value());
        CHECK(a->family == c.family);
        CHECK(a->is_v4() == (c.family == Family::V4));
        CHECK(a->bits() == (c.family == Family::V4 ? 32U : 128U));
        CHECK(a->to_string() == c.printed);
        CHECK(IpAddress::parse(a->to_string()) == a);
    }
}

TEST_CASE("IpAddress::parse rejects what is not an address") {
    for (const char* text :
         {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.-1", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/32",
          "localhost", ":::", "1::2::3", "::g", "2001:db8::1%eth0", "[::1]",
          "0000:0000:0000:0000:0000:0000:0000:0000:0000"}) {
        INFO(std::string(text));
        CHECK_FALSE(IpAddress::parse(text).has_value());
    }
}

TEST_CASE("IpAddress: v4 factory, bits and unmapped") {
    const auto a = IpAddress::v4(192, 0, 2, 1);
    CHECK(a == ip("192.0.2.1"));
    CHECK(a.bit(0)); // 192 = 1100 0000
    CHECK(a.bit(1));
    CHECK_FALSE(a.bit(2));
    CHECK(a.bit(31)); // .1
    CHECK_FALSE(a.bit(30));

    CHECK(ip("::ffff:192.0.2.1").unmapped() == a);
    CHECK(ip("::ffff:192.0.2.1").unmapped().is_v4());
    CHECK(a.unmapped() == a);
    CHECK(ip("::1").unmapped() == ip("::1"));
    CHECK(ip("::192.0.2.1").unmapped() == ip("::192.0.2.1")); // IPv4-compatible is not mapped
    CHECK(ip("::fffe:192.0.2.1").unmapped().family == Family::V6);
}

TEST_CASE("Cidr::parse accepts prefixes without host bits") {
    struct Case {
        const char* text;
        unsigned len;
        const char* printed;
    };

    for (const Case& c : {
             Case{"0.0.0.0/0", 0, "0.0.0.0/0"},
             Case{"10.0.0.0/8", 8, "10.0.0.0/8"},
             Case{"192.168.1.0/24", 24, "192.168.1.0/24"},
             Case{"192.168.1.1/32", 32, "192.168.1.1/32"},
             Case{"::/0", 0, "::/0"},
             Case{"2001:DB8::/32", 32, "2001:db8::/32"},
             Case{"fe80::1/128", 128, "fe80::1/128"},
         }) {
        INFO(std::string(c.text));
        Cidr::Error why = Cidr::Error::Syntax;
        const auto p = Cidr::parse(c.text, &why);
        REQUIRE(p.has_value());
        CHECK(why == Cidr::Error::None);
        CHECK(p->len == c.len);
        CHECK(p->to_string() == c.printed);
    }
}

TEST_CASE("Cidr::parse tells host bits from syntax errors") {
    for (const char* text : {"10.0.0.1/8", "192.168.1.0/16", "0.0.0.1/0", "2001:db8::1/64",
                             "::1/127", "128.0.0.0/0"}) {
        INFO(std::string(text));
        Cidr::Error why = Cidr::Error::None;
        CHECK_FALSE(Cidr::parse(text, &why).has_value());
        CHECK(why == Cidr::Error::HostBits);
    }
    for (const char* text : {"", "10.0.0.0", "10.0.0.0/", "/8", "10.0.0.0/33", "::/129",
                             "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/-8",
                             "10.0.0.0/+8", "10.0.0.0/1000", "10.0.0/8", "host/8", "::/x"}) {
        INFO(std::string(text));
        Cidr::Error why = Cidr::Error::None;
        CHECK_FALSE(Cidr::parse(text, &why).has_value());
        CHECK(why == Cidr::Error::Syntax);
    }
    CHECK_FALSE(Cidr::parse("10.0.0.1/8").has_value()); // the reason is optional
}

TEST_CASE("Cidr::contains") {
    const auto ten = cidr("10.0.0.0/8");
    CHECK(ten.contains(ip("10.0.0.0")));
    CHECK(ten.contains(ip("10.255.255.255")));
    CHECK_FALSE(ten.contains(ip("11.0.0.0")));
    CHECK_FALSE(ten.contains(ip("::ffff:10.0.0.1"))); // families never mix
    CHECK(cidr("0.0.0.0/0").contains(ip("203.0.113.1")));
    CHECK_FALSE(cidr("0.0.0.0/0").contains(ip("::1")));
    CHECK(cidr("::/0").contains(ip("::1")));
    CHECK_FALSE(cidr("::/0").contains(ip("127.0.0.1")));
    CHECK(cidr("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
    CHECK_FALSE(cidr("2001:db8::/32").contains(ip("2001:db9::1")));
    CHECK(cidr("192.0.2.1/32").contains(ip("192.0.2.1")));
    CHECK_FALSE(cidr("192.0.2.1/32").contains(ip("192.0.2.0")));
}

TEST_CASE("Endpoint::parse accepts IP:PORT and [IPv6]:PORT") {
    struct Case {
        const char* text;
        const char* addr;
        uint16_t port;
    };

    for (const Case& c : {
             Case{"127.0.0.1:53", "127.0.0.1", 53},
             Case{"0.0.0.0:65535", "0.0.0.0", 65535},
             Case{"[::1]:1053", "::1", 1053},
             Case{"[::]:53", "::", 53},
             Case{"[2001:db8::1]:853", "2001:db8::1", 853},
             Case{"[::ffff:192.0.2.1]:53", "::ffff:192.0.2.1", 53},
         }) {
        INFO(std::string(c.text));
        const auto e = Endpoint::parse(c.text);
        REQUIRE(e.has_value());
        CHECK(e->addr == ip(c.addr));
        CHECK(e->port == c.port);
        CHECK(e->to_string() == c.text);
    }
    // Port 0 parses; the config loader is what rejects it for listening.
    CHECK(Endpoint::parse("127.0.0.1:0").value().port == 0);
}

TEST_CASE("Endpoint::parse rejects malformed endpoints") {
    for (const char* text : {"",
                             ":",
                             ":53",
                             "127.0.0.1",
                             "127.0.0.1:",
                             "127.0.0.1:65536",
                             "127.0.0.1:-1",
                             "127.0.0.1:+53",
                             "127.0.0.1:53 ",
                             "127.0.0.1: 53",
                             "localhost:53",
                             "::1:53",
                             "::1",
                             "[::1]",
                             "[::1]:",
                             "[::1]53",
                             "[::1",
                             "::1]:53",
                             "[localhost]:53",
                             "[]:53"}) {
        INFO(std::string(text));
        CHECK_FALSE(Endpoint::parse(text).has_value());
    }
}

// std::from_chars reports an out-of-range port only through `ec`: it must not become port 0.
TEST_CASE("Endpoint::parse rejects a port that overflows") {
    for (const char* text : {"127.0.0.1:99999999999", "[::1]:4294967349"}) {
        INFO(std::string(text));
        CHECK_FALSE(Endpoint::parse(text).has_value());
    }
}

TEST_CASE("Endpoint <-> sockaddr") {
    sockaddr_storage ss{};
    const auto v4 = Endpoint::parse("192.0.2.1:5353").value();
    CHECK(v4.to_sockaddr(ss) == sizeof(sockaddr_in));
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    CHECK(in->sin_family == AF_INET);
    CHECK(ntohs(in->sin_port) == 5353);
    CHECK(IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss)) == v4.addr);

    const auto v6 = Endpoint::parse("[2001:db8::53]:53").value();
    CHECK(v6.to_sockaddr(ss) == sizeof(sockaddr_in6));
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    CHECK(in6->sin6_family == AF_INET6);
    CHECK(ntohs(in6->sin6_port) == 53);
    CHECK(IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss)) == v6.addr);
}

TEST_CASE("source_key: one source is an IPv4 address or an IPv6 /64") {
    CHECK(source_key(ip("192.0.2.1")) != source_key(ip("192.0.2.2")));
    CHECK(source_key(ip("::ffff:192.0.2.1")) == source_key(ip("192.0.2.1")));
    CHECK(source_key(ip("2001:db8:1:2::1")) == source_key(ip("2001:db8:1:2:ffff::9")));
    CHECK(source_key(ip("2001:db8:1:2::1")) != source_key(ip("2001:db8:1:3::1")));
    CHECK(source_key(ip("::")) != source_key(ip("0.0.0.0")));
    CHECK(source_key(ip("::1")) != source_key(ip("0.0.0.1")));
    CHECK(source_key(ip("192.0.2.1")).to_string() == "192.0.2.1");
    CHECK(source_key(ip("::ffff:127.1.0.5")).to_string() == "127.1.0.5");
    CHECK(source_key(ip("0.0.0.0")).to_string() == "0.0.0.0");
    CHECK(source_key(ip("2001:db8:1:2:ffff::9")).to_string() == "2001:db8:1:2::/64");
    CHECK(source_key(ip("::1")).to_string() == "::/64");
}

TEST_CASE("PrefixTrie: longest prefix match") {
    PrefixTrie<int> trie;
    CHECK(trie.empty());
    CHECK(trie.longest_match(ip("10.1.2.3")) == nullptr);

    trie.insert(cidr("10.0.0.0/8"), 8);
    trie.insert(cidr("10.1.0.0/16"), 16);
    trie.insert(cidr("10.1.2.0/24"), 24);
    trie.insert(cidr("10.1.2.3/32"), 32);
    CHECK_FALSE(trie.empty());

    struct Case {
        const char* addr = nullptr;
        std::optional<int> want;
    };

    for (const Case& c : {
             Case{"10.1.2.3", 32},
             Case{"10.1.2.4", 24},
             Case{"10.1.3.1", 16},
             Case{"10.2.0.1", 8},
             Case{"10.255.255.255", 8},
             Case{"11.0.0.0", std::nullopt},
             Case{"9.255.255.255", std::nullopt},
         }) {
        INFO(std::string(c.addr));
        const int* got = trie.longest_match(ip(c.addr));
        REQUIRE((got != nullptr) == c.want.has_value());
        if (got != nullptr) {
            CHECK(*got == *c.want);
        }
    }

    trie.insert(cidr("0.0.0.0/0"), 0);
    CHECK(*trie.longest_match(ip("11.0.0.0")) == 0);
    CHECK(*trie.longest_match(ip("10.1.2.3")) == 32);

    trie.insert(cidr("10.1.0.0/16"), 1600); // replaces
    CHECK(*trie.longest_match(ip("10.1.3.1")) == 1600);
}

TEST_CASE("PrefixTrie: IPv4 and IPv6 are separate") {
    PrefixTrie<int> trie;
    trie.insert(cidr("0.0.0.0/0"), 4);
    CHECK(trie.longest_match(ip("::1")) == nullptr);
    CHECK(trie.longest_match(ip("::")) == nullptr);
    trie.insert(cidr("::/0"), 6);
    trie.insert(cidr("2001:db8::/32"), 32);
    CHECK(*trie.longest_match(ip("::1")) == 6);
    CHECK(*trie.longest_match(ip("2001:db8::1")) == 32);
    CHECK(*trie.longest_match(ip("0.0.0.0")) == 4);
    CHECK(*trie.longest_match(ip("2001:db8::")) == 32);

    // An IPv4-mapped IPv6 source matches IPv4 prefixes only once unmapped.
    trie.insert(cidr("192.0.2.0/24"), 24);
    const auto mapped = ip("::ffff:192.0.2.7");
    CHECK(*trie.longest_match(mapped) == 6);
    CHECK(*trie.longest_match(mapped.unmapped()) == 24);
}

TEST_CASE("PrefixTrie: a more specific exclude wins whatever the insertion order") {
    enum class Side { Inside, Outside };
    const std::vector<std::pair<Cidr, Side>> prefixes = {
        {cidr("192.168.0.0/16"), Side::Inside},     {cidr("192.168.100.0/24"), Side::Outside},
        {cidr("192.168.100.128/25"), Side::Inside}, {cidr("fd00::/8"), Side::Inside},
        {cidr("fd00:1::/32"), Side::Outside},
    };
    for (const bool reversed : {false, true}) {
        CAPTURE(reversed);
        auto order = prefixes;
        if (reversed) {
            std::reverse(order.begin(), order.end());
        }
        PrefixTrie<Side> trie;
        for (const auto& [p, side] : order) {
            trie.insert(p, side);
        }
        CHECK(*trie.longest_match(ip("192.168.1.5")) == Side::Inside);
        CHECK(*trie.longest_match(ip("192.168.100.5")) == Side::Outside);
        CHECK(*trie.longest_match(ip("192.168.100.200")) == Side::Inside);
        CHECK(*trie.longest_match(ip("fd00::5")) == Side::Inside);
        CHECK(*trie.longest_match(ip("fd00:1::5")) == Side::Outside);
        CHECK(trie.longest_match(ip("10.0.0.1")) == nullptr);
    }
}

TEST_CASE("PrefixTrie: 10,000 prefixes agree with a linear scan") {
    Lcg rng(20240601);
    std::vector<Cidr> prefixes;
    PrefixTrie<size_t> trie;
    const auto random_address = [&](bool v4) {
        IpAddress a;
        a.family = v4 ? Family::V4 : Family::V6;
        for (auto& byte : std::span(a.bytes).first(v4 ? 4 : 16)) {
            byte = static_cast<uint8_t>(rng.next());
        }
        if (!v4 && (rng.next() % 2) == 0) {
            a.bytes[0] = 0x20; // crowd half of IPv6 into 2000::/8 so prefixes nest
        }
        return a;
    };
    for (size_t i = 0; i < 10000; ++i) {
        const bool v4 = i % 3 != 0;
        Cidr p{random_address(v4), 0};
        // Mostly short prefixes so that many nest; some host routes.
        p.len = v4 ? rng.next() % 33 : rng.next() % 65;
        if (!v4 && rng.next() % 10 == 0) {
            p.len = 128;
        }
        unsigned bit = 0; // clear the host bits, byte by byte
        for (auto& byte : p.addr.bytes) {
            byte &= static_cast<uint8_t>(0xFF00U >> std::min(8U, p.len - std::min(p.len, bit)));
            bit += 8;
        }
        prefixes.push_back(p);
        trie.insert(p, i);
    }

    const auto linear = [&](const IpAddress& a) -> std::optional<size_t> {
        std::optional<size_t> best;
        for (size_t i = 0; i < prefixes.size(); ++i) {
            // `>=`: a prefix inserted again replaces the earlier value, as insert does.
            if (prefixes[i].contains(a) && (!best || prefixes[i].len >= prefixes[*best].len)) {
                best = i;
            }
        }
        return best;
    };
    std::vector<IpAddress> probes;
    for (size_t i = 0; i < 1000; ++i) {
        probes.push_back(random_address(i % 2 == 0));
    }
    for (size_t i = 0; i < prefixes.size(); i += 10) {
        probes.push_back(prefixes[i].addr); // inside a prefix for sure
    }
    size_t mismatches = 0;
    size_t matched = 0;
    for (const auto& a : probes) {
        const size_t* got = trie.longest_match(a);
        const auto want = linear(a);
        matched += want ? 1 : 0;
        if ((got == nullptr) != !want || (got != nullptr && *got != *want)) {
            ++mismatches;
            FAIL_CHECK(a.to_string()
                       << ": trie " << (got ? prefixes[*got].to_string() : "none")
                       << ", linear scan " << (want ? prefixes[*want].to_string() : "none"));
        }
    }
    CHECK(mismatches == 0);
    CHECK(matched > probes.size() / 2);
}
