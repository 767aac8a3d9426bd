// The EKS and EC2 models' shapes that horizonctl prints, and botocore's reshaping of a response.
#include "ctl/shapes.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace horizon::ctl {

constexpr std::array<Member, 1> kOidcMembers{{{"issuer"}}};
constexpr Shape kOidc = shape_of(kOidcMembers);
constexpr std::array<Member, 1> kIdentityMembers{{{"oidc", &kOidc}}};
constexpr Shape kIdentity = shape_of(kIdentityMembers);
constexpr std::array<Member, 7> kVpcConfigMembers{{{"subnetIds"},
                                                   {"securityGroupIds"},
                                                   {"clusterSecurityGroupId"},
                                                   {"vpcId"},
                                                   {"endpointPublicAccess"},
                                                   {"endpointPrivateAccess"},
                                                   {"publicAccessCidrs"}}};
constexpr Shape kVpcConfig = shape_of(kVpcConfigMembers);
constexpr std::array<Member, 4> kNetworkMembers{
    {{"serviceIpv4Cidr"}, {"serviceIpv6Cidr"}, {"ipFamily"}, {"elasticLoadBalancing"}}};
constexpr Shape kNetwork = shape_of(kNetworkMembers);
constexpr std::array<Member, 2> kLogSetupMembers{{{"types"}, {"enabled"}}};
constexpr Shape kLogSetup = shape_of(kLogSetupMembers);
constexpr std::array<Member, 1> kLoggingMembers{{{"clusterLogging", &kLogSetup}}};
constexpr Shape kLogging = shape_of(kLoggingMembers);
constexpr std::array<Member, 1> kCertificateMembers{{{"data"}}};
constexpr Shape kCertificate = shape_of(kCertificateMembers);
constexpr std::array<Member, 1> kProviderMembers{{{"keyArn"}}};
constexpr Shape kProvider = shape_of(kProviderMembers);
constexpr std::array<Member, 2> kEncryptionMembers{{{"resources"}, {"provider", &kProvider}}};
constexpr Shape kEncryption = shape_of(kEncryptionMembers);
constexpr std::array<Member, 5> kConnectorMembers{{{"activationId"},
                                                   {"activationCode"},
                                                   {"activationExpiry", nullptr, true},
                                                   {"provider"},
                                                   {"roleArn"}}};
constexpr Shape kConnector = shape_of(kConnectorMembers);
constexpr std::array<Member, 3> kIssueMembers{{{"code"}, {"message"}, {"resourceIds"}}};
constexpr Shape kIssue = shape_of(kIssueMembers);
constexpr std::array<Member, 1> kHealthMembers{{{"issues", &kIssue}}};
constexpr Shape kHealth = shape_of(kHealthMembers);
constexpr std::array<Member, 1> kPlacementMembers{{{"groupName"}}};
constexpr Shape kPlacement = shape_of(kPlacementMembers);
constexpr std::array<Member, 3> kOutpostMembers{
    {{"outpostArns"}, {"controlPlaneInstanceType"}, {"controlPlanePlacement", &kPlacement}}};
constexpr Shape kOutpost = shape_of(kOutpostMembers);
constexpr std::array<Member, 27> kClusterMembers{{
    {"name"},
    {"arn"},
    {"createdAt", nullptr, true},
    {"version"},
    {"endpoint"},
    {"roleArn"},
    {"resourcesVpcConfig", &kVpcConfig},
    {"kubernetesNetworkConfig", &kNetwork},
    {"logging", &kLogging},
    {"identity", &kIdentity},
    {"status"},
    {"certificateAuthority", &kCertificate},
    {"clientRequestToken"},
    {"platformVersion"},
    {"tags"},
    {"encryptionConfig", &kEncryption},
    {"connectorConfig", &kConnector},
    {"id"},
    {"health", &kHealth},
    {"outpostConfig", &kOutpost},
    {"accessConfig"},
    {"upgradePolicy"},
    {"zonalShiftConfig"},
    {"remoteNetworkConfig"},
    {"computeConfig"},
    {"storageConfig"},
    {"deletionProtection"},
}};
constexpr Shape kCluster = shape_of(kClusterMembers);
constexpr std::array<Member, 2> kUpdateParamMembers{{{"type"}, {"value"}}};
constexpr Shape kUpdateParam = shape_of(kUpdateParamMembers);
constexpr std::array<Member, 3> kErrorDetailMembers{
    {{"errorCode"}, {"errorMessage"}, {"resourceIds"}}};
constexpr Shape kErrorDetail = shape_of(kErrorDetailMembers);
constexpr std::array<Member, 6> kUpdateMembers{{{"id"},
                                                {"status"},
                                                {"type"},
                                                {"params", &kUpdateParam},
                                                {"createdAt", nullptr, true},
                                                {"errors", &kErrorDetail}}};
constexpr Shape kUpdate = shape_of(kUpdateMembers);

