// Control model tests: the EKS API answers and their exact errors, the update lifecycle with
// injected time, saving and restoring, the file-versus-API precedence, and the state file.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "control/control_plane.hpp"
#include "control/state_file.hpp"
#include "util/file.hpp"

namespace {

using horizon::config::AccessMode;
using horizon::config::Config;
using horizon::control::ApiResult;
using horizon::control::ControlPlane;
using horizon::control::TimePoint;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// 2023-11-14T22:13:20Z.
const TimePoint kT0{std::chrono::seconds(1'700'000'000)};

const std::string kEndpoint =
    "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com";

/// Two clusters: "aews" (public+private, updates take 2s; its access lines replaceable) and
/// "fast" (public, dual-stack, updates at once).
std::string config_text(const std::string& aews_access = "access_mode = \"public+private\"\n"
                                                         "public_access_cidrs = [\"0.0.0.0/0\"]\n",
                        bool with_fast = true) {
    std::string text = "[server]\n"
                       "listen = [\"127.0.0.1:1053\"]\n"
                       "identity = \"lab\"\n"
                       "\n[[cluster]]\n"
                       "name = \"aews\"\n"
                       "region = \"ap-northeast-2\"\n"
                       "endpoint = \"" +
                       kEndpoint +
                       "\"\n"
                       "vpc_cidrs = [\"192.168.0.0/16\"]\n"
                       "private_ips = [\"192.168.1.10\", \"192.168.2.10\"]\n"
                       "public_ips = [\"203.0.113.10\", \"203.0.113.20\"]\n"
                       "update_duration = \"2s\"\n"
                       "kubernetes_version = \"1.30\"\n" +
                       aews_access;
    if (with_fast) {
        text += "\n[[cluster]]\n"
                "name = \"fast\"\n"
                "region = \"us-east-1\"\n"
                "vpc_cidrs = [\"10.0.0.0/16\"]\n"
                "private_ips = [\"10.0.1.10\"]\n"
                "public_ips = [\"198.51.100.10\", \"2001:db8::10\"]\n"
                "access_mode = \"public\"\n"
                "public_access_cidrs = [\"0.0.0.0/0\", \"::/0\"]\n";
    }
    return text;
}

Config load(const std::string& text) {
    auto result = horizon::config::load(text, "test.toml");
    if (const auto* diags = std::get_if<std::vector<horizon::config::Diagnostic>>(&result)) {
        FAIL(diags->front().to_string());
    }
    return std::get<Config>(std::move(result));
}

/// A control plane with its own log.
struct Plane {
    std::vector<std::string> log;
    ControlPlane cp;

    explicit Plane(const std::string& text = config_text(), const json& saved = nullptr,
                   TimePoint now = kT0)
        : cp(load(text), saved, now, log) {}
};

json vpc(json fields) {
    return {{"resourcesVpcConfig", std::move(fields)}};
}

void check_error(const ApiResult& r, int status, const std::string& type,
                 const std::string& message) {
    CHECK(r.status == status);
    CHECK(r.error_type == type);
    CHECK(r.body == json{{"__type", type}, {"message", message}});
}

void check_invalid(const ApiResult& r, const std::string& message) {
    check_error(r, 400, "InvalidParameterException", message);
}

/// A copy: `c` is often the temporary that effective() returns.
horizon::config::ClusterConfig cluster_of(const Config& c, const std::string& name) {
    const auto it = std::find_if(c.clusters.begin(), c.clusters.end(),
                                 [&](const auto& k) { return k.name == name; });
    REQUIRE(it != c.clusters.end());
    return *it;
}

std::vector<std::string> cidr_texts(const horizon::config::ClusterConfig& c) {
    std::vector<std::string> out;
    for (const auto& cidr : c.public_access_cidrs) {
        out.push_back(cidr.to_string());
    }
    return out;
}

json vpc_config_of(const ControlPlane& cp, const std::string& name) {
    const auto r = cp.describe_cluster(name);
    REQUIRE(r.status == 200);
    return r.body["cluster"]["resourcesVpcConfig"];
}

std::string status_of(const ControlPlane& cp, const std::string& name) {
    return cp.describe_cluster(name).body["cluster"]["status"].get<std::string>();
}

bool log_has(const std::vector<std::string>& log, const std::string& text) {
    return std::any_of(log.begin(), log.end(), [&](const std::string& line) {
        return line.find(text) != std::string::npos;
    });
}

std::string joined(const std::vector<std::string>& log) {
    std::string out;
    for (const auto& line : log) {
        out += line + "\n";
    }
    return out;
}

/// A fresh directory under the temporary directory, removed on scope exit.
class TempDir {
public:
    TempDir()
        : path_(fs::temp_directory_path() / ("horizon_test_control_" + std::to_string(::getpid()) +
                                             "_" + std::to_string(counter_++))) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }

    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&&) = delete;
    TempDir& operator=(TempDir&&) = delete;

    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }

    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    static inline int counter_ = 0;
    fs::path path_;
};

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

} // namespace

