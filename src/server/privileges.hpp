// Giving up privileges once every socket is bound: root switches to [server] user, and a process
// started with CAP_NET_BIND_SERVICE (systemd's AmbientCapabilities, a file capability) drops it.
#pragma once

#include <string>

namespace horizon::server {

/// Called after every listener is bound and before any worker serves. With `user` set and
/// running as root: hands the files horizond writes in `state_dir` (state.json, api-*.crt/.key)
/// to the user, and the directory if it holds nothing else (else refuses unless it is the
/// user's already), then initgroups, setgid,
/// setuid, and checks that root cannot be regained and no capability is left. With `user` set
/// and not root: only accepted if it names the current user. Without `user`: drops every
/// capability left (nothing needs one after binding). Always sets no_new_privs. Returns false
/// with `error` set when any step fails: the caller must not serve then.
bool drop_privileges(const std::string& user, const std::string& state_dir, std::string& error);

} // namespace horizon::server
