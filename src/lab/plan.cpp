// The lab's topology as commands and files. One router namespace holds a bridge per VPC subnet
// (the VPC router at base + 1) and one for the internet, forwards between them and does the
// internet gateway's 1:1 NAT; the control plane's namespace holds the ENIs (one leg per subnet),
// the NLB addresses, the resolvers and ipinfo.io, with horizond serving all of them.
#include "lab/plan.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "config/config.hpp"

namespace horizon::lab {

namespace {

/// base + n of a subnet ("192.168.1.0/24", 1 -> "192.168.1.1").
util::IpAddress nth(const util::Cidr& c, uint8_t n) {
    util::IpAddress a = c.addr;
    a.bytes[3] = static_cast<uint8_t>(a.bytes[3] + n);
    return a;
}

std::string with_len(const util::IpAddress& a, unsigned len) {
    return fmt::format("{}/{}", a.to_string(), len);
}

std::string quoted_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) {
        out += fmt::format("{}\"{}\"", i == 0 ? "" : ", ", items[i]);
    }
    return out + "]";
}

template <typename T>
std::vector<std::string> texts(const std::vector<T>& items) {
    std::vector<std::string> out;
    out.reserve(items.size());
    for (const auto& i : items) {
        out.push_back(i.to_string());
    }
    return out;
}

/// A zone whose apex answers `a` (ipinfo.io, the AWS API names).
std::string soa_zone(const std::string& origin, const util::IpAddress& a) {
    return fmt::format("$ORIGIN {0}.\n$TTL 300\n@ IN SOA ns1.{0}. hostmaster.{0}. 1 7200 3600 "
                       "1209600 300\n@ IN NS ns1\n@ IN A {1}\nns1 IN A {1}\n",
                       origin, a.to_string());
}

class Builder {
public:
    Builder(const LabSpec& lab, const Programs& programs)
        : lab_(lab)
        , programs_(programs)
        , subnets_(lab.all_subnets()) {}

    Plan build() {
        plan_.namespaces = namespaces(lab_);
        for (const auto& ns : plan_.namespaces) {
            run({"ip", "netns", "add", ns});
            run({"ip", "-n", ns, "link", "set", "lo", "up"});
        }
        router();
        control_plane();
        for (const auto& h : lab_.hosts) {
            host(h);
        }
        nat();
        certificates();
        files();
        daemons();
        return std::move(plan_);
    }

private:
    void run(std::vector<std::string> argv) { plan_.steps.push_back({std::move(argv)}); }

    /// The router's bridge for a subnet: "sub0", "sub1", ...
    [[nodiscard]] std::string bridge_of(const util::IpAddress& a) const {
        for (size_t i = 0; i < subnets_.size(); ++i) {
            if (subnets_[i].contains(a)) {
                return fmt::format("sub{}", i);
            }
        }
        return "inet";
    }

    [[nodiscard]] const util::Cidr& subnet_of(const util::IpAddress& a) const {
        for (const auto& s : subnets_) {
            if (s.contains(a)) {
                return s;
            }
        }
        return lab_.internet;
    }

    void router() {
        const std::string r = router_ns(lab_);
        for (size_t i = 0; i < subnets_.size(); ++i) {
            bridge(fmt::format("sub{}", i), subnets_[i]);
        }
        bridge("inet", lab_.internet);
        run({"ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"});
        // The NLB's addresses live on the control plane's internet leg.
        for (const auto& ip : lab_.cluster.public_ips) {
            run({"ip", "-n", r, "route", "add", with_len(ip, 32), "via",
                 lab_.internet_resolver.to_string()});
        }
    }

    void bridge(const std::string& name, const util::Cidr& subnet) {
        const std::string r = router_ns(lab_);
        run({"ip", "-n", r, "link", "add", name, "type", "bridge"});
        run({"ip", "-n", r, "addr", "add", with_len(nth(subnet, 1), subnet.len), "dev", name});
        run({"ip", "-n", r, "link", "set", name, "up"});
    }

    /// A veth from `ns` (named `inside`) to the router (named `outside`, on its bridge).
    void leg(const std::string& ns, const std::string& inside, const std::string& outside,
             const std::string& bridge_name) {
        const std::string r = router_ns(lab_);
        run({"ip", "-n", ns, "link", "add", inside, "type", "veth", "peer", "name", outside,
             "netns", r});
        run({"ip", "-n", r, "link", "set", outside, "master", bridge_name, "up"});
        run({"ip", "-n", ns, "link", "set", inside, "up"});
    }

