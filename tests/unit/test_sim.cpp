// horizon-sim's core: the event queue, heartbeat and node-controller timings, the DNS answers per
// mode and vantage point, connections that keep their peer, and the scenario loader.
#include <algorithm>
#include <random>
#include <string>

#include <doctest/doctest.h>

#include "sim/event_queue.hpp"
#include "sim/scenario.hpp"
#include "sim/simulation.hpp"

using namespace horizon;
using sim::Cond;
using sim::Millis;

namespace {

/// A scenario with `nodes` nodes in two zones, `mode`, `version`; extra TOML appended.
std::string scenario_text(const std::string& mode, const std::string& version, unsigned nodes,
                          const std::string& extra = "") {
    return R"([scenario]
duration = "1h"
[cluster]
name = "t"
region = "ap-northeast-2"
vpc_cidrs = ["10.0.0.0/16"]
private_ips = ["10.0.1.20", "10.0.2.20"]
public_ips = ["203.0.113.10", "203.0.113.20"]
access_mode = ")" +
           mode + R"("
kubernetes_version = ")" +
           version + R"("
update_duration = "5m"
[[cluster.subnet]]
id = "a"
cidr = "10.0.1.0/24"
az = "za"
nat_ip = "198.51.100.1"
[[cluster.subnet]]
id = "b"
cidr = "10.0.2.0/24"
az = "zb"
nat_ip = "198.51.100.2"
[[cluster.node_group]]
name = "g"
nodes = )" +
           std::to_string(nodes) +
           R"(
subnets = ["a", "b"]
pods = 5
daemonset_pods = 2
[[host]]
name = "bastion"
address = "10.0.1.200"
[[host]]
name = "laptop"
address = "192.0.2.7"
)" + extra;
}

sim::Scenario load(const std::string& text) {
    auto r = sim::load_scenario(text, "t.toml");
    if (auto* d = std::get_if<std::vector<config::Diagnostic>>(&r)) {
        for (const auto& e : *d) {
            MESSAGE(e.to_string());
        }
        FAIL("scenario did not load");
    }
    return std::get<sim::Scenario>(std::move(r));
}

} // namespace

TEST_CASE("event queue: time order, FIFO at equal times") {
    sim::EventQueue q;
    std::mt19937 rng(1);
    std::vector<std::pair<Millis, uint32_t>> pushed;
    for (uint32_t i = 0; i < 5000; ++i) {
        const Millis t = static_cast<Millis>(rng() % 100);
        q.push(t, 1, i);
        pushed.emplace_back(t, i);
    }
    std::stable_sort(pushed.begin(), pushed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [t, i] : pushed) {
        REQUIRE_FALSE(q.empty());
        const auto e = q.pop();
        CHECK(e.t == t);
        CHECK(e.target == i); // equal times come out in insertion order
    }
    CHECK(q.empty());
}

