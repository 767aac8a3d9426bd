// Loads the TOML configuration into plain structs, validating every key against one schema table
// per section and collecting every error with its file:line:col.
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fmt/format.h>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include <ifaddrs.h>
#include <pwd.h>
#include <sys/socket.h>

#include <toml++/toml.h>

#include "config/config.hpp"
#include "config/duration.hpp"
#include "util/crypto.hpp"
#include "util/edit_distance.hpp"

namespace horizon::config {

std::string Diagnostic::to_string() const {
    return fmt::format("{}:{}:{}: error: {}", path, line, col, message);
}

std::string_view to_string(AccessMode m) {
    switch (m) {
    case AccessMode::Public:
        return "public";
    case AccessMode::PublicPrivate:
        return "public+private";
    case AccessMode::Private:
        return "private";
    }
    return "?";
}

std::optional<AccessMode> parse_access_mode(std::string_view text) {
    for (const auto m : {AccessMode::Public, AccessMode::PublicPrivate, AccessMode::Private}) {
        if (to_string(m) == text) {
            return m;
        }
    }
    return std::nullopt;
}

std::string_view to_string(DenyAction a) {
    return a == DenyAction::Drop ? "drop" : "reset";
}

std::string Listener::to_string() const {
    if (!vpc) {
        return endpoint.to_string();
    }
    return endpoint.to_string() + " (view vpc" + (cluster.empty() ? "" : ":" + cluster) + ")";
}

std::string ApiUpstream::to_string() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
}

std::string_view to_string(PrivateOutside p) {
    switch (p) {
    case PrivateOutside::PrivateIps:
        return "private-ips";
    case PrivateOutside::NxDomain:
        return "nxdomain";
    }
    return "?";
}

std::string derive_endpoint(std::string_view name, std::string_view region) {
    return fmt::format("{}.gr7.{}.eks.amazonaws.com",
                       util::sha256_hex(fmt::format("{}/{}", name, region), 32,
                                        util::HexCase::Upper),
                       region);
}

namespace {

/// Collects the diagnostics of one load.
class Diagnostics {
public:
    explicit Diagnostics(std::string path)
        : path_(std::move(path)) {}

    void error(toml::source_position at, std::string message) {
        list_.push_back(Diagnostic{path_, at.line, at.column, std::move(message)});
    }

    void error(const toml::node& at, std::string message) {
        error(at.source().begin, std::move(message));
    }

    [[nodiscard]] bool empty() const { return list_.empty(); }

