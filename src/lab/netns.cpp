// Commands, processes and namespaces for the lab (netns.hpp).
#include "lab/netns.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "util/file.hpp"
#include "util/process.hpp"

namespace horizon::lab {

int spawn_in(const std::string& ns, const std::vector<std::string>& argv, const std::string& log,
             std::string& error) {
    std::vector<std::string> full = {"ip", "netns", "exec", ns};
    full.insert(full.end(), argv.begin(), argv.end());
    auto args = util::exec_argv(full);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) {
        error = fmt::format("cannot open {}: {}", log, std::strerror(errno));
        return -1;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        error = fmt::format("cannot fork: {}", std::strerror(errno));
        ::close(out);
        return -1;
    }
    if (pid == 0) {
        ::setsid();
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
        const int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, STDIN_FILENO);
        ::execvp(args[0], args.data());
        const std::string msg = fmt::format("cannot run ip netns exec: {}\n", std::strerror(errno));
        (void)!::write(STDERR_FILENO, msg.data(), msg.size());
        ::_exit(127);
    }
    ::close(out);
    return pid;
}

bool alive(int pid) {
    if (pid <= 0) {
        return false;
    }
    // A child of ours that exited is reaped here, so it is not counted alive.
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
        return false;
    }
    const auto stat = util::read_file(fmt::format("/proc/{}/stat", pid), 4096);
    if (!stat.ok()) {
        return false;
    }
    const auto close_paren = stat.text.rfind(')');
    return close_paren != std::string::npos && close_paren + 2 < stat.text.size() &&
           stat.text[close_paren + 2] != 'Z';
}

bool stop_process(int pid, int grace_ms) {
    if (!alive(pid)) {
        return true;
    }
    ::kill(pid, SIGTERM);
    for (int waited = 0; waited < grace_ms; waited += 20) {
        if (!alive(pid)) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
    for (int waited = 0; waited < 2000; waited += 20) {
        if (!alive(pid)) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

bool enter_netns(const std::string& ns, std::string& error) {
    const std::string path = "/run/netns/" + ns;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
        return false;
    }
    const int rc = ::setns(fd, CLONE_NEWNET);
    const int err = errno;
    ::close(fd);
    if (rc != 0) {
        error = fmt::format("cannot enter network namespace {}: {}", ns, std::strerror(err));
        return false;
    }
    return true;
}

bool in_netns(const std::string& ns, const std::function<void()>& fn, std::string& error) {
    bool entered = false;
    std::thread t([&] {
        entered = enter_netns(ns, error);
        if (entered) {
            fn();
        }
    });
    t.join();
    return entered;
}

std::vector<std::string> list_netns() {
    std::vector<std::string> out;
    std::string text;
    if (run_command({"ip", "netns", "list"}, text) != 0) {
        return out;
    }
    size_t start = 0;
    while (start < text.size()) {
        const size_t end = text.find('\n', start);
        const std::string line = text.substr(start, end - start);
        const std::string name = line.substr(0, line.find(' '));
        if (!name.empty()) {
            out.push_back(name);
        }
        start = end == std::string::npos ? text.size() : end + 1;
    }
    return out;
}

std::string self_path() {
    std::array<char, 4096> buf{};
    const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string("horizonctl");
}

} // namespace horizon::lab
