// Header, question and EDNS edge cases (RFC 1035 §4.1, RFC 6891, RFC 5001, RFC 8906).
#include <doctest/doctest.h>

#include "dns_test_util.hpp"

using namespace horizon;
using namespace horizon::test;

namespace {

const char* const kName = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com";

const dns::Snapshot& snap() {
    static const auto s = snapshot_of(std::string(config::default_text()));
    return *s;
}

uint16_t rcode_of(const std::vector<uint8_t>& w) {
    return w[3] & 0x0F;
}

uint16_t count(const std::vector<uint8_t>& w, int section) {
    return static_cast<uint16_t>((w[4 + 2 * section] << 8) | w[5 + 2 * section]);
}

void push16(std::vector<uint8_t>& q, uint16_t v) {
    q.push_back(static_cast<uint8_t>(v >> 8));
    q.push_back(static_cast<uint8_t>(v));
}

/// Appends a raw OPT RR (owner root) and bumps ARCOUNT.
void add_opt(std::vector<uint8_t>& q, const std::vector<uint8_t>& rdata, uint8_t owner = 0) {
    if (owner != 0) {
        q.push_back(1);
        q.push_back(owner);
    }
    q.push_back(0);
    push16(q, 41);
    push16(q, 4096);
    push16(q, 0);
    push16(q, 0);
    push16(q, static_cast<uint16_t>(rdata.size()));
    q.insert(q.end(), rdata.begin(), rdata.end());
    q[11] = static_cast<uint8_t>(q[11] + 1);
}

} // namespace

TEST_CASE("wire: messages that are not answered at all") {
    const auto q = make_query(kName, 1);
    for (size_t n : {0, 1, 11}) {
        CAPTURE(n);
        const std::vector<uint8_t> shortq(q.begin(), q.begin() + static_cast<long>(n));
        CHECK(ask(snap(), shortq, "127.0.0.1").outcome.size == 0);
    }
    QueryOptions o;
    o.flags = 0x8100; // QR=1: a response
    CHECK(ask(snap(), make_query(kName, 1, o), "127.0.0.1").outcome.size == 0);
}

TEST_CASE("wire: opcodes other than QUERY get NOTIMP (RFC 8906 §3.1.4)") {
    for (uint16_t opcode : {1, 2, 3, 4, 5, 15}) {
        CAPTURE(opcode);
        QueryOptions o;
        // RD, AD and CD set: they are QUERY flags (RFC 1035 §4.1.1, RFC 4035 §3.2.2, RFC 6840
        // §5.8), so none comes back with another opcode.
        o.flags = static_cast<uint16_t>(0x0100 | 0x0020 | 0x0010 | (opcode << 11));
        const auto a = ask(snap(), make_query(kName, 1, o), "127.0.0.1");
        REQUIRE(a.outcome.size == 12);
        CHECK(rcode_of(a.wire) == 4);
        CHECK(a.wire[0] == 0x12);
        CHECK(a.wire[1] == 0x34);
        CHECK(((a.wire[2] >> 3) & 0xF) == opcode); // opcode echoed
        CHECK((a.wire[2] & 0x01) == 0);            // RD not echoed
        CHECK((a.wire[3] & 0x30) == 0);            // nor AD, CD
        CHECK((a.wire[2] & 0x80) != 0);            // QR
    }
}

TEST_CASE("wire: a QUERY still gets RD and CD back (RFC 1035 §4.1.1, RFC 4035 §3.2.2)") {
    QueryOptions o;
    o.flags = 0x0100 | 0x0010;
    const auto a = ask(snap(), make_query(kName, 1, o), "127.0.0.1");
    REQUIRE(a.outcome.size > 12);
    CHECK((a.wire[2] & 0x01) == 1);
    CHECK((a.wire[3] & 0x10) != 0);
}

TEST_CASE("wire: a NOTIMP to an EDNS query carries our OPT (RFC 6891 §6.1.1)") {
    QueryOptions o;
    o.flags = static_cast<uint16_t>(0x0100 | (4 << 11)); // NOTIFY
    o.edns = true;
    const auto a = ask(snap(), make_query(kName, 6, o), "127.0.0.1");
    REQUIRE(a.outcome.size > 12);
    CHECK(rcode_of(a.wire) == 4);
    CHECK(a.wire[5] == 0);  // no question echoed
    CHECK(a.wire[11] == 1); // ARCOUNT: the OPT
    CHECK(a.wire[12] == 0); // its owner is the root
    CHECK(a.wire[13] == 0);
    CHECK(a.wire[14] == 41);
}

