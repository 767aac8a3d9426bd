// What makes a DNS name in the configuration unusable: endpoints, forward zones, zone origins.
#include <algorithm>
#include <fmt/format.h>

#include "config/sections.hpp"

namespace horizon::config::detail {

namespace {

enum class Rules : uint8_t {
    HostName, ///< letters, digits and '-', not at either end of a label; two labels at least
    Zone,     ///< letters, digits, '-' and '_'; one label is enough
};

std::optional<std::string> name_problem(std::string_view name, Rules rules) {
    // RFC 1035 §3.1: 255 octets on the wire are 253 characters without the trailing dot.
    if (name.size() > 253) {
        return fmt::format("{} characters; a DNS name has at most 253", name.size());
    }
    const bool host = rules == Rules::HostName;
    size_t labels = 0;
    size_t start = 0;
    while (true) {
        const auto dot = name.find('.', start);
        const auto label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                            : dot - start);
        if (label.empty()) {
            return "empty label";
        }
        if (label.size() > 63) {
            return fmt::format("label {} is longer than 63 characters", quoted(label));
        }
        if (!std::all_of(label.begin(), label.end(), [host](char ch) {
                return is_alnum(ch) || ch == '-' || (!host && ch == '_');
            })) {
            return fmt::format("label {} may only contain letters, digits{}", quoted(label),
                               host ? " and '-'" : ", '-' and '_'");
        }
        if (host && (label.front() == '-' || label.back() == '-')) {
            return fmt::format("label {} starts or ends with '-'", quoted(label));
        }
        ++labels;
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    if (host && labels < 2) {
        return "a DNS name with at least two labels is needed, e.g. \"api.example.com\"";
    }
    return std::nullopt;
}

} // namespace

std::optional<std::string> dns_name_problem(std::string_view name) {
    return name_problem(name, Rules::HostName);
}

std::optional<std::string> zone_name_problem(std::string_view zone) {
    if (zone.empty()) {
        return "the root zone is forwarded by [resolver] upstreams";
    }
    return name_problem(zone, Rules::Zone);
}

std::string lower(std::string_view text) {
    std::string out;
    std::transform(text.begin(), text.end(), std::back_inserter(out), to_lower);
    return out;
}

} // namespace horizon::config::detail
