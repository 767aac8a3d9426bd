// The saved state and its precedence rules (control_plane.hpp): what save() writes, what the
// constructor reads back (naming the place of any problem), and reconcile() after a (re)load.
#include <algorithm>
#include <fmt/format.h>
#include <stdexcept>
#include <utility>

#include "control/cluster_ids.hpp"
#include "control/control_plane.hpp"
#include "control/control_plane_detail.hpp"

namespace horizon::control {

using namespace detail; // NOLINT(google-build-using-namespace): this class's own helpers
using nlohmann::json;

using std::chrono::milliseconds;

namespace {

constexpr int kStateFormat = 1;

// ---------------------------------------------------------------------------------------------
// The saved state: {"format": 1, "generation": N, "clusters": {"<name>": {"createdAtMs": ...,
// "apiChange": {...}, "updates": [...]}}}. Times are integer milliseconds since the epoch.

json access_json(const EndpointAccess& a) {
    return {{"accessMode", std::string(config::to_string(a.mode))},
            {"publicAccessCidrs", texts_of(a.cidrs)}};
}

json saved_update(const Update& u) {
    return {{"id", u.id},
            {"clientRequestToken", u.client_token},
            {"status", std::string(to_string(u.status))},
            {"createdAtMs", to_ms(u.created_at)},
            {"dueMs", to_ms(u.due)},
            {"params", u.params},
            {"errors", u.errors},
            {"target", access_json(u.target)},
            {"base", access_json(u.base)}};
}

json saved_cluster(const ClusterState& c) {
    json out = {{"createdAtMs", to_ms(c.created_at)}, {"updates", json::array()}};
    if (c.api_change) {
        out["apiChange"] = {{"value", access_json(c.api_change->value)},
                            {"base", access_json(c.api_change->base)},
                            {"atMs", to_ms(c.api_change->at)},
                            {"updateId", c.api_change->update_id}};
    }
    for (const auto& u : c.updates) {
        out["updates"].push_back(saved_update(u));
    }
    if (c.sg_change) {
        json rules = json::array();
        for (const auto& r : c.sg_change->rules) {
            rules.push_back(saved_rule_json(r));
        }
        out["securityGroup"] = {{"rules", rules},
                                {"base", texts_of(c.sg_change->base)},
                                {"atMs", to_ms(c.sg_change->at)}};
    }
    return out;
}

/// Reads the saved state, naming the place of any problem ("clusters.aews.updates[0].status").
class StateReader {
public:
    [[noreturn]] static void fail(const std::string& where, const std::string& what) {
        throw std::runtime_error(fmt::format("invalid saved state: {}: {}", where, what));
    }

    static const json& member(const json& object, const std::string& where, const char* key) {
        if (!object.is_object()) {
            fail(where, "expected an object");
        }
        const auto it = object.find(key);
        if (it == object.end()) {
            fail(where, fmt::format("missing \"{}\"", key));
        }
        return *it;
    }

    static std::string string(const json& object, const std::string& where, const char* key) {
        const json& value = member(object, where, key);
        if (!value.is_string()) {
            fail(where + "." + key, "expected a string");
        }
        return value.get<std::string>();
    }

    static uint64_t unsigned_number(const json& object, const std::string& where, const char* key) {
        // Parsed JSON holds non-negative integers as unsigned, a json built in memory as signed.
        const json& value = member(object, where, key);
        if (!value.is_number_integer() ||
            (!value.is_number_unsigned() && value.get<int64_t>() < 0)) {
            fail(where + "." + key, "expected a non-negative integer");
        }
        return value.get<uint64_t>();
    }

    static TimePoint time(const json& object, const std::string& where, const char* key) {
        // Up to the end of year 9999: far inside the range of TimePoint's nanoseconds.
        static constexpr uint64_t kMaxMs = 253'402'300'799'999;
        const uint64_t ms = unsigned_number(object, where, key);
        if (ms > kMaxMs) {
            fail(where + "." + key, "time out of range");
        }
        return TimePoint(milliseconds(static_cast<int64_t>(ms)));
    }

    static const json& array(const json& object, const std::string& where, const char* key) {
        const json& value = member(object, where, key);
        if (!value.is_array()) {
            fail(where + "." + key, "expected an array");
        }
        return value;
    }

