// horizonctl's command line, parsed as the AWS CLI v2's argparse does: options anywhere, `--opt
// value` or `--opt=value`, a value never starting with "--", the command and its options from the
// command table, and argparse's usage errors word for word (users and tests/system/
// test_control.py rely on them).
//
// A small hand parser, not CLI11 (libcli11-dev 2.1.2): on these command lines CLI11 differs from
// argparse where it matters. It takes the next word as a value even when it starts with "--"
// (`--name --output json`: argparse says "argument --name: expected one argument"); `--name=`
// makes it take the next word instead of ""; it rejects a repeated option (argparse: the last
// wins) and `--flag=x`; and it throws at the first problem with its own words ("--name: 1
// required TEXT missing"), where argparse names the invalid choice, lists every missing option in
// one message and reports unknown options last. Working around each would leave CLI11 only the
// splitting of words, which is the 40 lines of split_words.
#include "ctl/cli.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <utility>

namespace horizon::ctl {

namespace {

constexpr std::string_view kUsageIntro = R"(usage: horizonctl [options] <command> [parameters]

The AWS-CLI-shaped client of horizond's admin API. The commands and their output are those of
`aws eks` (which also works against horizond with --endpoint-url and dummy credentials).

commands:
)";

constexpr std::string_view kUsageOptions = R"(
  kind init               the files of a kind lab (horizonctl kind --help); no horizond needed
  kind doctor             what the host, each node and a pod of a kind lab get, and why

options (anywhere on the line):
  --endpoint-url URL      horizond's admin_listen (default http://127.0.0.1:8053, or
                          $HORIZON_ENDPOINT_URL)
  --output json|text|table   (default json)
  --token TOKEN           bearer token for mutating requests on a non-loopback admin address
                          (default $HORIZON_TOKEN)
  --cli-connect-timeout S, --cli-read-timeout S   seconds, 0 = none (default 60 each)
  --ca-bundle FILE, --no-verify-ssl   for an https:// endpoint
  --debug                 log each request and response on stderr
  --region R, --profile P, --no-cli-pager   accepted and ignored, so that AWS CLI lines paste
  --help, --version

exit status: 0; 252 bad usage or parameters; 254 error from horizond (EKS error types such as
InvalidParameterException, ResourceInUseException, ResourceNotFoundException, EC2's such as
InvalidPermission.Duplicate); 255 connection failure or a failed wait.
)";

constexpr std::array<std::string_view, 8> kGlobalOptions{
    "--endpoint-url",     "--output", "--token",   "--cli-connect-timeout",
    "--cli-read-timeout", "--region", "--profile", "--ca-bundle"};

/// Every option that takes a value, global or of some command, once each, in table order.
std::vector<std::string> value_options() {
    std::vector<std::string> names(kGlobalOptions.begin(), kGlobalOptions.end());
    for (const Command& c : commands()) {
        for (const auto* list : {&c.required, &c.optional}) {
            for (const std::string_view o : *list) {
                if (std::find(names.begin(), names.end(), o) == names.end()) {
                    names.emplace_back(o);
                }
            }
        }
    }
    return names;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& i : items) {
        if (!out.empty()) {
            out += ", ";
        }
        out += i;
    }
    return out;
}

/// The words of the command line, split into options with values, positionals and what is not
/// known at all.
struct Words {
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> options; ///< in command-line order
    std::vector<std::string> unknown;
};

constexpr std::array<std::string_view, 6> kFlags{
    "--debug", "--no-cli-pager", "--no-verify-ssl", "--help", "-h", "--version"};

std::optional<Failure> split_words(const std::vector<std::string>& argl, Args& a, Words& w) {
    const std::vector<std::string> valued = value_options();
    for (size_t i = 0; i < argl.size(); ++i) {
        const std::string& arg = argl[i];
        if (!arg.starts_with("-") || arg == "-") {
            w.positional.push_back(arg);
            continue;
        }
        if (std::find(kFlags.begin(), kFlags.end(), arg) != kFlags.end()) {
            a.http.debug |= arg == "--debug";
            a.http.verify_ssl &= arg != "--no-verify-ssl";
            a.help |= arg == "--help" || arg == "-h";
            a.version |= arg == "--version";
            continue;
        }
        const size_t eq = arg.starts_with("--") ? arg.find('=') : std::string::npos;
        const std::string name = arg.substr(0, eq);
        if (std::find(valued.begin(), valued.end(), name) == valued.end()) {
            w.unknown.push_back(arg); // as argparse: its value, if any, stays a stray word
            continue;
        }
        if (eq != std::string::npos) {
            w.options.emplace_back(name, arg.substr(eq + 1));
        } else if (i + 1 < argl.size() && !argl[i + 1].starts_with("--")) {
            w.options.emplace_back(name, argl[++i]);
        } else {
            return usage_error("argument " + name + ": expected one argument");
        }
    }
    return std::nullopt;
}

