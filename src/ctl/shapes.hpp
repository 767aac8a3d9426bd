// horizonctl's output shapes: the EKS (and EC2) model's member order and timestamp members, as
// botocore parses a response before the AWS CLI prints it.
#pragma once

#include <array>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

namespace horizon::ctl {

/// Member order matters (botocore prints members in model order), hence the ordered flavour.
using Json = nlohmann::ordered_json;

struct Shape;

struct Member {
    std::string_view name;
    const Shape* shape = nullptr; ///< a structure, or each element of a list of structures
    bool timestamp = false;
};

struct Shape {
    std::span<const Member> members;
};

template <size_t N>
constexpr Shape shape_of(const std::array<Member, N>& members) {
    return Shape{std::span<const Member>(members)};
}

// The responses, one per operation (the members they nest are in shapes.cpp).
extern const Shape kListClustersResponse;
extern const Shape kDescribeClusterResponse;
extern const Shape kUpdateResponse; ///< UpdateClusterConfig and DescribeUpdate
extern const Shape kListUpdatesResponse;
extern const Shape kExplainResponse; ///< horizond's own
extern const Shape kAuthorizeResponse;
extern const Shape kRevokeResponse;
extern const Shape kDescribeRulesResponse;
extern const Shape kConnectionsResponse; ///< horizond's own

/// Epoch seconds as the AWS CLI v2 prints a timestamp: local time, ISO 8601, microseconds only
/// when there are any (Python's datetime.isoformat()): 2026-11-25T14:48:41.123000+00:00.
std::string iso8601(double epoch);

/// The response as botocore parses it: model members first, in model order, timestamps as
/// iso8601; members the model lacks are kept, after these. Recursion is bounded by the
/// response's nesting depth (checked on receipt against control::kMaxNesting).
Json reshape(const Json& v, const Shape& shape);

} // namespace horizon::ctl
