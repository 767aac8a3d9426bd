// Loads the TOML configuration into plain structs: the top-level sections (section_*.cpp), then
// the checks across them (cross_checks.cpp), every error collected with its file:line:col.
#include "config/loader.hpp"

#include "config/host.hpp"
#include "config/sections.hpp"

namespace horizon::config {

namespace {

using detail::Document;

constexpr auto kTopLevelKeys = std::to_array<KeySpec<Document>>({
    {"server", Presence::Optional, detail::read_server},
    {"cluster", Presence::Optional, detail::read_clusters}, // none: every query is REFUSED
    {"resolver", Presence::Optional, detail::read_resolver},
    {"zone", Presence::Optional, detail::read_zones}, // none: only the endpoint names are ours
});

} // namespace

LoadResult load(std::string_view text, const std::string& path, const Host& host) {
    Diagnostics d(path);
    const auto root = parse_toml(d, text, path);
    if (!root) {
        return d.take();
    }
    Document doc(host);
    read_section<Document>(d, *root, "at top level", kTopLevelKeys, doc);
    detail::check_across_clusters(d, doc);
    detail::check_not_empty(d, *root);
    detail::check_listener_clusters(d, *root, doc);
    const auto* server = root->get_as<toml::table>("server");
    if (server == nullptr || !server->contains("listen")) {
        doc.config.server.listen = detail::default_listen();
    }
    detail::check_api_addresses(d, doc);
    detail::finish_resolver(d, doc);
    detail::finish_zones(d, doc, path);
    if (!d.empty()) {
        return d.take();
    }
    return std::move(doc.config);
}

LoadResult load(std::string_view text, const std::string& path) {
    return load(text, path, system_host());
}

LoadResult load_file(const std::string& path, const Host& host) {
    const auto file = util::read_file(path, kMaxConfigBytes);
    if (!file.ok()) {
        // Line 1, column 1 rather than 0:0: tools that follow `path:line:col` (editors, CI
        // annotations) then still open the file, and there is no better position to blame.
        return std::vector<Diagnostic>{
            Diagnostic{path, 1, 1, "cannot read file: " + file.reason()}};
    }
    return load(file.text, path, host);
}

LoadResult load_file(const std::string& path) {
    return load_file(path, system_host());
}

ClusterConfig read_cluster_table(Diagnostics& d, const toml::table& table, std::string_view where,
                                 std::span<const std::string_view> extra) {
    const auto known = detail::cluster_keys();
    std::vector<KeySpec<ClusterConfig>> keys(known.begin(), known.end());
    for (const auto name : extra) {
        keys.push_back({name, Presence::Optional, read_later<ClusterConfig>});
    }
    ClusterConfig cluster;
    read_section<ClusterConfig>(d, table, where, keys, cluster);
    detail::finish_cluster(d, table, cluster);
    return cluster;
}

} // namespace horizon::config
