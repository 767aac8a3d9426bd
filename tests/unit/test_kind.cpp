// Tests for ctl/kind_init.hpp against recorded `docker network inspect kind`, `kind get
// kubeconfig` and CoreDNS ConfigMap output (tests/data/kind/); the horizon configuration it writes
// is checked with the real loader.
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <yaml-cpp/yaml.h>

#include <doctest/doctest.h>

#include "config/config.hpp"
#include "ctl/kind_init.hpp"

namespace {

namespace kind = horizon::ctl::kind;
using horizon::config::Config;
using horizon::util::Cidr;
using horizon::util::IpAddress;

std::string data(const std::string& name) {
    std::ifstream in(std::string(HORIZON_TEST_DATA) + "/kind/" + name, std::ios::binary);
    REQUIRE_MESSAGE(in, "missing fixture " << name);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

IpAddress ip(const char* text) {
    return *IpAddress::parse(text);
}

std::string joined(const auto& items) {
    std::string out;
    for (const auto& i : items) {
        out += (out.empty() ? "" : " ") + i.to_string();
    }
    return out;
}

/// The generated horizon.toml through the real loader; fails the test on any diagnostic.
Config load(const kind::Outputs& out) {
    auto r = horizon::config::load(out.horizon_toml, "horizon.toml");
    if (auto* errors = std::get_if<std::vector<horizon::config::Diagnostic>>(&r)) {
        for (const auto& d : *errors) {
            MESSAGE(d.to_string());
        }
        FAIL("generated horizon.toml does not load:\n" << out.horizon_toml);
    }
    return std::get<Config>(std::move(r));
}

std::string corefile_of(const std::string& configmap) {
    return YAML::Load(configmap)["data"]["Corefile"].as<std::string>();
}

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) {
        ++n;
    }
    return n;
}

} // namespace

TEST_CASE("docker network inspect") {
    const auto r = kind::parse_network(data("network-kind.json"));
    REQUIRE_MESSAGE(r.value, r.error);
    const kind::Network& n = *r.value;
    CHECK(n.name == "kind");
    CHECK(joined(n.subnets) == "fc00:f853:ccd:e793::/64 172.18.0.0/16");
    // The IPv6 subnet has no Gateway member: Docker's is the first address of the subnet.
    CHECK(joined(n.gateways) == "fc00:f853:ccd:e793::1 172.18.0.1");
    CHECK(n.bridge == "br-6a1c2b7e9f3d");
    // kind pinned the IPv6 /64 (no Gateway shown); Docker chose the IPv4 range (Gateway shown).
    CHECK(n.pinned == std::vector<bool>{true, false});
    // Created by hand with both ranges (`docker network create kind --ipv6 --subnet ... --subnet
    // ...`, no --gateway): both pinned.
    const auto pinned = kind::parse_network(data("network-kind-pinned.json"));
    REQUIRE(pinned.value);
    CHECK(pinned.value->pinned == std::vector<bool>{true, true});
    CHECK(joined(pinned.value->gateways) == "fc00:f853:ccd:e793::1 172.18.0.1");
    REQUIRE(n.containers.size() == 3);
    CHECK(n.containers[0].name == "aews-control-plane"); // sorted by name
    CHECK(n.containers[0].ipv4 == ip("172.18.0.2"));
    CHECK(n.containers[0].ipv6 == ip("fc00:f853:ccd:e793::2"));
    CHECK(n.containers[2].name == "aews-worker2");

    struct Bad {
        const char* json;
        const char* error;
        unsigned line;
    };

    for (const Bad& b : {
             Bad{"[\n  {\"Name\": \"kind\",\n   \"IPAM\": }]", "not JSON", 3},
             Bad{"[]", "one network, got 0", 0},
             Bad{"[{\"Name\": \"kind\"}]", "an object with Name, IPAM and Containers", 0},
             Bad{R"({"Name": "kind", "IPAM": {"Config": []}})", "has no subnet", 0},
             Bad{R"({"Name": "kind", "IPAM": {"Config": [{"Subnet": "172.18.0.1/16"}]}})",
                 "invalid Subnet \"172.18.0.1/16\"", 0},
             Bad{R"({"IPAM": {"Config": [{"Subnet": "172.18.0.0/16", "Gateway": "10.0.0.1"}]}})",
                 "invalid Gateway \"10.0.0.1\"", 0},
         }) {
        CAPTURE(b.json);
        const auto bad = kind::parse_network(b.json);
        CHECK_FALSE(bad.value);
        CHECK(bad.where == "network");
        CHECK_MESSAGE(bad.error.find(b.error) != std::string::npos, bad.error);
        CHECK(bad.line == b.line);
    }
}