    /// In file order; errors at the same position keep the order they were found in.
    std::vector<Diagnostic> take() {
        std::stable_sort(list_.begin(), list_.end(), [](const Diagnostic& a, const Diagnostic& b) {
            return std::tie(a.line, a.col) < std::tie(b.line, b.col);
        });
        return std::move(list_);
    }

private:
    std::string path_;
    std::vector<Diagnostic> list_;
};

bool is_alnum(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

char to_lower(char ch) {
    return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
}

/// `text` with control characters escaped, so that one diagnostic stays one line.
std::string escaped(std::string_view text) {
    std::string out;
    for (const char ch : text) {
        const auto byte = static_cast<unsigned char>(ch);
        if (byte < 0x20 || byte == 0x7f) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out += ch;
        }
    }
    return out;
}

/// 'text', as user-supplied values appear in messages.
std::string quoted(std::string_view text) {
    return "'" + escaped(text) + "'";
}

/// " (same as 'first')" when a duplicate is written differently from the value it repeats.
std::string same_as(std::string_view text, std::string_view first) {
    return text == first ? std::string() : fmt::format(" (same as {})", quoted(first));
}

// ---------------------------------------------------------------------------------------------
// The schema machinery: a section is a table of KeySpecs, so adding a key is one line.

enum class Presence : uint8_t { Optional, Required };

/// Reads one key's value into `out`, reporting what is wrong with it. `key` names it in messages.
template <typename T>
using Reader = void (*)(Diagnostics& d, std::string_view key, const toml::node& node, T& out);

template <typename T>
struct KeySpec {
    std::string_view name;
    Presence presence = Presence::Optional;
    Reader<T> read = nullptr;
};

using util::edit_distance;

/// Lower case without '_' and '-': "publicAccessCidrs" and "public-access-cidrs" both match
/// "public_access_cidrs".
std::string folded(std::string_view key) {
    std::string out;
    for (const char ch : key) {
        if (ch != '_' && ch != '-') {
            out += to_lower(ch);
        }
    }
    return out;
}

/// The known key an unknown one most likely meant, or "" when none is close enough to guess.
template <typename T>
std::string_view closest_key(std::string_view unknown, std::span<const KeySpec<T>> keys) {
    std::string_view best;
    size_t best_distance = 3; // at most two edits...
    if (unknown.size() < 4) {
        best_distance = 0; // ...and none for keys too short for a guess to mean anything
    }
    for (const auto& spec : keys) {
        if (folded(unknown) == folded(spec.name)) {
            return spec.name;
        }
        const size_t distance = edit_distance(unknown, spec.name);
        if (distance < best_distance) {
            best_distance = distance;
            best = spec.name;
        }
    }
    return best;
}

/// Reads every key of `table` with its spec; `where` ("in [server]", "at top level") places the
/// section in messages. A key not in `keys` is an error: a typo must never pass silently.
template <typename T>
void read_section(Diagnostics& d, const toml::table& table, std::string_view where,
                  std::span<const KeySpec<T>> keys, T& out) {
    for (const auto& [key, node] : table) {
        const std::string_view name = key.str(); // clang 14 cannot capture a structured binding
        const auto spec = std::find_if(keys.begin(), keys.end(),
                                       [&](const KeySpec<T>& s) { return s.name == name; });
        if (spec != keys.end()) {
            spec->read(d, spec->name, node, out);
            continue;
        }
        std::string message = fmt::format("unknown key {} {}", quoted(name), where);
        if (const auto guess = closest_key(name, keys); !guess.empty()) {
            message += fmt::format(" (did you mean '{}'?)", guess);
        }
        d.error(key.source().begin, std::move(message));
    }
    for (const auto& spec : keys) {
        if (spec.presence == Presence::Required && !table.contains(spec.name)) {
            d.error(table, fmt::format("missing required key '{}' {}", spec.name, where));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Value readers shared by the sections.

std::optional<int64_t> read_integer(Diagnostics& d, std::string_view key, const toml::node& node,
                                    int64_t lo, int64_t hi) {
    const auto* value = node.as_integer();
    if (value == nullptr) {
        d.error(node, fmt::format("'{}' must be an integer", key));
        return std::nullopt;
    }
    const int64_t n = value->get();
    if (n < lo || n > hi) {
        d.error(node, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, n));
        return std::nullopt;
    }
    return n;
}

const std::string* read_string(Diagnostics& d, std::string_view key, const toml::node& node) {
    const auto* value = node.as_string();
    if (value == nullptr) {
        d.error(node, fmt::format("'{}' must be a string", key));
        return nullptr;
    }
    return &value->get();
}

struct StringItem {
    std::string_view text;
    const toml::node* node;
};

/// The strings of an array of strings. A non-array is an error; so is a non-string element,
/// reported once, at the first, while the strings around it are still returned for checking.
std::optional<std::vector<StringItem>> read_strings(Diagnostics& d, std::string_view key,
                                                    const toml::node& node) {
    const auto* array = node.as_array();
    const std::string message = fmt::format("'{}' must be an array of strings", key);
    if (array == nullptr) {
        d.error(node, message);
        return std::nullopt;
    }
    std::vector<StringItem> items;
    bool reported = false;
    for (const auto& element : *array) {
        if (const auto* s = element.as_string()) {
            items.push_back({s->get(), &element});
        } else if (!reported) {
            d.error(element, message);
            reported = true;
        }
    }
    return items;
}

template <auto Member, int64_t Lo, int64_t Hi, typename T>
void integer(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    if (const auto n = read_integer(d, key, node, Lo, Hi)) {
        out.*Member = static_cast<std::remove_cvref_t<decltype(out.*Member)>>(*n);
    }
}

template <auto Member, typename T>
void boolean(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    if (const auto* value = node.as_boolean()) {
        out.*Member = value->get();
    } else {
        d.error(node, fmt::format("'{}' must be true or false", key));
    }
}

/// A string sent as one DNS TXT character-string, so at most 255 bytes (RFC 1035 §3.3).
template <auto Member, typename T>
void txt_string(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    static constexpr size_t kMax = 255;
    if (const auto* s = read_string(d, key, node)) {
        if (s->size() > kMax) {
            d.error(node, fmt::format("'{}' must be at most {} bytes (it is sent as a DNS TXT "
                                      "string), got {}",
                                      key, kMax, s->size()));
        } else {
            out.*Member = *s;
        }
    }
}

template <typename V>
struct Choice {
    std::string_view text;
    V value;
};

/// One of a fixed set of strings, e.g. access_mode.
template <auto Member, const auto& Choices, typename T>
void choice(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    for (const auto& c : Choices) {
        if (c.text == *s) {
            out.*Member = c.value;
            return;
        }
    }
    std::string expected;
    for (size_t left = std::size(Choices); const auto& c : Choices) {
        --left;
        expected += fmt::format("\"{}\"{}", c.text, left == 0 ? "" : left == 1 ? " or " : ", ");
    }
    d.error(node, fmt::format("invalid {} {} (expected {})", key, quoted(*s), expected));
}

/// A duration string such as "10s" (zero included), or nullopt after reporting why not.
std::optional<std::chrono::milliseconds> read_duration(Diagnostics& d, std::string_view key,
                                                       const toml::node& node) {
    const auto* s = node.as_string();
    if (s == nullptr) {
        d.error(node, fmt::format("'{}' must be a duration string such as \"10s\"", key));
        return std::nullopt;
    }
    const auto duration = parse_duration(s->get());
    if (!duration) {
        d.error(node, fmt::format("invalid duration {} (expected e.g. \"500ms\", \"10s\", \"6m\", "
                                  "\"1h\")",
                                  quoted(s->get())));
    }
    return duration;
}

/// A duration string that must be greater than zero.
template <auto Member, typename T>
void positive_duration(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    const auto duration = read_duration(d, key, node);
    if (!duration) {
        return;
    }
    if (duration->count() == 0) {
        d.error(node, fmt::format("'{}' must be greater than zero", key));
    } else {
        out.*Member = *duration;
    }
}

/// A duration string from zero up to `MaxHours` hours.
template <auto Member, int64_t MaxHours, typename T>
void bounded_duration(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    const auto duration = read_duration(d, key, node);
    if (!duration) {
        return;
    }
    if (*duration > std::chrono::hours(MaxHours)) {
        d.error(node, fmt::format("'{}' must be at most \"{}h\", got {}", key, MaxHours,
                                  quoted(node.as_string()->get())));
    } else {
        out.*Member = *duration;
    }
}

/// Any string, kept as written.
template <auto Member, typename T>
void plain_string(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    if (const auto* s = read_string(d, key, node)) {
        out.*Member = *s;
    }
}

/// `addr` with every bit after the first `len` cleared.
util::IpAddress network_of(util::IpAddress addr, unsigned len) {
    unsigned bit = 0;
    for (auto& byte : addr.bytes) {
        const unsigned keep = std::min(8U, len - std::min(len, bit)); // this byte's prefix bits
        byte &= static_cast<uint8_t>(0xFF00U >> keep);
        bit += 8;
    }
    return addr;
}

enum class Empty : uint8_t { Allowed, Rejected };

/// A list of CIDRs with no host bits set.
template <auto Member, Empty IfEmpty, typename T>
void cidrs(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    const auto items = read_strings(d, key, node);
    if (!items) {
        return;
    }
    if (IfEmpty == Empty::Rejected && node.as_array()->empty()) {
        d.error(node, fmt::format("{} must list at least one CIDR", key));
    }
    for (const auto& item : *items) {
        util::Cidr::Error why = util::Cidr::Error::None;
        if (const auto cidr = util::Cidr::parse(item.text, &why)) {
            (out.*Member).push_back(*cidr);
            continue;
        }
        std::string hint = "expected ADDRESS/LEN";
        if (why == util::Cidr::Error::HostBits) {
            // Cidr::parse only reports host bits once address and length are both valid.
            const auto slash = item.text.find('/');
            const auto digits = item.text.substr(slash + 1);
            unsigned len = 0;
            std::from_chars(digits.data(), digits.data() + digits.size(), len);
            const util::Cidr fixed{
                network_of(*util::IpAddress::parse(item.text.substr(0, slash)), len), len};
            hint = fmt::format("host bits set; did you mean '{}'?", fixed.to_string());
        }
        d.error(*item.node,
                fmt::format("invalid CIDR {} in {} ({})", quoted(item.text), key, hint));
    }
}

/// A non-empty list of distinct IP addresses: they become one A/AAAA RRset, and an RRset holds
/// no duplicate records (RFC 2181 §5).
template <auto Member, typename T>
void ip_addresses(Diagnostics& d, std::string_view key, const toml::node& node, T& out) {
    const auto items = read_strings(d, key, node);
    if (!items) {
        return;
    }
    if (node.as_array()->empty()) {
        d.error(node, fmt::format("{} must list at least one address", key));
    }
    auto& list = out.*Member;
    std::vector<std::string_view> texts; // as written, parallel to `list`
    for (const auto& item : *items) {
        const auto ip = util::IpAddress::parse(item.text);
        if (!ip) {
            d.error(*item.node, fmt::format("invalid IP address {} in {} (expected an IPv4 or "
                                            "IPv6 address)",
                                            quoted(item.text), key));
            continue;
        }
        const auto seen = std::find(list.begin(), list.end(), *ip);
        if (seen != list.end()) {
            d.error(*item.node, fmt::format("duplicate address {} in {}{}", quoted(item.text), key,
                                            same_as(item.text, texts[seen - list.begin()])));
            continue;
        }
        list.push_back(*ip);
        texts.push_back(item.text);
    }
}

/// For keys whose checks depend on other keys: finish_cluster validates them once all are read.
template <typename T>
void read_later(Diagnostics& /*d*/, std::string_view /*key*/, const toml::node& /*node*/,
                T& /*out*/) {}

// ---------------------------------------------------------------------------------------------
// [server]

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
            std::string message = fmt::format("unknown key {} in a listen entry (expected "
                                              "'address' and 'view')",
                                              quoted(name));
            d.error(key.source().begin, std::move(message));
            ok = false;
        }
    }
    const toml::node* address = table.get("address");
    if (address == nullptr) {
        d.error(table, "a listen entry written as a table needs 'address' (\"IP:PORT\")");
        return std::nullopt;
    }
    if (const auto* text = read_string(d, "address", *address)) {
        if (const auto endpoint = read_listen_address(d, *address, *text)) {
            out.endpoint = *endpoint;
        } else {
            ok = false;
        }
    } else {
        ok = false;
    }
    if (const toml::node* view = table.get("view")) {
        const auto* text = read_string(d, "view", *view);
        if (text == nullptr) {
            return std::nullopt;
        }
        const std::string_view v = *text;
        if (v == kViewVpc) {
            out.vpc = true;
        } else if (v.starts_with(kViewVpc) && v.size() > kViewVpc.size() + 1 &&
                   v[kViewVpc.size()] == ':') {
            out.vpc = true;
            out.cluster = std::string(v.substr(kViewVpc.size() + 1));
        } else if (v != kViewSource) {
            d.error(*view, fmt::format("invalid view {} (expected \"vpc\", \"vpc:<cluster "
                                       "name>\" or \"source\")",
                                       quoted(v)));
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

/// The user to run as after binding (port 53 as root): it must exist now, so that a typo is a
/// configuration error rather than a failed start-up later.
void read_user(Diagnostics& d, std::string_view key, const toml::node& node, ServerConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr || s->empty()) {
        return;
    }
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    const int err = ::getpwnam_r(s->c_str(), &pw, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
        d.error(node, err == 0 || err == ENOENT || err == ESRCH
                          ? fmt::format("unknown user {} in '{}' (no such user in the system's "
                                        "user database)",
                                        quoted(*s), key)
                          : fmt::format("cannot look up user {} in '{}': {}", quoted(*s), key,
                                        std::generic_category().message(err)));
        return;
    }
    out.user = *s;
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

constexpr auto kServerKeys = std::to_array<KeySpec<ServerConfig>>({
    {"listen", Presence::Optional, read_listen}, // absent: see default_listen()
    {"workers", Presence::Optional, integer<&ServerConfig::workers, 0, 256>},
    // RFC 6891 §6.2.5: below 512 is treated as 512; 4096 is the practical ceiling.
    {"udp_payload", Presence::Optional, integer<&ServerConfig::udp_payload, 512, 4096>},
    {"tcp_idle_timeout", Presence::Optional, positive_duration<&ServerConfig::tcp_idle_timeout>},
    {"tcp_max_connections", Presence::Optional,
     integer<&ServerConfig::tcp_max_connections, 1, 1000000>},
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
    {"user", Presence::Optional, read_user},
});

// ---------------------------------------------------------------------------------------------
// [[cluster]]

/// Like EKS cluster names: 1..100 of [a-zA-Z0-9_-], starting with a letter or digit.
void read_name(Diagnostics& d, std::string_view key, const toml::node& node, ClusterConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const bool ok = !s->empty() && s->size() <= 100 && is_alnum(s->front()) &&
                    std::all_of(s->begin(), s->end(),
                                [](char ch) { return is_alnum(ch) || ch == '-' || ch == '_'; });
    if (!ok) {
        d.error(node, fmt::format("invalid cluster name {} (expected 1 to 100 letters, digits, "
                                  "'-' or '_', starting with a letter or digit)",
                                  quoted(*s)));
        return;
    }
    out.name = *s;
}

/// An AWS region such as "ap-northeast-2"; it becomes a label of the endpoint name.
void read_region(Diagnostics& d, std::string_view key, const toml::node& node, ClusterConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const bool ok = !s->empty() && s->size() <= 63 && s->front() != '-' && s->back() != '-' &&
                    std::all_of(s->begin(), s->end(), [](char ch) {
                        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
                    });
    if (!ok) {
        d.error(node, fmt::format("invalid region {} (expected lower-case letters, digits and "
                                  "hyphens, e.g. \"ap-northeast-2\")",
                                  quoted(*s)));
        return;
    }
    out.region = *s;
}

/// What makes `name` unusable as a host name (RFC 1035 §2.3.1 with RFC 1123 §2.1's leading
/// digits), or nullopt when it is fine. `name` has no trailing dot.
std::optional<std::string> dns_name_problem(std::string_view name) {
    // RFC 1035 §3.1: 255 octets on the wire are 253 characters without the trailing dot.
    if (name.size() > 253) {
        return fmt::format("{} characters; a DNS name has at most 253", name.size());
    }
    size_t labels = 0;
    size_t start = 0;
    while (true) {
        const auto dot = name.find('.', start);
        const auto label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                            : dot - start);
        if (label.empty()) {
            return "empty label";
        }
        if (label.size() > 63) {
            return fmt::format("label {} is longer than 63 characters", quoted(label));
        }
        if (!std::all_of(label.begin(), label.end(),
                         [](char ch) { return is_alnum(ch) || ch == '-'; })) {
            return fmt::format("label {} may only contain letters, digits and '-'", quoted(label));
        }
        if (label.front() == '-' || label.back() == '-') {
            return fmt::format("label {} starts or ends with '-'", quoted(label));
        }
        ++labels;
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    if (labels < 2) {
        return "a DNS name with at least two labels is needed, e.g. \"api.example.com\"";
    }
    return std::nullopt;
}

void read_endpoint(Diagnostics& d, std::string_view key, const toml::node& node,
                   ClusterConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    std::string_view name = *s;
    if (name.empty()) {
        d.error(node, "invalid endpoint '' (expected a DNS name; leave 'endpoint' out to derive it "
                      "from name and region)");
        return;
    }
    if (name.back() == '.') {
        name.remove_suffix(1); // an absolute name is the same name
    }
    if (const auto problem = dns_name_problem(name)) {
        d.error(node, fmt::format("invalid endpoint {} ({})", quoted(*s), *problem));
        return;
    }
    out.endpoint = name;
}

/// "MAJOR.MINOR" such as "1.31", as `aws eks describe-cluster` shows `version`.
void read_kubernetes_version(Diagnostics& d, std::string_view key, const toml::node& node,
                             ClusterConfig& out) {
    if (node.is_floating_point() || node.is_integer()) {
        // 1.30 as a TOML number is the float 1.3: never guess, ask for the string.
        d.error(node, fmt::format("'{}' must be a string such as \"1.31\" (quote it)", key));
        return;
    }
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const auto is_number = [](std::string_view part) {
        return !part.empty() && part.size() <= 3 && (part.size() == 1 || part.front() != '0') &&
               std::all_of(part.begin(), part.end(),
                           [](char ch) { return ch >= '0' && ch <= '9'; });
    };
    const auto dot = s->find('.');
    const std::string_view text = *s;
    if (dot == std::string::npos || !is_number(text.substr(0, dot)) ||
        !is_number(text.substr(dot + 1))) {
        d.error(node, fmt::format("invalid {} {} (expected MAJOR.MINOR such as \"1.31\")", key,
                                  quoted(*s)));
        return;
    }
    out.kubernetes_version = *s;
}

// ---------------------------------------------------------------------------------------------
// [cluster.api]

/// "host:port", "[IPv6]:port" or "IP:port"; the host a name or an address.
std::optional<ApiUpstream> parse_api_upstream(std::string_view text) {
    if (const auto endpoint = util::Endpoint::parse(text)) {
        if (endpoint->port == 0) {
            return std::nullopt;
        }
        return ApiUpstream{endpoint->addr.to_string(), endpoint->port};
    }
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    const std::string_view host = text.substr(0, colon);
    const std::string_view digits = text.substr(colon + 1);
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || end != digits.data() + digits.size() || port == 0 || port > 65535) {
        return std::nullopt;
    }
    // A host name (RFC 1123 §2.1): letters, digits, '-' and '.', at most 253 characters.
    const bool name_ok = host.size() <= 253 && host.front() != '.' && host.front() != '-' &&
                         std::all_of(host.begin(), host.end(), [](char ch) {
                             return is_alnum(ch) || ch == '-' || ch == '.';
                         });
    if (!name_ok) {
        return std::nullopt;
    }
    return ApiUpstream{std::string(host), static_cast<uint16_t>(port)};
}

void read_api_upstream(Diagnostics& d, std::string_view key, const toml::node& node,
                       ApiConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    if (s->empty()) {
        return; // "": the built-in responder, as when the key is absent
    }
    out.upstream = parse_api_upstream(*s);
    if (!out.upstream) {
        d.error(node, fmt::format("invalid upstream {} (expected HOST:PORT, IP:PORT or "
                                  "[IPv6]:PORT, e.g. \"127.0.0.1:6443\" for a kind API server)",
                                  quoted(*s)));
    }
}

void read_vpc_egress_ip(Diagnostics& d, std::string_view key, const toml::node& node,
                        ApiConfig& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    const auto ip = util::IpAddress::parse(*s);
    if (!ip) {
        d.error(node, fmt::format("invalid {} {} (expected an IPv4 or IPv6 address)", key,
                                  quoted(*s)));
        return;
    }
    out.vpc_egress_ip = ip->unmapped();
}

/// A duration above zero and at most an hour: a held connection must always be let go.
void read_hold_timeout(Diagnostics& d, std::string_view key, const toml::node& node,
                       ApiConfig& out) {
    const auto duration = read_duration(d, key, node);
    if (!duration) {
        return;
    }
    if (duration->count() == 0 || *duration > std::chrono::hours(1)) {
        d.error(node, fmt::format("'{}' must be greater than zero and at most \"1h\", got {}", key,
                                  quoted(node.as_string()->get())));
        return;
    }
    out.hold_timeout = *duration;
}

constexpr auto kDenyActions = std::to_array<Choice<DenyAction>>({
    {"drop", DenyAction::Drop},
    {"reset", DenyAction::Reset},
});

constexpr auto kApiKeys = std::to_array<KeySpec<ApiConfig>>({
    {"port", Presence::Optional, integer<&ApiConfig::port, 1, 65535>},
    {"upstream", Presence::Optional, read_api_upstream},
    {"security_group_ingress", Presence::Optional,
     cidrs<&ApiConfig::security_group_ingress, Empty::Allowed>},
    {"vpc_egress_ip", Presence::Optional, read_vpc_egress_ip},
    {"deny", Presence::Optional, choice<&ApiConfig::deny, kDenyActions>},
    {"hold_timeout", Presence::Optional, read_hold_timeout},
    {"max_connections", Presence::Optional, integer<&ApiConfig::max_connections, 1, 100000>},
    {"max_held", Presence::Optional, integer<&ApiConfig::max_held, 0, 100000>},
    {"reset_on_update", Presence::Optional, boolean<&ApiConfig::reset_on_update>},
});

void read_api(Diagnostics& d, std::string_view key, const toml::node& node, ClusterConfig& out) {
    const auto* table = node.as_table();
    if (table == nullptr) {
        d.error(node, fmt::format("'{}' must be a table ([cluster.api] after its [[cluster]])",
                                  key));
        return;
    }
    out.api.emplace();
    read_section<ApiConfig>(d, *table, "in [cluster.api]", kApiKeys, *out.api);
}

/// [cluster.api] checks that need the whole cluster: the security group's default (EKS's cluster
/// security group admits the VPC's members; here, its vpc_cidrs), and one side per address.
void finish_api(Diagnostics& d, const toml::table& table, ClusterConfig& c) {
    const auto* api = table.get_as<toml::table>("api");
    if (!c.api || api == nullptr) {
        return;
    }
    if (!api->contains("security_group_ingress")) {
        c.api->security_group_ingress = c.vpc_cidrs;
    }
    for (const auto& ip : c.public_ips) {
        if (std::find(c.private_ips.begin(), c.private_ips.end(), ip) != c.private_ips.end()) {
            d.error(*api, fmt::format("address '{}' is in both public_ips and private_ips; the API "
                                      "endpoint tells the sides apart by the address a connection "
                                      "arrives on",
                                      ip.to_string()));
        }
    }
}

constexpr auto kAccessModes = std::to_array<Choice<AccessMode>>({
    {"public", AccessMode::Public},
    {"public+private", AccessMode::PublicPrivate},
    {"private", AccessMode::Private},
});

constexpr auto kPrivateOutside = std::to_array<Choice<PrivateOutside>>({
    {"private-ips", PrivateOutside::PrivateIps},
    {"nxdomain", PrivateOutside::NxDomain},
});

constexpr auto kClusterKeys = std::to_array<KeySpec<ClusterConfig>>({
    {"name", Presence::Required, read_name},
    {"region", Presence::Required, read_region},
    {"endpoint", Presence::Optional, read_endpoint},
    {"vpc_cidrs", Presence::Required, cidrs<&ClusterConfig::vpc_cidrs, Empty::Rejected>},
    {"vpc_exclude_cidrs", Presence::Optional,
     cidrs<&ClusterConfig::vpc_exclude_cidrs, Empty::Allowed>},
    {"private_ips", Presence::Required, ip_addresses<&ClusterConfig::private_ips>},
    {"public_ips", Presence::Required, ip_addresses<&ClusterConfig::public_ips>},
    {"access_mode", Presence::Optional, choice<&ClusterConfig::access_mode, kAccessModes>},
    {"public_access_cidrs", Presence::Optional, read_later},
    {"private_outside", Presence::Optional,
     choice<&ClusterConfig::private_outside, kPrivateOutside>},
    // RFC 2181 §8: a TTL is an unsigned number from 0 to 2^31 - 1.
    {"ttl", Presence::Optional, integer<&ClusterConfig::ttl, 0, 2147483647>},
    // A lab never needs a longer update; the bound keeps now + duration far from overflow.
    {"update_duration", Presence::Optional, bounded_duration<&ClusterConfig::update_duration, 24>},
    {"kubernetes_version", Presence::Optional, read_kubernetes_version},
    {"api", Presence::Optional, read_api},
});

/// EKS's rules for publicAccessCidrs (check_public_access_cidrs, shared with the control API):
/// the count at the array, one error naming every invalid block at the first of them.
void read_public_access_cidrs(Diagnostics& d, const toml::table& table, ClusterConfig& c) {
    static constexpr std::string_view kKey = "public_access_cidrs";
    const toml::node* node = table.get(kKey);
    if (node == nullptr) {
        c.public_access_cidrs = {*util::Cidr::parse("0.0.0.0/0")};
        return;
    }
    const auto items = read_strings(d, kKey, *node);
    if (!items) {
        return;
    }
    std::vector<std::string_view> blocks;
    for (const auto& item : *items) {
        blocks.push_back(item.text);
    }
    auto check = check_public_access_cidrs(blocks, has_ipv6(c));
    if (node->as_array()->size() > kMaxPublicAccessCidrs) {
        d.error(*node, too_many_public_access_cidrs_message());
    }
    if (!check.invalid.empty()) {
        d.error(*(*items)[check.invalid.front()].node, check.invalid_message);
    }
    c.public_access_cidrs = std::move(check.valid);
}

/// The checks that need the whole cluster table read.
void finish_cluster(Diagnostics& d, const toml::table& table, ClusterConfig& c) {
    read_public_access_cidrs(d, table, c);
    if (!table.contains("endpoint") && !c.name.empty() && !c.region.empty()) {
        c.endpoint = derive_endpoint(c.name, c.region);
    }
    finish_api(d, table, c);
}

// ---------------------------------------------------------------------------------------------
// [resolver]

constexpr std::string_view kSystem = "system"; // the nameservers of /etc/resolv.conf
constexpr std::string_view kResolvConf = "/etc/resolv.conf";
constexpr uint16_t kDnsPort = 53;

/// "IP:PORT", "[IPv6]:PORT", or an address alone for port 53.
std::optional<util::Endpoint> parse_upstream(std::string_view text) {
    if (auto endpoint = util::Endpoint::parse(text)) {
        return endpoint;
    }
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
    }
    if (const auto ip = util::IpAddress::parse(text)) {
        return util::Endpoint{*ip, kDnsPort};
    }
    return std::nullopt;
}

bool is_loopback(const util::IpAddress& ip) {
    const auto a = ip.unmapped();
    return a.is_v4() ? a.bytes[0] == 127 : a == *util::IpAddress::parse("::1");
}

/// Whether a query sent to `upstream` would reach a socket listening on `listen`: the same port,
/// and the same address or a wildcard that covers it (`local`: the host's addresses).
bool reaches(const util::Endpoint& upstream, const util::Endpoint& listen,
             std::span<const util::IpAddress> local) {
    if (upstream.port != listen.port || upstream.addr.family != listen.addr.family) {
        return false;
    }
    if (upstream.addr == listen.addr) {
        return true;
    }
    const bool wildcard = listen.addr == util::IpAddress{listen.addr.family, {}};
    return wildcard && (is_loopback(upstream.addr) ||
                        std::find(local.begin(), local.end(), upstream.addr) != local.end());
}

/// The host's own addresses (for wildcard listeners); empty if they cannot be listed.
std::vector<util::IpAddress> local_addresses() {
    std::vector<util::IpAddress> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) {
        return out;
    }
    for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr != nullptr &&
            (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6)) {
            out.push_back(util::IpAddress::from_sockaddr(i->ifa_addr));
        }
    }
    ::freeifaddrs(list);
    return out;
}

