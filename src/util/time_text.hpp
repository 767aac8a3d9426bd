// Wall-clock time as text: RFC 3339 timestamps and the HTTP date, always in UTC.
#pragma once

#include <chrono>
#include <string>

namespace horizon::util {

using SystemTime = std::chrono::system_clock::time_point;

/// How many digits of a second an RFC 3339 timestamp carries.
enum class SubSecond : uint8_t {
    None,   ///< "2024-05-01T12:00:00Z"
    Millis, ///< "2024-05-01T12:00:00.123Z"
    Micros, ///< "2024-05-01T12:00:00.123456Z" (what Kubernetes prints for MicroTime)
};

/// RFC 3339 §5.6 "date-time" in UTC with a "Z" offset; the fraction is truncated, not rounded.
std::string rfc3339(SystemTime t, SubSecond digits = SubSecond::None);

/// RFC 9110 §5.6.7 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(SystemTime t);

} // namespace horizon::util