constexpr std::array<Member, 2> kListClustersMembers{{{"clusters"}, {"nextToken"}}};
constexpr Shape kListClustersResponse = shape_of(kListClustersMembers);
constexpr std::array<Member, 1> kDescribeClusterMembers{{{"cluster", &kCluster}}};
constexpr Shape kDescribeClusterResponse = shape_of(kDescribeClusterMembers);
constexpr std::array<Member, 1> kUpdateResponseMembers{{{"update", &kUpdate}}};
constexpr Shape kUpdateResponse = shape_of(kUpdateResponseMembers);
constexpr std::array<Member, 2> kListUpdatesMembers{{{"updateIds"}, {"nextToken"}}};
constexpr Shape kListUpdatesResponse = shape_of(kListUpdatesMembers);
// Not an EKS operation: horizond's own, in the order its documentation lists the members.
constexpr std::array<Member, 9> kExplainMembers{{{"cluster"},
                                                 {"source"},
                                                 {"inVpc"},
                                                 {"matchedCidr"},
                                                 {"accessMode"},
                                                 {"answerSet"},
                                                 {"addresses"},
                                                 {"generation"},
                                                 {"reason"}}};
constexpr Shape kExplain = shape_of(kExplainMembers);
constexpr std::array<Member, 1> kExplainResponseMembers{{{"explain", &kExplain}}};
constexpr Shape kExplainResponse = shape_of(kExplainResponseMembers);
// EC2's SecurityGroupRule and the responses holding it, in the EC2 model's member order.
constexpr std::array<Member, 13> kSgRuleMembers{{{"SecurityGroupRuleId"},
                                                 {"GroupId"},
                                                 {"GroupOwnerId"},
                                                 {"IsEgress"},
                                                 {"IpProtocol"},
                                                 {"FromPort"},
                                                 {"ToPort"},
                                                 {"CidrIpv4"},
                                                 {"CidrIpv6"},
                                                 {"PrefixListId"},
                                                 {"ReferencedGroupInfo"},
                                                 {"Description"},
                                                 {"Tags"}}};
constexpr Shape kSgRule = shape_of(kSgRuleMembers);
constexpr std::array<Member, 2> kAuthorizeMembers{{{"Return"}, {"SecurityGroupRules", &kSgRule}}};
constexpr Shape kAuthorizeResponse = shape_of(kAuthorizeMembers);
constexpr std::array<Member, 3> kRevokeMembers{
    {{"Return"}, {"UnknownIpPermissions"}, {"RevokedSecurityGroupRules", &kSgRule}}};
constexpr Shape kRevokeResponse = shape_of(kRevokeMembers);
constexpr std::array<Member, 2> kDescribeRulesMembers{
    {{"SecurityGroupRules", &kSgRule}, {"NextToken"}}};
constexpr Shape kDescribeRulesResponse = shape_of(kDescribeRulesMembers);
// horizond's own: the API endpoint's connections.
constexpr std::array<Member, 3> kListenerMembers{{{"side"}, {"address"}, {"error"}}};
constexpr Shape kListener = shape_of(kListenerMembers);
constexpr std::array<Member, 8> kConnectionMembers{{{"id"},
                                                    {"side"},
                                                    {"local"},
                                                    {"peer"},
                                                    {"state"},
                                                    {"since", nullptr, true},
                                                    {"bytesIn"},
                                                    {"bytesOut"}}};
constexpr Shape kConnection = shape_of(kConnectionMembers);
constexpr std::array<Member, 4> kConnectionsMembers{{{"cluster"},
                                                     {"listeners", &kListener},
                                                     {"unbound", &kListener},
                                                     {"connections", &kConnection}}};
constexpr Shape kConnectionsResponse = shape_of(kConnectionsMembers);

std::string iso8601(double epoch) {
    double whole = std::floor(epoch);
    auto micros = static_cast<long>(std::llround((epoch - whole) * 1e6));
    if (micros >= 1000000) {
        whole += 1;
        micros -= 1000000;
    }
    const auto secs = static_cast<time_t>(whole);
    std::tm tm{};
    localtime_r(&secs, &tm);
    std::array<char, 64> buf{};
    size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (micros != 0) {
        n += static_cast<size_t>(std::snprintf(buf.data() + n, buf.size() - n, ".%06ld", micros));
    }
    const long off = tm.tm_gmtoff;
    const long abs_off = off < 0 ? -off : off;
    std::snprintf(buf.data() + n, buf.size() - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
                  abs_off / 3600, abs_off / 60 % 60);
    return buf.data();
}

// NOLINTBEGIN(misc-no-recursion): responses nest at most kMaxNesting deep (checked on receipt).

namespace {

Json reshape_member(const Json& v, const Member& m) {
    if (m.timestamp && v.is_number()) {
        return iso8601(v.get<double>());
    }
    if (m.shape == nullptr) {
        return v;
    }
    if (v.is_array()) {
        Json out = Json::array();
        for (const Json& e : v) {
            out.push_back(reshape(e, *m.shape));
        }
        return out;
    }
    return reshape(v, *m.shape);
}

} // namespace

Json reshape(const Json& v, const Shape& shape) {
    if (!v.is_object()) {
        return v;
    }
    Json out = Json::object();
    for (const Member& m : shape.members) {
        const auto it = v.find(std::string(m.name));
        if (it != v.end()) {
            out[std::string(m.name)] = reshape_member(*it, m);
        }
    }
    for (const auto& [key, val] : v.items()) {
        if (!out.contains(key)) {
            out[key] = val;
        }
    }
    return out;
}

// NOLINTEND(misc-no-recursion)

} // namespace horizon::ctl
