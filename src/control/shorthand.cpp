// The AWS CLI's shorthand and JSON parameter syntax, ported from awscli/shorthand.py and
// awscli/argprocess.py (AWS CLI v2), with botocore's parameter validation for VpcConfigRequest.
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

// --- character classes of awscli/shorthand.py, on UTF-8 bytes: every non-ASCII byte counts as a
// word character (the Python classes take U+007C..U+FFFF; only astral characters differ).

/// Python's string.whitespace, which _consume_whitespace skips.
bool is_ws(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/// Python's `\s` and str.rstrip() on ASCII: string.whitespace plus U+001C..U+001F.
bool is_py_space(int c) {
    return is_ws(c) || (c >= 0x1C && c <= 0x1F);
}

bool in(int c, int lo, int hi) {
    return c >= lo && c <= hi;
}

/// _START_WORD: `\!\#-&\(-\+\--\<\>-Z\\-z\u007c-\uffff`
bool is_start_word(int c) {
    return c >= 0x80 || c == '!' || in(c, '#', '&') || in(c, '(', '+') || in(c, '-', '<') ||
           in(c, '>', 'Z') || in(c, '\\', 'z') || in(c, '|', 0x7F);
}

/// _FIRST_FOLLOW_CHARS: `\s\!\#-&\(-\+\--\\\^-\|~-\uffff` ('=' '[' '{' allowed; ',' ']' '}' not)
bool is_first_follow(int c) {
    return is_py_space(c) || c >= 0x80 || c == '!' || in(c, '#', '&') || in(c, '(', '+') ||
           in(c, '-', '\\') || in(c, '^', '|') || in(c, '~', 0x7F);
}

/// _SECOND_FOLLOW_CHARS: `\s\!\#-&\(-\+\--\<\>-\uffff` (',' and '=' end a second value)
bool is_second_follow(int c) {
    return is_py_space(c) || c >= 0x80 || c == '!' || in(c, '#', '&') || in(c, '(', '+') ||
           in(c, '-', '<') || in(c, '>', 0x7F);
}

/// _key: [a-zA-Z0-9-_.#/:]
bool is_key_char(int c) {
    return in(c, 'a', 'z') || in(c, 'A', 'Z') || in(c, '0', '9') || c == '-' || c == '_' ||
           c == '.' || c == '#' || c == '/' || c == ':';
}

/// Python's str.replace: every non-overlapping occurrence, left to right.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    size_t pos = 0;
    while (true) {
        const size_t hit = s.find(from, pos);
        if (hit == std::string_view::npos) {
            out.append(s.substr(pos));
            return out;
        }
        out.append(s.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
}

std::string rstrip(std::string s) {
    while (!s.empty() && is_py_space(static_cast<unsigned char>(s.back()))) {
        s.pop_back();
    }
    return s;
}

/// Code points in a UTF-8 string (the Python index unit, for the caret under the input).
size_t code_points(std::string_view s) {
    size_t n = 0;
    for (const char ch : s) {
        n += static_cast<size_t>((static_cast<unsigned char>(ch) & 0xC0U) != 0x80U);
    }
    return n;
}

/// ShorthandParseError._error_location: the input with a caret under `index` (a byte offset
/// here; the caret is placed by code points, as Python does).
std::string error_location(std::string_view value, size_t index) {
    std::string_view consumed = value;
    std::string_view remaining;
    size_t num_spaces = code_points(value.substr(0, index));
    const size_t last_newline = value.substr(0, index).rfind('\n');
    if (last_newline != std::string_view::npos) {
        num_spaces = code_points(value.substr(last_newline + 1, index - last_newline - 1));
    }
    const size_t next_newline = value.find('\n', index);
    if (next_newline != std::string_view::npos) {
        consumed = value.substr(0, next_newline);
        remaining = value.substr(next_newline);
    }
    std::string out(consumed);
    out += '\n';
    out.append(num_spaces, ' ');
    out += '^';
    out.append(remaining);
    return out;
}

// NOLINTBEGIN(misc-no-recursion): the grammar nests; depth_ bounds it by kMaxNesting.

/// A recursive-descent port of awscli's ShorthandParser. Each step returns false after recording
/// the error; the csv-list rule backtracks over a syntax error exactly as the Python does.
class ShorthandParser {
public:
    explicit ShorthandParser(std::string_view input)
        : in_(input) {}

    ShorthandParse parse() {
        ShorthandParse out;
        Json params = Json::object();
        if (parameter(params)) {
            out.value = std::move(params);
        } else {
            out.error = std::move(error_);
        }
        return out;
    }

private:
    std::string_view in_;
    size_t i_ = 0;
    size_t depth_ = 0; ///< lists and maps open at i_
    std::string error_;

    /// Entering a list or map; false (with the error) beyond kMaxNesting.
    bool enter() {
        if (++depth_ <= kMaxNesting) {
            return true;
        }
        error_ = "Nested more than " + std::to_string(kMaxNesting) + " levels deep for input:\n" +
                 error_location(in_, i_);
        return false;
    }

    [[nodiscard]] bool at_eof() const { return i_ >= in_.size(); }

    /// The current byte, or -1 at the end (Python's _EOF).
    [[nodiscard]] int current() const {
        return at_eof() ? -1 : static_cast<unsigned char>(in_[i_]);
    }

    /// The whole UTF-8 character at `i_`, for "received: 'x'".
    [[nodiscard]] std::string current_char() const {
        size_t len = 1;
        while (i_ + len < in_.size() &&
               (static_cast<unsigned char>(in_[i_ + len]) & 0xC0U) == 0x80U) {
            ++len;
        }
        return std::string(in_.substr(i_, len));
    }

    bool syntax_error(std::string_view expected, std::string_view actual, size_t index) {
        error_ = "Expected: '" + std::string(expected) + "', received: '" + std::string(actual) +
                 "' for input:\n" + error_location(in_, index);
        return false;
    }

    void consume_whitespace() {
        while (!at_eof() && is_ws(current())) {
            ++i_;
        }
    }

    bool expect(char ch, bool consume_ws = false) {
        if (consume_ws) {
            consume_whitespace();
        }
        if (at_eof()) {
            return syntax_error(std::string(1, ch), "EOF", i_);
        }
        if (current() != static_cast<unsigned char>(ch)) {
            return syntax_error(std::string(1, ch), current_char(), i_);
        }
        ++i_;
        if (consume_ws) {
            consume_whitespace();
        }
        return true;
    }

    // parameter = keyval *("," keyval)
    bool parameter(Json& params) {
        std::string key;
        Json val;
        if (!keyval(key, val)) {
            return false;
        }
        params[key] = std::move(val);
        size_t last_index = i_;
        while (i_ < in_.size()) {
            if (!expect(',', true) || !keyval(key, val)) {
                return false;
            }
            if (params.contains(key)) {
                error_ = "Second instance of key \"" + key + "\" encountered for input:\n" +
                         error_location(in_, last_index + 1) +
                         "\nThis is often because there is a preceding \",\" instead of a space.";
                return false;
            }
            params[key] = std::move(val);
            last_index = i_;
        }
        return true;
    }

    // keyval = key "=" [values]
    bool keyval(std::string& key, Json& val) {
        key = parse_key();
        return expect('=', true) && values(val);
    }

    std::string parse_key() {
        const size_t start = i_;
        while (!at_eof() && is_key_char(current())) {
            ++i_;
        }
        return std::string(in_.substr(start, i_ - start));
    }

    // values = csv-list / explicit-list / hash-literal
    bool values(Json& out) {
        if (at_eof()) {
            out = "";
            return true;
        }
        if (current() == '[') {
            return explicit_list(out);
        }
        if (current() == '{') {
            return hash_literal(out);
        }
        return csv_value(out);
    }

    // foo=bar -> "bar"; foo=bar,baz -> ["bar", "baz"]; foo=a,b,c=d: backtrack to the comma
    // before "c" (the second value "c" is followed by '=', so it was the next key).
    bool csv_value(Json& out) {
        Json first;
        if (!first_value(first)) {
            return false;
        }
        consume_whitespace();
        if (at_eof() || current() != ',') {
            out = std::move(first);
            return true;
        }
        if (!expect(',', true)) {
            return false;
        }
        Json list = Json::array({first});
        while (true) {
            Json next;
            if (!second_value(next)) {
                if (at_eof()) {
                    return false;
                }
                backtrack_to(',');
                break;
            }
            consume_whitespace();
            if (at_eof()) {
                list.push_back(std::move(next));
                break;
            }
            if (!expect(',', true)) {
                if (at_eof()) {
                    return false;
                }
                backtrack_to(',');
                break;
            }
            list.push_back(std::move(next));
        }
        error_.clear();
        out = list.size() == 1 ? std::move(first) : std::move(list);
        return true;
    }

    void backtrack_to(char ch) {
        while (i_ > 0 && (i_ >= in_.size() || in_[i_] != ch)) {
            --i_;
        }
    }

    /// `(\\,|[start])(\\,|[follow])*` at i_; the matched text (empty when nothing matches).
    std::string_view match_word(bool (*follow)(int)) {
        const size_t start = i_;
        size_t j = i_;
        bool first = true;
        while (j < in_.size()) {
            const auto c = static_cast<unsigned char>(in_[j]);
            if (c == '\\' && j + 1 < in_.size() && in_[j + 1] == ',') {
                j += 2;
            } else if (first ? is_start_word(c) : follow(c)) {
                ++j;
            } else {
                break;
            }
            first = false;
        }
        i_ = j;
        return in_.substr(start, j - start);
    }

    // first-value = value / single-quoted-val / double-quoted-val
    bool first_value(Json& out) {
        if (current() == '\'' || current() == '"') {
            return quoted(static_cast<char>(current()), out);
        }
        out = rstrip(replace_all(match_word(is_first_follow), "\\,", ","));
        return true;
    }

    bool second_value(Json& out) {
        if (current() == '\'' || current() == '"') {
            return quoted(static_cast<char>(current()), out);
        }
        const size_t start = i_;
        const std::string_view word = match_word(is_second_follow);
        if (word.empty()) {
            return syntax_error("<second>", "<none>", start);
        }
        out = rstrip(replace_all(word, "\\,", ","));
        return true;
    }

    /// `'(?:\\\\|\\'|[^'])*'` (or with '"'), matched as Python's backtracking regex does: an escape
    /// pair is preferred, and given up again when no closing quote follows.
    bool quoted(char q, Json& out) {
        const size_t start = i_;
        const size_t n = in_.size();
        // close[p]: where a body starting at p ends (the closing quote), or npos.
        std::vector<size_t> close(n + 1, std::string_view::npos);
        for (size_t p = n; p-- > start + 1;) {
            if (in_[p] == q) {
                close[p] = p;
            } else if (in_[p] == '\\' && p + 1 < n && (in_[p + 1] == '\\' || in_[p + 1] == q) &&
                       close[p + 2] != std::string_view::npos) {
                close[p] = close[p + 2];
            } else {
                close[p] = close[p + 1];
            }
        }
        const size_t end = start + 1 <= n ? close[start + 1] : std::string_view::npos;
        if (end == std::string_view::npos) {
            return syntax_error(q == '\'' ? "<singled quoted>" : "<double quoted>", "<none>",
                                start);
        }
        const std::string_view body = in_.substr(start + 1, end - start - 1);
        i_ = end + 1;
        out =
            replace_all(replace_all(body, std::string("\\") + q, std::string(1, q)), "\\\\", "\\");
        return true;
    }

    // explicit-list = "[" [value *("," value)] "]"
    bool explicit_list(Json& out) {
        if (!enter() || !expect('[', true)) {
            return false;
        }
        out = Json::array();
        while (current() != ']') {
            Json val;
            if (!explicit_values(val)) {
                return false;
            }
            out.push_back(std::move(val));
            consume_whitespace();
            if (current() != ']') {
                if (!expect(',')) {
                    return false;
                }
                consume_whitespace();
            }
        }
        --depth_;
        return expect(']');
    }

    bool explicit_values(Json& out) {
        if (current() == '[') {
            return explicit_list(out);
        }
        if (current() == '{') {
            return hash_literal(out);
        }
        return first_value(out);
    }

    // hash-literal = "{" keyval *("," keyval) "}"; a repeated key keeps the last value
    bool hash_literal(Json& out) {
        if (!enter() || !expect('{', true)) {
            return false;
        }
        out = Json::object();
        while (current() != '}') {
            const std::string key = parse_key();
            Json val;
            if (!expect('=', true) || !explicit_values(val)) {
                return false;
            }
            consume_whitespace();
            if (current() != '}') {
                if (!expect(',')) {
                    return false;
                }
                consume_whitespace();
            }
            out[key] = std::move(val);
        }
        --depth_;
        return expect('}');
    }
};

// NOLINTEND(misc-no-recursion)

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
    while (!s.empty() && is_py_space(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_py_space(static_cast<unsigned char>(s.back()))) {
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

size_t nesting_depth(const Json& v) {
    // Depth-first with an explicit stack of (value, its depth).
    size_t deepest = 0;
    std::vector<std::pair<const Json*, size_t>> todo{{&v, 0}};
    while (!todo.empty()) {
        const auto [j, depth] = todo.back();
        todo.pop_back();
        if (!j->is_array() && !j->is_object()) {
            continue;
        }
        deepest = std::max(deepest, depth + 1);
        for (const Json& child : *j) {
            todo.emplace_back(&child, depth + 1);
        }
    }
    return deepest;
}

ShorthandParse parse_shorthand(std::string_view text) {
    return ShorthandParser(text).parse();
}

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
    while (lead < value.size() && is_py_space(static_cast<unsigned char>(value[lead]))) {
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