TEST_CASE("event queue: far events (beyond the wheel) and pushes at the current time") {
    sim::EventQueue q;
    q.push(100'000, 1, 1); // beyond the window: the heap
    q.push(20'000, 1, 2);  // beyond the window too
    q.push(5, 1, 3);
    CHECK(q.next_time() == 5);
    CHECK(q.pop().target == 3);
    CHECK(q.next_time() == 20'000);
    q.push(5, 1, 4); // at the last popped time: runs next
    CHECK(q.pop().target == 4);
    q.push(20'000, 1, 5); // same time as a far event pushed earlier: after it
    q.push(19'999, 1, 6);
    CHECK(q.pop().target == 6);
    CHECK(q.pop().target == 2);
    CHECK(q.pop().target == 5);
    q.push(100'000, 1, 7);
    CHECK(q.pop().target == 1);
    CHECK(q.pop().target == 7);
    CHECK(q.empty());
    // A long run of periodic timers, as the heartbeats: always in (time, insertion) order.
    sim::EventQueue p;
    for (uint32_t i = 0; i < 1000; ++i) {
        p.push(i * 7 % 10'000, 1, i);
    }
    sim::Millis last = -1;
    for (int n = 0; n < 100'000; ++n) {
        const auto e = p.pop();
        CHECK(e.t >= last);
        last = e.t;
        p.push(e.t + 10'000, 1, e.target);
    }
}

TEST_CASE("heartbeats: a Lease every 10 s") {
    const auto sc = load(scenario_text("public", "1.31", 1));
    sim::Simulation s(sc, {});
    s.run_until(15'000);
    const Millis first = s.last_renew(0);
    s.run_until(first + 10'000);
    CHECK(s.last_renew(0) == first + 10'000);
    s.run_until(first + 59'999);
    CHECK(s.last_renew(0) == first + 50'000);
    CHECK(s.ready(0) == Cond::True);
}

TEST_CASE("node controller: Unknown at the first pass strictly after the observed heartbeat + "
          "grace, per version") {
    for (const auto& [version, grace] : {std::pair{"1.31", 40'000}, std::pair{"1.32", 50'000}}) {
        const std::string version_shown = version; // clang 14 cannot capture a binding
        CAPTURE(version_shown);
        const auto sc = load(scenario_text("public", version, 4));
        sim::Simulation s(sc, {});
        CHECK(s.grace() == grace);
        s.run_until(60'000);
        s.fail_node(0, false, false);
        const Millis last = s.last_renew(0);
        // tryUpdateNodeHealth (pkg/controller/nodelifecycle): the first pass at or after the
        // renewal observes it and stamps probeTimestamp = its own time; Unknown at the first pass
        // with now.After(probe + grace). Passes run every 5 s from t=0: grace + 5..10 s after
        // the last renewal.
        const Millis observed = (last + 4'999) / 5'000 * 5'000;
        const Millis pass = ((observed + grace) / 5'000 + 1) * 5'000;
        CHECK(pass - last > grace + 4'999);
        CHECK(pass - last <= grace + 10'000);
        s.run_until(pass - 1);
        CHECK(s.ready(0) == Cond::True);
        s.run_until(pass);
        CHECK(s.ready(0) == Cond::Unknown);
        CHECK(s.tainted(0));
        CHECK(s.taint_time(0) == pass);
        // Pods are evicted 300 s after the taint; DaemonSet pods stay.
        s.run_until(pass + 300'000 - 1);
        CHECK(s.pods_left(0) == 7);
        s.run_until(pass + 300'000);
        CHECK(s.pods_left(0) == 2);
        CHECK(s.ready(1) == Cond::True);
        CHECK(s.pods_left(1) == 7);
    }
}

TEST_CASE("node controller: recovery before the toleration cancels the eviction") {
    const auto sc = load(scenario_text("public", "1.31", 4));
    sim::Simulation s(sc, {});
    s.run_until(60'000);
    s.fail_node(0, true, false);
    s.run_until(200'000);
    CHECK(s.ready(0) == Cond::Unknown);
    CHECK(s.tainted(0));
    s.recover_node(0);
    s.run_until(215'000);
    CHECK(s.ready(0) == Cond::True);
    CHECK_FALSE(s.tainted(0));
    s.run_until(800'000);
    CHECK(s.pods_left(0) == 7);
}

TEST_CASE("node controller: a kubelet reporting Ready=False gets the not-ready taint") {
    const auto sc = load(scenario_text("public", "1.31", 4));
    sim::Simulation s(sc, {});
    s.run_until(30'000);
    s.fail_node(1, false, true);
    s.run_until(50'000); // posted at the next status tick (<= 10 s), seen at the next pass
    CHECK(s.ready(1) == Cond::False);
    CHECK(s.tainted(1));
}

TEST_CASE("eviction rate limits: one taint per 10 s per zone; none in a small disrupted zone") {
    // 10 nodes, 5 per zone: the third Unknown node of zone a makes it 60% >= 55% (partial
    // disruption; a zone of <= 50 nodes then taints none); 2 failed in zone b (40%) are tainted
    // 10 s apart.
    const auto sc = load(scenario_text("public", "1.31", 10));
    sim::Simulation s(sc, {});
    s.run_until(60'000);
    std::vector<size_t> a;
    std::vector<size_t> b;
    for (size_t i = 0; i < s.node_count(); ++i) {
        (s.node_name(i).find("ip-10-0-1-") == 0 ? a : b).push_back(i);
    }
    REQUIRE(a.size() == 5);
    for (size_t k = 0; k < 3; ++k) {
        s.fail_node(a[k], false, false);
    }
    s.fail_node(b[0], false, false);
    s.fail_node(b[1], false, false);
    s.run_until(200'000);
    size_t tainted_a = 0;
    for (size_t k = 0; k < 3; ++k) {
        CHECK(s.ready(a[k]) == Cond::Unknown);
        tainted_a += s.tainted(a[k]) ? 1 : 0;
    }
    CHECK(tainted_a < 3);
    REQUIRE(s.tainted(b[0]));
    REQUIRE(s.tainted(b[1]));
    const Millis gap = std::max(s.taint_time(b[0]), s.taint_time(b[1])) -
                       std::min(s.taint_time(b[0]), s.taint_time(b[1]));
    CHECK(gap >= 10'000);
}

TEST_CASE("DNS answers per mode, from a node, an in-VPC host and an outside host") {
    const std::vector<std::string> nlb = {"203.0.113.10", "203.0.113.20"};
    const std::vector<std::string> eni = {"10.0.1.20", "10.0.2.20"};
    for (const auto& [mode, inside, outside] :
         {std::tuple{"public", nlb, nlb}, std::tuple{"public+private", eni, nlb},
          std::tuple{"private", eni, eni}}) {
        const std::string mode_shown = mode; // clang 14 cannot capture a binding
        CAPTURE(mode_shown);
        const auto sc = load(scenario_text(mode, "1.31", 2));
        sim::Simulation s(sc, {});
        CHECK(s.dig(s.node_name(0)) == inside);
        CHECK(s.dig("bastion") == inside);
        CHECK(s.dig("laptop") == outside);
    }
}

TEST_CASE("VPC DNS attributes off: in-VPC clients get what public DNS says") {
    auto text = scenario_text("public+private", "1.31", 2);
    text.insert(text.find("[[cluster.subnet]]"), "enable_dns_hostnames = false\n");
    const auto sc = load(text);
    sim::Simulation s(sc, {});
    CHECK(s.dig("bastion") == std::vector<std::string>{"203.0.113.10", "203.0.113.20"});
}

TEST_CASE("connections keep their old peer after the flip, until restart") {
    const auto sc = load(scenario_text("public", "1.31", 2, R"(
[[step]]
at = "1m"
do = "update-cluster-config"
resources_vpc_config = "endpointPublicAccess=true,endpointPrivateAccess=true"
)"));
    sim::Simulation s(sc, {});
    s.run_until(30'000);
    const auto before = s.connection(0, false);
    CHECK(before.first == "ESTAB");
    CHECK(before.second.rfind("203.0.113.", 0) == 0);
    s.run_until(60'000 + 300'000 + 1);
    CHECK(s.dig(s.node_name(0)) == std::vector<std::string>{"10.0.1.20", "10.0.2.20"});
    s.run_until(500'000);
    CHECK(s.connection(0, false) == before); // invariant 5: the NLB peer stays
    CHECK(s.connection(0, true).second.rfind("203.0.113.", 0) == 0);
    s.restart_kubelet(0);
    s.restart_kube_proxy(0);
    s.run_until(500'001);
    CHECK(s.connection(0, false).first == "ESTAB");
    CHECK(s.connection(0, false).second.rfind("10.0.", 0) == 0);
    CHECK(s.connection(0, true).second.rfind("10.0.", 0) == 0);
    CHECK(s.connection(1, false).second.rfind("203.0.113.", 0) == 0); // not restarted
}

TEST_CASE("same seed, same timeline; another seed, other ports") {
    const auto sc = load(scenario_text("public", "1.31", 3, R"(
[[step]]
at = "1m"
do = "ss"
)"));
    const auto run = [&](uint64_t seed) {
        std::string out;
        sim::Options o;
        o.seed = seed;
        o.until = 120'000;
        o.on_record = [&](const sim::Record& r) {
            out += r.text + "\n";
            for (const auto& l : r.lines) {
                out += l + "\n";
            }
        };
        sim::Simulation s(sc, std::move(o));
        s.run();
        return out;
    };
    CHECK(run(5) == run(5));
    CHECK(run(5) != run(6));
}

TEST_CASE("scenario loader: file:line:col diagnostics, horizond's cluster checks included") {
    const std::string text = R"([scenario]
duraton = "1h"
[cluster]
name = "t"
region = "ap-northeast-2"
vpc_cidrs = ["10.0.0.0/16"]
private_ips = ["10.0.1.20"]
public_ips = ["203.0.113.10"]
public_access_cidrs = ["10.0.0.1/8"]
[[cluster.subnet]]
id = "a"
cidr = "10.0.1.0/24"
az = "za"
[[step]]
at = "90 s"
do = "dig"
from = "nowhere"
[[step]]
at = "1m"
do = "explode"
)";
    auto r = sim::load_scenario(text, "bad.toml");
    REQUIRE(std::holds_alternative<std::vector<config::Diagnostic>>(r));
    std::vector<std::string> got;
    for (const auto& d : std::get<std::vector<config::Diagnostic>>(r)) {
        got.push_back(d.to_string());
    }
    const std::vector<std::string> want = {
        "bad.toml:2:1: error: unknown key 'duraton' in [scenario] (did you mean 'duration'?)",
        "bad.toml:9:24: error: The following CIDRs are invalid in publicAccessCidrs: 10.0.0.1/8",
        "bad.toml:15:6: error: invalid duration '90 s' for 'at' (expected whole numbers with units "
        "ms, s, m or h, e.g. \"90s\" or \"7m30s\")",
        "bad.toml:17:8: error: unknown 'from' 'nowhere' (expected a [[host]] name, or a node name "
        "or address)",
        "bad.toml:20:6: error: unknown step 'explode' (expected one of: update-cluster-config, "
        "authorize-security-group-ingress, fail-node, recover-node, partition, heal, restart, "
        "upgrade, dig, ss, get-nodes, get-leases, describe-cluster, describe-update, connect, "
        "exec)",
    };
    for (const auto& g : got) {
        MESSAGE(g);
    }
    CHECK(got == want);
}

TEST_CASE("upgrade: API servers roll, ENIs re-created, grace follows the new version") {
    const auto sc = load(scenario_text("public+private", "1.31", 2, R"(
[[step]]
at = "1m"
do = "upgrade"
version = "1.32"
duration = "9m"
private_ips = ["10.0.1.30", "10.0.2.30"]
)"));
    sim::Simulation s(sc, {});
    CHECK(s.grace() == 40'000);
    s.run_until(60'000 + 540'000 + 60'000);
    CHECK(s.grace() == 50'000);
    CHECK(s.dig("bastion") == std::vector<std::string>{"10.0.1.30", "10.0.2.30"});
    // Every client reconnected; after the 60 s DNS cache, only to the new ENIs.
    s.run_until(60'000 + 540'000 + 200'000);
    for (size_t i = 0; i < 2; ++i) {
        for (const bool proxy : {false, true}) {
            const auto c = s.connection(i, proxy);
            CHECK(c.first == "ESTAB");
            CHECK((c.second == "10.0.1.30" || c.second == "10.0.2.30"));
        }
    }
    CHECK(s.ready(0) == Cond::True);
}

TEST_CASE("partition: requests time out, the node goes Unknown; healed, it is Ready again") {
    const auto sc = load(scenario_text("public+private", "1.31", 4, R"(
[[step]]
at = "60s"
do = "partition"
node = "10.0.1.10"
duration = "140s"
)"));
    sim::Simulation s(sc, {});
    const size_t i = s.node_index("ip-10-0-1-10.ap-northeast-2.compute.internal");
    REQUIRE(i != std::string::npos);
    s.run_until(60'000);
    const Millis last = s.last_renew(i);
    s.run_until(last + 40'000 + 10'000); // observed within 5 s, Unknown 40 s + one pass later
    CHECK(s.ready(i) == Cond::Unknown);
    CHECK(s.last_renew(i) == last); // nothing got through
    CHECK(s.connection(i, false).first == "SYN-SENT");
    // Healed at 200 s: the next attempt (at most timeout + 7 s backoff later) gets through.
    s.run_until(200'000 + 10'000 + 7'000 + 10'000 + 5'000);
    CHECK(s.ready(i) == Cond::True);
    CHECK_FALSE(s.tainted(i));
    CHECK(s.connection(i, false).first == "ESTAB");
    CHECK(s.pods_left(i) == 7); // back before the 300 s toleration ran out
}
