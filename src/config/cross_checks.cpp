// The checks across sections: listener views name real clusters, API endpoint sockets do not
// collide with each other or with DNS and admin listeners, cluster names and endpoints unique.
#include <unordered_map>

#include "config/sections.hpp"

namespace horizon::config::detail {

void check_listener_clusters(Diagnostics& d, const toml::table& root, const Document& doc) {
    // Walks the listen array again: read_listen had no clusters to check against.
    const auto* listen = root.at_path("server.listen").as_array();
    if (listen == nullptr) {
        return;
    }
    for (const auto& element : *listen) {
        const auto* table = element.as_table();
        const auto* view = table != nullptr ? table->get_as<std::string>("view") : nullptr;
        const auto name = view != nullptr ? view_cluster(view->get()) : std::nullopt;
        if (!name) {
            continue; // "vpc", "source", or an invalid view (reported)
        }
        const auto& clusters = doc.config.clusters;
        if (std::any_of(clusters.begin(), clusters.end(),
                        [&](const ClusterConfig& c) { return c.name == *name; })) {
            continue;
        }
        std::string known;
        for (const auto& c : clusters) {
            known += (known.empty() ? "" : ", ") + quoted(c.name);
        }
        d.error(*view, fmt::format("view {} names an unknown cluster {} ({})", quoted(view->get()),
                                   quoted(*name),
                                   known.empty() ? std::string("no [[cluster]] is defined")
                                                 : "clusters: " + known));
    }
}

void check_api_addresses(Diagnostics& d, const Document& doc) {
    struct Bound {
        util::Endpoint at;
        size_t cluster;
    };

    std::vector<Bound> seen;
    const auto& server = doc.config.server;
    for (size_t i = 0; i < doc.config.clusters.size(); ++i) {
        const auto& c = doc.config.clusters[i];
        const auto* api = doc.cluster_tables[i]->get_as<toml::table>("api");
        if (!c.api || api == nullptr) {
            continue;
        }
        const toml::node& at = api->contains("port") ? *api->get("port") : *api;
        bool reported = false;
        for (const auto* ips : {&c.public_ips, &c.private_ips}) {
            for (const auto& ip : *ips) {
                const util::Endpoint ep{ip, c.api->port};
                const auto other = std::find_if(seen.begin(), seen.end(), [&](const Bound& b) {
                    return b.at == ep && b.cluster != i;
                });
                if (other != seen.end() && !reported) {
                    d.error(at,
                            fmt::format("API endpoint address {} is also one of cluster {} "
                                        "(line {}); give the clusters different addresses or "
                                        "ports",
                                        ep.to_string(),
                                        quoted(doc.config.clusters[other->cluster].name),
                                        doc.cluster_tables[other->cluster]->source().begin.line));
                    reported = true;
                }
                seen.push_back({ep, i});
                for (const auto& l : server.listen) {
                    const util::Endpoint& dns = l.endpoint;
                    if (same_tcp_port(ep, dns) && !reported) {
                        d.error(at, fmt::format("API endpoint address {} clashes with the DNS "
                                                "listen address '{}' (both need TCP port {})",
                                                ep.to_string(), dns.to_string(), ep.port));
                        reported = true;
                    }
                }
                if (server.admin_listen && same_tcp_port(ep, *server.admin_listen) && !reported) {
                    d.error(at,
                            fmt::format("API endpoint address {} clashes with admin_listen "
                                        "'{}' (both need TCP port {})",
                                        ep.to_string(), server.admin_listen->to_string(), ep.port));
                    reported = true;
                }
            }
        }
    }
}

void check_across_clusters(Diagnostics& d, const Document& doc) {
    // Where a cluster's key is, or its table's header when the key is absent (derived endpoint).
    const auto node_of = [&](size_t i, std::string_view key) -> const toml::node& {
        const toml::node* node = doc.cluster_tables[i]->get(key);
        return node != nullptr ? *node : *doc.cluster_tables[i];
    };
    std::unordered_map<std::string_view, size_t> names;
    std::unordered_map<std::string, size_t> endpoints; // lower-cased: an endpoint is a DNS name
    for (size_t i = 0; i < doc.config.clusters.size(); ++i) {
        const auto& c = doc.config.clusters[i];
        if (!c.name.empty()) {
            const auto [first, fresh] = names.emplace(c.name, i);
            if (!fresh) {
                d.error(node_of(i, "name"),
                        fmt::format("duplicate cluster name {} (first defined at line {})",
                                    quoted(c.name),
                                    node_of(first->second, "name").source().begin.line));
            }
        }
        if (c.endpoint.empty()) {
            continue;
        }
        const auto [first, fresh] = endpoints.emplace(lower(c.endpoint), i);
        const bool derived = !doc.cluster_tables[i]->contains("endpoint");
        const bool first_derived = !doc.cluster_tables[first->second]->contains("endpoint");
        // Two derived endpoints collide only when name and region do: already reported.
        if (fresh || (derived && first_derived)) {
            continue;
        }
        d.error(node_of(i, "endpoint"),
                fmt::format("duplicate endpoint {}{} (first defined at line {})",
                            quoted(c.endpoint), derived ? " derived from name and region" : "",
                            node_of(first->second, "endpoint").source().begin.line));
    }
}

void check_not_empty(Diagnostics& d, const toml::table& root) {
    // An editor that truncates the file and writes it again, a ConfigMap key replaced by an empty
    // one: refused, so that neither a start nor a reload serves nothing from a file half written.
    if (root.empty()) {
        d.error(toml::source_position{1, 1},
                "the file is empty (no section, no key): a file still being written? (a running "
                "horizond keeps serving what it has)");
    }
}

} // namespace horizon::config::detail
