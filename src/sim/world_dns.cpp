// The world as DNS shows it: the endpoint's addresses (peers), the effective configuration
// after each update, and the answer each vantage point's resolver gets (nodes, hosts, dig).
#include <array>

#include "control/api_access.hpp"
#include "dns/engine.hpp"
#include "sim/dns_client.hpp"
#include "sim/simulation.hpp"

namespace horizon::sim {

uint16_t Simulation::peer_index(const util::IpAddress& a, bool is_public) {
    for (size_t p = 0; p < peers_.size(); ++p) {
        if (peers_[p].addr == a && peers_[p].alive) {
            return static_cast<uint16_t>(p);
        }
    }
    peers_.push_back({a, is_public, true});
    return static_cast<uint16_t>(peers_.size() - 1);
}

void Simulation::rebuild() {
    const config::Config effective = cp_.effective();
    eff_ = effective.clusters.front();
    if (eff_.api) {
        eff_.api->vpc_egress_ip.reset(); // each node and host has its own egress address
    }
    snap_ = dns::build_snapshot(effective, cp_.generation());
    // EKS-FACTS §5: node-monitor-grace-period 40 s before Kubernetes 1.32, 50 s from 1.32.
    controller_.set_grace(
        sc_.model.grace.value_or(version_number(eff_.kubernetes_version) >= 132 ? 50'000 : 40'000));
    for (const auto& a : eff_.public_ips) {
        peer_index(a, true);
    }
    for (const auto& a : eff_.private_ips) {
        peer_index(a, false);
    }
}

util::IpAddress Simulation::dns_view(const util::IpAddress& addr) const {
    // EKS-FACTS §2: the private hosted zone is visible only with both VPC DNS attributes on;
    // otherwise an in-VPC client gets what public DNS answers (asked from outside the VPC).
    if (!(sc_.enable_dns_support && sc_.enable_dns_hostnames) && control::in_vpc(eff_, addr)) {
        return util::IpAddress::v4(192, 0, 2, 53); // RFC 5737 TEST-NET-1: outside every VPC
    }
    return addr;
}

uint16_t Simulation::answer_for(const util::IpAddress& client, bool& nxdomain) {
    std::vector<util::IpAddress> ips;
    uint32_t ttl = 0;
    nxdomain = false;
    const util::IpAddress view = dns_view(client);
    bool ok = false;
    if (opt_.resolver != nullptr) {
        ok = opt_.resolver->resolve(*snap_, eff_.endpoint, view, ips, ttl, nxdomain);
    } else {
        const auto query = build_query(eff_.endpoint, 0x5153, std::nullopt);
        std::array<uint8_t, 4096> out{};
        const auto o = dns::answer(*snap_, query, dns::Client{view, dns::Transport::Udp}, out);
        if (const auto parsed = parse_answer(std::span(out.data(), o.size))) {
            ok = true;
            ips = parsed->a;
            nxdomain = parsed->rcode == 3;
        }
    }
    (void)ok;
    std::vector<uint16_t> peers;
    for (const auto& ip : ips) {
        const bool pub = contains(eff_.public_ips, ip) ||
                         (!contains(eff_.private_ips, ip) && !control::in_vpc(eff_, ip));
        peers.push_back(peer_index(ip, pub));
    }
    if (nxdomain) {
        ++dns_count_[2];
    } else if (!peers.empty()) {
        ++dns_count_[peers_[peers.front()].is_public ? 1 : 0];
    }
    for (size_t k = 0; k < answers_.size(); ++k) {
        if (answers_[k] == peers) {
            return static_cast<uint16_t>(k);
        }
    }
    answers_.push_back(std::move(peers));
    return static_cast<uint16_t>(answers_.size() - 1);
}

uint16_t Simulation::resolve_node(uint32_t i) {
    Node& n = nodes_[i];
    if (now_ < n.dns_expiry) {
        return n.dns_answer;
    }
    bool nx = false;
    n.dns_answer = answer_for(node_ip(i), nx);
    n.dns_expiry = now_ + static_cast<Millis>(eff_.ttl) * 1000; // the answer's TTL (60 s)
    return n.dns_answer;
}

bool Simulation::source_of(const std::string& from, util::IpAddress& addr, util::IpAddress& egress,
                           bool& member) const {
    for (const auto& h : sc_.hosts) {
        if (h.name == from) {
            addr = h.address;
            egress = h.egress_ip.value_or(control::in_vpc(eff_, h.address) ? util::IpAddress{}
                                                                           : h.address);
            member = h.security_group_member;
            return true;
        }
    }
    if (const size_t i = node_index(from); i != std::string::npos) {
        const Node& n = nodes_[i];
        addr = from_v4(n.ip);
        egress = from_v4(n.egress);
        member = sc_.groups[n.group].security_group_member;
        return true;
    }
    return false;
}

std::vector<std::string> Simulation::dig(const std::string& from) {
    util::IpAddress addr;
    util::IpAddress egress;
    bool member = false;
    source_of(from, addr, egress, member);
    bool nx = false;
    const uint16_t a = answer_for(addr, nx);
    std::vector<std::string> out;
    for (const uint16_t p : answers_[a]) {
        out.push_back(peers_[p].addr.to_string());
    }
    return out;
}

} // namespace horizon::sim
