// The loader over an already parsed TOML table, for files that embed horizond's sections
// (horizon-sim's scenario writes one [[cluster]] as its [cluster] table).
#pragma once

#include <span>
#include <string_view>

#include "config/config.hpp"
#include "config/diagnostics.hpp"

namespace horizon::config {

/// Reads `table` with horizond's [[cluster]] keys and checks; `where` ("in [cluster]") places it
/// in messages. Keys listed in `extra` are skipped here (the caller reads them); any other
/// unknown key is an error as in `load`.
ClusterConfig read_cluster_table(Diagnostics& d, const toml::table& table, std::string_view where,
                                 std::span<const std::string_view> extra);

} // namespace horizon::config
