// horizonctl's command table: each command's name, its options, its help, the request it sends
// and the shape of the answer. Parsing (cli.cpp), --help, the HTTP call and the output all read
// it, so a command is described once.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ctl/failure.hpp"
#include "ctl/shapes.hpp"

namespace horizon::ctl {

/// A command's options as given ("--name" -> "aews"); the last occurrence wins.
using Params = std::map<std::string, std::string, std::less<>>;

/// One request to horizond's admin API (the paths of the EKS REST API).
struct Request {
    std::string method = "GET";
    std::string path; ///< below the endpoint URL, query included
    std::string body; ///< JSON, for a POST
};

struct Command {
    std::string_view name;      ///< as typed: "describe-cluster"
    std::string_view operation; ///< the API operation, in error messages and table titles
    std::vector<std::string_view> required;
    std::vector<std::string_view> optional;
    /// The waiter a `wait` command takes as its second word; "" for the other commands. A
    /// waiter polls `request`'s path (waiter.hpp) and prints nothing.
    std::string_view waiter;
    const Shape* shape; ///< the answer's model shape (output member order, timestamps)
    /// The request from the options, or the usage error (exit 252) they make.
    std::variant<Request, Failure> (*request)(const Params&);
    /// Its lines in `horizonctl --help`: "  name   options\n   more\n".
    std::string_view help;

    [[nodiscard]] bool takes(std::string_view option) const;
};

/// Every command, in the order of --help and of the "valid choices" of a usage error.
const std::vector<Command>& commands();

/// The command called `name`; nullptr if there is none.
const Command* find_command(std::string_view name);

/// EC2's request body for authorize/revoke-security-group-ingress from `aws ec2`'s simplified
/// options (--protocol, --port, --cidr, --description) or --security-group-rule-ids.
std::variant<Json, Failure> security_group_request(const Params& p);

/// A random UUID (RFC 4122 §4.4), as the AWS CLI sends for clientRequestToken.
std::string uuid4();

} // namespace horizon::ctl
