// `horizonctl lab up|status|exec|restart|down`: carries out the plan (plan.hpp) with `ip` and
// `nft`, keeps what it made in the run directory so that `down` (or the next `up`, after a crash)
// removes exactly that, and starts horizond and the lab's processes inside the namespaces.
#include "lab/lab_command.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <httplib.h>
#include <iostream>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "config/config.hpp"
#include "lab/netns.hpp"
#include "lab/plan.hpp"
#include "lab/services.hpp"
#include "util/address.hpp"
#include "util/file.hpp"

namespace horizon::lab {

namespace fs = std::filesystem;

namespace {

constexpr const char* kUsage = R"(usage: horizonctl lab <command> [LAB.toml]

  up [LAB.toml]                 build the lab (default: the built-in aews-week1 lab, the seed's)
  status [LAB.toml]             what exists of it: namespaces, processes, nft table, resolv.conf
  exec HOST -- COMMAND...       run COMMAND on HOST (its namespace and resolver), e.g.
                                horizonctl lab exec bastion -- dig +short $APIDNS
  restart HOST kubelet|kube-proxy
                                restart a node agent (it resolves the endpoint again)
  kubectl-exec NODE [SECONDS]   the connection kubectl exec makes the API server open: from its
                                ENI to the node's kubelet on :10250, held SECONDS (30)
  down [LAB.toml]               remove everything the lab made

Root only. Nothing is added to the host's own network: every address, route, bridge and nft
table lives inside the lab's namespaces. COMMAND sees APIDNS, CLUSTER_NAME, AWS_DEFAULT_REGION
and, on operator and internet hosts, AWS_CA_BUNDLE (the lab's AWS API is HTTPS with the lab's own
CA, at its real names) and HORIZON_ENDPOINT_URL (for horizonctl).
)";

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int usage_error(const std::string& message) {
    std::cerr << "horizonctl lab: " << message << " (horizonctl lab --help)\n";
    return kExitUsage;
}

struct Loaded {
    LabSpec spec;
    std::string text;
};

/// The lab file named, else the one a running lab was built from, else the built-in one.
std::optional<Loaded> load(const std::optional<std::string>& path) {
    std::string text;
    std::string name;
    if (path) {
        auto file = util::read_file(*path, 1U << 20U);
        if (!file.ok()) {
            std::cerr << "horizonctl lab: cannot read " << *path << ": " << file.reason() << "\n";
            return std::nullopt;
        }
        text = std::move(file.text);
        name = *path;
    } else {
        text = std::string(builtin_lab_text());
        name = std::string(kBuiltinLabName);
    }
    auto result = load_lab(text, name);
    if (auto* errors = std::get_if<std::vector<std::string>>(&result)) {
        for (const auto& e : *errors) {
            std::cerr << e << "\n";
        }
        std::cerr << "horizonctl lab: " << name << " has " << errors->size()
                  << " error(s); nothing was changed\n";
        return std::nullopt;
    }
    return Loaded{std::get<LabSpec>(std::move(result)), std::move(text)};
}

std::string pid_file(const LabSpec& lab, const std::string& daemon) {
    return fmt::format("{}/pids/{}.pid", run_dir(lab), daemon);
}

int read_pid(const std::string& path) {
    const auto f = util::read_file(path, 64);
    return f.ok() ? std::atoi(f.text.c_str()) : -1;
}

bool exists(const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

/// The namespaces of this lab that exist now: those it wrote down, and those its file names.
std::vector<std::string> lab_namespaces(const LabSpec& lab) {
    std::vector<std::string> wanted = namespaces(lab);
    const auto recorded = util::read_file(run_dir(lab) + "/namespaces", 1U << 16U);
    if (recorded.ok()) {
        size_t start = 0;
        while (start < recorded.text.size()) {
            const size_t end = recorded.text.find('\n', start);
            const std::string ns = recorded.text.substr(start, end - start);
            if (!ns.empty() && ns.rfind(lab.prefix, 0) == 0 && !exists(wanted, ns)) {
                wanted.push_back(ns);
            }
            start = end == std::string::npos ? recorded.text.size() : end + 1;
        }
    }
    const auto present = list_netns();
    std::vector<std::string> out;
    for (const auto& ns : wanted) {
        if (exists(present, ns)) {
            out.push_back(ns);
        }
    }
    return out;
}

/// Removes what a lab made, whatever state it is in. Quiet unless `verbose`.
bool tear_down(const LabSpec& lab, bool verbose) {
    bool ok = true;
    const std::string dir = run_dir(lab);
    std::error_code ec;
    if (fs::is_directory(dir + "/pids", ec)) {
        for (const auto& entry : fs::directory_iterator(dir + "/pids", ec)) {
            const int pid = read_pid(entry.path().string());
            if (pid > 0 && !stop_process(pid, 3000)) {
                std::cerr << "horizonctl lab: process " << pid << " ("
                          << entry.path().stem().string() << ") does not stop\n";
                ok = false;
            }
        }
    }
    for (const auto& ns : lab_namespaces(lab)) {
        std::string out;
        if (run_command({"ip", "netns", "del", ns}, out) != 0) {
            std::cerr << "horizonctl lab: cannot remove namespace " << ns << ": " << out;
            ok = false;
        } else if (verbose) {
            std::cout << "removed namespace " << ns << "\n";
        }
    }
    for (const auto& ns : namespaces(lab)) {
        fs::remove_all("/etc/netns/" + ns, ec);
    }
    fs::remove_all(dir, ec);
    // The parents too, when nothing else is left in them (fs::remove leaves a non-empty one).
    fs::remove("/etc/netns", ec);
    fs::remove(fs::path(dir).parent_path(), ec);
    return ok;
}

/// True once horizond's /readyz answers 200 inside the control plane's namespace.
bool wait_ready(const LabSpec& lab, int horizond_pid, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (!alive(horizond_pid)) {
            return false;
        }
        bool ready = false;
        std::string error;
        in_netns(
            eks_ns(lab),
            [&] {
                httplib::Client admin("127.0.0.1", 8053);
                admin.set_connection_timeout(1);
                const auto res = admin.Get("/readyz");
                ready = res && res->status == 200;
            },
            error);
        if (ready) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

int start_daemon(const LabSpec& lab, const Daemon& d) {
    std::string error;
    const int pid =
        spawn_in(d.ns, d.argv, fmt::format("{}/logs/{}.log", run_dir(lab), d.name), error);
    if (pid < 0) {
        std::cerr << "horizonctl lab: cannot start " << d.name << ": " << error << "\n";
        return -1;
    }
    if (!util::write_file_atomically(pid_file(lab, d.name), std::to_string(pid) + "\n", error,
                                     0644)) {
        std::cerr << "horizonctl lab: " << error << "\n";
    }
    return pid;
}

std::string log_tail(const LabSpec& lab, const std::string& daemon) {
    const auto f = util::read_file(fmt::format("{}/logs/{}.log", run_dir(lab), daemon), 1U << 20U);
    if (!f.ok()) {
        return "";
    }
    return f.text.size() > 2000 ? f.text.substr(f.text.size() - 2000) : f.text;
}

Programs programs() {
    const std::string self = self_path();
    Programs p;
    p.horizonctl = self;
    if (const char* env = std::getenv("HORIZOND"); env != nullptr && *env != '\0') {
        p.horizond = env;
    } else {
        p.horizond = fs::path(self).parent_path().string() + "/horizond";
    }
    return p;
}

int up(const Loaded& loaded) {
    const LabSpec& lab = loaded.spec;
    const Programs progs = programs();
    if (::access(progs.horizond.c_str(), X_OK) != 0) {
        std::cerr << "horizonctl lab: no horizond at " << progs.horizond
                  << " (set HORIZOND=/path/to/horizond)\n";
        return kExitFailed;
    }
    const Plan plan = make_plan(lab, progs);
    // horizond's own loader checks the configuration before anything is built.
    const std::string cfg_text = horizond_config(lab);
    const config::LoadResult checked = config::load(cfg_text, run_dir(lab) + "/horizond.toml");
    if (const auto* errors = std::get_if<std::vector<config::Diagnostic>>(&checked)) {
        for (const auto& e : *errors) {
            std::cerr << e.to_string() << "\n";
        }
        std::cerr << "horizonctl lab: " << lab.path
                  << " makes an invalid horizond configuration; nothing was changed\n";
        return kExitFailed;
    }
    const std::string dir = run_dir(lab);
    std::error_code ec;
    if (fs::exists(dir, ec) || !lab_namespaces(lab).empty()) {
        std::cout << "removing the remains of an earlier lab (" << dir << ")\n";
        if (!tear_down(lab, false)) {
            return kExitFailed;
        }
    }
    for (const char* sub : {"/logs", "/pids", "/state"}) {
        fs::create_directories(dir + sub, ec);
    }
    std::string namespaces_text;
    for (const auto& ns : plan.namespaces) {
        namespaces_text += ns + "\n";
    }
    std::string error;
    bool ok = util::write_file_atomically(dir + "/namespaces", namespaces_text, error, 0644) &&
              util::write_file_atomically(dir + "/lab.toml", loaded.text, error, 0644);
    for (const auto& f : plan.files) {
        if (!ok) {
            break;
        }
        fs::create_directories(fs::path(f.path).parent_path(), ec);
        ok = util::write_file_atomically(f.path, f.content, error, 0644);
    }
    if (!ok) {
        std::cerr << "horizonctl lab: " << error << "\n";
        tear_down(lab, false);
        return kExitFailed;
    }
    for (const auto& step : plan.steps) {
        std::string out;
        if (run_command(step.argv, out) != 0) {
            std::string line;
            for (const auto& a : step.argv) {
                line += (line.empty() ? "" : " ") + a;
            }
            std::cerr << "horizonctl lab: `" << line << "` failed: " << out;
            if (step.argv.size() > 1 && step.argv[1] == "netns") {
                std::cerr << "horizonctl lab: network namespaces are not available here\n";
            }
            tear_down(lab, false);
            return step.argv[1] == "netns" && step.argv[2] == "add" ? kExitUsage : kExitFailed;
        }
    }
    int horizond_pid = -1;
    for (const auto& d : plan.daemons) {
        const int pid = start_daemon(lab, d);
        if (pid < 0) {
            tear_down(lab, false);
            return kExitFailed;
        }
        if (d.name == "horizond") {
            horizond_pid = pid;
            if (!wait_ready(lab, pid, std::chrono::seconds(10))) {
                std::cerr << "horizonctl lab: horizond did not become ready; its log:\n"
                          << log_tail(lab, "horizond");
                tear_down(lab, false);
                return kExitFailed;
            }
        }
    }
    (void)horizond_pid;
    std::cout << fmt::format("lab up: {} namespaces ({}*), horizond in {}\n",
                             plan.namespaces.size(), lab.prefix, eks_ns(lab));
    std::cout << fmt::format("  endpoint   {} (cluster {}, {})\n", endpoint_name(lab),
                             lab.cluster.name, lab.cluster.region);
    std::cout << fmt::format("  resolvers  {} (VPC), {} (internet)\n", lab.vpc_resolver.to_string(),
                             lab.internet_resolver.to_string());
    for (const auto& h : lab.hosts) {
        std::cout << fmt::format("  {:<10} {:<8} {}{}\n", h.name, to_string(h.role),
                                 h.address.to_string(),
                                 h.public_ip ? " (public " + h.public_ip->to_string() + ")" : "");
    }
    std::cout << "try:   horizonctl lab exec bastion -- dig +short " << endpoint_name(lab)
              << "\nthen:  horizonctl lab down\n";
    return 0;
}

int status(const Loaded& loaded) {
    const LabSpec& lab = loaded.spec;
    const auto present = lab_namespaces(lab);
    bool complete = true;
    std::cout << "namespaces:\n";
    for (const auto& ns : namespaces(lab)) {
        const bool here = exists(present, ns);
        complete = complete && here;
        std::cout << fmt::format("  {:<14} {}\n", ns, here ? "up" : "absent");
    }
    std::cout << "processes:\n";
    const Plan plan = make_plan(lab, programs());
    for (const auto& d : plan.daemons) {
        const int pid = read_pid(pid_file(lab, d.name));
        const bool running = alive(pid);
        complete = complete && running;
        std::cout << fmt::format("  {:<18} {}\n", d.name,
                                 running ? fmt::format("running (pid {})", pid) : "not running");
    }
    std::string out;
    const bool nft = exists(present, router_ns(lab)) &&
                     run_command({"ip", "netns", "exec", router_ns(lab), "nft", "list", "table",
                                  "ip", nft_table(lab)},
                                 out) == 0;
    std::cout << fmt::format("nft table ip {} in {}: {}\n", nft_table(lab), router_ns(lab),
                             nft ? "loaded" : "absent");
    std::cout << "resolv.conf:\n";
    for (const auto& h : lab.hosts) {
        const std::string path = fmt::format("/etc/netns/{}/resolv.conf", host_ns(lab, h));
        std::error_code ec;
        std::cout << fmt::format("  {:<28} {}\n", path,
                                 fs::exists(path, ec) ? "present" : "absent");
    }
    std::cout << "run directory " << run_dir(lab) << ": "
              << (fs::exists(run_dir(lab)) ? "present" : "absent") << "\n";
    return complete ? 0 : kExitFailed;
}

int exec_on(const LabSpec& lab, const std::vector<std::string>& args) {
    // exec HOST -- COMMAND...
    if (args.size() < 3 || args[1] != "--") {
        return usage_error("usage: horizonctl lab exec HOST -- COMMAND...");
    }
    const Host* h = lab.host(args[0]);
    if (h == nullptr) {
        return usage_error(fmt::format("no host {} in {}", args[0], lab.path));
    }
    if (!exists(list_netns(), host_ns(lab, *h))) {
        std::cerr << "horizonctl lab: the lab is not up (horizonctl lab up)\n";
        return kExitFailed;
    }
    ::setenv("APIDNS", endpoint_name(lab).c_str(), 1);
    ::setenv("CLUSTER_NAME", lab.cluster.name.c_str(), 1);
    ::setenv("AWS_DEFAULT_REGION", lab.cluster.region.c_str(), 1);
    if (h->role != Role::Node) {
        // The AWS CLI finds the lab's AWS API by its real names (eks.<region>.amazonaws.com),
        // served by the lab's DNS, over HTTPS with the lab CA's certificate.
        const std::string ca = run_dir(lab) + "/ca.crt";
        ::setenv("AWS_CA_BUNDLE", ca.c_str(), 1);
        ::setenv("HORIZON_ENDPOINT_URL", kAwsEndpointUrl, 1);
        // The lab's AWS API takes any credentials; the AWS CLI wants some.
        ::setenv("AWS_ACCESS_KEY_ID", "AKIALAB0000000000000", 0);
        ::setenv("AWS_SECRET_ACCESS_KEY", "lab", 0);
        ::setenv("AWS_PAGER", "", 1);
    }
    std::vector<std::string> argv = {"ip", "netns", "exec", host_ns(lab, *h)};
    argv.insert(argv.end(), args.begin() + 2, args.end());
    std::vector<char*> c;
    for (auto& a : argv) {
        c.push_back(a.data());
    }
    c.push_back(nullptr);
    ::execvp(c[0], c.data());
    std::cerr << "horizonctl lab: cannot run ip: " << std::strerror(errno) << "\n";
    return 127;
}

int restart(const LabSpec& lab, const std::vector<std::string>& args) {
    if (args.size() != 2 || (args[1] != "kubelet" && args[1] != "kube-proxy")) {
        return usage_error("usage: horizonctl lab restart HOST kubelet|kube-proxy");
    }
    const Host* h = lab.host(args[0]);
    if (h == nullptr || h->role != Role::Node) {
        return usage_error(fmt::format("{} is not a node of {}", args[0], lab.path));
    }
    const std::string name = args[1] + "@" + h->name;
    const Plan plan = make_plan(lab, programs());
    const auto it = std::find_if(plan.daemons.begin(), plan.daemons.end(),
                                 [&](const Daemon& d) { return d.name == name; });
    if (it == plan.daemons.end() || !exists(list_netns(), it->ns)) {
        std::cerr << "horizonctl lab: the lab is not up (horizonctl lab up)\n";
        return kExitFailed;
    }
    const int old = read_pid(pid_file(lab, name));
    if (old > 0 && !stop_process(old, 3000)) {
        std::cerr << "horizonctl lab: " << name << " (pid " << old << ") does not stop\n";
        return kExitFailed;
    }
    const int pid = start_daemon(lab, *it);
    if (pid < 0) {
        return kExitFailed;
    }
    std::cout << fmt::format("restarted {} on {} (pid {})\n", args[1], h->name, pid);
    return 0;
}

/// `kubectl-exec NODE [SECONDS]`: what `kubectl exec` makes the API server do, opening a
/// connection from its ENI in the node's subnet to the node's kubelet on :10250, held open.
int kubectl_exec(const LabSpec& lab, const std::vector<std::string>& args) {
    const Host* h = !args.empty() ? lab.host(args[0]) : nullptr;
    const int seconds = args.size() == 2 ? std::atoi(args[1].c_str()) : 30;
    if (args.empty() || args.size() > 2 || h == nullptr || h->role != Role::Node || seconds <= 0 ||
        seconds > 3600) {
        return usage_error(
            "usage: horizonctl lab kubectl-exec NODE [SECONDS (1..3600, default 30)]");
    }
    const auto& enis = lab.cluster.private_ips;
    const util::Cidr* subnet = lab.subnet_of(h->address);
    auto eni = std::find_if(enis.begin(), enis.end(), [&](const util::IpAddress& ip) {
        return subnet != nullptr && subnet->contains(ip);
    });
    if (eni == enis.end()) {
        eni = enis.begin();
    }
    int fd = -1;
    std::string error;
    uint16_t local_port = 0;
    const bool entered = in_netns(
        eks_ns(lab),
        [&] {
            fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_storage from{};
            sockaddr_storage to{};
            const unsigned from_len = util::Endpoint{*eni, 0}.to_sockaddr(from);
            const unsigned to_len = util::Endpoint{h->address, 10250}.to_sockaddr(to);
            if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&from), from_len) != 0 ||
                ::connect(fd, reinterpret_cast<sockaddr*>(&to), to_len) != 0) {
                error = fmt::format("cannot connect from {} to {}:10250: {}", eni->to_string(),
                                    h->address.to_string(), std::strerror(errno));
                if (fd >= 0) {
                    ::close(fd);
                }
                fd = -1;
                return;
            }
            sockaddr_in local{};
            socklen_t len = sizeof local;
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
            local_port = ntohs(local.sin_port);
        },
        error);
    if (!entered || fd < 0) {
        std::cerr << "horizonctl lab: " << error << " (is the lab up?)\n";
        return kExitFailed;
    }
    std::cout << fmt::format("kubectl exec on {}: the API server (ENI {}) holds {}:{} -> {}:10250 "
                             "(kubelet) for {} s\n",
                             h->name, eni->to_string(), eni->to_string(), local_port,
                             h->address.to_string(), seconds)
              << std::flush;
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    ::close(fd);
    return 0;
}

/// The lab file of the one lab that is up (its run directory keeps a copy), if any.
std::optional<std::string> running_lab() {
    std::error_code ec;
    std::optional<std::string> found;
    for (const auto& entry : fs::directory_iterator("/run/horizon-lab", ec)) {
        const std::string path = entry.path().string() + "/lab.toml";
        if (fs::exists(path, ec)) {
            if (found) {
                return std::nullopt; // several: the built-in one is meant, or say which
            }
            found = path;
        }
    }
    return found;
}

/// Root and the tools, checked before anything else: one line and exit 2 when missing.
std::optional<int> preflight() {
    if (::geteuid() != 0) {
        std::cerr << "horizonctl lab: needs root (it makes network namespaces); run it with sudo\n";
        return kExitUsage;
    }
    std::error_code ec;
    if (!fs::exists("/proc/self/ns/net", ec)) {
        std::cerr << "horizonctl lab: this kernel has no network namespaces\n";
        return kExitUsage;
    }
    const std::array<std::array<const char*, 3>, 3> tools = {
        {{"ip", "-V", "iproute2"}, {"nft", "-v", "nftables"}, {"openssl", "version", "openssl"}}};
    for (const auto& [tool, version, package] : tools) {
        std::string out;
        if (run_command({tool, version}, out) == 127) {
            std::cerr << "horizonctl lab: needs `" << tool << "` (apt-get install " << package
                      << ")\n";
            return kExitUsage;
        }
    }
    return std::nullopt;
}

} // namespace

