// Who connects where: the kubelet's and kube-proxy's long-lived connections to the endpoint,
// the address each picks from its DNS answer, and the gate's outcome (accepted, or the SYN
// dropped and why).
#include <algorithm>
#include <fmt/format.h>

#include "control/api_access.hpp"
#include "sim/simulation.hpp"

namespace horizon::sim {

std::optional<std::string> Simulation::denied(const util::IpAddress& source,
                                              const util::IpAddress& egress, bool member,
                                              uint16_t peer) const {
    const Peer& p = peers_[peer];
    if (!p.alive) {
        return std::string("the ENI behind this address was deleted by an upgrade");
    }
    if (p.is_public) {
        if (egress == util::IpAddress{}) {
            return std::string("no way out of the VPC (no NAT gateway or public IP)");
        }
        const auto d = control::decide_api_connection(eff_, control::ApiSide::Public, egress);
        if (!d.allowed()) {
            return d.explain(control::ApiSide::Public, egress);
        }
        return std::nullopt;
    }
    if (!control::in_vpc(eff_, source)) {
        return std::string("a private address, not routed from outside the VPC");
    }
    if (member && eff_.access_mode != config::AccessMode::Public) {
        return std::nullopt; // the cluster security group admits its own members
    }
    const auto d = control::decide_api_connection(eff_, control::ApiSide::Private, source);
    if (!d.allowed()) {
        return d.explain(control::ApiSide::Private, source);
    }
    return std::nullopt;
}

void Simulation::reset_conn(uint32_t i, Conn& c, bool kube_proxy, const char* why) {
    if (c.state == ConnState::Established) {
        node_event(i,
                   fmt::format("{} connection to {}:443 closed ({})",
                               kube_proxy ? "kube-proxy" : "kubelet",
                               peers_[c.peer].addr.to_string(), why),
                   "conn");
    }
    c.state = ConnState::None;
}

bool Simulation::connect(uint32_t i, Conn& c, bool kube_proxy) {
    Node& n = nodes_[i];
    const char* who = kube_proxy ? "kube-proxy" : "kubelet";
    bool& logged = kube_proxy ? n.proxy_fail_logged : n.fail_logged;
    const uint16_t ans = resolve_node(i);
    if (answers_[ans].empty()) {
        c.state = ConnState::None;
        if (!logged) {
            node_event(i, fmt::format("{}: dial tcp: lookup {}: no such host", who, eff_.endpoint),
                       "conn");
            logged = true;
        }
        return false;
    }
    const auto& list = answers_[ans];
    const uint16_t peer = list[rand() % list.size()];
    c.peer = peer;
    c.lport = ephemeral_port();
    const auto why = n.partitioned ? std::optional<std::string>("the node is partitioned")
                                   : denied(node_ip(i), from_v4(n.egress),
                                            sc_.groups[n.group].security_group_member, peer);
    if (why) {
        c.state = ConnState::SynSent;
        if (!logged) {
            node_event(i,
                       fmt::format("{}: dial tcp {}:443: i/o timeout ({})", who,
                                   peers_[peer].addr.to_string(), *why),
                       "conn");
            logged = true;
        }
        return false;
    }
    c.state = ConnState::Established;
    c.api_server = static_cast<uint8_t>(rand() % sc_.model.api_servers);
    logged = false;
    node_event(
        i,
        fmt::format("{} connected to {}:443 ({})", who, peers_[peer].addr.to_string(),
                    peers_[peer].is_public ? "public: the NLB" : "private: an EKS-owned ENI"),
        "conn");
    return true;
}

bool Simulation::kubelet_request(uint32_t i) {
    Node& n = nodes_[i];
    Conn& c = n.kubelet;
    if (c.state == ConnState::Established) {
        if (n.partitioned) {
            reset_conn(i, c, false, "requests time out: the node is partitioned");
            c.state = ConnState::SynSent;
            return false;
        }
        if (peers_[c.peer].alive) {
            return true;
        }
        reset_conn(i, c, false, "the ENI was deleted");
    }
    return connect(i, c, false);
}

void Simulation::proxy_connect(uint32_t i) {
    Node& n = nodes_[i];
    if (!n.proxy_running || n.proxy.state == ConnState::Established) {
        return;
    }
    if (connect(i, n.proxy, true)) {
        n.proxy_backoff = 0;
        return;
    }
    // client-go's reflector: back off 800 ms doubling to 30 s between list/watch attempts.
    const Millis backoff =
        std::min<Millis>(Millis{800} << std::min<uint8_t>(n.proxy_backoff, 10), 30'000);
    if (n.proxy_backoff < 255) {
        ++n.proxy_backoff;
    }
    q_.push(now_ + sc_.model.request_timeout + backoff, kProxy, i, n.proxy_gen);
}

void Simulation::reset_denied_conns() {
    // [cluster.api] reset_on_update: connections the new configuration denies are reset.
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        for (const bool proxy : {false, true}) {
            Conn& c = proxy ? n.proxy : n.kubelet;
            if (c.state == ConnState::Established &&
                denied(node_ip(i), from_v4(n.egress), sc_.groups[n.group].security_group_member,
                       c.peer)) {
                reset_conn(i, c, proxy, "reset_on_update: the new configuration denies it");
                if (proxy) {
                    q_.push(now_, kProxy, i, ++n.proxy_gen);
                }
            }
        }
    }
}

std::pair<std::string, std::string> Simulation::connection(size_t i, bool kube_proxy) const {
    const Conn& c = kube_proxy ? nodes_[i].proxy : nodes_[i].kubelet;
    switch (c.state) {
    case ConnState::Established:
        return {"ESTAB", peers_[c.peer].addr.to_string()};
    case ConnState::SynSent:
        return {"SYN-SENT", peers_[c.peer].addr.to_string()};
    case ConnState::None:
        break;
    }
    return {"", ""};
}

} // namespace horizon::sim
