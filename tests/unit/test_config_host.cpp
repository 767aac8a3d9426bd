// The loader with a fake host: the machine's users, addresses, resolv.conf and secret files come
// only through config::Host, so every host-dependent check runs here without touching the system.
#include <cerrno>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "config/host.hpp"

namespace {

using horizon::config::Config;
using horizon::config::Diagnostic;
using horizon::util::Endpoint;
using horizon::util::FileText;
using horizon::util::IpAddress;

/// A machine described by tables: its users, its addresses and the files it can read.
class FakeHost final : public horizon::config::Host {
public:
    std::set<std::string> users;
    std::vector<IpAddress> addresses;
    std::map<std::string, std::string> files;
    int user_lookup_error = 0; ///< an errno value every user lookup fails with, or 0
    mutable std::vector<std::string> reads;
    mutable int address_listings = 0;

    [[nodiscard]] std::vector<IpAddress> local_addresses() const override {
        ++address_listings;
        return addresses;
    }

    [[nodiscard]] int find_user(const std::string& name) const override {
        if (user_lookup_error != 0) {
            return user_lookup_error;
        }
        return users.count(name) != 0 ? 0 : ENOENT;
    }

    [[nodiscard]] FileText read_file(const std::string& path, size_t limit) const override {
        reads.push_back(path);
        const auto it = files.find(path);
        if (it == files.end()) {
            return {"", ENOENT};
        }
        if (it->second.size() > limit) {
            return {"", EFBIG};
        }
        return {it->second, 0};
    }
};

std::string errors_of(const horizon::config::LoadResult& result) {
    std::string out;
    if (const auto* diags = std::get_if<std::vector<Diagnostic>>(&result)) {
        for (const auto& d : *diags) {
            out += (out.empty() ? "" : "\n") + d.to_string();
        }
    } else {
        FAIL_CHECK("loaded although an error was expected");
    }
    return out;
}

/// The loaded config (a reference into `result`, which must outlive it).
const Config& config_of(const horizon::config::LoadResult& result) {
    if (const auto* diags = std::get_if<std::vector<Diagnostic>>(&result)) {
        for (const auto& d : *diags) {
            MESSAGE(d.to_string());
        }
    }
    REQUIRE(std::holds_alternative<Config>(result));
    return std::get<Config>(result);
}

Endpoint ep(const char* text) {
    return Endpoint::parse(text).value();
}

/// "a:53, b:53", for messages that show what differs.
std::string texts(const std::vector<Endpoint>& list) {
    std::string out;
    for (const auto& e : list) {
        out += (out.empty() ? "" : ", ") + e.to_string();
    }
    return out;
}

IpAddress ip(const char* text) {
    return IpAddress::parse(text).value();
}

/// [server] with `server` appended, one cluster, and [resolver] `resolver` when not empty.
std::string file(const std::string& server, const std::string& resolver = "") {
    return "[server]\n" + server +
           "\n[[cluster]]\nname = \"aews\"\nregion = \"ap-northeast-2\"\n"
           "vpc_cidrs = [\"192.168.0.0/16\"]\nprivate_ips = [\"192.168.1.10\"]\n"
           "public_ips = [\"203.0.113.10\"]\n" +
           (resolver.empty() ? "" : "\n[resolver]\n" + resolver + "\n");
}

} // namespace

TEST_CASE("fake host: 'user' must exist in the host's user database") {
    FakeHost host;
    host.users = {"horizon"};
    const std::string listen = "listen = [\"127.0.0.1:1053\"]\n";
    CHECK(config_of(horizon::config::load(file(listen + "user = \"horizon\""), "u.toml", host))
              .server.user == "horizon");
    CHECK(
        errors_of(horizon::config::load(file(listen + "user = \"nobody-here\""), "u.toml", host)) ==
        "u.toml:3:8: error: unknown user 'nobody-here' in 'user' (no such user in the system's "
        "user database)");
    host.user_lookup_error = EIO;
    CHECK(errors_of(horizon::config::load(file(listen + "user = \"horizon\""), "u.toml", host)) ==
          "u.toml:3:8: error: cannot look up user 'horizon' in 'user': Input/output error");
    // No user: nothing is looked up.
    CHECK(config_of(horizon::config::load(file(listen), "u.toml", host)).server.user.empty());
}

