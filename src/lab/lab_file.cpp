// Reads a lab file through config's shared diagnostics: every key checked, every mistake at its
// file:line:col, and the topology's own rules (addresses in their subnets, no address twice).
#include "lab/lab_file.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <set>

#include "config/diagnostics.hpp"

namespace horizon::lab {

namespace {

using config::Diagnostics;

/// Interface and namespace names are at most 15 bytes (IFNAMSIZ - 1); the router's side of a
/// host's veth is named after the host.
constexpr size_t kMaxHostName = 12;

class Reader {
public:
    explicit Reader(Diagnostics& d)
        : d_(d) {}

    const toml::table* table(const toml::table& root, std::string_view key) {
        const toml::node* n = root.get(key);
        if (n == nullptr) {
            d_.error(root.source().begin, fmt::format("missing required table [{}]", key));
            return nullptr;
        }
        if (!n->is_table()) {
            d_.error(*n, fmt::format("'{}' must be a table ([{}])", key, key));
            return nullptr;
        }
        return n->as_table();
    }

    std::optional<std::string> string(const toml::table& t, std::string_view key,
                                      std::string_view where, bool required = true) {
        const toml::node* n = t.get(key);
        if (n == nullptr) {
            if (required) {
                config::require_key(d_, t, key, where);
            }
            return std::nullopt;
        }
        const std::string* s = config::read_string(d_, key, *n);
        return s != nullptr ? std::optional<std::string>(*s) : std::nullopt;
    }

    std::optional<util::IpAddress> v4(const toml::table& t, std::string_view key,
                                      std::string_view where, bool required = true) {
        const auto s = string(t, key, where, required);
        if (!s) {
            return std::nullopt;
        }
        const auto a = util::IpAddress::parse(*s);
        if (!a || !a->is_v4()) {
            d_.error(*t.get(key), fmt::format("invalid {} {} (expected an IPv4 address; the lab "
                                              "is IPv4, as the seed's VPC)",
                                              key, config::quoted(*s)));
            return std::nullopt;
        }
        return a;
    }

    std::optional<util::Cidr> cidr(const toml::node& n, std::string_view key,
                                   std::string_view text) {
        const auto c = util::Cidr::parse(text);
        if (!c || !c->addr.is_v4()) {
            d_.error(n, fmt::format("invalid {} {} (expected an IPv4 CIDR with no host bits "
                                    "set, e.g. \"192.168.1.0/24\")",
                                    key, config::quoted(text)));
            return std::nullopt;
        }
        return c;
    }

    std::optional<util::Cidr> cidr(const toml::table& t, std::string_view key,
                                   std::string_view where) {
        const auto s = string(t, key, where);
        return s ? cidr(*t.get(key), key, *s) : std::nullopt;
    }

    std::vector<util::Cidr> cidrs(const toml::table& t, std::string_view key) {
        std::vector<util::Cidr> out;
        const toml::node* n = t.get(key);
        if (n == nullptr) {
            return out;
        }
        for (const auto& item :
             config::read_strings(d_, key, *n).value_or(std::vector<config::StringItem>{})) {
            if (auto c = cidr(*item.node, key, item.text)) {
                out.push_back(*c);
            }
        }
        return out;
    }

    std::vector<util::IpAddress> v4s(const toml::table& t, std::string_view key,
                                     std::string_view where) {
        std::vector<util::IpAddress> out;
        const toml::node* n = t.get(key);
        if (n == nullptr) {
            config::require_key(d_, t, key, where);
            return out;
        }
        for (const auto& item :
             config::read_strings(d_, key, *n).value_or(std::vector<config::StringItem>{})) {
            const auto a = util::IpAddress::parse(item.text);
            if (!a || !a->is_v4()) {
                d_.error(*item.node, fmt::format("invalid {} {} (expected an IPv4 address)", key,
                                                 config::quoted(item.text)));
                continue;
            }
            out.push_back(*a);
        }
        if (out.empty() && n->is_array()) {
            d_.error(*n, fmt::format("'{}' must list at least one address", key));
        }
        return out;
    }

