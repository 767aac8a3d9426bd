// The update lifecycle: update-cluster-config requests read and checked as EKS does, updates
// listed and described, and completed when due (tick).
#include <fmt/format.h>
#include <utility>
#include <variant>

#include "control/cluster_ids.hpp"
#include "control/control_plane.hpp"
#include "control/control_plane_detail.hpp"

namespace horizon::control {

using namespace detail; // NOLINT(google-build-using-namespace): this class's own helpers
using nlohmann::json;

namespace {

/// Per cluster; the oldest finished updates are forgotten first so the state stays small.
constexpr size_t kMaxUpdatesKept = 100;

/// What an update-cluster-config request asks for; absent fields keep their current values.
struct AccessRequest {
    std::string token; ///< clientRequestToken, "" if none
    std::optional<bool> want_public;
    std::optional<bool> want_private;
    std::optional<std::vector<std::string>> cidrs;
};

/// One field of resourcesVpcConfig; an error result when it is wrong.
std::optional<ApiResult> read_vpc_field(const std::string& key, const json& value,
                                        const config::ClusterConfig& file, AccessRequest& out) {
    if (key == "endpointPublicAccess" || key == "endpointPrivateAccess") {
        if (!value.is_boolean()) {
            return invalid(fmt::format("{} must be true or false", key));
        }
        (key == "endpointPublicAccess" ? out.want_public : out.want_private) = value.get<bool>();
        return std::nullopt;
    }
    if (key == "publicAccessCidrs") {
        out.cidrs = strings_of(value);
        if (!out.cidrs) {
            return invalid("publicAccessCidrs must be an array of strings");
        }
        return std::nullopt;
    }
    if (key == "subnetIds" || key == "securityGroupIds") {
        // Accepted only as they are, so that a request echoing describe-cluster still works.
        const auto given = strings_of(value);
        if (!given) {
            return invalid(fmt::format("{} must be an array of strings", key));
        }
        const auto have = key == "subnetIds" ? subnet_ids(file) : security_group_ids(file);
        if (sorted_set(*given) != sorted_set(have)) {
            return invalid(fmt::format("{} cannot be changed in this lab (horizon models "
                                       "endpoint access only); the cluster has [{}]",
                                       key, join(have)));
        }
        return std::nullopt;
    }
    return invalid(fmt::format("Unknown field {} in resourcesVpcConfig (expected "
                               "endpointPublicAccess, endpointPrivateAccess, "
                               "publicAccessCidrs, subnetIds or securityGroupIds)",
                               key));
}

/// The request's shape and types; an error result when they are wrong.
std::optional<ApiResult> read_request(const json& request, const config::ClusterConfig& file,
                                      AccessRequest& out) {
    if (!request.is_object()) {
        return invalid("The request body must be a JSON object");
    }
    for (const auto& [key, value] : request.items()) {
        if (key == "clientRequestToken") {
            if (!value.is_string()) {
                return invalid("clientRequestToken must be a string");
            }
            out.token = value.get<std::string>();
        } else if (key != "resourcesVpcConfig") {
            return invalid(fmt::format("horizon can only update resourcesVpcConfig (the endpoint "
                                       "access); {} is not supported",
                                       key));
        }
    }
    const auto vpc = request.find("resourcesVpcConfig");
    if (vpc == request.end()) {
        return invalid("resourcesVpcConfig is required (horizon can only update the endpoint "
                       "access)");
    }
    if (!vpc->is_object()) {
        return invalid("resourcesVpcConfig must be an object");
    }
    for (const auto& [key, value] : vpc->items()) {
        if (auto rejected = read_vpc_field(key, value, file, out)) {
            return rejected;
        }
    }
    return std::nullopt;
}

/// The access the request asks for, merged with `current`, checked by EKS's rules.
std::variant<EndpointAccess, ApiResult> desired_access(const AccessRequest& req,
                                                       const EndpointAccess& current,
                                                       const config::ClusterConfig& file) {
    const bool public_on = req.want_public.value_or(public_access(current.mode));
    const bool private_on = req.want_private.value_or(private_access(current.mode));
    if (!public_on && !private_on) {
        return invalid("Both private and public endpoint access cannot be false");
    }
    EndpointAccess target{mode_of(public_on, private_on), current.cidrs};
    if (req.cidrs) {
        const std::vector<std::string_view> blocks(req.cidrs->begin(), req.cidrs->end());
        auto check = config::check_public_access_cidrs(blocks, config::has_ipv6(file));
        if (check.too_many) {
            return invalid(config::too_many_public_access_cidrs_message());
        }
        if (!check.invalid.empty()) {
            return invalid(check.invalid_message);
        }
        target.cidrs = std::move(check.valid);
    }
    return target;
}

/// describe-update's params: the fields the request gave, in EKS's order, values as strings.
json params_of(const AccessRequest& req, const EndpointAccess& target) {
    json params = json::array();
    const auto param = [&](std::string_view type, std::string value) {
        json p = json::object();
        p["type"] = std::string(type);
        p["value"] = std::move(value);
        params.push_back(std::move(p));
    };
    if (req.want_public) {
        param("EndpointPublicAccess", *req.want_public ? "true" : "false");
    }
    if (req.want_private) {
        param("EndpointPrivateAccess", *req.want_private ? "true" : "false");
    }
    if (req.cidrs) {
        param("PublicAccessCidrs", json(texts_of(target.cidrs)).dump());
    }
    return params;
}

} // namespace

ApiResult ControlPlane::update_cluster_config(const std::string& name, const json& request,
                                              TimePoint now) {
    ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    AccessRequest req;
    if (auto rejected = read_request(request, c->file, req)) {
        return *rejected;
    }
    // An idempotent retry (the AWS CLI sends a fresh token per command) gets the same update.
    if (!req.token.empty()) {
        for (const auto& u : c->updates) {
            if (u.client_token == req.token) {
                return {200, {{"update", update_json(u)}}, ""};
            }
        }
    }
    const EndpointAccess current = effective_access(*c);
    auto desired = desired_access(req, current, c->file);
    if (auto* rejected = std::get_if<ApiResult>(&desired)) {
        return std::move(*rejected);
    }
    auto& target = std::get<EndpointAccess>(desired);
    if (in_progress(*c) != nullptr) {
        return error(409, "ResourceInUseException",
                     fmt::format("Cannot EndpointAccessUpdate because cluster {} currently has an "
                                 "update in progress",
                                 name));
    }
    if (same_access(target, current)) {
        // EKS's text, odd spacing included.
        return invalid(fmt::format("Cluster is already at the desired configuration with "
                                   "endpointPrivateAccess: {} , endpointPublicAccess: {}, and "
                                   "Public Endpoint Restrictions: [{}]",
                                   private_access(target.mode), public_access(target.mode),
                                   join(texts_of(target.cidrs))));
    }

    Update u;
    u.id = new_update_id();
    u.client_token = req.token;
    u.created_at = floor_ms(now);
    u.due = u.created_at + c->file.update_duration;
    u.params = params_of(req, target);
    u.target = std::move(target);
    u.base = access_of(c->file);
    c->updates.push_back(std::move(u));
    // Forget the oldest finished updates; the one in progress is the newest.
    while (c->updates.size() > kMaxUpdatesKept) {
        c->updates.erase(c->updates.begin());
    }
    ++revision_;
    return {200, {{"update", update_json(c->updates.back())}}, ""};
}

ApiResult ControlPlane::list_updates(const std::string& name) const {
    const ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    json ids = json::array();
    for (const auto& u : c->updates) {
        ids.push_back(u.id);
    }
    return {200, {{"updateIds", ids}}, ""};
}

ApiResult ControlPlane::describe_update(const std::string& name, const std::string& id) const {
    const ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    for (const auto& u : c->updates) {
        if (u.id == id) {
            return {200, {{"update", update_json(u)}}, ""};
        }
    }
    return error(404, "ResourceNotFoundException", fmt::format("No update found for ID: {}.", id));
}

bool ControlPlane::tick(TimePoint now) {
    bool changed = false;
    for (auto& c : clusters_) {
        for (auto& u : c.updates) {
            if (u.status != UpdateStatus::InProgress || u.due > now) {
                continue;
            }
            u.status = UpdateStatus::Successful;
            if (same_access(u.target, access_of(c.file))) {
                c.api_change.reset(); // back to the file's values: nothing to keep
            } else {
                c.api_change = ApiChange{u.target, u.base, u.due, u.id};
            }
            changed = true;
        }
    }
    if (changed) {
        ++generation_;
        ++revision_;
    }
    return changed;
}

std::optional<TimePoint> ControlPlane::next_deadline() const {
    std::optional<TimePoint> earliest;
    for (const auto& c : clusters_) {
        if (const Update* u = in_progress(c); u != nullptr && (!earliest || u->due < *earliest)) {
            earliest = u->due;
        }
    }
    return earliest;
}

std::string ControlPlane::new_update_id() {
    // RFC 9562 §5.4: version 4 (random), variant 10.
    std::array<unsigned char, 16> b{};
    uint64_t bits = 0;
    for (size_t i = 0; auto& byte : b) {
        if (i++ % 8 == 0) {
            bits = rng_();
        }
        byte = static_cast<unsigned char>(bits);
        bits >>= 8;
    }
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    const std::string hex = hex_of(b, 32);
    return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                       hex.substr(16, 4), hex.substr(20));
}

} // namespace horizon::control
