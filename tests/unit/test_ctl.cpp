// Tests for src/ctl: the text and table formatters against what the AWS CLI v2 printed for the
// same JSON (tests/data/awscli/, README there), the reshaping of horizond's raw answers, and the
// command line's usage errors (argparse's words, exit 252) from the command table.
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "ctl/cli.hpp"
#include "ctl/commands.hpp"
#include "ctl/failure.hpp"
#include "ctl/http_client.hpp"
#include "ctl/output.hpp"
#include "ctl/shapes.hpp"

namespace {

namespace ctl = horizon::ctl;
using ctl::Json;

std::string data(const std::string& name) {
    std::ifstream in(std::string(HORIZON_TEST_DATA) + "/awscli/" + name, std::ios::binary);
    REQUIRE_MESSAGE(in, "missing fixture " << name);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// One response as the AWS CLI printed it: <name>.json (--output json), <name>.text and
/// <name>.table (80 columns, its width when stdout is not a terminal).
struct Fixture {
    const char* name;
    const char* operation; ///< the table's title
};

constexpr Fixture kFixtures[] = {
    {"eks-list-clusters", "ListClusters"},
    {"eks-describe-cluster", "DescribeCluster"},
    {"eks-describe-cluster-private", "DescribeCluster"},
    {"eks-list-updates", "ListUpdates"},
    {"eks-describe-update", "DescribeUpdate"},
    {"eks-update-cluster-config", "UpdateClusterConfig"},
    {"ec2-describe-security-group-rules", "DescribeSecurityGroupRules"},
    {"ec2-authorize-security-group-ingress", "AuthorizeSecurityGroupIngress"},
};

/// `ours` without the members `theirs` (the AWS CLI's older model) does not know, recursively.
Json known_only(const Json& ours, const Json& theirs) {
    if (ours.is_object() && theirs.is_object()) {
        Json out = Json::object();
        for (const auto& [key, val] : ours.items()) {
            if (theirs.contains(key)) {
                out[key] = known_only(val, theirs.at(key));
            }
        }
        return out;
    }
    if (ours.is_array() && theirs.is_array() && ours.size() == theirs.size()) {
        Json out = Json::array();
        for (size_t i = 0; i < ours.size(); ++i) {
            out.push_back(known_only(ours[i], theirs[i]));
        }
        return out;
    }
    return ours;
}

/// parse_args on `words`; the Failure it returns, or none.
std::optional<ctl::Failure> parse(std::initializer_list<const char*> words, ctl::Args& a) {
    return ctl::parse_args(std::vector<std::string>(words.begin(), words.end()), a);
}

std::string usage_error(const std::string& message) {
    return std::string(ctl::kUsageHead) + "horizonctl: error: " + message;
}

} // namespace

TEST_CASE("output: text, table and json as the AWS CLI printed them") {
    for (const Fixture& f : kFixtures) {
        CAPTURE(f.name);
        const std::string json = data(std::string(f.name) + ".json");
        const Json response = Json::parse(json);
        CHECK(ctl::format_json(response) == json);
        CHECK(ctl::format_text(response) == data(std::string(f.name) + ".text"));
        CHECK(ctl::format_table(response, f.operation, 80) == data(std::string(f.name) + ".table"));
        CHECK(ctl::render(response, "text", f.operation, 80) == ctl::format_text(response));
    }
}

TEST_CASE("output: on a terminal 200 columns wide, a table is not turned vertical") {
    const Json response = Json::parse(data("eks-describe-update.json"));
    CHECK(ctl::format_table(response, "DescribeUpdate", 200) ==
          data("eks-describe-update.table-200"));
}

TEST_CASE("output: an empty response prints nothing, as the AWS CLI") {
    CHECK(ctl::format_json(Json::object()).empty());
    CHECK(ctl::format_table(Json::object(), "X", 80).empty());
    CHECK(ctl::format_text(Json::object()).empty());
}

TEST_CASE("shapes: horizond's raw answer reshaped is what the AWS CLI printed") {
    // The fixtures were printed with TZ=UTC; iso8601 prints local time.
    setenv("TZ", "UTC", 1);
    tzset();

    const struct {
        const char* name;
        const ctl::Shape* shape;
    } cases[] = {
        {"eks-describe-cluster", &ctl::kDescribeClusterResponse},
        {"eks-describe-update", &ctl::kUpdateResponse},
        {"eks-list-updates", &ctl::kListUpdatesResponse},
    };

    for (const auto& c : cases) {
        CAPTURE(c.name);
        const Json theirs = Json::parse(data(std::string(c.name) + ".json"));
        const Json ours =
            ctl::reshape(Json::parse(data(std::string(c.name) + ".api.json")), *c.shape);
        CHECK(known_only(ours, theirs).dump(4) == theirs.dump(4));
    }
    CHECK(ctl::iso8601(1764082121.123) == "2025-11-25T14:48:41.123000+00:00");
    CHECK(ctl::iso8601(1764082121) == "2025-11-25T14:48:41+00:00");
}

TEST_CASE("cli: a command and its options, anywhere on the line") {
    ctl::Args a;
    REQUIRE_FALSE(parse({"--output", "text", "describe-update", "--update-id=u-1", "--name", "aews",
                         "--endpoint-url", "http://127.0.0.1:1", "--region", "x", "--debug"},
                        a));
    REQUIRE(a.command != nullptr);
    CHECK(a.command->name == "describe-update");
    CHECK(a.output == "text");
    CHECK(a.endpoint_url == "http://127.0.0.1:1");
    CHECK(a.http.debug);
    CHECK(a.params == ctl::Params{{"--name", "aews"}, {"--update-id", "u-1"}});

    ctl::Args w;
    REQUIRE_FALSE(parse({"wait", "update-successful", "--name", "a", "--update-id", "u",
                         "--timeout", "2s", "--name", "b"},
                        w));
    CHECK(w.command->waiter == "update-successful");
    CHECK(w.params.at("--name") == "b"); // the last one wins, as argparse's
    CHECK(w.params.at("--timeout") == "2s");

    ctl::Args p;
    REQUIRE_FALSE(parse({"authorize-security-group-ingress", "--name", "aews", "--protocol", "-1",
                         "--cidr", "203.0.113.5/32"},
                        p));
    CHECK(p.params.at("--protocol") == "-1"); // "-1" is a value, not an option

    for (auto words : {std::initializer_list<const char*>{"--help"},
                       {"help"},
                       {"-h", "bogus"},
                       {"describe-cluster", "help"}}) {
        ctl::Args h;
        CHECK_FALSE(parse(words, h));
        CHECK(h.help);
    }
    ctl::Args v;
    CHECK_FALSE(parse({"--version"}, v));
    CHECK(v.version);
}

TEST_CASE("cli: usage errors in argparse's words, exit 252") {
    const std::string choices = "list-clusters, describe-cluster, update-cluster-config, "
                                "describe-update, list-updates, wait, explain, "
                                "authorize-security-group-ingress, revoke-security-group-ingress, "
                                "describe-security-group-rules, connections";

    const struct {
        std::vector<std::string> words;
        std::string message;
    } cases[] = {
        {{}, usage_error("the following arguments are required: command")},
        {{"describe-cluster"}, usage_error("the following arguments are required: --name")},
        {{"describe-update"},
         usage_error("the following arguments are required: --name, --update-id")},
        {{"describe-cluster", "--name"}, usage_error("argument --name: expected one argument")},
        {{"describe-cluster", "--name", "--output", "json"},
         usage_error("argument --name: expected one argument")},
        {{"describe-cluster", "--name", "a", "--bogus"},
         std::string(ctl::kUsageHead) + "Unknown options: --bogus"},
        {{"describe-cluster", "--name", "a", "--bogus=1", "extra", "--update-id", "u"},
         std::string(ctl::kUsageHead) + "Unknown options: --bogus=1, extra, --update-id, u"},
        {{"frobnicate"},
         usage_error("argument command: Invalid choice 'frobnicate', valid choices are: " +
                     choices)},
        {{"wait"}, usage_error("the following arguments are required: waiter (update-successful)")},
        {{"wait", "cluster-active", "--name", "a"},
         usage_error("argument waiter: Invalid choice 'cluster-active', valid choices are: "
                     "update-successful")},
        {{"--output", "xml", "list-clusters"},
         usage_error("argument --output: Invalid choice, valid choices are: json, text, table")},
        {{"--cli-read-timeout", "soon", "list-clusters"},
         usage_error("argument --cli-read-timeout: invalid number of seconds: 'soon'")},
    };

    for (const auto& c : cases) {
        CAPTURE(c.message);
        ctl::Args a;
        const auto f = ctl::parse_args(c.words, a);
        REQUIRE(f);
        CHECK(f->code == ctl::kExitUsage);
        CHECK(f->message == c.message);
    }
}

TEST_CASE("commands: the requests, and the usage errors of their values") {
    const auto request = [](std::initializer_list<const char*> words) {
        ctl::Args a;
        REQUIRE_FALSE(parse(words, a));
        return a.command->request(a.params);
    };
    const auto path = [&](std::initializer_list<const char*> words) {
        const auto r = request(words);
        REQUIRE(std::holds_alternative<ctl::Request>(r));
        return std::get<ctl::Request>(r).method + " " + std::get<ctl::Request>(r).path;
    };
    CHECK(path({"list-clusters"}) == "GET /clusters");
    CHECK(path({"describe-cluster", "--name", "a b/c"}) == "GET /clusters/a%20b%2Fc");
    CHECK(path({"explain", "--name", "aews", "--source", "::1"}) ==
          "GET /clusters/aews/explain?source=%3A%3A1");
    CHECK(path({"wait", "update-successful", "--name", "aews", "--update-id", "u-1"}) ==
          "GET /clusters/aews/updates/u-1");
    CHECK(path({"describe-security-group-rules", "--group-id", "sg-1", "--name", "aews"}) ==
          "GET /security-groups/sg-1");
    CHECK(path({"revoke-security-group-ingress", "--name", "aews", "--security-group-rule-ids",
                "sgr-1,sgr-2"}) == "POST /clusters/aews/security-group/revoke-ingress");
    const auto revoke = request({"revoke-security-group-ingress", "--name", "aews",
                                 "--security-group-rule-ids", "sgr-1,,sgr-2"});
    REQUIRE(std::holds_alternative<ctl::Request>(revoke));
    CHECK(std::get<ctl::Request>(revoke).body == R"({"SecurityGroupRuleIds":["sgr-1","sgr-2"]})");

    const auto body = request({"update-cluster-config", "--name", "aews", "--client-request-token",
                               "t-1", "--resources-vpc-config",
                               "endpointPublicAccess=true,publicAccessCidrs=203.0.113.5/32"});
    REQUIRE(std::holds_alternative<ctl::Request>(body));
    CHECK(std::get<ctl::Request>(body).body ==
          R"({"resourcesVpcConfig":{"endpointPublicAccess":true,"publicAccessCidrs":)"
          R"(["203.0.113.5/32"]},"clientRequestToken":"t-1"})");

    const auto authorize =
        request({"authorize-security-group-ingress", "--group-id", "sg-1", "--protocol", "tcp",
                 "--port", "443", "--cidr", "2001:db8::/32", "--description", "lab"});
    REQUIRE(std::holds_alternative<ctl::Request>(authorize));
    CHECK(std::get<ctl::Request>(authorize).body ==
          R"({"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,)"
          R"("Ipv6Ranges":[{"CidrIpv6":"2001:db8::/32","Description":"lab"}]}]})");

