// Runtime: control model + reload + persistence, publishing immutable snapshots to the workers.
#include "server/runtime.hpp"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "control/state_file.hpp"
#include "util/file.hpp"
#include "util/time_text.hpp"

namespace horizon::server {

namespace {

std::string now_text() {
    return util::rfc3339(std::chrono::system_clock::now());
}

} // namespace

Runtime::Runtime(config::Config file, std::string state_path, control::ControlPlane cp,
                 std::optional<std::string> config_path)
    : file_(std::move(file))
    , state_path_(std::move(state_path))
    , cp_(std::move(cp))
    , config_path_(std::move(config_path)) {}

std::unique_ptr<Runtime> Runtime::create(config::Config cfg, Options options, std::string& error) {
    // --state-dir, else [server] state_dir, else the default: an explicit directory must exist,
    // the default one is created.
    const std::string configured =
        !options.state_dir.empty() ? options.state_dir : cfg.server.state_dir;
    const std::string dir = control::resolve_state_dir(configured);
    if (dir.empty()) {
        error = "no state directory: set [server] state_dir or pass --state-dir";
        return nullptr;
    }
    if (!control::prepare_state_dir(dir, configured.empty(), error)) {
        return nullptr;
    }
    auto state_lock = control::StateLock::acquire(dir, error);
    if (!state_lock) {
        return nullptr;
    }
    for (const auto& name : control::remove_stale_temporaries(dir)) {
        spdlog::info("state directory {}: removed {}, left by a write that was interrupted", dir,
                     name);
    }
    const std::string state_path = control::state_file_path(dir);
    nlohmann::json saved;
    if (!control::read_state_file(state_path, saved, error)) {
        error += " (move the file away to start from the configuration alone)";
        return nullptr;
    }
    std::vector<std::string> log;
    try {
        control::ControlPlane cp(cfg, saved, control::Clock::now(), log);
        std::string text;
        if (options.config_path) {
            text = util::read_file(*options.config_path, config::kMaxConfigBytes).text;
        }
        auto rt = std::unique_ptr<Runtime>(
            new Runtime(std::move(cfg), state_path, std::move(cp), options.config_path));
        rt->lock_ = std::move(state_lock);
        rt->loaded_text_ = std::move(text);
        rt->zones_ = options.zones;
        for (size_t i = 0; i < rt->file_.zones.size(); ++i) {
            rt->zone_files_.emplace_back(rt->file_.zones[i].path, i < options.zone_digests.size()
                                                                      ? options.zone_digests[i]
                                                                      : 0);
        }
        rt->reset_on_update_ = options.reset_on_update;
        if (!rt->file_.server.gate_nft_table.empty()) {
            rt->firewall_ = std::make_unique<GateFirewall>(rt->file_.server.gate_nft_table);
        }
        for (const auto& line : log) {
            spdlog::info("{}", line);
        }
        const std::lock_guard lock(rt->mu_);
        rt->back_up_dropped_locked();
        rt->cp_.tick(control::Clock::now());
        rt->publish_locked(true); // logged and saved by start(), once the listeners are bound
        if (!rt->firewall_error_.empty()) {
            error = fmt::format("cannot load the gate's nftables table inet {} (gate_nft_table): "
                                "{} (run as root with nftables installed, or set "
                                "gate_nft_table = \"\")",
                                rt->file_.server.gate_nft_table, rt->firewall_error_);
            return nullptr;
        }
        return rt;
    } catch (const std::exception& e) {
        error = "cannot use saved state " + state_path + ": " + e.what() +
                " (move the file away to start from the configuration alone)";
        return nullptr;
    }
}

void Runtime::publish_locked(bool quiet) {
    config::Config eff = cp_.effective();
    // The control plane models the clusters; the rest of the file passes through as written.
    eff.resolver = file_.resolver;
    eff.zones = file_.zones;
    std::vector<unsigned> slots;
    for (const auto& c : eff.clusters) {
        auto it = std::find(slot_names_.begin(), slot_names_.end(), c.name);
        if (it == slot_names_.end()) {
            slot_names_.push_back(c.name);
            it = slot_names_.end() - 1;
        }
        slots.push_back(static_cast<unsigned>(it - slot_names_.begin()));
    }
    const uint64_t gen = cp_.generation();
    if (!holder_.current.load() || holder_.generation.load() != gen) {
        // The kernel's drops first, then the answers: a client that sees the new answer meets
        // the new rules (at worst a moment of the old answer with the new rules).
        if (firewall_) {
            std::string error;
            if (firewall_->apply(eff.clusters, error)) {
                firewall_error_.clear();
            } else {
                firewall_error_ = error;
                spdlog::error("cannot update the gate's nftables table inet {}: {} (the previous "
                              "rules stay; the gate itself still holds or resets denied "
                              "connections)",
                              firewall_->table(), error);
            }
        }
        holder_.resolver.store(std::make_shared<const config::ResolverConfig>(eff.resolver),
                               std::memory_order_release);
        holder_.current.store(dns::build_snapshot(eff, gen, slots, zones_),
                              std::memory_order_release);
        holder_.generation.store(gen, std::memory_order_release);
        if (!quiet) {
            spdlog::info("serving configuration generation {}", gen);
        }
        if (publish_hook_) {
            publish_hook_();
        }
    }
}

void Runtime::start() {
    const std::lock_guard lock(mu_);
    spdlog::info("serving configuration generation {}", cp_.generation());
    persist_locked(cp_);
}

bool Runtime::persist_locked(const control::ControlPlane& cp) {
    if (saved_revision_ == cp.revision() && state_error_.empty()) {
        return true;
    }
    std::string error;
    if (!util::write_file_atomically(state_path_, cp.save().dump(2) + "\n", error)) {
        ++state_save_failures_;
        if (state_error_ != error) {
            spdlog::error("cannot save the state to {}: {} (the admin API refuses changes with "
                          "500 until it can: free space or make the directory writable)",
                          state_path_, error);
        }
        state_error_ = error;
        return false;
    }
    if (!state_error_.empty()) {
        spdlog::info("state saved to {} again", state_path_);
    }
    state_error_.clear();
    saved_revision_ = cp.revision();
    return true;
}

void Runtime::back_up_dropped_locked() {
    const nlohmann::json dropped = cp_.take_dropped();
    if (dropped.is_null()) {
        return;
    }
    std::string names;
    for (const auto& [name, c] : dropped["clusters"].items()) {
        names += (names.empty() ? "" : ", ") + name;
    }
    const auto now = std::chrono::system_clock::now();
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const std::string backup = fmt::format(
        "{}/state.dropped.{}.json", std::filesystem::path(state_path_).parent_path().string(), ms);
    std::string error;
    if (util::write_file_atomically(backup, dropped.dump(2) + "\n", error)) {
        spdlog::warn("dropped the state of dormant cluster(s) {} (more than {} dormant); a backup "
                     "is in {} (its \"clusters\" entries can be put back into {} while "
                     "horizond is stopped)",
                     names, control::ControlPlane::kMaxDormant, backup, state_path_);
    } else {
        spdlog::error("dropped the state of dormant cluster(s) {} (more than {} dormant) and "
                      "could not write its backup: {}",
                      names, control::ControlPlane::kMaxDormant, error);
    }
}

control::ApiResult Runtime::call(const Call& fn) {
    const std::lock_guard lock(mu_);
    const auto now = control::Clock::now();
    // On a copy: the call's change takes effect only once it is durable.
    control::ControlPlane next = cp_;
    control::ApiResult r = fn(next, now);
    if (r.status >= 300) {
        return r;
    }
    next.tick(now); // a 0s update completes at once
    if (next.revision() != cp_.revision() && !persist_locked(next)) {
        return {500,
                {{"__type", "ServerException"},
                 {"message", "The change was not made: horizond cannot save its state to " +
                                 state_path_ + ": " + state_error_}},
                "ServerException"};
    }
    cp_ = std::move(next);
    publish_locked();
    return r;
}

void Runtime::tick() {
    const std::lock_guard lock(mu_);
    if (cp_.tick(control::Clock::now())) {
        // Due by time: a restart completes it from the saved state as well, so a failed save
        // loses nothing here (it is reported, and retried with the next save).
        publish_locked();
        persist_locked(cp_);
    }
}

void Runtime::reload(bool only_if_changed) {
    std::string text;
    const std::string path = config_path_.value_or("<built-in default>");
    if (config_path_) {
        auto file = util::read_file(*config_path_, config::kMaxConfigBytes);
        if (!file.ok()) {
            const std::lock_guard lock(mu_);
            loaded_text_.reset();
            ++reloads_failed_;
            last_reload_at_ = now_text();
            last_reload_errors_ = {path + ": cannot read the file: " + file.reason()};
            spdlog::error("reload failed: {}; still serving generation {}",
                          last_reload_errors_.front(), cp_.generation());
            return;
        }
        text = std::move(file.text);
    } else {
        text = std::string(config::default_text());
    }
    const std::lock_guard lock(mu_);
    if (only_if_changed && text == loaded_text_ &&
        std::all_of(zone_files_.begin(), zone_files_.end(),
                    [](const auto& f) { return dns::zone_file_digest(f.first) == f.second; })) {
        return;
    }
    loaded_text_ = text;
    last_reload_at_ = now_text();
    auto loaded = config::load(text, path);
    if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&loaded)) {
        ++reloads_failed_;
        last_reload_errors_.clear();
        for (const auto& d : *errors) {
            last_reload_errors_.push_back(d.to_string());
            spdlog::error("{}", d.to_string());
        }
        spdlog::error("reload of {} failed with {} error(s); still serving generation {}", path,
                      errors->size(), cp_.generation());
        return;
    }
    auto cfg = std::get<config::Config>(std::move(loaded));
    if (cfg.clusters.empty() && !file_.clusters.empty() && !cfg.server.allow_no_clusters) {
        // A file half written by an editor, a key gone from a ConfigMap: never a reason to stop
        // answering for every cluster.
        ++reloads_failed_;
        last_reload_errors_ = {fmt::format(
            "{}: no [[cluster]] in the file: this reload would remove all {} cluster(s) being "
            "served; refused (to mean it, set [server] allow_no_clusters = true)",
            path, file_.clusters.size())};
        spdlog::error("reload failed: {}; still serving generation {}", last_reload_errors_.front(),
                      cp_.generation());
        return;
    }
    dns::ZoneLoad zones = dns::load_zones(cfg.zones);
    zone_files_.clear();
    for (size_t i = 0; i < cfg.zones.size(); ++i) {
        zone_files_.emplace_back(cfg.zones[i].path, zones.digests[i]);
    }
    if (!zones.errors.empty()) {
        ++reloads_failed_;
        last_reload_errors_.clear();
        for (const auto& e : zones.errors) {
            last_reload_errors_.push_back(e.to_string());
            spdlog::error("{}", e.to_string());
        }
        spdlog::error("reload of {} failed with {} zone file error(s); still serving generation {}",
                      path, zones.errors.size(), cp_.generation());
        return;
    }
    zones_ = std::move(zones.zones);
    if (cfg.server.listen != file_.server.listen || cfg.server.workers != file_.server.workers ||
        cfg.server.admin_listen != file_.server.admin_listen ||
        cfg.server.user != file_.server.user) {
        spdlog::warn("reload: listen, workers, admin_listen and user take effect only at restart");
    }
    std::vector<std::string> log;
    cp_.reload(cfg, control::Clock::now(), log);
    for (const auto& line : log) {
        spdlog::info("{}", line);
    }
    back_up_dropped_locked();
    file_ = std::move(cfg);
    ++reloads_ok_;
    last_reload_errors_.clear();
    cp_.tick(control::Clock::now());
    publish_locked();
    persist_locked(cp_);
    spdlog::info("reloaded {}", path);
}

