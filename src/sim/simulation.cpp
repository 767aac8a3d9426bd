// The model's event handlers: heartbeats, connections, the node controller, steps, observations.
#include "sim/simulation.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>

#include "control/api_access.hpp"
#include "control/shorthand.hpp"
#include "dns/engine.hpp"
#include "sim/dns_client.hpp"

namespace horizon::sim {

namespace {

enum Kind : uint8_t {
    kLease = 1,
    kStatus,
    kProxy,
    kEvict,
    kMonitor,
    kStep,
    kUpdateDue,
    kRollout,
    kApiRoll,
    kUpgradeDone,
    kHeal,
    kSample,
};

constexpr uint32_t kLeaseDuration = 40'000; // leaseDurationSeconds: "fresh" in the metrics
constexpr uint16_t kApiPort = 443;

uint32_t v4_of(const util::IpAddress& a) {
    const auto u = a.unmapped();
    return (static_cast<uint32_t>(u.bytes[0]) << 24) | (static_cast<uint32_t>(u.bytes[1]) << 16) |
           (static_cast<uint32_t>(u.bytes[2]) << 8) | u.bytes[3];
}

util::IpAddress from_v4(uint32_t v) {
    return util::IpAddress::v4(static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                               static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v));
}

const char* cond_text(Cond c) {
    switch (c) {
    case Cond::True:
        return "True";
    case Cond::False:
        return "False";
    case Cond::Unknown:
        return "Unknown";
    }
    return "?";
}

const char* taint_text(uint8_t t) {
    return t == 1 ? "node.kubernetes.io/unreachable:NoExecute"
                  : "node.kubernetes.io/not-ready:NoExecute";
}

/// kubectl's age column (k8s.io/apimachinery/pkg/util/duration.HumanDuration).
std::string human_duration(Millis ms) {
    const int64_t s = ms / 1000;
    if (s < 0) {
        return "0s";
    }
    if (s < 120) {
        return fmt::format("{}s", s);
    }
    const int64_t m = s / 60;
    if (m < 10) {
        return s % 60 == 0 ? fmt::format("{}m", m) : fmt::format("{}m{}s", m, s % 60);
    }
    if (m < 180) {
        return fmt::format("{}m", m);
    }
    const int64_t h = m / 60;
    if (h < 8) {
        return m % 60 == 0 ? fmt::format("{}h", h) : fmt::format("{}h{}m", h, m % 60);
    }
    if (h < 48) {
        return fmt::format("{}h", h);
    }
    const int64_t d = h / 24;
    if (h < 24 * 8) {
        return h % 24 == 0 ? fmt::format("{}d", d) : fmt::format("{}d{}h", d, h % 24);
    }
    return fmt::format("{}d", d);
}

/// Left-aligned columns separated by three spaces, as kubectl prints tables.
std::vector<std::string> table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> width;
    for (const auto& r : rows) {
        width.resize(std::max(width.size(), r.size()));
        for (size_t c = 0; c < r.size(); ++c) {
            width[c] = std::max(width[c], r[c].size());
        }
    }
    std::vector<std::string> out;
    for (const auto& r : rows) {
        std::string line;
        for (size_t c = 0; c < r.size(); ++c) {
            line += r[c];
            if (c + 1 < r.size()) {
                line += std::string(width[c] - r[c].size() + 3, ' ');
            }
        }
        out.push_back(std::move(line));
    }
    return out;
}

/// The AWS CLI's JSON output: 4-space indentation.
std::vector<std::string> json_lines(const nlohmann::json& j) {
    std::vector<std::string> out;
    const std::string text = j.dump(4);
    size_t start = 0;
    while (start <= text.size()) {
        const auto nl = text.find('\n', start);
        out.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
        if (nl == std::string::npos) {
            break;
        }
        start = nl + 1;
    }
    return out;
}

std::string aws_error(const control::ApiResult& r, const char* operation) {
    return fmt::format("An error occurred ({}) when calling the {} operation: {}", r.error_type,
                       operation, r.body.value("message", ""));
}

std::string rfc3339_micro(int64_t epoch_ms) {
    const auto tp = std::chrono::system_clock::time_point(std::chrono::milliseconds(epoch_ms));
    const auto days = std::chrono::floor<std::chrono::days>(tp);
    const std::chrono::year_month_day ymd(days);
    const std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::milliseconds>(tp - days));
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}000Z",
                       static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                       static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                       hms.seconds().count(), hms.subseconds().count());
}

bool contains(const std::vector<util::IpAddress>& list, const util::IpAddress& a) {
    return std::find(list.begin(), list.end(), a) != list.end();
}

} // namespace