    const struct {
        std::initializer_list<const char*> words;
        std::string message;
    } errors[] = {
        {{"update-cluster-config", "--name", "aews", "--resources-vpc-config",
          "endpointPublicAccess=true,,"},
         "Error parsing parameter '--resources-vpc-config': Expected: '=', received: 'EOF' for "
         "input:\nendpointPublicAccess=true,,\n                           ^"},
        {{"update-cluster-config", "--name", "aews", "--resources-vpc-config",
          "endpointPublicAccess=yes"},
         "Parameter validation failed:\nInvalid type for parameter "
         "resourcesVpcConfig.endpointPublicAccess, value: yes, type: <class 'str'>, valid types: "
         "<class 'bool'>"},
        {{"describe-security-group-rules"},
         usage_error("one of the arguments --group-id --name is required")},
        {{"authorize-security-group-ingress", "--name", "aews"},
         usage_error("the following arguments are required: --protocol, --cidr (or "
                     "--security-group-rule-ids)")},
        {{"authorize-security-group-ingress", "--name", "aews", "--protocol", "tcp"},
         usage_error("the following arguments are required: --cidr")},
        {{"authorize-security-group-ingress", "--name", "aews", "--protocol", "tcp", "--cidr",
          "0.0.0.0/0", "--port", "https"},
         usage_error("argument --port: invalid port or range 'https' (e.g. 443, 1-1024)")},
    };

    for (const auto& e : errors) {
        CAPTURE(e.message);
        const auto r = request(e.words);
        REQUIRE(std::holds_alternative<ctl::Failure>(r));
        CHECK(std::get<ctl::Failure>(r).code == ctl::kExitUsage);
        CHECK(std::get<ctl::Failure>(r).message == e.message);
    }
}

TEST_CASE("cli: --help lists every command of the table") {
    const std::string text = ctl::usage();
    CHECK(text.starts_with("usage: horizonctl [options] <command> [parameters]\n"));
    for (const ctl::Command& c : ctl::commands()) {
        CHECK(text.find("\n  " + std::string(c.name)) != std::string::npos);
    }
    CHECK(text.find("wait update-successful") != std::string::npos);
}
