// The loader's internals: what each section reader leaves for the checks that need the whole
// file, and the entry points of the per-section files (section_*.cpp, cross_checks.cpp,
// names.cpp). Only src/config includes this.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/host.hpp"
#include "config/schema.hpp"

namespace horizon::config::detail {

/// One upstreams list as read: the addresses, where each was written, and where "system" was.
struct UpstreamsRead {
    std::vector<util::Endpoint> list;
    std::vector<const toml::node*> nodes; // parallel to list
    const toml::node* system = nullptr;
};

struct ForwardRead {
    ForwardZone zone;
    UpstreamsRead upstreams;
    const toml::table* table = nullptr;
};

/// [resolver] as read, before the checks that need [server] and the clusters.
struct ResolverRead {
    ResolverConfig config;
    UpstreamsRead upstreams;
    std::vector<ForwardRead> forward;
    const toml::table* table = nullptr;
};

/// One [[zone]] table as read, before the checks across zones.
struct ZoneRead {
    ZoneConfig zone;
    const toml::table* table = nullptr;
    bool views_ok = true; ///< `views` absent or valid
};

/// The file being read: the config and, for cross-section messages, where each part was.
struct Document {
    explicit Document(const Host& h)
        : host(h) {}

    const Host& host;
    Config config;
    std::vector<const toml::table*> cluster_tables;
    ResolverRead resolver;
    std::vector<ZoneRead> zones;
};

// section_server.cpp
void read_server(Diagnostics& d, std::string_view key, const toml::node& node, Document& out);
/// Where the built-in default (config/default.toml) listens; used when `listen` is absent.
std::vector<Listener> default_listen();
/// Whether two TCP listeners would fight over one port: same family and port, and the same
/// address or a wildcard.
bool same_tcp_port(const util::Endpoint& a, const util::Endpoint& b);
/// A listen entry's `view = "vpc:<cluster>"`: the cluster's name, or nullopt for another view.
std::optional<std::string_view> view_cluster(std::string_view view);

// section_cluster.cpp
void read_clusters(Diagnostics& d, std::string_view key, const toml::node& node, Document& out);
/// The [[cluster]] keys, for horizon-sim's [cluster] too.
std::span<const KeySpec<ClusterConfig>> cluster_keys();
/// The checks that need the whole cluster table read.
void finish_cluster(Diagnostics& d, const toml::table& table, ClusterConfig& c);

// section_resolver.cpp
void read_resolver(Diagnostics& d, std::string_view key, const toml::node& node, Document& out);
/// The [resolver] checks that need [server] and the clusters; "system" read from the host.
void finish_resolver(Diagnostics& d, Document& doc);

// section_zone.cpp
void read_zones(Diagnostics& d, std::string_view key, const toml::node& node, Document& out);
/// The [[zone]] checks across tables; files resolved against `config_path`'s directory.
void finish_zones(Diagnostics& d, Document& doc, const std::string& config_path);

// names.cpp: what makes a name unusable, or nullopt. `name` has no trailing dot.
/// A host name (RFC 1035 §2.3.1 with RFC 1123 §2.1's leading digits), two labels at least.
std::optional<std::string> dns_name_problem(std::string_view name);
/// A zone: one label is fine ("internal") and so is '_' ("_tcp.example"); not the root.
std::optional<std::string> zone_name_problem(std::string_view zone);
/// `text` lower-cased (ASCII), for names compared case-insensitively.
std::string lower(std::string_view text);

// config.cpp
/// Whether a query sent to `upstream` would reach a socket listening on `listen`: the same port,
/// and the same address or a wildcard that covers it (`local`: the host's addresses).
bool reaches(const util::Endpoint& upstream, const util::Endpoint& listen,
             std::span<const util::IpAddress> local);
inline constexpr uint16_t kDnsPort = 53;

// cross_checks.cpp
/// A resolver listener's `view = "vpc:<cluster>"` must name a [[cluster]] of the file.
void check_listener_clusters(Diagnostics& d, const toml::table& root, const Document& doc);
/// No two API endpoint sockets on one address and port.
void check_api_addresses(Diagnostics& d, const Document& doc);
/// Cluster names and endpoints unique.
void check_across_clusters(Diagnostics& d, const Document& doc);
/// A file with no section and no key (0 bytes, blanks, comments) is an error.
void check_not_empty(Diagnostics& d, const toml::table& root);

} // namespace horizon::config::detail
