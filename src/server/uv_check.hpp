// Checked libuv calls: every uv_* result is looked at, and a failure names the call and the reason.
#pragma once

#include <fmt/format.h>
#include <stdexcept>
#include <string_view>

#include <spdlog/spdlog.h>
#include <uv.h>

namespace horizon::server {

/// For set-up calls (loop, handle and signal initialisation): a failure is a start-up error,
/// thrown so that horizond reports it and exits instead of serving half set up.
inline void uv_check(int rc, std::string_view what) {
    if (rc < 0) {
        throw std::runtime_error(
            fmt::format("{}: {} ({})", what, uv_strerror(rc), uv_err_name(rc)));
    }
}

/// For calls inside callbacks, which must not throw: a failure is logged; returns whether the
/// call succeeded, so that the caller can drop what depended on it.
inline bool uv_ok(int rc, std::string_view what) {
    if (rc < 0) {
        spdlog::warn("{}: {} ({})", what, uv_strerror(rc), uv_err_name(rc));
        return false;
    }
    return true;
}

} // namespace horizon::server
