// The control plane's state on disk: where it lives, reading it, and replacing it atomically.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

/// The exclusive hold of one state directory: an flock(2) on "<dir>/horizond.lock", which holds
/// the holder's pid for the message a second process gives. Released when destroyed (or when the
/// process ends, however it ends: the kernel drops the lock, a stale file is harmless).
class StateLock {
public:
    /// Takes the lock; null with `error` naming the holder ("... in use by pid N ...") when
    /// another process has it, or why the file cannot be used.
    static std::unique_ptr<StateLock> acquire(const std::string& dir, std::string& error);
    ~StateLock();
    StateLock(const StateLock&) = delete;
    StateLock& operator=(const StateLock&) = delete;
    StateLock(StateLock&&) = delete;
    StateLock& operator=(StateLock&&) = delete;

    [[nodiscard]] const std::string& path() const { return path_; }

private:
    StateLock(int fd, std::string path)
        : fd_(fd)
        , path_(std::move(path)) {}

    int fd_;
    std::string path_;
};

/// Removes the temporary files ("state.json.tmp.<pid>") that a process killed mid-write left in
/// `dir`; call with the StateLock held, so that none belongs to a live writer. Returns the names
/// removed.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);

} // namespace horizon::control
