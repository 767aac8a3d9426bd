// The scenario's actions: run_step dispatches each step kind to its own function (observations
// to observe.cpp); the node actions (fail, recover, restart) and the continuations the steps
// schedule (an update completing, a rollout's next pod, an upgrade's API server roll).
#include <algorithm>
#include <array>
#include <fmt/format.h>

#include "control/shorthand.hpp"
#include "sim/simulation.hpp"

namespace horizon::sim {

namespace {

std::string aws_error(const control::ApiResult& r, const char* operation) {
    return fmt::format("An error occurred ({}) when calling the {} operation: {}", r.error_type,
                       operation, r.body.value("message", ""));
}

} // namespace

void Simulation::run_step(const Step& s, size_t index) {
    Record r;
    r.type = "action";
    r.data["step"] = index;
    switch (s.kind) {
    case StepKind::UpdateClusterConfig:
        step_update_cluster_config(s, std::move(r));
        break;
    case StepKind::AuthorizeSgIngress:
        step_authorize_sg_ingress(s, std::move(r));
        break;
    case StepKind::FailNode:
        step_fail_node(s, std::move(r));
        break;
    case StepKind::RecoverNode:
        step_recover_node(s, std::move(r));
        break;
    case StepKind::Partition:
        step_partition(s, index, std::move(r));
        break;
    case StepKind::Heal:
        step_heal(s, std::move(r));
        break;
    case StepKind::Restart:
        step_restart(s, std::move(r));
        break;
    case StepKind::Upgrade:
        step_upgrade(s, std::move(r));
        break;
    case StepKind::Exec:
        step_exec(s, std::move(r));
        break;
    case StepKind::Dig:
        observe(s, &Simulation::observe_dig);
        break;
    case StepKind::Ss:
        observe(s, &Simulation::observe_ss);
        break;
    case StepKind::GetNodes:
        observe(s, &Simulation::observe_nodes);
        break;
    case StepKind::GetLeases:
        observe(s, &Simulation::observe_leases);
        break;
    case StepKind::DescribeCluster:
        observe(s, &Simulation::observe_cluster);
        break;
    case StepKind::DescribeUpdate:
        observe(s, &Simulation::observe_update);
        break;
    case StepKind::Connect:
        observe(s, &Simulation::observe_connect);
        break;
    }
}

// ---------------------------------------------------------------------------------------------
// The control plane's API

void Simulation::step_update_cluster_config(const Step& s, Record r) {
    const std::string& name = sc_.cluster.name;
    r.text = fmt::format("aws eks update-cluster-config --name {} --resources-vpc-config {}", name,
                         s.text);
    const auto param = control::parse_resources_vpc_config(s.text);
    if (!param.ok()) {
        r.lines.push_back(param.message);
        timeline_.emit(std::move(r));
        return;
    }
    const nlohmann::json body = {{"resourcesVpcConfig", nlohmann::json::parse(param.value.dump())}};
    const auto result = cp_.update_cluster_config(name, body, wall(now_));
    r.lines = result.status == 200
                  ? json_lines(result.body)
                  : std::vector<std::string>{aws_error(result, "UpdateClusterConfig")};
    r.data["status"] = result.status;
    if (opt_.control != nullptr) {
        const auto live = opt_.control->update_cluster_config(name, body);
        r.data["live_status"] = live.status;
        r.lines.push_back(fmt::format("(--control: horizond answered HTTP {})", live.status));
    }
    if (const auto due = cp_.next_deadline()) {
        const Millis t =
            std::chrono::duration_cast<std::chrono::milliseconds>(due->time_since_epoch()).count() -
            sc_.start_epoch_ms;
        q_.push(std::max(t, now_), kUpdateDue, 0);
    }
    timeline_.emit(std::move(r));
}

void Simulation::update_due() {
    const std::string& name = sc_.cluster.name;
    std::vector<std::pair<std::string, std::string>> before;
    const auto listed = cp_.list_updates(name);
    for (const auto& id : listed.body["updateIds"]) {
        before.emplace_back(id.get<std::string>(),
                            cp_.describe_update(name, id).body["update"].value("status", ""));
    }
    if (!cp_.tick(wall(now_))) {
        return;
    }
    const auto old_mode = eff_.access_mode;
    rebuild();
    for (const auto& [id, status] : before) {
        const auto now_status = cp_.describe_update(name, id).body["update"].value("status", "");
        if (status == "InProgress" && now_status != status) {
            Record r;
            r.type = "update";
            r.text = fmt::format("update {} {}: endpoint access {} -> {}, publicAccessCidrs [{}]; "
                                 "answers flip now",
                                 id, now_status, config::to_string(old_mode),
                                 config::to_string(eff_.access_mode), [&] {
                                     std::string s;
                                     for (const auto& c : eff_.public_access_cidrs) {
                                         s += (s.empty() ? "" : ", ") + c.to_string();
                                     }
                                     return s;
                                 }());
            r.data["update"] = id;
            r.data["status"] = now_status;
            r.data["access_mode"] = config::to_string(eff_.access_mode);
            timeline_.emit(std::move(r));
        }
    }
    if (eff_.api && eff_.api->reset_on_update) {
        reset_denied_conns();
    }
}

void Simulation::step_authorize_sg_ingress(const Step& s, Record r) {
    const std::string& name = sc_.cluster.name;
    const std::string sg = cp_.describe_cluster(name).body["cluster"]["resourcesVpcConfig"].value(
        "clusterSecurityGroupId", "");
    nlohmann::json body = {{"IpProtocol", s.protocol}, {"CidrIp", s.cidr}};
    std::string ports;
    if (s.port >= 0) {
        body["FromPort"] = s.port;
        body["ToPort"] = s.port;
        ports = fmt::format(" --port {}", s.port);
    }
    r.text = fmt::format("aws ec2 authorize-security-group-ingress --group-id {} --protocol {}{} "
                         "--cidr {}",
                         sg, s.protocol, ports, s.cidr);
    const auto result = cp_.authorize_security_group_ingress(name, body, wall(now_));
    r.lines = result.status == 200
                  ? json_lines(result.body)
                  : std::vector<std::string>{aws_error(result, "AuthorizeSecurityGroupIngress")};
    r.data["status"] = result.status;
    if (opt_.control != nullptr) {
        const auto live = opt_.control->authorize_sg_ingress(name, body);
        r.data["live_status"] = live.status;
        r.lines.push_back(fmt::format("(--control: horizond answered HTTP {})", live.status));
    }
    rebuild(); // security group rules apply at once
    timeline_.emit(std::move(r));
}

// ---------------------------------------------------------------------------------------------
// Nodes

std::vector<uint32_t> Simulation::select(const Selector& s) const {
    std::vector<uint32_t> out;
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        const Node& n = nodes_[i];
        bool take = s.all;
        if (!s.node.empty()) {
            take = node_index(s.node) == i;
        } else if (!s.group.empty()) {
            take = sc_.groups[n.group].name == s.group &&
                   (s.zone.empty() || sc_.zones[n.zone] == s.zone);
        } else if (!s.zone.empty()) {
            take = sc_.zones[n.zone] == s.zone;
        }
        if (take) {
            out.push_back(i);
            if (s.count > 0 && out.size() == s.count) {
                break;
            }
        }
    }
    return out;
}

