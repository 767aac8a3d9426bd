// One problem found while loading a file, printed compiler-style (path:line:col: error: ...).
#pragma once

#include <string>

namespace horizon::config {

struct Diagnostic {
    std::string path;
    unsigned line = 0;
    unsigned col = 0;
    std::string message;

    /// "path:line:col: error: message"
    [[nodiscard]] std::string to_string() const;
};

} // namespace horizon::config
