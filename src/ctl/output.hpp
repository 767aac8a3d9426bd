// horizonctl's --output formats as the AWS CLI v2 prints them: json, text (awscli/text.py) and
// table (awscli/table.py and awscli/formatter.py's TableFormatter), byte for byte.
#pragma once

#include <string>
#include <string_view>

#include "ctl/shapes.hpp"

namespace horizon::ctl {

/// The values --output takes, in the order the AWS CLI's usage error lists them.
inline constexpr std::string_view kOutputFormats[] = {"json", "text", "table"};

/// --output text: one line per structure (its scalar members sorted by name, after the
/// upper-cased member name that holds it), nested structures and lists on the following lines.
std::string format_text(const Json& response);

/// --output table, `title` (the operation's name) on top, at most `width` columns wide: a section
/// with a single row is turned vertical when the table would be wider. "" for an empty response.
std::string format_table(const Json& response, const std::string& title, long width);

/// --output json: 4-space indent, UTF-8 as is; nothing for an empty response, as the AWS CLI.
std::string format_json(const Json& response);

/// The response in `output` (one of kOutputFormats; json otherwise); tables `width` wide.
std::string render(const Json& response, std::string_view output, const std::string& operation,
                   long width);

/// The terminal's width when stdout is one, else 80 (awscli's default when it cannot tell).
long terminal_width();

} // namespace horizon::ctl