Simulation::Simulation(const Scenario& sc, Options opt)
    : sc_(sc)
    , opt_(std::move(opt))
    , rng_(opt_.seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL)
    , cp_(
          [&] {
              config::Config c;
              c.clusters.push_back(sc.cluster);
              if (!sc.has_api_table) {
                  // The sim always decides connections as the API endpoint does; without a
                  // [cluster.api] the security group admits only its members (EKS's default).
                  c.clusters.back().api.emplace();
                  c.clusters.back().api->security_group_ingress.clear();
              }
              return c;
          }(),
          nlohmann::json(), control::TimePoint(std::chrono::milliseconds(sc.start_epoch_ms)),
          cp_log_) {
    until_ = opt_.until > 0 ? opt_.until : sc.until;
    cp_.seed(opt_.seed);
    rebuild();
    node_events_ = sc.node_events.value_or([&] {
        uint64_t n = 0;
        for (const auto& g : sc.groups) {
            n += g.nodes;
        }
        return n <= 100;
    }());

    zones_.resize(sc.zones.size());
    for (size_t z = 0; z < sc.zones.size(); ++z) {
        zones_[z].name = sc.zones[z];
    }
    group_counters_.resize(sc.groups.size());

    // Addresses: explicit ones first, then the subnet's next free address from .10 on.
    std::vector<uint32_t> next_host(sc.subnets.size());
    std::vector<uint32_t> next_public(sc.subnets.size(), 1);
    std::vector<uint32_t> taken;
    for (const auto& g : sc.groups) {
        for (const auto& a : g.addresses) {
            taken.push_back(v4_of(a));
        }
    }
    for (size_t s = 0; s < sc.subnets.size(); ++s) {
        next_host[s] = v4_of(sc.subnets[s].cidr.addr) + 10;
    }
    size_t total = 0;
    for (const auto& g : sc.groups) {
        total += g.nodes;
    }
    nodes_.reserve(total);
    q_.reserve(total * 3 + 64);
    for (uint16_t gi = 0; gi < sc.groups.size(); ++gi) {
        const NodeGroup& g = sc.groups[gi];
        for (uint32_t k = 0; k < g.nodes; ++k) {
            Node n;
            uint16_t subnet = g.subnets[k % g.subnets.size()];
            if (k < g.addresses.size()) {
                n.ip = v4_of(g.addresses[k]);
                for (uint16_t s : g.subnets) {
                    if (sc.subnets[s].cidr.contains(g.addresses[k])) {
                        subnet = s;
                    }
                }
            } else {
                while (std::find(taken.begin(), taken.end(), next_host[subnet]) != taken.end()) {
                    ++next_host[subnet];
                }
                n.ip = next_host[subnet]++;
            }
            const Subnet& sn = sc.subnets[subnet];
            if (sn.nat_ip) {
                n.egress = v4_of(*sn.nat_ip);
            } else if (sn.public_ip_pool) {
                n.egress = v4_of(sn.public_ip_pool->addr) + next_public[subnet]++;
            }
            n.group = gi;
            n.zone = sn.zone;
            n.created = -g.age;
            n.pods = g.pods;
            n.kubelet_pid = static_cast<uint16_t>(2000 + rand() % 3000);
            n.proxy_pid = static_cast<uint16_t>(5000 + rand() % 3000);
            // Steady state at t=0: each timer at its own phase, the last beats just before.
            // Phases are uniform over the period but rise with the node's index (a random
            // offset within its slot), so that events in time order walk the nodes in memory
            // order: 100,000 nodes then run from the cache instead of from DRAM.
            const auto phase = [&](Millis period, Millis shift) {
                const auto slot = std::max<Millis>(1, period / static_cast<Millis>(total));
                const auto index = static_cast<Millis>(nodes_.size());
                return (index * period / static_cast<Millis>(total) +
                        static_cast<Millis>(rand() % static_cast<uint64_t>(slot)) + shift) %
                       period;
            };
            const Millis lease_phase = phase(sc.model.lease_interval, 0);
            const Millis status_phase =
                phase(sc.model.status_interval, sc.model.status_interval / 2);
            if (g.heartbeat == Heartbeat::Lease) {
                n.last_renew = lease_phase - sc.model.lease_interval;
                n.last_post = status_phase - static_cast<Millis>(rand() % sc.model.status_report);
            } else {
                n.last_renew = -g.age;
                n.last_post = status_phase - sc.model.status_interval;
            }
            n.probe = std::max(n.last_renew, n.last_post);
            ++zones_[n.zone].nodes;
            nodes_.push_back(n);
            const auto i = static_cast<uint32_t>(nodes_.size() - 1);
            if (g.heartbeat == Heartbeat::Lease) {
                q_.push(lease_phase, kLease, i, 0);
            }
            q_.push(status_phase, kStatus, i, 0);
        }
    }
    // The connections the nodes already hold at t=0 (not logged: they predate the scenario).
    const bool events = node_events_;
    node_events_ = false;
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        connect(i, nodes_[i].kubelet, false);
        connect(i, nodes_[i].proxy, true);
    }
    node_events_ = events;
    dns_count_[0] = dns_count_[1] = dns_count_[2] = 0;

    q_.push(0, kMonitor, 0);
    for (size_t s = 0; s < sc.steps.size(); ++s) {
        q_.push(sc.steps[s].at, kStep, static_cast<uint32_t>(s));
    }
    if (opt_.on_sample) {
        q_.push(sc.metrics_interval, kSample, 0);
    }
}

uint64_t Simulation::rand() {
    // splitmix64: small, fast and the same on every platform.
    uint64_t z = (rng_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint16_t Simulation::ephemeral_port() {
    return static_cast<uint16_t>(32768 + rand() % (60999 - 32768 + 1)); // ip_local_port_range
}

control::TimePoint Simulation::wall(Millis t) const {
    return control::TimePoint(std::chrono::milliseconds(sc_.start_epoch_ms + t));
}

util::IpAddress Simulation::node_ip(uint32_t i) const {
    return from_v4(nodes_[i].ip);
}

std::string Simulation::node_name(size_t i) const {
    const uint32_t ip = nodes_[i].ip;
    return fmt::format("ip-{}-{}-{}-{}.{}.compute.internal", ip >> 24, (ip >> 16) & 255,
                       (ip >> 8) & 255, ip & 255, sc_.cluster.region);
}

size_t Simulation::node_index(const std::string& name_or_ip) const {
    if (const auto ip = util::IpAddress::parse(name_or_ip); ip && ip->unmapped().is_v4()) {
        const uint32_t v = v4_of(*ip);
        for (size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i].ip == v) {
                return i;
            }
        }
        return std::string::npos;
    }
    // ip-A-B-C-D[.region.compute.internal]
    if (name_or_ip.rfind("ip-", 0) == 0) {
        std::string dotted = name_or_ip.substr(3, name_or_ip.find('.') - 3);
        std::replace(dotted.begin(), dotted.end(), '-', '.');
        if (const auto ip = util::IpAddress::parse(dotted); ip && ip->is_v4()) {
            return node_index(dotted);
        }
    }
    return std::string::npos;
}

uint32_t Simulation::pods_left(size_t i) const {
    return nodes_[i].pods + sc_.groups[nodes_[i].group].daemonset_pods;
}

Millis Simulation::grace() const {
    return grace_;
}

Millis Simulation::grace_for(const Node& n) const {
    const Millis g = grace_;
    return now_ - n.created < sc_.model.startup_grace ? std::max(g, sc_.model.startup_grace) : g;
}

void Simulation::emit(Record r) {
    r.t = now_;
    if (opt_.on_record) {
        opt_.on_record(r);
    }
}

void Simulation::node_event(uint32_t i, const std::string& text, const char* type) {
    if (!node_events_) {
        return;
    }
    Record r;
    r.type = type;
    r.text = node_name(i) + ": " + text;
    r.data["node"] = node_name(i);
    emit(std::move(r));
}

void Simulation::account(uint16_t group, uint64_t requests, uint64_t bytes) {
    Counters& c = group == 0xFFFF ? other_ : group_counters_[group];
    c.api_requests += requests;
    c.etcd_bytes += bytes;
}

// ---------------------------------------------------------------------------------------------
// The control plane's state as the data plane sees it

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
    grace_ =
        sc_.model.grace.value_or(version_number(eff_.kubernetes_version) >= 132 ? 50'000 : 40'000);
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

// ---------------------------------------------------------------------------------------------
// Connections

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

// ---------------------------------------------------------------------------------------------
// Heartbeats

