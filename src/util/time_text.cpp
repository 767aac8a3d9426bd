// Wall-clock time as text, through fmt's chrono formatting (no strftime buffers).
#include "util/time_text.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace horizon::util {

namespace {

/// The calendar fields of `t` in UTC, and the part of a second past them.
struct Utc {
    std::tm tm;
    std::chrono::microseconds fraction;
};

Utc utc(SystemTime t) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
    return {fmt::gmtime(std::chrono::system_clock::to_time_t(seconds)),
            std::chrono::duration_cast<std::chrono::microseconds>(t - seconds)};
}

} // namespace

std::string rfc3339(SystemTime t, SubSecond digits) {
    const auto [tm, fraction] = utc(t);
    switch (digits) {
    case SubSecond::None:
        break;
    case SubSecond::Millis:
        return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", tm, fraction.count() / 1000);
    case SubSecond::Micros:
        return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z", tm, fraction.count());
    }
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", tm);
}

std::string http_date(SystemTime t) {
    // fmt's %a and %b use the C locale's names, which are the ones RFC 9110 requires.
    return fmt::format("{:%a, %d %b %Y %H:%M:%S} GMT", utc(t).tm);
}

} // namespace horizon::util
