// The schema machinery: a section is a table of KeySpecs (name, required or not, reader), so
// adding a key is one line; and the reader templates that fill one struct member each.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <fmt/format.h>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config/diagnostics.hpp"
#include "util/address.hpp"

namespace horizon::config {

enum class Presence : uint8_t { Optional, Required };

/// Reads one key's value into `out`, reporting what is wrong with it. `key` names it in messages.
template <typename T>
using Reader = void (*)(Diagnostics& d, std::string_view key, const toml::node& node, T& out);

template <typename T>
struct KeySpec {
    std::string_view name;
    Presence presence = Presence::Optional;
    Reader<T> read = nullptr;
};

/// Reads every key of `table` with its spec; `where` ("in [server]", "at top level") places the
/// section in messages. A key not in `keys` is an error: a typo must never pass silently.
template <typename T>
void read_section(Diagnostics& d, const toml::table& table, std::string_view where,
                  std::span<const KeySpec<T>> keys, T& out) {
    for (const auto& [key, node] : table) {
        const std::string_view name = key.str(); // clang 14 cannot capture a structured binding
        const auto spec = std::find_if(keys.begin(), keys.end(),
                                       [&](const KeySpec<T>& s) { return s.name == name; });
        if (spec != keys.end()) {
            spec->read(d, spec->name, node, out);
            continue;
        }
        std::vector<std::string_view> names;
        std::transform(keys.begin(), keys.end(), std::back_inserter(names),
                       [](const KeySpec<T>& s) { return s.name; });
        unknown_key(d, key, where, names);
    }
    for (const auto& spec : keys) {
        if (spec.presence == Presence::Required) {
            require_key(d, table, spec.name, where);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Readers of one member, for KeySpec tables: `integer<&ServerConfig::workers, 0, 256>`.

template <auto Member, int64_t Lo, int64_t Hi, typename T>
void integer(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    if (const auto n = read_integer(d, key, node, Lo, Hi)) {
        out.*Member = static_cast<std::remove_cvref_t<decltype(out.*Member)>>(*n);
    }
}

template <auto Member, typename T>
void boolean(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    if (const auto value = read_boolean(d, key, node)) {
        out.*Member = *value;
    }
}

/// Any string, kept as written.
template <auto Member, typename T>
void plain_string(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    if (const auto* s = read_string(d, key, node)) {
        out.*Member = *s;
    }
}

/// What is wrong with a string sent as one DNS TXT character-string (at most 255 bytes, RFC 1035
/// §3.3), or "".
std::string txt_string_problem(std::string_view key, const std::string& text);

template <auto Member, typename T>
void txt_string(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    if (const auto* s = read_string(d, key, node)) {
        if (auto problem = txt_string_problem(key, *s); !problem.empty()) {
            d.error(node, std::move(problem));
        } else {
            out.*Member = *s;
        }
    }
}

template <typename V>
struct Choice {
    std::string_view text;
    V value;
};

/// "\"a\", \"b\" or \"c\"", the choices as a message lists them.
std::string choice_list(std::span<const std::string_view> texts);

/// One of a fixed set of strings, e.g. access_mode.
template <auto Member, const auto& Choices, typename T>
void choice(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    std::vector<std::string_view> texts;
    for (const auto& c : Choices) {
        if (c.text == *s) {
            out.*Member = c.value;
            return;
        }
        texts.push_back(c.text);
    }
    d.error(node, fmt::format("invalid {} {} (expected {})", key, quoted(*s), choice_list(texts)));
}

/// A duration string from zero up to `max` (nullopt after reporting), with `rule` ("greater than
/// zero and at most \"1h\"") in the message when out of range: a zero duration is refused when
/// `positive`.
std::optional<std::chrono::milliseconds> read_duration_in(Diagnostics& d, std::string_view key,
                                                          const toml::node& node, bool positive,
                                                          std::chrono::milliseconds max,
                                                          std::string_view rule);

/// A duration string that must be greater than zero.
template <auto Member, typename T>
void positive_duration(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    const auto duration = read_duration(d, key, node);
    if (!duration) {
        return;
    }
    if (duration->count() == 0) {
        d.error(node, fmt::format("'{}' must be greater than zero", key));
    } else {
        out.*Member = *duration;
    }
}

/// A duration string from zero up to `MaxHours` hours.
template <auto Member, int64_t MaxHours, typename T>
void bounded_duration(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    const auto rule = fmt::format("at most \"{}h\"", MaxHours);
    if (const auto duration =
            read_duration_in(d, key, node, false, std::chrono::hours(MaxHours), rule)) {
        out.*Member = *duration;
    }
}

enum class Empty : uint8_t { Allowed, Rejected };

/// A list of CIDRs with no host bits set, appended to `out`; a wrong one names the network meant.
void read_cidrs(Diagnostics& d, std::string_view key, const toml::node& node, Empty if_empty,
                std::vector<util::Cidr>& out);

template <auto Member, Empty IfEmpty, typename T>
void cidrs(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    read_cidrs(d, key, node, IfEmpty, out.*Member);
}

/// A non-empty list of distinct IP addresses: they become one A/AAAA RRset, and an RRset holds
/// no duplicate records (RFC 2181 §5).
void read_ip_addresses(Diagnostics& d, std::string_view key, const toml::node& node,
                       std::vector<util::IpAddress>& out);

template <auto Member, typename T>
void ip_addresses(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    read_ip_addresses(d, key, node, out.*Member);
}

/// For keys whose checks depend on other keys (read by the section's finish step), and keys
/// another reader of the same table handles.
template <typename T>
void read_later(Diagnostics& /*d*/, std::string_view /*key*/, const toml::node& /*node*/,
                T& /*out*/) {}

} // namespace horizon::config
