// `horizonctl kind init`: the command line and the files of a kind lab (kind_init.hpp makes
// their texts); talks to no horizond.
#pragma once

#include <string>
#include <vector>

namespace horizon::ctl {

/// Runs `horizonctl kind <args>`; prints on stdout and stderr; returns the exit status (0, 252
/// for usage and input errors, 255 when a file cannot be read or written).
int run_kind(const std::vector<std::string>& args);

} // namespace horizon::ctl
