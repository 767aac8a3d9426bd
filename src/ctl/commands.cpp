// The command table: the EKS commands (the paths and bodies `aws eks ... --endpoint-url` sends),
// EC2's security group commands, and horizond's own (explain, connections).
#include "ctl/commands.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <random>

#include "control/shorthand.hpp"
#include "ctl/http_client.hpp"

namespace horizon::ctl {

namespace {

using Built = std::variant<Request, Failure>;

std::string json_text(const Json& j) {
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string cluster_path(const Params& p) {
    return "/clusters/" + percent_encode(p.at("--name"));
}

Built list_clusters(const Params& /*p*/) {
    return Request{"GET", "/clusters", ""};
}

Built describe_cluster(const Params& p) {
    return Request{"GET", cluster_path(p), ""};
}

Built update_cluster_config(const Params& p) {
    const auto vpc = control::parse_resources_vpc_config(p.at("--resources-vpc-config"));
    if (!vpc.ok()) {
        return Failure{kExitUsage, vpc.message};
    }
    Json request = Json::object();
    request["resourcesVpcConfig"] = vpc.value;
    const auto token = p.find("--client-request-token");
    request["clientRequestToken"] = token != p.end() ? token->second : uuid4();
    return Request{"POST", cluster_path(p) + "/update-config", json_text(request)};
}

Built describe_update(const Params& p) {
    return Request{"GET", cluster_path(p) + "/updates/" + percent_encode(p.at("--update-id")), ""};
}

Built list_updates(const Params& p) {
    return Request{"GET", cluster_path(p) + "/updates", ""};
}

Built explain(const Params& p) {
    return Request{"GET", cluster_path(p) + "/explain?source=" + percent_encode(p.at("--source")),
                   ""};
}

Built connections(const Params& p) {
    return Request{"GET", cluster_path(p) + "/connections", ""};
}

/// /security-groups/SG or /clusters/NAME/security-group: --group-id wins, --name otherwise.
Built describe_security_group_rules(const Params& p) {
    if (const auto id = p.find("--group-id"); id != p.end()) {
        return Request{"GET", "/security-groups/" + percent_encode(id->second), ""};
    }
    if (p.contains("--name")) {
        return Request{"GET", cluster_path(p) + "/security-group", ""};
    }
    return usage_error("one of the arguments --group-id --name is required");
}

Built change_ingress(const Params& p, std::string_view action) {
    Built built = describe_security_group_rules(p);
    if (std::holds_alternative<Failure>(built)) {
        return built;
    }
    auto body = security_group_request(p);
    if (auto* f = std::get_if<Failure>(&body)) {
        return *f;
    }
    auto& request = std::get<Request>(built);
    request.method = "POST";
    request.path += action;
    request.body = json_text(std::get<Json>(body));
    return built;
}

Built authorize_ingress(const Params& p) {
    return change_ingress(p, "/authorize-ingress");
}

Built revoke_ingress(const Params& p) {
    return change_ingress(p, "/revoke-ingress");
}

} // namespace

bool Command::takes(std::string_view option) const {
    return std::find(required.begin(), required.end(), option) != required.end() ||
           std::find(optional.begin(), optional.end(), option) != optional.end();
}

const std::vector<Command>& commands() {
    static const std::vector<Command> table{
        {"list-clusters",
         "ListClusters",
         {},
         {},
         "",
         &kListClustersResponse,
         list_clusters,
         "  list-clusters\n"},
        {"describe-cluster",
         "DescribeCluster",
         {"--name"},
         {},
         "",
         &kDescribeClusterResponse,
         describe_cluster,
         "  describe-cluster        --name NAME\n"},
        {"update-cluster-config",
         "UpdateClusterConfig",
         {"--name", "--resources-vpc-config"},
         {"--client-request-token"},
         "",
         &kUpdateResponse,
         update_cluster_config,
         R"(  update-cluster-config   --name NAME --resources-vpc-config VALUE [--client-request-token T]
                          VALUE is AWS shorthand or JSON, for example
                            endpointPublicAccess=true,publicAccessCidrs="203.0.113.5/32",endpointPrivateAccess=true
                            publicAccessCidrs=203.0.113.5/32,198.51.100.0/24
                            '{"endpointPublicAccess": true, "endpointPrivateAccess": false}'
                          Omitted members keep their current values.
)"},
        {"describe-update",
         "DescribeUpdate",
         {"--name", "--update-id"},
         {},
         "",
         &kUpdateResponse,
         describe_update,
         "  describe-update         --name NAME --update-id ID\n"},
        {"list-updates",
         "ListUpdates",
         {"--name"},
         {},
         "",
         &kListUpdatesResponse,
         list_updates,
         "  list-updates            --name NAME\n"},
        {"wait",
         "DescribeUpdate",
         {"--name", "--update-id"},
         {"--timeout", "--delay"},
         "update-successful",
         &kUpdateResponse,
         describe_update,
         R"(  wait update-successful  --name NAME --update-id ID [--timeout 30m] [--delay 1s]
                          polls describe-update until the update is Successful (exit 0);
                          Failed, Cancelled or the timeout: exit 255
)"},
        {"explain",
         "Explain",
         {"--name", "--source"},
         {},
         "",
         &kExplainResponse,
         explain,
         R"(  explain                 --name NAME --source IP
                          which answer horizond gives that source, and why
)"},
        {"authorize-security-group-ingress",
         "AuthorizeSecurityGroupIngress",
         {},
         {"--group-id", "--name", "--protocol", "--port", "--cidr", "--description"},
         "",
         &kAuthorizeResponse,
         authorize_ingress,
         R"(
  The cluster security group (`aws ec2`'s arguments; the group ID is describe-cluster's
  resourcesVpcConfig.clusterSecurityGroupId), and the API endpoint's connections:
  authorize-security-group-ingress   --group-id SG | --name NAME
                          --protocol tcp|-1 [--port N|FROM-TO] --cidr CIDR [--description D]
)"},
        {"revoke-security-group-ingress",
         "RevokeSecurityGroupIngress",
         {},
         {"--group-id", "--name", "--protocol", "--port", "--cidr", "--security-group-rule-ids"},
         "",
         &kRevokeResponse,
         revoke_ingress,
         R"(  revoke-security-group-ingress      --group-id SG | --name NAME
                          --protocol tcp|-1 [--port N|FROM-TO] --cidr CIDR
                          or --security-group-rule-ids sgr-...[,sgr-...]
)"},
        {"describe-security-group-rules",
         "DescribeSecurityGroupRules",
         {},
         {"--group-id", "--name"},
         "",
         &kDescribeRulesResponse,
         describe_security_group_rules,
         "  describe-security-group-rules      --group-id SG | --name NAME\n"},
        {"connections",
         "Connections",
         {"--name"},
         {},
         "",
         &kConnectionsResponse,
         connections,
         R"(  connections             --name NAME
                          the API endpoint's listeners and connections per side with their
                          peers (the `ss -tn` view)
)"},
    };
    return table;
}

const Command* find_command(std::string_view name) {
    for (const Command& c : commands()) {
        if (c.name == name) {
            return &c;
        }
    }
    return nullptr;
}

std::variant<Json, Failure> security_group_request(const Params& p) {
    const auto has = [&](const char* name) { return p.contains(name); };
    Json request = Json::object();
    if (has("--group-id")) {
        request["GroupId"] = p.at("--group-id");
    }
    if (has("--security-group-rule-ids")) {
        Json ids = Json::array();
        const std::string& list = p.at("--security-group-rule-ids");
        for (size_t start = 0; start <= list.size();) {
            const size_t comma = std::min(list.find(',', start), list.size());
            if (comma > start) {
                ids.push_back(list.substr(start, comma - start));
            }
            start = comma + 1;
            if (comma == list.size()) {
                break;
            }
        }
        request["SecurityGroupRuleIds"] = ids;
    }
    if (!has("--protocol") && !has("--port") && !has("--cidr")) {
        if (!has("--security-group-rule-ids")) {
            return usage_error("the following arguments are required: --protocol, --cidr (or "
                               "--security-group-rule-ids)");
        }
        return request;
    }
    if (!has("--protocol") || !has("--cidr")) {
        return usage_error("the following arguments are required: " +
                           std::string(has("--protocol") ? "--cidr" : "--protocol"));
    }
    std::string protocol = p.at("--protocol");
    if (protocol == "all") {
        protocol = "-1";
    }
    Json perm = Json::object();
    perm["IpProtocol"] = protocol;
    if (has("--port")) {
        // --port N or FROM-TO, as the AWS CLI takes it ("-1" = all ports).
        const std::string& port = p.at("--port");
        const size_t dash = port.find('-', 1);
        try {
            const int from = std::stoi(port.substr(0, dash));
            const int to = dash == std::string::npos ? from : std::stoi(port.substr(dash + 1));
            perm["FromPort"] = from;
            perm["ToPort"] = to;
        } catch (const std::exception&) {
            return usage_error("argument --port: invalid port or range '" + port +
                               "' (e.g. 443, 1-1024)");
        }
    }
    const std::string& cidr = p.at("--cidr");
    Json range = Json::object();
    const bool v6 = cidr.find(':') != std::string::npos;
    range[v6 ? "CidrIpv6" : "CidrIp"] = cidr;
    if (has("--description")) {
        range["Description"] = p.at("--description");
    }
    perm[v6 ? "Ipv6Ranges" : "IpRanges"] = Json::array({range});
    request["IpPermissions"] = Json::array({perm});
    return request;
}

std::string uuid4() {
    std::random_device rd;
    std::string hex;
    while (hex.size() < 32) {
        std::array<char, 9> buf{};
        std::snprintf(buf.data(), buf.size(), "%08x", static_cast<unsigned>(rd()));
        hex += buf.data();
    }
    hex[12] = '4';                                // version 4
    constexpr std::string_view kVariant = "89ab"; // variant 10
    hex[16] = kVariant.at(rd() % kVariant.size());
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

} // namespace horizon::ctl