void Simulation::lease_renew(uint32_t i) {
    Node& n = nodes_[i];
    if (!n.kubelet_running) {
        return;
    }
    const Model& m = sc_.model;
    if (kubelet_request(i)) {
        if (n.backoff > 0) {
            node_event(i, fmt::format("lease renewed after {} failed attempt(s)", n.backoff));
        }
        n.backoff = 0;
        n.last_renew = now_;
        n.probe = std::max(n.probe, now_);
        ++group_counters_[n.group].lease_updates;
        account(n.group, 1, m.lease_bytes); // one PUT of the Lease
        q_.push(now_ + m.lease_interval, kLease, i, n.lease_gen);
        return;
    }
    // The request failed after the client timeout (a dropped SYN or a silent peer); retry with
    // backoff 200 ms doubling to 7 s (EKS-FACTS §5).
    const Millis backoff =
        std::min<Millis>(m.backoff_min << std::min<uint8_t>(n.backoff, 20), m.backoff_max);
    if (n.backoff < 255) {
        ++n.backoff;
    }
    if (n.backoff == 1) {
        node_event(i, "lease renewal failed; retrying with backoff");
    }
    q_.push(now_ + m.request_timeout + backoff, kLease, i, n.lease_gen);
}

void Simulation::status_tick(uint32_t i) {
    Node& n = nodes_[i];
    if (!n.kubelet_running) {
        return;
    }
    const Model& m = sc_.model;
    q_.push(now_ + m.status_interval, kStatus, i, n.status_gen);
    if (!kubelet_request(i)) {
        return;
    }
    // Each computation reads the Node (one GET, from the API server's cache), and posts it when
    // it changed (against what the API server holds), every 5 min, or always without Leases.
    Counters& gc = group_counters_[n.group];
    ++gc.status_gets;
    account(n.group, 1, 0);
    const bool status_only = sc_.groups[n.group].heartbeat == Heartbeat::StatusOnly;
    if (status_only || n.reported != n.posted || now_ - n.last_post >= m.status_report) {
        if (n.reported != n.posted) {
            node_event(i, fmt::format("kubelet posts NodeStatus Ready={}",
                                      cond_text(static_cast<Cond>(n.reported))));
        }
        ++gc.status_patches;
        account(n.group, 1, m.node_bytes); // the whole Node object is written again
        n.last_post = now_;
        n.posted = n.reported;
        n.probe = std::max(n.probe, now_);
    }
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

// ---------------------------------------------------------------------------------------------
// The node controller (node lifecycle controller, taint-based eviction)

void Simulation::set_ready(uint32_t i, Cond c) {
    Node& n = nodes_[i];
    const Cond old = static_cast<Cond>(n.ready);
    n.ready = static_cast<uint8_t>(c);
    account(0xFFFF, 1, sc_.model.node_bytes); // the controller writes the condition
    if (c == Cond::Unknown) {
        n.posted = static_cast<uint8_t>(Cond::Unknown); // what the API server now holds
        node_event(i, fmt::format("Ready {} -> Unknown: no heartbeat for {:.1f} s (grace {} s)",
                                  cond_text(old), static_cast<double>(now_ - n.probe) / 1000.0,
                                  grace_for(n) / 1000));
    } else {
        node_event(i, fmt::format("Ready {} -> {}", cond_text(old), cond_text(c)));
    }
    if (c == Cond::True && n.taint != kNoTaint) {
        untaint(i, "the node is Ready again");
    }
}

void Simulation::untaint(uint32_t i, const char* why) {
    Node& n = nodes_[i];
    if (n.taint == kNoTaint) {
        return;
    }
    node_event(i, fmt::format("taint {} removed ({})", taint_text(n.taint), why));
    n.taint = kNoTaint;
    n.taint_at = -1;
    ++n.evict_gen; // cancels the pending eviction
    account(0xFFFF, 1, sc_.model.node_bytes);
}

void Simulation::monitor_pass() {
    const Model& m = sc_.model;
    q_.push(now_ + m.monitor_period, kMonitor, 0);
    std::vector<uint32_t> ready_count(zones_.size());
    std::vector<uint32_t> not_ready(zones_.size());
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        // Unknown at the first pass at or after the grace period without a heartbeat.
        if (now_ - n.probe >= grace_for(n)) {
            if (n.ready != static_cast<uint8_t>(Cond::Unknown)) {
                set_ready(i, Cond::Unknown);
            }
        } else if (n.posted != static_cast<uint8_t>(Cond::Unknown) && n.ready != n.posted) {
            set_ready(i, static_cast<Cond>(n.posted));
        }
        if (n.ready == static_cast<uint8_t>(Cond::True)) {
            ++ready_count[n.zone];
        } else {
            ++not_ready[n.zone];
        }
    }
    // Zone states (ComputeZoneState) and the disruption rules of EKS-FACTS §5.
    bool all_full = true;
    bool any = false;
    for (size_t z = 0; z < zones_.size(); ++z) {
        Zone& zone = zones_[z];
        if (zone.nodes == 0) {
            continue;
        }
        any = true;
        uint8_t state = 0;
        if (ready_count[z] == 0 && not_ready[z] > 0) {
            state = 2;
        } else if (not_ready[z] > 2 &&
                   static_cast<double>(not_ready[z]) / static_cast<double>(zone.nodes) >=
                       m.unhealthy_zone_threshold) {
            state = 1;
        }
        if (state != 2) {
            all_full = false;
        }
        if (state != zone.state) {
            static constexpr std::array<const char*, 3> kNames = {"Normal", "PartialDisruption",
                                                                  "FullDisruption"};
            Record r;
            r.type = "zone";
            r.text = fmt::format("zone {}: {} -> {} ({} of {} nodes not Ready)", zone.name,
                                 kNames[zone.state], kNames[state], not_ready[z], zone.nodes);
            r.data["zone"] = zone.name;
            r.data["state"] = kNames[state];
            emit(std::move(r));
            zone.state = state;
        }
    }
    all_full = all_full && any;
    if (all_full != disrupted_all_) {
        disrupted_all_ = all_full;
        Record r;
        r.type = "controller";
        r.text = all_full
                     ? "all zones fully disrupted: the node controller assumes a control-plane "
                       "network problem, removes NoExecute taints and stops evicting"
                     : "some nodes are Ready again: evictions resume";
        emit(std::move(r));
        if (all_full) {
            for (uint32_t i = 0; i < nodes_.size(); ++i) {
                untaint(i, "all zones fully disrupted");
                nodes_[i].queued = false;
            }
            for (auto& zone : zones_) {
                zone.queue.clear();
                zone.queue_head = 0;
            }
        }
    }
    if (disrupted_all_) {
        return;
    }
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        if (n.ready == static_cast<uint8_t>(Cond::True)) {
            continue;
        }
        const uint8_t kind = n.ready == static_cast<uint8_t>(Cond::Unknown) ? 1 : 2;
        if (n.taint != kNoTaint && n.taint != kind) {
            // Swapped at once, not rate limited; the new taint's tolerations start now.
            node_event(
                i, fmt::format("taint {} replaced by {}", taint_text(n.taint), taint_text(kind)));
            n.taint = kind;
            n.taint_at = now_;
            q_.push(now_ + m.toleration, kEvict, i, ++n.evict_gen);
        } else if (n.taint == kNoTaint && !n.queued) {
            n.queued = true;
            zones_[n.zone].queue.push_back(i);
        }
    }
    // The tainting queues, one token bucket (burst 1) per zone.
    for (auto& zone : zones_) {
        double rate = m.eviction_rate;
        if (zone.state == 1) {
            rate = zone.nodes > m.large_cluster_threshold ? m.secondary_eviction_rate : 0.0;
        }
        while (zone.queue_head < zone.queue.size() && rate > 0 && now_ >= zone.next_token) {
            const uint32_t i = zone.queue[zone.queue_head++];
            Node& n = nodes_[i];
            n.queued = false;
            if (n.ready == static_cast<uint8_t>(Cond::True) || n.taint != kNoTaint) {
                continue; // recovered meanwhile: no token spent
            }
            n.taint = n.ready == static_cast<uint8_t>(Cond::Unknown) ? 1 : 2;
            n.taint_at = now_;
            account(0xFFFF, 1, m.node_bytes);
            node_event(i, fmt::format("taint {} added; pods without a toleration are evicted "
                                      "at +{} s",
                                      taint_text(n.taint), m.toleration / 1000));
            q_.push(now_ + m.toleration, kEvict, i, ++n.evict_gen);
            zone.next_token = now_ + static_cast<Millis>(1000.0 / rate);
        }
        if (zone.queue_head == zone.queue.size()) {
            zone.queue.clear();
            zone.queue_head = 0;
        }
    }
}

