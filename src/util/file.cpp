// Whole-file reads with a size bound, and atomic replacement of a file.
#include "util/file.hpp"

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace horizon::util {

namespace {

std::string message_of(int err) {
    return std::generic_category().message(err);
}

/// Closes `fd` on scope exit unless closed first.
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

/// The directory part of `path` ("." for a bare name), without <filesystem>.
std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

std::string FileText::reason() const {
    return message_of(error);
}

FileText read_file(const std::string& path, size_t limit) {
    FileText out;
    const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        out.error = errno;
        return out;
    }
    std::array<char, 65536> buffer{};
    while (true) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n == 0) {
            return out;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            out.error = errno;
            out.text.clear();
            return out;
        }
        out.text.append(buffer.data(), static_cast<size_t>(n));
        if (out.text.size() > limit) {
            out.error = EFBIG;
            out.text.clear();
            return out;
        }
    }
}

bool write_file_atomically(const std::string& path, const std::string& content, std::string& error,
                           unsigned mode) {
    // One fixed temporary name per process: a crash may leave it behind and the next write
    // reuses it, and two processes never interleave in one temporary file; the rename still
    // replaces `path` atomically.
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
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
        return fail("cannot set the permissions of " + tmp);
    }
    if (fd.close() != 0) {
        return fail("cannot close " + tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        return fail("cannot rename " + tmp + " to " + path);
    }
    // The rename itself is durable only once the directory is synced.
    const std::string dir = directory_of(path);
    const FileDescriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
        error =
            "wrote " + path + " but cannot sync its directory " + dir + ": " + message_of(errno);
        return false;
    }
    return true;
}

} // namespace horizon::util