TEST_CASE("list-clusters and describe-cluster: EKS shapes from the file") {
    const Plane p;
    CHECK(p.cp.list_clusters().body == json{{"clusters", {"aews", "fast"}}});

    const auto r = p.cp.describe_cluster("aews");
    REQUIRE(r.status == 200);
    CHECK(r.error_type.empty());
    const json& c = r.body["cluster"];
    CHECK(c["name"] == "aews");
    CHECK(c["arn"] == "arn:aws:eks:ap-northeast-2:485132557192:cluster/aews");
    CHECK(c["createdAt"] == 1'700'000'000.0);
    CHECK(c["version"] == "1.30");
    CHECK(c["endpoint"] == "https://" + kEndpoint);
    // The seed lab's `jq -r .cluster.endpoint | cut -d/ -f3`.
    const std::string endpoint = c["endpoint"];
    CHECK(endpoint.substr(endpoint.find("//") + 2) == kEndpoint);
    CHECK(c["status"] == "ACTIVE");
    CHECK(std::regex_match(c["roleArn"].get<std::string>(),
                           std::regex(R"(arn:aws:iam::485132557192:role/eksctl-aews-cluster-)"
                                      R"(ServiceRole-[0-9a-f]{12})")));
    CHECK(c["identity"]["oidc"]["issuer"] ==
          "https://oidc.eks.ap-northeast-2.amazonaws.com/id/4EF9B1C9A5F24DCBD324557BF7056DC0");
    CHECK(c["kubernetesNetworkConfig"] ==
          json{{"serviceIpv4Cidr", "10.100.0.0/16"}, {"ipFamily", "ipv4"}});
    CHECK(c["platformVersion"].get<std::string>().rfind("eks.", 0) == 0);
    CHECK(c["tags"] == json::object());
    CHECK(c["accessConfig"] == json{{"authenticationMode", "API_AND_CONFIG_MAP"}});
    CHECK(c["logging"]["clusterLogging"][0]["enabled"] == false);
    // base64 of "-----BEGIN CERTIFICATE-----".
    CHECK(c["certificateAuthority"]["data"].get<std::string>().rfind(
              "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t", 0) == 0);

    const json& v = c["resourcesVpcConfig"];
    CHECK(v["endpointPublicAccess"] == true);
    CHECK(v["endpointPrivateAccess"] == true);
    CHECK(v["publicAccessCidrs"] == json{"0.0.0.0/0"});
    CHECK(v["vpcId"] == "vpc-537587559950b74db");
    REQUIRE(v["subnetIds"].size() == 2); // one per ENI
    CHECK(v["subnetIds"][0] == "subnet-2cca855771aa7a034");
    const std::regex id(R"((subnet|sg|vpc)-[0-9a-f]{17})");
    for (const auto& s : v["subnetIds"]) {
        CHECK(std::regex_match(s.get<std::string>(), id));
    }
    REQUIRE(v["securityGroupIds"].size() == 1);
    CHECK(std::regex_match(v["securityGroupIds"][0].get<std::string>(), id));
    CHECK(std::regex_match(v["clusterSecurityGroupId"].get<std::string>(), id));
    CHECK(v["clusterSecurityGroupId"] != v["securityGroupIds"][0]);

    SUBCASE("a derived endpoint, a dual-stack cluster, public mode") {
        const json f = p.cp.describe_cluster("fast").body["cluster"];
        const std::string derived = horizon::config::derive_endpoint("fast", "us-east-1");
        CHECK(f["endpoint"] == "https://" + derived);
        CHECK(f["identity"]["oidc"]["issuer"] ==
              "https://oidc.eks.us-east-1.amazonaws.com/id/" + derived.substr(0, 32));
        CHECK(f["kubernetesNetworkConfig"]["ipFamily"] == "ipv6");
        CHECK(std::regex_match(f["kubernetesNetworkConfig"]["serviceIpv6Cidr"].get<std::string>(),
                               std::regex(R"(fd[0-9a-f]{2}:[0-9a-f]{4}:[0-9a-f]{4}::/108)")));
        CHECK(f["version"] == "1.31"); // the default
        CHECK(f["resourcesVpcConfig"]["endpointPublicAccess"] == true);
        CHECK(f["resourcesVpcConfig"]["endpointPrivateAccess"] == false);
        CHECK(f["resourcesVpcConfig"]["publicAccessCidrs"] == json{"0.0.0.0/0", "::/0"});
        CHECK(f["resourcesVpcConfig"]["vpcId"] != v["vpcId"]);
        CHECK(f["arn"].get<std::string>().rfind("arn:aws:eks:us-east-1:", 0) == 0);
    }
}

TEST_CASE("generated IDs are stable across instances and differ between clusters") {
    const Plane a;
    const Plane b;
    CHECK(a.cp.describe_cluster("aews").body == b.cp.describe_cluster("aews").body);
    CHECK(a.cp.describe_cluster("fast").body == b.cp.describe_cluster("fast").body);
    // Another first-seen time changes createdAt and nothing else.
    const Plane later(config_text(), nullptr, kT0 + 1h);
    json x = a.cp.describe_cluster("aews").body;
    json y = later.cp.describe_cluster("aews").body;
    CHECK(y["cluster"]["createdAt"] == 1'700'003'600.0);
    y["cluster"]["createdAt"] = x["cluster"]["createdAt"];
    CHECK(x == y);
}

TEST_CASE("China and GovCloud regions use their partition") {
    const std::string text = "[[cluster]]\nname = \"cn\"\nregion = \"cn-north-1\"\n"
                             "vpc_cidrs = [\"10.0.0.0/8\"]\nprivate_ips = [\"10.0.0.1\"]\n"
                             "public_ips = [\"198.51.100.1\"]\n"
                             "[[cluster]]\nname = \"gov\"\nregion = \"us-gov-west-1\"\n"
                             "vpc_cidrs = [\"10.0.0.0/8\"]\nprivate_ips = [\"10.0.0.1\"]\n"
                             "public_ips = [\"198.51.100.1\"]\n";
    const Plane p(text);
    const json cn = p.cp.describe_cluster("cn").body["cluster"];
    CHECK(cn["arn"].get<std::string>().rfind("arn:aws-cn:eks:cn-north-1:", 0) == 0);
    CHECK(cn["identity"]["oidc"]["issuer"].get<std::string>().rfind(
              "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/", 0) == 0);
    const json gov = p.cp.describe_cluster("gov").body["cluster"];
    CHECK(gov["arn"].get<std::string>().rfind("arn:aws-us-gov:eks:us-gov-west-1:", 0) == 0);
}

TEST_CASE("unknown cluster and unknown update: 404 ResourceNotFoundException") {
    Plane p;
    const std::string missing = "No cluster found for name: nope.";
    check_error(p.cp.describe_cluster("nope"), 404, "ResourceNotFoundException", missing);
    check_error(p.cp.list_updates("nope"), 404, "ResourceNotFoundException", missing);
    check_error(p.cp.describe_update("nope", "x"), 404, "ResourceNotFoundException", missing);
    check_error(p.cp.update_cluster_config("nope", vpc({{"endpointPublicAccess", true}}), kT0), 404,
                "ResourceNotFoundException", missing);
    check_error(p.cp.describe_update("aews", "0000"), 404, "ResourceNotFoundException",
                "No update found for ID: 0000.");
    // Names are exact, as on EKS.
    check_error(p.cp.describe_cluster("AEWS"), 404, "ResourceNotFoundException",
                "No cluster found for name: AEWS.");
}

TEST_CASE("update-cluster-config: every rejection with its exact status and text") {
    Plane p;
    const auto invalid = [&](const json& request, const std::string& message,
                             const std::string& cluster = "aews") {
        CAPTURE(request.dump());
        check_invalid(p.cp.update_cluster_config(cluster, request, kT0), message);
    };
    const std::string forty_one = [] {
        json list = json::array();
        for (int i = 0; i < 41; ++i) {
            list.push_back("198.51." + std::to_string(i) + ".0/24");
        }
        return list.dump();
    }();

    SUBCASE("both accesses false, given or after merging with the current values") {
        invalid(vpc({{"endpointPublicAccess", false}, {"endpointPrivateAccess", false}}),
                "Both private and public endpoint access cannot be false");
        // fast is public-only: turning public off leaves nothing.
        invalid(vpc({{"endpointPublicAccess", false}}),
                "Both private and public endpoint access cannot be false", "fast");
    }
    SUBCASE("no-op: EKS's text with the values filled in, odd spacing included") {
        const std::string aews = "Cluster is already at the desired configuration with "
                                 "endpointPrivateAccess: true , endpointPublicAccess: true, and "
                                 "Public Endpoint Restrictions: [0.0.0.0/0]";
        invalid(vpc({{"endpointPublicAccess", true},
                     {"endpointPrivateAccess", true},
                     {"publicAccessCidrs", {"0.0.0.0/0"}}}),
                aews);
        invalid(vpc(json::object()), aews);
        invalid(vpc({{"endpointPrivateAccess", true}}), aews);
        // CIDRs compare as sets; the message shows the desired list as requested.
        invalid(vpc({{"publicAccessCidrs", {"::/0", "0.0.0.0/0"}}}),
                "Cluster is already at the desired configuration with endpointPrivateAccess: "
                "false , endpointPublicAccess: true, and Public Endpoint Restrictions: "
                "[::/0, 0.0.0.0/0]",
                "fast");
    }
    SUBCASE("invalid CIDRs: host bits, garbage, IPv6 on an IPv4 cluster; all named at once") {
        invalid(vpc({{"publicAccessCidrs",
                      {"203.0.113.0/24", "10.0.0.1/8", "bogus", "2001:db8::/32", "203.0.113.5"}}}),
                "The following CIDRs are invalid in publicAccessCidrs: 10.0.0.1/8, bogus, "
                "2001:db8::/32, 203.0.113.5");
        invalid(vpc({{"publicAccessCidrs", {"2001:db8::1/32"}}}),
                "The following CIDRs are invalid in publicAccessCidrs: 2001:db8::1/32", "fast");
    }
    SUBCASE("more than 40 CIDRs") {
        invalid(vpc({{"publicAccessCidrs", json::parse(forty_one)}}),
                "publicAccessCidrs can contain at most 40 CIDR blocks");
    }
    SUBCASE("subnets and security groups cannot change") {
        const json current = vpc_config_of(p.cp, "aews");
        const std::string subnets = current["subnetIds"][0].get<std::string>() + ", " +
                                    current["subnetIds"][1].get<std::string>();
        invalid(vpc({{"endpointPublicAccess", false}, {"subnetIds", {"subnet-0123456789abcdef0"}}}),
                "subnetIds cannot be changed in this lab (horizon models endpoint access only); "
                "the cluster has [" +
                    subnets + "]");
        invalid(vpc({{"securityGroupIds", json::array()}}),
                "securityGroupIds cannot be changed in this lab (horizon models endpoint access "
                "only); the cluster has [" +
                    current["securityGroupIds"][0].get<std::string>() + "]");
    }
    SUBCASE("wrong shapes and types") {
        invalid(json::array(), "The request body must be a JSON object");
        invalid(json::object(),
                "resourcesVpcConfig is required (horizon can only update the endpoint access)");
        invalid({{"clientRequestToken", "t"}},
                "resourcesVpcConfig is required (horizon can only update the endpoint access)");
        invalid({{"resourcesVpcConfig", "endpointPublicAccess=true"}},
                "resourcesVpcConfig must be an object");
        invalid(vpc({{"endpointPublicAccess", "true"}}),
                "endpointPublicAccess must be true or false");
        invalid(vpc({{"endpointPrivateAccess", 1}}), "endpointPrivateAccess must be true or false");
        invalid(vpc({{"publicAccessCidrs", "0.0.0.0/0"}}),
                "publicAccessCidrs must be an array of strings");
        invalid(vpc({{"publicAccessCidrs", {"0.0.0.0/0", 5}}}),
                "publicAccessCidrs must be an array of strings");
        invalid(vpc({{"subnetIds", "subnet-1"}}), "subnetIds must be an array of strings");
        invalid(vpc({{"vpcId", "vpc-1"}}),
                "Unknown field vpcId in resourcesVpcConfig (expected endpointPublicAccess, "
                "endpointPrivateAccess, publicAccessCidrs, subnetIds or securityGroupIds)");
        invalid(
            {{"resourcesVpcConfig", {{"endpointPublicAccess", true}}}, {"logging", json::object()}},
            "horizon can only update resourcesVpcConfig (the endpoint access); logging is not "
            "supported");
        invalid(
            {{"resourcesVpcConfig", {{"endpointPublicAccess", false}}}, {"clientRequestToken", 7}},
            "clientRequestToken must be a string");
    }
    SUBCASE("an update in progress: 409 ResourceInUseException") {
        const auto first =
            p.cp.update_cluster_config("aews", vpc({{"endpointPublicAccess", false}}), kT0);
        REQUIRE(first.status == 200);
        check_error(p.cp.update_cluster_config(
                        "aews", vpc({{"publicAccessCidrs", {"203.0.113.5/32"}}}), kT0 + 1s),
                    409, "ResourceInUseException",
                    "Cannot EndpointAccessUpdate because cluster aews currently has an update in "
                    "progress");
        // Other clusters are not affected.
        CHECK(p.cp.update_cluster_config("fast", vpc({{"endpointPrivateAccess", true}}), kT0)
                  .status == 200);
        CHECK(p.cp.list_updates("aews").body["updateIds"].size() == 1);
        return;
    }
    // A rejected request leaves no trace.
    CHECK(p.cp.list_updates("aews").body == json{{"updateIds", json::array()}});
    CHECK(p.cp.list_updates("fast").body == json{{"updateIds", json::array()}});
    CHECK(status_of(p.cp, "aews") == "ACTIVE");
    CHECK(p.cp.next_deadline() == std::nullopt);
    CHECK(p.cp.generation() == 1);
}

TEST_CASE("update lifecycle: InProgress for update_duration, then Successful and served") {
    Plane p;
    const json before = vpc_config_of(p.cp, "aews");
    const uint64_t generation = p.cp.generation();
    const TimePoint created = kT0 + 123ms + 456us; // kept to the millisecond

    const auto r = p.cp.update_cluster_config("aews",
                                              {{"resourcesVpcConfig",
                                                {{"endpointPublicAccess", true},
                                                 {"publicAccessCidrs", {"203.0.113.5/32"}},
                                                 {"endpointPrivateAccess", false}}},
                                               {"clientRequestToken", "token-1"}},
                                              created);
    REQUIRE(r.status == 200);
    CHECK(r.error_type.empty());
    const json& u = r.body["update"];
    const std::string id = u["id"];
    CHECK(std::regex_match(
        id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
    CHECK(u["status"] == "InProgress");
    CHECK(u["type"] == "EndpointAccessUpdate");
    // In EKS's order, whatever the request's order; values are strings.
    CHECK(u["params"] == json::parse(R"([{"type":"EndpointPublicAccess","value":"true"},
                                        {"type":"EndpointPrivateAccess","value":"false"},
                                        {"type":"PublicAccessCidrs","value":"[\"203.0.113.5/32\"]"}])"));
    CHECK(u["createdAt"] == 1'700'000'000.123);
    CHECK(u["errors"] == json::array());
    CHECK(p.cp.describe_update("aews", id).body == r.body);
    CHECK(p.cp.list_updates("aews").body == json{{"updateIds", {id}}});

    // During: UPDATING, the old configuration described and served.
    CHECK(status_of(p.cp, "aews") == "UPDATING");
    CHECK(vpc_config_of(p.cp, "aews") == before);
    CHECK(cluster_of(p.cp.effective(), "aews").access_mode == AccessMode::PublicPrivate);
    CHECK(p.cp.next_deadline() == kT0 + 2123ms);
    CHECK(p.cp.updates_by_status() ==
          std::map<std::string, uint64_t>{
              {"Cancelled", 0}, {"Failed", 0}, {"InProgress", 1}, {"Successful", 0}});
    CHECK_FALSE(p.cp.tick(kT0 + 2122ms));
    CHECK(p.cp.describe_update("aews", id).body["update"]["status"] == "InProgress");
    CHECK(p.cp.generation() == generation);

    // After: Successful, ACTIVE, the new configuration everywhere, one more generation.
    CHECK(p.cp.tick(kT0 + 2123ms));
    CHECK(p.cp.describe_update("aews", id).body["update"]["status"] == "Successful");
    CHECK(status_of(p.cp, "aews") == "ACTIVE");
    json after = before;
    after["endpointPrivateAccess"] = false;
    after["publicAccessCidrs"] = {"203.0.113.5/32"};
    CHECK(vpc_config_of(p.cp, "aews") == after);
    const Config effective = p.cp.effective();
    CHECK(cluster_of(effective, "aews").access_mode == AccessMode::Public);
    CHECK(cidr_texts(cluster_of(effective, "aews")) == std::vector<std::string>{"203.0.113.5/32"});
    CHECK(cluster_of(effective, "aews").private_ips.size() == 2); // the rest is the file's
    CHECK(effective.server.identity == "lab");
    CHECK(cluster_of(effective, "fast").access_mode == AccessMode::Public);
    CHECK(p.cp.generation() == generation + 1);
    CHECK(p.cp.next_deadline() == std::nullopt);
    CHECK_FALSE(p.cp.tick(kT0 + 1h)); // nothing more to do
    CHECK(p.cp.generation() == generation + 1);
    CHECK(p.cp.updates_by_status().at("Successful") == 1);
    CHECK(p.cp.updates_by_status().at("InProgress") == 0);

    // The same clientRequestToken again (a retry) returns that update, not a new one.
    const auto retry =
        p.cp.update_cluster_config("aews",
                                   {{"resourcesVpcConfig", {{"endpointPublicAccess", true}}},
                                    {"clientRequestToken", "token-1"}},
                                   kT0 + 1h);
    CHECK(retry.status == 200);
    CHECK(retry.body["update"]["id"] == id);
    CHECK(retry.body["update"]["status"] == "Successful");
    CHECK(p.cp.list_updates("aews").body["updateIds"].size() == 1);
}

TEST_CASE("a retry with the same clientRequestToken while in progress is not a conflict") {
    Plane p;
    const json request = {{"resourcesVpcConfig", {{"endpointPublicAccess", false}}},
                          {"clientRequestToken", "abc"}};
    const auto first = p.cp.update_cluster_config("aews", request, kT0);
    const auto again = p.cp.update_cluster_config("aews", request, kT0 + 1s);
    CHECK(again.status == 200);
    CHECK(again.body == first.body);
}

TEST_CASE("omitted fields keep their current values") {
    Plane p;
    // Only the CIDRs: both accesses stay (public+private).
    auto r =
        p.cp.update_cluster_config("aews", vpc({{"publicAccessCidrs", {"203.0.113.5/32"}}}), kT0);
    REQUIRE(r.status == 200);
    CHECK(r.body["update"]["params"] ==
          json::parse(R"([{"type":"PublicAccessCidrs","value":"[\"203.0.113.5/32\"]"}])"));
    REQUIRE(p.cp.tick(kT0 + 2s));
    auto c = cluster_of(p.cp.effective(), "aews");
    CHECK(c.access_mode == AccessMode::PublicPrivate);
    CHECK(cidr_texts(c) == std::vector<std::string>{"203.0.113.5/32"});

    // Only private access off: public stays on, the CIDRs stay.
    r = p.cp.update_cluster_config("aews", vpc({{"endpointPrivateAccess", false}}), kT0 + 10s);
    REQUIRE(r.status == 200);
    CHECK(r.body["update"]["params"] ==
          json::parse(R"([{"type":"EndpointPrivateAccess","value":"false"}])"));
    REQUIRE(p.cp.tick(kT0 + 12s));
    c = cluster_of(p.cp.effective(), "aews");
    CHECK(c.access_mode == AccessMode::Public);
    CHECK(cidr_texts(c) == std::vector<std::string>{"203.0.113.5/32"});

    // Private only: the CIDRs are kept while public access is off (as EKS does).
    r = p.cp.update_cluster_config(
        "aews", vpc({{"endpointPublicAccess", false}, {"endpointPrivateAccess", true}}), kT0 + 20s);
    REQUIRE(r.status == 200);
    REQUIRE(p.cp.tick(kT0 + 22s));
    const json v = vpc_config_of(p.cp, "aews");
    CHECK(v["endpointPublicAccess"] == false);
    CHECK(v["endpointPrivateAccess"] == true);
    CHECK(v["publicAccessCidrs"] == json{"203.0.113.5/32"});
    CHECK(p.cp.list_updates("aews").body["updateIds"].size() == 3);
}

TEST_CASE("update_duration 0s: completes at the next tick, even with the same time") {
    Plane p;
    const auto r = p.cp.update_cluster_config(
        "fast", vpc({{"endpointPrivateAccess", true}, {"publicAccessCidrs", {"2001:db8::/32"}}}),
        kT0);
    REQUIRE(r.status == 200);
    CHECK(r.body["update"]["status"] == "InProgress");
    CHECK(status_of(p.cp, "fast") == "UPDATING");
    CHECK(p.cp.next_deadline() == kT0);
    CHECK(p.cp.tick(kT0));
    CHECK(status_of(p.cp, "fast") == "ACTIVE");
    const auto& c = cluster_of(p.cp.effective(), "fast");
    CHECK(c.access_mode == AccessMode::PublicPrivate);
    CHECK(cidr_texts(c) == std::vector<std::string>{"2001:db8::/32"});
}

TEST_CASE("list-updates: oldest first; old finished updates are forgotten past 100") {
    Plane p;
    std::vector<std::string> ids;
    TimePoint now = kT0;
    for (int i = 0; i < 102; ++i) {
        const std::string cidr = "198.51.100." + std::to_string(i) + "/32";
        const auto r =
            p.cp.update_cluster_config("fast", vpc({{"publicAccessCidrs", {cidr}}}), now);
        REQUIRE(r.status == 200);
        ids.push_back(r.body["update"]["id"]);
        REQUIRE(p.cp.tick(now));
        now += 1s;
    }
    const json listed = p.cp.list_updates("fast").body["updateIds"];
    REQUIRE(listed.size() == 100);
    CHECK(listed.front() == ids[2]);
    CHECK(listed.back() == ids.back());
    check_error(p.cp.describe_update("fast", ids[0]), 404, "ResourceNotFoundException",
                "No update found for ID: " + ids[0] + ".");
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
}

TEST_CASE("save and restore: a round trip, with an update in progress that completes later") {
    std::string saved_text;
    std::string id;
    uint64_t generation = 0;
    {
        Plane p;
        REQUIRE(p.cp.update_cluster_config("fast", vpc({{"endpointPrivateAccess", true}}), kT0)
                    .status == 200);
        REQUIRE(p.cp.tick(kT0));
        const auto r =
            p.cp.update_cluster_config("aews", vpc({{"endpointPublicAccess", false}}), kT0 + 10s);
        REQUIRE(r.status == 200);
        id = r.body["update"]["id"];
        const json saved = p.cp.save();
        CHECK(saved["format"] == 1);
        generation = p.cp.generation();
        CHECK(saved["generation"] == generation);
        saved_text = saved.dump(); // through text, as on disk
    }
    const json saved = json::parse(saved_text);

    SUBCASE("restored before the update is due: it stays InProgress until then") {
        Plane p(config_text(), saved, kT0 + 11s);
        CHECK(log_has(p.log, "cluster aews: resuming update " + id));
        CHECK(p.cp.generation() == generation + 1);
        CHECK(status_of(p.cp, "aews") == "UPDATING");
        CHECK(p.cp.describe_update("aews", id).body["update"]["status"] == "InProgress");
        CHECK(p.cp.describe_update("aews", id).body["update"]["createdAt"] == 1'700'000'010.0);
        CHECK(cluster_of(p.cp.effective(), "fast").access_mode == AccessMode::PublicPrivate);
        CHECK(p.cp.next_deadline() == kT0 + 12s);
        CHECK_FALSE(p.cp.tick(kT0 + 11s));
        CHECK(p.cp.tick(kT0 + 12s));
        CHECK(cluster_of(p.cp.effective(), "aews").access_mode == AccessMode::Private);
        CHECK(status_of(p.cp, "aews") == "ACTIVE");
        // createdAt is the first-seen time, not the restart's.
        CHECK(p.cp.describe_cluster("aews").body["cluster"]["createdAt"] == 1'700'000'000.0);
    }
    SUBCASE("restored after it was due: it completes at the first tick") {
        Plane p(config_text(), saved, kT0 + 1h);
        CHECK(p.cp.describe_update("aews", id).body["update"]["status"] == "InProgress");
        CHECK(p.cp.tick(kT0 + 1h));
        CHECK(p.cp.describe_update("aews", id).body["update"]["status"] == "Successful");
        CHECK(cluster_of(p.cp.effective(), "aews").access_mode == AccessMode::Private);
    }
    SUBCASE("save() of a restored state is the same but for the generation") {
        const Plane p(config_text(), saved, kT0 + 11s);
        json again = p.cp.save();
        CHECK(again["generation"] == generation + 1);
        again["generation"] = generation;
        CHECK(again == saved);
    }
}

TEST_CASE("precedence on construction: the API change wins unless the file was edited") {
    json saved;
    {
        Plane p;
        REQUIRE(p.cp.update_cluster_config(
                        "aews",
                        vpc({{"endpointPrivateAccess", false},
                             {"publicAccessCidrs", {"203.0.113.5/32", "198.51.100.0/24"}}}),
                        kT0)
                    .status == 200);
        REQUIRE(p.cp.tick(kT0 + 2s));
        saved = p.cp.save();
    }
    const std::string change = "(access_mode public, public_access_cidrs [203.0.113.5/32, "
                               "198.51.100.0/24])";

    SUBCASE("file unchanged: the API change is kept, and the log says so") {
        const Plane p(config_text(), saved, kT0 + 1h);
        INFO(joined(p.log));
        CHECK(log_has(p.log, "cluster aews: keeping the API change of 2023-11-14T22:13:22Z " +
                                 change +
                                 " over the file's values (access_mode public+private, "
                                 "public_access_cidrs [0.0.0.0/0])"));
        const auto& c = cluster_of(p.cp.effective(), "aews");
        CHECK(c.access_mode == AccessMode::Public);
        CHECK(cidr_texts(c) == std::vector<std::string>{"203.0.113.5/32", "198.51.100.0/24"});
        CHECK(p.cp.save()["clusters"]["aews"].contains("apiChange"));
    }
    SUBCASE("CIDRs reordered in the file: not an edit") {
        const Plane p(config_text("access_mode = \"public+private\"\n"
                                  "public_access_cidrs = [\"0.0.0.0/0\", \"0.0.0.0/0\"]\n"),
                      saved, kT0 + 1h);
        CHECK(log_has(p.log, "cluster aews: keeping the API change"));
        CHECK(cluster_of(p.cp.effective(), "aews").access_mode == AccessMode::Public);
    }
    SUBCASE("file edited since: the file wins, the API change is dropped, the log says why") {
        const Plane p(config_text("access_mode = \"private\"\n"), saved, kT0 + 1h);
        INFO(joined(p.log));
        CHECK(log_has(p.log, "cluster aews: the file's values changed since the API change of "
                             "2023-11-14T22:13:22Z (from access_mode public+private, "
                             "public_access_cidrs [0.0.0.0/0] to access_mode private, "
                             "public_access_cidrs [0.0.0.0/0]); the file wins, dropping the API "
                             "change " +
                                 change));
        const auto& c = cluster_of(p.cp.effective(), "aews");
        CHECK(c.access_mode == AccessMode::Private);
        CHECK(cidr_texts(c) == std::vector<std::string>{"0.0.0.0/0"});
        CHECK_FALSE(p.cp.save()["clusters"]["aews"].contains("apiChange"));
        CHECK(vpc_config_of(p.cp, "aews")["endpointPublicAccess"] == false);
    }
    SUBCASE("cluster removed from the file: its state is kept dormant, and returns") {
        const Plane q(
            "[[cluster]]\nname = \"fast\"\nregion = \"us-east-1\"\nvpc_cidrs = [\"10.0.0.0/16\"]\n"
            "private_ips = [\"10.0.1.10\"]\npublic_ips = [\"198.51.100.10\", \"2001:db8::10\"]\n"
            "access_mode = \"public\"\n",
            saved, kT0 + 1h);
        INFO(joined(q.log));
        CHECK(log_has(q.log, "cluster aews: not in the configuration file; keeping its state "
                             "dormant (1 update(s), the API change of 2023-11-14T22:13:22Z " +
                                 change + "): it returns when a file names the cluster again"));
        CHECK(q.cp.list_clusters().body == json{{"clusters", {"fast"}}});
        CHECK(q.cp.dormant() == std::vector<std::string>{"aews"});
        const json again = q.cp.save();
        CHECK_FALSE(again["clusters"].contains("aews"));
        CHECK(again["dormant"]["aews"]["dormantSinceMs"] == 1'700'003'600'000);
        CHECK(again["dormant"]["aews"]["apiChange"] == saved["clusters"]["aews"]["apiChange"]);
        // The file names it again: the API change is in force as before.
        const Plane back(config_text(), again, kT0 + 2h);
        INFO(joined(back.log));
        CHECK(log_has(back.log, "cluster aews: back in the configuration file; its state, "
                                "dormant since 2023-11-14T23:13:20Z, returns"));
        CHECK(back.cp.dormant().empty());
        CHECK(cluster_of(back.cp.effective(), "aews").access_mode == AccessMode::Public);
    }
}

TEST_CASE("precedence on reload, both ways; a reload bumps the generation") {
    Plane p;
    REQUIRE(
        p.cp.update_cluster_config("aews", vpc({{"endpointPrivateAccess", false}}), kT0).status ==
        200);
    REQUIRE(p.cp.tick(kT0 + 2s));
    const uint64_t generation = p.cp.generation();

    SUBCASE("file unchanged: the API change stays") {
        std::vector<std::string> log;
        p.cp.reload(load(config_text()), kT0 + 1h, log);
        CHECK(log_has(log, "cluster aews: keeping the API change of 2023-11-14T22:13:22Z "
                           "(access_mode public, public_access_cidrs [0.0.0.0/0])"));
        CHECK(cluster_of(p.cp.effective(), "aews").access_mode == AccessMode::Public);
        CHECK(p.cp.generation() == generation + 1);
    }
    SUBCASE("file edited: the file wins") {
        std::vector<std::string> log;
        p.cp.reload(load(config_text("access_mode = \"public+private\"\n"
                                     "public_access_cidrs = [\"192.0.2.0/24\"]\n")),
                    kT0 + 1h, log);
        CHECK(log_has(log, "the file wins, dropping the API change (access_mode public, "
                           "public_access_cidrs [0.0.0.0/0])"));
        const auto& c = cluster_of(p.cp.effective(), "aews");
        CHECK(c.access_mode == AccessMode::PublicPrivate);
        CHECK(cidr_texts(c) == std::vector<std::string>{"192.0.2.0/24"});
        // A later reload of the same file has nothing to decide.
        log.clear();
        p.cp.reload(load(config_text("access_mode = \"public+private\"\n"
                                     "public_access_cidrs = [\"192.0.2.0/24\"]\n")),
                    kT0 + 2h, log);
        CHECK(log.empty());
    }
    SUBCASE("an update in progress is cancelled by an edit, kept otherwise") {
        const auto r =
            p.cp.update_cluster_config("aews", vpc({{"endpointPrivateAccess", true}}), kT0 + 1h);
        REQUIRE(r.status == 200);
        const std::string id = r.body["update"]["id"];
        std::vector<std::string> log;
        p.cp.reload(load(config_text()), kT0 + 1h, log);
        CHECK(p.cp.describe_update("aews", id).body["update"]["status"] == "InProgress");
        p.cp.reload(load(config_text("access_mode = \"private\"\n")), kT0 + 1h, log);
        INFO(joined(log));
        const json u = p.cp.describe_update("aews", id).body["update"];
        CHECK(u["status"] == "Cancelled");
        CHECK(u["errors"][0]["errorCode"] == "ConfigurationConflict");
        CHECK(u["errors"][0]["resourceIds"] == json{"aews"});
        CHECK(log_has(log, "cluster aews: cancelling update " + id));
        CHECK(status_of(p.cp, "aews") == "ACTIVE");
        CHECK(p.cp.next_deadline() == std::nullopt);
        CHECK_FALSE(p.cp.tick(kT0 + 2h));
        CHECK(cluster_of(p.cp.effective(), "aews").access_mode == AccessMode::Private);
        CHECK(p.cp.updates_by_status().at("Cancelled") == 1);
    }
    SUBCASE("clusters added and removed") {
        std::vector<std::string> log;
        p.cp.reload(load(config_text("", false).replace(
                        config_text("", false).find("name = \"aews\""), 13, "name = \"new\"")),
                    kT0 + 1h, log);
        INFO(joined(log));
        CHECK(log_has(log, "cluster aews: not in the configuration file; keeping its state "
                           "dormant (2 update(s)"));
        CHECK(log_has(log, "cluster fast: not in the configuration file; keeping its state "
                           "dormant (0 update(s))"));
        CHECK(p.cp.dormant() == std::vector<std::string>{"aews", "fast"});
        CHECK(p.cp.take_dropped().is_null());
        CHECK(p.cp.list_clusters().body == json{{"clusters", {"new"}}});
        CHECK(p.cp.describe_cluster("new").body["cluster"]["createdAt"] == 1'700'003'600.0);
        check_error(p.cp.describe_cluster("aews"), 404, "ResourceNotFoundException",
                    "No cluster found for name: aews.");
    }
}

TEST_CASE("dormant clusters: back on reload with their API change; beyond the limit, dropped") {
    Plane p;
    REQUIRE(
        p.cp.update_cluster_config("aews", vpc({{"endpointPrivateAccess", false}}), kT0).status ==
        200);
    REQUIRE(p.cp.tick(kT0 + 2s));
    const uint64_t revision = p.cp.revision();
    std::vector<std::string> log;
    std::string only_fast = config_text();
    only_fast.erase(0, only_fast.find("[[cluster]]\nname = \"fast\""));
    p.cp.reload(load(only_fast), kT0 + 1h, log);
    CHECK(p.cp.revision() > revision);
    CHECK(p.cp.dormant() == std::vector<std::string>{"aews"});
    check_error(p.cp.describe_cluster("aews"), 404, "ResourceNotFoundException",
                "No cluster found for name: aews.");
    log.clear();
    p.cp.reload(load(config_text()), kT0 + 2h, log);
    INFO(joined(log));
    CHECK(log_has(log, "cluster aews: back in the configuration file"));
    CHECK(log_has(log, "cluster aews: keeping the API change of 2023-11-14T22:13:22Z"));
    CHECK(cluster_of(p.cp.effective(), "aews").access_mode == AccessMode::Public);
    CHECK(p.cp.dormant().empty());

    // kMaxDormant + 1 clusters leave the file: the longest dormant one is handed back.
    json saved = p.cp.save();
    for (size_t i = 0; i < ControlPlane::kMaxDormant; ++i) {
        json c = saved["clusters"]["fast"];
        c["dormantSinceMs"] = 1'700'000'000'000 + i;
        saved["dormant"]["old-" + std::to_string(i)] = c;
    }
    log.clear();
    ControlPlane q(load(only_fast), saved, kT0 + 3h, log);
    CHECK(q.dormant().size() == ControlPlane::kMaxDormant);
    const json dropped = q.take_dropped();
    REQUIRE(dropped.is_object());
    CHECK(dropped["format"] == 1);
    CHECK(dropped["clusters"].size() == 1);
    CHECK(dropped["clusters"].contains("old-0"));
    CHECK(log_has(log, "cluster old-0: dropping its state, dormant since"));
    CHECK(q.take_dropped().is_null());
}

TEST_CASE("a malformed or unknown saved state is rejected with a clear message") {
    const auto rejects = [](const json& saved, const std::string& message) {
        CAPTURE(saved.dump());
        std::vector<std::string> log;
        CHECK_THROWS_WITH_AS(ControlPlane(load(config_text()), saved, kT0, log), message.c_str(),
                             std::runtime_error);
    };
    json good;
    {
        Plane p;
        REQUIRE(p.cp.update_cluster_config("aews", vpc({{"endpointPublicAccess", false}}), kT0)
                    .status == 200);
        good = p.cp.save();
    }
    rejects(json::array(), "invalid saved state: top level: expected an object");
    rejects(json{{"generation", 1}}, "invalid saved state: top level: missing \"format\"");
    rejects(json{{"format", 2}, {"generation", 1}, {"clusters", json::object()}},
            "unsupported saved state format 2 (this version reads format 1)");
    rejects(json{{"format", "1"}}, "unsupported saved state format \"1\" (this version reads "
                                   "format 1)");
    json bad = good;
    bad["generation"] = -1;
    rejects(bad, "invalid saved state: top level.generation: expected a non-negative integer");
    bad = good;
    bad["clusters"]["aews"]["updates"][0]["status"] = "Bogus";
    rejects(bad, "invalid saved state: clusters.aews.updates[0].status: unknown status \"Bogus\"");
    bad = good;
    bad["clusters"]["aews"]["updates"][0]["target"]["publicAccessCidrs"] = {"10.0.0.1/8"};
    rejects(bad, "invalid saved state: clusters.aews.updates[0].target.publicAccessCidrs: invalid "
                 "CIDR \"10.0.0.1/8\"");
    bad = good;
    bad["clusters"]["aews"]["updates"].push_back(bad["clusters"]["aews"]["updates"][0]);
    rejects(bad, "invalid saved state: clusters.aews.updates: more than one update in progress");
    bad = good;
    bad["clusters"]["aews"].erase("createdAtMs");
    rejects(bad, "invalid saved state: clusters.aews: missing \"createdAtMs\"");
    bad = good;
    bad["clusters"]["aews"]["createdAtMs"] = 1e300;
    rejects(bad, "invalid saved state: clusters.aews.createdAtMs: expected a non-negative integer");
    bad = good;
    bad["clusters"]["aews"]["createdAtMs"] = 999'999'999'999'999'999ULL;
    rejects(bad, "invalid saved state: clusters.aews.createdAtMs: time out of range");
    bad = good;
    bad["clusters"]["aews"]["apiChange"] = {{"value", "public"}};
    rejects(bad, "invalid saved state: clusters.aews.apiChange.value: expected an object");

    // null means no state; a good one loads.
    std::vector<std::string> log;
    CHECK_NOTHROW(ControlPlane(load(config_text()), nullptr, kT0, log));
    CHECK_NOTHROW(ControlPlane(load(config_text()), good, kT0, log));
}

TEST_CASE("write_file_atomically: writes, replaces, fails cleanly") {
    using horizon::util::write_file_atomically;
    const TempDir dir;
    const fs::path path = dir.path() / "state.json";
    std::string error;
    REQUIRE(write_file_atomically(path.string(), "first", error));
    CHECK(read_text(path) == "first");
    REQUIRE(write_file_atomically(path.string(), std::string(100000, 'x'), error));
    CHECK(read_text(path) == std::string(100000, 'x'));
    REQUIRE(write_file_atomically(path.string(), "", error));
    CHECK(read_text(path).empty());
    const std::string tmp_suffix = ".tmp." + std::to_string(::getpid());
    CHECK_FALSE(fs::exists(path.string() + tmp_suffix));
    CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);

    const std::string missing = (dir.path() / "missing" / "state.json").string();
    CHECK_FALSE(write_file_atomically(missing, "x", error));
    CHECK(error == "cannot create " + missing + tmp_suffix + ": No such file or directory");
    CHECK_FALSE(fs::exists(missing));

    // Renaming onto a directory fails after the write: the temporary file is removed.
    const fs::path occupied = dir.path() / "occupied";
    fs::create_directories(occupied / "child");
    CHECK_FALSE(write_file_atomically(occupied.string(), "x", error));
    CHECK(
        error.rfind("cannot rename " + occupied.string() + tmp_suffix + " to " + occupied.string(),
                    0) == 0);
    CHECK_FALSE(fs::exists(occupied.string() + tmp_suffix));
}

TEST_CASE("state file: read back what was saved; missing is no state; garbage is an error") {
    using horizon::control::read_state_file;
    using horizon::control::state_file_path;
    const TempDir dir;
    const std::string path = state_file_path(dir.path().string());
    CHECK(path == (dir.path() / "state.json").string());
    json out = 1;
    std::string error;
    REQUIRE(read_state_file(path, out, error));
    CHECK(out.is_null());

    Plane p;
    REQUIRE(
        p.cp.update_cluster_config("aews", vpc({{"endpointPublicAccess", false}}), kT0).status ==
        200);
    REQUIRE(horizon::util::write_file_atomically(path, p.cp.save().dump(2), error));
    REQUIRE(read_state_file(path, out, error));
    CHECK(out == p.cp.save());
    const Plane restored(config_text(), out, kT0 + 1s);
    CHECK(status_of(restored.cp, "aews") == "UPDATING");

    std::ofstream(path) << "{\"format\": 1,";
    CHECK_FALSE(read_state_file(path, out, error));
    CHECK(error.rfind(path + ": not valid JSON: ", 0) == 0);
    CHECK(out.is_null());
    CHECK_FALSE(read_state_file(dir.path().string(), out, error));
    CHECK(error == "cannot read " + dir.path().string() + ": Is a directory");
}

TEST_CASE("state directory: the default and its checks") {
    using horizon::control::default_state_dir;
    using horizon::control::prepare_state_dir;
    CHECK(default_state_dir(true, "/x", "/home/u") == "/var/lib/horizon");
    CHECK(default_state_dir(false, "/x/state", "/home/u") == "/x/state/horizon");
    CHECK(default_state_dir(false, "relative", "/home/u") == "/home/u/.local/state/horizon");
    CHECK(default_state_dir(false, "", "/home/u") == "/home/u/.local/state/horizon");
    CHECK(default_state_dir(false, nullptr, "/home/u") == "/home/u/.local/state/horizon");
    CHECK(default_state_dir(false, nullptr, nullptr).empty());
    CHECK(horizon::control::resolve_state_dir("/configured") == "/configured");

    const TempDir dir;
    std::string error;
    CHECK(prepare_state_dir(dir.path().string(), false, error));
    const std::string missing = (dir.path() / "a" / "b").string();
    CHECK_FALSE(prepare_state_dir(missing, false, error));
    CHECK(error == "state directory " + missing + ": No such file or directory");
    CHECK(prepare_state_dir(missing, true, error));
    CHECK(fs::is_directory(missing));
    const std::string file = (dir.path() / "file").string();
    std::ofstream(file) << "x";
    CHECK_FALSE(prepare_state_dir(file, false, error));
    CHECK(error == "state directory " + file + ": not a directory");
    CHECK_FALSE(prepare_state_dir("", true, error));
}