std::vector<uint32_t> Simulation::announce_nodes(const Step& s, Record r) {
    auto nodes = select(s.nodes);
    static constexpr std::array<const char*, 4> kWhat = {"fail-node", "recover-node", "partition",
                                                         "heal"};
    const size_t w = static_cast<size_t>(s.kind) - static_cast<size_t>(StepKind::FailNode);
    const char* how = "";
    if (s.kind == StepKind::FailNode) {
        how = s.text == "power-off" ? ": powered off"
              : s.not_ready         ? ": kubelet reports Ready=False"
                                    : ": kubelet stopped";
    }
    r.text = fmt::format("{} ({} node(s){})", kWhat[w], nodes.size(), how);
    r.data["nodes"] = nodes.size();
    timeline_.emit(std::move(r));
    return nodes;
}

void Simulation::step_fail_node(const Step& s, Record r) {
    for (const uint32_t i : announce_nodes(s, std::move(r))) {
        fail_node(i, s.text == "power-off", s.not_ready);
    }
}

void Simulation::step_recover_node(const Step& s, Record r) {
    for (const uint32_t i : announce_nodes(s, std::move(r))) {
        recover_node(i);
    }
}

void Simulation::step_partition(const Step& s, size_t index, Record r) {
    const auto nodes = announce_nodes(s, std::move(r));
    for (const uint32_t i : nodes) {
        nodes_[i].partitioned = true;
        node_event(i, "partitioned from the endpoint");
    }
    for (const uint32_t i : nodes) {
        Node& n = nodes_[i];
        // kube-proxy's watch times out and it reconnects (and fails) with backoff.
        if (n.proxy.state == ConnState::Established) {
            reset_conn(i, n.proxy, true, "watch timed out: the node is partitioned");
            q_.push(now_ + sc_.model.request_timeout, kProxy, i, ++n.proxy_gen);
        }
    }
    if (s.duration > 0) {
        q_.push(now_ + s.duration, kHeal, static_cast<uint32_t>(index));
    }
}

