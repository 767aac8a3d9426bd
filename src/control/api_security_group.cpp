// The cluster security group's inbound rules: EC2's request and answer shapes and their checks.
// EC2's texts are quoted where known ([obs] in EKS-FACTS' sense); the rest follow their style.
#include "control/api_security_group.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <stdexcept>

#include "util/crypto.hpp"

namespace horizon::control {

using nlohmann::json;

namespace {

struct Protocol {
    std::string_view name;   ///< as EC2 shows it
    std::string_view number; ///< the IANA number EC2 also accepts
    bool ports = false;      ///< FromPort/ToPort are a port range
};

constexpr std::array kProtocols = {
    Protocol{"-1", "-1", false},  Protocol{"tcp", "6", true},      Protocol{"udp", "17", true},
    Protocol{"icmp", "1", false}, Protocol{"icmpv6", "58", false},
};

const Protocol* find_protocol(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char ch) {
        return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch;
    });
    if (lower == "all") {
        lower = "-1";
    }
    const auto it = std::find_if(kProtocols.begin(), kProtocols.end(), [&](const Protocol& p) {
        return p.name == lower || p.number == lower;
    });
    return it == kProtocols.end() ? nullptr : &*it;
}

Ec2Error invalid_value(std::string message) {
    return {"InvalidParameterValue", std::move(message)};
}

/// The protocol as a string (the AWS CLI sends "tcp", "-1"; JSON users may send -1 or 6).
std::optional<std::string> protocol_text(const json& v) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_number_integer()) {
        return std::to_string(v.get<int64_t>());
    }
    return std::nullopt;
}

std::optional<int> port_of(const json& object, const char* key, std::optional<Ec2Error>& error) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
        return std::nullopt;
    }
    if (it->is_number_integer()) {
        const int64_t n = it->get<int64_t>();
        if (n >= -1 && n <= 65535) {
            return static_cast<int>(n);
        }
    } else if (it->is_string()) {
        const std::string s = it->get<std::string>();
        try {
            size_t used = 0;
            const int n = std::stoi(s, &used);
            if (used == s.size() && n >= -1 && n <= 65535) {
                return n;
            }
        } catch (const std::exception&) {
        }
    }
    error = invalid_value(fmt::format("Invalid value '{}' for {}", it->dump(), key));
    return std::nullopt;
}

/// One IpPermissions entry (or the flat form): protocol and ports, then one rule per range.
std::optional<Ec2Error> read_permission(const json& p, std::vector<SgRule>& out) {
    if (!p.is_object()) {
        return invalid_value("IpPermissions must be a list of objects");
    }
    const auto proto_it = p.find("IpProtocol");
    if (proto_it == p.end()) {
        return Ec2Error{"MissingParameter",
                        "The request must contain the parameter ipPermissions.ipProtocol"};
    }
    const auto text = protocol_text(*proto_it);
    const Protocol* proto = text ? find_protocol(*text) : nullptr;
    if (proto == nullptr) {
        return invalid_value(fmt::format("Invalid value '{}' for IP protocol. Unknown protocol.",
                                         text ? *text : proto_it->dump()));
    }
    std::optional<Ec2Error> error;
    const auto from = port_of(p, "FromPort", error);
    const auto to = port_of(p, "ToPort", error);
    if (error) {
        return error;
    }
    SgRule rule;
    rule.protocol = std::string(proto->name);
    if (proto->ports) {
        if (!from || !to || *from < 0 || *to < 0) {
            return invalid_value(fmt::format("Invalid value 'Must specify both from and to ports "
                                             "with TCP/UDP.' for portRange"));
        }
        if (*from > *to) {
            return invalid_value(fmt::format("Invalid TCP/UDP port range: from port {} is "
                                             "greater than to port {}",
                                             *from, *to));
        }
        rule.from_port = *from;
        rule.to_port = *to;
    } else if (proto->name != "-1") {
        rule.from_port = from.value_or(-1); // ICMP: type and code
        rule.to_port = to.value_or(-1);
    }

    struct Range {
        const char* list;
        const char* key;
        const char* param;
        util::Family family;
    };

    size_t ranges = 0;
    for (const Range r : {Range{"IpRanges", "CidrIp", "cidrIp", util::Family::V4},
                          Range{"Ipv6Ranges", "CidrIpv6", "cidrIpv6", util::Family::V6}}) {
        std::vector<json> entries;
        if (const auto it = p.find(r.list); it != p.end()) {
            if (!it->is_array()) {
                return invalid_value(fmt::format("{} must be a list", r.list));
            }
            entries.assign(it->begin(), it->end());
        }
        if (const auto flat = p.find(r.key); flat != p.end()) {
            entries.push_back(json{{r.key, *flat}}); // --cidr, as a top-level member
        }
        for (const auto& e : entries) {
            const auto cidr_it = e.is_object() ? e.find(r.key) : e.end();
            if (cidr_it == e.end() || !cidr_it->is_string()) {
                return Ec2Error{"MissingParameter",
                                fmt::format("The request must contain the parameter {}", r.param)};
            }
            const std::string text_cidr = cidr_it->get<std::string>();
            const auto cidr = util::Cidr::parse(text_cidr);
            if (!cidr || cidr->addr.family != r.family) {
                return invalid_value(fmt::format("Value ({}) for parameter {} is invalid. This is "
                                                 "not a valid CIDR block.",
                                                 text_cidr, r.param));
            }
            SgRule one = rule;
            one.cidr = *cidr;
            if (const auto d = e.find("Description"); d != e.end() && d->is_string()) {
                one.description = d->get<std::string>();
            }
            out.push_back(std::move(one));
            ++ranges;
        }
    }
    for (const char* other : {"UserIdGroupPairs", "PrefixListIds", "SourceSecurityGroupName",
                              "SourceSecurityGroupOwnerId"}) {
        if (p.contains(other)) {
            return invalid_value(fmt::format("{} is not supported by horizon: a rule names a "
                                             "CIDR (--cidr)",
                                             other));
        }
    }
    if (ranges == 0) {
        return Ec2Error{"MissingParameter", "The request must contain the parameter cidrIp or "
                                            "cidrIpv6 (horizon models CIDR rules: --cidr)"};
    }
    return std::nullopt;
}

