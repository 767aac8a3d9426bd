// The diagnostics of one load, printed compiler-style, and the typed TOML value readers that
// report what is wrong with a value at its file:line:col. Shared by horizond's loader and
// horizon-sim's scenario loader, so both say the same thing about the same mistake.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/diagnostic.hpp"

namespace horizon::config {

/// Collects the diagnostics of one load of the file `path`.
class Diagnostics {
public:
    explicit Diagnostics(std::string path)
        : path_(std::move(path)) {}

    void error(toml::source_position at, std::string message);
    void error(const toml::node& at, std::string message);
    /// Diagnostics found by another reader of the same file.
    void add(std::vector<Diagnostic> more);

    [[nodiscard]] bool empty() const { return list_.empty(); }

    /// In file order; errors at the same position keep the order they were found in.
    std::vector<Diagnostic> take();

private:
    std::string path_;
    std::vector<Diagnostic> list_;
};

/// Parses `text` as TOML (named `path` in positions); a syntax error is reported to `d` and
/// gives nullopt (toml++ stops at the first one, so it is reported alone).
std::optional<toml::table> parse_toml(Diagnostics& d, std::string_view text,
                                      const std::string& path);

// ---------------------------------------------------------------------------------------------
// Message text.

/// `text` with control characters escaped, so that one diagnostic stays one line.
std::string escaped(std::string_view text);

/// 'text', as user-supplied values appear in messages.
std::string quoted(std::string_view text);

/// " (same as 'first')" when a duplicate is written differently from the value it repeats.
std::string same_as(std::string_view text, std::string_view first);

char to_lower(char ch);
bool is_alnum(char ch);

/// The known key an unknown one most likely meant (the same key with other case, '_' or '-',
/// or the closest within two edits), or "" when none is close enough to guess.
std::string_view closest_key(std::string_view unknown, std::span<const std::string_view> known);

/// Reports an unknown key: "unknown key 'x' in [server] (did you mean 'y'?)".
void unknown_key(Diagnostics& d, const toml::key& key, std::string_view where,
                 std::span<const std::string_view> known);

/// Reports every key of `table` that is not in `known`: a typo must never pass silently.
void check_keys(Diagnostics& d, const toml::table& table, std::string_view where,
                std::span<const std::string_view> known);

/// Reports `key` missing from `table`: "missing required key 'name' in [[host]]".
void require_key(Diagnostics& d, const toml::table& table, std::string_view key,
                 std::string_view where);

// ---------------------------------------------------------------------------------------------
// Value readers: each reports what is wrong at the value and returns nothing then. `key` names
// the value in messages.

std::optional<int64_t> read_integer(Diagnostics& d, std::string_view key, const toml::node& node,
                                    int64_t lo, int64_t hi);

/// An integer or a float between `lo` and `hi`.
std::optional<double> read_number(Diagnostics& d, std::string_view key, const toml::node& node,
                                  double lo, double hi);

std::optional<bool> read_boolean(Diagnostics& d, std::string_view key, const toml::node& node);

const std::string* read_string(Diagnostics& d, std::string_view key, const toml::node& node);

struct StringItem {
    std::string_view text;
    const toml::node* node;
};

/// The strings of an array of strings. A non-array is an error; so is a non-string element,
/// reported once, at the first, while the strings around it are still returned for checking.
std::optional<std::vector<StringItem>> read_strings(Diagnostics& d, std::string_view key,
                                                    const toml::node& node);

/// The tables of an array of tables written as [[`header`]] ("zone", "resolver.forward"): a
/// single [header] table is an error that says so, and so is each element that is no table.
std::vector<const toml::table*> read_tables(Diagnostics& d, std::string_view key,
                                            const toml::node& node, std::string_view header);

/// A duration string such as "10s" (zero included; config/duration.hpp), or nullopt after
/// reporting why not.
std::optional<std::chrono::milliseconds> read_duration(Diagnostics& d, std::string_view key,
                                                       const toml::node& node);

} // namespace horizon::config
