// The runtime state behind the serving snapshot: the EKS control model, reloads of the config
// file, persistence of API changes, and the gauges that /readyz and /metrics report.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/control_plane.hpp"
#include "control/state_file.hpp"
#include "dns/zone.hpp"
#include "server/gate_firewall.hpp"
#include "server/metrics.hpp"
#include "server/worker.hpp"

namespace horizon::server {

class Runtime {
public:
    struct Options {
        std::optional<std::string> config_path; ///< none: the built-in default
        std::string state_dir;                  ///< --state-dir, "" = from config or default
        /// --reset-on-update: [cluster.api] reset_on_update for every cluster.
        bool reset_on_update = false;
        /// The [[zone]] files as loaded (dns::load_zones) by the caller, which reported their
        /// errors; null = no zones.
        std::shared_ptr<const dns::ZoneSet> zones;
        std::vector<size_t> zone_digests; ///< dns::ZoneLoad::digests
    };

    /// Resolves and checks the state directory, loads the saved state, builds the first
    /// snapshot. Returns null with one user-facing line in `error` on failure.
    static std::unique_ptr<Runtime> create(config::Config cfg, Options options, std::string& error);

    SnapshotHolder& holder() { return holder_; }

    /// Call once the server is bound: saves the state (resumed or dropped changes included).
    void start();

    [[nodiscard]] const config::Config& file_config() const { return file_; }

    [[nodiscard]] const std::string& state_path() const { return state_path_; }

    [[nodiscard]] const std::optional<std::string>& config_path() const { return config_path_; }

    /// --reset-on-update was given.
    [[nodiscard]] bool reset_on_update() const { return reset_on_update_; }

    using Call = std::function<control::ApiResult(control::ControlPlane&, control::TimePoint)>;
    /// Runs one admin API call under the lock, on a copy of the control plane: a call that
    /// changed the state is accepted only once the state file holds it; if the save fails the
    /// copy is thrown away (nothing changes in memory or DNS) and the answer is 500
    /// ServerException naming the state file.
    control::ApiResult call(const Call& fn);

    /// Completes due updates (called from the main loop's timer).
    void tick();
    /// Re-reads the config file and the zone files; an invalid one keeps the current snapshot
    /// serving. `only_if_changed`: skip when neither the config file's bytes nor any zone file's
    /// are what was loaded last (file watch).
    void reload(bool only_if_changed);

    /// The admin API's explain: the decision for `source`, or a 404/400 result.
    control::ApiResult explain(const std::string& cluster, const std::string& source);
    /// [server] admin_read_only of the configuration file as last loaded (reloads included).
    [[nodiscard]] bool admin_read_only();

    struct Readiness {
        bool ready = false; ///< serving, and the state directory takes writes
        std::string body;   ///< JSON
    };

    /// /readyz: not ready while the state cannot be saved (retried here, so that it recovers
    /// once the directory does).
    [[nodiscard]] Readiness readiness();
    /// Gauges for /metrics.
    [[nodiscard]] ServerGauges gauges(uint64_t tcp_open);
    /// Called after each new snapshot is published, under the runtime's lock: it must neither
    /// block nor call back into the Runtime. An empty function removes it.
    void set_publish_hook(std::function<void()> hook);

private:
    Runtime(config::Config file, std::string state_path, control::ControlPlane cp,
            std::optional<std::string> config_path);
    /// A new snapshot from the control plane's effective config, when its generation moved
    /// (logged unless `quiet`).
    void publish_locked(bool quiet = false);
    /// Saves `cp` when its revision is not the one on disk; false (logged, counted, shown in
    /// /readyz) when the write fails.
    bool persist_locked(const control::ControlPlane& cp);
    /// Writes the dormant clusters' state the control plane dropped to a backup file beside the
    /// state file, with a warning saying where.
    void back_up_dropped_locked();

    std::mutex mu_;
    config::Config file_;
    std::unique_ptr<control::StateLock> lock_; ///< held for the process's life
    std::string state_path_;
    /// The control plane's revision in the state file; none before the first save.
    std::optional<uint64_t> saved_revision_;
    std::string state_error_; ///< why the last save failed, else ""
    uint64_t state_save_failures_ = 0;
    control::ControlPlane cp_;
    std::optional<std::string> config_path_;
    /// The config file's bytes as last read; none when that read failed, so that the next file
    /// event reloads even if the bytes are back to what is served.
    std::optional<std::string> loaded_text_;
    std::shared_ptr<const dns::ZoneSet> zones_; ///< the zone data every snapshot shares
    /// Each zone file's path and the digest of its bytes as last read (loaded or rejected).
    std::vector<std::pair<std::string, size_t>> zone_files_;
    SnapshotHolder holder_;
    std::vector<std::string> slot_names_; ///< metric slot -> cluster name, grows only
    uint64_t reloads_ok_ = 0;
    uint64_t reloads_failed_ = 0;
    std::vector<std::string> last_reload_errors_;
    std::string last_reload_at_;
    std::function<void()> publish_hook_; ///< the API endpoint's notify
    /// [server] gate_nft_table: the gate's drops in the kernel, updated before each snapshot swap.
    std::unique_ptr<GateFirewall> firewall_;
    std::string firewall_error_; ///< nft's words when the last update failed, else ""
    bool reset_on_update_ = false;
};

} // namespace horizon::server