    void control_plane() {
        const std::string ns = eks_ns(lab_);
        // One leg per subnet that holds the resolver or an ENI, with those addresses on it.
        for (size_t i = 0; i < subnets_.size(); ++i) {
            std::vector<util::IpAddress> here;
            if (subnets_[i].contains(lab_.vpc_resolver)) {
                here.push_back(lab_.vpc_resolver);
            }
            for (const auto& ip : lab_.cluster.private_ips) {
                if (subnets_[i].contains(ip)) {
                    here.push_back(ip);
                }
            }
            if (here.empty()) {
                continue;
            }
            const std::string inside = fmt::format("vpc{}", i);
            leg(ns, inside, fmt::format("eks-vpc{}", i), fmt::format("sub{}", i));
            for (const auto& ip : here) {
                run({"ip", "-n", ns, "addr", "add", with_len(ip, subnets_[i].len), "dev", inside});
            }
        }
        leg(ns, "inet0", "eks-inet", "inet");
        run({"ip", "-n", ns, "addr", "add", with_len(lab_.internet_resolver, lab_.internet.len),
             "dev", "inet0"});
        run({"ip", "-n", ns, "addr", "add", with_len(lab_.ipinfo, 32), "dev", "inet0"});
        run({"ip", "-n", ns, "addr", "add", with_len(lab_.aws_api, 32), "dev", "inet0"});
        for (const auto& ip : lab_.cluster.public_ips) {
            run({"ip", "-n", ns, "addr", "add", with_len(ip, 32), "dev", "inet0"});
        }
        run({"ip", "-n", ns, "route", "add", "default", "via", nth(lab_.internet, 1).to_string()});
        // VPC subnets without a leg of ours are reached through the VPC router.
        for (size_t i = 0; i < subnets_.size(); ++i) {
            const bool has_leg =
                subnets_[i].contains(lab_.vpc_resolver) ||
                std::any_of(lab_.cluster.private_ips.begin(), lab_.cluster.private_ips.end(),
                            [&](const util::IpAddress& ip) { return subnets_[i].contains(ip); });
            if (!has_leg) {
                run({"ip", "-n", ns, "route", "add", subnets_[i].to_string(), "via",
                     nth(subnet_of(lab_.vpc_resolver), 1).to_string()});
            }
        }
    }

    void host(const Host& h) {
        const std::string ns = host_ns(lab_, h);
        const util::Cidr& subnet = subnet_of(h.address);
        leg(ns, "eth0", h.name, bridge_of(h.address));
        run({"ip", "-n", ns, "addr", "add", with_len(h.address, subnet.len), "dev", "eth0"});
        run({"ip", "-n", ns, "route", "add", "default", "via", nth(subnet, 1).to_string()});
    }

    /// The internet gateway: a VPC host's packets leave for the internet from its public IP,
    /// and its public IP reaches it from there (1:1 NAT, as AWS does for public subnets).
    void nat() {
        std::vector<std::string> out;
        std::vector<std::string> in;
        for (const auto& h : lab_.hosts) {
            if (h.public_ip) {
                out.push_back(h.address.to_string() + " : " + h.public_ip->to_string());
                in.push_back(h.public_ip->to_string() + " : " + h.address.to_string());
            }
        }
        if (out.empty()) {
            return;
        }
        const auto join = [](const std::vector<std::string>& v) {
            std::string s;
            for (const auto& e : v) {
                s += (s.empty() ? "" : ", ") + e;
            }
            return s;
        };
        const std::string rules = fmt::format(
            "table ip {table} {{\n"
            "    map to_public {{ type ipv4_addr : ipv4_addr; elements = {{ {out} }} }}\n"
            "    map to_private {{ type ipv4_addr : ipv4_addr; elements = {{ {in} }} }}\n"
            "    chain prerouting {{\n"
            "        type nat hook prerouting priority dstnat; policy accept;\n"
            "        iifname \"inet\" dnat to ip daddr map @to_private\n"
            "    }}\n"
            "    chain postrouting {{\n"
            "        type nat hook postrouting priority srcnat; policy accept;\n"
            "        oifname \"inet\" snat to ip saddr map @to_public\n"
            "    }}\n"
            "}}\n",
            fmt::arg("table", nft_table(lab_)), fmt::arg("out", join(out)),
            fmt::arg("in", join(in)));
        const std::string path = run_dir(lab_) + "/router.nft";
        plan_.files.push_back({path, rules});
        run({"ip", "netns", "exec", router_ns(lab_), "nft", "-f", path});
    }

