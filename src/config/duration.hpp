// Duration strings in the configuration: "500ms", "10s", "6m", "1h".
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace horizon::config {

/// Parses a whole non-negative number followed by exactly one unit (ms, s, m, h). Anything else
/// (a sign, a fraction, spaces, a missing or unknown unit, a compound such as "1m30s") and values
/// that overflow std::chrono::milliseconds give nullopt. Zero is accepted; callers that need a
/// positive duration check it themselves so they can say so.
inline std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    const auto unit_at = text.find_first_not_of("0123456789");
    if (unit_at == 0 || unit_at == std::string_view::npos) {
        return std::nullopt;
    }
    const auto unit = text.substr(unit_at);
    int64_t scale = 0;
    if (unit == "ms") {
        scale = 1;
    } else if (unit == "s") {
        scale = 1000;
    } else if (unit == "m") {
        scale = 60'000;
    } else if (unit == "h") {
        scale = 3'600'000;
    } else {
        return std::nullopt;
    }
    int64_t count = 0;
    const auto* end = text.data() + unit_at;
    const auto parsed = std::from_chars(text.data(), end, count);
    if (parsed.ec != std::errc{} || parsed.ptr != end ||
        count > std::numeric_limits<int64_t>::max() / scale) {
        return std::nullopt;
    }
    return std::chrono::milliseconds{count * scale};
}

} // namespace horizon::config