TEST_CASE("kind get kubeconfig") {
    const auto r = kind::parse_kubeconfig(data("kubeconfig-aews.yaml"));
    REQUIRE_MESSAGE(r.value, r.error);
    CHECK(r.value->cluster == "kind-aews");
    CHECK(r.value->server == "https://127.0.0.1:41263");
    CHECK(r.value->host == "127.0.0.1");
    CHECK(r.value->port == 41263);

    const auto internal = kind::parse_kubeconfig(data("kubeconfig-aews-internal.yaml"));
    REQUIRE(internal.value);
    CHECK(internal.value->host == "aews-control-plane");
    CHECK(internal.value->port == 6443);

    const std::string good = data("kubeconfig-aews.yaml");
    auto replaced = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        s.replace(s.find(from), from.size(), to);
        return s;
    };

    struct Bad {
        std::string yaml;
        const char* error;
        unsigned line;
    };

    for (const Bad& b : {
             Bad{"apiVersion: v1\nkind: Config\nclusters: [\n", "not YAML", 4},
             Bad{"apiVersion: v1\nkind: Pod\n", "expected a kubeconfig", 1},
             Bad{replaced("current-context: kind-aews", "current-context: kind-nope"),
                 "current-context \"kind-nope\" is not in contexts", 12},
             Bad{replaced("https://127.0.0.1:41263", "http://127.0.0.1:41263"),
                 "server must be an https://HOST:PORT URL, got \"http://127.0.0.1:41263\"", 5},
             Bad{replaced("https://127.0.0.1:41263", "https://127.0.0.1:99999"),
                 "server must be an https://HOST:PORT URL", 5},
         }) {
        CAPTURE(b.yaml);
        const auto bad = kind::parse_kubeconfig(b.yaml);
        CHECK_FALSE(bad.value);
        CHECK(bad.where == "kubeconfig");
        CHECK_MESSAGE(bad.error.find(b.error) != std::string::npos, bad.error);
        CHECK(bad.line == b.line);
    }
}

