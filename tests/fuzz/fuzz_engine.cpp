// libFuzzer target: arbitrary bytes through the engine, over UDP and TCP, from both views.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "dns/engine.hpp"
#include "dns/zone.hpp"

namespace {

// A zone with every answer kind: CNAME chain and loop, wildcard, empty non-terminal, delegation.
constexpr const char* kZone = R"($ORIGIN lab.internal.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
@ IN NS ns1
ns1 IN A 10.0.0.53
www IN A 10.0.0.10
www IN AAAA fd00::10
alias IN CNAME www
loop1 IN CNAME loop2
loop2 IN CNAME loop1
ext IN CNAME www.example.com.
*.apps IN A 10.0.1.1
a.b.apps IN TXT "x"
sub IN NS ns.sub
ns.sub IN A 10.0.5.53
)";

std::shared_ptr<const horizon::dns::ZoneSet> zones() {
    horizon::config::ZoneConfig z;
    z.file = z.path = "fuzz.zone";
    z.origin = "lab.internal";
    auto parsed = horizon::dns::parse_zone(kZone, z);
    auto* zone = std::get_if<horizon::dns::Zone>(&parsed);
    if (zone == nullptr) {
        throw std::logic_error("the fuzz zone does not load");
    }
    std::vector<horizon::dns::Zone> list;
    list.push_back(std::move(*zone));
    return std::make_shared<const horizon::dns::ZoneSet>(std::move(list));
}

const horizon::dns::Snapshot& snapshot() {
    static const auto snap = [] {
        auto loaded = horizon::config::load(horizon::config::default_text(), "<default>");
        const auto* cfg = std::get_if<horizon::config::Config>(&loaded);
        if (cfg == nullptr) {
            throw std::logic_error("the built-in default configuration does not load");
        }
        auto c = *cfg;
        // A second cluster in private mode answering NXDOMAIN outside, and an IPv6 address.
        auto extra = c.clusters.front();
        extra.name = "priv";
        extra.endpoint = "0123456789ABCDEF0123456789ABCDEF.yl4.eu-west-1.eks.amazonaws.com";
        extra.access_mode = horizon::config::AccessMode::Private;
        extra.private_outside = horizon::config::PrivateOutside::NxDomain;
        extra.private_ips.push_back(*horizon::util::IpAddress::parse("fd00::10"));
        c.clusters.push_back(extra);
        // ECS decides for this source (RFC 7871): the subnet path is fuzzed too.
        c.server.trusted_ecs_sources = {*horizon::util::Cidr::parse("127.0.0.53/32")};
        return horizon::dns::build_snapshot(c, 7, {}, zones());
    }();
    return *snap;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::vector<uint8_t> out(horizon::dns::kMaxMessage);
    const std::span<const uint8_t> in(data, size);
    using horizon::dns::Transport;

    struct Source {
        const char* addr;
        bool vpc_listener; // arrived on a resolver listener ([server] listen view "vpc...")
        const char* vpc_cluster;
    };

    for (const auto& src : {Source{"127.10.0.5", false, ""}, Source{"127.0.0.1", false, ""},
                            Source{"::ffff:192.168.3.4", false, ""},
                            Source{"2001:db8::1", false, ""}, Source{"127.0.0.53", false, ""},
                            Source{"127.0.0.53", true, ""}, Source{"2001:db8::1", true, "priv"}}) {
        for (const auto t : {Transport::Udp, Transport::Tcp}) {
            const horizon::dns::Client client{*horizon::util::IpAddress::parse(src.addr), t,
                                              src.vpc_listener, src.vpc_cluster};
            const auto o = horizon::dns::answer(snapshot(), in, client, out);
            if (o.size > out.size() || (t == Transport::Udp && o.size > 4096)) {
                __builtin_trap();
            }
            // Whatever we answer must itself parse as a DNS message header with QR=1.
            if (o.size != 0 && (o.size < 12 || (out[2] & 0x80) == 0)) {
                __builtin_trap();
            }
        }
    }
    return 0;
}
