// --resources-vpc-config as the AWS CLI takes it: shorthand (shorthand_parser.cpp) or JSON,
// awscli/argprocess.py's conversions and botocore's validation for VpcConfigRequest; python_str.
#include "control/shorthand.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace horizon::control {

namespace {

using Json = nlohmann::ordered_json;

// --- the model: botocore's VpcConfigRequest, in its member order

enum class Type : uint8_t { StringList, Boolean };

struct Member {
    std::string_view name;
    Type type;
};

constexpr std::array<Member, 5> kVpcConfigRequest{{
    {"subnetIds", Type::StringList},
    {"securityGroupIds", Type::StringList},
    {"endpointPublicAccess", Type::Boolean},
    {"endpointPrivateAccess", Type::Boolean},
    {"publicAccessCidrs", Type::StringList},
}};

const Member* find_member(std::string_view name) {
    for (const Member& m : kVpcConfigRequest) {
        if (m.name == name) {
            return &m;
        }
    }
    return nullptr;
}

std::string trimmed(std::string_view s) {
    while (!s.empty() && is_python_space(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_python_space(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

/// BackCompatVisitor for a list member: `foo=bar` means ["bar"]. And the deliberate difference
/// (see the header): a quoted "a,b" becomes ["a", "b"].
void as_list(Json& v) {
    if (v.is_array()) {
        return;
    }
    if (!v.is_string() || v.get_ref<const std::string&>().find(',') == std::string::npos) {
        v = Json::array({v});
        return;
    }
    Json list = Json::array();
    std::string_view rest = v.get_ref<const std::string&>();
    while (true) {
        const size_t comma = rest.find(',');
        list.push_back(trimmed(rest.substr(0, comma)));
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    v = std::move(list);
}

/// BackCompatVisitor for a boolean member: "true"/"false" in any case; anything else is left for
/// validation to reject.
void as_boolean(Json& v) {
    if (!v.is_string()) {
        return;
    }
    std::string lower = v.get<std::string>();
    for (char& ch : lower) {
        if (ch >= 'A' && ch <= 'Z') {
            ch = static_cast<char>(ch - 'A' + 'a');
        }
    }
    if (lower == "true") {
        v = true;
    } else if (lower == "false") {
        v = false;
    }
}

/// awscli's BackCompatVisitor over the members of VpcConfigRequest.
void back_compat(Json& params) {
    for (const Member& m : kVpcConfigRequest) {
        const auto it = params.find(m.name);
        if (it != params.end()) {
            m.type == Type::StringList ? as_list(*it) : as_boolean(*it);
        }
    }
}

// NOLINTBEGIN(misc-no-recursion): over parsed values, which nest at most kMaxNesting deep.

/// Python's repr() of a str: single quotes unless the text has a ' and no ".
std::string python_repr_str(std::string_view s) {
    const bool dq = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
    const char q = dq ? '"' : '\'';
    std::string out(1, q);
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '\\' || ch == q) {
            out += '\\';
            out += ch;
        } else if (ch == '\n') {
            out += "\\n";
        } else if (ch == '\r') {
            out += "\\r";
        } else if (ch == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7F) {
            std::array<char, 8> buf{};
            std::snprintf(buf.data(), buf.size(), "\\x%02x", c);
            out += buf.data();
        } else {
            out += ch;
        }
    }
    out += q;
    return out;
}

std::string python_repr(const Json& v) {
    return v.is_string() ? python_repr_str(v.get_ref<const std::string&>()) : python_str(v);
}

// NOLINTEND(misc-no-recursion)

std::string_view python_type(const Json& v) {
    switch (v.type()) {
    case Json::value_t::string:
        return "<class 'str'>";
    case Json::value_t::boolean:
        return "<class 'bool'>";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
        return "<class 'int'>";
    case Json::value_t::number_float:
        return "<class 'float'>";
    case Json::value_t::array:
        return "<class 'list'>";
    case Json::value_t::object:
        return "<class 'dict'>";
    default:
        return "<class 'NoneType'>";
    }
}

void type_error(std::vector<std::string>& errors, const std::string& name, const Json& v,
                std::string_view valid) {
    errors.push_back("Invalid type for parameter " + name + ", value: " + python_str(v) +
                     ", type: " + std::string(python_type(v)) +
                     ", valid types: " + std::string(valid));
}

/// botocore's ParamValidator on the resourcesVpcConfig structure: unknown members first, then
/// each known member's type, both in the order the user wrote them.
std::vector<std::string> validate(const Json& params) {
    std::vector<std::string> errors;
    std::string valid_names;
    for (const Member& m : kVpcConfigRequest) {
        valid_names += valid_names.empty() ? "" : ", ";
        valid_names += m.name;
    }
    for (const auto& [key, _] : params.items()) {
        if (find_member(key) == nullptr) {
            std::string e = "Unknown parameter in resourcesVpcConfig: \"" + key;
            e += "\", must be one of: ";
            e += valid_names;
            errors.push_back(std::move(e));
        }
    }
    for (const auto& [key, v] : params.items()) {
        const Member* m = find_member(key);
        if (m == nullptr) {
            continue;
        }
        const std::string name = "resourcesVpcConfig." + key;
        if (m->type == Type::Boolean) {
            if (!v.is_boolean()) {
                type_error(errors, name, v, "<class 'bool'>");
            }
            continue;
        }
        if (!v.is_array()) {
            type_error(errors, name, v, "<class 'list'>, <class 'tuple'>");
            continue;
        }
        for (size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_string()) {
                type_error(errors, name + "[" + std::to_string(i) + "]", v[i], "<class 'str'>");
            }
        }
    }
    return errors;
}

/// The part of nlohmann's parse_error text after "parse error at line L, column C: ".
std::string json_reason(const nlohmann::json::parse_error& e) {
    const std::string what = e.what();
    const size_t column = what.find("column ");
    const size_t colon = what.find(": ", column == std::string::npos ? 0 : column);
    return colon == std::string::npos ? what : what.substr(colon + 2);
}

/// What is wrong and where, worded like Python's json errors: "<reason>: line 1 column 26 (char
/// 25)" (line and column 1-based, the character offset 0-based).
std::string json_error(const nlohmann::json::parse_error& e, std::string_view value) {
    const size_t at = e.byte == 0 ? 0 : std::min<size_t>(e.byte - 1, value.size());
    const std::string_view before = value.substr(0, at);
    const size_t nl = before.rfind('\n');
    const auto line = 1 + std::count(before.begin(), before.end(), '\n');
    const size_t col =
        code_points(nl == std::string_view::npos ? before : before.substr(nl + 1)) + 1;
    std::string out = json_reason(e);
    out += ": line " + std::to_string(line);
    out += " column " + std::to_string(col);
    out += " (char " + std::to_string(code_points(before)) + ")";
    return out;
}

ParamResult parse_error(std::string_view cli_name, std::string_view message) {
    ParamResult r;
    r.kind = ParamResult::Kind::ParseError;
    r.message = "Error parsing parameter '" + std::string(cli_name) + "': " + std::string(message);
    return r;
}

} // namespace

// NOLINTNEXTLINE(misc-no-recursion): values nest at most kMaxNesting deep
std::string python_str(const Json& v) {
    switch (v.type()) {
    case Json::value_t::string:
        return v.get<std::string>();
    case Json::value_t::boolean:
        return v.get<bool>() ? "True" : "False";
    case Json::value_t::null:
        return "None";
    case Json::value_t::array: {
        std::string out = "[";
        for (size_t i = 0; i < v.size(); ++i) {
            out += (i == 0 ? "" : ", ") + python_repr(v[i]);
        }
        return out + "]";
    }
    case Json::value_t::object: {
        std::string out = "{";
        bool first = true;
        for (const auto& [key, val] : v.items()) {
            out += (first ? "" : ", ") + python_repr_str(key) + ": " + python_repr(val);
            first = false;
        }
        return out + "}";
    }
    default:
        return v.dump();
    }
}

ParamResult parse_resources_vpc_config(std::string_view value, std::string_view cli_name) {
    size_t lead = 0;
    while (lead < value.size() && is_python_space(static_cast<unsigned char>(value[lead]))) {
        ++lead;
    }
    Json params;
    if (lead < value.size() && (value[lead] == '{' || value[lead] == '[')) {
        // argprocess: a structure given as JSON must be an object.
        if (value[lead] == '[') {
            return parse_error(cli_name, "Invalid JSON:\n" + std::string(value));
        }
        try {
            params = Json::parse(value);
        } catch (const nlohmann::json::parse_error& e) {
            return parse_error(cli_name, "Invalid JSON: " + json_error(e, value) +
                                             "\nJSON received: " + std::string(value));
        }
        if (nesting_depth(params) > kMaxNesting) {
            return parse_error(cli_name, "Invalid JSON: nested more than " +
                                             std::to_string(kMaxNesting) + " levels deep" +
                                             "\nJSON received: " + std::string(value));
        }
    } else {
        ShorthandParse sp = parse_shorthand(value);
        if (!sp.value) {
            return parse_error(cli_name, sp.error);
        }
        params = std::move(*sp.value);
        back_compat(params);
    }
    ParamResult r;
    const std::vector<std::string> errors = validate(params);
    if (!errors.empty()) {
        r.kind = ParamResult::Kind::ValidationError;
        r.message = "Parameter validation failed:";
        for (const std::string& e : errors) {
            r.message += "\n" + e;
        }
        return r;
    }
    r.value = std::move(params);
    return r;
}

} // namespace horizon::control