TEST_CASE("host mode, the horizon configuration") {
    kind::Options o;
    const auto r = kind::generate(o, data("network-kind.json"), data("kubeconfig-aews.yaml"));
    REQUIRE_MESSAGE(r.value, r.error);
    const Config cfg = load(*r.value);
    // CoreDNS's stub zone: 1053 on the gateway (kind sends <gateway>:53 to Docker's DNS); the
    // nodes' resolv.conf: 53 on the host's IPv6 address (kind's DNAT is IPv4 only); dig: loopback.
    CHECK(joined(cfg.server.listen) == "172.18.0.1:1053 [fc00:f853:ccd:e793::1]:53 127.0.0.1:1053");
    REQUIRE(cfg.server.admin_listen);
    CHECK(cfg.server.admin_listen->to_string() == "127.0.0.1:8053");
    CHECK(cfg.server.admin_token.empty());
    REQUIRE(cfg.clusters.size() == 1);
    const auto& c = cfg.clusters[0];
    CHECK(c.name == "aews"); // from the kubeconfig's kind-aews
    CHECK(c.region == "ap-northeast-2");
    CHECK(c.endpoint == horizon::config::derive_endpoint("aews", "ap-northeast-2"));
    CHECK(joined(c.vpc_cidrs) == "fc00:f853:ccd:e793::/64 172.18.0.0/16 10.244.0.0/16");
    CHECK(joined(c.vpc_exclude_cidrs) == "fc00:f853:ccd:e793::1/128 172.18.0.1/32");
    CHECK(joined(c.private_ips) == "172.18.0.2"); // the control plane, not the workers
    CHECK(joined(c.public_ips) == "172.18.0.1");  // the gate on the bridge gateway
    CHECK(c.access_mode == horizon::config::AccessMode::Public); // EKS's default
    REQUIRE(c.api);
    CHECK(c.api->port == 6443);
    REQUIRE(c.api->upstream);
    CHECK(c.api->upstream->to_string() == "127.0.0.1:41263");
    CHECK(c.api->deny == horizon::config::DenyAction::Drop);

    // The decisions EKS-FACTS §6 asks for: a node is inside, the host (gateway) is outside.
    const auto contains = [](const auto& cidrs, const IpAddress& a) {
        size_t best = 0;
        bool found = false;
        for (const Cidr& x : cidrs) {
            if (x.contains(a) && x.len >= best) {
                best = x.len;
                found = true;
            }
        }
        return found ? static_cast<int>(best) : -1;
    };
    CHECK(contains(c.vpc_cidrs, ip("172.18.0.3")) >
          contains(c.vpc_exclude_cidrs, ip("172.18.0.3")));
    CHECK(contains(c.vpc_exclude_cidrs, ip("172.18.0.1")) >
          contains(c.vpc_cidrs, ip("172.18.0.1")));

    CHECK(r.value->summary.find("br-6a1c2b7e9f3d") != std::string::npos);

    // The kubeconfig names the node instead of 127.0.0.1 (`kind get kubeconfig --internal`):
    // the gate on the host goes to the node's address.
    const auto internal =
        kind::generate(o, data("network-kind.json"), data("kubeconfig-aews-internal.yaml"));
    REQUIRE_MESSAGE(internal.value, internal.error);
    CHECK(load(*internal.value).clusters[0].api->upstream->to_string() == "172.18.0.2:6443");

    // Options: a name, region and ports of one's own; no pod network.
    o.name = "aews";
    o.region = "us-west-2";
    o.dns_port = 5353;
    o.admin_port = 18053;
    o.pod_subnet = "";
    const auto custom = kind::generate(o, data("network-kind.json"), data("kubeconfig-aews.yaml"));
    REQUIRE_MESSAGE(custom.value, custom.error);
    const Config cc = load(*custom.value);
    CHECK(joined(cc.server.listen) == "172.18.0.1:5353 [fc00:f853:ccd:e793::1]:53 127.0.0.1:5353");
    CHECK(cc.server.admin_listen->to_string() == "127.0.0.1:18053");
    CHECK(cc.clusters[0].endpoint == horizon::config::derive_endpoint("aews", "us-west-2"));
    CHECK(joined(cc.clusters[0].vpc_cidrs) == "fc00:f853:ccd:e793::/64 172.18.0.0/16");
    CHECK(corefile_of(custom.value->coredns_configmap).find("forward . 172.18.0.1:5353") !=
          std::string::npos);

    // Port 53 at the gateway is Docker's DNS inside kind's nodes: refused, saying why.
    o.dns_port = 53;
    const auto hijacked =
        kind::generate(o, data("network-kind.json"), data("kubeconfig-aews.yaml"));
    CHECK_FALSE(hijacked.value);
    CHECK(hijacked.where == "options");
    CHECK(hijacked.error.find("--dns-port 53: kind's node entrypoint DNATs every packet a node or "
                              "pod sends to 172.18.0.1:53 to Docker's embedded DNS") !=
          std::string::npos);

    // The CoreDNS ConfigMap: the stub zone on the gateway's 1053, and the rest of the names to
    // Docker's DNS by address, not through the nodes' resolv.conf (horizond first there).
    const std::string corefile = corefile_of(r.value->coredns_configmap);
    CHECK(corefile.find("forward . 172.18.0.1:1053\n") != std::string::npos);
    CHECK(corefile.find("forward . 172.18.0.1 {\n") != std::string::npos);
    CHECK(corefile.find("/etc/resolv.conf {") == std::string::npos);

    // The node files: horizond is the IPv6 gateway, found in the node at run time.
    CHECK(r.value->node_dns_script == kind::node_dns_script(std::nullopt));
    CHECK(r.value->node_dns_script.find("ip -6 route show default") != std::string::npos);
    CHECK(r.value->node_dns_dropin ==
          "# horizon (horizonctl kind init): horizond first in this node's resolv.conf before\n"
          "# every kubelet start (/etc/horizon/horizon-node-dns.sh);\n"
          "# \"-\": a failure never keeps kubelet from starting.\n"
          "[Service]\nExecStartPre=-/bin/sh /etc/horizon/horizon-node-dns.sh\n");

    // A network without IPv6 (Docker without IPv6: kind falls back): no node listener, and the
    // summary says the nodes keep Docker's DNS.
    o.dns_port.reset();
    const std::string v4only =
        R"({"Name": "kind", "IPAM": {"Config": [{"Subnet": "172.18.0.0/16", "Gateway": )"
        R"("172.18.0.1"}]}, "Containers": {"x": {"Name": "aews-control-plane", "IPv4Address": )"
        R"("172.18.0.2/16"}}})";
    const auto no6 = kind::generate(o, v4only, data("kubeconfig-aews.yaml"));
    REQUIRE_MESSAGE(no6.value, no6.error);
    CHECK(joined(load(*no6.value).server.listen) == "172.18.0.1:1053 127.0.0.1:1053");
    CHECK(no6.value->summary.find("DNS (nodes)    none: network kind has no IPv6") !=
          std::string::npos);
}

