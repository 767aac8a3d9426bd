// The metrics time series: CSV rows (--metrics) and SVG charts drawn by gnuplot (--plot).
#pragma once

#include <string>
#include <vector>

#include "sim/simulation.hpp"

namespace horizon::sim {

inline constexpr const char* kSampleHeader =
    "t_s,ready,not_ready,unknown,tainted,leases_fresh,etcd_bytes_per_s,api_requests_per_s,"
    "dns_private,dns_public,dns_nxdomain,conns_public,conns_private,pods_evicted";

std::string sample_row(const Sample& s);

/// Writes DIR/metrics.csv, DIR/plot.gp and the charts (nodes.svg, load.svg, dns.svg) by running
/// gnuplot; false with `error` set when DIR cannot be written or gnuplot fails or is missing.
bool plot(const std::vector<Sample>& samples, const std::string& dir, const std::string& title,
          std::string& error);

} // namespace horizon::sim
