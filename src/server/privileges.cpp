// Dropping root (setgroups/initgroups, setgid, setuid) and capabilities after binding.
#include "server/privileges.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <memory>
#include <pwd.h>
#include <string_view>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

#include <spdlog/spdlog.h>

namespace horizon::server {

namespace {

std::string errno_text(int e) {
    return std::strerror(e);
}

/// The process's capability sets (capget(2) without libcap).
struct Caps {
    std::array<__user_cap_data_struct, 2> data{};

    bool read() {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        return ::syscall(SYS_capget, &header, data.data()) == 0;
    }

    [[nodiscard]] bool any() const {
        return (data[0].permitted | data[1].permitted | data[0].effective | data[1].effective) != 0;
    }
};

/// Empties the permitted, effective and inheritable sets (the ambient set follows: it may only
/// hold what is permitted and inheritable).
bool clear_caps(std::string& error) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    std::array<__user_cap_data_struct, 2> none{};
    if (::syscall(SYS_capset, &header, none.data()) != 0) {
        error = "cannot drop capabilities: capset: " + errno_text(errno);
        return false;
    }
    return true;
}

/// A file horizond writes in its state directory: the state (and its temporary file while it
/// is replaced), the directory's lock, backups of dropped dormant state, and the API endpoints'
/// certificates and keys.
bool ours(std::string_view name) {
    const auto ends_with = [&](std::string_view tail) {
        return name.size() >= tail.size() && name.substr(name.size() - tail.size()) == tail;
    };
    return name == "state.json" || name.starts_with("state.json.tmp.") || name == "horizond.lock" ||
           (name.starts_with("state.dropped.") && ends_with(".json")) ||
           (name.starts_with("api-") && (ends_with(".crt") || ends_with(".key")));
}

/// Hands the state directory's files horizond writes (state.json, api-*.crt/.key) to the user,
/// who keeps writing them, and the directory itself when it holds nothing else. A directory
/// with other entries is not the user's to take: unless it is the user's already, refuse.
/// Nothing else in it changes hands; symbolic links are not followed.
bool hand_over(const std::string& dir, const std::string& user, uid_t uid, gid_t gid,
               std::string& error) {
    if (dir.empty()) {
        return true;
    }
    const std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) {
        error = "cannot read state directory " + dir + ": " + errno_text(errno);
        return false;
    }
    std::vector<std::string> mine;
    std::vector<std::string> others;
    while (const dirent* e = ::readdir(d.get())) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") {
            (ours(name) ? mine : others).push_back(name);
        }
    }

    struct stat st {};

    if (::fstat(::dirfd(d.get()), &st) != 0) {
        error = "cannot stat state directory " + dir + ": " + errno_text(errno);
        return false;
    }
    if (st.st_uid != uid) {
        if (!others.empty()) {
            std::sort(others.begin(), others.end());
            std::string listed;
            for (size_t i = 0; i < others.size() && i < 3; ++i) {
                listed += (i > 0 ? ", " : "") + others[i];
            }
            if (others.size() > 3) {
                listed += ", ...";
            }
            error = "state directory " + dir + " holds files horizond did not create (" + listed +
                    "); it will not hand them to user '" + user +
                    "': give horizond a directory of its own ([server] state_dir or "
                    "--state-dir), or make this one the user's (chown " +
                    user + " " + dir + ")";
            return false;
        }
        if (::fchown(::dirfd(d.get()), uid, gid) != 0) {
            error = "cannot hand state directory " + dir + " to the user: " + errno_text(errno);
            return false;
        }
    }
    for (const auto& name : mine) {
        if (::fchownat(::dirfd(d.get()), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
            error = "cannot hand " + dir + "/" + name + " to the user: " + errno_text(errno);
            return false;
        }
    }
    return true;
}

} // namespace

bool drop_privileges(const std::string& user, const std::string& state_dir, std::string& error) {
    // No set-user-ID program or file capability can give back what we drop (prctl(2)).
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        error = "prctl(PR_SET_NO_NEW_PRIVS): " + errno_text(errno);
        return false;
    }
    if (user.empty()) {
        if (::geteuid() == 0) {
            spdlog::warn("running as root; set [server] user to drop privileges after binding");
            return true;
        }
        Caps caps;
        if (caps.read() && caps.any()) { // e.g. CAP_NET_BIND_SERVICE: its work is done
            if (!clear_caps(error)) {
                return false;
            }
            spdlog::info("dropped capabilities after binding");
        }
        return true;
    }
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    const int err = ::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
        error = "cannot switch to user '" + user +
                "': " + (err == 0 ? std::string("no such user") : errno_text(err));
        return false;
    }
    if (::geteuid() != 0) {
        if (pw.pw_uid != ::geteuid()) {
            error = "cannot switch to user '" + user + "': not started as root";
            return false;
        }
        return drop_privileges("", state_dir, error); // already that user
    }
    if (!hand_over(state_dir, user, pw.pw_uid, pw.pw_gid, error)) {
        return false;
    }
    // Groups first, while we still may: the user's supplementary groups replace root's.
    if (::initgroups(pw.pw_name, pw.pw_gid) != 0) {
        error = "cannot switch to user '" + user + "': initgroups: " + errno_text(errno);
        return false;
    }
    if (::setgid(pw.pw_gid) != 0) {
        error = "cannot switch to user '" + user + "': setgid: " + errno_text(errno);
        return false;
    }
    // setuid from root to another uid clears every capability set (capabilities(7)).
    if (::setuid(pw.pw_uid) != 0) {
        error = "cannot switch to user '" + user + "': setuid: " + errno_text(errno);
        return false;
    }
    Caps caps;
    const bool regained = pw.pw_uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0);
    if (::getuid() != pw.pw_uid || ::geteuid() != pw.pw_uid || ::getgid() != pw.pw_gid ||
        ::getegid() != pw.pw_gid || regained || !caps.read() || (pw.pw_uid != 0 && caps.any())) {
        error = "switching to user '" + user + "' did not take: refusing to run";
        return false;
    }
    spdlog::info("running as user {} (uid {}, gid {})", user, pw.pw_uid, pw.pw_gid);
    return true;
}

} // namespace horizon::server