    static EndpointAccess access(const json& object, const std::string& where) {
        EndpointAccess out;
        const std::string mode = string(object, where, "accessMode");
        const auto parsed = config::parse_access_mode(mode);
        if (!parsed) {
            fail(where + ".accessMode", fmt::format("unknown access mode \"{}\"", mode));
        }
        out.mode = *parsed;
        const auto texts = strings_of(member(object, where, "publicAccessCidrs"));
        if (!texts) {
            fail(where + ".publicAccessCidrs", "expected an array of strings");
        }
        for (const auto& text : *texts) {
            const auto cidr = util::Cidr::parse(text);
            if (!cidr) {
                fail(where + ".publicAccessCidrs", fmt::format("invalid CIDR \"{}\"", text));
            }
            out.cidrs.push_back(*cidr);
        }
        return out;
    }

    static UpdateStatus status(const json& object, const std::string& where) {
        const std::string text = string(object, where, "status");
        for (const auto s : kStatuses) {
            if (to_string(s) == text) {
                return s;
            }
        }
        fail(where + ".status", fmt::format("unknown status \"{}\"", text));
    }

    static Update update(const json& object, const std::string& where) {
        Update u;
        u.id = string(object, where, "id");
        u.client_token = string(object, where, "clientRequestToken");
        u.status = status(object, where);
        u.created_at = time(object, where, "createdAtMs");
        u.due = time(object, where, "dueMs");
        u.params = array(object, where, "params");
        u.errors = array(object, where, "errors");
        u.target = access(member(object, where, "target"), where + ".target");
        u.base = access(member(object, where, "base"), where + ".base");
        return u;
    }

