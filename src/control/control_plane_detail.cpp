// What the ControlPlane's files share (see control_plane_detail.hpp).
#include "control/control_plane_detail.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <iterator>

#include "util/time_text.hpp"

namespace horizon::control::detail {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kUpdateType = "EndpointAccessUpdate";

} // namespace

TimePoint floor_ms(TimePoint t) {
    return std::chrono::floor<milliseconds>(t);
}

int64_t to_ms(TimePoint t) {
    return std::chrono::floor<milliseconds>(t).time_since_epoch().count();
}

json epoch_seconds(TimePoint t) {
    return static_cast<double>(to_ms(t)) / 1000.0;
}

std::string iso_time(TimePoint t) {
    return util::rfc3339(t);
}

bool public_access(config::AccessMode m) {
    return m != config::AccessMode::Private;
}

bool private_access(config::AccessMode m) {
    return m != config::AccessMode::Public;
}

config::AccessMode mode_of(bool public_on, bool private_on) {
    if (public_on && private_on) {
        return config::AccessMode::PublicPrivate;
    }
    return public_on ? config::AccessMode::Public : config::AccessMode::Private;
}

EndpointAccess access_of(const config::ClusterConfig& c) {
    return {c.access_mode, c.public_access_cidrs};
}

std::vector<std::string> texts_of(const std::vector<util::Cidr>& cidrs) {
    std::vector<std::string> out;
    std::transform(cidrs.begin(), cidrs.end(), std::back_inserter(out),
                   [](const util::Cidr& c) { return c.to_string(); });
    return out;
}

std::vector<std::string> sorted_set(std::vector<std::string> items) {
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    return items;
}

bool same_access(const EndpointAccess& a, const EndpointAccess& b) {
    return a.mode == b.mode && sorted_set(texts_of(a.cidrs)) == sorted_set(texts_of(b.cidrs));
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        out += (out.empty() ? "" : ", ") + item;
    }
    return out;
}

std::string describe(const EndpointAccess& a) {
    return fmt::format("access_mode {}, public_access_cidrs [{}]", config::to_string(a.mode),
                       join(texts_of(a.cidrs)));
}

EndpointAccess effective_access(const ClusterState& c) {
    return c.api_change ? c.api_change->value : access_of(c.file);
}

std::vector<SgRule> sg_rules(const ClusterState& c) {
    return c.sg_change ? c.sg_change->rules : file_rules(c.file);
}

bool same_cidrs(const std::vector<util::Cidr>& a, const std::vector<util::Cidr>& b) {
    return sorted_set(texts_of(a)) == sorted_set(texts_of(b));
}

const Update* in_progress(const ClusterState& c) {
    const auto it = std::find_if(c.updates.begin(), c.updates.end(), [](const Update& u) {
        return u.status == UpdateStatus::InProgress;
    });
    return it == c.updates.end() ? nullptr : &*it;
}

ApiResult error(int status, std::string_view type, const std::string& message) {
    const std::string t(type);
    return {status, json{{"__type", t}, {"message", message}}, t};
}

ApiResult invalid(const std::string& message) {
    return error(400, "InvalidParameterException", message);
}

ApiResult cluster_not_found(const std::string& name) {
    return error(404, "ResourceNotFoundException",
                 fmt::format("No cluster found for name: {}.", name));
}

json update_json(const Update& u) {
    return {{"id", u.id},
            {"status", std::string(to_string(u.status))},
            {"type", std::string(kUpdateType)},
            {"params", u.params},
            {"createdAt", epoch_seconds(u.created_at)},
            {"errors", u.errors}};
}

std::optional<std::vector<std::string>> strings_of(const json& value) {
    if (!value.is_array()) {
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& item : value) {
        if (!item.is_string()) {
            return std::nullopt;
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

} // namespace horizon::control::detail
