// Running a short command and collecting what it printed: the lab's `ip`/`nft`/`openssl` calls
// and horizond's nftables gate rules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace horizon::util {

/// `argv` as execvp(3) takes it: pointers into the strings, then a null. The strings must
/// outlive it.
std::vector<char*> exec_argv(const std::vector<std::string>& argv);

/// Runs `argv` (no shell, looked up in PATH), feeding it `input` on its standard input (closed
/// after it; /dev/null when empty), and waits. Returns 0 or its exit status, 128 + the signal
/// that ended it, or 127 when it cannot be run. Its stdout and stderr together land in `output`
/// (at most 64 KiB kept). The input is written before the output is read: meant for programs
/// that read all their input before they print (nft -f, openssl), not for a chatty filter.
int run_command(const std::vector<std::string>& argv, std::string& output,
                std::string_view input = {});

} // namespace horizon::util
