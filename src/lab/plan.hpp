// What `horizonctl lab up` does, as data (sans-I/O): the namespaces, the commands that wire them,
// the files it writes and the processes it starts. Tests read it; lab_command.cpp carries it out.
#pragma once

#include <string>
#include <vector>

#include "lab/lab_file.hpp"

namespace horizon::lab {

/// One command, run without a shell.
struct Step {
    std::vector<std::string> argv;
};

struct FileOut {
    std::string path;
    std::string content;
};

/// A long-lived process of the lab, started in namespace `ns` with `ip netns exec`.
struct Daemon {
    std::string name; ///< "horizond", "ipinfo", "relay", "kubelet@node1"; its pid file's name
    std::string ns;
    std::vector<std::string> argv;
    std::string comm; ///< the process name `ss -p` shows ("kubelet"); "" = argv[0]'s
};

/// Where the lab keeps its files (root only): /run/horizon-lab/<prefix without '-'>.
std::string run_dir(const LabSpec& lab);

/// The namespaces the lab makes, router first.
std::vector<std::string> namespaces(const LabSpec& lab);

/// The namespace of a host, of the control plane (horizond) and of the router.
std::string host_ns(const LabSpec& lab, const Host& h);
std::string eks_ns(const LabSpec& lab);
std::string router_ns(const LabSpec& lab);

/// The name of the nft table the lab loads in its namespaces ("hz-lab"), for status and tests.
std::string nft_table(const LabSpec& lab);

/// The AWS API's names in the lab: eks.<region>.amazonaws.com, ec2.<region>.amazonaws.com.
std::vector<std::string> aws_api_names(const LabSpec& lab);

/// The cluster's endpoint name, as horizond derives it.
std::string endpoint_name(const LabSpec& lab);

/// Where horizonctl finds the admin API on an operator or internet host: loopback in that host's
/// namespace, relayed to horizond's admin listener (the AWS CLI uses the AWS API names).
inline constexpr const char* kAwsEndpointUrl = "http://127.0.0.1:8053";

struct Programs {
    std::string horizond;   ///< path of horizond
    std::string horizonctl; ///< path of this program (the agents and helpers are its subcommands)
};

struct Plan {
    std::vector<std::string> namespaces;
    std::vector<Step> steps; ///< in order; any failure aborts `up` (then it cleans up)
    std::vector<FileOut> files;
    std::vector<Daemon> daemons;
};

Plan make_plan(const LabSpec& lab, const Programs& programs);

/// horizond's configuration for the lab (written to run_dir/horizond.toml).
std::string horizond_config(const LabSpec& lab);

} // namespace horizon::lab
