// Stable generated values of a cluster (see cluster_ids.hpp).
#include "control/cluster_ids.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace horizon::control {

namespace {

uint64_t number_of(const Digest& digest) {
    uint64_t n = 0;
    for (size_t i = 0; i < 8; ++i) {
        n = (n << 8) | digest[i];
    }
    return n;
}

bool is_hex_id(std::string_view label) {
    return label.size() == 32 && std::all_of(label.begin(), label.end(), [](char ch) {
               return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F') ||
                      (ch >= 'a' && ch <= 'f');
           });
}

} // namespace

Digest digest_of(const config::ClusterConfig& c, std::string_view purpose) {
    return util::sha256(fmt::format("{}/{}/{}", c.name, c.region, purpose));
}

std::string hex_of(std::span<const unsigned char> bytes, size_t digits) {
    std::string out = util::hex(bytes);
    out.resize(std::min(digits, out.size()));
    return out;
}

std::string aws_id(std::string_view prefix, const config::ClusterConfig& c,
                   std::string_view purpose) {
    return fmt::format("{}-{}", prefix, hex_of(digest_of(c, purpose), 17));
}

std::string cluster_security_group_id(const config::ClusterConfig& c) {
    return aws_id("sg", c, "cluster-security-group");
}

std::string cluster_security_group_name(const config::ClusterConfig& c) {
    // Seen on EKS: eks-cluster-sg-myeks-104368993 (nine or ten digits).
    return fmt::format("eks-cluster-sg-{}-{}", c.name,
                       100'000'000 +
                           number_of(digest_of(c, "cluster-security-group-name")) % 900'000'000);
}

std::string additional_security_group_id(const config::ClusterConfig& c) {
    return aws_id("sg", c, "security-group");
}

std::string additional_security_group_name(const config::ClusterConfig& c) {
    // CloudFormation's physical names end in 12 or 13 upper-case letters and digits.
    static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const Digest d = digest_of(c, "additional-security-group-name");
    std::string suffix;
    for (size_t i = 0; i < 13; ++i) {
        suffix += kAlphabet[d[i] % kAlphabet.size()];
    }
    return fmt::format("eksctl-{}-cluster-ControlPlaneSecurityGroup-{}", c.name, suffix);
}

std::string account_id(const config::ClusterConfig& c) {
    static constexpr uint64_t kLow = 100'000'000'000;
    static constexpr uint64_t kSpan = 900'000'000'000;
    return std::to_string(kLow + number_of(digest_of(c, "account")) % kSpan);
}

Partition partition_of(std::string_view region) {
    if (region.starts_with("cn-")) {
        return {"aws-cn", "amazonaws.com.cn"};
    }
    if (region.starts_with("us-gov-")) {
        return {"aws-us-gov", "amazonaws.com"};
    }
    return {"aws", "amazonaws.com"};
}

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

std::vector<std::string> subnet_ids(const config::ClusterConfig& c) {
    std::vector<std::string> out;
    const size_t n = std::max<size_t>(2, c.private_ips.size());
    for (size_t i = 0; i < n; ++i) {
        out.push_back(aws_id("subnet", c, fmt::format("subnet/{}", i)));
    }
    return out;
}

std::vector<std::string> security_group_ids(const config::ClusterConfig& c) {
    return {additional_security_group_id(c)};
}

} // namespace horizon::control