/// One upstreams list as read: the addresses, where each was written, and where "system" was.
struct UpstreamsRead {
    std::vector<util::Endpoint> list;
    std::vector<const toml::node*> nodes; // parallel to list
    const toml::node* system = nullptr;
};

void read_upstreams(Diagnostics& d, std::string_view key, const toml::node& node,
                    UpstreamsRead& out) {
    const auto items = read_strings(d, key, node);
    if (!items) {
        return;
    }
    std::vector<std::string_view> texts; // as written, parallel to out.list
    for (const auto& item : *items) {
        if (item.text == kSystem) {
            if (out.system != nullptr) {
                d.error(*item.node, fmt::format("duplicate upstream '{}' in {}", kSystem, key));
            } else {
                out.system = item.node;
            }
            continue;
        }
        const auto endpoint = parse_upstream(item.text);
        if (!endpoint) {
            d.error(*item.node, fmt::format("invalid upstream {} in {} (expected IP, IP:PORT, "
                                            "[IPv6]:PORT or \"system\")",
                                            quoted(item.text), key));
            continue;
        }
        if (endpoint->port == 0) {
            d.error(*item.node,
                    fmt::format("invalid upstream {} in {} (port must be between 1 and 65535)",
                                quoted(item.text), key));
            continue;
        }
        const auto seen = std::find(out.list.begin(), out.list.end(), *endpoint);
        if (seen != out.list.end()) {
            d.error(*item.node, fmt::format("duplicate upstream {} in {}{}", quoted(item.text), key,
                                            same_as(item.text, texts[seen - out.list.begin()])));
            continue;
        }
        out.list.push_back(*endpoint);
        out.nodes.push_back(item.node);
        texts.push_back(item.text);
    }
}