void Simulation::evict(uint32_t i) {
    Node& n = nodes_[i];
    if (n.taint == kNoTaint) {
        return;
    }
    const uint16_t ds = sc_.groups[n.group].daemonset_pods;
    if (n.pods > 0) {
        node_event(i, fmt::format("evicted {} pod(s) after the {} s toleration of {}; {} "
                                  "DaemonSet pod(s) stay",
                                  n.pods, sc_.model.toleration / 1000, taint_text(n.taint), ds));
        pods_evicted_ += n.pods;
        account(0xFFFF, n.pods, static_cast<uint64_t>(n.pods) * sc_.model.pod_bytes);
        n.pods = 0;
    }
}

// ---------------------------------------------------------------------------------------------
// Actions

void Simulation::fail_node(size_t idx, bool power_off, bool not_ready) {
    const auto i = static_cast<uint32_t>(idx);
    Node& n = nodes_[i];
    if (not_ready) {
        n.reported = static_cast<uint8_t>(Cond::False);
        node_event(i, "kubelet now reports Ready=False");
        return;
    }
    if (n.kubelet_running) {
        n.kubelet_running = false;
        ++n.lease_gen;
        ++n.status_gen;
        reset_conn(i, n.kubelet, false, "kubelet stopped");
        node_event(i, power_off ? "powered off" : "kubelet stopped");
    }
    if (power_off && n.proxy_running) {
        n.proxy_running = false;
        ++n.proxy_gen;
        reset_conn(i, n.proxy, true, "kube-proxy stopped");
    }
}

void Simulation::recover_node(size_t idx) {
    const auto i = static_cast<uint32_t>(idx);
    Node& n = nodes_[i];
    n.reported = static_cast<uint8_t>(Cond::True);
    if (!n.proxy_running) {
        n.proxy_running = true;
        n.proxy_pid = static_cast<uint16_t>(n.proxy_pid + 1 + rand() % 50);
        q_.push(now_, kProxy, i, ++n.proxy_gen);
    }
    if (!n.kubelet_running) {
        node_event(i, "kubelet started");
        restart_kubelet(i);
    }
}

void Simulation::restart_kubelet(size_t idx) {
    const auto i = static_cast<uint32_t>(idx);
    Node& n = nodes_[i];
    reset_conn(i, n.kubelet, false, "kubelet restarted");
    n.kubelet_running = true;
    n.backoff = 0;
    n.kubelet_pid = static_cast<uint16_t>(n.kubelet_pid + 1 + rand() % 50);
    // A starting kubelet renews its Lease and posts its status at once.
    if (sc_.groups[n.group].heartbeat == Heartbeat::Lease) {
        q_.push(now_, kLease, i, ++n.lease_gen);
    }
    q_.push(now_, kStatus, i, ++n.status_gen);
}

void Simulation::restart_kube_proxy(size_t idx) {
    const auto i = static_cast<uint32_t>(idx);
    Node& n = nodes_[i];
    reset_conn(i, n.proxy, true, "kube-proxy pod replaced");
    n.proxy_running = true;
    n.proxy_backoff = 0;
    n.proxy_pid = static_cast<uint16_t>(n.proxy_pid + 1 + rand() % 50);
    q_.push(now_, kProxy, i, ++n.proxy_gen);
}

std::vector<uint32_t> Simulation::select(const Selector& s) const {
    std::vector<uint32_t> out;
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        const Node& n = nodes_[i];
        bool take = s.all;
        if (!s.node.empty()) {
            take = node_index(s.node) == i;
        } else if (!s.group.empty()) {
            take = sc_.groups[n.group].name == s.group &&
                   (s.zone.empty() || zones_[n.zone].name == s.zone);
        } else if (!s.zone.empty()) {
            take = zones_[n.zone].name == s.zone;
        }
        if (take) {
            out.push_back(i);
            if (s.count > 0 && out.size() == s.count) {
                break;
            }
        }
    }
    return out;
}

