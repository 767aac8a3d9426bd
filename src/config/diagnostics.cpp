// Diagnostics and the typed value readers shared by every TOML file horizon reads.
#include "config/diagnostics.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <tuple>

#include "config/duration.hpp"
#include "util/edit_distance.hpp"

namespace horizon::config {

std::string Diagnostic::to_string() const {
    return fmt::format("{}:{}:{}: error: {}", path, line, col, message);
}

void Diagnostics::error(toml::source_position at, std::string message) {
    list_.push_back(Diagnostic{path_, at.line, at.column, std::move(message)});
}

void Diagnostics::error(const toml::node& at, std::string message) {
    error(at.source().begin, std::move(message));
}

void Diagnostics::add(std::vector<Diagnostic> more) {
    list_.insert(list_.end(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
}

std::vector<Diagnostic> Diagnostics::take() {
    std::stable_sort(list_.begin(), list_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.line, a.col) < std::tie(b.line, b.col);
    });
    return std::move(list_);
}

std::optional<toml::table> parse_toml(Diagnostics& d, std::string_view text,
                                      const std::string& path) {
    try {
        return toml::parse(text, std::string_view(path));
    } catch (const toml::parse_error& e) {
        d.error(e.source().begin, std::string(e.description()));
        return std::nullopt;
    }
}

std::string escaped(std::string_view text) {
    std::string out;
    for (const char ch : text) {
        const auto byte = static_cast<unsigned char>(ch);
        if (byte < 0x20 || byte == 0x7f) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out += ch;
        }
    }
    return out;
}

std::string quoted(std::string_view text) {
    return "'" + escaped(text) + "'";
}

std::string same_as(std::string_view text, std::string_view first) {
    return text == first ? std::string() : fmt::format(" (same as {})", quoted(first));
}

char to_lower(char ch) {
    return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
}

bool is_alnum(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

namespace {

/// Lower case without '_' and '-': "publicAccessCidrs" and "public-access-cidrs" both match
/// "public_access_cidrs".
std::string folded(std::string_view key) {
    std::string out;
    for (const char ch : key) {
        if (ch != '_' && ch != '-') {
            out += to_lower(ch);
        }
    }
    return out;
}

} // namespace

std::string_view closest_key(std::string_view unknown, std::span<const std::string_view> known) {
    std::string_view best;
    size_t best_distance = 3; // at most two edits...
    if (unknown.size() < 4) {
        best_distance = 0; // ...and none for keys too short for a guess to mean anything
    }
    for (const auto name : known) {
        if (folded(unknown) == folded(name)) {
            return name;
        }
        const size_t distance = util::edit_distance(unknown, name);
        if (distance < best_distance) {
            best_distance = distance;
            best = name;
        }
    }
    return best;
}

void unknown_key(Diagnostics& d, const toml::key& key, std::string_view where,
                 std::span<const std::string_view> known) {
    std::string message = fmt::format("unknown key {} {}", quoted(key.str()), where);
    if (const auto guess = closest_key(key.str(), known); !guess.empty()) {
        message += fmt::format(" (did you mean '{}'?)", guess);
    }
    d.error(key.source().begin, std::move(message));
}

void check_keys(Diagnostics& d, const toml::table& table, std::string_view where,
                std::span<const std::string_view> known) {
    for (const auto& [key, node] : table) {
        if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
            unknown_key(d, key, where, known);
        }
    }
}

void require_key(Diagnostics& d, const toml::table& table, std::string_view key,
                 std::string_view where) {
    if (!table.contains(key)) {
        d.error(table, fmt::format("missing required key '{}' {}", key, where));
    }
}

std::optional<int64_t> read_integer(Diagnostics& d, std::string_view key, const toml::node& node,
                                    int64_t lo, int64_t hi) {
    const auto* value = node.as_integer();
    if (value == nullptr) {
        d.error(node, fmt::format("'{}' must be an integer", key));
        return std::nullopt;
    }
    const int64_t n = value->get();
    if (n < lo || n > hi) {
        d.error(node, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, n));
        return std::nullopt;
    }
    return n;
}

std::optional<double> read_number(Diagnostics& d, std::string_view key, const toml::node& node,
                                  double lo, double hi) {
    double v = 0;
    if (const auto* f = node.as_floating_point()) {
        v = f->get();
    } else if (const auto* i = node.as_integer()) {
        v = static_cast<double>(i->get());
    } else {
        d.error(node, fmt::format("'{}' must be a number", key));
        return std::nullopt;
    }
    if (!(v >= lo && v <= hi)) { // NaN fails both
        d.error(node, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, v));
        return std::nullopt;
    }
    return v;
}

std::optional<bool> read_boolean(Diagnostics& d, std::string_view key, const toml::node& node) {
    if (const auto* value = node.as_boolean()) {
        return value->get();
    }
    d.error(node, fmt::format("'{}' must be true or false", key));
    return std::nullopt;
}

const std::string* read_string(Diagnostics& d, std::string_view key, const toml::node& node) {
    const auto* value = node.as_string();
    if (value == nullptr) {
        d.error(node, fmt::format("'{}' must be a string", key));
        return nullptr;
    }
    return &value->get();
}

std::optional<std::vector<StringItem>> read_strings(Diagnostics& d, std::string_view key,
                                                    const toml::node& node) {
    const auto* array = node.as_array();
    const std::string message = fmt::format("'{}' must be an array of strings", key);
    if (array == nullptr) {
        d.error(node, message);
        return std::nullopt;
    }
    std::vector<StringItem> items;
    bool reported = false;
    for (const auto& element : *array) {
        if (const auto* s = element.as_string()) {
            items.push_back({s->get(), &element});
        } else if (!reported) {
            d.error(element, message);
            reported = true;
        }
    }
    return items;
}

std::vector<const toml::table*> read_tables(Diagnostics& d, std::string_view key,
                                            const toml::node& node, std::string_view header) {
    std::vector<const toml::table*> out;
    const std::string message =
        fmt::format("'{}' must be an array of tables ([[{}]])", key, header);
    const auto* array = node.as_array();
    if (array == nullptr) {
        d.error(node, node.is_table() ? fmt::format("'{}' must be an array of tables: write "
                                                    "[[{}]], not [{}]",
                                                    key, header, header)
                                      : message);
        return out;
    }
    for (const auto& element : *array) {
        if (const auto* table = element.as_table()) {
            out.push_back(table);
        } else {
            d.error(element, message);
        }
    }
    return out;
}

std::optional<std::chrono::milliseconds> read_duration(Diagnostics& d, std::string_view key,
                                                       const toml::node& node) {
    const auto* s = node.as_string();
    if (s == nullptr) {
        d.error(node, fmt::format("'{}' must be a duration string such as \"10s\"", key));
        return std::nullopt;
    }
    const auto duration = parse_duration(s->get());
    if (!duration) {
        d.error(node, fmt::format("invalid duration {} (expected e.g. \"500ms\", \"10s\", \"6m\", "
                                  "\"1h\")",
                                  quoted(s->get())));
    }
    return duration;
}

} // namespace horizon::config
