// The configuration as plain structs, the loader's entry points and the domain helpers
// (endpoint names, EKS's publicAccessCidrs rules, resolv.conf nameservers).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/diagnostic.hpp"
#include "util/address.hpp"

namespace horizon::config {

/// One [server] listen entry. A plain "IP:PORT" classifies each query by its source address; a
/// resolver listener (`{ address = "...", view = "vpc" }` or `view = "vpc:<cluster>"`) counts
/// every query arriving on it as in-VPC, the way a VPC's own resolver (VPC base + 2) decides in
/// EKS, whatever its source.
struct Listener {
    util::Endpoint endpoint; ///< serves UDP and TCP
    bool vpc = false;        ///< a resolver listener
    std::string cluster;     ///< with `vpc`: in-VPC for this cluster only; "" = every cluster

    /// "127.0.0.2:53", or "127.0.0.2:53 (view vpc:aews)" for a resolver listener.
    [[nodiscard]] std::string to_string() const;
    bool operator==(const Listener&) const = default;
};

struct ServerConfig {
    std::vector<Listener> listen;
    unsigned workers = 0;        ///< 0 = one per core
    uint16_t udp_payload = 1232; ///< our EDNS buffer size, 512..4096
    std::chrono::milliseconds tcp_idle_timeout{10000};
    unsigned tcp_max_connections = 1024; ///< all workers together (clamped to the fd budget)
    /// Open connections from one IPv4 address or one IPv6 /64 (RFC 7766 §10: one client must not
    /// hold every slot).
    unsigned tcp_max_connections_per_source = 64;
    std::string log_level = "info"; ///< trace, debug, info, warn, error, critical, off
    bool query_log = false;
    std::string identity = "horizon"; ///< CHAOS id.server / hostname.bind and NSID; "" = off
    std::string version;              ///< CHAOS version.bind; "" = REFUSED
    /// The admin HTTP listener (health, metrics, the EKS-shaped API); nullopt = none.
    std::optional<util::Endpoint> admin_listen =
        util::Endpoint{util::IpAddress::v4(127, 0, 0, 1), 8053};
    /// Bearer token for mutating admin requests on a non-loopback address: `admin_token` as
    /// written, or the trimmed content of `admin_token_file` (read by the loader). "" = none.
    std::string admin_token;
    std::string admin_token_file; ///< as written; "" = none
    /// The admin API refuses every mutating call (403 AccessDeniedException): the file, e.g. a
    /// Kubernetes ConfigMap shared by replicas, is the only source of truth. Followed on reload.
    bool admin_read_only = false;
    /// As written: "" means the default (/var/lib/horizon as root, else $XDG_STATE_HOME/horizon
    /// or ~/.local/state/horizon), which the caller resolves.
    std::string state_dir;
    /// Forwarders (e.g. CoreDNS) whose EDNS Client Subnet is used for view selection
    /// (RFC 7871); ECS from anyone else is ignored, so a spoofed ECS never obtains private IPs.
    std::vector<util::Cidr> trusted_ecs_sources;
    /// Started as root: switch to this user (its uid, gid and groups) once every socket is bound,
    /// keeping no capability. "" = stay as started.
    std::string user;
    /// An nftables table (family inet) that horizond keeps equal to the API endpoint gate's drop
    /// decisions (control/gate_nft.hpp), so a denied client's SYN is dropped in the kernel: a
    /// real connect timeout. Needs CAP_NET_ADMIN and `nft`; read at start. "" = off.
    std::string gate_nft_table;
    /// A reload to a file without any [[cluster]] while clusters are served is accepted. Off by
    /// default: such a reload (a file half written, a key removed from a ConfigMap) is refused
    /// and the clusters in service stay. Starting without clusters is always allowed.
    bool allow_no_clusters = false;
};

enum class AccessMode : uint8_t { Public, PublicPrivate, Private };
enum class PrivateOutside : uint8_t { PrivateIps, NxDomain };

/// What the API endpoint does with a connection it does not allow (EKS-FACTS §2: EKS drops it,
/// so the client times out).
enum class DenyAction : uint8_t {
    Drop,  ///< accept, then stay silent until the client gives up or hold_timeout passes
    Reset, ///< close at once with a TCP RST
};

/// Where allowed API connections are proxied: "host:port" as written, host a name or an address.
struct ApiUpstream {
    std::string host; ///< an IP address (no brackets) or a host name
    uint16_t port = 0;