    /// The lab's CA and the AWS API's certificate (eks. and ec2.<region>.amazonaws.com), made
    /// with the openssl command at every up: clients trust it through AWS_CA_BUNDLE only.
    void certificates() {
        const std::string dir = run_dir(lab_);
        const std::vector<std::string> key = {"-newkey", "ec", "-pkeyopt",
                                              "ec_paramgen_curve:prime256v1", "-nodes"};
        std::vector<std::string> ca = {"openssl", "req", "-x509"};
        ca.insert(ca.end(), key.begin(), key.end());
        ca.insert(ca.end(), {"-days", "30", "-subj", "/CN=horizon lab CA", "-keyout",
                             dir + "/ca.key", "-out", dir + "/ca.crt"});
        run(ca);
        std::vector<std::string> csr = {"openssl", "req"};
        csr.insert(csr.end(), key.begin(), key.end());
        csr.insert(csr.end(), {"-subj", "/CN=" + aws_api_names(lab_)[0], "-keyout",
                               dir + "/aws-api.key", "-out", dir + "/aws-api.csr"});
        run(csr);
        run({"openssl", "x509", "-req", "-in", dir + "/aws-api.csr", "-CA", dir + "/ca.crt",
             "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days", "30", "-extfile",
             dir + "/aws-api.ext", "-out", dir + "/aws-api.crt"});
        std::string sans;
        for (const auto& name : aws_api_names(lab_)) {
            sans += (sans.empty() ? "DNS:" : ",DNS:") + name;
        }
        plan_.files.push_back({dir + "/aws-api.ext",
                               "subjectAltName=" + sans +
                                   "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"});
    }

    void files() {
        const std::string dir = run_dir(lab_);
        plan_.files.push_back({dir + "/horizond.toml", horizond_config(lab_)});
        plan_.files.push_back({dir + "/ipinfo.io.zone", soa_zone("ipinfo.io", lab_.ipinfo)});
        for (const auto& name : aws_api_names(lab_)) {
            plan_.files.push_back(
                {fmt::format("{}/{}.zone", dir, name), soa_zone(name, lab_.aws_api)});
        }
        for (const auto& h : lab_.hosts) {
            const bool in_vpc = h.role != Role::Internet;
            plan_.files.push_back(
                {fmt::format("/etc/netns/{}/resolv.conf", host_ns(lab_, h)),
                 in_vpc ? fmt::format("# horizonctl lab: the VPC resolver (AmazonProvidedDNS)\n"
                                      "nameserver {}\nsearch {}.compute.internal\n",
                                      lab_.vpc_resolver.to_string(), lab_.cluster.region)
                        : fmt::format("# horizonctl lab: the internet's resolver\nnameserver {}\n",
                                      lab_.internet_resolver.to_string())});
        }
    }

    void daemons() {
        const std::string dir = run_dir(lab_);
        const std::string eks = eks_ns(lab_);
        plan_.daemons.push_back(
            {"horizond", eks, {programs_.horizond, "--config", dir + "/horizond.toml"}, ""});
        plan_.daemons.push_back(
            {"aws-api",
             eks,
             {programs_.horizonctl, "lab", "serve-aws-api", lab_.aws_api.to_string() + ":443",
              dir + "/aws-api.crt", dir + "/aws-api.key", "127.0.0.1:8053"},
             ""});
        plan_.daemons.push_back(
            {"ipinfo",
             eks,
             {programs_.horizonctl, "lab", "serve-ipinfo", lab_.ipinfo.to_string() + ":80"},
             ""});
        std::vector<std::string> relay = {programs_.horizonctl, "lab", "serve-relay",
                                          "127.0.0.1:8053"};
        for (const auto& h : lab_.hosts) {
            if (h.role != Role::Node) {
                relay.push_back(host_ns(lab_, h));
            }
        }
        plan_.daemons.push_back({"relay", eks, relay, ""});
        for (const auto& h : lab_.hosts) {
            if (h.role != Role::Node) {
                continue;
            }
            for (const char* agent : {"kubelet", "kube-proxy"}) {
                plan_.daemons.push_back(
                    {fmt::format("{}@{}", agent, h.name),
                     host_ns(lab_, h),
                     {programs_.horizonctl, "lab", "agent", agent, endpoint_name(lab_)},
                     agent});
            }
        }
    }

    const LabSpec& lab_;
    const Programs& programs_;
    std::vector<util::Cidr> subnets_;
    Plan plan_;
};

} // namespace

