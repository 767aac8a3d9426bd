// horizond: the split-horizon DNS server for EKS-style cluster endpoint names.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "dns/snapshot.hpp"
#include "dns/zone.hpp"
#include "server/fd_budget.hpp"
#include "server/forwarder.hpp"
#include "server/privileges.hpp"
#include "server/runtime.hpp"
#include "server/server.hpp"

namespace {

using namespace horizon;

constexpr std::string_view kUsage = R"(usage: horizond [--config FILE] [--state-dir DIR]
                       [--reset-on-update]
       horizond --check-config FILE
       horizond --help | --version

Answers EKS-style cluster endpoint names split-horizon: private ENI IPs to sources inside the
cluster VPC, public NLB IPs to everyone else, per the access mode of each [[cluster]].

  --config FILE        serve FILE (TOML) instead of the built-in default (config/default.toml)
  --state-dir DIR      where runtime changes (update-cluster-config) are saved; overrides
                       [server] state_dir (default /var/lib/horizon as root, else
                       $XDG_STATE_HOME/horizon); must exist and be writable
  --reset-on-update    when an update denies the source of an established API endpoint
                       connection, reset it (EKS keeps it until the client reconnects); the same
                       as reset_on_update = true in every [cluster.api]
  --check-config FILE  validate FILE, print every error as file:line:col, and exit
                       (0 = valid, 2 = errors)

Signals: SIGHUP reloads the configuration (so does a change of the file); SIGINT/SIGTERM stop.
  --help               this text
  --version            print the version

Exit status: 0 stopped by SIGINT/SIGTERM or valid config, 1 cannot serve (e.g. address in use),
2 configuration errors or bad usage.
)";

std::string join(const auto& items) {
    std::string out;
    for (const auto& i : items) {
        out += (out.empty() ? "" : ", ") + i.to_string();
    }
    return out;
}

/// A loopback source inside the cluster VPC, for the ready-to-paste dig command.
std::optional<util::IpAddress> loopback_inside(const dns::Cluster& c) {
    for (const auto& p : c.cfg.vpc_cidrs) {
        if (!p.addr.is_v4() || p.addr.bytes[0] != 127 || p.len > 29) {
            continue;
        }
        util::IpAddress a = p.addr;
        a.bytes[3] = static_cast<uint8_t>(a.bytes[3] + 5);
        if (c.decide(a).inside) {
            return a;
        }
    }
    return std::nullopt;
}