/// The command (and for `wait`, the waiter) from the positional words; the rest are unknown.
std::optional<Failure> pick_command(Args& a, Words& w) {
    if (w.positional.empty()) {
        return usage_error("the following arguments are required: command");
    }
    a.command = find_command(w.positional[0]);
    if (a.command == nullptr) {
        std::vector<std::string> valid;
        for (const Command& c : commands()) {
            valid.emplace_back(c.name);
        }
        return usage_error("argument command: Invalid choice '" + w.positional[0] +
                           "', valid choices are: " + joined(valid));
    }
    size_t used = 1;
    if (!a.command->waiter.empty()) {
        const std::string waiter(a.command->waiter);
        if (w.positional.size() < 2) {
            return usage_error("the following arguments are required: waiter (" + waiter + ")");
        }
        if (w.positional[1] != waiter) {
            return usage_error("argument waiter: Invalid choice '" + w.positional[1] +
                               "', valid choices are: " + waiter);
        }
        used = 2;
    }
    if (w.positional.size() > used && w.positional[used] == "help") {
        a.help = true; // `horizonctl describe-cluster help`, as `aws eks describe-cluster help`
    }
    w.unknown.insert(w.unknown.end(), w.positional.begin() + static_cast<ptrdiff_t>(used),
                     w.positional.end());
    return std::nullopt;
}

std::optional<Failure> apply_option(Args& a, Words& w, const std::string& name,
                                    const std::string& value) {
    if (name == "--endpoint-url") {
        a.endpoint_url = value;
    } else if (name == "--output") {
        if (value != "json" && value != "text" && value != "table") {
            return usage_error("argument --output: Invalid choice, valid choices are: json, text, "
                               "table");
        }
        a.output = value;
    } else if (name == "--token") {
        a.http.token = value;
    } else if (name == "--ca-bundle") {
        a.http.ca_bundle = value;
    } else if (name == "--cli-connect-timeout" || name == "--cli-read-timeout") {
        const auto secs = parse_seconds(value);
        if (!secs) {
            return usage_error("argument " + name + ": invalid number of seconds: '" + value + "'");
        }
        (name == "--cli-connect-timeout" ? a.http.connect_timeout : a.http.read_timeout) = *secs;
    } else if (name == "--region" || name == "--profile") {
        // accepted so that command lines written for the AWS CLI work; horizond has no regions
    } else if (a.command->takes(name)) {
        a.params[name] = value;
    } else {
        w.unknown.push_back(name); // another command's option
        w.unknown.push_back(value);
    }
    return std::nullopt;
}

} // namespace

std::optional<Failure> parse_args(const std::vector<std::string>& words, Args& a) {
    Words w;
    if (auto f = split_words(words, a, w)) {
        return f;
    }
    if (a.help || a.version || (!w.positional.empty() && w.positional[0] == "help")) {
        a.help |= !a.version;
        return std::nullopt;
    }
    if (auto f = pick_command(a, w)) {
        return f;
    }
    if (a.help) {
        return std::nullopt;
    }
    for (const auto& [name, value] : w.options) {
        if (auto f = apply_option(a, w, name, value)) {
            return f;
        }
    }
    std::vector<std::string> missing;
    for (const std::string_view r : a.command->required) {
        if (!a.params.contains(r)) {
            missing.emplace_back(r);
        }
    }
    if (!missing.empty()) {
        return usage_error("the following arguments are required: " + joined(missing));
    }
    if (!w.unknown.empty()) {
        return Failure{kExitUsage,
                       std::string(kUsageHead) + "Unknown options: " + joined(w.unknown)};
    }
    return std::nullopt;
}

std::string usage() {
    std::string out(kUsageIntro);
    for (const Command& c : commands()) {
        out += c.help;
    }
    return out + std::string(kUsageOptions);
}

std::optional<double> parse_seconds(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    const std::string s(text);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0' || !(v >= 0) || std::isinf(v)) {
        return std::nullopt;
    }
    return v;
}

} // namespace horizon::ctl