void Simulation::step_heal(const Step& s, Record r) {
    for (const uint32_t i : announce_nodes(s, std::move(r))) {
        Node& n = nodes_[i];
        if (n.partitioned) {
            n.partitioned = false;
            node_event(i, "partition healed");
            if (n.proxy_running && n.proxy.state != ConnState::Established) {
                q_.push(now_, kProxy, i, ++n.proxy_gen);
            }
        }
    }
}

void Simulation::fail_node(size_t idx, bool power_off, bool not_ready) {
    const auto i = static_cast<uint32_t>(idx);
    Node& n = nodes_[i];
    if (not_ready) {
        n.reported = static_cast<uint8_t>(Cond::False);
        node_event(i, "kubelet now reports Ready=False");
        return;
    }
    if (n.kubelet_running) {
        n.kubelet_running = false;
        ++n.lease_gen;
        ++n.status_gen;
        reset_conn(i, n.kubelet, false, "kubelet stopped");
        node_event(i, power_off ? "powered off" : "kubelet stopped");
    }
    if (power_off && n.proxy_running) {
        n.proxy_running = false;
        ++n.proxy_gen;
        reset_conn(i, n.proxy, true, "kube-proxy stopped");
    }
}

void Simulation::recover_node(size_t idx) {
    const auto i = static_cast<uint32_t>(idx);
    Node& n = nodes_[i];
    n.reported = static_cast<uint8_t>(Cond::True);
    if (!n.proxy_running) {
        n.proxy_running = true;
        n.proxy_pid = static_cast<uint16_t>(n.proxy_pid + 1 + rand() % 50);
        q_.push(now_, kProxy, i, ++n.proxy_gen);
    }
    if (!n.kubelet_running) {
        node_event(i, "kubelet started");
        restart_kubelet(i);
    }
}

void Simulation::step_restart(const Step& s, Record r) {
    if (s.text == "ds/kube-proxy") {
        Rollout ro;
        ro.nodes = select(s.nodes);
        ro.every = s.every;
        r.text = fmt::format("kubectl rollout restart ds/kube-proxy -n kube-system ({} pod(s), "
                             "one every {} ms)",
                             ro.nodes.size(), s.every);
        timeline_.emit(std::move(r));
        rollouts_.push_back(std::move(ro));
        q_.push(now_, kRollout, static_cast<uint32_t>(rollouts_.size() - 1));
        return;
    }
    const auto nodes = select(s.nodes);
    r.text = fmt::format("systemctl restart kubelet ({} node(s))", nodes.size());
    timeline_.emit(std::move(r));
    for (const uint32_t i : nodes) {
        restart_kubelet(i);
    }
}

void Simulation::rollout_next(uint32_t rollout) {
    Rollout& ro = rollouts_[rollout];
    if (ro.next >= ro.nodes.size()) {
        return;
    }
    restart_kube_proxy(ro.nodes[ro.next++]);
    if (ro.next < ro.nodes.size()) {
        q_.push(now_ + ro.every, kRollout, rollout);
        return;
    }
    Record r;
    r.type = "rollout";
    r.text = "daemon set \"kube-proxy\" successfully rolled out";
    timeline_.emit(std::move(r));
}

void Simulation::restart_kubelet(size_t idx) {
    const auto i = static_cast<uint32_t>(idx);
    Node& n = nodes_[i];
    reset_conn(i, n.kubelet, false, "kubelet restarted");
    n.kubelet_running = true;
    n.backoff = 0;
    n.kubelet_pid = static_cast<uint16_t>(n.kubelet_pid + 1 + rand() % 50);
    // A starting kubelet renews its Lease and posts its status at once.
    if (sc_.groups[n.group].heartbeat == Heartbeat::Lease) {
        q_.push(now_, kLease, i, ++n.lease_gen);
    }
    q_.push(now_, kStatus, i, ++n.status_gen);
}

void Simulation::restart_kube_proxy(size_t idx) {
    const auto i = static_cast<uint32_t>(idx);
    Node& n = nodes_[i];
    reset_conn(i, n.proxy, true, "kube-proxy pod replaced");
    n.proxy_running = true;
    n.proxy_backoff = 0;
    n.proxy_pid = static_cast<uint16_t>(n.proxy_pid + 1 + rand() % 50);
    q_.push(now_, kProxy, i, ++n.proxy_gen);
}