/// What makes `zone` unusable as a forwarding zone, or nullopt. Unlike an endpoint a zone may be
/// one label ("internal") and may hold '_' ("_tcp.example"); `zone` has no trailing dot.
std::optional<std::string> zone_name_problem(std::string_view zone) {
    if (zone.empty()) {
        return "the root zone is forwarded by [resolver] upstreams";
    }
    if (zone.size() > 253) { // RFC 1035 §3.1: 255 octets on the wire
        return fmt::format("{} characters; a DNS name has at most 253", zone.size());
    }
    size_t start = 0;
    while (true) {
        const auto dot = zone.find('.', start);
        const auto label = zone.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                            : dot - start);
        if (label.empty()) {
            return "empty label";
        }
        if (label.size() > 63) {
            return fmt::format("label {} is longer than 63 characters", quoted(label));
        }
        if (!std::all_of(label.begin(), label.end(),
                         [](char ch) { return is_alnum(ch) || ch == '-' || ch == '_'; })) {
            return fmt::format("label {} may only contain letters, digits, '-' and '_'",
                               quoted(label));
        }
        if (dot == std::string_view::npos) {
            return std::nullopt;
        }
        start = dot + 1;
    }
}

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

void read_forward_zone(Diagnostics& d, std::string_view key, const toml::node& node,
                       ForwardRead& out) {
    const auto* s = read_string(d, key, node);
    if (s == nullptr) {
        return;
    }
    std::string_view zone = *s;
    if (!zone.empty() && zone.back() == '.') {
        zone.remove_suffix(1); // an absolute name is the same name
    }
    if (const auto problem = zone_name_problem(zone)) {
        d.error(node, fmt::format("invalid zone {} ({})", quoted(*s), *problem));
        return;
    }
    out.zone.zone = zone;
}

