// What the admin API shows of the API endpoint: the `ss -tn`-like connections view and the
// horizon_api_* metrics. Called on the admin thread; reads what the loop thread shares under mu.
#include <fmt/format.h>

#include "server/api_endpoint_impl.hpp"
#include "server/runtime.hpp"

namespace horizon::server {

std::string_view api::to_string(State s) {
    switch (s) {
    case State::Held:
        return "held";
    case State::Connecting:
        return "connecting";
    case State::Proxied:
        return "proxied";
    case State::Responder:
        return "responder";
    }
    return "?";
}

control::ApiResult ApiEndpoint::connections(const std::string& cluster) const {
    const auto snap = impl_->holder->current.load();
    if (api::find_cluster(*snap, cluster) == nullptr) {
        return {404,
                {{"__type", "ResourceNotFoundException"},
                 {"message", "No cluster found for name: " + cluster + "."}},
                "ResourceNotFoundException"};
    }
    nlohmann::json listeners = nlohmann::json::array();
    nlohmann::json unbound = nlohmann::json::array();
    for (const auto& a : impl_->addresses) {
        if (a.cluster != cluster) {
            continue;
        }
        nlohmann::json j = {{"side", control::to_string(a.side)}, {"address", a.at.to_string()}};
        if (a.error.empty()) {
            listeners.push_back(j);
        } else {
            j["error"] = a.error;
            unbound.push_back(j);
        }
    }
    nlohmann::json list = nlohmann::json::array();
    const std::lock_guard lock(impl_->mu);
    for (const auto& [id, info] : impl_->registry) {
        if (info.cluster != cluster) {
            continue;
        }
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(info.since.time_since_epoch())
                .count();
        list.push_back({{"id", id},
                        {"side", control::to_string(info.side)},
                        {"local", info.local.to_string()},
                        {"peer", info.peer.to_string()},
                        {"state", api::to_string(info.state)},
                        {"since", static_cast<double>(ms) / 1000.0},
                        {"bytesIn", info.bytes_in},
                        {"bytesOut", info.bytes_out}});
    }
    return {200,
            {{"cluster", cluster},
             {"listeners", listeners},
             {"unbound", unbound},
             {"connections", list}},
            ""};
}

std::string ApiEndpoint::render_metrics() const {
    std::string out;
    const std::lock_guard lock(impl_->mu);
    out += "# HELP horizon_api_connections_total API endpoint connections by cluster, side, "
           "outcome (accepted, denied) and reason.\n"
           "# TYPE horizon_api_connections_total counter\n";
    for (const auto& [key, n] : impl_->counters) {
        const auto& [name, cluster, side, label] = key;
        if (name != "connections") {
            continue;
        }
        const auto slash = label.find('/');
        out += fmt::format("horizon_api_connections_total{{cluster=\"{}\",side=\"{}\","
                           "outcome=\"{}\",reason=\"{}\"}} {}\n",
                           cluster, side, label.substr(0, slash), label.substr(slash + 1), n);
    }
    out += "# HELP horizon_api_resets_total API endpoint connections reset, by reason (deny, "
           "hold_limit, hold_timeout, idle, source_limit, update, upstream).\n"
           "# TYPE horizon_api_resets_total counter\n";
    for (const auto& [key, n] : impl_->counters) {
        const auto& [name, cluster, side, label] = key;
        if (name == "resets") {
            out += fmt::format("horizon_api_resets_total{{cluster=\"{}\",side=\"{}\","
                               "reason=\"{}\"}} {}\n",
                               cluster, side, label, n);
        }
    }
    std::map<std::tuple<std::string, std::string, std::string>, uint64_t> open;
    for (const auto& a : impl_->addresses) {
        for (const char* state : {"open", "held"}) {
            open[{a.cluster, std::string(control::to_string(a.side)), state}] = 0;
        }
    }
    for (const auto& [id, info] : impl_->registry) {
        ++open[{info.cluster, std::string(control::to_string(info.side)),
                info.state == api::State::Held ? "held" : "open"}];
    }
    out += "# HELP horizon_api_connections API endpoint connections now, by state (open, held).\n"
           "# TYPE horizon_api_connections gauge\n";
    for (const auto& [key, n] : open) {
        const auto& [cluster, side, state] = key;
        out += fmt::format("horizon_api_connections{{cluster=\"{}\",side=\"{}\",state=\"{}\"}} "
                           "{}\n",
                           cluster, side, state, n);
    }
    return out;
}

} // namespace horizon::server