control::ApiResult Runtime::explain(const std::string& cluster, const std::string& source) {
    const auto addr = util::IpAddress::parse(source);
    if (!addr) {
        return {400,
                {{"__type", "InvalidParameterException"},
                 {"message", "source must be an IPv4 or IPv6 address, got '" + source + "'"}},
                "InvalidParameterException"};
    }
    const auto snap = holder_.current.load();
    for (const auto& c : snap->clusters) {
        if (c.cfg.name != cluster) {
            continue;
        }
        const dns::Decision d = c.decide(*addr);
        const auto& ips = d.set == dns::AnswerSet::Private ? c.cfg.private_ips : c.cfg.public_ips;
        nlohmann::json addresses = nlohmann::json::array();
        if (d.set != dns::AnswerSet::NxDomain) {
            for (const auto& ip : ips) {
                addresses.push_back(ip.to_string());
            }
        }
        return {200,
                {{"explain",
                  {{"cluster", cluster},
                   {"source", addr->to_string()},
                   {"inVpc", d.inside},
                   {"matchedCidr", d.matched != nullptr ? nlohmann::json(d.matched->to_string())
                                                        : nlohmann::json(nullptr)},
                   {"accessMode", config::to_string(c.cfg.access_mode)},
                   {"answerSet", dns::to_string(d.set)},
                   {"addresses", addresses},
                   {"generation", snap->generation},
                   {"reason", c.explain(*addr, snap->generation)}}}},
                ""};
    }
    return {404,
            {{"__type", "ResourceNotFoundException"},
             {"message", "No cluster found for name: " + cluster + "."}},
            "ResourceNotFoundException"};
}

