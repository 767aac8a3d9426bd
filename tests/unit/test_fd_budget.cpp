// The server's descriptor budget (server/fd_budget.hpp) and its per-source TCP accounting
// (TcpBudget in server/worker.hpp): tables of limits and configurations, no sockets.
#include <string>
#include <variant>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "server/fd_budget.hpp"
#include "server/worker.hpp"

namespace {

using horizon::config::Config;
using horizon::server::FdPlan;
using horizon::server::plan_descriptors;
using horizon::server::TcpBudget;
using horizon::util::IpAddress;

Config load(const std::string& server, const std::string& api = "") {
    const std::string text = "[server]\nlisten = [\"127.0.0.1:1053\", \"[::1]:1053\"]\n" + server +
                             "\n[[cluster]]\nname = \"aews\"\nregion = \"ap-northeast-2\"\n"
                             "vpc_cidrs = [\"192.168.0.0/16\"]\nprivate_ips = [\"127.30.0.10\"]\n"
                             "public_ips = [\"127.40.0.10\"]\n" +
                             api;
    auto loaded = horizon::config::load(text, "test.toml");
    REQUIRE(std::holds_alternative<Config>(loaded));
    return std::get<Config>(loaded);
}

IpAddress ip(const char* text) {
    return *IpAddress::parse(text);
}

} // namespace

TEST_CASE("fd budget: a large limit gives tcp_max_connections and half the limit upstream") {
    const FdPlan p = plan_descriptors(load(""), 2, 1U << 20);
    CHECK(p.tcp == 1024);
    CHECK_FALSE(p.tcp_clamped);
    CHECK_FALSE(p.gate_short);
    CHECK(p.upstream == (1U << 19));
    CHECK(p.wanted(1024) == p.fixed + 2048);
}

TEST_CASE("fd budget: a small limit clamps tcp_max_connections; nothing exceeds the limit") {
    for (const uint64_t limit : {256U, 512U, 1024U, 4096U}) {
        CAPTURE(limit);
        const FdPlan p = plan_descriptors(load("tcp_max_connections = 100000\n"), 4, limit);
        CHECK(p.tcp_clamped);
        CHECK(p.tcp >= 1);
        CHECK(p.fixed + p.gate + p.tcp + p.upstream <= limit);
        CHECK(p.upstream <= limit / 2);
        CHECK(p.wanted(100000) > limit);
    }
}

TEST_CASE("fd budget: the fixed share grows with workers and listeners") {
    const FdPlan two = plan_descriptors(load(""), 2, 65536);
    const FdPlan eight = plan_descriptors(load(""), 8, 65536);
    CHECK(eight.fixed == two.fixed + 6 * (4 + 2 * 2)); // a loop and 2 listeners x UDP+TCP each
    const FdPlan no_admin = plan_descriptors(load("admin_listen = \"\"\n"), 2, 65536);
    CHECK(no_admin.fixed < two.fixed);
}

TEST_CASE("fd budget: the API endpoint's maxima are counted, and a gate too big is flagged") {
    const FdPlan none = plan_descriptors(load(""), 2, 65536);
    CHECK(none.gate == 0);
    const FdPlan gate = plan_descriptors(
        load("", "[cluster.api]\nmax_connections = 100\nmax_held = 10\n"), 2, 65536);
    // 2 listeners, 2 sides x (100 connections x 2 descriptors + 10 held), the gate's loop.
    CHECK(gate.gate == 2 + 400 + 20 + 4);
    CHECK_FALSE(gate.gate_short);
    const FdPlan small =
        plan_descriptors(load("", "[cluster.api]\nmax_connections = 100\nmax_held = 10\n"), 2, 256);
    CHECK(small.gate_short);
    CHECK(small.tcp >= 1);
    CHECK(small.upstream >= 1);
}

TEST_CASE("tcp budget: acquire_source stops at the limit and release gives the slot back") {
    TcpBudget b;
    const auto a = horizon::util::source_key(ip("2001:db8::1"));
    const auto other = horizon::util::source_key(ip("2001:db8::2")); // the same /64
    const auto c = horizon::util::source_key(ip("192.0.2.7"));
    CHECK(b.acquire_source(a, 2));
    CHECK(b.acquire_source(other, 2));
    CHECK_FALSE(b.acquire_source(a, 2));
    CHECK(b.acquire_source(c, 2));
    b.release_source(a);
    CHECK(b.acquire_source(other, 2));
    CHECK_FALSE(b.acquire_source(a, 2));
}
