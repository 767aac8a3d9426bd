// Config loader tests: the built-in default, good edge cases, and every tests/data/bad config
// against its exact expected diagnostics.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "config/duration.hpp"

namespace {

using horizon::config::AccessMode;
using horizon::config::Config;
using horizon::config::Diagnostic;
using horizon::config::PrivateOutside;
using horizon::util::Cidr;
using horizon::util::IpAddress;
namespace fs = std::filesystem;

Cidr cidr(const char* text) {
    return Cidr::parse(text).value();
}

IpAddress ip(const char* text) {
    return IpAddress::parse(text).value();
}

std::string join(const std::vector<Diagnostic>& diags) {
    std::string out;
    for (const auto& d : diags) {
        out += (out.empty() ? "" : "\n") + d.to_string();
    }
    return out;
}

/// The config, or a failed check showing the diagnostics.
const Config* loaded(const horizon::config::LoadResult& result) {
    if (const auto* diags = std::get_if<std::vector<Diagnostic>>(&result)) {
        FAIL_CHECK("unexpected diagnostics:\n" << join(*diags));
        return nullptr;
    }
    return &std::get<Config>(result);
}

/// The diagnostics as text, or "" (and a failed check) when the load succeeded.
std::string errors_of(const horizon::config::LoadResult& result) {
    if (const auto* diags = std::get_if<std::vector<Diagnostic>>(&result)) {
        return join(*diags);
    }
    FAIL_CHECK("loaded although an error was expected");
    return "";
}

/// A minimal valid file: one listen address and one cluster, each with extra lines appended.
std::string minimal(const std::string& server_extra, const std::string& cluster_extra) {
    return "[server]\n"
           "listen = [\"127.0.0.1:1053\"]\n" +
           server_extra +
           "\n[[cluster]]\n"
           "name = \"aews\"\n"
           "region = \"ap-northeast-2\"\n"
           "vpc_cidrs = [\"192.168.0.0/16\"]\n"
           "private_ips = [\"192.168.1.10\"]\n"
           "public_ips = [\"203.0.113.10\"]\n" +
           cluster_extra;
}

/// `text` with the first `from` replaced by `to`.
std::string with(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

/// Changes the working directory for one scope, so diagnostics name files as `bad/NAME.toml`.
class WorkingDirectory {
public:
    explicit WorkingDirectory(const fs::path& dir)
        : saved_(fs::current_path()) {
        fs::current_path(dir);
    }

    WorkingDirectory(const WorkingDirectory&) = delete;
    WorkingDirectory& operator=(const WorkingDirectory&) = delete;
    WorkingDirectory(WorkingDirectory&&) = delete;
    WorkingDirectory& operator=(WorkingDirectory&&) = delete;

    ~WorkingDirectory() {
        std::error_code ignored;
        fs::current_path(saved_, ignored);
    }

private:
    fs::path saved_;
};

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

} // namespace

TEST_CASE("the built-in default configuration loads with its documented values") {
    const auto result = horizon::config::load(horizon::config::default_text(), "default.toml");
    const Config* config = loaded(result);
    REQUIRE(config != nullptr);

    const auto& s = config->server;
    REQUIRE(s.listen.size() == 2);
    CHECK(s.listen[0].to_string() == "127.0.0.1:1053");
    CHECK(s.listen[1].to_string() == "[::1]:1053");
    CHECK(s.workers == 0);
    CHECK(s.udp_payload == 1232);
    CHECK(s.tcp_idle_timeout == std::chrono::seconds(10));
    CHECK(s.tcp_max_connections == 1024);
    CHECK(s.log_level == "info");
    CHECK(s.query_log == false);
    CHECK(s.identity == "horizon");
    CHECK(s.version.empty());
    REQUIRE(s.admin_listen.has_value());
    CHECK(s.admin_listen->to_string() == "127.0.0.1:8053");
    CHECK(s.admin_token.empty());
    CHECK(s.admin_token_file.empty());
    CHECK(s.state_dir.empty());

    REQUIRE(config->clusters.size() == 1);
    const auto& c = config->clusters[0];
    CHECK(c.name == "aews");
    CHECK(c.region == "ap-northeast-2");
    CHECK(c.endpoint == "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com");
    CHECK(c.vpc_cidrs == std::vector{cidr("192.168.0.0/16"), cidr("127.10.0.0/16")});
    CHECK(c.vpc_exclude_cidrs.empty());
    CHECK(c.private_ips == std::vector{ip("192.168.1.10"), ip("192.168.2.10")});
    CHECK(c.public_ips == std::vector{ip("203.0.113.10"), ip("203.0.113.20")});
    CHECK(c.access_mode == AccessMode::PublicPrivate);
    CHECK(c.public_access_cidrs == std::vector{cidr("0.0.0.0/0")});
    CHECK(c.private_outside == PrivateOutside::PrivateIps);
    CHECK(c.ttl == 60);
    CHECK(c.update_duration == std::chrono::milliseconds(0));
    CHECK(c.kubernetes_version == "1.31");
}

TEST_CASE("derive_endpoint: SHA-256 of name/region as 32 upper-case hex under gr7.<region>") {
    using horizon::config::derive_endpoint;
    const std::string e = derive_endpoint("aews", "ap-northeast-2");
    CHECK(e == derive_endpoint("aews", "ap-northeast-2"));
    // `printf 'aews/ap-northeast-2' | sha256sum`, first 32 hex digits.
    CHECK(e == "447DED24D97675364BC3BAD1611DB84C.gr7.ap-northeast-2.eks.amazonaws.com");
    CHECK(derive_endpoint("alpha", "us-east-1") ==
          "BDF0050761CC51B80988E97613FBA3B8.gr7.us-east-1.eks.amazonaws.com");

    const std::string suffix = ".gr7.us-west-2.eks.amazonaws.com";
    for (const char* name : {"a", "prod", "prod-2", "x_y", "A1"}) {
        INFO(std::string(name));
        const std::string d = derive_endpoint(name, "us-west-2");
        REQUIRE(d.size() == 32 + suffix.size());
        CHECK(d.substr(32) == suffix);
        CHECK(std::all_of(d.begin(), d.begin() + 32, [](char ch) {
            return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F');
        }));
    }
    // The separator matters: "ab"/"c" and "a"/"bc" are different clusters.
    CHECK(derive_endpoint("ab", "c").substr(0, 32) != derive_endpoint("a", "bc").substr(0, 32));
    CHECK(derive_endpoint("prod", "us-east-1") != derive_endpoint("prod", "us-east-2"));
}

TEST_CASE("good configurations and edge cases load") {
    struct Case {
        const char* what;
        std::string text;
        std::function<void(const Config&)> check;
    };

    std::string forty_cidrs = "public_access_cidrs = [";
    for (int i = 0; i < 40; ++i) {
        forty_cidrs +=
            (i == 0 ? "\"" : ", \"") + std::string("198.51.") + std::to_string(i) + ".0/24\"";
    }
    forty_cidrs += "]\n";
    const std::string identity_255(255, 'i');

    const std::vector<Case> cases = {
        {"IPv6 listen address", with(minimal("", ""), "127.0.0.1:1053", "[::1]:53"),
         [](const Config& c) {
             REQUIRE(c.server.listen.size() == 1);
             CHECK_FALSE(c.server.listen[0].endpoint.addr.is_v4());
             CHECK(c.server.listen[0].endpoint.addr == ip("::1"));
             CHECK(c.server.listen[0].endpoint.port == 53);
         }},
        {"wildcard listen addresses, highest port",
         with(minimal("", ""), "\"127.0.0.1:1053\"",
              R"("0.0.0.0:53", "[::]:53", "127.0.0.1:65535")"),
         [](const Config& c) {
             REQUIRE(c.server.listen.size() == 3);
             CHECK(c.server.listen[0].to_string() == "0.0.0.0:53");
             CHECK(c.server.listen[1].to_string() == "[::]:53");
             CHECK(c.server.listen[2].endpoint.port == 65535);
         }},
        {"same address on two ports",
         with(minimal("", ""), "127.0.0.1:1053", "127.0.0.1:53\", \"127.0.0.1:54"),
         [](const Config& c) { CHECK(c.server.listen.size() == 2); }},
        {"resolver listeners: view vpc and vpc:<cluster>, next to plain and wildcard entries",
         with(minimal("", ""), "\"127.0.0.1:1053\"",
              R"("0.0.0.0:1053", { address = "127.0.0.2:1053", view = "vpc" },
                 { address = "[::1]:1053", view = "vpc:aews" },
                 { address = "127.0.0.3:1053", view = "source" }, "127.0.0.4:1053")"),
         [](const Config& c) {
             REQUIRE(c.server.listen.size() == 5);
             CHECK(c.server.listen[0].to_string() == "0.0.0.0:1053");
             CHECK_FALSE(c.server.listen[0].vpc);
             CHECK(c.server.listen[1].to_string() == "127.0.0.2:1053 (view vpc)");
             CHECK(c.server.listen[1].vpc);
             CHECK(c.server.listen[1].cluster.empty());
             CHECK(c.server.listen[2].to_string() == "[::1]:1053 (view vpc:aews)");
             CHECK(c.server.listen[2].cluster == "aews");
             CHECK_FALSE(c.server.listen[3].vpc);
             CHECK_FALSE(c.server.listen[4].vpc);
         }},
        {"user: an existing user", minimal("user = \"nobody\"\n", ""),
         [](const Config& c) { CHECK(c.server.user == "nobody"); }},
        {"duration in milliseconds", minimal("tcp_idle_timeout = \"500ms\"\n", ""),
         [](const Config& c) {
             CHECK(c.server.tcp_idle_timeout == std::chrono::milliseconds(500));
         }},
        {"duration in minutes", minimal("tcp_idle_timeout = \"6m\"\n", ""),
         [](const Config& c) { CHECK(c.server.tcp_idle_timeout == std::chrono::minutes(6)); }},
        {"duration in hours", minimal("tcp_idle_timeout = \"1h\"\n", ""),
         [](const Config& c) { CHECK(c.server.tcp_idle_timeout == std::chrono::hours(1)); }},
        {"lowest bounds",
         minimal("workers = 0\nudp_payload = 512\ntcp_max_connections = 1\n"
                 "tcp_max_connections_per_source = 1\n",
                 "ttl = 0\n"),
         [](const Config& c) {
             CHECK(c.server.workers == 0);
             CHECK(c.server.udp_payload == 512);
             CHECK(c.server.tcp_max_connections == 1);
             CHECK(c.server.tcp_max_connections_per_source == 1);
             CHECK(c.clusters[0].ttl == 0);
         }},
        {"highest bounds",
         minimal("workers = 256\nudp_payload = 4096\ntcp_max_connections = 1000000\n",
                 "ttl = 2147483647\n"),
         [](const Config& c) {
             CHECK(c.server.workers == 256);
             CHECK(c.server.udp_payload == 4096);
             CHECK(c.server.tcp_max_connections == 1000000);
             CHECK(c.clusters[0].ttl == 2147483647U);
         }},
        {"log level, query log, identity of 255 bytes, version",
         minimal("log_level = \"off\"\nquery_log = true\nidentity = \"" + identity_255 +
                     "\"\nversion = \"horizon 0.1\"\n",
                 ""),
         [identity_255](const Config& c) {
             CHECK(c.server.log_level == "off");
             CHECK(c.server.query_log);
             CHECK(c.server.identity == identity_255);
             CHECK(c.server.version == "horizon 0.1");
         }},
        {"empty identity turns it off", minimal("identity = \"\"\n", ""),
         [](const Config& c) { CHECK(c.server.identity.empty()); }},
        {"private mode answering nxdomain outside",
         minimal("", "access_mode = \"private\"\nprivate_outside = \"nxdomain\"\n"),
         [](const Config& c) {
             CHECK(c.clusters[0].access_mode == AccessMode::Private);
             CHECK(c.clusters[0].private_outside == PrivateOutside::NxDomain);
         }},
        {"public mode", minimal("", "access_mode = \"public\"\n"),
         [](const Config& c) { CHECK(c.clusters[0].access_mode == AccessMode::Public); }},
        {"endpoint omitted: derived from name and region", minimal("", ""),
         [](const Config& c) {
             CHECK(c.clusters[0].endpoint ==
                   horizon::config::derive_endpoint("aews", "ap-northeast-2"));
         }},
        {"endpoint: case kept, one trailing dot stripped",
         minimal("", "endpoint = \"API.Example.com.\"\n"),
         [](const Config& c) { CHECK(c.clusters[0].endpoint == "API.Example.com"); }},
        {"endpoint with digits and hyphens, 63-character label",
         minimal("", "endpoint = \"" + std::string(63, 'a') + ".1-2.example\"\n"),
         [](const Config& c) { CHECK(c.clusters[0].endpoint.size() == 63 + 12); }},
        {"defaults of optional cluster keys", minimal("", ""),
         [](const Config& c) {
             const auto& k = c.clusters[0];
             CHECK(k.access_mode == AccessMode::PublicPrivate);
             CHECK(k.private_outside == PrivateOutside::PrivateIps);
             CHECK(k.public_access_cidrs == std::vector{cidr("0.0.0.0/0")});
             CHECK(k.vpc_exclude_cidrs.empty());
             CHECK(k.ttl == 60);
             CHECK(k.update_duration == std::chrono::milliseconds(0));
             CHECK(k.kubernetes_version == "1.31");
         }},
        {"update_duration and kubernetes_version",
         minimal("", "update_duration = \"6m\"\nkubernetes_version = \"1.30\"\n"),
         [](const Config& c) {
             CHECK(c.clusters[0].update_duration == std::chrono::minutes(6));
             CHECK(c.clusters[0].kubernetes_version == "1.30");
         }},
        {"update_duration at its bounds", minimal("", "update_duration = \"24h\"\n"),
         [](const Config& c) { CHECK(c.clusters[0].update_duration == std::chrono::hours(24)); }},
        {"update_duration zero", minimal("", "update_duration = \"0ms\"\n"),
         [](const Config& c) {
             CHECK(c.clusters[0].update_duration == std::chrono::milliseconds(0));
         }},
        {"admin listener off, token, state directory",
         minimal("admin_listen = \"\"\nadmin_token = \"s3cret-Token_1\"\n"
                 "state_dir = \"/tmp/horizon state\"\n",
                 ""),
         [](const Config& c) {
             CHECK_FALSE(c.server.admin_listen.has_value());
             CHECK(c.server.admin_token == "s3cret-Token_1");
             CHECK(c.server.admin_token_file.empty());
             CHECK(c.server.state_dir == "/tmp/horizon state");
         }},
        {"IPv6 admin listener; the DNS port on another address is fine",
         with(minimal("admin_listen = \"[::1]:1053\"\n", ""), "127.0.0.1:1053", "127.0.0.1:53"),
         [](const Config& c) {
             REQUIRE(c.server.admin_listen.has_value());
             CHECK(c.server.admin_listen->to_string() == "[::1]:1053");
         }},

        {"vpc_exclude_cidrs and IPv6 VPC",
         with(minimal("", "vpc_exclude_cidrs = [\"192.168.100.0/24\", \"2001:db8:0:1::/64\"]\n"),
              "\"192.168.0.0/16\"", R"("192.168.0.0/16", "2001:db8::/56")"),
         [](const Config& c) {
             const auto& k = c.clusters[0];
             CHECK(k.vpc_cidrs == std::vector{cidr("192.168.0.0/16"), cidr("2001:db8::/56")});
             CHECK(k.vpc_exclude_cidrs ==
                   std::vector{cidr("192.168.100.0/24"), cidr("2001:db8:0:1::/64")});
         }},
        {"exactly 40 public access CIDRs", minimal("", forty_cidrs),
         [](const Config& c) { CHECK(c.clusters[0].public_access_cidrs.size() == 40); }},
        {"no public access CIDRs", minimal("", "public_access_cidrs = []\n"),
         [](const Config& c) { CHECK(c.clusters[0].public_access_cidrs.empty()); }},
        {"IPv6 public access CIDR on a cluster with an IPv6 public address",
         with(minimal("", "public_access_cidrs = [\"0.0.0.0/0\", \"::/0\"]\n"), "\"203.0.113.10\"",
              R"("203.0.113.10", "2001:db8::10")"),
         [](const Config& c) {
             CHECK(c.clusters[0].public_access_cidrs ==
                   std::vector{cidr("0.0.0.0/0"), cidr("::/0")});
         }},
        {"IPv6-only addresses", with(minimal("", ""), "\"192.168.1.10\"", "\"fd00::10\""),
         [](const Config& c) { CHECK(c.clusters[0].private_ips == std::vector{ip("fd00::10")}); }},
        {"100-character name with '_' and '-'",
         with(minimal("", ""), "\"aews\"", "\"a_b-" + std::string(96, 'c') + "\""),
         [](const Config& c) { CHECK(c.clusters[0].name.size() == 100); }},
        {"several clusters, inline-table form",
         "cluster = [\n"
         "  { name = \"one\", region = \"us-east-1\", vpc_cidrs = [\"10.0.0.0/8\"],"
         " private_ips = [\"10.0.0.1\"], public_ips = [\"198.51.100.1\"] },\n"
         "  { name = \"two\", region = \"us-east-1\", vpc_cidrs = [\"10.0.0.0/8\"],"
         " private_ips = [\"10.0.0.1\"], public_ips = [\"198.51.100.1\"] },\n"
         "]\n"
         "[server]\nlisten = [\"127.0.0.1:53\"]\n",
         [](const Config& c) {
             REQUIRE(c.clusters.size() == 2);
             CHECK(c.clusters[0].name == "one");
             CHECK(c.clusters[1].name == "two");
             CHECK(c.clusters[0].endpoint != c.clusters[1].endpoint);
         }},
        {"no [server] table: every server key has its default value",
         with(minimal("", ""), "[server]\nlisten = [\"127.0.0.1:1053\"]\n", ""),
         [](const Config& c) {
             const auto defaults = horizon::config::load(horizon::config::default_text(), "d");
             const auto& d = std::get<Config>(defaults).server;
             REQUIRE(c.server.listen.size() == 2);
             CHECK(c.server.listen[0].to_string() == d.listen[0].to_string());
             CHECK(c.server.listen[1].to_string() == d.listen[1].to_string());
             CHECK(c.server.workers == d.workers);
             CHECK(c.server.udp_payload == d.udp_payload);
             CHECK(c.server.tcp_idle_timeout == d.tcp_idle_timeout);
             CHECK(c.server.tcp_max_connections == d.tcp_max_connections);
             CHECK(c.server.tcp_max_connections_per_source == d.tcp_max_connections_per_source);
             CHECK(c.server.log_level == d.log_level);
             CHECK(c.server.query_log == d.query_log);
             CHECK(c.server.identity == d.identity);
             CHECK(c.server.version == d.version);
             REQUIRE(c.server.admin_listen.has_value());
             CHECK(c.server.admin_listen->to_string() == d.admin_listen->to_string());
             CHECK(c.server.admin_token == d.admin_token);
             CHECK(c.server.admin_token_file == d.admin_token_file);
             CHECK(c.server.state_dir == d.state_dir);
             CHECK(c.server.user == d.user);
         }},
        {"[server] without listen: the default listen addresses",
         with(minimal("workers = 2\n", ""), "listen = [\"127.0.0.1:1053\"]\n", ""),
         [](const Config& c) {
             REQUIRE(c.server.listen.size() == 2);
             CHECK(c.server.listen[0].to_string() == "127.0.0.1:1053");
             CHECK(c.server.listen[1].to_string() == "[::1]:1053");
             CHECK(c.server.workers == 2);
         }},
        {"no cluster at all", "[server]\nidentity = \"\"\n",
         [](const Config& c) {
             CHECK(c.clusters.empty());
             CHECK(c.server.identity.empty());
         }},
        {"an empty cluster array", "cluster = []\n",
         [](const Config& c) { CHECK(c.clusters.empty()); }},
        {"allow_no_clusters", "[server]\nallow_no_clusters = true\n",
         [](const Config& c) {
             CHECK(c.clusters.empty());
             CHECK(c.server.allow_no_clusters);
             CHECK(c.server.listen.size() == 2);
         }},
        {"comments, blank lines and key order do not matter",
         "# comment\n\n[[cluster]]\npublic_ips = [\"203.0.113.10\"] # trailing\n"
         "private_ips = [\"192.168.1.10\"]\nvpc_cidrs = [\"192.168.0.0/16\"]\n"
         "region = \"eu-west-1\"\nname = \"z\"\n\n[server]\nlisten = [\"127.0.0.1:1053\"]\n",
         [](const Config& c) {
             REQUIRE(c.clusters.size() == 1);
             CHECK(c.clusters[0].region == "eu-west-1");
         }},
    };
    for (const auto& c : cases) {
        INFO(std::string(c.what));
        INFO(std::string(c.text));
        const auto result = horizon::config::load(c.text, "good.toml");
        if (const Config* config = loaded(result)) {
            c.check(*config);
        }
    }
}

TEST_CASE("semantic errors are all reported, in file order, each at its node") {
    const auto text = minimal("workers = 999\nlog_level = \"loud\"\n", "ttl = -5\nextra = 1\n");
    CHECK(errors_of(horizon::config::load(text, "x.toml")) ==
          "x.toml:3:11: error: 'workers' must be between 0 and 256, got 999\n"
          "x.toml:4:13: error: invalid log_level 'loud' (expected \"trace\", \"debug\", \"info\", "
          "\"warn\", \"error\", \"critical\" or \"off\")\n"
          "x.toml:12:7: error: 'ttl' must be between 0 and 2147483647, got -5\n"
          "x.toml:13:1: error: unknown key 'extra' in [[cluster]]");
}

TEST_CASE("a TOML syntax error is reported alone") {
    const auto text = minimal("workers = \n", "ttl = -5\n");
    const auto errors = errors_of(horizon::config::load(text, "s.toml"));
    CHECK(errors.find('\n') == std::string::npos);
    CHECK(errors.rfind("s.toml:3:11: error: ", 0) == 0);
}

TEST_CASE("control characters in values are escaped so a diagnostic stays on one line") {
    const auto text = minimal("log_level = \"in\\nfo\"\n", "");
    CHECK(errors_of(horizon::config::load(text, "c.toml")) ==
          "c.toml:3:13: error: invalid log_level 'in\\x0afo' (expected \"trace\", \"debug\", "
          "\"info\", \"warn\", \"error\", \"critical\" or \"off\")");
}

TEST_CASE("load_file") {
    SUBCASE("a missing file is one diagnostic at 1:1") {
        CHECK(errors_of(horizon::config::load_file("/nonexistent/horizon.toml")) ==
              "/nonexistent/horizon.toml:1:1: error: cannot read file: No such file or directory");
    }
    SUBCASE("a directory cannot be read") {
        const std::string dir = fs::temp_directory_path().string();
        CHECK(errors_of(horizon::config::load_file(dir)) ==
              dir + ":1:1: error: cannot read file: Is a directory");
    }
    SUBCASE("a readable file is loaded") {
        const fs::path path =
            fs::temp_directory_path() / ("horizon_test_config_" + std::to_string(::getpid()));
        std::ofstream(path) << horizon::config::default_text();
        const auto result = horizon::config::load_file(path.string());
        fs::remove(path);
        const Config* config = loaded(result);
        REQUIRE(config != nullptr);
        CHECK(config->clusters.size() == 1);
    }
}

TEST_CASE("admin_token_file: its trimmed content is the token, re-read on every load") {
    const fs::path path =
        fs::temp_directory_path() / ("horizon_test_token_" + std::to_string(::getpid()));
    const std::string text =
        minimal("admin_token = \"\"\nadmin_token_file = \"" + path.string() + "\"\n", "");
    std::ofstream(path) << "  \tfirst-token\r\n\n";
    const auto first = horizon::config::load(text, "t.toml");
    std::ofstream(path) << "second-token";
    const auto second = horizon::config::load(text, "t.toml");
    fs::remove(path);
    const Config* a = loaded(first);
    const Config* b = loaded(second);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(a->server.admin_token == "first-token");
    CHECK(a->server.admin_token_file == path.string());
    CHECK(b->server.admin_token == "second-token");
}

TEST_CASE("check_public_access_cidrs: the rules the loader and the control API share") {
    using horizon::config::check_public_access_cidrs;
    const std::vector<std::string_view> blocks = {"203.0.113.0/24", "10.0.0.1/8", "bogus",
                                                  "2001:db8::/32", "bad\x01"};
    const auto v4 = check_public_access_cidrs(blocks, false);
    CHECK(v4.valid == std::vector{cidr("203.0.113.0/24")});
    CHECK(v4.invalid == std::vector<size_t>{1, 2, 3, 4});
    CHECK_FALSE(v4.too_many);
    CHECK(v4.invalid_message == "The following CIDRs are invalid in publicAccessCidrs: 10.0.0.1/8, "
                                "bogus, 2001:db8::/32, bad\\x01");
    const auto v6 = check_public_access_cidrs(blocks, true);
    CHECK(v6.valid == std::vector{cidr("203.0.113.0/24"), cidr("2001:db8::/32")});
    CHECK(v6.invalid == std::vector<size_t>{1, 2, 4});

    std::vector<std::string> texts;
    for (int i = 0; i < 41; ++i) {
        texts.push_back("198.51." + std::to_string(i) + ".0/24");
    }
    std::vector<std::string_view> many(texts.begin(), texts.end());
    CHECK(check_public_access_cidrs(many, false).too_many);
    CHECK(check_public_access_cidrs(std::span(many).first(40), false).too_many == false);
    CHECK(horizon::config::too_many_public_access_cidrs_message() ==
          "publicAccessCidrs can contain at most 40 CIDR blocks");
    CHECK(check_public_access_cidrs({}, false).invalid_message.empty());
}

TEST_CASE("every tests/data/bad config gives exactly its .expected diagnostics") {
    const WorkingDirectory cwd(HORIZON_TEST_DATA);
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator("bad")) {
        const auto& p = entry.path();
        if (p.extension() == ".toml") {
            names.push_back(p.stem().string());
        } else if (p.extension() == ".expected") {
            CHECK_MESSAGE(fs::exists(fs::path(p).replace_extension(".toml")),
                          p.string() << " has no .toml");
        }
    }
    std::sort(names.begin(), names.end());
    CHECK(names.size() >= 15);

