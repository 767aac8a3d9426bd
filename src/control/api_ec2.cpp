// EC2's Query protocol (form-encoded requests, XML answers) for the cluster security group.
#include "control/api_ec2.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <vector>

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
    if (action == "DescribeSecurityGroupRules") {
        std::vector<std::string> clusters;
        bool filtered = false;
        if (req.contains("Filters") && req["Filters"].is_array()) {
            for (const auto& f : req["Filters"]) {
                if (!f.is_object() || f.value("Name", "") != "group-id") {
                    continue;
                }
                filtered = true;
                for (const auto& v : f.value("Value", json::array())) {
                    const std::string name = cp.cluster_of_security_group(text_of(v));
                    if (!name.empty()) {
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
                const bool wanted =
                    !req.contains("SecurityGroupRuleIds") ||
                    std::any_of(req["SecurityGroupRuleIds"].begin(),
                                req["SecurityGroupRuleIds"].end(),
                                [&](const json& id) { return id == rule["SecurityGroupRuleId"]; });
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

} // namespace horizon::control
