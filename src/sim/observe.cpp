// The observation steps (dig, ss, kubectl get, aws eks describe-*, kubectl cluster-info), each
// rendered as the real tool prints it, with the structured fields for --format json.
#include <chrono>
#include <fmt/format.h>

#include "sim/simulation.hpp"
#include "util/time_text.hpp"

namespace horizon::sim {

namespace {

/// kubectl's age column (k8s.io/apimachinery/pkg/util/duration.HumanDuration).
std::string human_duration(Millis ms) {
    const int64_t s = ms / 1000;
    if (s < 0) {
        return "0s";
    }
    if (s < 120) {
        return fmt::format("{}s", s);
    }
    const int64_t m = s / 60;
    if (m < 10) {
        return s % 60 == 0 ? fmt::format("{}m", m) : fmt::format("{}m{}s", m, s % 60);
    }
    if (m < 180) {
        return fmt::format("{}m", m);
    }
    const int64_t h = m / 60;
    if (h < 8) {
        return m % 60 == 0 ? fmt::format("{}h", h) : fmt::format("{}h{}m", h, m % 60);
    }
    if (h < 48) {
        return fmt::format("{}h", h);
    }
    const int64_t d = h / 24;
    if (h < 24 * 8) {
        return h % 24 == 0 ? fmt::format("{}d", d) : fmt::format("{}d{}h", d, h % 24);
    }
    return fmt::format("{}d", d);
}

std::string rfc3339_micro(int64_t epoch_ms) {
    return util::rfc3339(util::SystemTime(std::chrono::milliseconds(epoch_ms)),
                         util::SubSecond::Micros);
}

constexpr uint16_t kApiPort = 443;

} // namespace

void Simulation::observe(const Step& s, Observation what) {
    Record r;
    r.type = "observe";
    (this->*what)(s, r);
    timeline_.emit(std::move(r));
}

void Simulation::observe_dig(const Step& s, Record& r) {
    util::IpAddress addr;
    util::IpAddress egress;
    bool member = false;
    source_of(s.from, addr, egress, member);
    r.text = fmt::format("dig +short {}   # on {} ({})", eff_.endpoint, s.from, addr.to_string());
    r.lines = dig(s.from);
    r.data["from"] = s.from;
    r.data["source"] = addr.to_string();
    r.data["answers"] = r.lines;
}

void Simulation::observe_ss(const Step& s, Record& r) {
    r.text = "ss -tnp | egrep 'kubelet|kube-proxy'   # on each node";
    for (const uint32_t i : select(s.nodes)) {
        r.lines.push_back(fmt::format(">> node {} <<", node_ip(i).to_string()));
        const auto rows = render_ss(i);
        r.lines.insert(r.lines.end(), rows.begin(), rows.end());
        const auto [ks, kp] = connection(i, false);
        const auto [ps, pp] = connection(i, true);
        r.data["nodes"].push_back({{"node", node_name(i)},
                                   {"kubelet", {{"state", ks}, {"peer", kp}}},
                                   {"kube-proxy", {{"state", ps}, {"peer", pp}}}});
    }
}

void Simulation::observe_nodes(const Step& s, Record& r) {
    const auto nodes = select(s.nodes);
    if (s.text == "conditions") {
        r.text = "kubectl get nodes -o 'custom-columns=NAME:.metadata.name,"
                 "CONDITIONS:.status.conditions[*].type,STATUS:.status.conditions[*].status'";
    } else {
        r.text = "kubectl get nodes --label-columns=topology.kubernetes.io/zone";
    }
    r.lines = render_nodes(nodes, s.text == "conditions");
    for (const uint32_t i : nodes) {
        r.data["nodes"].push_back(
            {{"node", node_name(i)},
             {"ready", cond_text(static_cast<Cond>(nodes_[i].ready))},
             {"taint", nodes_[i].taint == kNoTaint ? "" : taint_text(nodes_[i].taint)},
             {"pods", pods_left(i)}});
    }
}

void Simulation::observe_leases(const Step& s, Record& r) {
    r.text = "kubectl get leases -n kube-node-lease -o custom-columns=NAME:.metadata.name,"
             "HOLDER:.spec.holderIdentity,RENEW:.spec.renewTime";
    r.lines = render_leases(select(s.nodes));
}

void Simulation::observe_cluster(const Step& s, Record& r) {
    const std::string& name = sc_.cluster.name;
    const auto result = cp_.describe_cluster(name);
    nlohmann::json body = result.body;
    r.text = fmt::format("aws eks describe-cluster --name {}", name);
    if (!s.text.empty()) {
        r.text += fmt::format(" --query {}", s.text);
        size_t start = 0;
        while (start <= s.text.size() && !body.is_null()) {
            const auto dot = s.text.find('.', start);
            const auto key = s.text.substr(start, dot == std::string::npos ? dot : dot - start);
            body = body.is_object() && body.contains(key) ? body[key] : nlohmann::json();
            if (dot == std::string::npos) {
                break;
            }
            start = dot + 1;
        }
    }
    r.lines = json_lines(body);
}

void Simulation::observe_update(const Step& /*s*/, Record& r) {
    const std::string& name = sc_.cluster.name;
    const auto ids = cp_.list_updates(name).body["updateIds"];
    if (ids.empty()) {
        r.text = fmt::format("aws eks list-updates --name {}", name);
        r.lines = json_lines(cp_.list_updates(name).body);
        return;
    }
    const std::string id = ids.back();
    r.text = fmt::format("aws eks describe-update --name {} --update-id {}", name, id);
    r.lines = json_lines(cp_.describe_update(name, id).body);
}

void Simulation::observe_connect(const Step& s, Record& r) {
    util::IpAddress addr;
    util::IpAddress egress;
    bool member = false;
    source_of(s.from, addr, egress, member);
    r.text = fmt::format("kubectl cluster-info   # on {} ({})", s.from, addr.to_string());
    bool nx = false;
    const uint16_t a = answer_for(addr, nx);
    // Go's dialer tries each address in answer order until one connects.
    std::optional<std::string> why = std::string("no such host");
    std::string first;
    for (const uint16_t p : answers_[a]) {
        why = denied(addr, egress, member, p);
        if (first.empty()) {
            first = peers_[p].addr.to_string();
        }
        if (!why) {
            r.lines.push_back(
                fmt::format("Kubernetes control plane is running at https://{}", eff_.endpoint));
            r.lines.push_back(fmt::format("CoreDNS is running at https://{}/api/v1/namespaces/"
                                          "kube-system/services/kube-dns:dns/proxy",
                                          eff_.endpoint));
            r.data["connected"] = peers_[p].addr.to_string();
            break;
        }
    }
    if (why) {
        r.lines.push_back(
            first.empty()
                ? fmt::format("Unable to connect to the server: dial tcp: lookup {}: no such host",
                              eff_.endpoint)
                : fmt::format("Unable to connect to the server: dial tcp {}:443: i/o timeout",
                              first));
        r.lines.push_back("# horizon-sim: " + *why);
        r.data["denied"] = *why;
    }
}

// ---------------------------------------------------------------------------------------------
// Renderers

std::vector<std::string> Simulation::render_ss(uint32_t i) const {
    const Node& n = nodes_[i];
    std::vector<std::vector<std::string>> rows = {
        {"State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", "Process"}};
    const auto row = [&](const Conn& c, const char* comm, uint16_t pid, int fd) {
        if (c.state == ConnState::None) {
            return;
        }
        const bool est = c.state == ConnState::Established;
        rows.push_back({est ? "ESTAB" : "SYN-SENT", "0", est ? "0" : "1",
                        fmt::format("{}:{}", node_ip(i).to_string(), c.lport),
                        fmt::format("{}:{}", peers_[c.peer].addr.to_string(), kApiPort),
                        fmt::format("users:((\"{}\",pid={},fd={}))", comm, pid, fd)});
    };
    row(n.kubelet, "kubelet", n.kubelet_pid, 22);
    row(n.proxy, "kube-proxy", n.proxy_pid, 9);
    if (n.exec_peer != kNoPeer && now_ < n.exec_until && n.kubelet_running &&
        peers_[n.exec_peer].alive) {
        // kubelet listens on a dual-stack socket: IPv4 peers show as IPv4-mapped (seed lab).
        rows.push_back(
            {"ESTAB", "0", "0", fmt::format("[::ffff:{}]:10250", node_ip(i).to_string()),
             fmt::format("[::ffff:{}]:{}", peers_[n.exec_peer].addr.to_string(), n.exec_port),
             fmt::format("users:((\"kubelet\",pid={},fd=23))", n.kubelet_pid)});
    }
    return table(rows);
}

std::vector<std::string> Simulation::render_nodes(const std::vector<uint32_t>& nodes,
                                                  bool conditions) const {
    std::vector<std::vector<std::string>> rows;
    if (conditions) {
        rows.push_back({"NAME", "CONDITIONS", "STATUS"});
    } else {
        rows.push_back({"NAME", "STATUS", "ROLES", "AGE", "VERSION", "ZONE"});
    }
    for (const uint32_t i : nodes) {
        const Node& n = nodes_[i];
        const auto c = static_cast<Cond>(n.ready);
        if (conditions) {
            // The node controller sets the kubelet's conditions to Unknown; the EKS node
            // monitoring agent's own conditions keep their last value.
            const std::string pressure = c == Cond::Unknown ? "Unknown" : "False";
            rows.push_back(
                {node_name(i),
                 "MemoryPressure,DiskPressure,PIDPressure,Ready,KernelReady,"
                 "ContainerRuntimeReady,StorageReady,NetworkingReady",
                 fmt::format("{0},{0},{0},{1},True,True,True,True", pressure, cond_text(c))});
            continue;
        }
        rows.push_back({node_name(i), c == Cond::True ? "Ready" : "NotReady", "<none>",
                        human_duration(now_ - n.created),
                        fmt::format("v{}.0-eks-{}", sc_.cluster.kubernetes_version, "a1b2c3d"),
                        sc_.zones[n.zone]});
    }
    return table(rows);
}

std::vector<std::string> Simulation::render_leases(const std::vector<uint32_t>& nodes) const {
    std::vector<std::vector<std::string>> rows = {{"NAME", "HOLDER", "RENEW"}};
    for (const uint32_t i : nodes) {
        if (sc_.groups[nodes_[i].group].heartbeat != Heartbeat::Lease) {
            continue; // no Lease object without the NodeLease heartbeat
        }
        rows.push_back(
            {node_name(i), node_name(i), rfc3339_micro(sc_.start_epoch_ms + nodes_[i].last_renew)});
    }
    return table(rows);
}

} // namespace horizon::sim
