// `horizonctl wait update-successful`: botocore's UpdateSuccessful waiter over describe-update.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ctl/commands.hpp"
#include "ctl/failure.hpp"
#include "ctl/http_client.hpp"

namespace horizon::ctl {

/// "90", "90s", "500ms", "30m", "2h" in seconds; none if it is not such a duration.
std::optional<double> parse_duration(std::string_view text);

/// Polls `path` (describe-update's) every --delay (default 1s) until the update is Successful
/// (none: exit 0), Failed or Cancelled (botocore's failure acceptor text and the update's
/// errors), or --timeout (default 30m) has passed: a Failure with exit 255. Bad --timeout or
/// --delay values are usage errors (exit 252).
std::optional<Failure> wait_update(HttpClient& api, const Params& params, const std::string& path);

} // namespace horizon::ctl