    [[nodiscard]] std::string to_string() const;
    bool operator==(const ApiUpstream&) const = default;
};

/// [cluster.api]: a TCP endpoint on the cluster's public_ips (the NLB side) and private_ips (the
/// ENI side) that admits connections as EKS does, and proxies them or answers them itself.
struct ApiConfig {
    uint16_t port = 443;
    std::optional<ApiUpstream> upstream; ///< none: the built-in HTTPS responder
    /// CIDRs the cluster security group admits to the private side. The loader fills in the
    /// cluster's vpc_cidrs when the key is absent; the control plane's ingress rules replace it.
    std::vector<util::Cidr> security_group_ingress;
    /// The address in-VPC sources are seen as on the public side (a NAT gateway's public IP).
    std::optional<util::IpAddress> vpc_egress_ip;
    DenyAction deny = DenyAction::Drop;
    std::chrono::milliseconds hold_timeout{30000}; ///< a dropped connection is reset after this
    unsigned max_connections = 512;                ///< open connections per side
    unsigned max_held = 256;                       ///< dropped connections held at once per side
    /// Connections open or held from one source (util::source_key: an IPv4 address, an IPv6
    /// /64) on one side: one client cannot take every slot of max_connections or max_held.
    unsigned max_connections_per_source = 128;
    /// On a configuration change, reset established connections the new configuration denies
    /// (EKS keeps them: they survive until the client reconnects).
    bool reset_on_update = false;
};

/// "drop" or "reset", as written in the configuration.
std::string_view to_string(DenyAction a);

struct ClusterConfig {
    std::string name;
    std::string region;
    std::string endpoint; ///< as configured (case kept) or derived from name+region
    std::vector<util::Cidr> vpc_cidrs;
    std::vector<util::Cidr> vpc_exclude_cidrs;
    std::vector<util::IpAddress> private_ips; ///< EKS-owned ENIs
    std::vector<util::IpAddress> public_ips;  ///< the NLB
    AccessMode access_mode = AccessMode::PublicPrivate;
    std::vector<util::Cidr> public_access_cidrs; ///< gates connections only, never answers
    PrivateOutside private_outside = PrivateOutside::PrivateIps;
    uint32_t ttl = 60;
    std::chrono::milliseconds update_duration{0}; ///< how long an endpoint access update takes
    std::string kubernetes_version = "1.31";      ///< "MAJOR.MINOR", shown by describe-cluster
    std::optional<ApiConfig> api;                 ///< [cluster.api]; none = no API endpoint
};

/// A conditional forwarding rule: names at or below `zone` go to `upstreams` (longest suffix).
struct ForwardZone {
    std::string zone; ///< presentation form, no trailing dot ("cluster.local")
    std::vector<util::Endpoint> upstreams;
};

/// [resolver]: forwarding with a cache, for names outside our zones (issue 4).
struct ResolverConfig {
    /// Forwarding is on only when this is not empty. "system" in the file expands to the
    /// nameservers of /etc/resolv.conf other than horizond itself (done by the loader).
    std::vector<util::Endpoint> upstreams;
    std::vector<ForwardZone> forward;
    /// Sources allowed recursion; default (when absent): loopback + every cluster's vpc_cidrs.
    std::vector<util::Cidr> allow_recursion;
    std::chrono::milliseconds timeout{1500}; ///< per upstream attempt
    size_t cache_size = 10000;               ///< entries (LRU beyond)
    uint32_t max_ttl = 86400;
    uint32_t min_ttl = 0;
    uint32_t negative_ttl = 3600; ///< cap for RFC 2308 negative caching

