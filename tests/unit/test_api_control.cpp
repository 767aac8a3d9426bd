// The cluster security group in the control model: EC2's request forms and errors, the rules
// in the effective config, persistence, the file-versus-API precedence, and EC2's Query protocol.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "control/api_ec2.hpp"
#include "control/api_security_group.hpp"
#include "control/control_plane.hpp"

namespace {

using horizon::config::Config;
using horizon::control::ApiResult;
using horizon::control::ControlPlane;
using horizon::control::TimePoint;
using horizon::util::Cidr;
using nlohmann::json;

const TimePoint kT0{std::chrono::seconds(1'700'000'000)};

std::string config_text(const std::string& api = "[cluster.api]\n"
                                                 "security_group_ingress = [\"127.10.0.0/24\"]\n") {
    return "[server]\n"
           "listen = [\"127.0.0.1:1053\"]\n"
           "\n[[cluster]]\n"
           "name = \"aews\"\n"
           "region = \"ap-northeast-2\"\n"
           "vpc_cidrs = [\"192.168.0.0/16\", \"127.10.0.0/16\"]\n"
           "private_ips = [\"127.30.0.10\"]\n"
           "public_ips = [\"127.20.0.10\"]\n" +
           api;
}

Config load(const std::string& text) {
    auto r = horizon::config::load(text, "t.toml");
    if (const auto* d = std::get_if<std::vector<horizon::config::Diagnostic>>(&r)) {
        FAIL(d->front().to_string());
    }
    return std::get<Config>(std::move(r));
}

ControlPlane make(const std::string& text = config_text(), const json& saved = nullptr) {
    std::vector<std::string> log;
    return {load(text), saved, kT0, log};
}

std::vector<Cidr> ingress(const ControlPlane& cp) {
    return cp.effective().clusters.front().api->security_group_ingress;
}

Cidr cidr(const char* t) {
    return Cidr::parse(t).value();
}

std::string group_of(const ControlPlane& cp) {
    return cp.describe_cluster("aews")
        .body["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]
        .get<std::string>();
}

/// `aws ec2 authorize-security-group-ingress --protocol P --port N --cidr C`, as horizonctl sends.
json rule(const char* protocol, int port, const char* cidr_text) {
    json p = {{"IpProtocol", protocol}, {"IpRanges", json::array({{{"CidrIp", cidr_text}}})}};
    if (port >= 0) {
        p["FromPort"] = port;
        p["ToPort"] = port;
    }
    return {{"IpPermissions", json::array({p})}};
}

} // namespace

TEST_CASE("the file's security_group_ingress is the group's rules, with stable IDs") {
    const ControlPlane cp = make();
    const ApiResult r = cp.describe_security_group_rules("aews");
    REQUIRE(r.status == 200);
    const json& rules = r.body["SecurityGroupRules"];
    REQUIRE(rules.size() == 1);
    CHECK(rules[0]["IpProtocol"] == "-1");
    CHECK(rules[0]["CidrIpv4"] == "127.10.0.0/24");
    CHECK(rules[0]["GroupId"] == group_of(cp));
    CHECK(rules[0]["IsEgress"] == false);
    CHECK(rules[0]["SecurityGroupRuleId"].get<std::string>().starts_with("sgr-"));
    CHECK(rules[0]["SecurityGroupRuleId"].get<std::string>().size() == 4 + 17);
    CHECK(make().describe_security_group_rules("aews").body == r.body); // stable
    CHECK(ingress(cp) == std::vector{cidr("127.10.0.0/24")});
    CHECK(cp.cluster_of_security_group(group_of(cp)) == "aews");
    CHECK(cp.cluster_of_security_group("sg-0000").empty());
    CHECK(cp.describe_security_group_rules("nope").status == 404);
}

TEST_CASE("authorize and revoke change the effective ingress at once and bump the generation") {
    ControlPlane cp = make();
    const uint64_t gen = cp.generation();
    ApiResult r =
        cp.authorize_security_group_ingress("aews", rule("tcp", 443, "127.10.1.5/32"), kT0);
    REQUIRE(r.status == 200);
    CHECK(r.body["Return"] == true);
    REQUIRE(r.body["SecurityGroupRules"].size() == 1);
    CHECK(r.body["SecurityGroupRules"][0]["FromPort"] == 443);
    CHECK(r.body["SecurityGroupRules"][0]["CidrIpv4"] == "127.10.1.5/32");
    CHECK(cp.generation() == gen + 1);
    CHECK(ingress(cp) == std::vector{cidr("127.10.0.0/24"), cidr("127.10.1.5/32")});

    // A TCP rule for another port does not open the API port.
    REQUIRE(
        cp.authorize_security_group_ingress("aews", rule("tcp", 22, "127.10.2.5/32"), kT0).status ==
        200);
    CHECK(ingress(cp).size() == 2);
    // The flat form of the AWS CLI's --protocol/--port/--cidr, and a port range.
    REQUIRE(cp.authorize_security_group_ingress("aews",
                                                {{"IpProtocol", "tcp"},
                                                 {"FromPort", 400},
                                                 {"ToPort", 500},
                                                 {"CidrIp", "127.0.0.0/24"}},
                                                kT0)
                .status == 200);
    CHECK(ingress(cp).back() == cidr("127.0.0.0/24"));

    // Revoke by permission, then by rule ID.
    r = cp.revoke_security_group_ingress("aews", rule("tcp", 443, "127.10.1.5/32"), kT0);
    REQUIRE(r.status == 200);
    CHECK(r.body["RevokedSecurityGroupRules"][0]["CidrIpv4"] == "127.10.1.5/32");
    const std::string file_rule = cp.describe_security_group_rules("aews")
                                      .body["SecurityGroupRules"][0]["SecurityGroupRuleId"];
    r = cp.revoke_security_group_ingress("aews", {{"SecurityGroupRuleIds", {file_rule}}}, kT0);
    REQUIRE(r.status == 200);
    CHECK(ingress(cp) == std::vector{cidr("127.0.0.0/24")});
}

TEST_CASE("EC2's errors") {
    ControlPlane cp = make();
    const auto error_of = [](const ApiResult& r) {
        return r.error_type + ": " + r.body.value("message", "");
    };
    CHECK(error_of(
              cp.authorize_security_group_ingress("aews", rule("-1", -1, "127.10.0.0/24"), kT0)) ==
          "InvalidPermission.Duplicate: the specified rule \"peer: 127.10.0.0/24, ALL, ALLOW\" "
          "already exists");
    REQUIRE(
        cp.authorize_security_group_ingress("aews", rule("tcp", 443, "127.0.0.5/32"), kT0).status ==
        200);
    CHECK(error_of(
              cp.authorize_security_group_ingress("aews", rule("6", 443, "127.0.0.5/32"), kT0)) ==
          "InvalidPermission.Duplicate: the specified rule \"peer: 127.0.0.5/32, TCP, from port: "
          "443, to port: 443, ALLOW\" already exists");
    CHECK(
        error_of(cp.revoke_security_group_ingress("aews", rule("tcp", 443, "127.0.0.6/32"), kT0)) ==
        "InvalidPermission.NotFound: The specified rule does not exist in this security group.");
    CHECK(error_of(
              cp.authorize_security_group_ingress("aews", rule("gre", -1, "127.0.0.6/32"), kT0)) ==
          "InvalidParameterValue: Invalid value 'gre' for IP protocol. Unknown protocol.");
    CHECK(error_of(
              cp.authorize_security_group_ingress("aews", rule("tcp", 443, "10.0.0.1/8"), kT0)) ==
          "InvalidParameterValue: Value (10.0.0.1/8) for parameter cidrIp is invalid. This is not "
          "a valid CIDR block.");
    CHECK(
        error_of(cp.authorize_security_group_ingress("aews", rule("tcp", -1, "127.0.0.6/32"), kT0))
            .starts_with("InvalidParameterValue: Invalid value 'Must specify both from and to "
                         "ports with TCP/UDP.'"));
    json other_group = rule("tcp", 443, "127.0.0.6/32");
    other_group["GroupId"] = "sg-0123456789abcdef0";
    CHECK(error_of(cp.authorize_security_group_ingress("aews", other_group, kT0)) ==
          "InvalidGroup.NotFound: The security group 'sg-0123456789abcdef0' does not exist");
    other_group["GroupId"] = group_of(cp);
    CHECK(cp.authorize_security_group_ingress("aews", other_group, kT0).status == 200);
    CHECK(cp.authorize_security_group_ingress("aews", json::object(), kT0).error_type ==
          "MissingParameter");
    CHECK(error_of(cp.revoke_security_group_ingress(
              "aews", {{"SecurityGroupRuleIds", {"sgr-00000000000000000"}}}, kT0)) ==
          "InvalidSecurityGroupRuleId.NotFound: The security group rule ID "
          "'sgr-00000000000000000' does not exist");
    CHECK(
        cp.authorize_security_group_ingress("nope", rule("tcp", 443, "127.0.0.7/32"), kT0).status ==
        404);
    // A failed request changes nothing (EC2 requests are all or nothing).
    const auto before = ingress(cp);
    json two = rule("tcp", 443, "127.0.0.8/32");
    two["IpPermissions"].push_back(rule("tcp", 443, "127.0.0.5/32")["IpPermissions"][0]);
    CHECK(cp.authorize_security_group_ingress("aews", two, kT0).error_type ==
          "InvalidPermission.Duplicate");
    CHECK(ingress(cp) == before);
}

TEST_CASE("at most 60 rules per security group") {
    ControlPlane cp = make();
    for (int i = 0; i < 59; ++i) {
        const std::string c = "127.0.0." + std::to_string(i) + "/32";
        REQUIRE(
            cp.authorize_security_group_ingress("aews", rule("tcp", 443, c.c_str()), kT0).status ==
            200);
    }
    CHECK(cp.authorize_security_group_ingress("aews", rule("tcp", 443, "127.0.1.0/32"), kT0)
              .error_type == "RulesPerSecurityGroupLimitExceeded");
}

TEST_CASE("security group changes are saved, restored, and yield to an edited file") {
    ControlPlane cp = make();
    REQUIRE(
        cp.authorize_security_group_ingress("aews", rule("tcp", 443, "127.0.0.5/32"), kT0).status ==
        200);
    const json saved = cp.save();

    // Restart with the same file: the API's rules stay in force.
    std::vector<std::string> log;
    ControlPlane same(load(config_text()), saved, kT0, log);
    CHECK(ingress(same) == ingress(cp));
    CHECK(same.describe_security_group_rules("aews").body ==
          cp.describe_security_group_rules("aews").body);
    REQUIRE_FALSE(log.empty());
    CHECK(log.front().find("keeping the security group rules") != std::string::npos);

    // The file's security_group_ingress was edited: the file wins, and the log says so.
    log.clear();
    ControlPlane edited(load(config_text("[cluster.api]\nsecurity_group_ingress = "
                                         "[\"127.10.0.0/25\"]\n")),
                        saved, kT0, log);
    CHECK(ingress(edited) == std::vector{cidr("127.10.0.0/25")});
    REQUIRE_FALSE(log.empty());
    CHECK(log.front().find("the file wins, dropping 2 API rule(s)") != std::string::npos);

    // The same on reload.
    log.clear();
    cp.reload(load(config_text("[cluster.api]\nsecurity_group_ingress = [\"127.10.0.0/25\"]\n")),
              kT0, log);
    CHECK(ingress(cp) == std::vector{cidr("127.10.0.0/25")});

    // A malformed saved rule is reported with its place.
    json bad = saved;
    bad["clusters"]["aews"]["securityGroup"]["rules"][0]["protocol"] = "gre";
    CHECK_THROWS_WITH_AS(make(config_text(), bad),
                         "invalid saved state: clusters.aews.securityGroup.rules[0]: unknown "
                         "protocol \"gre\"",
                         std::runtime_error);
}

TEST_CASE("without [cluster.api] the group admits the VPC; the rules still work") {
    ControlPlane cp = make(config_text(""));
    const auto r = cp.describe_security_group_rules("aews");
    REQUIRE(r.body["SecurityGroupRules"].size() == 2); // one per vpc_cidrs entry
    CHECK(
        cp.authorize_security_group_ingress("aews", rule("tcp", 443, "127.0.0.5/32"), kT0).status ==
        200);
    CHECK_FALSE(cp.effective().clusters.front().api.has_value());
}

// ------------------------------------------------------------------------------------------------
// EC2's Query protocol, as `aws ec2 ... --endpoint-url` sends it

TEST_CASE("EC2 Query forms become EC2's JSON shapes") {
    const json j = horizon::control::parse_ec2_form(
        "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-1&"
        "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443&"
        "IpPermissions.1.IpRanges.1.CidrIp=127.10.1.5%2F32&"
        "IpPermissions.1.IpRanges.1.Description=the+bastion&SecurityGroupRuleId.1=sgr-1&"
        "Filter.1.Name=group-id&Filter.1.Value.1=sg-1");
    CHECK(j["Action"] == "AuthorizeSecurityGroupIngress");
    CHECK(j["IpPermissions"][0]["IpRanges"][0]["CidrIp"] == "127.10.1.5/32");
    CHECK(j["IpPermissions"][0]["IpRanges"][0]["Description"] == "the bastion");
    CHECK(j["IpPermissions"][0]["FromPort"] == "443");
    CHECK(j["SecurityGroupRuleIds"] == json::array({"sgr-1"}));
    CHECK(j["Filters"][0]["Value"][0] == "sg-1");
}

TEST_CASE("EC2 Query: authorize, describe, revoke and errors as EC2's XML") {
    ControlPlane cp = make();
    const std::string group = group_of(cp);
    const std::string perm =
        "&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&"
        "IpPermissions.1.ToPort=443&IpPermissions.1.IpRanges.1.CidrIp=127.0.0.5%2F32";
    auto r = horizon::control::ec2_query(
        cp, "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=" + group + perm, kT0,
        "req-1");
    CHECK(r.status == 200);
    CHECK(r.xml.find("<AuthorizeSecurityGroupIngressResponse xmlns=\"http://ec2.amazonaws.com/doc/"
                     "2016-11-15/\"><requestId>req-1</requestId><return>true</return>"
                     "<securityGroupRuleSet><item>") != std::string::npos);
    CHECK(r.xml.find("<cidrIpv4>127.0.0.5/32</cidrIpv4>") != std::string::npos);
    CHECK(r.xml.find("<fromPort>443</fromPort>") != std::string::npos);
    CHECK(ingress(cp).back() == cidr("127.0.0.5/32"));

    r = horizon::control::ec2_query(
        cp, "Action=AuthorizeSecurityGroupIngress&GroupId=" + group + perm, kT0, "req-2");
    CHECK(r.status == 400);
    CHECK(r.xml == "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>"
                   "InvalidPermission.Duplicate</Code><Message>the specified rule &quot;peer: "
                   "127.0.0.5/32, TCP, from port: 443, to port: 443, ALLOW&quot; already exists"
                   "</Message></Error></Errors><RequestID>req-2</RequestID></Response>");

    r = horizon::control::ec2_query(
        cp, "Action=DescribeSecurityGroupRules&Filter.1.Name=group-id&Filter.1.Value.1=" + group,
        kT0, "req-3");
    CHECK(r.status == 200);
    CHECK(r.xml.find("<cidrIpv4>127.10.0.0/24</cidrIpv4>") != std::string::npos);
    CHECK(r.xml.find("<cidrIpv4>127.0.0.5/32</cidrIpv4>") != std::string::npos);

    r = horizon::control::ec2_query(cp, "Action=RevokeSecurityGroupIngress&GroupId=" + group + perm,
                                    kT0, "req-4");
    CHECK(r.status == 200);
    CHECK(r.xml.find("<revokedSecurityGroupRuleSet><item>") != std::string::npos);
    CHECK(ingress(cp) == std::vector{cidr("127.10.0.0/24")});

    CHECK(
        horizon::control::ec2_query(cp, "Action=RunInstances", kT0, "x")
            .xml.find(
                "<Code>InvalidAction</Code><Message>The action RunInstances is not valid for this "
                "web service.</Message>") != std::string::npos);
    CHECK(horizon::control::ec2_query(cp, "Action=RevokeSecurityGroupIngress&GroupId=sg-00f" + perm,
                                      kT0, "x")
              .xml.find("<Code>InvalidGroup.NotFound</Code>") != std::string::npos);
}

TEST_CASE("EC2 filter values: '*' and '?' wildcards, '\\' escapes, case-sensitive") {
    using horizon::control::filter_match;
    CHECK(filter_match("*ControlPlaneSecurityGroup*",
                       "eksctl-myeks-cluster-ControlPlaneSecurityGroup-1AB2CD3EF4GH5"));
    CHECK_FALSE(filter_match("*ControlPlaneSecurityGroup*", "eks-cluster-sg-myeks-104368993"));
    CHECK_FALSE(filter_match("*controlplanesecuritygroup*",
                             "eksctl-myeks-cluster-ControlPlaneSecurityGroup-1AB2CD3EF4GH5"));
    CHECK(filter_match("eks-cluster-sg-?????"
                       "-*",
                       "eks-cluster-sg-myeks-104368993"));
    CHECK(filter_match("a\\*b", "a*b"));
    CHECK_FALSE(filter_match("a\\*b", "axb"));
    CHECK(filter_match("*", ""));
    CHECK_FALSE(filter_match("", "x"));
    CHECK(filter_match("**a**b**", "xxaxxbxx"));
    // Many stars against a long text ends quickly (no exponential backtracking).
    CHECK_FALSE(filter_match(std::string(100, '*') + "b", std::string(100'000, 'a')));
}

TEST_CASE("the additional security group (securityGroupIds): found by the seed's lookup, and its "
          "rules admit to the private side as the cluster group's do") {
    ControlPlane cp = make();
    const std::string extra = cp.describe_cluster("aews")
                                  .body["cluster"]["resourcesVpcConfig"]["securityGroupIds"][0]
                                  .get<std::string>();
    CHECK(cp.cluster_of_security_group(extra) == "aews");

    // aws ec2 describe-security-groups --filters Name=group-name,Values=*ControlPlaneSecurityGroup*
    auto r = horizon::control::ec2_query(cp,
                                         "Action=DescribeSecurityGroups&Version=2016-11-15&"
                                         "Filter.1.Name=group-name&Filter.1.Value.1=%2A"
                                         "ControlPlaneSecurityGroup%2A",
                                         kT0, "req-1");
    REQUIRE(r.status == 200);
    CHECK(r.xml.find("<groupId>" + extra + "</groupId>") != std::string::npos);
    CHECK(r.xml.find("<groupId>" + group_of(cp) + "</groupId>") == std::string::npos);
    CHECK(r.xml.find("<groupName>eksctl-aews-cluster-ControlPlaneSecurityGroup-") !=
          std::string::npos);

    // Both groups without filters; the cluster group's rules in its ipPermissions.
    r = horizon::control::ec2_query(cp, "Action=DescribeSecurityGroups", kT0, "req-2");
    CHECK(r.xml.find("<groupId>" + extra + "</groupId>") != std::string::npos);
    CHECK(r.xml.find("<groupId>" + group_of(cp) + "</groupId>") != std::string::npos);
    CHECK(r.xml.find("<cidrIp>127.10.0.0/24</cidrIp>") != std::string::npos);
    r = horizon::control::ec2_query(cp,
                                    "Action=DescribeSecurityGroups&Filter.1.Name=tag:aws:eks:"
                                    "cluster-name&Filter.1.Value.1=aews",
                                    kT0, "req-3");
    CHECK(r.xml.find("<groupId>" + group_of(cp) + "</groupId>") != std::string::npos);
    CHECK(r.xml.find("<groupId>" + extra + "</groupId>") == std::string::npos);
    CHECK(horizon::control::ec2_query(cp, "Action=DescribeSecurityGroups&GroupId.1=sg-0", kT0, "x")
              .xml.find("<Code>InvalidGroup.NotFound</Code>") != std::string::npos);
    CHECK(horizon::control::ec2_query(
              cp,
              "Action=DescribeSecurityGroups&Filter.1.Name=ip-permission.cidr&Filter.1.Value.1=x",
              kT0, "x")
              .xml.find("<Code>InvalidParameterValue</Code>") != std::string::npos);

    // authorize on the additional group: the private side admits it, the rule is its group's.
    json req = rule("-1", -1, "127.10.1.100/32");
    req["GroupId"] = extra;
    const auto a = cp.authorize_security_group_ingress("aews", req, kT0);
    REQUIRE(a.status == 200);
    CHECK(a.body["SecurityGroupRules"][0]["GroupId"] == extra);
    CHECK(ingress(cp).back() == cidr("127.10.1.100/32"));
    // The same permission in the other group is no duplicate; a second time in it is.
    json again = rule("-1", -1, "127.10.1.100/32");
    CHECK(cp.authorize_security_group_ingress("aews", again, kT0).status == 200);
    CHECK(cp.authorize_security_group_ingress("aews", req, kT0).error_type ==
          "InvalidPermission.Duplicate");
    // DescribeSecurityGroupRules filtered by group-id: only that group's rules.
    r = horizon::control::ec2_query(
        cp, "Action=DescribeSecurityGroupRules&Filter.1.Name=group-id&Filter.1.Value.1=" + extra,
        kT0, "req-4");
    CHECK(r.xml.find("<cidrIpv4>127.10.1.100/32</cidrIpv4>") != std::string::npos);
    CHECK(r.xml.find("<cidrIpv4>127.10.0.0/24</cidrIpv4>") == std::string::npos);

    // Saved and restored in its group.
    std::vector<std::string> log;
    const ControlPlane restored(load(config_text()), cp.save(), kT0, log);
    CHECK(restored.describe_security_group_rules("aews").body ==
          cp.describe_security_group_rules("aews").body);

    // Revoking from the additional group leaves the cluster group's copy.
    CHECK(cp.revoke_security_group_ingress("aews", req, kT0).status == 200);
    CHECK(ingress(cp).back() == cidr("127.10.1.100/32"));
    CHECK(cp.revoke_security_group_ingress("aews", req, kT0).error_type ==
          "InvalidPermission.NotFound");
}