void read_forward_upstreams(Diagnostics& d, std::string_view key, const toml::node& node,
                            ForwardRead& out) {
    read_upstreams(d, key, node, out.upstreams);
    if (const auto* array = node.as_array(); array != nullptr && array->empty()) {
        d.error(node, fmt::format("{} must list at least one upstream", key));
    }
}

constexpr auto kForwardKeys = std::to_array<KeySpec<ForwardRead>>({
    {"zone", Presence::Required, read_forward_zone},
    {"upstreams", Presence::Required, read_forward_upstreams},
});

void read_forward(Diagnostics& d, std::string_view key, const toml::node& node,
                  ResolverRead& out) {
    const auto* array = node.as_array();
    const std::string message =
        node.is_table() ? fmt::format("'{}' must be an array of tables: write [[resolver.{}]], not "
                                      "[resolver.{}]",
                                      key, key, key)
                        : fmt::format("'{}' must be an array of tables ([[resolver.{}]])", key, key);
    if (array == nullptr) {
        d.error(node, message);
        return;
    }
    for (const auto& element : *array) {
        const auto* table = element.as_table();
        if (table == nullptr) {
            d.error(element, message);
            continue;
        }
        ForwardRead zone;
        zone.table = table;
        read_section<ForwardRead>(d, *table, "in [[resolver.forward]]", kForwardKeys, zone);
        out.forward.push_back(std::move(zone));
    }
}

/// The per-attempt timeout: above zero, and short enough that a client is still waiting.
void read_timeout(Diagnostics& d, std::string_view key, const toml::node& node,
                  ResolverRead& out) {
    static constexpr std::chrono::seconds kMax{30};
    const auto duration = read_duration(d, key, node);
    if (!duration) {
        return;
    }
    if (duration->count() == 0 || *duration > kMax) {
        d.error(node, fmt::format("'{}' must be greater than zero and at most \"30s\", got {}",
                                  key, quoted(node.as_string()->get())));
        return;
    }
    out.config.timeout = *duration;
}