void print_summary(const dns::Snapshot& snap) {
    spdlog::info("horizond {} listening on {} (udp+tcp each) with {} worker(s)", HORIZON_VERSION,
                 join(snap.server.listen),
                 snap.server.workers == 0 ? std::string("one per core")
                                          : std::to_string(snap.server.workers));
    for (const auto& c : snap.clusters) {
        const auto show = [&c](dns::AnswerSet set) {
            return set == dns::AnswerSet::Private  ? join(c.cfg.private_ips)
                   : set == dns::AnswerSet::Public ? join(c.cfg.public_ips)
                                                   : std::string("NXDOMAIN");
        };
        spdlog::info("cluster {} ({}): {} mode={} ttl={}", c.cfg.name, c.cfg.region, c.cfg.endpoint,
                     config::to_string(c.cfg.access_mode), c.cfg.ttl);
        spdlog::info("  in-VPC sources ({}{}{}) get {}", join(c.cfg.vpc_cidrs),
                     c.cfg.vpc_exclude_cidrs.empty() ? "" : " minus ",
                     join(c.cfg.vpc_exclude_cidrs), show(c.set_for(true)));
        spdlog::info("  outside sources get {}", show(c.set_for(false)));
    }
    const auto& listen = snap.server.listen;
    const auto by_source =
        std::find_if(listen.begin(), listen.end(), [](const auto& l) { return !l.vpc; });
    if (snap.clusters.empty() || by_source == listen.end()) {
        return;
    }
    const auto& ep = by_source->endpoint;
    const bool wildcard = ep.addr == util::IpAddress{ep.addr.family, {}};
    const std::string server =
        wildcard ? (ep.addr.is_v4() ? "127.0.0.1" : "::1") : ep.addr.to_string();
    const auto& c = snap.clusters.front();
    const auto inside = loopback_inside(c);
    spdlog::info("try the two views:");
    if (inside && ep.addr.is_v4()) {
        spdlog::info("  dig @{} -p {} -b {} {}    # in-VPC view", server, ep.port,
                     inside->to_string(), c.cfg.endpoint);
    } else {
        spdlog::info("  (add a 127.x.0.0/16 prefix to vpc_cidrs to play an in-VPC source with "
                     "dig -b from this machine)");
    }
    spdlog::info("  dig @{} -p {} {}    # outside view", server, ep.port, c.cfg.endpoint);
    for (const auto& l : listen) {
        if (l.vpc && l.endpoint.addr.is_v4() &&
            l.endpoint.addr != util::IpAddress{l.endpoint.addr.family, {}} &&
            (l.cluster.empty() || l.cluster == c.cfg.name)) {
            spdlog::info("  dig @{} -p {} {}    # resolver listener: in-VPC view from any source",
                         l.endpoint.addr.to_string(), l.endpoint.port, c.cfg.endpoint);
        }
    }
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "horizond: %s\n%s", message.c_str(), std::string(kUsage).c_str());
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN); // a peer closing a TCP connection must not kill the server
    std::optional<std::string> config_path;
    std::string state_dir;
    bool reset_on_update = false;
    bool check_only = false;
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    for (size_t i = 0; i < args.size(); ++i) {
        const auto a = args[i];
        if (a == "--help" || a == "-h") {
            std::fputs(std::string(kUsage).c_str(), stdout);
            return 0;
        }
        if (a == "--version") {
            std::printf("horizond %s\n", HORIZON_VERSION);
            return 0;
        }
        if (a == "--config" || a == "--check-config") {
            if (i + 1 >= args.size()) {
                return usage_error(std::string(a) + " needs a FILE");
            }
            if (config_path) {
                return usage_error("only one configuration file may be given");
            }
            check_only = a == "--check-config";
            config_path = std::string(args[++i]);
            continue;
        }
        if (a == "--reset-on-update") {
            reset_on_update = true;
            continue;
        }
        if (a == "--state-dir") {
            if (i + 1 >= args.size()) {
                return usage_error("--state-dir needs a DIR");
            }
            state_dir = std::string(args[++i]);
            continue;
        }
        return usage_error("unknown argument '" + std::string(a) + "'");
    }

    auto loaded = config_path ? config::load_file(*config_path)
                              : config::load(config::default_text(), "<built-in default>");
    if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&loaded)) {
        for (const auto& d : *errors) {
            std::fprintf(stderr, "%s\n", d.to_string().c_str());
        }
        std::fprintf(stderr, "horizond: %zu error(s) in the configuration; nothing was started\n",
                     errors->size());
        return 2;
    }
    auto& cfg = std::get<config::Config>(loaded);
    // Zone files are checked like the configuration: every error, then exit 2.
    dns::ZoneLoad zones = dns::load_zones(cfg.zones);
    if (!zones.errors.empty()) {
        for (const auto& e : zones.errors) {
            std::fprintf(stderr, "%s\n", e.to_string().c_str());
        }
        std::fprintf(stderr, "horizond: %zu error(s) in the zone files; nothing was started\n",
                     zones.errors.size());
        return 2;
    }
    if (check_only) {
        std::printf("%s: configuration is valid (%zu cluster(s), %zu listener(s), %zu zone(s))\n",
                    config_path->c_str(), cfg.clusters.size(), cfg.server.listen.size(),
                    cfg.zones.size());
        return 0;
    }

    spdlog::set_default_logger(spdlog::stderr_color_mt("horizond"));
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(cfg.server.log_level));

    // Use all the descriptors we may (the soft RLIMIT_NOFILE up to the hard one) and share them
    // out (server/fd_budget.hpp): listeners, loops, the admin API, the gate and state writes
    // first, then TCP clients (tcp_max_connections, clamped if it does not fit) and upstream
    // sockets, so that no kind of traffic can take every descriptor. Logged once the server is
    // up (a start-up error stays the only line on stderr).
    std::string nofile_text;
    std::vector<std::string> nofile_warnings;
    unsigned tcp_cap = 0;
    if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
        const rlim_t before = nofile.rlim_cur;
        if (nofile.rlim_cur < nofile.rlim_max) {
            nofile.rlim_cur = nofile.rlim_max;
            if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
                nofile.rlim_cur = before; // e.g. a hard limit of "unlimited" above fs.nr_open
            }
        }
        const server::FdPlan plan = server::plan_descriptors(
            cfg, server::worker_count(cfg.server), static_cast<uint64_t>(nofile.rlim_cur));
        server::Forwarder::set_socket_budget(plan.upstream);
        tcp_cap = plan.tcp;
        nofile_text =
            fmt::format("open file limit {} (was {}, hard {}): at most {} upstream "
                        "queries in flight, {} TCP connections",
                        nofile.rlim_cur, before,
                        nofile.rlim_max == RLIM_INFINITY ? std::string("unlimited")
                                                         : std::to_string(nofile.rlim_max),
                        plan.upstream, plan.tcp);
        const std::string fix = fmt::format(
            "raise the open file limit to at least {} (ulimit -n, systemd LimitNOFILE=, docker "
            "run --ulimit nofile=)",
            plan.wanted(cfg.server.tcp_max_connections));
        if (plan.gate_short) {
            nofile_warnings.push_back(fmt::format(
                "the API endpoint's max_connections and max_held need {} descriptors and the "
                "rest of horizond {}, more than the open file limit of {}: connections beyond "
                "it wait or fail; {}",
                plan.gate, plan.fixed, plan.limit, fix));
        }
        if (plan.tcp_clamped) {
            nofile_warnings.push_back(fmt::format(
                "tcp_max_connections = {} does not fit in the open file limit of {} ({} for "
                "listeners, event loops, the admin API, state and a reserve, {} for the API "
                "endpoint, half the rest for upstream queries): serving at most {} TCP "
                "connections; {}",
                cfg.server.tcp_max_connections, plan.limit, plan.fixed, plan.gate, plan.tcp, fix));
        }
    }

    std::string error;
    auto runtime = server::Runtime::create(
        cfg, {config_path, state_dir, reset_on_update, zones.zones, zones.digests}, error);
    if (!runtime) {
        std::fprintf(stderr, "horizond: error: %s\n", error.c_str());
        return 1;
    }
    auto server = server::Server::create(*runtime, error, tcp_cap);
    if (!server) {
        std::fprintf(stderr, "horizond: error: %s\n", error.c_str());
        return 1;
    }
    // Every socket is bound: root (or CAP_NET_BIND_SERVICE) has done its work.
    const std::string& state_path = runtime->state_path();
    const auto slash = state_path.rfind('/');
    if (!server::drop_privileges(cfg.server.user,
                                 slash == std::string::npos ? "." : state_path.substr(0, slash),
                                 error)) {
        std::fprintf(stderr, "horizond: error: %s\n", error.c_str());
        return 1;
    }
    if (config_path && ::access(config_path->c_str(), R_OK) != 0) {
        spdlog::warn("{} is not readable as this user: reloads will fail", *config_path);
    }
    runtime->start();
    print_summary(*runtime->holder().current.load());
    if (!nofile_text.empty()) {
        spdlog::info("{}", nofile_text);
    }
    for (const auto& w : nofile_warnings) {
        spdlog::warn("{}", w);
    }
    if (cfg.server.admin_listen) {
        spdlog::info("admin API on http://{} (state in {})", cfg.server.admin_listen->to_string(),
                     runtime->state_path());
    }
    try {
        return server->run();
    } catch (const std::exception& e) { // a libuv set-up call failed (server/uv_check.hpp)
        std::fprintf(stderr, "horizond: error: %s\n", e.what());
        return 1;
    }
}