void Simulation::step_exec(const Step& s, Record r) {
    // The API server reaches the kubelet (:10250) through an EKS-owned ENI in every endpoint
    // mode (EKS-FACTS §5): the stream shows in the node's ss as kubelet's, peer an ENI.
    const auto nodes = select(s.nodes);
    r.text = fmt::format("kubectl exec -it netdebug -- zsh   # {} node(s)", nodes.size());
    std::vector<uint16_t> enis;
    for (const auto& a : eff_.private_ips) {
        enis.push_back(peer_index(a, false));
    }
    for (const uint32_t i : nodes) {
        Node& n = nodes_[i];
        if (enis.empty() || !n.kubelet_running) {
            continue;
        }
        n.exec_peer = enis[rand() % enis.size()];
        n.exec_port = ephemeral_port();
        n.exec_until = s.duration > 0 ? now_ + s.duration : until_ + 1;
        r.lines.push_back(fmt::format("API server -> {}:10250 (kubelet) from ENI {}",
                                      node_ip(i).to_string(),
                                      peers_[n.exec_peer].addr.to_string()));
    }
    timeline_.emit(std::move(r));
}

// ---------------------------------------------------------------------------------------------
// Upgrades: the API servers roll, then the ENIs are re-created

void Simulation::step_upgrade(const Step& s, Record r) {
    r.text = fmt::format("aws eks update-cluster-version --name {} --kubernetes-version {} "
                         "(API servers roll, ENIs re-created; {} s)",
                         sc_.cluster.name, s.text, s.duration / 1000);
    timeline_.emit(std::move(r));
    pending_version_ = s.text;
    pending_private_ips_ = s.private_ips;
    if (pending_private_ips_.empty()) {
        for (const auto& ip : eff_.private_ips) {
            auto next = ip;
            next.bytes[ip.is_v4() ? 3 : 15] =
                static_cast<uint8_t>(next.bytes[ip.is_v4() ? 3 : 15] + 1);
            pending_private_ips_.push_back(next);
        }
    }
    ++upgrade_gen_;
    const uint32_t n = sc_.model.api_servers;
    for (uint32_t k = 0; k < n; ++k) {
        q_.push(now_ + s.duration * (k + 1) / (n + 1), kApiRoll, k, upgrade_gen_);
    }
    q_.push(now_ + s.duration, kUpgradeDone, 0, upgrade_gen_);
}

void Simulation::api_server_restarted(uint32_t instance) {
    Record r;
    r.type = "upgrade";
    r.text = fmt::format("API server instance {} of {} restarted with {}: its clients reconnect",
                         instance + 1, sc_.model.api_servers, pending_version_);
    timeline_.emit(std::move(r));
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        if (n.kubelet.state == ConnState::Established && n.kubelet.api_server == instance) {
            reset_conn(i, n.kubelet, false, "API server instance restarted");
        }
        if (n.proxy.state == ConnState::Established && n.proxy.api_server == instance) {
            reset_conn(i, n.proxy, true, "API server instance restarted");
            q_.push(now_, kProxy, i, ++n.proxy_gen);
        }
    }
}

void Simulation::upgrade_done() {
    config::Config file;
    file.clusters.push_back(sc_.cluster);
    auto& c = file.clusters.back();
    if (!sc_.has_api_table) {
        c.api.emplace();
        c.api->security_group_ingress.clear();
    }
    c.kubernetes_version = pending_version_;
    c.private_ips = pending_private_ips_;
    std::vector<std::string> log;
    const auto old_ips = eff_.private_ips;
    cp_.reload(file, wall(now_), log);
    for (auto& p : peers_) {
        if (!p.is_public && contains(old_ips, p.addr) && !contains(c.private_ips, p.addr)) {
            p.alive = false;
        }
    }
    rebuild();
    Record r;
    r.type = "upgrade";
    std::string ips;
    for (const auto& a : eff_.private_ips) {
        ips += (ips.empty() ? "" : ", ") + a.to_string();
    }
    r.text = fmt::format("upgrade to {} complete: ENIs re-created at {}; node grace period {} s",
                         pending_version_, ips, grace() / 1000);
    timeline_.emit(std::move(r));
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        if (n.proxy.state == ConnState::Established && !peers_[n.proxy.peer].alive) {
            reset_conn(i, n.proxy, true, "the ENI was deleted");
            q_.push(now_, kProxy, i, ++n.proxy_gen);
        }
        if (n.kubelet.state == ConnState::Established && !peers_[n.kubelet.peer].alive) {
            reset_conn(i, n.kubelet, false, "the ENI was deleted");
        }
    }
}

} // namespace horizon::sim
