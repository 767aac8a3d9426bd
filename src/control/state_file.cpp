// The state file: where it lives, reading it back, and its directory's checks.
#include "control/state_file.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
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

std::unique_ptr<StateLock> StateLock::acquire(const std::string& dir, std::string& error) {
    const std::string path = (std::filesystem::path(dir) / "horizond.lock").string();
    // Read-only: a descriptor open for writing would keep the file system from being remounted
    // read-only (EBUSY), and flock(2) does not need one.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = "state directory " + dir + ": cannot open its lock file " + path + ": " +
                message_of(errno);
        return nullptr;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        std::string holder;
        char buf[32] = {};
        const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            holder = std::string(buf, static_cast<size_t>(n));
            holder.erase(holder.find_last_not_of(" \n") + 1);
        }
        ::close(fd);
        if (err != EWOULDBLOCK) {
            error = "state directory " + dir + ": cannot lock " + path + ": " + message_of(err);
            return nullptr;
        }
        error = "state directory " + dir + " is in use by another horizond (" +
                (holder.empty() ? std::string("pid unknown") : "pid " + holder) + ", holding " +
                path +
                "): two servers on one state directory would overwrite each other's "
                "changes; stop that one, or give this one its own --state-dir or [server] "
                "state_dir";
        return nullptr;
    }
    // Only the holder writes the file. Should this fail, the lock holds all the same; only a
    // second process's message lacks the pid.
    const std::string pid = std::to_string(::getpid()) + "\n";
    const int out = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (out >= 0) {
        (void)!::write(out, pid.data(), pid.size());
        ::close(out);
    }
    return std::unique_ptr<StateLock>(new StateLock(fd, path));
}

StateLock::~StateLock() {
    ::close(fd_);
}

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
    std::vector<std::string> removed;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        static constexpr std::string_view kPrefix = "state.json.tmp.";
        if (name.size() <= kPrefix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0 ||
            name.find_first_not_of("0123456789", kPrefix.size()) != std::string::npos) {
            continue;
        }
        std::error_code remove_ec;
        if (std::filesystem::remove(entry.path(), remove_ec)) {
            removed.push_back(name);
        }
    }
    return removed;
}

} // namespace horizon::control