std::string hex17(std::string_view input) {
    return util::sha256_hex(input, 17);
}

} // namespace

bool SgRule::admits_tcp(uint16_t port) const {
    return protocol == "-1" || (protocol == "tcp" && from_port <= port && port <= to_port);
}

bool SgRule::same_permission(const SgRule& o) const {
    return protocol == o.protocol && from_port == o.from_port && to_port == o.to_port &&
           cidr == o.cidr;
}

std::string SgRule::describe() const {
    std::string proto = protocol == "-1" ? "ALL" : protocol;
    std::transform(proto.begin(), proto.end(), proto.begin(), [](char ch) {
        return ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 32) : ch;
    });
    if (protocol == "tcp" || protocol == "udp") {
        return fmt::format("peer: {}, {}, from port: {}, to port: {}, ALLOW", cidr.to_string(),
                           proto, from_port, to_port);
    }
    return fmt::format("peer: {}, {}, ALLOW", cidr.to_string(), proto);
}

std::vector<util::Cidr> file_ingress(const config::ClusterConfig& c) {
    return c.api ? c.api->security_group_ingress : c.vpc_cidrs;
}

std::vector<SgRule> file_rules(const config::ClusterConfig& c) {
    std::vector<SgRule> out;
    for (const auto& cidr : file_ingress(c)) {
        SgRule r;
        r.id = "sgr-" + hex17(fmt::format("{}/{}/sgr/{}", c.name, c.region, cidr.to_string()));
        r.protocol = "-1";
        r.cidr = cidr;
        r.description = "from the configuration file";
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<util::Cidr> admitted_cidrs(const std::vector<SgRule>& rules, uint16_t port) {
    std::vector<util::Cidr> out;
    for (const auto& r : rules) {
        if (r.admits_tcp(port) && std::find(out.begin(), out.end(), r.cidr) == out.end()) {
            out.push_back(r.cidr);
        }
    }
    return out;
}

std::variant<SgRequest, Ec2Error> read_sg_request(const json& request) {
    if (!request.is_object()) {
        return invalid_value("The request body must be a JSON object");
    }
    SgRequest out;
    if (const auto ids = request.find("SecurityGroupRuleIds"); ids != request.end()) {
        if (!ids->is_array()) {
            return invalid_value("SecurityGroupRuleIds must be a list of strings");
        }
        for (const auto& id : *ids) {
            if (!id.is_string()) {
                return invalid_value("SecurityGroupRuleIds must be a list of strings");
            }
            out.rule_ids.push_back(id.get<std::string>());
        }
    }
    if (const auto perms = request.find("IpPermissions"); perms != request.end()) {
        if (!perms->is_array()) {
            return invalid_value("IpPermissions must be a list");
        }
        for (const auto& p : *perms) {
            if (auto e = read_permission(p, out.rules)) {
                return *e;
            }
        }
    }
    if (request.contains("IpProtocol") || request.contains("CidrIp") ||
        request.contains("CidrIpv6")) {
        json flat = json::object();
        for (const char* key : {"IpProtocol", "FromPort", "ToPort", "CidrIp", "CidrIpv6"}) {
            if (const auto it = request.find(key); it != request.end()) {
                flat[key] = *it;
            }
        }
        if (!flat.contains("IpProtocol")) {
            flat["IpProtocol"] = "-1";
        }
        if (auto e = read_permission(flat, out.rules)) {
            return *e;
        }
    }
    if (out.rules.empty() && out.rule_ids.empty()) {
        return Ec2Error{"MissingParameter", "No rules given: pass IpPermissions (aws ec2 ... "
                                            "--protocol tcp --port 443 --cidr X)"};
    }
    return out;
}

json rule_json(const SgRule& r, const std::string& group_id, const std::string& owner) {
    json j = json::object();
    j["SecurityGroupRuleId"] = r.id;
    j["GroupId"] = group_id;
    j["GroupOwnerId"] = owner;
    j["IsEgress"] = false;
    j["IpProtocol"] = r.protocol;
    j["FromPort"] = r.from_port;
    j["ToPort"] = r.to_port;
    j[r.cidr.addr.is_v4() ? "CidrIpv4" : "CidrIpv6"] = r.cidr.to_string();
    if (!r.description.empty()) {
        j["Description"] = r.description;
    }
    j["Tags"] = json::array();
    return j;
}

json saved_rule_json(const SgRule& r) {
    json j = {{"id", r.id},          {"protocol", r.protocol},     {"fromPort", r.from_port},
              {"toPort", r.to_port}, {"cidr", r.cidr.to_string()}, {"description", r.description}};
    if (r.additional) {
        j["group"] = "additional"; // absent: the cluster security group (older files too)
    }
    return j;
}

bool filter_match(std::string_view pattern, std::string_view text) {
    // Iterative glob with one backtrack point: linear in practice, no recursion to exhaust.
    size_t p = 0;
    size_t t = 0;
    size_t star = std::string_view::npos;
    size_t resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
            continue;
        }
        if (p < pattern.size()) {
            const bool escaped = pattern[p] == '\\' && p + 1 < pattern.size();
            const char want = escaped ? pattern[p + 1] : pattern[p];
            if ((!escaped && want == '?') || want == text[t]) {
                p += escaped ? 2 : 1;
                ++t;
                continue;
            }
        }
        if (star == std::string_view::npos) {
            return false;
        }
        p = star + 1;
        t = ++resume;
    }
    while (p < pattern.size() && pattern[p] == '*') {
        ++p;
    }
    return p == pattern.size();
}

SgRule saved_rule(const json& j, const std::string& where) {
    const auto fail = [&](const std::string& what) {
        throw std::runtime_error(fmt::format("invalid saved state: {}: {}", where, what));
    };
    if (!j.is_object()) {
        fail("expected an object");
    }
    SgRule r;
    try {
        r.id = j.at("id").get<std::string>();
        r.protocol = j.at("protocol").get<std::string>();
        r.from_port = j.at("fromPort").get<int>();
        r.to_port = j.at("toPort").get<int>();
        r.description = j.at("description").get<std::string>();
        const std::string group = j.value("group", "cluster");
        if (group != "cluster" && group != "additional") {
            fail(fmt::format("unknown security group \"{}\"", group));
        }
        r.additional = group == "additional";
        const auto cidr = util::Cidr::parse(j.at("cidr").get<std::string>());
        if (!cidr) {
            fail("invalid CIDR");
        }
        r.cidr = *cidr;
    } catch (const json::exception& e) {
        fail(e.what());
    }
    if (find_protocol(r.protocol) == nullptr) {
        fail(fmt::format("unknown protocol \"{}\"", r.protocol));
    }
    return r;
}

} // namespace horizon::control