/// A member of the ResolverConfig inside ResolverRead, read by one of the shared readers.
template <auto Read>
void in_config(Diagnostics& d, std::string_view key, const toml::node& node, ResolverRead& out) {
    Read(d, key, node, out.config);
}

constexpr auto kResolverKeys = std::to_array<KeySpec<ResolverRead>>({
    {"upstreams",
     Presence::Optional,
     [](Diagnostics& d, std::string_view key, const toml::node& node, ResolverRead& out) {
         read_upstreams(d, key, node, out.upstreams);
     }},
    {"forward", Presence::Optional, read_forward},
    {"allow_recursion", Presence::Optional,
     in_config<cidrs<&ResolverConfig::allow_recursion, Empty::Allowed, ResolverConfig>>},
    {"timeout", Presence::Optional, read_timeout},
    {"cache_size", Presence::Optional,
     in_config<integer<&ResolverConfig::cache_size, 0, 10000000, ResolverConfig>>},
    // RFC 2181 §8: a TTL is an unsigned number from 0 to 2^31 - 1.
    {"min_ttl", Presence::Optional,
     in_config<integer<&ResolverConfig::min_ttl, 0, 2147483647, ResolverConfig>>},
    {"max_ttl", Presence::Optional,
     in_config<integer<&ResolverConfig::max_ttl, 0, 2147483647, ResolverConfig>>},
    {"negative_ttl", Presence::Optional,
     in_config<integer<&ResolverConfig::negative_ttl, 0, 2147483647, ResolverConfig>>},
});

// ---------------------------------------------------------------------------------------------
// [[zone]]

/// One [[zone]] table as read, before the checks across zones.
struct ZoneRead {
    ZoneConfig zone;
    const toml::table* table = nullptr;
    bool views_ok = true; ///< `views` absent or valid
};

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

// ---------------------------------------------------------------------------------------------
// Top level

/// The file being read: the config and, for cross-cluster messages, each cluster's table.
struct Document {
    Config config;
    std::vector<const toml::table*> cluster_tables;
    ResolverRead resolver;
    std::vector<ZoneRead> zones;
};

/// Where the built-in default (config/default.toml) listens; used when `listen` is absent, so that
/// every [server] key, like every optional key, defaults to its documented value.
std::vector<Listener> default_listen() {
    return {{*util::Endpoint::parse("127.0.0.1:1053"), false, {}},
            {*util::Endpoint::parse("[::1]:1053"), false, {}}};
}

/// Whether two TCP listeners would fight over one port: same family and port, and the same
/// address or a wildcard.
bool same_tcp_port(const util::Endpoint& a, const util::Endpoint& b) {
    if (a.port != b.port || a.addr.family != b.addr.family) {
        return false;
    }
    const util::IpAddress any{a.addr.family, {}};
    return a.addr == b.addr || a.addr == any || b.addr == any;
}

/// Reads a small file whole; `limit` guards against pointing it at a log or a device.
/// Returns 0 or an errno value (EFBIG past `limit`).
int read_small_file(const std::string& path, size_t limit, std::string& out) {
    struct Closer {
        void operator()(std::FILE* f) const {
            std::fclose(f); // NOLINT(cppcoreguidelines-owning-memory)
        }
    };

    // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): the unique_ptr owns it
    const std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
    if (!file) {
        return errno;
    }
    errno = 0;
    std::array<char, 4096> buffer{};
    size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
        out.append(buffer.data(), n);
        if (out.size() > limit) {
            return EFBIG;
        }
    }
    if (std::ferror(file.get()) != 0) {
        return errno != 0 ? errno : EIO;
    }
    return 0;
}

