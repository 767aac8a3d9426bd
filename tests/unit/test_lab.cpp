// horizonctl lab's file reader and plan (src/lab): the topology as data, checked without root.
#include <algorithm>
#include <set>
#include <string>
#include <variant>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "lab/lab_file.hpp"
#include "lab/plan.hpp"

namespace lab = horizon::lab;

namespace {

lab::LabSpec builtin() {
    auto r = lab::load_lab(lab::builtin_lab_text(), std::string(lab::kBuiltinLabName));
    REQUIRE(std::holds_alternative<lab::LabSpec>(r));
    return std::get<lab::LabSpec>(r);
}

std::vector<std::string> errors_of(const std::string& text) {
    auto r = lab::load_lab(text, "lab.toml");
    REQUIRE(std::holds_alternative<std::vector<std::string>>(r));
    return std::get<std::vector<std::string>>(r);
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

bool any_contains(const std::vector<std::string>& lines, const std::string& what) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(what) != std::string::npos; });
}

} // namespace

TEST_CASE("the built-in lab is the seed's topology") {
    const auto spec = builtin();
    CHECK(spec.prefix == "hz-");
    CHECK(spec.vpc.to_string() == "192.168.0.0/16");
    CHECK(spec.vpc_resolver.to_string() == "192.168.0.2");
    REQUIRE(spec.host("node1") != nullptr);
    CHECK(spec.host("node1")->address.to_string() == "192.168.1.99");
    CHECK(spec.host("node2")->address.to_string() == "192.168.2.132");
    CHECK(spec.host("bastion")->role == lab::Role::Operator);
    CHECK(spec.host("bastion")->public_ip->to_string() == "203.0.113.100");
    CHECK(spec.host("home")->role == lab::Role::Internet);
    CHECK(spec.cluster.name == "myeks");
    CHECK(lab::endpoint_name(spec) == horizon::config::derive_endpoint("myeks", "ap-northeast-2"));
    // The resolver's /24 gets a bridge of its own: no listed subnet holds 192.168.0.2.
    CHECK(spec.all_subnets().size() == 3);
}

TEST_CASE("lab file mistakes are reported at file:line:col") {
    const std::string text(lab::builtin_lab_text());
    CHECK(any_contains(
        errors_of(replaced(text, "address = \"192.168.1.99\"", "address = \"192.168.7.99\"")),
        "must be in one of [vpc] subnets"));
    CHECK(any_contains(
        errors_of(replaced(text, "address = \"192.168.2.132\"", "address = \"192.168.1.99\"")),
        "address 192.168.1.99 (host node2) is used twice"));
    const auto typo = errors_of(replaced(text, "role = \"node\"", "rol = \"node\""));
    CHECK(any_contains(typo, "lab.toml:"));
    CHECK(any_contains(typo, "unknown key"));
    CHECK(any_contains(errors_of(replaced(text, "prefix = \"hz-\"", "prefix = \"HZ_\"")),
                       "invalid prefix"));
    CHECK(any_contains(
        errors_of(replaced(text, "name = \"bastion\"", "name = \"a-very-long-hostname\"")),
        "invalid host name"));
    CHECK(any_contains(errors_of(replaced(text, "public_ips = [\"203.0.113.10\"",
                                          "public_ips = [\"192.168.9.10\"")),
                       "must be outside [vpc] cidr"));
}

TEST_CASE("the plan never touches the host's own network namespace") {
    const auto spec = builtin();
    const auto plan = lab::make_plan(spec, {"/x/horizond", "/x/horizonctl"});
    const std::set<std::string> ours(plan.namespaces.begin(), plan.namespaces.end());
    CHECK(ours.size() == 6);
    for (const auto& ns : ours) {
        CHECK(ns.rfind("hz-", 0) == 0);
    }
    for (const auto& step : plan.steps) {
        REQUIRE(!step.argv.empty());
        const auto& a = step.argv;
        if (a[0] == "openssl") {
            continue; // files in the run directory only
        }
        REQUIRE(a[0] == "ip");
        REQUIRE(a.size() >= 4);
        if (a[1] == "netns") {
            // ip netns add|exec NS ...: creating ours, or running inside ours.
            CHECK((a[2] == "add" || a[2] == "exec"));
            CHECK(ours.count(a[3]) == 1);
        } else {
            // Everything else names one of our namespaces with -n (a veth's peer too).
            CHECK(a[1] == "-n");
            CHECK(ours.count(a[2]) == 1);
            const auto peer = std::find(a.begin(), a.end(), "netns");
            if (peer != a.end()) {
                REQUIRE(peer + 1 != a.end());
                CHECK(ours.count(*(peer + 1)) == 1);
            }
        }
    }
    for (const auto& f : plan.files) {
        const bool in_run = f.path.rfind(lab::run_dir(spec) + "/", 0) == 0;
        const bool netns_conf = f.path.rfind("/etc/netns/hz-", 0) == 0;
        CHECK_MESSAGE((in_run || netns_conf), f.path);
    }
    for (const auto& d : plan.daemons) {
        CHECK(ours.count(d.ns) == 1);
    }
}

TEST_CASE("the plan's horizond configuration is valid and serves the lab's addresses") {
    const auto spec = builtin();
    const std::string text = lab::horizond_config(spec);
    CHECK(text.find("listen = [\"192.168.0.2:53\", \"198.51.100.53:53\"]") != std::string::npos);
    const auto loaded = horizon::config::load(text, "lab horizond.toml");
    if (const auto* errors = std::get_if<std::vector<horizon::config::Diagnostic>>(&loaded)) {
        for (const auto& e : *errors) {
            MESSAGE(e.to_string());
        }
        FAIL("the generated configuration does not load");
    }
    const auto& cfg = std::get<horizon::config::Config>(loaded);
    REQUIRE(cfg.clusters.size() == 1);
    CHECK(cfg.clusters[0].private_ips.size() == 2);
    CHECK(cfg.zones.size() == 3); // ipinfo.io and the AWS API's two names
}

TEST_CASE("agents are named as the real ones, one pair per node") {
    const auto plan = lab::make_plan(builtin(), {"/x/horizond", "/x/horizonctl"});
    std::set<std::string> names;
    for (const auto& d : plan.daemons) {
        names.insert(d.name);
    }
    for (const char* n : {"horizond", "aws-api", "ipinfo", "relay", "kubelet@node1",
                          "kube-proxy@node1", "kubelet@node2", "kube-proxy@node2"}) {
        CHECK(names.count(n) == 1);
    }
    CHECK(names.count("kubelet@bastion") == 0);
}
