// How a horizonctl command ends when it fails: the AWS CLI v2's exit code and the message.
#pragma once

#include <string>
#include <string_view>

namespace horizon::ctl {

inline constexpr int kExitUsage = 252;   ///< the AWS CLI v2's code for bad usage or parameters
inline constexpr int kExitService = 254; ///< ... for an error returned by the service
inline constexpr int kExitOther = 255;   ///< ... for everything else (connection, waiter)

struct Failure {
    int code;
    std::string message; ///< printed on stderr after a blank line, as the AWS CLI does
};

/// What argparse prints before a usage error, as the AWS CLI's main parser does.
inline constexpr std::string_view kUsageHead =
    "usage: horizonctl [options] <command> [parameters]\n"
    "To see help text, you can run:\n\n"
    "  horizonctl --help\n\n";

/// A usage error (exit 252) worded as argparse's: kUsageHead, then "horizonctl: error: <message>".
inline Failure usage_error(const std::string& message) {
    return {kExitUsage, std::string(kUsageHead) + "horizonctl: error: " + message};
}

} // namespace horizon::ctl