    for (const auto& name : names) {
        const std::string toml = "bad/" + name + ".toml";
        const std::string expected_path = "bad/" + name + ".expected";
        CAPTURE(toml);
        if (!fs::exists(expected_path)) {
            FAIL_CHECK(toml << " has no " << expected_path);
            continue;
        }
        std::string expected = read_text(expected_path);
        while (!expected.empty() && expected.back() == '\n') {
            expected.pop_back();
        }
        CHECK(errors_of(horizon::config::load_file(toml)) == expected);
    }
}

TEST_CASE("parse_duration") {
    using horizon::config::parse_duration;
    using std::chrono::milliseconds;
    CHECK(parse_duration("0ms") == milliseconds(0));
    CHECK(parse_duration("500ms") == milliseconds(500));
    CHECK(parse_duration("10s") == milliseconds(10000));
    CHECK(parse_duration("6m") == milliseconds(360000));
    CHECK(parse_duration("1h") == milliseconds(3600000));
    CHECK(parse_duration("007s") == milliseconds(7000));
    for (const char* bad : {"", "10", "s", "ms", "-1s", "+1s", "1.5s", "1 s", " 1s", "1s ", "1S",
                            "1d", "1m30s", "1sec", "99999999999999999999ms", "9999999999999999h"}) {
        INFO(std::string(bad));
        CHECK_FALSE(parse_duration(bad).has_value());
    }
}

