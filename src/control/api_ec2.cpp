// EC2's Query protocol (form-encoded requests, XML answers) for the cluster security group.
#include "control/api_ec2.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <optional>
#include <vector>

#include "control/api_security_group.hpp"

namespace horizon::control {

using nlohmann::json;

namespace {

constexpr std::string_view kXmlns = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte.
std::string url_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() &&
                   std::isxdigit(static_cast<unsigned char>(s[i + 1])) != 0 &&
                   std::isxdigit(static_cast<unsigned char>(s[i + 2])) != 0) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

bool is_index(std::string_view part) {
    return !part.empty() && part.size() <= 4 &&
           std::all_of(part.begin(), part.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

/// Stores `value` at the dotted `key` ("A.1.B" -> {"A": [{"B": value}]}); indexes are 1-based.
void put(json& root, std::string_view key, const std::string& value) {
    json* node = &root;
    size_t start = 0;
    while (true) {
        const auto dot = key.find('.', start);
        const std::string_view part =
            key.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        const bool last = dot == std::string_view::npos;
        if (is_index(part)) {
            const size_t i = std::stoul(std::string(part));
            if (i == 0 || i > 1000) {
                return; // out of any sane range: ignored, as unknown parameters are
            }
            if (!node->is_array()) {
                *node = json::array();
            }
            while (node->size() < i) {
                node->push_back(nullptr);
            }
            node = &(*node)[i - 1];
        } else {
            if (!node->is_object()) {
                *node = json::object();
            }
            node = &(*node)[std::string(part)];
        }
        if (last) {
            *node = value;
            return;
        }
        start = dot + 1;
    }
}

std::string xml_escape(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        switch (ch) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        default:
            out += ch;
        }
    }
    return out;
}

std::string text_of(const json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
}

/// A rule as EC2's XML <item>: member names with a lower-case first letter; Tags -> tagSet.
std::string rule_xml(const json& rule) {
    std::string out = "<item>";
    for (const auto& [key, value] : rule.items()) {
        if (key == "Tags") {
            out += "<tagSet/>";
            continue;
        }
        std::string name = key;
        name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
        out += fmt::format("<{0}>{1}</{0}>", name, xml_escape(text_of(value)));
    }
    return out + "</item>";
}

Ec2Reply error_xml(int status, std::string_view code, std::string_view message,
                   const std::string& request_id) {
    return {status, fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors>"
                                "<Error><Code>{}</Code><Message>{}</Message></Error></Errors>"
                                "<RequestID>{}</RequestID></Response>",
                                xml_escape(code), xml_escape(message), request_id)};
}

Ec2Reply from_result(const ApiResult& r, const std::string& request_id) {
    return error_xml(r.status, r.error_type, r.body.value("message", ""), request_id);
}

std::string rules_xml(const json& rules) {
    std::string out;
    for (const auto& r : rules) {
        out += rule_xml(r);
    }
    return out;
}

/// DescribeSecurityGroups' <item> for one group (EC2's locationNames, from its service model).
std::string group_xml(const json& g) {
    const auto ranges = [](const json& list, const char* cidr_key, const char* cidr_name) {
        std::string out;
        for (const auto& r : list) {
            out += fmt::format("<item><{0}>{1}</{0}>", cidr_name, xml_escape(text_of(r[cidr_key])));
            if (r.contains("Description")) {
                out += "<description>" + xml_escape(text_of(r["Description"])) + "</description>";
            }
            out += "</item>";
        }
        return out;
    };
    const auto permissions = [&](const json& list) {
        std::string out;
        for (const auto& p : list) {
            out += "<item><ipProtocol>" + xml_escape(text_of(p["IpProtocol"])) + "</ipProtocol>";
            if (p.contains("FromPort")) {
                out += fmt::format("<fromPort>{}</fromPort><toPort>{}</toPort>",
                                   text_of(p["FromPort"]), text_of(p["ToPort"]));
            }
            out += "<groups/><ipRanges>" + ranges(p["IpRanges"], "CidrIp", "cidrIp") +
                   "</ipRanges><ipv6Ranges>" + ranges(p["Ipv6Ranges"], "CidrIpv6", "cidrIpv6") +
                   "</ipv6Ranges><prefixListIds/></item>";
        }
        return out;
    };
    std::string tags;
    for (const auto& t : g["Tags"]) {
        tags += "<item><key>" + xml_escape(text_of(t["Key"])) + "</key><value>" +
                xml_escape(text_of(t["Value"])) + "</value></item>";
    }
    return fmt::format("<item><ownerId>{}</ownerId><groupId>{}</groupId><groupName>{}</groupName>"
                       "<groupDescription>{}</groupDescription><vpcId>{}</vpcId>"
                       "<ipPermissions>{}</ipPermissions>"
                       "<ipPermissionsEgress>{}</ipPermissionsEgress><tagSet>{}</tagSet></item>",
                       xml_escape(text_of(g["OwnerId"])), xml_escape(text_of(g["GroupId"])),
                       xml_escape(text_of(g["GroupName"])), xml_escape(text_of(g["Description"])),
                       xml_escape(text_of(g["VpcId"])), permissions(g["IpPermissions"]),
                       permissions(g["IpPermissionsEgress"]), tags);
}

