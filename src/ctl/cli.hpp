// horizonctl's command line, read as the AWS CLI v2 reads its own (argparse): global options
// anywhere, a command from the command table and its options, with argparse's usage errors.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/commands.hpp"
#include "ctl/failure.hpp"
#include "ctl/http_client.hpp"

namespace horizon::ctl {

struct Args {
    std::string endpoint_url; ///< "" = $HORIZON_ENDPOINT_URL, else kDefaultEndpoint
    std::string output = "json";
    HttpOptions http;
    bool help = false;
    bool version = false;
    const Command* command = nullptr; ///< set unless help or version
    Params params;                    ///< the command's options
};

inline constexpr std::string_view kDefaultEndpoint = "http://127.0.0.1:8053";

/// Reads the words after the program name into `a` (which may hold defaults from the
/// environment). A usage error (exit 252) in argparse's words: "the following arguments are
/// required: --name", "argument --name: expected one argument", "Unknown options: --bogus", ...
std::optional<Failure> parse_args(const std::vector<std::string>& words, Args& a);

/// `horizonctl --help`: the commands' lines from the command table between the fixed text.
std::string usage();

/// A number of seconds, >= 0 and finite ("1.5"); none otherwise.
std::optional<double> parse_seconds(std::string_view text);

} // namespace horizon::ctl
