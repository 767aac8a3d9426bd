// `horizonctl kind doctor`: which answer each path of a kind lab gets for the endpoint name
// (the host's resolver, every node's, a pod's through CoreDNS), what horizond says that source
// should get, why they differ, and the fix. Sans-I/O: the commands (docker, kubectl, dig) go
// through a Runner and horizond's verdict through an Explainer, so tests feed recorded output.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace horizon::ctl::kind {

/// What a command printed (stdout and stderr together) and its exit status (127: not found).
struct CommandResult {
    int status = 0;
    std::string output;
};

/// Runs one command (argv[0] looked up in PATH).
using Runner = std::function<CommandResult(const std::vector<std::string>& argv)>;

/// horizond's decision for a source (the admin API's explain): the addresses it answers that
/// source, the set ("private", "public", "nxdomain") and its reasons.
struct Expected {
    std::vector<std::string> addresses;
    std::string set;
    std::vector<std::string> reason;
};

/// Asks horizond what `source` gets; none (and `error`) when it cannot say.
using Explainer =
    std::function<std::optional<Expected>(const std::string& source, std::string& error)>;

/// What the lab's horizon.toml says (read by the command).
struct LabFacts {
    std::string cluster;  ///< the [[cluster]] name, also the kind cluster's
    std::string endpoint; ///< the endpoint name
    std::vector<std::string> private_ips;
    std::vector<std::string> public_ips;
    std::string loopback_dns;        ///< "127.0.0.1:1053": where the host asks horizond directly
    std::vector<std::string> listen; ///< every [server] listen address
};

struct DoctorOptions {
    std::string network = "kind"; ///< the docker network
    std::string context;          ///< kubectl's context; "" = kind-<cluster>
    std::string lab = ".";        ///< the lab directory, for the fixes' commands
    /// A pod to run the lookups in ("NAMESPACE/NAME", it needs sh and dig); "" = `kubectl run`
    /// a throwaway one from `pod_image`.
    std::string pod;
    std::string pod_image = "nicolaka/netshoot";
    bool skip_pod = false; ///< no pod path (no kubectl, or no image pulls)
};

struct DoctorReport {
    std::string text; ///< for the terminal
    unsigned paths = 0;
    unsigned failed = 0;
    /// Set when the doctor could not look at all (docker missing, network unknown): `text` says
    /// what and the command exits 255.
    bool broken = false;
};

/// Looks at every path and explains each answer.
DoctorReport doctor(const LabFacts& lab, const DoctorOptions& o, const Runner& run,
                    const Explainer& explain);

} // namespace horizon::ctl::kind