/// The values of a list parameter (GroupId.N), or of a filter's Value.N, as strings.
std::vector<std::string> values_of(const json& v) {
    std::vector<std::string> out;
    if (v.is_array()) {
        for (const auto& x : v) {
            if (!x.is_null()) {
                out.push_back(text_of(x));
            }
        }
    } else if (!v.is_null()) {
        out.push_back(text_of(v));
    }
    return out;
}

bool known_filter(std::string_view name) {
    return name == "group-name" || name == "group-id" || name == "vpc-id" || name == "owner-id" ||
           name == "description" || name == "tag-key" ||
           (name.starts_with("tag:") && name.size() > 4);
}

/// What one DescribeSecurityGroups filter looks at in a group: its values (tag filters: the
/// tag's value, tag-key: every key), or nullopt for a filter name EC2 has but horizon does not.
std::optional<std::vector<std::string>> filter_subject(const std::string& name, const json& g) {
    if (!g.is_object()) {
        return std::nullopt;
    }
    if (name == "group-name") {
        return std::vector{text_of(g["GroupName"])};
    }
    if (name == "group-id") {
        return std::vector{text_of(g["GroupId"])};
    }
    if (name == "vpc-id") {
        return std::vector{text_of(g["VpcId"])};
    }
    if (name == "owner-id") {
        return std::vector{text_of(g["OwnerId"])};
    }
    if (name == "description") {
        return std::vector{text_of(g["Description"])};
    }
    std::vector<std::string> out;
    if (name == "tag-key" || name.starts_with("tag:")) {
        for (const auto& t : g["Tags"]) {
            if (name == "tag-key") {
                out.push_back(text_of(t["Key"]));
            } else if (text_of(t["Key"]) == name.substr(4)) {
                out.push_back(text_of(t["Value"]));
            }
        }
        return out;
    }
    return std::nullopt;
}

/// DescribeSecurityGroups: GroupId.N and GroupName.N select exactly (an unknown one is
/// InvalidGroup.NotFound, as EC2 answers); Filter.N.Name/Value.N filters AND together, the
/// values of one filter OR, with EC2's '*' and '?' wildcards.
Ec2Reply describe_security_groups(const ControlPlane& cp, const json& req, const std::string& head,
                                  const std::string& request_id) {
    const json groups = cp.describe_security_groups();
    for (const char* field : {"GroupId", "GroupName"}) { // the parameter is the field's name
        for (const auto& wanted : values_of(req.value(field, json()))) {
            if (std::none_of(groups.begin(), groups.end(),
                             [&](const json& g) { return text_of(g[field]) == wanted; })) {
                return error_xml(400, "InvalidGroup.NotFound",
                                 fmt::format("The security group '{}' does not exist", wanted),
                                 request_id);
            }
        }
    }
    const json filters = req.value("Filters", json::array());
    for (const auto& f : filters) {
        const std::string name = f.is_object() ? f.value("Name", "") : "";
        if (!known_filter(name)) {
            return error_xml(400, "InvalidParameterValue",
                             fmt::format("The filter '{}' is invalid (horizon knows group-name, "
                                         "group-id, vpc-id, owner-id, description, tag:<key>, "
                                         "tag-key)",
                                         name),
                             request_id);
        }
    }
    std::string items;
    for (const auto& g : groups) {
        bool keep = true;
        for (const char* field : {"GroupId", "GroupName"}) {
            const auto wanted = values_of(req.value(field, json()));
            keep = keep && (wanted.empty() || std::find(wanted.begin(), wanted.end(),
                                                        text_of(g[field])) != wanted.end());
        }
        for (const auto& f : filters) {
            const auto subject =
                filter_subject(f.value("Name", ""), g).value_or(std::vector<std::string>{});
            const auto patterns = values_of(f.value("Value", json()));
            keep = keep && std::any_of(patterns.begin(), patterns.end(), [&](const auto& p) {
                       return std::any_of(subject.begin(), subject.end(),
                                          [&](const auto& v) { return filter_match(p, v); });
                   });
        }
        if (keep) {
            items += group_xml(g);
        }
    }
    return {200, head + "<securityGroupInfo>" + items +
                     "</securityGroupInfo></DescribeSecurityGroupsResponse>"};
}

} // namespace

