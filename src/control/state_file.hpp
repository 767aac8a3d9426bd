// The control plane's state on disk: where it lives, reading it, and replacing it atomically.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace horizon::control {

/// "<dir>/state.json".
std::string state_file_path(const std::string& dir);

/// Reads and parses the state file: true with `out` = null when it does not exist, true with the
/// JSON when it parses, false with `error` set otherwise (unreadable, not JSON).
bool read_state_file(const std::string& path, nlohmann::json& out, std::string& error);

/// The state directory: `configured` when not empty, else the default for this user
/// (default_state_dir with the process's euid and environment).
std::string resolve_state_dir(const std::string& configured);

/// The default state directory: /var/lib/horizon for root, else $XDG_STATE_HOME/horizon when
/// that is an absolute path (XDG Base Directory spec), else $HOME/.local/state/horizon; "" when
/// none applies (no HOME). Pure, for tests.
std::string default_state_dir(bool root, const char* xdg_state_home, const char* home);

/// Makes sure `dir` is a writable directory, creating it (and its parents) first when `create`
/// is true (for the default directory; a configured one that is missing is a mistake to report).
/// False with `error` set ("state directory /x: ...") otherwise.
bool prepare_state_dir(const std::string& dir, bool create, std::string& error);

} // namespace horizon::control
