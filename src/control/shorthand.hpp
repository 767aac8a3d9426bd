// The AWS CLI's parameter syntax for --resources-vpc-config: shorthand or JSON, with its messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace horizon::control {

/// Values nested deeper than this (lists and maps in shorthand, arrays and objects in JSON) are
/// refused, so that nothing recursing over a parsed value can run out of stack.
inline constexpr size_t kMaxNesting = 64;

/// How deeply arrays and objects nest in `v` (a scalar: 0, `[]`: 1), without recursion.
size_t nesting_depth(const nlohmann::ordered_json& v);

/// A parsed parameter value, or the message the AWS CLI prints for it. The AWS CLI exits 252 for
/// either kind of error; `kind` says which of its two texts `message` is.
// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann's moves do not throw
struct ParamResult {
    enum class Kind : uint8_t {
        Ok,
        ParseError,      ///< "Error parsing parameter '--x': ..."
        ValidationError, ///< "Parameter validation failed:\n..."
    };
    Kind kind = Kind::Ok;
    nlohmann::ordered_json value; ///< valid when kind == Ok
    std::string message;          ///< the whole error text (no leading or trailing newline)

    [[nodiscard]] bool ok() const { return kind == Kind::Ok; }
};

/// The shorthand grammar alone (awscli/shorthand.py `ShorthandParser`), with no model:
///   `a=b,c=d` -> {"a":"b","c":"d"}; `a=b,c` -> {"a":["b","c"]}; `a=[b,c]`; `a={b=c}`;
///   'single' and "double" quoted values; `\,` for a literal comma.
/// Every scalar is a string. On a syntax error, `error` holds the AWS CLI's text (without the
/// "Error parsing parameter" prefix), e.g. "Expected: '=', received: 'EOF' for input:\n...".
struct ShorthandParse {
    std::optional<nlohmann::ordered_json> value;
    std::string error;
};

ShorthandParse parse_shorthand(std::string_view text);

/// The value of `update-cluster-config --resources-vpc-config` as the AWS CLI turns it into the
/// request's `resourcesVpcConfig` (the VpcConfigRequest shape of the EKS model):
/// - a value starting with `{` (after white space) is JSON, taken as written;
/// - anything else is shorthand: list members given one value become one-element lists, and
///   `true`/`false` (any case) become booleans;
/// - then the botocore checks: unknown members, and the type of each member.
///
/// One deliberate difference from the AWS CLI: a list member given one string that contains commas
/// (only possible as a quoted value, e.g. `publicAccessCidrs="203.0.113.5/32,198.51.100.0/24"` when
/// the shell keeps the quotes) is split at the commas. The AWS CLI would send that string as one
/// CIDR, which EKS rejects as invalid; no CIDR, subnet id or security group id contains a comma.
ParamResult parse_resources_vpc_config(std::string_view value,
                                       std::string_view cli_name = "--resources-vpc-config");

/// Python's `\s` (and str.strip()'s white space) on one ASCII byte: string.whitespace plus
/// U+001C..U+001F.
bool is_python_space(int c);

/// Code points in a UTF-8 string: Python's len(), the unit of its offsets and carets.
size_t code_points(std::string_view s);

/// How Python's `%s` shows a value in botocore's messages: `yes`, `True`, `None`, `['a', 'b']`.
std::string python_str(const nlohmann::ordered_json& v);

} // namespace horizon::control