std::string run_dir(const LabSpec& lab) {
    std::string p = lab.prefix;
    p.erase(std::remove(p.begin(), p.end(), '-'), p.end());
    return "/run/horizon-lab/" + (p.empty() ? std::string("lab") : p);
}

std::string host_ns(const LabSpec& lab, const Host& h) {
    return lab.prefix + h.name;
}

std::string eks_ns(const LabSpec& lab) {
    return lab.prefix + "eks";
}

std::string router_ns(const LabSpec& lab) {
    return lab.prefix + "router";
}

std::string nft_table(const LabSpec& lab) {
    return lab.prefix + "lab";
}

std::vector<std::string> namespaces(const LabSpec& lab) {
    std::vector<std::string> out = {router_ns(lab), eks_ns(lab)};
    for (const auto& h : lab.hosts) {
        out.push_back(host_ns(lab, h));
    }
    return out;
}

std::vector<std::string> aws_api_names(const LabSpec& lab) {
    return {fmt::format("eks.{}.amazonaws.com", lab.cluster.region),
            fmt::format("ec2.{}.amazonaws.com", lab.cluster.region)};
}

std::string endpoint_name(const LabSpec& lab) {
    return config::derive_endpoint(lab.cluster.name, lab.cluster.region);
}

std::string horizond_config(const LabSpec& lab) {
    std::vector<std::string> nodes;
    for (const auto& h : lab.hosts) {
        if (h.role == Role::Node) {
            nodes.push_back(h.address.to_string() + "/32");
        }
    }
    const std::string dir = run_dir(lab);
    std::vector<std::string> origins = aws_api_names(lab);
    origins.insert(origins.begin(), "ipinfo.io");
    std::string zones;
    for (const auto& origin : origins) {
        zones += fmt::format("\n[[zone]]\nfile = \"{}/{}.zone\"\norigin = \"{}\"\n"
                             "views = [\"vpc\", \"public\"]\n",
                             dir, origin, origin);
    }
    return fmt::format("# Written by horizonctl lab up ({path}); rewritten on every up.\n"
                       "[server]\n"
                       "listen = [\"{vpc_dns}:53\", \"{inet_dns}:53\"]\n"
                       "workers = 1\n"
                       "admin_listen = \"127.0.0.1:8053\"\n"
                       "state_dir = \"{dir}/state\"\n"
                       "# The gate's drops as nftables rules in this namespace: a denied SYN gets "
                       "no answer.\n"
                       "gate_nft_table = \"horizon_gate\"\n"
                       "\n"
                       "[[cluster]]\n"
                       "name = \"{name}\"\n"
                       "region = \"{region}\"\n"
                       "vpc_cidrs = [\"{vpc}\"]\n"
                       "private_ips = {private_ips}\n"
                       "public_ips = {public_ips}\n"
                       "access_mode = \"{mode}\"\n"
                       "public_access_cidrs = {cidrs}\n"
                       "update_duration = \"{duration}\"\n"
                       "kubernetes_version = \"{version}\"\n"
                       "\n"
                       "[cluster.api]\n"
                       "port = 443\n"
                       "# EKS's cluster security group admits its own members: the nodes.\n"
                       "security_group_ingress = {nodes}\n"
                       "deny = \"drop\"\n"
                       "\n"
                       "{zones}",
                       fmt::arg("path", lab.path),
                       fmt::arg("vpc_dns", lab.vpc_resolver.to_string()),
                       fmt::arg("inet_dns", lab.internet_resolver.to_string()),
                       fmt::arg("dir", dir), fmt::arg("name", lab.cluster.name),
                       fmt::arg("region", lab.cluster.region), fmt::arg("vpc", lab.vpc.to_string()),
                       fmt::arg("private_ips", quoted_list(texts(lab.cluster.private_ips))),
                       fmt::arg("public_ips", quoted_list(texts(lab.cluster.public_ips))),
                       fmt::arg("mode", lab.cluster.access_mode),
                       fmt::arg("cidrs", quoted_list(lab.cluster.public_access_cidrs.empty()
                                                         ? std::vector<std::string>{"0.0.0.0/0"}
                                                         : texts(lab.cluster.public_access_cidrs))),
                       fmt::arg("duration", lab.cluster.update_duration),
                       fmt::arg("version", lab.cluster.kubernetes_version),
                       fmt::arg("nodes", quoted_list(nodes)), fmt::arg("zones", zones));
}

Plan make_plan(const LabSpec& lab, const Programs& programs) {
    return Builder(lab, programs).build();
}

} // namespace horizon::lab
