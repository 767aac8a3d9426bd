// The AWS CLI's shorthand syntax (awscli/shorthand.py `ShorthandParser`, AWS CLI v2), with no
// model: the grammar, its error texts, and the helpers that count like Python.
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/shorthand.hpp"

namespace horizon::control {

namespace {

using Json = nlohmann::ordered_json;

// --- character classes of awscli/shorthand.py, on UTF-8 bytes: every non-ASCII byte counts as a
// word character (the Python classes take U+007C..U+FFFF; only astral characters differ).

/// Python's string.whitespace, which _consume_whitespace skips.
bool is_ws(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
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
    return is_python_space(c) || c >= 0x80 || c == '!' || in(c, '#', '&') || in(c, '(', '+') ||
           in(c, '-', '\\') || in(c, '^', '|') || in(c, '~', 0x7F);
}

/// _SECOND_FOLLOW_CHARS: `\s\!\#-&\(-\+\--\<\>-\uffff` (',' and '=' end a second value)
bool is_second_follow(int c) {
    return is_python_space(c) || c >= 0x80 || c == '!' || in(c, '#', '&') || in(c, '(', '+') ||
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
    while (!s.empty() && is_python_space(static_cast<unsigned char>(s.back()))) {
        s.pop_back();
    }
    return s;
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
} // namespace

bool is_python_space(int c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F);
}

size_t code_points(std::string_view s) {
    size_t n = 0;
    for (const char ch : s) {
        n += static_cast<size_t>((static_cast<unsigned char>(ch) & 0xC0U) != 0x80U);
    }
    return n;
}

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

} // namespace horizon::control