TEST_CASE("wire: malformed questions get FORMERR") {
    auto q = make_query(kName, 1);
    SUBCASE("QDCOUNT 0") {
        q[5] = 0;
    }
    SUBCASE("QDCOUNT 2") {
        q[5] = 2;
    }
    SUBCASE("question cut short") {
        q.resize(q.size() - 3);
    }
    SUBCASE("name runs off the end") {
        q.resize(20);
    }
    SUBCASE("compression pointer in the question (a loop onto itself)") {
        q.resize(12);
        q.push_back(0xC0);
        q.push_back(12);
        push16(q, 1);
        push16(q, 1);
    }
    SUBCASE("reserved label type 0x40") {
        q[12] = 0x41;
    }
    SUBCASE("name longer than 255 bytes") {
        q.resize(12);
        for (int i = 0; i < 5; ++i) {
            q.push_back(63);
            q.insert(q.end(), 63, 'a');
        }
        q.push_back(0);
        push16(q, 1);
        push16(q, 1);
    }
    const auto a = ask(snap(), q, "127.0.0.1");
    REQUIRE(a.outcome.size >= 12);
    CHECK(rcode_of(a.wire) == 1);
    CHECK(a.wire[0] == 0x12);
    CHECK(count(a.wire, 1) == 0);
}

TEST_CASE("wire: a record after the question that runs off the end is FORMERR with the question") {
    auto q = make_query(kName, 1);
    q[11] = 1; // ARCOUNT 1, nothing there
    const auto a = ask(snap(), q, "127.0.0.1");
    CHECK(rcode_of(a.wire) == 1);
    CHECK(count(a.wire, 0) == 1);
}

TEST_CASE("wire: EDNS answered with our OPT (RFC 6891 §6.1)") {
    QueryOptions o;
    o.edns = true;
    o.do_bit = true;
    const auto a = ask(snap(), make_query(kName, 1, o), "127.10.0.5");
    const auto p = decode(a.wire);
    CHECK(ldns_pkt_edns(p.get()));
    CHECK(ldns_pkt_edns_udp_size(p.get()) == 1232);
    CHECK(ldns_pkt_edns_version(p.get()) == 0);
    CHECK(ldns_pkt_edns_do(p.get())); // RFC 3225 §3: DO copied
    CHECK(ldns_pkt_ancount(p.get()) == 2);

    o.do_bit = false;
    const auto b = decode(ask(snap(), make_query(kName, 1, o), "127.10.0.5").wire);
    CHECK_FALSE(ldns_pkt_edns_do(b.get()));

    // Without EDNS the answer carries no OPT.
    const auto c = ask(snap(), make_query(kName, 1), "127.10.0.5");
    CHECK(count(c.wire, 3) == 0);
}

TEST_CASE("wire: NSID (RFC 5001) answers the identity") {
    QueryOptions o;
    o.edns = true;
    o.nsid = true;
    const auto a = ask(snap(), make_query(kName, 1, o), "127.0.0.1");
    const std::string wire(a.wire.begin(), a.wire.end());
    // OPTION-CODE 3, OPTION-LENGTH 7, "horizon"
    CHECK(wire.find(std::string("\x00\x03\x00\x07horizon", 11)) != std::string::npos);
}

TEST_CASE("wire: EDNS version 1 gets BADVERS (RFC 6891 §6.1.3)") {
    QueryOptions o;
    o.edns = true;
    o.version = 1;
    const auto a = ask(snap(), make_query(kName, 1, o), "127.0.0.1");
    const auto p = decode(a.wire);
    CHECK(ldns_pkt_get_rcode(p.get()) == 0);           // low bits of 16
    CHECK(ldns_pkt_edns_extended_rcode(p.get()) == 1); // 16 >> 4
    CHECK(ldns_pkt_edns_version(p.get()) == 0);
    CHECK(ldns_pkt_ancount(p.get()) == 0);
    CHECK(a.outcome.rcode == dns::Rcode::BadVers);
}