/// The [server] checks that need several keys: one token source, the token file read now (so
/// that --check-config and a reload catch a missing secret), no admin port shared with DNS.
void finish_server(Diagnostics& d, const toml::table& table, ServerConfig& s) {
    const toml::node* file_node = table.get("admin_token_file");
    if (!s.admin_token.empty() && !s.admin_token_file.empty()) {
        d.error(*file_node, "set either admin_token or admin_token_file, not both");
    } else if (!s.admin_token_file.empty()) {
        static constexpr size_t kLimit = 4096;
        std::string text;
        const int err = read_small_file(s.admin_token_file, kLimit, text);
        const auto first = text.find_first_not_of(" \t\r\n");
        const auto last = text.find_last_not_of(" \t\r\n");
        const std::string token =
            first == std::string::npos ? "" : text.substr(first, last - first + 1);
        const std::string file = quoted(s.admin_token_file);
        if (err == EFBIG) {
            d.error(*file_node, fmt::format("admin_token_file {} is larger than {} bytes (expected "
                                            "a token)",
                                            file, kLimit));
        } else if (err != 0) {
            d.error(*file_node, fmt::format("cannot read admin_token_file {}: {}", file,
                                            std::generic_category().message(err)));
        } else if (token.empty()) {
            d.error(*file_node, fmt::format("admin_token_file {} is empty", file));
        } else if (!is_token(token)) {
            d.error(*file_node,
                    fmt::format("the token in admin_token_file {} must be {}", file, kTokenRule));
        } else {
            s.admin_token = token;
        }
    }
    if (!s.admin_listen) {
        return;
    }
    const auto listen = table.contains("listen") ? s.listen : default_listen();
    for (const auto& l : listen) {
        const util::Endpoint& dns = l.endpoint;
        if (same_tcp_port(*s.admin_listen, dns)) {
            if (const toml::node* at = table.get("admin_listen")) {
                d.error(*at, fmt::format("admin_listen '{}' clashes with the DNS listen address "
                                         "'{}' (both need TCP port {})",
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
}

void read_server(Diagnostics& d, std::string_view key, const toml::node& node, Document& out) {
    const auto* table = node.as_table();
    if (table == nullptr) {
        d.error(node, fmt::format("'{}' must be a table ([server])", key));
        return;
    }
    read_section<ServerConfig>(d, *table, "in [server]", kServerKeys, out.config.server);
    finish_server(d, *table, out.config.server);
}

void read_clusters(Diagnostics& d, std::string_view key, const toml::node& node, Document& out) {
    const auto* array = node.as_array();
    if (array == nullptr) {
        d.error(node, node.is_table()
                          ? fmt::format("'{}' must be an array of tables: write [[cluster]], not "
                                        "[cluster]",
                                        key)
                          : fmt::format("'{}' must be an array of tables ([[cluster]])", key));
        return;
    }
    for (const auto& element : *array) {
        const auto* table = element.as_table();
        if (table == nullptr) {
            d.error(element, fmt::format("'{}' must be an array of tables ([[cluster]])", key));
            continue;
        }
        ClusterConfig cluster;
        read_section<ClusterConfig>(d, *table, "in [[cluster]]", kClusterKeys, cluster);
        finish_cluster(d, *table, cluster);
        out.config.clusters.push_back(std::move(cluster));
        out.cluster_tables.push_back(table);
    }
}

void read_resolver(Diagnostics& d, std::string_view key, const toml::node& node, Document& out) {
    const auto* table = node.as_table();
    if (table == nullptr) {
        d.error(node, fmt::format("'{}' must be a table ([resolver])", key));
        return;
    }
    out.resolver.table = table;
    read_section<ResolverRead>(d, *table, "in [resolver]", kResolverKeys, out.resolver);
}

void read_zones(Diagnostics& d, std::string_view key, const toml::node& node, Document& out) {
    const auto* array = node.as_array();
    const std::string message =
        node.is_table()
            ? fmt::format("'{}' must be an array of tables: write [[zone]], not [zone]", key)
            : fmt::format("'{}' must be an array of tables ([[zone]])", key);
    if (array == nullptr) {
        d.error(node, message);
        return;
    }
    for (const auto& element : *array) {
        const auto* table = element.as_table();
        if (table == nullptr) {
            d.error(element, message);
            continue;
        }
        ZoneRead zone;
        zone.table = table;
        read_section<ZoneRead>(d, *table, "in [[zone]]", kZoneKeys, zone);
        out.zones.push_back(std::move(zone));
    }
}

constexpr auto kTopLevelKeys = std::to_array<KeySpec<Document>>({
    {"server", Presence::Optional, read_server},
    {"cluster", Presence::Optional, read_clusters}, // none: every query is REFUSED
    {"resolver", Presence::Optional, read_resolver},
    {"zone", Presence::Optional, read_zones}, // none: only the endpoint names are ours
});

/// A resolver listener's `view = "vpc:<cluster>"` must name a [[cluster]] of the file. Walks the
/// listen array again: read_listen had no clusters to check against.
void check_listener_clusters(Diagnostics& d, const toml::table& root, const Document& doc) {
    const auto* listen = root.at_path("server.listen").as_array();
    if (listen == nullptr) {
        return;
    }
    for (const auto& element : *listen) {
        const auto* table = element.as_table();
        const auto* view = table != nullptr ? table->get_as<std::string>("view") : nullptr;
        if (view == nullptr) {
            continue;
        }
        const std::string_view v = view->get();
        if (!v.starts_with(kViewVpc) || v.size() <= kViewVpc.size() + 1 ||
            v[kViewVpc.size()] != ':') {
            continue; // "vpc", "source", or an invalid view (reported)
        }
        const std::string_view name = v.substr(kViewVpc.size() + 1);
        const auto& clusters = doc.config.clusters;
        if (std::none_of(clusters.begin(), clusters.end(),
                         [&](const ClusterConfig& c) { return c.name == name; })) {
            std::string known;
            for (const auto& c : clusters) {
                known += (known.empty() ? "" : ", ") + quoted(c.name);
            }
            d.error(*view,
                    fmt::format("view {} names an unknown cluster {} ({})", quoted(v), quoted(name),
                                known.empty() ? std::string("no [[cluster]] is defined")
                                              : "clusters: " + known));
        }
    }
}

/// No two API endpoint sockets on one address and port: not two clusters, not a DNS or admin
/// listener.
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
                    d.error(at, fmt::format("API endpoint address {} is also one of cluster {} "
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
                    d.error(at, fmt::format("API endpoint address {} clashes with admin_listen "
                                            "'{}' (both need TCP port {})",
                                            ep.to_string(), server.admin_listen->to_string(),
                                            ep.port));
                    reported = true;
                }
            }
        }
    }
}

/// Names and endpoints must be unique; an endpoint is a DNS name, so case-insensitively.
void check_across_clusters(Diagnostics& d, const Document& doc) {
    // Where a cluster's key is, or its table's header when the key is absent (derived endpoint).
    const auto node_of = [&](size_t i, std::string_view key) -> const toml::node& {
        const toml::node* node = doc.cluster_tables[i]->get(key);
        return node != nullptr ? *node : *doc.cluster_tables[i];
    };
    std::unordered_map<std::string_view, size_t> names;
    std::unordered_map<std::string, size_t> endpoints;
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
        std::string folded_endpoint;
        std::transform(c.endpoint.begin(), c.endpoint.end(), std::back_inserter(folded_endpoint),
                       to_lower);
        const auto [first, fresh] = endpoints.emplace(folded_endpoint, i);
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

/// The [resolver] checks that need [server] and the clusters: no upstream is horizond itself,
/// "system" expanded, forward zones unique, allow_recursion's default, min_ttl <= max_ttl.
void finish_resolver(Diagnostics& d, Document& doc) {
    ResolverRead& r = doc.resolver;
    std::vector<util::Endpoint> listen; // every DNS listener, resolver listeners too
    for (const auto& l : doc.config.server.listen) {
        listen.push_back(l.endpoint);
    }
    const bool any_wildcard = std::any_of(listen.begin(), listen.end(), [](const auto& ep) {
        return ep.addr == util::IpAddress{ep.addr.family, {}};
    });
    const auto local = any_wildcard ? local_addresses() : std::vector<util::IpAddress>{};
    std::optional<std::string> resolv_conf; // read once, when "system" is first met
    int resolv_conf_error = 0;
    const auto finish_list = [&](UpstreamsRead& u, std::string_view key) {
        for (size_t i = 0; i < u.list.size(); ++i) {
            for (const auto& ep : listen) {
                if (reaches(u.list[i], ep, local)) {
                    d.error(*u.nodes[i], fmt::format("upstream '{}' in {} is horizond's own listen "
                                                     "address '{}' (queries would loop)",
                                                     u.list[i].to_string(), key, ep.to_string()));
                    break;
                }
            }
        }
        if (u.system == nullptr) {
            return;
        }
        if (!resolv_conf) {
            resolv_conf.emplace();
            resolv_conf_error = read_small_file(std::string(kResolvConf), 1U << 20, *resolv_conf);
        }
        if (resolv_conf_error != 0) {
            d.error(*u.system, fmt::format("cannot read {} for upstream \"system\": {}",
                                           kResolvConf,
                                           std::generic_category().message(resolv_conf_error)));
            return;
        }
        const auto found = system_upstreams(*resolv_conf, listen, local);
        if (found.empty()) {
            d.error(*u.system, fmt::format("upstream \"system\": {} names no nameserver other than "
                                           "horizond itself",
                                           kResolvConf));
        }
        for (const auto& ep : found) {
            if (std::find(u.list.begin(), u.list.end(), ep) == u.list.end()) {
                u.list.push_back(ep);
                u.nodes.push_back(u.system);
            }
        }
    };

    finish_list(r.upstreams, "upstreams");
    r.config.upstreams = r.upstreams.list;
    std::unordered_map<std::string, const toml::table*> zones; // lower-cased zone -> table
    for (auto& f : r.forward) {
        finish_list(f.upstreams, "upstreams");
        if (f.zone.zone.empty()) {
            continue; // missing or invalid: reported
        }
        std::string folded_zone;
        std::transform(f.zone.zone.begin(), f.zone.zone.end(), std::back_inserter(folded_zone),
                       to_lower);
        const auto [first, fresh] = zones.emplace(folded_zone, f.table);
        if (!fresh) {
            const toml::node& at = *f.table->get("zone");
            d.error(at, fmt::format("duplicate forward zone {} (first defined at line {})",
                                    quoted(at.as_string()->get()),
                                    first->second->get("zone")->source().begin.line));
            continue;
        }
        f.zone.upstreams = f.upstreams.list;
        r.config.forward.push_back(std::move(f.zone));
    }
    if (r.table == nullptr || !r.table->contains("allow_recursion")) {
        // Loopback and every cluster's VPC: never an open resolver by default.
        auto& allow = r.config.allow_recursion;
        allow = {*util::Cidr::parse("127.0.0.0/8"), *util::Cidr::parse("::1/128")};
        for (const auto& c : doc.config.clusters) {
            for (const auto& cidr : c.vpc_cidrs) {
                if (std::find(allow.begin(), allow.end(), cidr) == allow.end()) {
                    allow.push_back(cidr);
                }
            }
        }
    }
    if (r.config.min_ttl > r.config.max_ttl && r.table != nullptr) {
        d.error(*r.table->get("min_ttl"), fmt::format("min_ttl ({}) must not exceed max_ttl ({})",
                                                      r.config.min_ttl, r.config.max_ttl));
    }
    doc.config.resolver = std::move(r.config);
}

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

/// The [[zone]] checks across tables: each file resolved against the configuration file's
/// directory, and one zone per origin and view (the same origin twice is split horizon only when
/// the two tables serve different views).
void finish_zones(Diagnostics& d, Document& doc, const std::string& config_path) {
    // lower-cased origin -> the tables serving it to the vpc and the public view
    std::unordered_map<std::string, std::array<const toml::table*, 2>> seen;
    for (auto& z : doc.zones) {
        if (z.zone.file.empty() || z.zone.origin.empty() || !z.views_ok) {
            continue; // missing or invalid: reported
        }
        z.zone.path = resolve_zone_path(config_path, z.zone.file);
        std::string origin;
        std::transform(z.zone.origin.begin(), z.zone.origin.end(), std::back_inserter(origin),
                       to_lower);
        auto& slots = seen.try_emplace(origin, std::array<const toml::table*, 2>{}).first->second;
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

} // namespace

PublicAccessCidrsCheck check_public_access_cidrs(std::span<const std::string_view> blocks,
                                                 bool cluster_has_ipv6) {
    PublicAccessCidrsCheck out;
    out.too_many = blocks.size() > kMaxPublicAccessCidrs;
    std::string list;
    for (size_t i = 0; i < blocks.size(); ++i) {
        const auto cidr = util::Cidr::parse(blocks[i]);
        if (cidr && (cidr->addr.is_v4() || cluster_has_ipv6)) {
            out.valid.push_back(*cidr);
            continue;
        }
        list += (out.invalid.empty() ? "" : ", ") + escaped(blocks[i]);
        out.invalid.push_back(i);
    }
    if (!out.invalid.empty()) {
        out.invalid_message = "The following CIDRs are invalid in publicAccessCidrs: " + list;
    }
    return out;
}

std::string too_many_public_access_cidrs_message() {
    return fmt::format("publicAccessCidrs can contain at most {} CIDR blocks",
                       kMaxPublicAccessCidrs);
}

bool has_ipv6(const ClusterConfig& c) {
    const auto is_v6 = [](const util::IpAddress& ip) { return !ip.is_v4(); };
    return std::any_of(c.private_ips.begin(), c.private_ips.end(), is_v6) ||
           std::any_of(c.public_ips.begin(), c.public_ips.end(), is_v6);
}

std::vector<util::Endpoint> system_upstreams(std::string_view resolv_conf,
                                             std::span<const util::Endpoint> listen,
                                             std::span<const util::IpAddress> local) {
    std::vector<util::Endpoint> out;
    while (!resolv_conf.empty()) {
        const auto eol = resolv_conf.find('\n');
        std::string_view line = resolv_conf.substr(0, eol);
        resolv_conf = eol == std::string_view::npos ? "" : resolv_conf.substr(eol + 1);
        // resolv.conf(5): "nameserver ADDRESS"; '#' or ';' starts a comment.
        line = line.substr(0, line.find_first_of("#;"));
        const auto word = [&line]() {
            const auto begin = line.find_first_not_of(" \t\r");
            if (begin == std::string_view::npos) {
                line = {};
                return std::string_view{};
            }
            const auto end = line.find_first_of(" \t\r", begin);
            const auto w = line.substr(begin, end == std::string_view::npos ? end : end - begin);
            line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
            return w;
        };
        if (word() != "nameserver") {
            continue;
        }
        // A link-local address with a scope ("fe80::1%eth0") cannot be an Endpoint: skipped.
        const auto ip = util::IpAddress::parse(word());
        if (!ip) {
            continue;
        }
        const util::Endpoint ep{*ip, kDnsPort};
        const bool ours = std::any_of(listen.begin(), listen.end(), [&](const auto& l) {
            return reaches(ep, l, local);
        });
        if (!ours && std::find(out.begin(), out.end(), ep) == out.end()) {
            out.push_back(ep);
        }
    }
    return out;
}

LoadResult load(std::string_view text, const std::string& path) {
    Diagnostics d(path);
    toml::table root;
    try {
        root = toml::parse(text, std::string_view(path));
    } catch (const toml::parse_error& e) {
        // toml++ stops at the first syntax error, so it is reported alone.
        d.error(e.source().begin, std::string(e.description()));
        return d.take();
    }
    Document doc;
    read_section<Document>(d, root, "at top level", kTopLevelKeys, doc);
    check_across_clusters(d, doc);
    check_listener_clusters(d, root, doc);
    const auto* server = root.get_as<toml::table>("server");
    if (server == nullptr || !server->contains("listen")) {
        doc.config.server.listen = default_listen();
    }
    check_api_addresses(d, doc);
    finish_resolver(d, doc);
    finish_zones(d, doc, path);
    if (!d.empty()) {
        return d.take();
    }
    return std::move(doc.config);
}

ClusterLoadResult load_cluster_table(std::string_view text, const std::string& path,
                                     std::string_view key, std::span<const std::string_view> extra) {
    Diagnostics d(path);
    toml::table root;
    try {
        root = toml::parse(text, std::string_view(path));
    } catch (const toml::parse_error& e) {
        d.error(e.source().begin, std::string(e.description()));
        return d.take();
    }
    const toml::node* node = root.get(key);
    if (node == nullptr || !node->is_table()) {
        d.error(node != nullptr ? node->source().begin : toml::source_position{1, 1},
                fmt::format("'{}' must be a table ([{}])", key, key));
        return d.take();
    }
    std::vector<KeySpec<ClusterConfig>> keys(kClusterKeys.begin(), kClusterKeys.end());
    for (const auto name : extra) {
        keys.push_back({name, Presence::Optional, read_later<ClusterConfig>});
    }
    const auto& table = *node->as_table();
    ClusterConfig cluster;
    read_section<ClusterConfig>(d, table, fmt::format("in [{}]", key), keys, cluster);
    finish_cluster(d, table, cluster);
    if (!d.empty()) {
        return d.take();
    }
    return cluster;
}

LoadResult load_file(const std::string& path) {
    // Line 1, column 1 rather than 0:0: tools that follow `path:line:col` (editors, CI
    // annotations) then still open the file, and there is no better position to blame.
    const auto fail = [&](int err) {
        return std::vector<Diagnostic>{
            Diagnostic{path, 1, 1, "cannot read file: " + std::generic_category().message(err)}};
    };

    struct Closer {
        void operator()(std::FILE* f) const {
            std::fclose(f); // NOLINT(cppcoreguidelines-owning-memory)
        }
    };

    // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): the unique_ptr owns it
    const std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
    if (!file) {
        return fail(errno);
    }
    errno = 0;
    std::string text;
    std::array<char, 65536> buffer{};
    size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
        text.append(buffer.data(), n);
    }
    if (std::ferror(file.get()) != 0) {
        return fail(errno != 0 ? errno : EIO); // a directory opens, then fails with EISDIR
    }
    return load(text, path);
}

} // namespace horizon::config
