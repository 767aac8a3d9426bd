// The little the lab needs from the system: running a command, starting a long-lived process in a
// network namespace, and running a function inside a namespace on its own thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "util/process.hpp"

namespace horizon::lab {

/// Commands the lab runs to completion (ip, nft, openssl): util::run_command.
using util::run_command;

/// Starts `argv` in namespace `ns` (through `ip netns exec`, so the namespace's
/// /etc/netns/<ns>/resolv.conf applies) in its own session, output appended to `log`. The pid,
/// or -1 with `error` set.
int spawn_in(const std::string& ns, const std::vector<std::string>& argv, const std::string& log,
             std::string& error);

/// True when process `pid` is alive (and not a zombie).
bool alive(int pid);

/// SIGTERM, up to `grace_ms` for it to go, then SIGKILL. True when it is gone.
bool stop_process(int pid, int grace_ms);

/// Runs `fn` on a new thread that has joined network namespace `ns` (setns(2) changes only the
/// calling thread). False with `error` set when the namespace cannot be entered.
bool in_netns(const std::string& ns, const std::function<void()>& fn, std::string& error);

/// Enters namespace `ns` for the calling thread (for a process's listeners). False, `error` set.
bool enter_netns(const std::string& ns, std::string& error);

/// The namespaces `ip netns list` knows.
std::vector<std::string> list_netns();

/// This program's own path (/proc/self/exe).
std::string self_path();

} // namespace horizon::lab