Runtime::Readiness Runtime::readiness() {
    const std::lock_guard lock(mu_);
    if (!state_error_.empty()) {
        persist_locked(cp_); // recovers once the directory takes writes again
    }
    const bool ready = holder_.current.load() != nullptr && state_error_.empty();
    nlohmann::json j = {
        {"ready", ready},
        {"generation", holder_.generation.load()},
        {"lastReload",
         {{"ok", last_reload_errors_.empty()},
          {"at",
           last_reload_at_.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_reload_at_)},
          {"errors", last_reload_errors_}}},
        {"state",
         {{"file", state_path_},
          {"writable", state_error_.empty()},
          {"error", state_error_.empty() ? nlohmann::json(nullptr) : nlohmann::json(state_error_)},
          {"saveFailures", state_save_failures_}}}};
    if (firewall_) {
        j["gateFirewall"] = {{"table", "inet " + firewall_->table()},
                             {"ok", firewall_error_.empty()},
                             {"error", firewall_error_.empty() ? nlohmann::json(nullptr)
                                                               : nlohmann::json(firewall_error_)}};
    }
    return {ready, j.dump(2) + "\n"};
}

bool Runtime::admin_read_only() {
    const std::lock_guard lock(mu_);
    return file_.server.admin_read_only;
}

void Runtime::set_publish_hook(std::function<void()> hook) {
    const std::lock_guard lock(mu_);
    publish_hook_ = std::move(hook);
}

ServerGauges Runtime::gauges(uint64_t tcp_open) {
    const std::lock_guard lock(mu_);
    ServerGauges g;
    g.generation = holder_.generation.load();
    g.tcp_open = tcp_open;
    g.reloads_ok = reloads_ok_;
    g.reloads_failed = reloads_failed_;
    g.last_reload_ok = last_reload_errors_.empty();
    g.state_writable = state_error_.empty();
    g.state_save_failures = state_save_failures_;
    for (const auto& [status, n] : cp_.updates_by_status()) {
        g.updates_by_status.emplace_back(status, n);
    }
    g.cluster_slots = slot_names_;
    return g;
}

} // namespace horizon::server