TEST_CASE("fake host: upstream \"system\" reads the host's resolv.conf") {
    FakeHost host;
    const std::string listen = "listen = [\"127.0.0.1:1053\", \"0.0.0.0:53\"]\n"
                               "admin_listen = \"\"\n";
    host.addresses = {ip("192.168.1.1"), ip("10.0.0.5")};
    host.files[horizon::config::kResolvConf] = "# generated\nnameserver 10.0.0.5\n"
                                               "nameserver 1.1.1.1 ; cloudflare\n"
                                               "search example.com\nnameserver 9.9.9.9\n"
                                               "nameserver 1.1.1.1\n";
    const auto result = horizon::config::load(file(listen, "upstreams = [\"system\", \"8.8.8.8\"]"),
                                              "r.toml", host);
    const Config& c = config_of(result);
    // 10.0.0.5 is this host, where the 0.0.0.0:53 listener would receive the query: skipped.
    CHECK(texts(c.resolver.upstreams) == "8.8.8.8:53, 1.1.1.1:53, 9.9.9.9:53");
    CHECK(host.reads == std::vector<std::string>{horizon::config::kResolvConf});
    CHECK(host.address_listings == 1);

    SUBCASE("only horizond itself") {
        host.files[horizon::config::kResolvConf] = "nameserver 127.0.0.1\nnameserver 10.0.0.5\n";
        CHECK(errors_of(horizon::config::load(file(listen, "upstreams = [\"system\"]"), "r.toml",
                                              host)) ==
              "r.toml:13:14: error: upstream \"system\": /etc/resolv.conf names no nameserver "
              "other than horizond itself");
    }
    SUBCASE("unreadable") {
        host.files.clear();
        CHECK(errors_of(horizon::config::load(file(listen, "upstreams = [\"system\"]"), "r.toml",
                                              host)) ==
              "r.toml:13:14: error: cannot read /etc/resolv.conf for upstream \"system\": No such "
              "file or directory");
    }
    SUBCASE("read once for every list that names it") {
        host.reads.clear();
        const auto loaded = horizon::config::load(
            file(listen, "upstreams = [\"system\"]\n[[resolver.forward]]\nzone = \"corp\"\n"
                         "upstreams = [\"system\"]"),
            "r.toml", host);
        const Config& both = config_of(loaded);
        CHECK(texts(both.resolver.upstreams) == "1.1.1.1:53, 9.9.9.9:53");
        CHECK(texts(both.resolver.forward.at(0).upstreams) == "1.1.1.1:53, 9.9.9.9:53");
        CHECK(host.reads.size() == 1);
    }
}

TEST_CASE("fake host: a wildcard listener covers the host's addresses, and only then are they "
          "listed") {
    FakeHost host;
    host.addresses = {ip("192.0.2.7")};
    const std::string wildcard = "listen = [\"0.0.0.0:53\"]\nadmin_listen = \"\"\n";
    CHECK(errors_of(horizon::config::load(file(wildcard, "upstreams = [\"192.0.2.7\"]"), "w.toml",
                                          host)) ==
          "w.toml:13:14: error: upstream '192.0.2.7:53' in upstreams is horizond's own listen "
          "address '0.0.0.0:53' (queries would loop)");
    CHECK(host.address_listings == 1);
    host.addresses.clear(); // another machine: the same address is a real upstream there
    CHECK(config_of(
              horizon::config::load(file(wildcard, "upstreams = [\"192.0.2.7\"]"), "w.toml", host))
              .resolver.upstreams == std::vector{ep("192.0.2.7:53")});
    host.address_listings = 0;
    config_of(horizon::config::load(
        file("listen = [\"127.0.0.1:1053\"]", "upstreams = [\"1.1.1.1\"]"), "w.toml", host));
    CHECK(host.address_listings == 0); // no wildcard: the host's addresses do not matter
}

TEST_CASE("fake host: admin_token_file is read through the host, trimmed and checked") {
    FakeHost host;
    const std::string server = "listen = [\"127.0.0.1:1053\"]\n"
                               "admin_token_file = \"/run/secrets/token\"\n";
    host.files["/run/secrets/token"] = "\n  s3cret-token \r\n";
    CHECK(config_of(horizon::config::load(file(server), "t.toml", host)).server.admin_token ==
          "s3cret-token");
    CHECK(host.reads == std::vector<std::string>{"/run/secrets/token"});

    host.files["/run/secrets/token"] = "two words";
    CHECK(errors_of(horizon::config::load(file(server), "t.toml", host)) ==
          "t.toml:3:20: error: the token in admin_token_file '/run/secrets/token' must be "
          "printable ASCII without spaces (it is compared with an HTTP bearer token)");
    host.files["/run/secrets/token"] = std::string(5000, 'x');
    CHECK(errors_of(horizon::config::load(file(server), "t.toml", host)) ==
          "t.toml:3:20: error: admin_token_file '/run/secrets/token' is larger than 4096 bytes "
          "(expected a token)");
    host.files.clear();
    CHECK(errors_of(horizon::config::load(file(server), "t.toml", host)) ==
          "t.toml:3:20: error: cannot read admin_token_file '/run/secrets/token': No such file "
          "or directory");
}
