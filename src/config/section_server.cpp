// [server]: listen addresses (resolver listeners included), the admin listener and its token,
// limits, logging and the user to run as.
#include <algorithm>
#include <cctype>
#include <system_error>

#include "config/sections.hpp"

namespace horizon::config::detail {

namespace {

/// A listen entry's `view`: "source" (classify by source address, as a plain string does),
/// "vpc" (a resolver listener for every cluster) or "vpc:<cluster>" (for one cluster).
constexpr std::string_view kViewVpc = "vpc";
constexpr std::string_view kViewSource = "source";

/// One listen entry's address: "IP:PORT" or "[IPv6]:PORT" with a port.
std::optional<util::Endpoint> read_listen_address(Diagnostics& d, const toml::node& node,
                                                  std::string_view text) {
    const auto endpoint = util::Endpoint::parse(text);
    if (!endpoint) {
        d.error(node, fmt::format("invalid listen address {} (expected IP:PORT or [IPv6]:PORT)",
                                  quoted(text)));
        return std::nullopt;
    }
    if (endpoint->port == 0) {
        d.error(node, fmt::format("invalid listen address {} (port must be between 1 and 65535)",
                                  quoted(text)));
        return std::nullopt;
    }
    return endpoint;
}

/// A resolver listener, `{ address = "IP:PORT", view = "vpc" | "vpc:<cluster>" }`. The cluster
/// name is checked against [[cluster]] later (check_listener_clusters).
std::optional<Listener> read_listen_table(Diagnostics& d, const toml::table& table) {
    Listener out;
    bool ok = true;
    for (const auto& [key, value] : table) {
        const std::string_view name = key.str();
        if (name != "address" && name != "view") {
            d.error(key.source().begin, fmt::format("unknown key {} in a listen entry (expected "
                                                    "'address' and 'view')",
                                                    quoted(name)));
            ok = false;
        }
    }
    const toml::node* address = table.get("address");
    if (address == nullptr) {
        d.error(table, "a listen entry written as a table needs 'address' (\"IP:PORT\")");
        return std::nullopt;
    }
    const auto* text = read_string(d, "address", *address);
    const auto endpoint = text != nullptr ? read_listen_address(d, *address, *text) : std::nullopt;
    if (endpoint) {
        out.endpoint = *endpoint;
    } else {
        ok = false;
    }
    if (const toml::node* view = table.get("view")) {
        const auto* v = read_string(d, "view", *view);
        if (v == nullptr) {
            return std::nullopt;
        }
        if (*v == kViewVpc) {
            out.vpc = true;
        } else if (const auto cluster = view_cluster(*v)) {
            out.vpc = true;
            out.cluster = std::string(*cluster);
        } else if (*v != kViewSource) {
            d.error(*view, fmt::format("invalid view {} (expected \"vpc\", \"vpc:<cluster "
                                       "name>\" or \"source\")",
                                       quoted(*v)));
            ok = false;
        }
    }
    return ok ? std::optional<Listener>(std::move(out)) : std::nullopt;
}

/// [server] listen: strings ("IP:PORT", classified by source) and resolver listener tables.
void read_listen(Diagnostics& d, std::string_view key, const toml::node& node, ServerConfig& out) {
    const auto* array = node.as_array();
    const std::string message =
        fmt::format("'{}' must be an array of addresses (\"IP:PORT\" or {{ address = \"IP:PORT\", "
                    "view = \"vpc\" }})",
                    key);
    if (array == nullptr) {
        d.error(node, message);
        return;
    }
    if (array->empty()) {
        d.error(node, "listen must list at least one address");
    }
    std::vector<std::string> texts; // as written, parallel to out.listen
    for (const auto& element : *array) {
        std::optional<Listener> listener;
        std::string text;
        if (const auto* s = element.as_string()) {
            text = s->get();
            if (const auto endpoint = read_listen_address(d, element, text)) {
                listener = Listener{*endpoint, false, {}};
            }
        } else if (const auto* t = element.as_table()) {
            if (const auto* a = t->get_as<std::string>("address")) {
                text = a->get();
            }
            listener = read_listen_table(d, *t);
        } else {
            d.error(element, message);
        }
        if (!listener) {
            continue;
        }
        const auto seen = std::find_if(out.listen.begin(), out.listen.end(), [&](const auto& l) {
            return l.endpoint == listener->endpoint;
        });
        if (seen != out.listen.end()) {
            d.error(element, fmt::format("duplicate listen address {}{}", quoted(text),
                                         same_as(text, texts[seen - out.listen.begin()])));
            continue;
        }
        out.listen.push_back(std::move(*listener));
        texts.push_back(std::move(text));
    }
}

/// "" (no admin listener) or one IP:PORT.
void read_admin_listen(Diagnostics& d, std::string_view key, const toml::node& node,
                       ServerConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    if (s->empty()) {
        out.admin_listen.reset();
        return;
    }
    const auto endpoint = util::Endpoint::parse(*s);
    if (!endpoint) {
        d.error(node, fmt::format("invalid {} {} (expected IP:PORT, [IPv6]:PORT, or \"\" for no "
                                  "admin listener)",
                                  key, quoted(*s)));
    } else if (endpoint->port == 0) {
        d.error(node,
                fmt::format("invalid {} {} (port must be between 1 and 65535)", key, quoted(*s)));
    } else {
        out.admin_listen = *endpoint;
    }
}

/// A bearer token travels in an HTTP header (RFC 6750 §2.1): visible ASCII, no spaces.
bool is_token(std::string_view token) {
    return !token.empty() &&
           std::all_of(token.begin(), token.end(), [](char ch) { return ch > ' ' && ch < 0x7f; });
}

constexpr std::string_view kTokenRule =
    "printable ASCII without spaces (it is compared with an HTTP bearer token)";

/// The token itself never appears in a message: it is a secret.
void read_admin_token(Diagnostics& d, std::string_view key, const toml::node& node,
                      ServerConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    if (!s->empty() && !is_token(*s)) {
        d.error(node, fmt::format("'{}' must be {}", key, kTokenRule));
        return;
    }
    out.admin_token = *s;
}

constexpr auto kLogLevels = std::to_array<Choice<std::string_view>>({
    {"trace", "trace"},
    {"debug", "debug"},
    {"info", "info"},
    {"warn", "warn"},
    {"error", "error"},
    {"critical", "critical"},
    {"off", "off"},
});

/// An nftables table name: a letter, then letters, digits, '_' or '-' (nft's identifiers), at
/// most 32 characters, so it can be written into a ruleset as it is.
void read_gate_nft_table(Diagnostics& d, std::string_view key, const toml::node& node,
                         ServerConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const std::string& name = *s;
    const bool ok =
        name.empty() ||
        (name.size() <= 32 && std::isalpha(static_cast<unsigned char>(name[0])) != 0 &&
         std::all_of(name.begin(), name.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
         }));
    if (!ok) {
        d.error(node, fmt::format("invalid {} {} (a letter, then letters, digits, '_' or '-', at "
                                  "most 32 characters)",
                                  key, quoted(name)));
        return;
    }
    out.gate_nft_table = name;
}

constexpr auto kServerKeys = std::to_array<KeySpec<ServerConfig>>({
    {"listen", Presence::Optional, read_listen}, // absent: see default_listen()
    {"workers", Presence::Optional, integer<&ServerConfig::workers, 0, 256>},
    // RFC 6891 §6.2.5: below 512 is treated as 512; 4096 is the practical ceiling.
    {"udp_payload", Presence::Optional, integer<&ServerConfig::udp_payload, 512, 4096>},
    {"tcp_idle_timeout", Presence::Optional, positive_duration<&ServerConfig::tcp_idle_timeout>},
    {"tcp_max_connections", Presence::Optional,
     integer<&ServerConfig::tcp_max_connections, 1, 1000000>},
    {"tcp_max_connections_per_source", Presence::Optional,
     integer<&ServerConfig::tcp_max_connections_per_source, 1, 1000000>},
    {"log_level", Presence::Optional, choice<&ServerConfig::log_level, kLogLevels>},
    {"query_log", Presence::Optional, boolean<&ServerConfig::query_log>},
    {"identity", Presence::Optional, txt_string<&ServerConfig::identity>},
    {"version", Presence::Optional, txt_string<&ServerConfig::version>},
    {"admin_listen", Presence::Optional, read_admin_listen},
    {"admin_token", Presence::Optional, read_admin_token},
    {"admin_token_file", Presence::Optional, plain_string<&ServerConfig::admin_token_file>},
    {"admin_read_only", Presence::Optional, boolean<&ServerConfig::admin_read_only>},
    {"state_dir", Presence::Optional, plain_string<&ServerConfig::state_dir>},
    {"trusted_ecs_sources", Presence::Optional,
     cidrs<&ServerConfig::trusted_ecs_sources, Empty::Allowed>},
    {"user", Presence::Optional, plain_string<&ServerConfig::user>}, // checked by check_user
    {"gate_nft_table", Presence::Optional, read_gate_nft_table},
    {"allow_no_clusters", Presence::Optional, boolean<&ServerConfig::allow_no_clusters>},
});

/// The token file read now, so that --check-config and a reload catch a missing secret.
void read_token_file(Diagnostics& d, const toml::node& at, ServerConfig& s, const Host& host) {
    static constexpr size_t kLimit = 4096;
    const auto read = host.read_file(s.admin_token_file, kLimit);
    const auto first = read.text.find_first_not_of(" \t\r\n");
    const auto last = read.text.find_last_not_of(" \t\r\n");
    const std::string token =
        first == std::string::npos ? "" : read.text.substr(first, last - first + 1);
    const std::string file = quoted(s.admin_token_file);
    if (read.error == EFBIG) {
        d.error(at, fmt::format("admin_token_file {} is larger than {} bytes (expected a token)",
                                file, kLimit));
    } else if (!read.ok()) {
        d.error(at, fmt::format("cannot read admin_token_file {}: {}", file, read.reason()));
    } else if (token.empty()) {
        d.error(at, fmt::format("admin_token_file {} is empty", file));
    } else if (!is_token(token)) {
        d.error(at, fmt::format("the token in admin_token_file {} must be {}", file, kTokenRule));
    } else {
        s.admin_token = token;
    }
}

/// The user to run as after binding (port 53 as root): it must exist now, so that a typo is a
/// configuration error rather than a failed start-up later.
void check_user(Diagnostics& d, const toml::table& table, ServerConfig& s, const Host& host) {
    if (s.user.empty()) {
        return;
    }
    const int err = host.find_user(s.user);
    if (err == 0) {
        return;
    }
    d.error(*table.get("user"),
            err == ENOENT ? fmt::format("unknown user {} in 'user' (no such user in the system's "
                                        "user database)",
                                        quoted(s.user))
                          : fmt::format("cannot look up user {} in 'user': {}", quoted(s.user),
                                        std::generic_category().message(err)));
    s.user.clear();
}

/// The [server] checks that need several keys or the host: one token source, the token file,
/// the user, no admin port shared with DNS.
void finish_server(Diagnostics& d, const toml::table& table, ServerConfig& s, const Host& host) {
    if (!s.admin_token.empty() && !s.admin_token_file.empty()) {
        d.error(*table.get("admin_token_file"),
                "set either admin_token or admin_token_file, not both");
    } else if (!s.admin_token_file.empty()) {
        read_token_file(d, *table.get("admin_token_file"), s, host);
    }
    check_user(d, table, s, host);
    if (!s.gate_nft_table.empty() && !s.user.empty()) {
        d.error(*table.get("gate_nft_table"),
                fmt::format("gate_nft_table needs CAP_NET_ADMIN for as long as horizond runs, "
                            "but user = {} drops every capability after binding (remove one)",
                            quoted(s.user)));
    }
    if (!s.admin_listen) {
        return;
    }
    const auto listen = table.contains("listen") ? s.listen : default_listen();
    for (const auto& l : listen) {
        const util::Endpoint& dns = l.endpoint;
        if (!same_tcp_port(*s.admin_listen, dns)) {
            continue;
        }
        if (const toml::node* at = table.get("admin_listen")) {
            d.error(*at, fmt::format("admin_listen '{}' clashes with the DNS listen address '{}' "
                                     "(both need TCP port {})",
                                     s.admin_listen->to_string(), dns.to_string(), dns.port));
        } else {
            d.error(*table.get("listen"),
                    fmt::format("the DNS listen address '{}' clashes with the default "
                                "admin_listen '{}' (both need TCP port {}; set admin_listen to "
                                "another address, or \"\" for none)",
                                dns.to_string(), s.admin_listen->to_string(), dns.port));
        }
        break;
    }
}

} // namespace

std::optional<std::string_view> view_cluster(std::string_view view) {
    if (!view.starts_with(kViewVpc) || view.size() <= kViewVpc.size() + 1 ||
        view[kViewVpc.size()] != ':') {
        return std::nullopt;
    }
    return view.substr(kViewVpc.size() + 1);
}

std::vector<Listener> default_listen() {
    return {{*util::Endpoint::parse("127.0.0.1:1053"), false, {}},
            {*util::Endpoint::parse("[::1]:1053"), false, {}}};
}

bool same_tcp_port(const util::Endpoint& a, const util::Endpoint& b) {
    if (a.port != b.port || a.addr.family != b.addr.family) {
        return false;
    }
    const util::IpAddress any{a.addr.family, {}};
    return a.addr == b.addr || a.addr == any || b.addr == any;
}

void read_server(Diagnostics& d, std::string_view key, const toml::node& node, Document& out) {
    const auto* table = node.as_table();
    if (table == nullptr) {
        d.error(node, fmt::format("'{}' must be a table ([server])", key));
        return;
    }
    read_section<ServerConfig>(d, *table, "in [server]", kServerKeys, out.config.server);
    finish_server(d, *table, out.config.server, out.host);
}

} // namespace horizon::config::detail
