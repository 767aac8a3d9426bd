// The simulation's setup and its loop: placing the nodes, the event dispatch, running to the end.
// Each concern lives in its own file (README.md): world_dns, connections, heartbeats,
// node_lifecycle, steps, observe, metrics.
#include "sim/simulation.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace horizon::sim {

Simulation::Simulation(const Scenario& sc, Options opt)
    : sc_(sc)
    , opt_(std::move(opt))
    , rng_(opt_.seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL)
    , timeline_(now_, opt_.on_record, sc.cluster.region)
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
          cp_log_)
    , controller_(sc, now_, nodes_, q_, timeline_) {
    until_ = opt_.until > 0 ? opt_.until : sc.until;
    cp_.seed(opt_.seed);
    rebuild();
    timeline_.set_node_events(sc.node_events.value_or([&] {
        uint64_t n = 0;
        for (const auto& g : sc.groups) {
            n += g.nodes;
        }
        return n <= 100;
    }()));
    group_counters_.resize(sc.groups.size());
    place_nodes();
    // The connections the nodes already hold at t=0 (not logged: they predate the scenario).
    const bool events = timeline_.node_events();
    timeline_.set_node_events(false);
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        connect(i, nodes_[i].kubelet, false);
        connect(i, nodes_[i].proxy, true);
    }
    timeline_.set_node_events(events);
    dns_count_[0] = dns_count_[1] = dns_count_[2] = 0;

    controller_.start();
    for (size_t s = 0; s < sc.steps.size(); ++s) {
        q_.push(sc.steps[s].at, kStep, static_cast<uint32_t>(s));
    }
    if (opt_.on_sample) {
        q_.push(sc.metrics_interval, kSample, 0);
    }
}

void Simulation::place_nodes() {
    const Scenario& sc = sc_;
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
            nodes_.push_back(n);
            const auto i = static_cast<uint32_t>(nodes_.size() - 1);
            if (g.heartbeat == Heartbeat::Lease) {
                q_.push(lease_phase, kLease, i, 0);
            }
            q_.push(status_phase, kStatus, i, 0);
        }
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
    return sim::node_name(nodes_[i].ip, sc_.cluster.region);
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

void Simulation::node_event(uint32_t i, const std::string& text, const char* type) {
    timeline_.node_event(nodes_[i].ip, text, type);
}

void Simulation::account(uint16_t group, uint64_t requests, uint64_t bytes) {
    Counters& c = group_counters_[group];
    c.api_requests += requests;
    c.etcd_bytes += bytes;
}

// ---------------------------------------------------------------------------------------------
// The loop

void Simulation::dispatch(const Event& e) {
    // A per-node timer whose generation is stale was cancelled (a restart, a recovery).
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
            controller_.evict(e.target);
        }
        break;
    case kMonitor:
        controller_.monitor_pass();
        break;
    case kStep:
        run_step(sc_.steps[e.target], e.target);
        break;
    case kUpdateDue:
        update_due();
        break;
    case kRollout:
        rollout_next(e.target);
        break;
    case kApiRoll:
        if (e.aux == upgrade_gen_) {
            api_server_restarted(e.target);
        }
        break;
    case kUpgradeDone:
        if (e.aux == upgrade_gen_) {
            upgrade_done();
        }
        break;
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
    timeline_.emit(summary());
    return events_;
}

} // namespace horizon::sim