void Simulation::update_due() {
    const std::string& name = sc_.cluster.name;
    std::vector<std::pair<std::string, std::string>> before;
    const auto listed = cp_.list_updates(name);
    for (const auto& id : listed.body["updateIds"]) {
        before.emplace_back(id.get<std::string>(),
                            cp_.describe_update(name, id).body["update"].value("status", ""));
    }
    if (!cp_.tick(wall(now_))) {
        return;
    }
    const auto old_mode = eff_.access_mode;
    rebuild();
    for (const auto& [id, status] : before) {
        const auto now_status = cp_.describe_update(name, id).body["update"].value("status", "");
        if (status == "InProgress" && now_status != status) {
            Record r;
            r.type = "update";
            r.text = fmt::format("update {} {}: endpoint access {} -> {}, publicAccessCidrs [{}]; "
                                 "answers flip now",
                                 id, now_status, config::to_string(old_mode),
                                 config::to_string(eff_.access_mode), [&] {
                                     std::string s;
                                     for (const auto& c : eff_.public_access_cidrs) {
                                         s += (s.empty() ? "" : ", ") + c.to_string();
                                     }
                                     return s;
                                 }());
            r.data["update"] = id;
            r.data["status"] = now_status;
            r.data["access_mode"] = config::to_string(eff_.access_mode);
            emit(std::move(r));
        }
    }
    if (eff_.api && eff_.api->reset_on_update) {
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
}

void Simulation::run_step(const Step& s, size_t index) {
    const std::string& name = sc_.cluster.name;
    Record r;
    r.type = "action";
    r.data["step"] = index;
    switch (s.kind) {
    case StepKind::UpdateClusterConfig: {
        r.text = fmt::format("aws eks update-cluster-config --name {} --resources-vpc-config {}",
                             name, s.text);
        const auto param = control::parse_resources_vpc_config(s.text);
        if (!param.ok()) {
            r.lines.push_back(param.message);
            emit(std::move(r));
            return;
        }
        const nlohmann::json body = {
            {"resourcesVpcConfig", nlohmann::json::parse(param.value.dump())}};
        const auto result = cp_.update_cluster_config(name, body, wall(now_));
        r.lines = result.status == 200
                      ? json_lines(result.body)
                      : std::vector<std::string>{aws_error(result, "UpdateClusterConfig")};
        r.data["status"] = result.status;
        if (opt_.control != nullptr) {
            const auto live = opt_.control->update_cluster_config(name, body);
            r.data["live_status"] = live.status;
            r.lines.push_back(fmt::format("(--control: horizond answered HTTP {})", live.status));
        }
        if (const auto due = cp_.next_deadline()) {
            const Millis t =
                std::chrono::duration_cast<std::chrono::milliseconds>(due->time_since_epoch())
                    .count() -
                sc_.start_epoch_ms;
            q_.push(std::max(t, now_), kUpdateDue, 0);
        }
        emit(std::move(r));
        return;
    }
    case StepKind::AuthorizeSgIngress: {
        const std::string sg =
            cp_.describe_cluster(name).body["cluster"]["resourcesVpcConfig"].value(
                "clusterSecurityGroupId", "");
        nlohmann::json body = {{"IpProtocol", s.protocol}, {"CidrIp", s.cidr}};
        std::string ports;
        if (s.port >= 0) {
            body["FromPort"] = s.port;
            body["ToPort"] = s.port;
            ports = fmt::format(" --port {}", s.port);
        }
        r.text =
            fmt::format("aws ec2 authorize-security-group-ingress --group-id {} --protocol {}{} "
                        "--cidr {}",
                        sg, s.protocol, ports, s.cidr);
        const auto result = cp_.authorize_security_group_ingress(name, body, wall(now_));
        r.lines =
            result.status == 200
                ? json_lines(result.body)
                : std::vector<std::string>{aws_error(result, "AuthorizeSecurityGroupIngress")};
        r.data["status"] = result.status;
        if (opt_.control != nullptr) {
            const auto live = opt_.control->authorize_sg_ingress(name, body);
            r.data["live_status"] = live.status;
            r.lines.push_back(fmt::format("(--control: horizond answered HTTP {})", live.status));
        }
        rebuild(); // security group rules apply at once
        emit(std::move(r));
        return;
    }
    case StepKind::FailNode:
    case StepKind::RecoverNode:
    case StepKind::Partition:
    case StepKind::Heal: {
        const auto nodes = select(s.nodes);
        static constexpr std::array<const char*, 4> kWhat = {"fail-node", "recover-node",
                                                             "partition", "heal"};
        const size_t w = static_cast<size_t>(s.kind) - static_cast<size_t>(StepKind::FailNode);
        r.text = fmt::format("{} ({} node(s){})", kWhat[w], nodes.size(),
                             s.kind == StepKind::FailNode
                                 ? (s.text == "power-off" ? ": powered off"
                                    : s.not_ready         ? ": kubelet reports Ready=False"
                                                          : ": kubelet stopped")
                                 : "");
        r.data["nodes"] = nodes.size();
        emit(std::move(r));
        for (const uint32_t i : nodes) {
            Node& n = nodes_[i];
            switch (s.kind) {
            case StepKind::FailNode:
                fail_node(i, s.text == "power-off", s.not_ready);
                break;
            case StepKind::RecoverNode:
                recover_node(i);
                break;
            case StepKind::Partition:
                n.partitioned = true;
                node_event(i, "partitioned from the endpoint");
                break;
            default:
                if (n.partitioned) {
                    n.partitioned = false;
                    node_event(i, "partition healed");
                    if (n.proxy_running && n.proxy.state != ConnState::Established) {
                        q_.push(now_, kProxy, i, ++n.proxy_gen);
                    }
                }
                break;
            }
        }
        if (s.kind == StepKind::Partition) {
            for (const uint32_t i : nodes) {
                Node& n = nodes_[i];
                // kube-proxy's watch times out and it reconnects (and fails) with backoff.
                if (n.proxy.state == ConnState::Established) {
                    reset_conn(i, n.proxy, true, "watch timed out: the node is partitioned");
                    q_.push(now_ + sc_.model.request_timeout, kProxy, i, ++n.proxy_gen);
                }
            }
            if (s.duration > 0) {
                q_.push(now_ + s.duration, kHeal, static_cast<uint32_t>(index));
            }
        }
        return;
    }
    case StepKind::Restart: {
        if (s.text == "ds/kube-proxy") {
            Rollout ro;
            ro.nodes = select(s.nodes);
            ro.every = s.every;
            r.text = fmt::format("kubectl rollout restart ds/kube-proxy -n kube-system ({} pod(s), "
                                 "one every {} ms)",
                                 ro.nodes.size(), s.every);
            emit(std::move(r));
            rollouts_.push_back(std::move(ro));
            q_.push(now_, kRollout, static_cast<uint32_t>(rollouts_.size() - 1));
            return;
        }
        const auto nodes = select(s.nodes);
        r.text = fmt::format("systemctl restart kubelet ({} node(s))", nodes.size());
        emit(std::move(r));
        for (const uint32_t i : nodes) {
            restart_kubelet(i);
        }
        return;
    }
    case StepKind::Upgrade: {
        r.text = fmt::format("aws eks update-cluster-version --name {} --kubernetes-version {} "
                             "(API servers roll, ENIs re-created; {} s)",
                             name, s.text, s.duration / 1000);
        emit(std::move(r));
        pending_version_ = s.text;
        pending_private_ips_ = s.private_ips;
        if (pending_private_ips_.empty()) {
            for (const auto& ip : eff_.private_ips) {
                auto next = ip;
                next.bytes[ip.is_v4() ? 3 : 15] =
                    static_cast<uint8_t>(next.bytes[ip.is_v4() ? 3 : 15] + 1);
                pending_private_ips_.push_back(next);
            }
        }
        ++upgrade_gen_;
        const uint32_t n = sc_.model.api_servers;
        for (uint32_t k = 0; k < n; ++k) {
            q_.push(now_ + s.duration * (k + 1) / (n + 1), kApiRoll, k, upgrade_gen_);
        }
        q_.push(now_ + s.duration, kUpgradeDone, 0, upgrade_gen_);
        return;
    }
    case StepKind::Exec: {
        // The API server reaches the kubelet (:10250) through an EKS-owned ENI in every endpoint
        // mode (EKS-FACTS §5): the stream shows in the node's ss as kubelet's, peer an ENI.
        const auto nodes = select(s.nodes);
        r.text = fmt::format("kubectl exec -it netdebug -- zsh   # {} node(s)", nodes.size());
        std::vector<uint16_t> enis;
        for (const auto& a : eff_.private_ips) {
            enis.push_back(peer_index(a, false));
        }
        for (const uint32_t i : nodes) {
            Node& n = nodes_[i];
            if (enis.empty() || !n.kubelet_running) {
                continue;
            }
            n.exec_peer = enis[rand() % enis.size()];
            n.exec_port = ephemeral_port();
            n.exec_until = s.duration > 0 ? now_ + s.duration : until_ + 1;
            r.lines.push_back(fmt::format("API server -> {}:10250 (kubelet) from ENI {}",
                                          node_ip(i).to_string(),
                                          peers_[n.exec_peer].addr.to_string()));
        }
        emit(std::move(r));
        return;
    }
    default:
        observe(s);
        return;
    }
}

// ---------------------------------------------------------------------------------------------
// The loop

void Simulation::dispatch(const Event& e) {
    switch (e.kind) {
    case kLease:
        if (e.aux == nodes_[e.target].lease_gen) {
            lease_renew(e.target);
        }
        break;
    case kStatus:
        if (e.aux == nodes_[e.target].status_gen) {
            status_tick(e.target);
        }
        break;
    case kProxy:
        if (e.aux == nodes_[e.target].proxy_gen) {
            proxy_connect(e.target);
        }
        break;
    case kEvict:
        if (e.aux == nodes_[e.target].evict_gen) {
            evict(e.target);
        }
        break;
    case kMonitor:
        monitor_pass();
        break;
    case kStep:
        run_step(sc_.steps[e.target], e.target);
        break;
    case kUpdateDue:
        update_due();
        break;
    case kRollout: {
        Rollout& ro = rollouts_[e.target];
        if (ro.next < ro.nodes.size()) {
            restart_kube_proxy(ro.nodes[ro.next++]);
            if (ro.next < ro.nodes.size()) {
                q_.push(now_ + ro.every, kRollout, e.target);
            } else {
                Record r;
                r.type = "rollout";
                r.text = "daemon set \"kube-proxy\" successfully rolled out";
                emit(std::move(r));
            }
        }
        break;
    }
    case kApiRoll: {
        if (e.aux != upgrade_gen_) {
            break;
        }
        Record r;
        r.type = "upgrade";
        r.text =
            fmt::format("API server instance {} of {} restarted with {}: its clients reconnect",
                        e.target + 1, sc_.model.api_servers, pending_version_);
        emit(std::move(r));
        for (uint32_t i = 0; i < nodes_.size(); ++i) {
            Node& n = nodes_[i];
            if (n.kubelet.state == ConnState::Established && n.kubelet.api_server == e.target) {
                reset_conn(i, n.kubelet, false, "API server instance restarted");
            }
            if (n.proxy.state == ConnState::Established && n.proxy.api_server == e.target) {
                reset_conn(i, n.proxy, true, "API server instance restarted");
                q_.push(now_, kProxy, i, ++n.proxy_gen);
            }
        }
        break;
    }
    case kUpgradeDone: {
        if (e.aux != upgrade_gen_) {
            break;
        }
        config::Config file;
        file.clusters.push_back(sc_.cluster);
        auto& c = file.clusters.back();
        if (!sc_.has_api_table) {
            c.api.emplace();
            c.api->security_group_ingress.clear();
        }
        c.kubernetes_version = pending_version_;
        c.private_ips = pending_private_ips_;
        std::vector<std::string> log;
        const auto old_ips = eff_.private_ips;
        cp_.reload(file, wall(now_), log);
        for (auto& p : peers_) {
            if (!p.is_public && contains(old_ips, p.addr) && !contains(c.private_ips, p.addr)) {
                p.alive = false;
            }
        }
        rebuild();
        Record r;
        r.type = "upgrade";
        std::string ips;
        for (const auto& a : eff_.private_ips) {
            ips += (ips.empty() ? "" : ", ") + a.to_string();
        }
        r.text =
            fmt::format("upgrade to {} complete: ENIs re-created at {}; node grace period {} s",
                        pending_version_, ips, grace() / 1000);
        emit(std::move(r));
        for (uint32_t i = 0; i < nodes_.size(); ++i) {
            Node& n = nodes_[i];
            if (n.proxy.state == ConnState::Established && !peers_[n.proxy.peer].alive) {
                reset_conn(i, n.proxy, true, "the ENI was deleted");
                q_.push(now_, kProxy, i, ++n.proxy_gen);
            }
            if (n.kubelet.state == ConnState::Established && !peers_[n.kubelet.peer].alive) {
                reset_conn(i, n.kubelet, false, "the ENI was deleted");
            }
        }
        break;
    }
    case kHeal: {
        Step heal = sc_.steps[e.target];
        heal.kind = StepKind::Heal;
        run_step(heal, e.target);
        break;
    }
    case kSample:
        sample();
        break;
    default:
        break;
    }
}

void Simulation::run_until(Millis t) {
    while (!q_.empty() && q_.next_time() <= t) {
        const Event e = q_.pop();
        now_ = e.t;
        if (opt_.pace) {
            opt_.pace(now_);
        }
        dispatch(e);
        ++events_;
    }
    now_ = std::max(now_, t);
}

uint64_t Simulation::run() {
    run_until(until_);
    Record r;
    r.type = "end";
    r.text = fmt::format("end: {} events; {} pod(s) evicted", events_, pods_evicted_);
    r.data["events"] = events_;
    std::vector<std::vector<std::string>> rows = {{"NODE GROUP", "HEARTBEAT", "NODES",
                                                   "ETCD MB/MIN", "API REQ/S", "LEASE PUT/S",
                                                   "NODE GET/S", "NODE PATCH/S"}};
    const double seconds = static_cast<double>(std::max<Millis>(until_, 1)) / 1000.0;
    nlohmann::ordered_json groups = nlohmann::ordered_json::array();
    for (const auto& g : totals()) {
        const double mb_min = static_cast<double>(g.etcd_bytes) / 1e6 / (seconds / 60.0);
        rows.push_back({g.name, g.heartbeat == Heartbeat::Lease ? "lease" : "status-only",
                        std::to_string(g.nodes), fmt::format("{:.1f}", mb_min),
                        fmt::format("{:.1f}", static_cast<double>(g.api_requests) / seconds),
                        fmt::format("{:.1f}", static_cast<double>(g.lease_updates) / seconds),
                        fmt::format("{:.1f}", static_cast<double>(g.status_gets) / seconds),
                        fmt::format("{:.1f}", static_cast<double>(g.status_patches) / seconds)});
        groups.push_back({{"group", g.name},
                          {"heartbeat", g.heartbeat == Heartbeat::Lease ? "lease" : "status-only"},
                          {"nodes", g.nodes},
                          {"etcd_bytes", g.etcd_bytes},
                          {"etcd_mb_per_min", std::round(mb_min * 10) / 10},
                          {"api_requests", g.api_requests}});
    }
    r.lines = table(rows);
    r.lines.push_back(
        fmt::format("node controller and evictions: {} API requests, {:.1f} MB written "
                    "to etcd",
                    other_.api_requests, static_cast<double>(other_.etcd_bytes) / 1e6));
    r.data["groups"] = groups;
    emit(std::move(r));
    return events_;
}

std::vector<GroupTotals> Simulation::totals() const {
    std::vector<GroupTotals> out;
    for (size_t g = 0; g < sc_.groups.size(); ++g) {
        const Counters& c = group_counters_[g];
        out.push_back({sc_.groups[g].name, sc_.groups[g].heartbeat, sc_.groups[g].nodes,
                       c.lease_updates, c.status_gets, c.status_patches, c.etcd_bytes,
                       c.api_requests});
    }
    return out;
}

void Simulation::sample() {
    q_.push(now_ + sc_.metrics_interval, kSample, 0);
    Sample s;
    s.t = now_;
    for (const Node& n : nodes_) {
        const auto c = static_cast<Cond>(n.ready);
        s.ready += c == Cond::True ? 1 : 0;
        s.not_ready += c == Cond::False ? 1 : 0;
        s.unknown += c == Cond::Unknown ? 1 : 0;
        s.tainted += n.taint != kNoTaint ? 1 : 0;
        s.leases_fresh += sc_.groups[n.group].heartbeat == Heartbeat::Lease &&
                                  now_ - n.last_renew < kLeaseDuration
                              ? 1
                              : 0;
        for (const Conn* cn : {&n.kubelet, &n.proxy}) {
            if (cn->state == ConnState::Established) {
                (peers_[cn->peer].is_public ? s.conns_public : s.conns_private) += 1;
            }
        }
    }
    uint64_t bytes = other_.etcd_bytes;
    uint64_t requests = other_.api_requests;
    for (const auto& c : group_counters_) {
        bytes += c.etcd_bytes;
        requests += c.api_requests;
    }
    const double secs = static_cast<double>(sc_.metrics_interval) / 1000.0;
    s.etcd_bytes_per_s = static_cast<double>(bytes - last_bytes_) / secs;
    s.api_requests_per_s = static_cast<double>(requests - last_requests_) / secs;
    last_bytes_ = bytes;
    last_requests_ = requests;
    s.dns_private = dns_count_[0];
    s.dns_public = dns_count_[1];
    s.dns_nxdomain = dns_count_[2];
    dns_count_[0] = dns_count_[1] = dns_count_[2] = 0;
    s.pods_evicted = static_cast<uint32_t>(pods_evicted_);
    opt_.on_sample(s);
}

// ---------------------------------------------------------------------------------------------
// Observations, rendered as the real tools print them

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

std::vector<std::string> Simulation::render_ss(uint32_t i) const {
    const Node& n = nodes_[i];
    std::vector<std::vector<std::string>> rows = {
        {"State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", "Process"}};
    const auto row = [&](const Conn& c, const char* comm, uint16_t pid, int fd) {
        if (c.state == ConnState::None) {
            return;
        }
        const bool est = c.state == ConnState::Established;
        rows.push_back({est ? "ESTAB" : "SYN-SENT", "0", est ? "0" : "1",
                        fmt::format("{}:{}", node_ip(i).to_string(), c.lport),
                        fmt::format("{}:{}", peers_[c.peer].addr.to_string(), kApiPort),
                        fmt::format("users:((\"{}\",pid={},fd={}))", comm, pid, fd)});
    };
    row(n.kubelet, "kubelet", n.kubelet_pid, 22);
    row(n.proxy, "kube-proxy", n.proxy_pid, 9);
    if (n.exec_peer != kNoPeer && now_ < n.exec_until && n.kubelet_running &&
        peers_[n.exec_peer].alive) {
        // kubelet listens on a dual-stack socket: IPv4 peers show as IPv4-mapped (seed lab).
        rows.push_back(
            {"ESTAB", "0", "0", fmt::format("[::ffff:{}]:10250", node_ip(i).to_string()),
             fmt::format("[::ffff:{}]:{}", peers_[n.exec_peer].addr.to_string(), n.exec_port),
             fmt::format("users:((\"kubelet\",pid={},fd=23))", n.kubelet_pid)});
    }
    return table(rows);
}

std::vector<std::string> Simulation::render_nodes(const std::vector<uint32_t>& nodes,
                                                  bool conditions) const {
    std::vector<std::vector<std::string>> rows;
    if (conditions) {
        rows.push_back({"NAME", "CONDITIONS", "STATUS"});
    } else {
        rows.push_back({"NAME", "STATUS", "ROLES", "AGE", "VERSION", "ZONE"});
    }
    for (const uint32_t i : nodes) {
        const Node& n = nodes_[i];
        const auto c = static_cast<Cond>(n.ready);
        if (conditions) {
            // The node controller sets the kubelet's conditions to Unknown; the EKS node
            // monitoring agent's own conditions keep their last value.
            const std::string pressure = c == Cond::Unknown ? "Unknown" : "False";
            rows.push_back(
                {node_name(i),
                 "MemoryPressure,DiskPressure,PIDPressure,Ready,KernelReady,"
                 "ContainerRuntimeReady,StorageReady,NetworkingReady",
                 fmt::format("{0},{0},{0},{1},True,True,True,True", pressure, cond_text(c))});
            continue;
        }
        rows.push_back({node_name(i), c == Cond::True ? "Ready" : "NotReady", "<none>",
                        human_duration(now_ - n.created),
                        fmt::format("v{}.0-eks-{}", sc_.cluster.kubernetes_version, "a1b2c3d"),
                        zones_[n.zone].name});
    }
    return table(rows);
}

std::vector<std::string> Simulation::render_leases(const std::vector<uint32_t>& nodes) const {
    std::vector<std::vector<std::string>> rows = {{"NAME", "HOLDER", "RENEW"}};
    for (const uint32_t i : nodes) {
        if (sc_.groups[nodes_[i].group].heartbeat != Heartbeat::Lease) {
            continue; // no Lease object without the NodeLease heartbeat
        }
        rows.push_back(
            {node_name(i), node_name(i), rfc3339_micro(sc_.start_epoch_ms + nodes_[i].last_renew)});
    }
    return table(rows);
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

void Simulation::observe(const Step& s) {
    Record r;
    r.type = "observe";
    const std::string& name = sc_.cluster.name;
    std::vector<uint32_t> nodes;
    if (s.kind == StepKind::Ss || s.kind == StepKind::GetNodes || s.kind == StepKind::GetLeases) {
        nodes = select(s.nodes);
    }
    switch (s.kind) {
    case StepKind::Dig: {
        util::IpAddress addr;
        util::IpAddress egress;
        bool member = false;
        source_of(s.from, addr, egress, member);
        r.text =
            fmt::format("dig +short {}   # on {} ({})", eff_.endpoint, s.from, addr.to_string());
        r.lines = dig(s.from);
        r.data["from"] = s.from;
        r.data["source"] = addr.to_string();
        r.data["answers"] = r.lines;
        break;
    }
    case StepKind::Ss:
        r.text = "ss -tnp | egrep 'kubelet|kube-proxy'   # on each node";
        for (const uint32_t i : nodes) {
            r.lines.push_back(fmt::format(">> node {} <<", node_ip(i).to_string()));
            const auto rows = render_ss(i);
            r.lines.insert(r.lines.end(), rows.begin(), rows.end());
            const auto [ks, kp] = connection(i, false);
            const auto [ps, pp] = connection(i, true);
            r.data["nodes"].push_back({{"node", node_name(i)},
                                       {"kubelet", {{"state", ks}, {"peer", kp}}},
                                       {"kube-proxy", {{"state", ps}, {"peer", pp}}}});
        }
        break;
    case StepKind::GetNodes:
        if (s.text == "conditions") {
            r.text = "kubectl get nodes -o 'custom-columns=NAME:.metadata.name,"
                     "CONDITIONS:.status.conditions[*].type,STATUS:.status.conditions[*].status'";
        } else {
            r.text = "kubectl get nodes --label-columns=topology.kubernetes.io/zone";
        }
        r.lines = render_nodes(nodes, s.text == "conditions");
        for (const uint32_t i : nodes) {
            r.data["nodes"].push_back(
                {{"node", node_name(i)},
                 {"ready", cond_text(static_cast<Cond>(nodes_[i].ready))},
                 {"taint", nodes_[i].taint == kNoTaint ? "" : taint_text(nodes_[i].taint)},
                 {"pods", pods_left(i)}});
        }
        break;
    case StepKind::GetLeases:
        r.text = "kubectl get leases -n kube-node-lease -o custom-columns=NAME:.metadata.name,"
                 "HOLDER:.spec.holderIdentity,RENEW:.spec.renewTime";
        r.lines = render_leases(nodes);
        break;
    case StepKind::DescribeCluster: {
        const auto result = cp_.describe_cluster(name);
        nlohmann::json body = result.body;
        r.text = fmt::format("aws eks describe-cluster --name {}", name);
        if (!s.text.empty()) {
            r.text += fmt::format(" --query {}", s.text);
            size_t start = 0;
            while (start <= s.text.size() && !body.is_null()) {
                const auto dot = s.text.find('.', start);
                const auto key = s.text.substr(start, dot == std::string::npos ? dot : dot - start);
                body = body.is_object() && body.contains(key) ? body[key] : nlohmann::json();
                if (dot == std::string::npos) {
                    break;
                }
                start = dot + 1;
            }
        }
        r.lines = json_lines(body);
        break;
    }
    case StepKind::DescribeUpdate: {
        const auto ids = cp_.list_updates(name).body["updateIds"];
        if (ids.empty()) {
            r.text = fmt::format("aws eks list-updates --name {}", name);
            r.lines = json_lines(cp_.list_updates(name).body);
            break;
        }
        const std::string id = ids.back();
        r.text = fmt::format("aws eks describe-update --name {} --update-id {}", name, id);
        r.lines = json_lines(cp_.describe_update(name, id).body);
        break;
    }
    case StepKind::Connect: {
        util::IpAddress addr;
        util::IpAddress egress;
        bool member = false;
        source_of(s.from, addr, egress, member);
        r.text = fmt::format("kubectl cluster-info   # on {} ({})", s.from, addr.to_string());
        bool nx = false;
        const uint16_t a = answer_for(addr, nx);
        // Go's dialer tries each address in answer order until one connects.
        std::optional<std::string> why = std::string("no such host");
        std::string first;
        for (const uint16_t p : answers_[a]) {
            why = denied(addr, egress, member, p);
            if (first.empty()) {
                first = peers_[p].addr.to_string();
            }
            if (!why) {
                r.lines.push_back(fmt::format("Kubernetes control plane is running at https://{}",
                                              eff_.endpoint));
                r.lines.push_back(fmt::format("CoreDNS is running at https://{}/api/v1/namespaces/"
                                              "kube-system/services/kube-dns:dns/proxy",
                                              eff_.endpoint));
                r.data["connected"] = peers_[p].addr.to_string();
                break;
            }
        }
        if (why) {
            r.lines.push_back(
                first.empty()
                    ? fmt::format(
                          "Unable to connect to the server: dial tcp: lookup {}: no such host",
                          eff_.endpoint)
                    : fmt::format("Unable to connect to the server: dial tcp {}:443: i/o timeout",
                                  first));
            r.lines.push_back("# horizon-sim: " + *why);
            r.data["denied"] = *why;
        }
        break;
    }
    default:
        break;
    }
    emit(std::move(r));
}

} // namespace horizon::sim
