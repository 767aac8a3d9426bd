// `horizonctl kind init`'s inputs: `docker network inspect` (JSON) and `kind get kubeconfig`
// (YAML) read into Network and Kubeconfig, with positions for the errors.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <yaml-cpp/yaml.h>

#include "ctl/kind_init.hpp"
#include "ctl/kind_support.hpp"

namespace horizon::ctl::kind {

std::string scalar(const YAML::Node& map, const char* key) {
    if (!map.IsMap()) {
        return {};
    }
    const YAML::Node n = map[key];
    return n && n.IsScalar() ? n.Scalar() : std::string();
}

YAML::Node named_entry(const YAML::Node& root, const char* list, const std::string& name) {
    const YAML::Node l = root[list];
    if (l && l.IsSequence()) {
        for (const YAML::Node& e : l) {
            if (scalar(e, "name") == name) {
                return e;
            }
        }
    }
    return YAML::Node(YAML::NodeType::Undefined);
}

namespace {

/// Line and column (1-based) of byte `offset` in `text`.
std::pair<unsigned, unsigned> position_of(std::string_view text, size_t offset) {
    unsigned line = 1;
    unsigned col = 1;
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return {line, col};
}

/// A JSON member as a string, "" when absent or not a string.
std::string str_member(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// "172.18.0.2/16" -> 172.18.0.2; "" or junk -> none.
std::optional<util::IpAddress> address_of(const std::string& with_prefix) {
    return util::IpAddress::parse(std::string_view(with_prefix).substr(0, with_prefix.find('/')));
}

/// The first address after the network address, Docker's default gateway for a subnet.
util::IpAddress first_host(const util::Cidr& c) {
    util::IpAddress a = c.addr;
    for (size_t i = a.bits() / 8; i-- > 0;) {
        if (++a.bytes[i] != 0) {
            break;
        }
    }
    return a;
}

struct Url {
    std::string host;
    uint16_t port = 443;
};

/// "https://host:port[/path]" (host may be "[v6]"); none if it is not such a URL.
std::optional<Url> parse_https_url(std::string_view url) {
    constexpr std::string_view kScheme = "https://";
    if (!url.starts_with(kScheme)) {
        return std::nullopt;
    }
    std::string_view rest = url.substr(kScheme.size());
    rest = rest.substr(0, rest.find('/'));
    Url out;
    std::string_view port;
    if (rest.starts_with('[')) {
        const size_t close = rest.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        out.host = std::string(rest.substr(1, close - 1));
        rest = rest.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) {
            return std::nullopt;
        }
        port = rest.empty() ? std::string_view() : rest.substr(1);
    } else {
        const size_t colon = rest.rfind(':');
        out.host = std::string(rest.substr(0, colon));
        port = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
    if (out.host.empty()) {
        return std::nullopt;
    }
    if (!port.empty()) {
        unsigned v = 0;
        for (const char c : port) {
            if (c < '0' || c > '9' || (v = v * 10 + static_cast<unsigned>(c - '0')) > 65535) {
                return std::nullopt;
            }
        }
        if (v == 0) {
            return std::nullopt;
        }
        out.port = static_cast<uint16_t>(v);
    }
    return out;
}

} // namespace

Parsed<Network> parse_network(std::string_view json) {
    const std::string where = "network";
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(json);
    } catch (const nlohmann::json::parse_error& e) {
        const auto [line, col] = position_of(json, e.byte > 0 ? e.byte - 1 : 0);
        return failure<Network>(where, std::string("not JSON: ") + e.what(), line, col);
    }
    if (doc.is_array()) {
        if (doc.size() != 1) {
            return failure<Network>(where, fmt::format("expected the output of `docker network "
                                                       "inspect kind`: one network, got {}",
                                                       doc.size()));
        }
        doc = doc[0];
    }
    if (!doc.is_object() || !doc.contains("IPAM")) {
        return failure<Network>(where, "expected the output of `docker network inspect kind` "
                                       "(an object with Name, IPAM and Containers)");
    }
    Network net;
    net.name = str_member(doc, "Name");
    net.id = str_member(doc, "Id");
    const nlohmann::json ipam = doc["IPAM"];
    const auto config = ipam.is_object() ? ipam.find("Config") : ipam.end();
    if (config != ipam.end() && config->is_array()) {
        for (const auto& c : *config) {
            if (!c.is_object()) {
                continue;
            }
            const std::string subnet = str_member(c, "Subnet");
            const auto cidr = util::Cidr::parse(subnet);
            if (!cidr) {
                return failure<Network>(
                    where, fmt::format("IPAM.Config: invalid Subnet {}", toml_string(subnet)));
            }
            const std::string gw = str_member(c, "Gateway");
            const auto gateway = gw.empty() ? first_host(*cidr) : util::IpAddress::parse(gw);
            if (!gateway || !cidr->contains(*gateway)) {
                return failure<Network>(where, fmt::format("IPAM.Config: invalid Gateway {} for "
                                                           "subnet {}",
                                                           toml_string(gw), subnet));
            }
            net.subnets.push_back(*cidr);
            net.gateways.push_back(*gateway);
            net.pinned.push_back(gw.empty());
        }
    }
    if (net.subnets.empty()) {
        return failure<Network>(where, "network " + toml_string(net.name) +
                                           " has no subnet in IPAM.Config");
    }
    const auto containers = doc.find("Containers");
    if (containers != doc.end() && containers->is_object()) {
        for (const auto& [id, c] : containers->items()) {
            if (!c.is_object()) {
                continue;
            }
            Network::Container out;
            out.name = str_member(c, "Name");
            out.ipv4 = address_of(str_member(c, "IPv4Address"));
            out.ipv6 = address_of(str_member(c, "IPv6Address"));
            if (out.ipv4 && !out.ipv4->is_v4()) {
                out.ipv4.reset();
            }
            if (out.ipv6 && out.ipv6->is_v4()) {
                out.ipv6.reset();
            }
            net.containers.push_back(std::move(out));
        }
    }
    std::sort(net.containers.begin(), net.containers.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    const auto options = doc.find("Options");
    if (options != doc.end() && options->is_object()) {
        net.bridge = str_member(*options, "com.docker.network.bridge.name");
    }
    if (net.bridge.empty() && net.id.size() >= 12) {
        net.bridge = "br-" + net.id.substr(0, 12); // Docker's name for a user-defined bridge
    }
    return {net, {}, {}, 0, 0};
}

Parsed<Kubeconfig> parse_kubeconfig(std::string_view yaml) {
    const std::string where = "kubeconfig";
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yaml));
    } catch (const YAML::Exception& e) {
        return yaml_failure<Kubeconfig>(where, e.mark, "not YAML: " + e.msg);
    }
    if (!root.IsMap() || scalar(root, "kind") != "Config") {
        return failure<Kubeconfig>(where,
                                   "expected a kubeconfig (kind: Config), the output of "
                                   "`kind get kubeconfig`",
                                   1, 1);
    }
    try {
        std::string cluster;
        const std::string context = scalar(root, "current-context");
        if (!context.empty()) {
            const YAML::Node ctx = named_entry(root, "contexts", context);
            if (!ctx) {
                return yaml_failure<Kubeconfig>(where, root["current-context"].Mark(),
                                                "current-context " + toml_string(context) +
                                                    " is not in contexts");
            }
            cluster = scalar(ctx["context"], "cluster");
        } else if (root["clusters"] && root["clusters"].IsSequence() &&
                   root["clusters"].size() == 1) {
            cluster = scalar(root["clusters"][0], "name");
        }
        if (cluster.empty()) {
            return failure<Kubeconfig>(where, "no current-context (and not exactly one cluster)", 1,
                                       1);
        }
        const YAML::Node entry = named_entry(root, "clusters", cluster);
        if (!entry) {
            return failure<Kubeconfig>(
                where, "cluster " + toml_string(cluster) + " is not in clusters", 1, 1);
        }
        const std::string server = scalar(entry["cluster"], "server");
        const auto url = parse_https_url(server);
        if (!url) {
            const YAML::Node map = entry["cluster"];
            const YAML::Node at = map.IsMap() && map["server"] ? map["server"] : entry;
            return yaml_failure<Kubeconfig>(where, at.Mark(),
                                            "cluster " + toml_string(cluster) +
                                                ": server must be an https://HOST:PORT URL, got " +
                                                toml_string(server));
        }
        std::string host = url->host;
        return {Kubeconfig{cluster, server, host, url->port}, {}, {}, 0, 0};
    } catch (const YAML::Exception& e) {
        return yaml_failure<Kubeconfig>(where, e.mark, e.msg);
    }
}

} // namespace horizon::ctl::kind
