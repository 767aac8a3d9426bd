// horizon-sim: runs a scenario of the EKS cluster behind the endpoint in virtual time.
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/duration.hpp"
#include "sim/live.hpp"
#include "sim/output.hpp"
#include "sim/plot.hpp"
#include "sim/scenario.hpp"
#include "sim/simulation.hpp"

namespace {

using namespace horizon;

constexpr int kExitUsage = 2;

void usage(std::FILE* out) {
    std::fputs("usage: horizon-sim run SCENARIO [--seed N] [--until T] [--format text|json]\n"
               "                        [--metrics FILE.csv] [--plot DIR] [--speed X]\n"
               "                        [--dns ADDR:PORT] [--control URL] [--token T]\n"
               "       horizon-sim check SCENARIO...\n"
               "       horizon-sim --help | --version\n"
               "\n"
               "run     simulate the scenario (config/scenarios/*.toml) and print its timeline\n"
               "check   validate scenarios: every error as file:line:col, exit 0 or 2\n"
               "--seed N         random seed (default: the scenario's [scenario] seed)\n"
               "--until T        stop at virtual time T (\"90s\", \"20m\", \"1h\")\n"
               "--format F       text (default) or json (one event per line)\n"
               "--metrics FILE   write the metrics time series as CSV\n"
               "--plot DIR       render the metrics as SVG charts with gnuplot into DIR\n"
               "--speed X        pace virtual time against the wall clock (1 = real time)\n"
               "--dns ADDR:PORT  ask a running horizond over UDP, the node's address as ECS\n"
               "--control URL    also apply updates through a running horizond's admin API\n",
               out);
}

int check(const std::vector<std::string>& files) {
    int rc = 0;
    for (const auto& f : files) {
        const auto result = sim::load_scenario_file(f);
        if (const auto* diags = std::get_if<std::vector<config::Diagnostic>>(&result)) {
            for (const auto& d : *diags) {
                std::fprintf(stderr, "%s\n", d.to_string().c_str());
            }
            rc = kExitUsage;
        } else {
            const auto& sc = std::get<sim::Scenario>(result);
            uint64_t nodes = 0;
            for (const auto& g : sc.groups) {
                nodes += g.nodes;
            }
            std::printf("%s: ok (%s: %llu nodes, %zu hosts, %zu steps, until %s)\n", f.c_str(),
                        sc.name.c_str(), static_cast<unsigned long long>(nodes), sc.hosts.size(),
                        sc.steps.size(), sim::clock_text(sc.until).c_str());
        }
    }
    return rc;
}

struct RunArgs {
    std::string scenario;
    std::optional<uint64_t> seed;
    std::optional<sim::Millis> until;
    bool json = false;
    std::string metrics;
    std::string plot;
    double speed = 0;
    std::string dns;
    std::string control;
    std::string token;
};

int run(const RunArgs& a) {
    const auto loaded = sim::load_scenario_file(a.scenario);
    if (const auto* diags = std::get_if<std::vector<config::Diagnostic>>(&loaded)) {
        for (const auto& d : *diags) {
            std::fprintf(stderr, "%s\n", d.to_string().c_str());
        }
        return kExitUsage;
    }
    const auto& sc = std::get<sim::Scenario>(loaded);
    sim::Options opt;
    opt.seed = a.seed.value_or(sc.seed);
    opt.until = a.until.value_or(0);
    std::string out;
    out.reserve(1 << 16);
    const auto flush = [&] {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
    };
    opt.on_record = [&](const sim::Record& r) {
        sim::append_record(out, r, a.json);
        if (out.size() > (1 << 16) || a.speed > 0) {
            flush();
            std::fflush(stdout);
        }
    };
    std::unique_ptr<std::ofstream> csv;
    std::vector<sim::Sample> samples;
    if (!a.metrics.empty() || !a.plot.empty()) {
        if (!a.metrics.empty()) {
            csv = std::make_unique<std::ofstream>(a.metrics);
            if (!*csv) {
                std::fprintf(stderr, "horizon-sim: error: cannot write %s: %s\n", a.metrics.c_str(),
                             std::strerror(errno));
                return 1;
            }
            *csv << sim::kSampleHeader << '\n';
        }
        opt.on_sample = [&](const sim::Sample& s) {
            if (csv) {
                *csv << sim::sample_row(s) << '\n';
            }
            if (!a.plot.empty()) {
                samples.push_back(s);
            }
        };
    }
    std::unique_ptr<sim::UdpResolver> resolver;
    if (!a.dns.empty()) {
        const auto ep = util::Endpoint::parse(a.dns);
        if (!ep) {
            std::fprintf(stderr,
                         "horizon-sim: error: invalid --dns '%s' (expected ADDR:PORT, e.g. "
                         "127.0.0.1:1053)\n",
                         a.dns.c_str());
            return kExitUsage;
        }
        resolver = std::make_unique<sim::UdpResolver>(*ep);
        opt.resolver = resolver.get();
    }
    std::unique_ptr<sim::HttpControl> control;
    if (!a.control.empty()) {
        control = std::make_unique<sim::HttpControl>(a.control, a.token);
        opt.control = control.get();
    }
    if (a.speed > 0) {
        const auto start = std::chrono::steady_clock::now();
        opt.pace = [start, speed = a.speed](sim::Millis t) {
            const auto due = start + std::chrono::microseconds(static_cast<int64_t>(
                                         static_cast<double>(t) * 1000.0 / speed));
            std::this_thread::sleep_until(due);
        };
    }
    sim::Simulation s(sc, std::move(opt));
    uint64_t nodes = s.node_count();
    const auto& c = sc.cluster;
    const std::string header =
        fmt::format("horizon-sim {}: seed {}, until {}; cluster {} ({} {}), {} nodes, {} hosts",
                    sc.name, a.seed.value_or(sc.seed), sim::clock_text(s.until()), c.name,
                    c.kubernetes_version, config::to_string(c.access_mode), nodes, sc.hosts.size());
    sim::Record start;
    start.type = "start";
    start.text = header;
    start.data["scenario"] = sc.name;
    start.data["seed"] = a.seed.value_or(sc.seed);
    start.data["nodes"] = nodes;
    sim::append_record(out, start, a.json);
    s.run();
    flush();
    if (resolver && resolver->failures() > 0) {
        std::fprintf(stderr, "horizon-sim: %llu DNS queries to %s got no answer\n",
                     static_cast<unsigned long long>(resolver->failures()), a.dns.c_str());
    }
    if (!a.plot.empty()) {
        std::string error;
        if (!sim::plot(samples, a.plot, sc.name, error)) {
            std::fprintf(stderr, "horizon-sim: error: --plot: %s\n", error.c_str());
            return 1;
        }
    }
    return 0;
}

std::optional<sim::Millis> parse_until(const std::string& text) {
    const auto d = config::parse_duration(text);
    if (!d || d->count() == 0) {
        return std::nullopt;
    }
    return d->count();
}

} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        usage(stderr);
        return kExitUsage;
    }
    if (args[0] == "--help" || args[0] == "-h") {
        usage(stdout);
        return 0;
    }
    if (args[0] == "--version") {
        std::printf("horizon-sim %s\n", HORIZON_VERSION);
        return 0;
    }
    const auto bad = [](const std::string& msg) {
        std::fprintf(stderr, "horizon-sim: error: %s\n", msg.c_str());
        usage(stderr);
        return kExitUsage;
    };
    if (args[0] == "check") {
        if (args.size() < 2) {
            return bad("check needs a scenario file");
        }
        return check({args.begin() + 1, args.end()});
    }
    if (args[0] != "run") {
        return bad(fmt::format("unknown command '{}'", args[0]));
    }
    RunArgs a;
    for (size_t i = 1; i < args.size(); ++i) {
        const std::string& arg = args[i];
        const auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                return std::nullopt;
            }
            return args[++i];
        };
        if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
            const auto v = value();
            if (!v) {
                return bad(fmt::format("{} needs a value", arg));
            }
            if (arg == "--seed") {
                uint64_t seed = 0;
                const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), seed);
                if (ec != std::errc() || p != v->data() + v->size()) {
                    return bad(fmt::format("invalid --seed '{}' (expected a whole number)", *v));
                }
                a.seed = seed;
            } else if (arg == "--until") {
                a.until = parse_until(*v);
                if (!a.until) {
                    return bad(fmt::format("invalid --until '{}' (expected a duration such as "
                                           "\"90s\", \"20m\" or \"1h\")",
                                           *v));
                }
            } else if (arg == "--format") {
                if (*v != "text" && *v != "json") {
                    return bad(fmt::format("invalid --format '{}' (expected text or json)", *v));
                }
                a.json = *v == "json";
            } else if (arg == "--metrics") {
                a.metrics = *v;
            } else if (arg == "--plot") {
                a.plot = *v;
            } else if (arg == "--speed") {
                char* end = nullptr;
                a.speed = std::strtod(v->c_str(), &end);
                if (end == v->c_str() || *end != '\0' || !(a.speed > 0) || a.speed > 1e9) {
                    return bad(fmt::format("invalid --speed '{}' (expected a number above 0; 1 = "
                                           "real time)",
                                           *v));
                }
            } else if (arg == "--dns") {
                a.dns = *v;
            } else if (arg == "--control") {
                a.control = *v;
            } else if (arg == "--token") {
                a.token = *v;
            } else {
                return bad(fmt::format("unknown option '{}'", arg));
            }
        } else if (a.scenario.empty()) {
            a.scenario = arg;
        } else {
            return bad(fmt::format("unexpected argument '{}'", arg));
        }
    }
    if (a.scenario.empty()) {
        return bad("run needs a scenario file");
    }
    return run(a);
}