    static ClusterState cluster(const json& object, const std::string& where) {
        ClusterState c;
        c.created_at = time(object, where, "createdAtMs");
        if (object.contains("apiChange")) {
            const std::string at = where + ".apiChange";
            const json& change = *object.find("apiChange");
            c.api_change = ApiChange{access(member(change, at, "value"), at + ".value"),
                                     access(member(change, at, "base"), at + ".base"),
                                     time(change, at, "atMs"), string(change, at, "updateId")};
        }
        const json& updates = array(object, where, "updates");
        for (size_t i = 0; i < updates.size(); ++i) {
            c.updates.push_back(update(updates[i], fmt::format("{}.updates[{}]", where, i)));
        }
        const auto running = std::count_if(c.updates.begin(), c.updates.end(), [](const Update& u) {
            return u.status == UpdateStatus::InProgress;
        });
        if (running > 1) {
            fail(where + ".updates", "more than one update in progress");
        }
        if (object.contains("securityGroup")) {
            const std::string at = where + ".securityGroup";
            const json& sg = *object.find("securityGroup");
            SgChange change;
            const json& rules = array(sg, at, "rules");
            for (size_t i = 0; i < rules.size(); ++i) {
                change.rules.push_back(saved_rule(rules[i], fmt::format("{}.rules[{}]", at, i)));
            }
            const auto base = strings_of(member(sg, at, "base"));
            if (!base) {
                fail(at + ".base", "expected an array of strings");
            }
            for (const auto& text : *base) {
                const auto cidr = util::Cidr::parse(text);
                if (!cidr) {
                    fail(at + ".base", fmt::format("invalid CIDR \"{}\"", text));
                }
                change.base.push_back(*cidr);
            }
            change.at = time(sg, at, "atMs");
            c.sg_change = std::move(change);
        }
        return c;
    }
};

struct SavedState {
    uint64_t generation = 0;
    std::map<std::string, ClusterState> clusters;
    std::map<std::string, ClusterState> dormant; ///< dormant_since set
};

SavedState read_state(const json& saved) {
    SavedState out;
    if (saved.is_null()) {
        return out;
    }
    if (!saved.is_object()) {
        StateReader::fail("top level", "expected an object");
    }
    const json& format = StateReader::member(saved, "top level", "format");
    if (format != kStateFormat) {
        throw std::runtime_error(fmt::format("unsupported saved state format {} (this version "
                                             "reads format {})",
                                             format.dump(), kStateFormat));
    }
    out.generation = StateReader::unsigned_number(saved, "top level", "generation");
    const json& clusters = StateReader::member(saved, "top level", "clusters");
    if (!clusters.is_object()) {
        StateReader::fail("clusters", "expected an object");
    }
    for (const auto& [name, value] : clusters.items()) {
        out.clusters.emplace(name, StateReader::cluster(value, "clusters." + name));
    }
    if (saved.contains("dormant")) { // absent in states saved before dormant clusters
        const json& dormant = *saved.find("dormant");
        if (!dormant.is_object()) {
            StateReader::fail("dormant", "expected an object");
        }
        for (const auto& [name, value] : dormant.items()) {
            const std::string where = "dormant." + name;
            ClusterState c = StateReader::cluster(value, where);
            c.dormant_since = StateReader::time(value, where, "dormantSinceMs");
            out.dormant.emplace(name, std::move(c));
        }
    }
    return out;
}

std::mt19937_64 seeded_rng() {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
}

/// Applies the precedence rules (control_plane.hpp) after `c.file` was (re)set.
void reconcile(ClusterState& c, std::vector<std::string>& log) {
    const EndpointAccess file = access_of(c.file);
    for (auto& u : c.updates) {
        if (u.status != UpdateStatus::InProgress || same_access(u.base, file)) {
            continue;
        }
        u.status = UpdateStatus::Cancelled;
        json e = json::object();
        e["errorCode"] = "ConfigurationConflict";
        e["errorMessage"] = "The configuration file's endpoint access changed while this update "
                            "was in progress; the file's values win";
        e["resourceIds"] = json::array({c.file.name});
        u.errors = json::array({e});
        log.push_back(fmt::format("cluster {}: cancelling update {} ({}): the file's values "
                                  "changed since it was requested (from {} to {}); the file wins",
                                  c.file.name, u.id, describe(u.target), describe(u.base),
                                  describe(file)));
    }
    if (c.sg_change) {
        const auto file_sg = file_ingress(c.file);
        if (same_cidrs(c.sg_change->base, file_sg)) {
            log.push_back(
                fmt::format("cluster {}: keeping the security group rules changed through "
                            "the API at {} over the file's security_group_ingress [{}], "
                            "unchanged since",
                            c.file.name, iso_time(c.sg_change->at), join(texts_of(file_sg))));
        } else {
            log.push_back(fmt::format("cluster {}: the file's security_group_ingress changed since "
                                      "the API changed the security group at {} (from [{}] to "
                                      "[{}]); the file wins, dropping {} API rule(s)",
                                      c.file.name, iso_time(c.sg_change->at),
                                      join(texts_of(c.sg_change->base)), join(texts_of(file_sg)),
                                      c.sg_change->rules.size()));
            c.sg_change.reset();
        }
    }
    if (!c.api_change) {
        return;
    }
    const ApiChange& change = *c.api_change;
    if (same_access(change.base, file)) {
        log.push_back(fmt::format("cluster {}: keeping the API change of {} ({}) over the file's "
                                  "values ({}), unchanged since",
                                  c.file.name, iso_time(change.at), describe(change.value),
                                  describe(file)));
        return;
    }
    log.push_back(fmt::format("cluster {}: the file's values changed since the API change of {} "
                              "(from {} to {}); the file wins, dropping the API change ({})",
                              c.file.name, iso_time(change.at), describe(change.base),
                              describe(file), describe(change.value)));
    c.api_change.reset();
}

/// "2 update(s), the API change of ... and 1 API security group rule(s)".
std::string what_is_kept(const ClusterState& c) {
    std::string what = fmt::format("{} update(s)", c.updates.size());
    if (c.api_change) {
        what += fmt::format(", the API change of {} ({})", iso_time(c.api_change->at),
                            describe(c.api_change->value));
    }
    if (c.sg_change) {
        what += fmt::format(", {} security group rule(s) set through the API",
                            c.sg_change->rules.size());
    }
    return what;
}

json saved_dormant(const ClusterState& c) {
    json out = saved_cluster(c);
    out["dormantSinceMs"] = to_ms(c.dormant_since.value_or(TimePoint{}));
    return out;
}

} // namespace

ControlPlane::ControlPlane(config::Config file, const json& saved, TimePoint now,
                           std::vector<std::string>& log)
    : server_(std::move(file.server))
    , rng_(seeded_rng()) {
    SavedState state = read_state(saved); // throws before anything is half-built
    dormant_ = std::move(state.dormant);
    for (auto& cluster : file.clusters) {
        ClusterState c;
        if (const auto it = state.clusters.find(cluster.name); it != state.clusters.end()) {
            c = std::move(it->second);
            state.clusters.erase(it);
        } else if (const auto d = dormant_.find(cluster.name); d != dormant_.end()) {
            c = std::move(d->second);
            dormant_.erase(d);
            log.push_back(fmt::format("cluster {}: back in the configuration file; its state, "
                                      "dormant since {}, returns ({})",
                                      cluster.name, iso_time(*c.dormant_since), what_is_kept(c)));
            c.dormant_since.reset();
        } else {
            c.created_at = floor_ms(now);
        }
        c.file = std::move(cluster);
        reconcile(c, log);
        if (const Update* u = in_progress(c)) {
            log.push_back(fmt::format("cluster {}: resuming update {} ({}), in progress since {}, "
                                      "due at {}",
                                      c.file.name, u->id, describe(u->target),
                                      iso_time(u->created_at), iso_time(u->due)));
        }
        clusters_.push_back(std::move(c));
    }
    for (auto& [name, c] : state.clusters) {
        go_dormant(name, std::move(c), now, log);
    }
    generation_ = state.generation + 1;
    limit_dormant(log);
}

void ControlPlane::go_dormant(const std::string& name, ClusterState c, TimePoint now,
                              std::vector<std::string>& log) {
    log.push_back(fmt::format("cluster {}: not in the configuration file; keeping its state "
                              "dormant ({}): it returns when a file names the cluster again",
                              name, what_is_kept(c)));
    c.dormant_since = floor_ms(now);
    dormant_.insert_or_assign(name, std::move(c));
}

void ControlPlane::limit_dormant(std::vector<std::string>& log) {
    while (dormant_.size() > kMaxDormant) {
        auto oldest =
            std::min_element(dormant_.begin(), dormant_.end(), [](const auto& a, const auto& b) {
                return a.second.dormant_since < b.second.dormant_since;
            });
        if (dropped_.is_null()) {
            dropped_ = {{"format", kStateFormat},
                        {"generation", generation_},
                        {"clusters", json::object()}};
        }
        dropped_["clusters"][oldest->first] = saved_cluster(oldest->second);
        log.push_back(fmt::format("cluster {}: dropping its state, dormant since {} ({}): more "
                                  "than {} dormant clusters",
                                  oldest->first, iso_time(*oldest->second.dormant_since),
                                  what_is_kept(oldest->second), kMaxDormant));
        dormant_.erase(oldest);
    }
}

std::vector<std::string> ControlPlane::dormant() const {
    std::vector<std::string> out;
    for (const auto& [name, c] : dormant_) {
        out.push_back(name);
    }
    return out;
}

json ControlPlane::take_dropped() {
    return std::exchange(dropped_, nullptr);
}

void ControlPlane::reload(config::Config file, TimePoint now, std::vector<std::string>& log) {
    server_ = std::move(file.server);
    std::vector<ClusterState> next;
    for (auto& cluster : file.clusters) {
        ClusterState c;
        if (ClusterState* old = find(cluster.name)) {
            c = std::move(*old);
            old->file.name.clear(); // moved out: no longer found, not made dormant
        } else if (const auto d = dormant_.find(cluster.name); d != dormant_.end()) {
            c = std::move(d->second);
            dormant_.erase(d);
            log.push_back(fmt::format("cluster {}: back in the configuration file; its state, "
                                      "dormant since {}, returns ({})",
                                      cluster.name, iso_time(*c.dormant_since), what_is_kept(c)));
            c.dormant_since.reset();
        } else {
            c.created_at = floor_ms(now);
        }
        c.file = std::move(cluster);
        reconcile(c, log);
        next.push_back(std::move(c));
    }
    for (auto& old : clusters_) {
        if (!old.file.name.empty()) {
            const std::string name = old.file.name;
            go_dormant(name, std::move(old), now, log);
        }
    }
    clusters_ = std::move(next);
    limit_dormant(log);
    // Any reload may change what DNS serves; one more serial costs nothing.
    ++generation_;
    ++revision_;
}

json ControlPlane::save() const {
    json clusters = json::object();
    for (const auto& c : clusters_) {
        clusters[c.file.name] = saved_cluster(c);
    }
    json out = {{"format", kStateFormat}, {"generation", generation_}, {"clusters", clusters}};
    if (!dormant_.empty()) {
        json dormant = json::object();
        for (const auto& [name, c] : dormant_) {
            dormant[name] = saved_dormant(c);
        }
        out["dormant"] = std::move(dormant);
    }
    return out;
}

} // namespace horizon::control
