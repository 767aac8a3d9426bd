// The EC2 Query protocol for the cluster security group, so that the seed lab's
// `aws ec2 authorize-security-group-ingress ... --endpoint-url` works against horizond unchanged.
// Sans-I/O: a form-encoded request in, EC2's XML out.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "control/control_plane.hpp"

namespace horizon::control {

/// The form body as EC2's JSON request shape: "IpPermissions.1.IpRanges.1.CidrIp=X" becomes
/// {"IpPermissions": [{"IpRanges": [{"CidrIp": "X"}]}]}; list members named in the singular on the
/// wire (SecurityGroupRuleId.N, Filter.N) get their API names (SecurityGroupRuleIds, Filters).
/// "Action" and "Version" are left in. Values stay strings.
nlohmann::json parse_ec2_form(std::string_view body);

/// One EC2 answer: the HTTP status and the XML document.
struct Ec2Reply {
    int status = 200;
    std::string xml;
};

/// Runs one EC2 Query request (AuthorizeSecurityGroupIngress, RevokeSecurityGroupIngress or
/// DescribeSecurityGroupRules, on clusters' security groups by GroupId or group-id filter)
/// against `cp`. `request_id` goes into the answer.
Ec2Reply ec2_query(ControlPlane& cp, std::string_view body, TimePoint now,
                   const std::string& request_id);

/// EC2's error document (<Response><Errors><Error><Code>...) with `status`.
Ec2Reply ec2_error(int status, std::string_view code, std::string_view message,
                   const std::string& request_id);

} // namespace horizon::control
