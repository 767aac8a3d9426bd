// `horizonctl lab`: builds, shows, enters and removes the network-namespace lab.
#pragma once

#include <string>
#include <vector>

namespace horizon::lab {

/// Exit status: 0; 1 when the lab could not be built or a command failed; 2 for usage errors,
/// without root, or without network namespaces (one line on stderr says which).
int run_lab(const std::vector<std::string>& args);

} // namespace horizon::lab
