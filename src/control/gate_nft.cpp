// The gate's drop decisions as nftables rules (gate_nft.hpp).
#include "control/gate_nft.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "control/api_access.hpp"

namespace horizon::control {

namespace {

/// "{ a, b }" of the addresses of one family, or "" when there are none.
std::string address_set(const std::vector<util::IpAddress>& ips, bool v4) {
    std::string out;
    for (const auto& ip : ips) {
        if (ip.is_v4() == v4) {
            out += (out.empty() ? "" : ", ") + ip.to_string();
        }
    }
    return out.empty() ? "" : "{ " + out + " }";
}

std::string cidr_elements(const std::vector<util::Cidr>& cidrs, bool v4) {
    std::string out;
    for (const auto& c : cidrs) {
        if (c.addr.is_v4() == v4) {
            out += (out.empty() ? "" : ", ") + c.to_string();
        }
    }
    return out;
}

class Writer {
public:
    explicit Writer(std::string_view table)
        : table_(table) {}

    /// One side of one cluster: drop new connections to `to` from sources not in `allowed`
    /// (all of them when `closed`).
    void side(const std::string& what, const std::vector<util::IpAddress>& to, uint16_t port,
              bool closed, const std::vector<util::Cidr>& allowed,
              const std::vector<util::Cidr>& denied = {}) {
        for (const bool v4 : {true, false}) {
            const std::string daddr = address_set(to, v4);
            if (daddr.empty()) {
                continue;
            }
            const char* fam = v4 ? "ip" : "ip6";
            const std::string syn = fmt::format("{} daddr {} tcp dport {} tcp flags & (syn | ack) "
                                                "== syn",
                                                fam, daddr, port);
            rules_ += fmt::format("        # {}\n", what);
            const std::string elements = cidr_elements(allowed, v4);
            if (const std::string first = cidr_elements(denied, v4); !closed && !first.empty()) {
                rules_ += fmt::format("        {} {} saddr {{ {} }} drop\n", syn, fam, first);
            }
            if (closed || elements.empty()) {
                rules_ += fmt::format("        {} drop\n", syn);
                continue;
            }
            const std::string set = fmt::format("allow{}", sets_++);
            sets_text_ +=
                fmt::format("    set {} {{\n        type {}; flags interval; auto-merge;\n"
                            "        elements = {{ {} }}\n    }}\n",
                            set, v4 ? "ipv4_addr" : "ipv6_addr", elements);
            rules_ += fmt::format("        {} {} saddr != @{} drop\n", syn, fam, set);
        }
    }

    [[nodiscard]] std::string script() const {
        // Declaring, flushing and filling the table in one file is one transaction: the old
        // rules hold until the new ones are in, never a moment without either.
        return fmt::format("table inet {0} {{}}\ndelete table inet {0}\n"
                           "table inet {0} {{\n{1}    chain gate {{\n"
                           "        type filter hook input priority filter - 10; policy accept;\n"
                           "{2}    }}\n}}\n",
                           table_, sets_text_, rules_);
    }

private:
    std::string table_;
    std::string sets_text_;
    std::string rules_;
    unsigned sets_ = 0;
};

} // namespace

std::string gate_nft_ruleset(const std::vector<config::ClusterConfig>& clusters,
                             std::string_view table) {
    Writer w(table);
    for (const auto& c : clusters) {
        if (!c.api || c.api->deny != config::DenyAction::Drop) {
            continue; // "reset": the gate itself answers with a RST
        }
        const uint16_t port = c.api->port;
        // Public side: what decide_api_connection admits is publicAccessCidrs, with in-VPC
        // sources seen as vpc_egress_ip when it is set.
        std::vector<util::Cidr> public_ok = c.public_access_cidrs;
        std::vector<util::Cidr> public_denied;
        if (c.api->vpc_egress_ip) {
            const bool egress_ok =
                !c.public_access_cidrs.empty() &&
                std::any_of(c.public_access_cidrs.begin(), c.public_access_cidrs.end(),
                            [&](const util::Cidr& p) { return p.contains(*c.api->vpc_egress_ip); });
            // An in-VPC source's verdict is the egress address's: the VPC is admitted with it,
            // or dropped first, whatever entry would cover its own addresses.
            if (egress_ok) {
                public_ok.insert(public_ok.end(), c.vpc_cidrs.begin(), c.vpc_cidrs.end());
            } else {
                public_denied = c.vpc_cidrs;
            }
        }
        w.side(fmt::format("cluster {}: public side (NLB), publicAccessCidrs", c.name),
               c.public_ips, port, c.access_mode == config::AccessMode::Private, public_ok,
               public_denied);
        w.side(fmt::format("cluster {}: private side (ENIs), the cluster security group", c.name),
               c.private_ips, port, c.access_mode == config::AccessMode::Public,
               c.api->security_group_ingress);
    }
    return w.script();
}

std::string gate_nft_removal(std::string_view table) {
    return fmt::format("table inet {0} {{}}\ndelete table inet {0}\n", table);
}

} // namespace horizon::control