TEST_CASE("names of enum values as written in the configuration") {
    CHECK(horizon::config::to_string(AccessMode::Public) == "public");
    CHECK(horizon::config::to_string(AccessMode::PublicPrivate) == "public+private");
    CHECK(horizon::config::to_string(AccessMode::Private) == "private");
    CHECK(horizon::config::to_string(PrivateOutside::PrivateIps) == "private-ips");
    CHECK(horizon::config::to_string(PrivateOutside::NxDomain) == "nxdomain");
    for (const auto m : {AccessMode::Public, AccessMode::PublicPrivate, AccessMode::Private}) {
        CHECK(horizon::config::parse_access_mode(horizon::config::to_string(m)) == m);
    }
    CHECK_FALSE(horizon::config::parse_access_mode("Public").has_value());
    CHECK_FALSE(horizon::config::parse_access_mode("").has_value());
}

TEST_CASE("Diagnostic::to_string is compiler-style") {
    const Diagnostic d{"a/b.toml", 3, 7, "something is wrong"};
    CHECK(d.to_string() == "a/b.toml:3:7: error: something is wrong");
}

TEST_CASE("[resolver]: defaults, upstreams, forward zones and allow_recursion") {
    using horizon::util::Endpoint;
    const auto ep = [](const char* text) { return Endpoint::parse(text).value(); };

    SUBCASE("absent: forwarding off; allow_recursion is loopback plus every vpc_cidrs") {
        const auto result = horizon::config::load(minimal("", ""), "t.toml");
        const Config* c = loaded(result);
        REQUIRE(c != nullptr);
        const auto& r = c->resolver;
        CHECK_FALSE(r.enabled());
        CHECK(r.allow_recursion ==
              std::vector{cidr("127.0.0.0/8"), cidr("::1/128"), cidr("192.168.0.0/16")});
        CHECK(r.timeout == std::chrono::milliseconds(1500));
        CHECK(r.cache_size == 10000);
        CHECK(r.min_ttl == 0);
        CHECK(r.max_ttl == 86400);
        CHECK(r.negative_ttl == 3600);

        const auto builtin = horizon::config::load(horizon::config::default_text(), "default.toml");
        const Config* d = loaded(builtin);
        REQUIRE(d != nullptr);
        CHECK_FALSE(d->resolver.enabled());
        CHECK(d->resolver.allow_recursion == std::vector{cidr("127.0.0.0/8"), cidr("::1/128"),
                                                         cidr("192.168.0.0/16"),
                                                         cidr("127.10.0.0/16")});
        CHECK(d->resolver.timeout == r.timeout);
        CHECK(d->resolver.cache_size == r.cache_size);
        CHECK(d->resolver.max_ttl == r.max_ttl);
        CHECK(d->resolver.negative_ttl == r.negative_ttl);
    }
    SUBCASE("every key") {
        const auto result = horizon::config::load(
            minimal("", "") + "\n[resolver]\n"
                              "upstreams = [\"127.0.0.1:5300\", \"::1\", \"[::1]:5301\", "
                              "\"192.0.2.53\"]\n"
                              "allow_recursion = [\"10.0.0.0/8\"]\n"
                              "timeout = \"250ms\"\n"
                              "cache_size = 0\n"
                              "min_ttl = 5\n"
                              "max_ttl = 5\n"
                              "negative_ttl = 0\n"
                              "[[resolver.forward]]\n"
                              "zone = \"Cluster.Local.\"\n"
                              "upstreams = [\"10.96.0.10\"]\n"
                              "[[resolver.forward]]\n"
                              "zone = \"_tcp.internal\"\n"
                              "upstreams = [\"127.0.0.1:5353\", \"127.0.0.2:5353\"]\n",
            "t.toml");
        const Config* c = loaded(result);
        REQUIRE(c != nullptr);
        const auto& r = c->resolver;
        CHECK(r.enabled());
        CHECK(r.upstreams == std::vector{ep("127.0.0.1:5300"), ep("[::1]:53"), ep("[::1]:5301"),
                                         ep("192.0.2.53:53")});
        CHECK(r.allow_recursion == std::vector{cidr("10.0.0.0/8")}); // no default added
        CHECK(r.timeout == std::chrono::milliseconds(250));
        CHECK(r.cache_size == 0);
        CHECK(r.min_ttl == 5);
        CHECK(r.max_ttl == 5);
        CHECK(r.negative_ttl == 0);
        REQUIRE(r.forward.size() == 2);
        CHECK(r.forward[0].zone == "Cluster.Local");
        CHECK(r.forward[0].upstreams == std::vector{ep("10.96.0.10:53")});
        CHECK(r.forward[1].zone == "_tcp.internal");
        CHECK(r.forward[1].upstreams.size() == 2);
    }
    SUBCASE("forward zones alone turn forwarding on; an empty allow_recursion allows no one") {
        const auto result = horizon::config::load(
            minimal("", "") + "\n[resolver]\nallow_recursion = []\n[[resolver.forward]]\n"
                              "zone = \"internal\"\nupstreams = [\"127.0.0.1:5300\"]\n",
            "t.toml");
        const Config* c = loaded(result);
        REQUIRE(c != nullptr);
        CHECK(c->resolver.enabled());
        CHECK(c->resolver.upstreams.empty());
        CHECK(c->resolver.allow_recursion.empty());
    }
}