TEST_CASE("container mode, an HA cluster sharing the network") {
    kind::Options o;
    o.horizon_ip = ip("172.19.0.53");
    o.admin_token = "labtoken";
    const auto r = kind::generate(o, data("network-kind-ha.json"), data("kubeconfig-lab.yaml"));
    REQUIRE_MESSAGE(r.value, r.error);
    const Config cfg = load(*r.value);
    CHECK(joined(cfg.server.listen) == "172.19.0.53:53 127.0.0.1:53");
    CHECK(cfg.server.admin_listen->to_string() == "0.0.0.0:8053");
    CHECK(cfg.server.admin_token == "labtoken");
    const auto& c = cfg.clusters[0];
    CHECK(c.name == "lab");
    // Both control planes of "lab", not the load balancer, the worker or another cluster's node.
    CHECK(joined(c.private_ips) == "172.19.0.3 172.19.0.4");
    CHECK(joined(c.public_ips) == "172.19.0.53");
    // From a container the gate reaches the API server on the network: the HA load balancer.
    CHECK(c.api->upstream->to_string() == "172.19.0.5:6443");
    CHECK(corefile_of(r.value->coredns_configmap).find("forward . 172.19.0.53:53") !=
          std::string::npos);
    // The nodes name the container first; CoreDNS sends other names to Docker's DNS.
    CHECK(r.value->node_dns_script == kind::node_dns_script(ip("172.19.0.53")));
    CHECK(r.value->node_dns_script.find("\nns=172.19.0.53\n") != std::string::npos);
    CHECK(corefile_of(r.value->coredns_configmap).find("forward . 172.19.0.1 {") !=
          std::string::npos);

    // Without a token of one's own, a random one: the admin API is not on loopback there.
    o.admin_token.clear();
    const auto random =
        kind::generate(o, data("network-kind-ha.json"), data("kubeconfig-lab.yaml"));
    REQUIRE(random.value);
    CHECK(load(*random.value).server.admin_token.size() == 32);
}

TEST_CASE("inputs that do not fit say why") {
    struct Bad {
        std::string name;
        std::optional<IpAddress> horizon_ip;
        std::string network;
        const char* where;
        const char* error;
    };

    const std::string net = data("network-kind.json");
    const std::string pinned = data("network-kind-pinned.json");
    for (const Bad& b : {
             Bad{"other", std::nullopt, net, "network",
                 "no control-plane node of kind cluster \"other\" (other-control-plane) with an "
                 "IPv4 address on network \"kind\" (containers: aews-control-plane, aews-worker, "
                 "aews-worker2)"},
             Bad{"", ip("10.1.2.3"), pinned, "options",
                 "--horizon-ip 10.1.2.3 must be an address of network kind (172.18.0.0/16) other "
                 "than its gateway"},
             Bad{"", ip("172.18.0.1"), pinned, "options", "other than its gateway"},
             Bad{"", ip("172.18.0.3"), pinned, "options",
                 "--horizon-ip 172.18.0.3 is already the address of container aews-worker"},
             // A fixed address on the IPv4 range Docker chose (kind pins only IPv6): refused.
             Bad{"", ip("172.18.0.53"), net, "options",
                 "--horizon-ip 172.18.0.53: the IPv4 subnet 172.18.0.0/16 of network kind is not "
                 "pinned"},
             Bad{"", ip("172.18.0.53"), net, "options",
                 "docker network create kind --ipv6 --subnet fc00:f853:ccd:e793::/64 --subnet "
                 "172.18.0.0/16 -o com.docker.network.bridge.enable_ip_masquerade=true (without "
                 "--gateway)"},
             Bad{"", std::nullopt,
                 R"({"Name": "kind", "IPAM": {"Config": [{"Subnet": "fc00::/64"}]}, )"
                 R"("Containers": {"x": {"Name": "aews-control-plane", "IPv4Address": "",)"
                 R"( "IPv6Address": "fc00::2/64"}}})",
                 "network", "no control-plane node"},
         }) {
        kind::Options o;
        o.name = b.name;
        o.horizon_ip = b.horizon_ip;
        const auto r = kind::generate(o, b.network, data("kubeconfig-aews.yaml"));
        CHECK_FALSE(r.value);
        CHECK(r.where == b.where);
        CHECK_MESSAGE(r.error.find(b.error) != std::string::npos, r.error);
    }

    // A kubeconfig of something other than kind needs --name.
    std::string other = data("kubeconfig-aews.yaml");
    for (size_t at; (at = other.find("kind-aews")) != std::string::npos;) {
        other.replace(at, 9, "prod");
    }
    const auto r = kind::generate({}, net, other);
    CHECK_FALSE(r.value);
    CHECK(r.error == "cluster \"prod\" is not a kind cluster (kind-NAME); pass --name");
}