TEST_CASE("wire: bad OPT records are FORMERR, answered with an OPT (RFC 6891 §6.1.1, §7)") {
    auto q = make_query(kName, 1);
    SUBCASE("two OPT records") {
        add_opt(q, {});
        add_opt(q, {});
    }
    SUBCASE("OPT owner is not the root") {
        add_opt(q, {}, 'x');
    }
    SUBCASE("option length past the RDATA") {
        add_opt(q, {0, 3, 0, 9, 1});
    }
    SUBCASE("truncated option header") {
        add_opt(q, {0, 3, 0});
    }
    SUBCASE("OPT in the answer section") {
        add_opt(q, {});
        q[11] = 0;
        q[7] = 1;
    }
    const auto a = ask(snap(), q, "127.0.0.1");
    CHECK(rcode_of(a.wire) == 1);
    CHECK(count(a.wire, 0) == 1);
    CHECK(count(a.wire, 3) == 1);
}

TEST_CASE("wire: unknown EDNS options are ignored") {
    auto q = make_query(kName, 1);
    add_opt(q, {0xFD, 0xE9, 0, 2, 0xAB, 0xCD});
    const auto a = ask(snap(), q, "127.0.0.1");
    CHECK(rcode_of(a.wire) == 0);
    CHECK(count(a.wire, 1) == 2);
}

TEST_CASE("wire: flags in the answer") {
    QueryOptions o;
    o.flags = 0x0030; // AD and CD set, RD clear
    const auto a = ask(snap(), make_query(kName, 1, o), "127.0.0.1");
    CHECK((a.wire[2] & 0x01) == 0); // RD copied (clear)
    CHECK((a.wire[2] & 0x04) != 0); // AA
    CHECK((a.wire[3] & 0x80) == 0); // RA: no recursion
    CHECK((a.wire[3] & 0x20) == 0); // AD: we validate nothing
    CHECK((a.wire[3] & 0x10) != 0); // CD copied
}

TEST_CASE("wire: zone transfers, other classes and meta types") {
    CHECK(rcode_of(ask(snap(), make_query(kName, 252), "127.0.0.1").wire) == 5);
    CHECK(rcode_of(ask(snap(), make_query(kName, 251), "127.0.0.1").wire) == 5);
    CHECK(rcode_of(ask(snap(), make_query(kName, 253), "127.0.0.1").wire) == 4);
    QueryOptions hs;
    hs.qclass = 4;
    CHECK(rcode_of(ask(snap(), make_query(kName, 1, hs), "127.0.0.1").wire) == 5);
}

TEST_CASE("wire: truncation to min(client EDNS size or 512, udp_payload) (RFC 6891 §6.2.5)") {
    std::string ips;
    for (int i = 1; i <= 40; ++i) {
        ips += (i > 1 ? ", " : "") + std::string("\"192.168.1.") + std::to_string(i) + "\"";
    }
    const auto big = snapshot_of(R"(
[server]
udp_payload = 1232
[[cluster]]
name = "big"
region = "us-east-1"
endpoint = "big.gr7.us-east-1.eks.amazonaws.com"
vpc_cidrs = ["127.10.0.0/16"]
private_ips = [)" + ips + R"(]
public_ips = ["198.51.100.1"]
)");
    const std::string name = "big.gr7.us-east-1.eks.amazonaws.com";
    // 40 A records: 53 + 40 * 16 = 693 bytes, over 512.
    const auto plain = ask(*big, make_query(name, 1), "127.10.0.5");
    CHECK(plain.outcome.truncated);
    CHECK((plain.wire[2] & 0x02) != 0);
    CHECK(count(plain.wire, 1) == 0);
    CHECK(count(plain.wire, 0) == 1);
    CHECK(plain.wire.size() <= 512);

    const auto tcp = ask(*big, make_query(name, 1), "127.10.0.5", dns::Transport::Tcp);
    CHECK_FALSE(tcp.outcome.truncated);
    CHECK(count(tcp.wire, 1) == 40);

    QueryOptions o;
    o.edns = true;
    o.udp_size = 4096;
    const auto edns = ask(*big, make_query(name, 1, o), "127.10.0.5");
    CHECK_FALSE(edns.outcome.truncated);
    CHECK(count(edns.wire, 1) == 40);

    o.udp_size = 100; // below 512 counts as 512
    const auto tiny = ask(*big, make_query(name, 1, o), "127.10.0.5");
    CHECK(tiny.outcome.truncated);
    CHECK(count(tiny.wire, 3) == 1); // the OPT stays in a truncated answer
}