int run_lab(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kUsage;
        return args.empty() ? kExitUsage : 0;
    }
    const std::string& cmd = args[0];
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    // The lab's own processes, started by `up` inside the namespaces.
    if (cmd == "serve-ipinfo") {
        return serve_ipinfo(rest);
    }
    if (cmd == "serve-aws-api") {
        return serve_aws_api(rest);
    }
    if (cmd == "serve-relay") {
        return serve_relay(rest);
    }
    if (cmd == "agent") {
        return run_agent(rest);
    }
    if (cmd != "up" && cmd != "status" && cmd != "down" && cmd != "exec" && cmd != "restart" &&
        cmd != "kubectl-exec") {
        return usage_error("unknown command '" + cmd + "'");
    }
    if (auto rc = preflight()) {
        return *rc;
    }
    const bool takes_file = cmd == "up" || cmd == "status" || cmd == "down";
    if (takes_file && rest.size() > 1) {
        return usage_error("too many arguments");
    }
    std::optional<std::string> file;
    if (takes_file && !rest.empty()) {
        file = rest[0];
    } else if (!takes_file) {
        file = running_lab(); // exec and restart follow the lab that is up
    }
    const auto loaded = load(file);
    if (!loaded) {
        return kExitFailed;
    }
    if (cmd == "up") {
        return up(*loaded);
    }
    if (cmd == "status") {
        return status(*loaded);
    }
    if (cmd == "down") {
        const bool ok = tear_down(loaded->spec, true);
        std::cout << (ok ? "lab down\n" : "lab down, with errors (above)\n");
        return ok ? 0 : kExitFailed;
    }
    if (cmd == "exec") {
        return exec_on(loaded->spec, rest);
    }
    if (cmd == "kubectl-exec") {
        return kubectl_exec(loaded->spec, rest);
    }
    return restart(loaded->spec, rest);
}

} // namespace horizon::lab
