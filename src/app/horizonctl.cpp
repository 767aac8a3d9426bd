// horizonctl: the AWS-CLI-shaped client of horizond's admin API (the EKS REST shapes), main().
//
// It speaks to horizond exactly as `aws eks ... --endpoint-url` does (same paths and bodies) and
// prints what the AWS CLI v2 prints: JSON in the EKS model's member order with 4-space indent and
// epoch timestamps as local ISO 8601, or AWS-style text/table output; errors as
// "An error occurred (<Type>) when calling the <Operation> operation: <message>". Exit status as
// the AWS CLI v2's: 0, 252 usage or parameter error, 254 service error, 255 anything else
// (connection, waiter failure). The pieces live in src/ctl (its README says where to start).
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ctl/cli.hpp"
#include "ctl/commands.hpp"
#include "ctl/failure.hpp"
#include "ctl/http_client.hpp"
#include "ctl/kind_command.hpp"
#include "ctl/output.hpp"
#include "ctl/shapes.hpp"
#include "ctl/waiter.hpp"
#include "lab/lab_command.hpp"

#ifndef HORIZON_VERSION
#define HORIZON_VERSION "0.0.0"
#endif

namespace {

namespace ctl = horizon::ctl;

int fail(const ctl::Failure& f) {
    std::cerr << "\n" << f.message << "\n";
    return f.code;
}

/// The defaults the AWS CLI would take from its configuration, from horizonctl's environment.
ctl::Args from_environment() {
    ctl::Args a;
    if (const char* env = std::getenv("HORIZON_TOKEN"); env != nullptr) {
        a.http.token = env;
    }
    if (const char* env = std::getenv("HORIZON_ENDPOINT_URL"); env != nullptr && *env != '\0') {
        a.endpoint_url = env;
    }
    return a;
}

int run(const std::vector<std::string>& words) {
    if (!words.empty() && words[0] == "kind") {
        return ctl::run_kind({words.begin() + 1, words.end()});
    }
    if (!words.empty() && words[0] == "lab") {
        return horizon::lab::run_lab({words.begin() + 1, words.end()});
    }
    ctl::Args a = from_environment();
    if (auto f = ctl::parse_args(words, a)) {
        return fail(*f);
    }
    if (a.help) {
        std::cout << ctl::usage();
        return 0;
    }
    if (a.version) {
        std::cout << "horizonctl " HORIZON_VERSION "\n";
        return 0;
    }
    const std::string endpoint =
        a.endpoint_url.empty() ? std::string(ctl::kDefaultEndpoint) : a.endpoint_url;
    std::string why;
    auto url = ctl::parse_url(endpoint, why);
    if (!url) {
        return fail({ctl::kExitUsage, "Bad value for --endpoint-url \"" + endpoint + "\": " + why});
    }
    const ctl::Command& cmd = *a.command;
    const auto built = cmd.request(a.params);
    if (const auto* f = std::get_if<ctl::Failure>(&built)) {
        return fail(*f);
    }
    const ctl::Request& request = std::get<ctl::Request>(built);
    ctl::HttpClient api(*url, a.http);
    if (!cmd.waiter.empty()) {
        const auto f = ctl::wait_update(api, a.params, request.path);
        return f ? fail(*f) : 0;
    }
    auto result = api.call(request.method, request.path, request.body);
    if (const auto* f = std::get_if<ctl::Failure>(&result)) {
        return fail(*f);
    }
    const ctl::Reply& r = std::get<ctl::Reply>(result);
    const std::string operation(cmd.operation);
    if (!r.error.empty()) {
        return fail(ctl::service_error(r, operation));
    }
    const ctl::Json shaped = ctl::reshape(r.body, *cmd.shape);
    std::cout << ctl::render(shaped, a.output, operation, ctl::terminal_width()) << std::flush;
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const std::exception& e) {
        std::cerr << "\nhorizonctl: " << e.what() << "\n";
        return ctl::kExitOther;
    }
}
