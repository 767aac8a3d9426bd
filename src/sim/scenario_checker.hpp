// The scenario loader's private parts, shared by scenario.cpp (the tables) and
// scenario_steps.cpp ([[step]]): the key and value readers with file:line:col diagnostics.
#pragma once

#include <fmt/format.h>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "sim/scenario.hpp"
#include "util/address.hpp"

namespace horizon::sim::detail {

/// horizond's durations ("90s"), or several of them run together, largest unit first ("7m30s",
/// "1h2m"): scenario times read better that way.
std::optional<Millis> parse_time(std::string_view text);

/// The shared readers of config/diagnostics.hpp on keys that may be absent (absent: nothing,
/// no error), plus the sim's own kinds of value: compound durations, IPv4 addresses and CIDRs.
class Checker : public config::Diagnostics {
public:
    using Diagnostics::Diagnostics;

    /// Unknown keys of `table` (not in `known`) are errors, with a guess when one is close.
    void keys(const toml::table& table, std::string_view where,
              std::initializer_list<std::string_view> known) {
        config::check_keys(*this, table, where, {known.begin(), known.size()});
    }

    /// Each of `keys` missing from `table` is an error.
    void require(const toml::table& table, std::string_view where,
                 std::initializer_list<std::string_view> keys) {
        for (const auto key : keys) {
            config::require_key(*this, table, key, where);
        }
    }

    const std::string* string(const toml::table& t, std::string_view key) {
        const toml::node* n = t.get(key);
        return n != nullptr ? config::read_string(*this, key, *n) : nullptr;
    }

    std::optional<int64_t> integer(const toml::table& t, std::string_view key, int64_t lo,
                                   int64_t hi) {
        const toml::node* n = t.get(key);
        return n != nullptr ? config::read_integer(*this, key, *n, lo, hi) : std::nullopt;
    }

    std::optional<double> number(const toml::table& t, std::string_view key, double lo, double hi) {
        const toml::node* n = t.get(key);
        return n != nullptr ? config::read_number(*this, key, *n, lo, hi) : std::nullopt;
    }

    std::optional<bool> boolean(const toml::table& t, std::string_view key) {
        const toml::node* n = t.get(key);
        return n != nullptr ? config::read_boolean(*this, key, *n) : std::nullopt;
    }

    /// An array of strings; each element with its node.
    std::vector<config::StringItem> strings(const toml::table& t, std::string_view key) {
        const toml::node* n = t.get(key);
        auto items = n != nullptr ? config::read_strings(*this, key, *n) : std::nullopt;
        return items.value_or(std::vector<config::StringItem>{});
    }

    /// The tables of an array of tables, written [[`header`]].
    std::vector<const toml::table*> tables(const toml::table& t, std::string_view key,
                                           std::string_view header) {
        const toml::node* n = t.get(key);
        return n != nullptr ? config::read_tables(*this, key, *n, header)
                            : std::vector<const toml::table*>{};
    }

    /// A duration string ("10s", "6m", "7m30s"); `positive` rejects "0s".
    std::optional<Millis> duration(const toml::table& t, std::string_view key, bool positive) {
        const std::string* s = string(t, key);
        if (s == nullptr) {
            return std::nullopt;
        }
        const auto d = parse_time(*s);
        if (!d || (positive && *d == 0) || *d > 366LL * 24 * 3'600'000) {
            error(*t.get(key), fmt::format("invalid duration '{}' for '{}' (expected whole numbers "
                                           "with units ms, s, m or h, e.g. \"90s\" or \"7m30s\"{})",
                                           *s, key, positive ? ", above zero" : ""));
            return std::nullopt;
        }
        return *d;
    }

    std::optional<util::IpAddress> address(const toml::table& t, std::string_view key,
                                           bool v4_only) {
        const std::string* s = string(t, key);
        if (s == nullptr) {
            return std::nullopt;
        }
        const auto ip = util::IpAddress::parse(*s);
        if (!ip || (v4_only && !ip->is_v4())) {
            error(*t.get(key), fmt::format("invalid {} '{}' (expected an IPv4 address)", key, *s));
            return std::nullopt;
        }
        return ip;
    }

    std::optional<util::Cidr> cidr(const toml::table& t, std::string_view key) {
        const std::string* s = string(t, key);
        if (s == nullptr) {
            return std::nullopt;
        }
        const auto c = util::Cidr::parse(*s);
        if (!c || !c->addr.is_v4()) {
            error(*t.get(key), fmt::format("invalid {} '{}' (expected an IPv4 CIDR with no host "
                                           "bits set, e.g. \"192.168.1.0/24\")",
                                           key, *s));
            return std::nullopt;
        }
        return c;
    }
};

/// Reads the [[step]] tables into `sc.steps` (scenario_steps.cpp).
void read_steps(Checker& c, const toml::table& root, Scenario& sc);

} // namespace horizon::sim::detail
