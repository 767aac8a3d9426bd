// The EKS-shaped control model: the EKS REST answers (texts from EKS-FACTS §4), the update
// lifecycle, and the saved state with its precedence rules (see control_plane.hpp).
#include "control/control_plane.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <fmt/format.h>
#include <iterator>
#include <span>
#include <stdexcept>
#include <utility>
#include <variant>

#include "util/crypto.hpp"

namespace horizon::control {

using nlohmann::json;
using std::chrono::milliseconds;

std::string_view to_string(UpdateStatus s) {
    switch (s) {
    case UpdateStatus::InProgress:
        return "InProgress";
    case UpdateStatus::Successful:
        return "Successful";
    case UpdateStatus::Failed:
        return "Failed";
    case UpdateStatus::Cancelled:
        return "Cancelled";
    }
    return "?";
}

namespace {

constexpr int kStateFormat = 1;
/// Per cluster; the oldest finished updates are forgotten first so the state stays small.
constexpr size_t kMaxUpdatesKept = 100;
constexpr std::string_view kUpdateType = "EndpointAccessUpdate";
constexpr std::array kStatuses = {UpdateStatus::InProgress, UpdateStatus::Successful,
                                  UpdateStatus::Failed, UpdateStatus::Cancelled};

// ---------------------------------------------------------------------------------------------
// Time: kept to the millisecond, the precision saved and shown.

TimePoint floor_ms(TimePoint t) {
    return std::chrono::floor<milliseconds>(t);
}

int64_t to_ms(TimePoint t) {
    return std::chrono::floor<milliseconds>(t).time_since_epoch().count();
}

/// Epoch seconds with milliseconds, as the AWS JSON protocols send timestamps.
json epoch_seconds(TimePoint t) {
    return static_cast<double>(to_ms(t)) / 1000.0;
}

/// "2024-05-01T12:00:00Z", for log lines.
std::string iso_time(TimePoint t) {
    const std::time_t seconds = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    std::array<char, 32> text{};
    const size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return {text.data(), n};
}

// ---------------------------------------------------------------------------------------------
// Endpoint access.

bool public_access(config::AccessMode m) {
    return m != config::AccessMode::Private;
}

bool private_access(config::AccessMode m) {
    return m != config::AccessMode::Public;
}

/// Never called with both false: the API rejects that first.
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

/// CIDR lists compare as sets: EKS does not keep an order that matters.
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

/// "access_mode public, public_access_cidrs [203.0.113.5/32]", in the file's terms.
std::string describe(const EndpointAccess& a) {
    return fmt::format("access_mode {}, public_access_cidrs [{}]", config::to_string(a.mode),
                       join(texts_of(a.cidrs)));
}

EndpointAccess effective_access(const ClusterState& c) {
    return c.api_change ? c.api_change->value : access_of(c.file);
}

/// The security group's inbound rules in force: the API's, else the file's.
std::vector<SgRule> sg_rules(const ClusterState& c) {
    return c.sg_change ? c.sg_change->rules : file_rules(c.file);
}

/// Compared as sets, like publicAccessCidrs.
bool same_cidrs(const std::vector<util::Cidr>& a, const std::vector<util::Cidr>& b) {
    return sorted_set(texts_of(a)) == sorted_set(texts_of(b));
}

const Update* in_progress(const ClusterState& c) {
    const auto it = std::find_if(c.updates.begin(), c.updates.end(), [](const Update& u) {
        return u.status == UpdateStatus::InProgress;
    });
    return it == c.updates.end() ? nullptr : &*it;
}

// ---------------------------------------------------------------------------------------------
// Stable generated values for what the configuration has no source for: SHA-256 of
// "name/region/purpose", so that every instance describes a cluster the same way.

using Digest = util::Sha256;

Digest digest_of(const config::ClusterConfig& c, std::string_view purpose) {
    return util::sha256(fmt::format("{}/{}/{}", c.name, c.region, purpose));
}

std::string hex_of(std::span<const unsigned char> bytes, size_t digits) {
    std::string out = util::hex(bytes);
    out.resize(std::min(digits, out.size()));
    return out;
}

/// "vpc-0a1b2c3d4e5f60718": AWS resource IDs have 17 hex digits after the prefix.
std::string aws_id(std::string_view prefix, const config::ClusterConfig& c,
                   std::string_view purpose) {
    return fmt::format("{}-{}", prefix, hex_of(digest_of(c, purpose), 17));
}

uint64_t number_of(const Digest& digest) {
    uint64_t n = 0;
    for (size_t i = 0; i < 8; ++i) {
        n = (n << 8) | digest[i];
    }
    return n;
}

/// Twelve digits, never starting with 0 so that no tool strips it to eleven.
std::string account_id(const config::ClusterConfig& c) {
    static constexpr uint64_t kLow = 100'000'000'000;
    static constexpr uint64_t kSpan = 900'000'000'000;
    return std::to_string(kLow + number_of(digest_of(c, "account")) % kSpan);
}

struct Partition {
    std::string_view arn;        ///< "aws", "aws-cn", "aws-us-gov"
    std::string_view dns_suffix; ///< of the OIDC issuer
};

Partition partition_of(std::string_view region) {
    if (region.starts_with("cn-")) {
        return {"aws-cn", "amazonaws.com.cn"};
    }
    if (region.starts_with("us-gov-")) {
        return {"aws-us-gov", "amazonaws.com"};
    }
    return {"aws", "amazonaws.com"};
}

bool is_hex_id(std::string_view label) {
    return label.size() == 32 && std::all_of(label.begin(), label.end(), [](char ch) {
               return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F') ||
                      (ch >= 'a' && ch <= 'f');
           });
}

/// The OIDC issuer reuses the endpoint's ID (EKS-FACTS §1); a custom endpoint name without one
/// gets the ID derive_endpoint would have given.
std::string oidc_id(const config::ClusterConfig& c) {
    std::string label = c.endpoint.substr(0, c.endpoint.find('.'));
    if (!is_hex_id(label)) {
        const std::string derived = config::derive_endpoint(c.name, c.region);
        label = derived.substr(0, derived.find('.'));
    }
    std::transform(label.begin(), label.end(), label.begin(), [](char ch) {
        return ch >= 'a' && ch <= 'f' ? static_cast<char>(ch - 32) : ch;
    });
    return label;
}

/// certificateAuthority.data: base64 of a PEM block, shaped like EKS's but a placeholder (it does
/// not parse as a certificate; the lab's API server has its own CA).
std::string certificate_authority(const config::ClusterConfig& c) {
    std::vector<unsigned char> body;
    for (const char* part : {"ca/1", "ca/2", "ca/3"}) {
        const auto d = digest_of(c, part);
        body.insert(body.end(), d.begin(), d.end());
    }
    const std::string text = util::base64(body);
    std::string pem = "-----BEGIN CERTIFICATE-----\n";
    for (size_t i = 0; i < text.size(); i += 64) {
        pem += text.substr(i, 64) + "\n";
    }
    pem += "-----END CERTIFICATE-----\n";
    return util::base64(pem);
}

/// As many cluster subnets as ENIs (EKS puts one ENI per subnet), at least the two EKS requires.
std::vector<std::string> subnet_ids(const config::ClusterConfig& c) {
    std::vector<std::string> out;
    const size_t n = std::max<size_t>(2, c.private_ips.size());
    for (size_t i = 0; i < n; ++i) {
        out.push_back(aws_id("subnet", c, fmt::format("subnet/{}", i)));
    }
    return out;
}

std::vector<std::string> security_group_ids(const config::ClusterConfig& c) {
    return {aws_id("sg", c, "security-group")};
}

// ---------------------------------------------------------------------------------------------
// API answers.

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

/// An array of strings, or nullopt.
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

// ---------------------------------------------------------------------------------------------
// update-cluster-config requests.

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

void log_dropped(const std::string& name, const ClusterState& c, std::vector<std::string>& log) {
    std::string what = fmt::format("{} update(s)", c.updates.size());
    if (c.api_change) {
        what += fmt::format(" and the API change of {} ({})", iso_time(c.api_change->at),
                            describe(c.api_change->value));
    }
    log.push_back(fmt::format("cluster {}: not in the configuration file any more; dropping its "
                              "state ({})",
                              name, what));
}

} // namespace

ControlPlane::ControlPlane(config::Config file, const json& saved, TimePoint now,
                           std::vector<std::string>& log)
    : server_(std::move(file.server))
    , rng_(seeded_rng()) {
    SavedState state = read_state(saved); // throws before anything is half-built
    for (auto& cluster : file.clusters) {
        ClusterState c;
        if (const auto it = state.clusters.find(cluster.name); it != state.clusters.end()) {
            c = std::move(it->second);
            state.clusters.erase(it);
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
    for (const auto& [name, c] : state.clusters) {
        log_dropped(name, c, log);
    }
    generation_ = state.generation + 1;
}

const ClusterState* ControlPlane::find(const std::string& name) const {
    const auto it = std::find_if(clusters_.begin(), clusters_.end(),
                                 [&](const ClusterState& c) { return c.file.name == name; });
    return it == clusters_.end() ? nullptr : &*it;
}

ClusterState* ControlPlane::find(const std::string& name) {
    const auto it = std::find_if(clusters_.begin(), clusters_.end(),
                                 [&](const ClusterState& c) { return c.file.name == name; });
    return it == clusters_.end() ? nullptr : &*it;
}

ApiResult ControlPlane::list_clusters() const {
    json names = json::array();
    for (const auto& c : clusters_) {
        names.push_back(c.file.name);
    }
    return {200, {{"clusters", names}}, ""};
}

ApiResult ControlPlane::describe_cluster(const std::string& name) const {
    const ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    const config::ClusterConfig& f = c->file;
    const EndpointAccess access = effective_access(*c);
    const Partition partition = partition_of(f.region);
    const std::string account = account_id(f);

    json vpc;
    vpc["subnetIds"] = subnet_ids(f);
    vpc["securityGroupIds"] = security_group_ids(f);
    vpc["clusterSecurityGroupId"] = aws_id("sg", f, "cluster-security-group");
    vpc["vpcId"] = aws_id("vpc", f, "vpc");
    vpc["endpointPublicAccess"] = public_access(access.mode);
    vpc["endpointPrivateAccess"] = private_access(access.mode);
    vpc["publicAccessCidrs"] = texts_of(access.cidrs);

    json network;
    network["serviceIpv4Cidr"] = "10.100.0.0/16";
    network["ipFamily"] = config::has_ipv6(f) ? "ipv6" : "ipv4";
    if (config::has_ipv6(f)) {
        // EKS picks a unique local /108 (RFC 4193) for IPv6 services.
        const auto d = digest_of(f, "service-ipv6");
        network["serviceIpv6Cidr"] =
            fmt::format("fd{:02x}:{:02x}{:02x}:{:02x}{:02x}::/108", d[0], d[1], d[2], d[3], d[4]);
    }

    json logging_types =
        json::array({"api", "audit", "authenticator", "controllerManager", "scheduler"});
    json logging_setup;
    logging_setup["types"] = logging_types;
    logging_setup["enabled"] = false;
    json logging;
    logging["clusterLogging"] = json::array({logging_setup});

    json cluster;
    cluster["name"] = f.name;
    cluster["arn"] =
        fmt::format("arn:{}:eks:{}:{}:cluster/{}", partition.arn, f.region, account, f.name);
    cluster["createdAt"] = epoch_seconds(c->created_at);
    cluster["version"] = f.kubernetes_version;
    cluster["endpoint"] = "https://" + f.endpoint;
    cluster["roleArn"] =
        fmt::format("arn:{}:iam::{}:role/eksctl-{}-cluster-ServiceRole-{}", partition.arn, account,
                    f.name, hex_of(digest_of(f, "role"), 12));
    cluster["resourcesVpcConfig"] = vpc;
    cluster["kubernetesNetworkConfig"] = network;
    cluster["logging"] = logging;
    cluster["identity"]["oidc"]["issuer"] =
        fmt::format("https://oidc.eks.{}.{}/id/{}", f.region, partition.dns_suffix, oidc_id(f));
    cluster["status"] = in_progress(*c) != nullptr ? "UPDATING" : "ACTIVE";
    cluster["certificateAuthority"]["data"] = certificate_authority(f);
    cluster["platformVersion"] = "eks.8";
    cluster["tags"] = json::object();
    cluster["accessConfig"]["authenticationMode"] = "API_AND_CONFIG_MAP";
    return {200, {{"cluster", cluster}}, ""};
}

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

config::Config ControlPlane::effective() const {
    config::Config out;
    out.server = server_;
    for (const auto& c : clusters_) {
        config::ClusterConfig cluster = c.file;
        const EndpointAccess access = effective_access(c);
        cluster.access_mode = access.mode;
        cluster.public_access_cidrs = access.cidrs;
        if (cluster.api) {
            cluster.api->security_group_ingress = admitted_cidrs(sg_rules(c), cluster.api->port);
        }
        out.clusters.push_back(std::move(cluster));
    }
    return out;
}

void ControlPlane::reload(config::Config file, TimePoint now, std::vector<std::string>& log) {
    server_ = std::move(file.server);
    std::vector<ClusterState> next;
    for (auto& cluster : file.clusters) {
        ClusterState c;
        if (ClusterState* old = find(cluster.name)) {
            c = std::move(*old);
            old->file.name.clear(); // moved out: no longer found, not reported as dropped
        } else {
            c.created_at = floor_ms(now);
        }
        c.file = std::move(cluster);
        reconcile(c, log);
        next.push_back(std::move(c));
    }
    for (const auto& old : clusters_) {
        if (!old.file.name.empty()) {
            log_dropped(old.file.name, old, log);
        }
    }
    clusters_ = std::move(next);
    // Any reload may change what DNS serves; one more serial costs nothing.
    ++generation_;
}

json ControlPlane::save() const {
    json clusters = json::object();
    for (const auto& c : clusters_) {
        clusters[c.file.name] = saved_cluster(c);
    }
    return {{"format", kStateFormat}, {"generation", generation_}, {"clusters", clusters}};
}

std::string ControlPlane::cluster_of_security_group(const std::string& group_id) const {
    for (const auto& c : clusters_) {
        if (aws_id("sg", c.file, "cluster-security-group") == group_id) {
            return c.file.name;
        }
    }
    return "";
}

namespace {

/// EC2's limit of inbound rules per security group (quota L-0EA8095F, default 60).
constexpr size_t kMaxSgRules = 60;

ApiResult ec2_error(const Ec2Error& e) {
    return error(400, e.code, e.message);
}

/// A request naming a GroupId must name this cluster's group.
std::optional<ApiResult> check_group(const json& request, const std::string& group_id) {
    const auto it = request.is_object() ? request.find("GroupId") : request.end();
    if (it == request.end() || (it->is_string() && it->get<std::string>() == group_id)) {
        return std::nullopt;
    }
    const std::string given = it->is_string() ? it->get<std::string>() : it->dump();
    return error(400, "InvalidGroup.NotFound",
                 fmt::format("The security group '{}' does not exist", given));
}

} // namespace

ApiResult ControlPlane::describe_security_group_rules(const std::string& name) const {
    const ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    const std::string group = aws_id("sg", c->file, "cluster-security-group");
    const std::string owner = account_id(c->file);
    json rules = json::array();
    for (const auto& r : sg_rules(*c)) {
        rules.push_back(rule_json(r, group, owner));
    }
    return {200, {{"SecurityGroupRules", rules}}, ""};
}

ApiResult ControlPlane::authorize_security_group_ingress(const std::string& name,
                                                         const json& request, TimePoint now) {
    ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    const std::string group = aws_id("sg", c->file, "cluster-security-group");
    if (auto rejected = check_group(request, group)) {
        return *rejected;
    }
    auto parsed = read_sg_request(request);
    if (const auto* e = std::get_if<Ec2Error>(&parsed)) {
        return ec2_error(*e);
    }
    auto& req = std::get<SgRequest>(parsed);
    if (!req.rule_ids.empty()) {
        return ec2_error(
            {"InvalidParameterValue", "SecurityGroupRuleIds can only be given to revoke rules"});
    }
    std::vector<SgRule> rules = sg_rules(*c);
    std::vector<SgRule> added;
    for (auto& r : req.rules) {
        const auto same = [&](const SgRule& x) { return x.same_permission(r); };
        if (std::any_of(rules.begin(), rules.end(), same) ||
            std::any_of(added.begin(), added.end(), same)) {
            return ec2_error(
                {"InvalidPermission.Duplicate",
                 fmt::format("the specified rule \"{}\" already exists", r.describe())});
        }
        r.id = new_rule_id();
        added.push_back(r);
    }
    if (rules.size() + added.size() > kMaxSgRules) {
        return ec2_error({"RulesPerSecurityGroupLimitExceeded",
                          "The maximum number of rules per security group has been reached."});
    }
    rules.insert(rules.end(), added.begin(), added.end());
    c->sg_change = SgChange{std::move(rules), file_ingress(c->file), floor_ms(now)};
    ++generation_;
    const std::string owner = account_id(c->file);
    json out = json::array();
    for (const auto& r : added) {
        out.push_back(rule_json(r, group, owner));
    }
    return {200, {{"Return", true}, {"SecurityGroupRules", out}}, ""};
}

ApiResult ControlPlane::revoke_security_group_ingress(const std::string& name, const json& request,
                                                      TimePoint now) {
    ClusterState* c = find(name);
    if (c == nullptr) {
        return cluster_not_found(name);
    }
    const std::string group = aws_id("sg", c->file, "cluster-security-group");
    if (auto rejected = check_group(request, group)) {
        return *rejected;
    }
    auto parsed = read_sg_request(request);
    if (const auto* e = std::get_if<Ec2Error>(&parsed)) {
        return ec2_error(*e);
    }
    const auto& req = std::get<SgRequest>(parsed);
    std::vector<SgRule> rules = sg_rules(*c);
    std::vector<SgRule> revoked;
    for (const auto& id : req.rule_ids) {
        const auto it =
            std::find_if(rules.begin(), rules.end(), [&](const SgRule& r) { return r.id == id; });
        if (it == rules.end()) {
            return ec2_error({"InvalidSecurityGroupRuleId.NotFound",
                              fmt::format("The security group rule ID '{}' does not exist", id)});
        }
        revoked.push_back(*it);
        rules.erase(it);
    }
    for (const auto& wanted : req.rules) {
        const auto it = std::find_if(rules.begin(), rules.end(),
                                     [&](const SgRule& r) { return r.same_permission(wanted); });
        if (it == rules.end()) {
            return ec2_error({"InvalidPermission.NotFound",
                              "The specified rule does not exist in this security group."});
        }
        revoked.push_back(*it);
        rules.erase(it);
    }
    c->sg_change = SgChange{std::move(rules), file_ingress(c->file), floor_ms(now)};
    ++generation_;
    const std::string owner = account_id(c->file);
    json out = json::array();
    for (const auto& r : revoked) {
        out.push_back(rule_json(r, group, owner));
    }
    return {200, {{"Return", true}, {"RevokedSecurityGroupRules", out}}, ""};
}

std::map<std::string, uint64_t> ControlPlane::updates_by_status() const {
    std::map<std::string, uint64_t> out;
    for (const auto s : kStatuses) {
        out[std::string(to_string(s))] = 0;
    }
    for (const auto& c : clusters_) {
        for (const auto& u : c.updates) {
            ++out[std::string(to_string(u.status))];
        }
    }
    return out;
}

std::string ControlPlane::new_rule_id() {
    std::array<unsigned char, 9> b{};
    const uint64_t high = rng_();
    for (size_t i = 0; i < b.size(); ++i) {
        b[i] = static_cast<unsigned char>(i < 8 ? high >> (8 * i) : rng_());
    }
    return "sgr-" + hex_of(b, 17);
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
