// The UpdateSuccessful waiter: botocore's acceptors for update.status, polled with a deadline.
#include "ctl/waiter.hpp"

#include <chrono>
#include <cstdint>
#include <thread>

#include "control/shorthand.hpp"
#include "ctl/cli.hpp"

namespace horizon::ctl {

namespace {

constexpr std::string_view kWaiterFailed = "Waiter UpdateSuccessful failed: ";

/// botocore's message for a failure acceptor, then (our addition) the update's errors.
Failure terminal_failure(const std::string& status, const Json& update) {
    std::string msg = std::string(kWaiterFailed) +
                      "Waiter encountered a terminal failure state: For expression "
                      "\"update.status\" we matched expected path: \"" +
                      status + "\"";
    const auto errors = update.find("errors");
    if (errors != update.end() && errors->is_array()) {
        for (const Json& e : *errors) {
            if (e.is_object()) {
                msg += "\n  " + control::python_str(e.value("errorCode", Json("?"))) + ": " +
                       control::python_str(e.value("errorMessage", Json("")));
            }
        }
    }
    return {kExitOther, msg};
}

std::optional<double> duration_param(const Params& p, const std::string& name,
                                     std::string_view fallback) {
    const auto it = p.find(name);
    return parse_duration(it == p.end() ? fallback : std::string_view(it->second));
}

} // namespace

std::optional<double> parse_duration(std::string_view text) {
    struct Unit {
        std::string_view suffix;
        double seconds;
    };

    for (const Unit u : {Unit{"ms", 0.001}, Unit{"s", 1}, Unit{"m", 60}, Unit{"h", 3600}}) {
        if (text.size() > u.suffix.size() && text.ends_with(u.suffix)) {
            const auto v = parse_seconds(text.substr(0, text.size() - u.suffix.size()));
            return v ? std::optional<double>(*v * u.seconds) : std::nullopt;
        }
    }
    return parse_seconds(text);
}

std::optional<Failure> wait_update(HttpClient& api, const Params& params, const std::string& path) {
    const auto timeout = duration_param(params, "--timeout", "30m");
    const auto delay = duration_param(params, "--delay", "1s");
    if (!timeout) {
        return usage_error("argument --timeout: invalid duration '" + params.at("--timeout") +
                           "' (e.g. 90s, 30m, 1h)");
    }
    if (!delay || *delay <= 0) {
        return usage_error("argument --delay: invalid duration '" + params.at("--delay") +
                           "' (e.g. 1s, 500ms)");
    }
    const auto to_micros = [](double secs) {
        return std::chrono::microseconds(static_cast<int64_t>(secs * 1e6));
    };
    const auto deadline = std::chrono::steady_clock::now() + to_micros(*timeout);
    while (true) {
        auto result = api.call("GET", path);
        if (auto* f = std::get_if<Failure>(&result)) {
            return *f;
        }
        const Reply& r = std::get<Reply>(result);
        if (!r.error.empty()) {
            return Failure{kExitOther, std::string(kWaiterFailed) + "An error occurred (" +
                                           r.error + "): " + r.message};
        }
        const Json update = r.body.value("update", Json::object());
        const Json status = update.is_object() ? update.value("status", Json("")) : Json("");
        if (status == "Successful") {
            return std::nullopt;
        }
        if (status == "Failed" || status == "Cancelled") {
            return terminal_failure(status.get<std::string>(), update);
        }
        const auto next = std::chrono::steady_clock::now() + to_micros(*delay);
        if (next > deadline) {
            return Failure{kExitOther, std::string(kWaiterFailed) + "Max attempts exceeded"};
        }
        std::this_thread::sleep_until(next);
    }
}

} // namespace horizon::ctl