TEST_CASE("the CoreDNS stub zone") {
    const std::string zone =
        "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com";
    const auto r = kind::patch_coredns(data("coredns-configmap.yaml"), zone, "172.18.0.1:53");
    REQUIRE_MESSAGE(r.value, r.error);
    const YAML::Node cm = YAML::Load(*r.value);
    CHECK(cm["kind"].as<std::string>() == "ConfigMap");
    CHECK(cm["metadata"]["name"].as<std::string>() == "coredns");
    CHECK(cm["metadata"]["namespace"].as<std::string>() == "kube-system");
    // Server-side fields of the recorded object are dropped, so that kubectl apply takes it.
    CHECK_FALSE(cm["metadata"]["resourceVersion"]);
    CHECK_FALSE(cm["metadata"]["uid"]);
    const std::string corefile = cm["data"]["Corefile"].as<std::string>();
    const std::string original = corefile_of(data("coredns-configmap.yaml"));
    CHECK(corefile.starts_with(original)); // the cluster's own server block, untouched
    CHECK(corefile.substr(original.size()) ==
          "\n# horizon: the EKS endpoint zone, answered split-horizon by horizond (horizonctl "
          "kind init)\n"
          "4ef9b1c9a5f24dcbd324557bf7056dc0.gr7.ap-northeast-2.eks.amazonaws.com:53 {\n"
          "    errors\n"
          "    forward . 172.18.0.1:53\n"
          "}\n");
    // The literal block style, as kubectl prints it, not one long quoted line.
    CHECK(r.value->find("Corefile: |") != std::string::npos);

    // Patching the result again (a re-run, or a new horizond address) replaces our block.
    const auto again = kind::patch_coredns(*r.value, zone, "172.18.0.53:53");
    REQUIRE(again.value);
    const std::string twice = corefile_of(*again.value);
    CHECK(count(twice, "eks.amazonaws.com:53 {") == 1);
    CHECK(count(twice, "# horizon:") == 1);
    CHECK(twice.find("forward . 172.18.0.53:53") != std::string::npos);
    CHECK(twice.find("forward . 172.18.0.1:53") == std::string::npos);
    CHECK(twice.starts_with(original));

    // kubectl prints the Corefile double-quoted when a line has trailing blanks.
    const std::string quoted = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n"
                               "  namespace: kube-system\ndata:\n  Corefile: \".:53 {\\n    "
                               "errors \\n    forward . /etc/resolv.conf\\n}\\n\"\n";
    const auto q = kind::patch_coredns(quoted, zone, "172.18.0.1:53");
    REQUIRE_MESSAGE(q.value, q.error);
    CHECK(corefile_of(*q.value).starts_with(".:53 {\n    errors\n    forward . /etc/resolv.conf\n}"
                                            "\n\n# horizon:"));

    // kind's default, built in for when no ConfigMap is given, is the recorded one.
    const auto builtin = kind::patch_coredns(kind::kDefaultCorednsConfigMap, zone, "172.18.0.1:53");
    REQUIRE(builtin.value);
    CHECK(corefile_of(*builtin.value) == corefile);

    // With an upstream: `forward . /etc/resolv.conf` names it instead (marked); a re-run with
    // another upstream updates that line, once.
    const auto up =
        kind::patch_coredns(data("coredns-configmap.yaml"), zone, "172.18.0.1:1053", "172.18.0.1");
    REQUIRE_MESSAGE(up.value, up.error);
    const std::string explicit_up = corefile_of(*up.value);
    std::string want = original;
    const std::string from = "    forward . /etc/resolv.conf {\n";
    REQUIRE(want.find(from) != std::string::npos);
    want.replace(want.find(from), from.size(),
                 "    # horizon: was forward . /etc/resolv.conf (horizond, first there, refuses "
                 "other names)\n    forward . 172.18.0.1 {\n");
    CHECK(explicit_up.starts_with(want));
    const auto up2 = kind::patch_coredns(*up.value, zone, "172.19.0.1:1053", "172.19.0.1");
    REQUIRE(up2.value);
    const std::string twice_up = corefile_of(*up2.value);
    CHECK(count(twice_up, "# horizon: was forward") == 1);
    CHECK(twice_up.find("    forward . 172.19.0.1 {\n") != std::string::npos);
    CHECK(twice_up.find("forward . 172.18.0.1") == std::string::npos);

    const auto bad = kind::patch_coredns("apiVersion: v1\nkind: ConfigMap\ndata: {}\n", zone, "x");
    CHECK_FALSE(bad.value);
    CHECK(bad.error.find("expected CoreDNS's ConfigMap with data.Corefile") != std::string::npos);
}