TEST_CASE("system_upstreams: resolv.conf nameservers other than horizond itself") {
    using horizon::config::system_upstreams;
    using horizon::util::Endpoint;
    const auto ep = [](const char* text) { return Endpoint::parse(text).value(); };
    const std::string conf = "# generated\n"
                             "search example.com\n"
                             "nameserver 10.0.0.2\n"
                             "nameserver\t127.0.0.1 # ourselves when we listen on :53\n"
                             "nameserver ::1\n"
                             "nameserver fe80::1%eth0\n"
                             "; nameserver 10.9.9.9\n"
                             "nameserver 10.0.0.2\n"
                             "options ndots:5\n"
                             "nameserver 192.168.1.1";
    const std::vector<Endpoint> none;
    CHECK(system_upstreams(conf, none, {}) ==
          std::vector{ep("10.0.0.2:53"), ep("127.0.0.1:53"), ep("[::1]:53"), ep("192.168.1.1:53")});
    // A listener on another port is not one of them.
    CHECK(system_upstreams(conf, std::vector{ep("127.0.0.1:1053")}, {}).size() == 4);
    CHECK(system_upstreams(conf, std::vector{ep("127.0.0.1:53")}, {}) ==
          std::vector{ep("10.0.0.2:53"), ep("[::1]:53"), ep("192.168.1.1:53")});
    // A wildcard covers loopback and the host's own addresses, of its family only.
    CHECK(system_upstreams(conf, std::vector{ep("0.0.0.0:53")}, std::vector{ip("192.168.1.1")}) ==
          std::vector{ep("10.0.0.2:53"), ep("[::1]:53")});
    CHECK(system_upstreams(conf, std::vector{ep("[::]:53")}, {}) ==
          std::vector{ep("10.0.0.2:53"), ep("127.0.0.1:53"), ep("192.168.1.1:53")});
    CHECK(system_upstreams("", none, {}).empty());
}
