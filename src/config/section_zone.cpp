// [[zone]]: RFC 1035 master files served to the vpc view, the public view or both; and the
// checks across tables (one zone per origin and view).
#include <unordered_map>

#include "config/sections.hpp"

namespace horizon::config::detail {

namespace {

void read_zone_file(Diagnostics& d, std::string_view key, const toml::node& node, ZoneRead& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    if (s->empty() || s->find('\0') != std::string::npos) {
        d.error(node, fmt::format("'{}' must name a master file, got {}", key, quoted(*s)));
        return;
    }
    out.zone.file = *s;
}

void read_zone_origin(Diagnostics& d, std::string_view key, const toml::node& node, ZoneRead& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    std::string_view origin = *s;
    if (!origin.empty() && origin.back() == '.') {
        origin.remove_suffix(1); // an absolute name is the same name
    }
    if (origin.empty()) {
        d.error(node, fmt::format("invalid origin {} (horizond does not serve the root zone)",
                                  quoted(*s)));
        return;
    }
    if (const auto problem = zone_name_problem(origin)) {
        d.error(node, fmt::format("invalid origin {} ({})", quoted(*s), *problem));
        return;
    }
    out.zone.origin = origin;
}

void read_zone_views(Diagnostics& d, std::string_view key, const toml::node& node, ZoneRead& out) {
    const auto items = read_strings(d, key, node);
    out.views_ok = false;
    if (!items) {
        return;
    }
    if (items->empty()) {
        d.error(node, fmt::format("'{}' must list \"vpc\", \"public\" or both", key));
        return;
    }
    bool vpc = false;
    bool pub = false;
    bool ok = true;
    for (const auto& item : *items) {
        bool& seen = item.text == "vpc" ? vpc : pub;
        if (item.text != "vpc" && item.text != "public") {
            d.error(*item.node, fmt::format("unknown view {} in {} (expected \"vpc\" or "
                                            "\"public\")",
                                            quoted(item.text), key));
            ok = false;
        } else if (seen) {
            d.error(*item.node, fmt::format("duplicate view {} in {}", quoted(item.text), key));
            ok = false;
        }
        seen = true;
    }
    out.zone.vpc = vpc;
    out.zone.pub = pub;
    out.views_ok = ok;
}

constexpr auto kZoneKeys = std::to_array<KeySpec<ZoneRead>>({
    {"file", Presence::Required, read_zone_file},
    {"origin", Presence::Required, read_zone_origin},
    {"views", Presence::Optional, read_zone_views},
});

/// `file` resolved against the directory of `config_path` (unless absolute), then lexically
/// normalised: "config/../zones/x.zone" is "zones/x.zone". (No <filesystem> here: it brings
/// std::quoted into argument-dependent lookup of quoted().)
std::string resolve_zone_path(const std::string& config_path, const std::string& file) {
    std::string joined = file;
    if (file.front() != '/') {
        const auto slash = config_path.rfind('/');
        if (slash != std::string::npos) {
            joined = config_path.substr(0, slash + 1) + file;
        }
    }
    const bool absolute = joined.front() == '/';
    std::vector<std::string_view> parts;
    const std::string_view view(joined);
    size_t start = 0;
    while (start <= view.size()) {
        const auto end = std::min(view.find('/', start), view.size());
        const auto part = view.substr(start, end - start);
        if (part == "..") {
            if (!parts.empty() && parts.back() != "..") {
                parts.pop_back();
            } else if (!absolute) {
                parts.push_back(part); // above the working directory
            }
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        start = end + 1;
    }
    std::string out = absolute ? "/" : "";
    for (size_t i = 0; i < parts.size(); ++i) {
        out += (i > 0 ? "/" : "") + std::string(parts[i]);
    }
    return out.empty() ? "." : out;
}

} // namespace

void read_zones(Diagnostics& d, std::string_view key, const toml::node& node, Document& out) {
    for (const auto* table : read_tables(d, key, node, "zone")) {
        ZoneRead zone;
        zone.table = table;
        read_section<ZoneRead>(d, *table, "in [[zone]]", kZoneKeys, zone);
        out.zones.push_back(std::move(zone));
    }
}

void finish_zones(Diagnostics& d, Document& doc, const std::string& config_path) {
    // lower-cased origin -> the tables serving it to the vpc and the public view
    std::unordered_map<std::string, std::array<const toml::table*, 2>> seen;
    for (auto& z : doc.zones) {
        if (z.zone.file.empty() || z.zone.origin.empty() || !z.views_ok) {
            continue; // missing or invalid: reported
        }
        z.zone.path = resolve_zone_path(config_path, z.zone.file);
        auto& slots = seen.try_emplace(lower(z.zone.origin), std::array<const toml::table*, 2>{})
                          .first->second;
        bool clash = false;
        for (const size_t view : {size_t{0}, size_t{1}}) {
            if (!(view == 0 ? z.zone.vpc : z.zone.pub)) {
                continue;
            }
            if (slots[view] != nullptr && !clash) {
                d.error(*z.table->get("origin"),
                        fmt::format("origin {} is already served to the {} view by the [[zone]] "
                                    "at line {} (one zone per origin and view)",
                                    quoted(z.table->get("origin")->as_string()->get()),
                                    view == 0 ? "vpc" : "public",
                                    slots[view]->source().begin.line));
                clash = true;
            }
            slots[view] = z.table;
        }
        if (!clash) {
            doc.config.zones.push_back(std::move(z.zone));
        }
    }
}

} // namespace horizon::config::detail