TEST_CASE("the kind cluster configuration and the kubeconfig") {
    const std::string ep = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com";
    const YAML::Node cluster =
        YAML::Load(kind::kind_cluster_config("aews", ep, 2, "/home/me/lab/node"));
    CHECK(cluster["kind"].as<std::string>() == "Cluster");
    CHECK(cluster["apiVersion"].as<std::string>() == "kind.x-k8s.io/v1alpha4");
    CHECK(cluster["name"].as<std::string>() == "aews");
    REQUIRE(cluster["nodes"].size() == 3);
    CHECK(cluster["nodes"][0]["role"].as<std::string>() == "control-plane");
    CHECK(cluster["nodes"][2]["role"].as<std::string>() == "worker");
    // Every node mounts node/ and the kubelet drop-in, read-only.
    for (const auto& node : cluster["nodes"]) {
        const YAML::Node m = node["extraMounts"];
        REQUIRE(m.size() == 2);
        CHECK(m[0]["hostPath"].as<std::string>() == "/home/me/lab/node");
        CHECK(m[0]["containerPath"].as<std::string>() == "/etc/horizon");
        CHECK(m[1]["hostPath"].as<std::string>() == "/home/me/lab/node/20-horizon-dns.conf");
        CHECK(m[1]["containerPath"].as<std::string>() ==
              "/etc/systemd/system/kubelet.service.d/20-horizon-dns.conf");
        CHECK(m[0]["readOnly"].as<bool>());
        CHECK(m[1]["readOnly"].as<bool>());
    }
    // kind applies each patch as a YAML document of its own: parse it too.
    const YAML::Node patch = YAML::Load(cluster["kubeadmConfigPatches"][0].as<std::string>());
    CHECK(patch["kind"].as<std::string>() == "ClusterConfiguration");
    // The whole list: kind before v0.32 replaces its own [localhost, 127.0.0.1] with the patch's
    // (a JSON merge patch), so the patch keeps them and the control plane's name.
    std::vector<std::string> sans;
    for (const auto& san : patch["apiServer"]["certSANs"]) {
        sans.push_back(san.as<std::string>());
    }
    CHECK(sans == std::vector<std::string>{ep, "localhost", "127.0.0.1", "aews-control-plane"});

    const std::string original = data("kubeconfig-aews.yaml");
    const auto r = kind::rewrite_kubeconfig(original, "kind-aews", "https://" + ep + ":6443");
    REQUIRE_MESSAGE(r.value, r.error);
    YAML::Node got = YAML::Load(*r.value);
    YAML::Node want = YAML::Load(original);
    CHECK(got["clusters"][0]["cluster"]["server"].as<std::string>() == "https://" + ep + ":6443");
    // Everything else is as kind wrote it: the CA, the user's certificate and key, the context.
    want["clusters"][0]["cluster"]["server"] = "https://" + ep + ":6443";
    YAML::Emitter a;
    YAML::Emitter b;
    a << got;
    b << want;
    CHECK(std::string(a.c_str()) == std::string(b.c_str()));

    const auto missing = kind::rewrite_kubeconfig(original, "kind-nope", "https://x:6443");
    CHECK_FALSE(missing.value);
}