json parse_ec2_form(std::string_view body) {
    json out = json::object();
    size_t start = 0;
    while (start <= body.size()) {
        const auto amp = body.find('&', start);
        const std::string_view pair = body.substr(
            start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!pair.empty()) {
            const auto eq = pair.find('=');
            const std::string key = url_decode(pair.substr(0, eq));
            const std::string value =
                eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
            if (!key.empty()) {
                put(out, key, value);
            }
        }
        if (amp == std::string_view::npos) {
            break;
        }
        start = amp + 1;
    }
    // EC2 names list members in the singular on the wire (their locationName).
    for (const auto& [wire, api] :
         {std::pair<const char*, const char*>{"SecurityGroupRuleId", "SecurityGroupRuleIds"},
          {"Filter", "Filters"}}) {
        if (out.contains(wire)) {
            out[api] = out[wire];
            out.erase(wire);
        }
    }
    return out;
}

Ec2Reply ec2_query(ControlPlane& cp, std::string_view body, TimePoint now,
                   const std::string& request_id) {
    json req = parse_ec2_form(body);
    const std::string action = req.value("Action", "");
    req.erase("Action");
    req.erase("Version");
    const auto header = [&](std::string_view name) {
        return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{}Response xmlns=\"{}\">"
                           "<requestId>{}</requestId>",
                           name, kXmlns, request_id);
    };
    if (action == "DescribeSecurityGroups") {
        return describe_security_groups(cp, req, header(action), request_id);
    }
    if (action == "DescribeSecurityGroupRules") {
        std::vector<std::string> clusters;
        std::vector<std::string> group_ids; // the group-id filter's values
        bool filtered = false;
        if (req.contains("Filters") && req["Filters"].is_array()) {
            for (const auto& f : req["Filters"]) {
                if (!f.is_object() || f.value("Name", "") != "group-id") {
                    continue;
                }
                filtered = true;
                for (const auto& v : values_of(f.value("Value", json()))) {
                    const std::string name = cp.cluster_of_security_group(v);
                    group_ids.push_back(v);
                    if (!name.empty() &&
                        std::find(clusters.begin(), clusters.end(), name) == clusters.end()) {
                        clusters.push_back(name);
                    }
                }
            }
        }
        if (!filtered) {
            // Not `: cp.list_clusters().body[...]`: before C++23 the temporary would be gone.
            const ApiResult all = cp.list_clusters();
            for (const auto& name : all.body["clusters"]) {
                clusters.push_back(name.get<std::string>());
            }
        }
        std::string items;
        for (const auto& name : clusters) {
            const ApiResult r = cp.describe_security_group_rules(name);
            for (const auto& rule : r.body["SecurityGroupRules"]) {
                const bool in_group =
                    !filtered || std::find(group_ids.begin(), group_ids.end(),
                                           text_of(rule["GroupId"])) != group_ids.end();
                const bool wanted =
                    in_group &&
                    (!req.contains("SecurityGroupRuleIds") ||
                     std::any_of(
                         req["SecurityGroupRuleIds"].begin(), req["SecurityGroupRuleIds"].end(),
                         [&](const json& id) { return id == rule["SecurityGroupRuleId"]; }));
                if (wanted) {
                    items += rule_xml(rule);
                }
            }
        }
        return {200, header(action) + "<securityGroupRuleSet>" + items +
                         "</securityGroupRuleSet></" + action + "Response>"};
    }
    if (action != "AuthorizeSecurityGroupIngress" && action != "RevokeSecurityGroupIngress") {
        return error_xml(400, "InvalidAction",
                         fmt::format("The action {} is not valid for this web service.", action),
                         request_id);
    }
    const std::string group = req.value("GroupId", "");
    if (group.empty()) {
        return error_xml(400, "MissingParameter",
                         "The request must contain the parameter groupId (horizon's groups are "
                         "the clusters' clusterSecurityGroupId)",
                         request_id);
    }
    const std::string cluster = cp.cluster_of_security_group(group);
    if (cluster.empty()) {
        return group.starts_with("sg-")
                   ? error_xml(400, "InvalidGroup.NotFound",
                               fmt::format("The security group '{}' does not exist", group),
                               request_id)
                   : error_xml(400, "InvalidGroupId.Malformed",
                               fmt::format("Invalid id: \"{}\" (expecting \"sg-...\")", group),
                               request_id);
    }
    const bool authorize = action == "AuthorizeSecurityGroupIngress";
    const ApiResult r = authorize ? cp.authorize_security_group_ingress(cluster, req, now)
                                  : cp.revoke_security_group_ingress(cluster, req, now);
    if (r.status != 200) {
        return from_result(r, request_id);
    }
    const std::string set = authorize ? "securityGroupRuleSet" : "revokedSecurityGroupRuleSet";
    const json& rules = r.body[authorize ? "SecurityGroupRules" : "RevokedSecurityGroupRules"];
    return {200, header(action) + "<return>true</return><" + set + ">" + rules_xml(rules) + "</" +
                     set + "></" + action + "Response>"};
}

Ec2Reply ec2_error(int status, std::string_view code, std::string_view message,
                   const std::string& request_id) {
    return error_xml(status, code, message, request_id);
}

} // namespace horizon::control
