// Running a short command (process.hpp).
#include "util/process.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace horizon::util {

namespace {

constexpr size_t kMaxOutput = 64 * 1024;

void close_both(std::array<int, 2>& fds) {
    for (int& fd : fds) {
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
    }
}

/// Sends all of `data` to socket `fd` (EINTR retried); false when the reader went away. A
/// socket, not a pipe: MSG_NOSIGNAL spares the caller SIGPIPE without touching the process's
/// signal dispositions, which other threads share.
bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

} // namespace

std::vector<char*> exec_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    out.reserve(argv.size() + 1);
    for (const auto& a : argv) {
        out.push_back(const_cast<char*>(a.c_str())); // NOLINT: execvp's signature
    }
    out.push_back(nullptr);
    return out;
}

int run_command(const std::vector<std::string>& argv, std::string& output, std::string_view input) {
    output.clear();
    std::array<int, 2> out_fds{-1, -1};
    std::array<int, 2> in_fds{-1, -1};
    if (::pipe2(out_fds.data(), O_CLOEXEC) != 0 ||
        (!input.empty() &&
         ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_fds.data()) != 0)) {
        output = fmt::format("cannot make a pipe or socket pair: {}", std::strerror(errno));
        close_both(out_fds);
        return 127;
    }
    auto args = exec_argv(argv);
    const pid_t pid = ::fork();
    if (pid < 0) {
        output = fmt::format("cannot fork: {}", std::strerror(errno));
        close_both(out_fds);
        close_both(in_fds);
        return 127;
    }
    if (pid == 0) {
        ::dup2(out_fds[1], STDOUT_FILENO);
        ::dup2(out_fds[1], STDERR_FILENO);
        const int in = in_fds[0] >= 0 ? in_fds[0] : ::open("/dev/null", O_RDONLY);
        ::dup2(in, STDIN_FILENO);
        ::execvp(args[0], args.data());
        const std::string msg = fmt::format("cannot run {}: {}\n", argv[0], std::strerror(errno));
        (void)!::write(STDERR_FILENO, msg.data(), msg.size());
        ::_exit(127);
    }
    ::close(out_fds[1]);
    if (in_fds[1] >= 0) {
        ::close(in_fds[0]);
        (void)send_all(in_fds[1], input); // a child that stops reading has its say in `output`
        ::close(in_fds[1]);
    }
    std::array<char, 4096> buf{};
    ssize_t n = 0;
    while ((n = ::read(out_fds[0], buf.data(), buf.size())) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (output.size() < kMaxOutput) {
            output.append(buf.data(), static_cast<size_t>(n));
        }
    }
    ::close(out_fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace horizon::util