    [[nodiscard]] bool enabled() const { return !upstreams.empty() || !forward.empty(); }
};

/// A view a zone is served to: sources classified in-VPC, or everyone else.
enum class View : uint8_t { Vpc, Public };

/// [[zone]]: an RFC 1035 master file served to the listed views (issue 4).
struct ZoneConfig {
    std::string file; ///< as written
    /// The file to read: `file` when absolute, else relative to the configuration file's
    /// directory (lexically normalised, so "../zones/x.zone" from config/ is "zones/x.zone").
    std::string path;
    std::string origin; ///< presentation form, no trailing dot
    bool vpc = true;    ///< served to the vpc view
    bool pub = true;    ///< served to the public view

    bool operator==(const ZoneConfig&) const = default;
};

struct Config {
    ServerConfig server;
    std::vector<ClusterConfig> clusters;
    ResolverConfig resolver;
    std::vector<ZoneConfig> zones;
};

using LoadResult = std::variant<Config, std::vector<Diagnostic>>;

class Host; // config/host.hpp: the machine's addresses, users and files

/// Parses and validates `text` (named `path` in diagnostics). Reports every semantic error at
/// once; a TOML syntax error is reported alone. The facts about the machine (its addresses for
/// wildcard listeners, the `user`, resolv.conf for upstream "system", admin_token_file) come
/// from `host`; nothing else is read.
LoadResult load(std::string_view text, const std::string& path, const Host& host);
/// `load` on this machine (system_host()).
LoadResult load(std::string_view text, const std::string& path);

/// Large enough for any hand-written or generated configuration, small enough that pointing
/// --config at a log or a device fails at once.
inline constexpr size_t kMaxConfigBytes = size_t{64} << 20;

/// Reads the file (at most kMaxConfigBytes) and calls `load`; an unreadable file gives one
/// diagnostic at path:1:1.
LoadResult load_file(const std::string& path, const Host& host);
LoadResult load_file(const std::string& path);

/// The built-in default configuration (config/default.toml compiled in).
std::string_view default_text();

/// "<32 upper-case hex>.gr7.<region>.eks.amazonaws.com", derived deterministically.
std::string derive_endpoint(std::string_view name, std::string_view region);

std::string_view to_string(AccessMode m);

/// The inverse of to_string(AccessMode); nullopt for anything else.
std::optional<AccessMode> parse_access_mode(std::string_view text);

/// "private-ips" or "nxdomain", as written in the configuration.
std::string_view to_string(PrivateOutside p);

/// EKS allows at most this many publicAccessCidrs (quota L-93A74D60, not adjustable).
inline constexpr size_t kMaxPublicAccessCidrs = 40;

/// EKS's rules for publicAccessCidrs, shared by the loader and the control API so that both accept
/// the same lists and say the same thing: at most kMaxPublicAccessCidrs blocks; each one a CIDR
/// with no host bits set, and IPv6 only on a cluster with an IPv6 address.
struct PublicAccessCidrsCheck {
    std::vector<util::Cidr> valid; ///< the valid blocks, in order
    std::vector<size_t> invalid;   ///< indexes of the invalid blocks in the input
    bool too_many = false;         ///< more than kMaxPublicAccessCidrs blocks
    /// "The following CIDRs are invalid in publicAccessCidrs: A, B" (control characters
    /// escaped), or "" when every block is valid.
    std::string invalid_message;
};

PublicAccessCidrsCheck check_public_access_cidrs(std::span<const std::string_view> blocks,
                                                 bool cluster_has_ipv6);

/// "publicAccessCidrs can contain at most 40 CIDR blocks" (EKS's exact text is unknown).
std::string too_many_public_access_cidrs_message();

/// The nameservers of a resolv.conf text as port-53 upstreams (upstream "system"), without those
/// that are horizond itself: a port-53 `listen` entry with that address, or a port-53 wildcard
/// with a loopback address or one of `local` (the host's addresses). In file order, no repeats.
std::vector<util::Endpoint> system_upstreams(std::string_view resolv_conf,
                                             std::span<const util::Endpoint> listen,
                                             std::span<const util::IpAddress> local);

/// Whether any private or public address of the cluster is IPv6 (an IPv6 or dual-stack cluster).
bool has_ipv6(const ClusterConfig& c);

} // namespace horizon::config
