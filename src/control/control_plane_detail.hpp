// What the ControlPlane's files share (control_plane*.cpp): time in the precision saved and shown,
// endpoint access values and how they compare, and the EKS error answers. Private to src/control.
#pragma once

#include <array>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/control_plane.hpp"

namespace horizon::control::detail {

inline constexpr std::array kStatuses = {UpdateStatus::InProgress, UpdateStatus::Successful,
                                         UpdateStatus::Failed, UpdateStatus::Cancelled};

// Time: kept to the millisecond, the precision saved and shown.
TimePoint floor_ms(TimePoint t);
int64_t to_ms(TimePoint t);
/// Epoch seconds with milliseconds, as the AWS JSON protocols send timestamps.
nlohmann::json epoch_seconds(TimePoint t);
/// "2024-05-01T12:00:00Z", for log lines.
std::string iso_time(TimePoint t);

// Endpoint access.
bool public_access(config::AccessMode m);
bool private_access(config::AccessMode m);
/// Never called with both false: the API rejects that first.
config::AccessMode mode_of(bool public_on, bool private_on);
EndpointAccess access_of(const config::ClusterConfig& c);
std::vector<std::string> texts_of(const std::vector<util::Cidr>& cidrs);
std::vector<std::string> sorted_set(std::vector<std::string> items);
/// CIDR lists compare as sets: EKS does not keep an order that matters.
bool same_access(const EndpointAccess& a, const EndpointAccess& b);
/// "a, b, c".
std::string join(const std::vector<std::string>& items);
/// "access_mode public, public_access_cidrs [203.0.113.5/32]", in the file's terms.
std::string describe(const EndpointAccess& a);
EndpointAccess effective_access(const ClusterState& c);
/// The security group's inbound rules in force: the API's, else the file's.
std::vector<SgRule> sg_rules(const ClusterState& c);
/// Compared as sets, like publicAccessCidrs.
bool same_cidrs(const std::vector<util::Cidr>& a, const std::vector<util::Cidr>& b);
/// The update in progress, or null.
const Update* in_progress(const ClusterState& c);

// API answers.
ApiResult error(int status, std::string_view type, const std::string& message);
/// 400 InvalidParameterException.
ApiResult invalid(const std::string& message);
/// 404 ResourceNotFoundException "No cluster found for name: <name>."
ApiResult cluster_not_found(const std::string& name);
/// describe-update's "update" object.
nlohmann::json update_json(const Update& u);
/// An array of strings, or nullopt.
std::optional<std::vector<std::string>> strings_of(const nlohmann::json& value);

} // namespace horizon::control::detail
