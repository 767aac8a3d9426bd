// The state file: atomic replacement (write, fsync, rename, fsync the directory) and reading.
#include "control/state_file.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace horizon::control {

namespace {

std::string message_of(int err) {
    return std::generic_category().message(err);
}

/// Closes `fd` on scope exit unless released.
class FileDescriptor {
public:
    explicit FileDescriptor(int fd)
        : fd_(fd) {}

    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    FileDescriptor(FileDescriptor&&) = delete;
    FileDescriptor& operator=(FileDescriptor&&) = delete;

    ~FileDescriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }

    [[nodiscard]] int get() const { return fd_; }

    /// close(2) with its result: a failed close can be the first report of a failed write.
    int close() {
        const int rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }

private:
    int fd_;
};

bool write_all(int fd, const std::string& content) {
    const char* data = content.data();
    size_t left = content.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, data, left);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data += n;
        left -= static_cast<size_t>(n);
    }
    return true;
}

} // namespace

bool write_file_atomically(const std::string& path, const std::string& content,
                           std::string& error) {
    // One fixed temporary name: a crash may leave it behind, and the next write reuses it.
    // Per process, so that two writers never interleave in one temporary file; the rename
    // still replaces `path` atomically.
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
        error = "cannot create " + tmp + ": " + message_of(errno);
        return false;
    }
    const auto fail = [&](const std::string& what) {
        const int err = errno;
        ::unlink(tmp.c_str());
        error = what + ": " + message_of(err);
        return false;
    };
    if (!write_all(fd.get(), content)) {
        return fail("cannot write " + tmp);
    }
    // The data must be on disk before the rename makes it the file; otherwise a crash can leave
    // the new name pointing at an empty file.
    if (::fsync(fd.get()) != 0) {
        return fail("cannot sync " + tmp);
    }
    if (fd.close() != 0) {
        return fail("cannot close " + tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        return fail("cannot rename " + tmp + " to " + path);
    }
    // The rename itself is durable only once the directory is synced.
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) {
        dir = ".";
    }
    FileDescriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
        error =
            "wrote " + path + " but cannot sync its directory " + dir + ": " + message_of(errno);
        return false;
    }
    return true;
}

std::string state_file_path(const std::string& dir) {
    return (std::filesystem::path(dir) / "state.json").string();
}

bool read_state_file(const std::string& path, nlohmann::json& out, std::string& error) {
    out = nullptr;
    const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) {
            return true;
        }
        error = "cannot read " + path + ": " + message_of(errno);
        return false;
    }
    std::string text;
    std::array<char, 65536> buffer{};
    while (true) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n == 0) {
            break;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = "cannot read " + path + ": " + message_of(errno); // EISDIR for a directory
            return false;
        }
        text.append(buffer.data(), static_cast<size_t>(n));
    }
    try {
        out = nlohmann::json::parse(text);
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
