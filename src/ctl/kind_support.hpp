// Helpers shared by kind_inputs.cpp (reading docker's and kind's output) and kind_init.cpp
// (writing the lab's files); internal to src/ctl.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <yaml-cpp/yaml.h>

#include "ctl/kind_init.hpp"

namespace horizon::ctl::kind {

template <class T>
Parsed<T> failure(std::string where, std::string message, unsigned line = 0, unsigned col = 0) {
    Parsed<T> p;
    p.error = std::move(message);
    p.where = std::move(where);
    p.line = line;
    p.col = col;
    return p;
}

/// The 0-based yaml-cpp mark as 1-based line and column.
template <class T>
Parsed<T> yaml_failure(std::string where, const YAML::Mark& m, std::string message) {
    const bool known = m.line >= 0 && m.column >= 0;
    return failure<T>(std::move(where), std::move(message),
                      known ? static_cast<unsigned>(m.line) + 1 : 0,
                      known ? static_cast<unsigned>(m.column) + 1 : 0);
}

/// A TOML basic string (TOML 1.0 §String): quotes, backslashes and control characters escaped.
std::string toml_string(std::string_view s);

/// A mapping's scalar member as a string, "" when absent or not a scalar.
std::string scalar(const YAML::Node& map, const char* key);

/// The entry of a kubeconfig list (clusters, contexts, users) with this name; null if none.
YAML::Node named_entry(const YAML::Node& root, const char* list, const std::string& name);

} // namespace horizon::ctl::kind