    Diagnostics& d_;
};

void read_hosts(Reader& r, const toml::table& root, LabSpec& lab) {
    const toml::node* n = root.get("host");
    if (n == nullptr) {
        r.d_.error(root.source().begin, "a lab needs at least one [[host]]");
        return;
    }
    for (const toml::table* t : config::read_tables(r.d_, "host", *n, "host")) {
        config::check_keys(r.d_, *t, "in [[host]]",
                           std::array<std::string_view, 4>{"name", "role", "address", "public_ip"});
        Host h;
        const auto name = r.string(*t, "name", "in [[host]]");
        const auto role = r.string(*t, "role", "in [[host]]");
        const auto address = r.v4(*t, "address", "in [[host]]");
        const auto public_ip = r.v4(*t, "public_ip", "in [[host]]", false);
        if (!name || !role || !address) {
            continue;
        }
        const bool name_ok =
            !name->empty() && name->size() <= kMaxHostName &&
            std::all_of(name->begin(), name->end(),
                        [](char c) {
                            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                        }) &&
            name->front() != '-';
        if (!name_ok) {
            r.d_.error(*t->get("name"),
                       fmt::format("invalid host name {} (1 to {} characters a-z, 0-9 and '-', "
                                   "not starting with '-': it names a namespace and a link)",
                                   config::quoted(*name), kMaxHostName));
            continue;
        }
        if (*role == "node") {
            h.role = Role::Node;
        } else if (*role == "operator") {
            h.role = Role::Operator;
        } else if (*role == "internet") {
            h.role = Role::Internet;
        } else {
            r.d_.error(*t->get("role"),
                       fmt::format("invalid role {} (expected \"node\", \"operator\" or "
                                   "\"internet\")",
                                   config::quoted(*role)));
            continue;
        }
        h.name = *name;
        h.address = *address;
        h.public_ip = public_ip;
        const bool in_vpc = lab.vpc.contains(h.address);
        if (h.role == Role::Internet) {
            if (!lab.internet.contains(h.address)) {
                r.d_.error(*t->get("address"),
                           fmt::format("an internet host's address must be in [internet] cidr {}",
                                       lab.internet.to_string()));
            }
            if (h.public_ip) {
                r.d_.error(*t->get("public_ip"),
                           "an internet host has no public_ip: its address is public already");
            }
        } else if (!in_vpc || lab.subnet_of(h.address) == nullptr) {
            r.d_.error(*t->get("address"),
                       fmt::format("a {} host's address must be in one of [vpc] subnets",
                                   to_string(h.role)));
        }
        if (lab.host(h.name) != nullptr) {
            r.d_.error(*t->get("name"), fmt::format("host {} is listed twice", h.name));
            continue;
        }
        lab.hosts.push_back(std::move(h));
    }
}

void read_cluster(Reader& r, const toml::table& t, LabSpec& lab) {
    config::check_keys(r.d_, t, "in [cluster]",
                       std::array<std::string_view, 8>{
                           "name", "region", "kubernetes_version", "access_mode",
                           "public_access_cidrs", "public_ips", "private_ips", "update_duration"});
    Cluster& c = lab.cluster;
    c.name = r.string(t, "name", "in [cluster]", false).value_or(c.name);
    c.region = r.string(t, "region", "in [cluster]", false).value_or(c.region);
    c.kubernetes_version =
        r.string(t, "kubernetes_version", "in [cluster]", false).value_or(c.kubernetes_version);
    c.access_mode = r.string(t, "access_mode", "in [cluster]", false).value_or(c.access_mode);
    c.update_duration =
        r.string(t, "update_duration", "in [cluster]", false).value_or(c.update_duration);
    c.public_access_cidrs = r.cidrs(t, "public_access_cidrs");
    c.public_ips = r.v4s(t, "public_ips", "in [cluster]");
    c.private_ips = r.v4s(t, "private_ips", "in [cluster]");
    for (const auto& ip : c.private_ips) {
        if (lab.subnet_of(ip) == nullptr) {
            r.d_.error(*t.get("private_ips"),
                       fmt::format("private IP {} is in none of [vpc] subnets (an ENI lives in a "
                                   "subnet)",
                                   ip.to_string()));
        }
    }
    for (const auto& ip : c.public_ips) {
        if (lab.vpc.contains(ip) || lab.internet.contains(ip)) {
            r.d_.error(*t.get("public_ips"),
                       fmt::format("public IP {} must be outside [vpc] cidr and [internet] cidr "
                                   "(the NLB's addresses are routed to it)",
                                   ip.to_string()));
        }
    }
}

/// No address may be used twice: each is assigned to exactly one interface.
void check_unique(Diagnostics& d, const toml::table& root, const LabSpec& lab) {
    std::set<std::string> seen;
    const auto use = [&](const util::IpAddress& a, std::string_view what) {
        if (!seen.insert(a.to_string()).second) {
            d.error(root.source().begin,
                    fmt::format("address {} ({}) is used twice in the lab", a.to_string(), what));
        }
    };
    use(lab.vpc_resolver, "[vpc] resolver");
    use(lab.internet_resolver, "[internet] resolver");
    use(lab.ipinfo, "[internet] ipinfo");
    use(lab.aws_api, "[internet] aws_api");
    for (const auto& ip : lab.cluster.public_ips) {
        use(ip, "[cluster] public_ips");
    }
    for (const auto& ip : lab.cluster.private_ips) {
        use(ip, "[cluster] private_ips");
    }
    for (const auto& h : lab.hosts) {
        use(h.address, "host " + h.name);
        if (h.public_ip) {
            use(*h.public_ip, "host " + h.name + " public_ip");
        }
    }
}

} // namespace

std::string_view to_string(Role r) {
    switch (r) {
    case Role::Node:
        return "node";
    case Role::Operator:
        return "operator";
    case Role::Internet:
        return "internet";
    }
    return "node";
}

const Host* LabSpec::host(std::string_view name) const {
    const auto it =
        std::find_if(hosts.begin(), hosts.end(), [&](const Host& h) { return h.name == name; });
    return it != hosts.end() ? &*it : nullptr;
}

util::Cidr LabSpec::resolver_subnet() const {
    util::Cidr c{vpc_resolver, 24};
    c.addr.bytes[3] = 0;
    return c;
}

std::vector<util::Cidr> LabSpec::all_subnets() const {
    std::vector<util::Cidr> out = subnets;
    if (std::none_of(subnets.begin(), subnets.end(),
                     [&](const util::Cidr& s) { return s.contains(vpc_resolver); })) {
        out.insert(out.begin(), resolver_subnet());
    }
    return out;
}

const util::Cidr* LabSpec::subnet_of(const util::IpAddress& a) const {
    for (const auto& s : subnets) {
        if (s.contains(a)) {
            return &s;
        }
    }
    return nullptr;
}

LabLoad load_lab(std::string_view text, const std::string& path) {
    Diagnostics d(path);
    auto parsed = config::parse_toml(d, text, path);
    const auto fail = [&] {
        std::vector<std::string> out;
        for (const auto& e : d.take()) {
            out.push_back(e.to_string());
        }
        return out;
    };
    if (!parsed) {
        return fail();
    }
    const toml::table& root = *parsed;
    Reader r(d);
    config::check_keys(
        d, root, "at the top level",
        std::array<std::string_view, 5>{"lab", "vpc", "internet", "cluster", "host"});
    LabSpec lab;
    lab.path = path;
    if (const toml::node* n = root.get("lab"); n != nullptr && n->is_table()) {
        config::check_keys(d, *n->as_table(), "in [lab]",
                           std::array<std::string_view, 1>{"prefix"});
        lab.prefix = r.string(*n->as_table(), "prefix", "in [lab]", false).value_or(lab.prefix);
        const bool ok = !lab.prefix.empty() && lab.prefix.size() <= 4 &&
                        std::all_of(lab.prefix.begin(), lab.prefix.end(),
                                    [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
        if (!ok) {
            d.error(*n->as_table()->get("prefix"),
                    "invalid prefix (1 to 4 characters a-z and '-', e.g. \"hz-\")");
        }
    }
    const toml::table* vpc = r.table(root, "vpc");
    const toml::table* inet = r.table(root, "internet");
    const toml::table* cluster = r.table(root, "cluster");
    if (vpc == nullptr || inet == nullptr || cluster == nullptr) {
        return fail();
    }
    config::check_keys(d, *vpc, "in [vpc]",
                       std::array<std::string_view, 3>{"cidr", "resolver", "subnets"});
    config::check_keys(d, *inet, "in [internet]",
                       std::array<std::string_view, 4>{"cidr", "resolver", "ipinfo", "aws_api"});
    const auto vpc_cidr = r.cidr(*vpc, "cidr", "in [vpc]");
    const auto vpc_resolver = r.v4(*vpc, "resolver", "in [vpc]");
    const auto inet_cidr = r.cidr(*inet, "cidr", "in [internet]");
    const auto inet_resolver = r.v4(*inet, "resolver", "in [internet]");
    const auto ipinfo = r.v4(*inet, "ipinfo", "in [internet]");
    const auto aws_api = r.v4(*inet, "aws_api", "in [internet]");
    if (!vpc_cidr || !vpc_resolver || !inet_cidr || !inet_resolver || !ipinfo || !aws_api) {
        return fail();
    }
    lab.vpc = *vpc_cidr;
    lab.vpc_resolver = *vpc_resolver;
    lab.internet = *inet_cidr;
    lab.internet_resolver = *inet_resolver;
    lab.ipinfo = *ipinfo;
    lab.aws_api = *aws_api;
    if (lab.vpc.len > 24 || lab.internet.len != 24) {
        d.error(vpc->source().begin, "the lab needs a [vpc] cidr of /24 or wider and an "
                                     "[internet] cidr of exactly /24");
    }
    if (!lab.vpc.contains(lab.vpc_resolver)) {
        d.error(*vpc->get("resolver"), "[vpc] resolver must be inside [vpc] cidr");
    }
    for (const auto* a : {&lab.internet_resolver, &lab.ipinfo, &lab.aws_api}) {
        if (!lab.internet.contains(*a)) {
            d.error(inet->source().begin, fmt::format("{} must be inside [internet] cidr {}",
                                                      a->to_string(), lab.internet.to_string()));
        }
    }
    lab.subnets = r.cidrs(*vpc, "subnets");
    if (lab.subnets.empty()) {
        d.error(vpc->source().begin, "[vpc] subnets must list at least one subnet");
    }
    for (const auto& s : lab.subnets) {
        if (!lab.vpc.contains(s.addr) || s.len < lab.vpc.len || s.len > 28) {
            d.error(*vpc->get("subnets"),
                    fmt::format("subnet {} must be a /{}../28 inside [vpc] cidr {}", s.to_string(),
                                lab.vpc.len, lab.vpc.to_string()));
        }
    }
    read_cluster(r, *cluster, lab);
    read_hosts(r, root, lab);
    check_unique(d, root, lab);
    if (!d.empty()) {
        return fail();
    }
    return lab;
}

} // namespace horizon::lab
