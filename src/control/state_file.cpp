// The state file: where it lives, reading it back, and its directory's checks.
#include "control/state_file.hpp"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include "util/file.hpp"

namespace horizon::control {

namespace {

std::string message_of(int err) {
    return std::generic_category().message(err);
}

/// A state file is a few kB per cluster; this bounds what a wrong path can make us read.
constexpr size_t kMaxStateBytes = size_t{256} << 20;

} // namespace

std::string state_file_path(const std::string& dir) {
    return (std::filesystem::path(dir) / "state.json").string();
}

bool read_state_file(const std::string& path, nlohmann::json& out, std::string& error) {
    out = nullptr;
    const auto file = util::read_file(path, kMaxStateBytes);
    if (file.error == ENOENT) {
        return true;
    }
    if (!file.ok()) {
        error = "cannot read " + path + ": " + file.reason(); // EISDIR for a directory
        return false;
    }
    try {
        out = nlohmann::json::parse(file.text);
    } catch (const nlohmann::json::parse_error& e) {
        error = path + ": not valid JSON: " + e.what();
        out = nullptr;
        return false;
    }
    return true;
}

std::string default_state_dir(bool root, const char* xdg_state_home, const char* home) {
    if (root) {
        return "/var/lib/horizon";
    }
    // XDG Base Directory spec: a relative $XDG_STATE_HOME is invalid and must be ignored.
    if (xdg_state_home != nullptr && xdg_state_home[0] == '/') {
        return std::string(xdg_state_home) + "/horizon";
    }
    if (home != nullptr && home[0] != '\0') {
        return std::string(home) + "/.local/state/horizon";
    }
    return "";
}

std::string resolve_state_dir(const std::string& configured) {
    if (!configured.empty()) {
        return configured;
    }
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once at start-up, before threads start
    return default_state_dir(::geteuid() == 0, std::getenv("XDG_STATE_HOME"), std::getenv("HOME"));
}

bool prepare_state_dir(const std::string& dir, bool create, std::string& error) {
    const std::string where = "state directory " + dir + ": ";
    if (dir.empty()) {
        error = "no state directory: set [server] state_dir (or HOME)";
        return false;
    }
    if (create) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            error = where + "cannot create it: " + ec.message();
            return false;
        }
    }

    struct stat st {};

    if (::stat(dir.c_str(), &st) != 0) {
        error = where + message_of(errno);
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        error = where + "not a directory";
        return false;
    }
    // access(2) also reports a read-only file system (EROFS), which root would otherwise pass.
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        error = where + "not writable: " + message_of(errno);
        return false;
    }
    return true;
}

} // namespace horizon::control
