// horizonctl: the AWS-CLI-shaped client of horizond's admin API (the EKS REST shapes), main().
//
// It speaks to horizond exactly as `aws eks ... --endpoint-url` does (same paths and bodies) and
// prints what the AWS CLI v2 prints: JSON in the EKS model's member order with 4-space indent and
// epoch timestamps as local ISO 8601, or AWS-style text/table output; errors as
// "An error occurred (<Type>) when calling the <Operation> operation: <message>". Exit status as
// the AWS CLI v2's: 0, 252 usage or parameter error, 254 service error, 255 anything else
// (connection, waiter failure).
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/ioctl.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "ctl/kind_init.hpp"
#include "control/shorthand.hpp"
#include "control/state_file.hpp"

#ifndef HORIZON_VERSION
#define HORIZON_VERSION "0.0.0"
#endif

namespace {

using Json = nlohmann::ordered_json;
using horizon::control::python_str;

constexpr int kExitUsage = 252;   // the AWS CLI v2's code for bad usage or parameters
constexpr int kExitService = 254; // ... for an error returned by the service
constexpr int kExitOther = 255;   // ... for everything else (connection, waiter)

constexpr std::string_view kDefaultEndpoint = "http://127.0.0.1:8053";

constexpr std::string_view kUsage = R"(usage: horizonctl [options] <command> [parameters]

The AWS-CLI-shaped client of horizond's admin API. The commands and their output are those of
`aws eks` (which also works against horizond with --endpoint-url and dummy credentials).

commands:
  list-clusters
  describe-cluster        --name NAME
  update-cluster-config   --name NAME --resources-vpc-config VALUE [--client-request-token T]
                          VALUE is AWS shorthand or JSON, for example
                            endpointPublicAccess=true,publicAccessCidrs="203.0.113.5/32",endpointPrivateAccess=true
                            publicAccessCidrs=203.0.113.5/32,198.51.100.0/24
                            '{"endpointPublicAccess": true, "endpointPrivateAccess": false}'
                          Omitted members keep their current values.
  describe-update         --name NAME --update-id ID
  list-updates            --name NAME
  wait update-successful  --name NAME --update-id ID [--timeout 30m] [--delay 1s]
                          polls describe-update until the update is Successful (exit 0);
                          Failed, Cancelled or the timeout: exit 255
  explain                 --name NAME --source IP
                          which answer horizond gives that source, and why

  The cluster security group (`aws ec2`'s arguments; the group ID is describe-cluster's
  resourcesVpcConfig.clusterSecurityGroupId), and the API endpoint's connections:
  authorize-security-group-ingress   --group-id SG | --name NAME
                          --protocol tcp|-1 [--port N|FROM-TO] --cidr CIDR [--description D]
  revoke-security-group-ingress      --group-id SG | --name NAME
                          --protocol tcp|-1 [--port N|FROM-TO] --cidr CIDR
                          or --security-group-rule-ids sgr-...[,sgr-...]
  describe-security-group-rules      --group-id SG | --name NAME
  connections             --name NAME
                          the API endpoint's listeners and connections per side with their
                          peers (the `ss -tn` view)

  kind init               the files of a kind lab (horizonctl kind --help); no horizond needed

options (anywhere on the line):
  --endpoint-url URL      horizond's admin_listen (default http://127.0.0.1:8053, or
                          $HORIZON_ENDPOINT_URL)
  --output json|text|table   (default json)
  --token TOKEN           bearer token for mutating requests on a non-loopback admin address
                          (default $HORIZON_TOKEN)
  --cli-connect-timeout S, --cli-read-timeout S   seconds, 0 = none (default 60 each)
  --ca-bundle FILE, --no-verify-ssl   for an https:// endpoint
  --debug                 log each request and response on stderr
  --region R, --profile P, --no-cli-pager   accepted and ignored, so that AWS CLI lines paste
  --help, --version

exit status: 0; 252 bad usage or parameters; 254 error from horizond (EKS error types such as
InvalidParameterException, ResourceInUseException, ResourceNotFoundException, EC2's such as
InvalidPermission.Duplicate); 255 connection failure or a failed wait.
)";

// ------------------------------------------------------------------------------------------------
// The EKS model's output shapes: member order (botocore prints members in model order) and which
// members are timestamps. Members horizond sends that the model lacks are kept, after these.

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

constexpr std::array<Member, 1> kOidcMembers{{{"issuer"}}};
constexpr Shape kOidc = shape_of(kOidcMembers);
constexpr std::array<Member, 1> kIdentityMembers{{{"oidc", &kOidc}}};
constexpr Shape kIdentity = shape_of(kIdentityMembers);
constexpr std::array<Member, 7> kVpcConfigMembers{{{"subnetIds"},
                                                   {"securityGroupIds"},
                                                   {"clusterSecurityGroupId"},
                                                   {"vpcId"},
                                                   {"endpointPublicAccess"},
                                                   {"endpointPrivateAccess"},
                                                   {"publicAccessCidrs"}}};
constexpr Shape kVpcConfig = shape_of(kVpcConfigMembers);
constexpr std::array<Member, 4> kNetworkMembers{
    {{"serviceIpv4Cidr"}, {"serviceIpv6Cidr"}, {"ipFamily"}, {"elasticLoadBalancing"}}};
constexpr Shape kNetwork = shape_of(kNetworkMembers);
constexpr std::array<Member, 2> kLogSetupMembers{{{"types"}, {"enabled"}}};
constexpr Shape kLogSetup = shape_of(kLogSetupMembers);
constexpr std::array<Member, 1> kLoggingMembers{{{"clusterLogging", &kLogSetup}}};
constexpr Shape kLogging = shape_of(kLoggingMembers);
constexpr std::array<Member, 1> kCertificateMembers{{{"data"}}};
constexpr Shape kCertificate = shape_of(kCertificateMembers);
constexpr std::array<Member, 1> kProviderMembers{{{"keyArn"}}};
constexpr Shape kProvider = shape_of(kProviderMembers);
constexpr std::array<Member, 2> kEncryptionMembers{{{"resources"}, {"provider", &kProvider}}};
constexpr Shape kEncryption = shape_of(kEncryptionMembers);
constexpr std::array<Member, 5> kConnectorMembers{{{"activationId"},
                                                   {"activationCode"},
                                                   {"activationExpiry", nullptr, true},
                                                   {"provider"},
                                                   {"roleArn"}}};
constexpr Shape kConnector = shape_of(kConnectorMembers);
constexpr std::array<Member, 3> kIssueMembers{{{"code"}, {"message"}, {"resourceIds"}}};
constexpr Shape kIssue = shape_of(kIssueMembers);
constexpr std::array<Member, 1> kHealthMembers{{{"issues", &kIssue}}};
constexpr Shape kHealth = shape_of(kHealthMembers);
constexpr std::array<Member, 1> kPlacementMembers{{{"groupName"}}};
constexpr Shape kPlacement = shape_of(kPlacementMembers);
constexpr std::array<Member, 3> kOutpostMembers{
    {{"outpostArns"}, {"controlPlaneInstanceType"}, {"controlPlanePlacement", &kPlacement}}};
constexpr Shape kOutpost = shape_of(kOutpostMembers);
constexpr std::array<Member, 27> kClusterMembers{{
    {"name"},
    {"arn"},
    {"createdAt", nullptr, true},
    {"version"},
    {"endpoint"},
    {"roleArn"},
    {"resourcesVpcConfig", &kVpcConfig},
    {"kubernetesNetworkConfig", &kNetwork},
    {"logging", &kLogging},
    {"identity", &kIdentity},
    {"status"},
    {"certificateAuthority", &kCertificate},
    {"clientRequestToken"},
    {"platformVersion"},
    {"tags"},
    {"encryptionConfig", &kEncryption},
    {"connectorConfig", &kConnector},
    {"id"},
    {"health", &kHealth},
    {"outpostConfig", &kOutpost},
    {"accessConfig"},
    {"upgradePolicy"},
    {"zonalShiftConfig"},
    {"remoteNetworkConfig"},
    {"computeConfig"},
    {"storageConfig"},
    {"deletionProtection"},
}};
constexpr Shape kCluster = shape_of(kClusterMembers);
constexpr std::array<Member, 2> kUpdateParamMembers{{{"type"}, {"value"}}};
constexpr Shape kUpdateParam = shape_of(kUpdateParamMembers);
constexpr std::array<Member, 3> kErrorDetailMembers{
    {{"errorCode"}, {"errorMessage"}, {"resourceIds"}}};
constexpr Shape kErrorDetail = shape_of(kErrorDetailMembers);
constexpr std::array<Member, 6> kUpdateMembers{{{"id"},
                                                {"status"},
                                                {"type"},
                                                {"params", &kUpdateParam},
                                                {"createdAt", nullptr, true},
                                                {"errors", &kErrorDetail}}};
constexpr Shape kUpdate = shape_of(kUpdateMembers);

constexpr std::array<Member, 2> kListClustersMembers{{{"clusters"}, {"nextToken"}}};
constexpr Shape kListClustersResponse = shape_of(kListClustersMembers);
constexpr std::array<Member, 1> kDescribeClusterMembers{{{"cluster", &kCluster}}};
constexpr Shape kDescribeClusterResponse = shape_of(kDescribeClusterMembers);
constexpr std::array<Member, 1> kUpdateResponseMembers{{{"update", &kUpdate}}};
constexpr Shape kUpdateResponse = shape_of(kUpdateResponseMembers);
constexpr std::array<Member, 2> kListUpdatesMembers{{{"updateIds"}, {"nextToken"}}};
constexpr Shape kListUpdatesResponse = shape_of(kListUpdatesMembers);
// Not an EKS operation: horizond's own, in the order its documentation lists the members.
constexpr std::array<Member, 9> kExplainMembers{{{"cluster"},
                                                 {"source"},
                                                 {"inVpc"},
                                                 {"matchedCidr"},
                                                 {"accessMode"},
                                                 {"answerSet"},
                                                 {"addresses"},
                                                 {"generation"},
                                                 {"reason"}}};
constexpr Shape kExplain = shape_of(kExplainMembers);
constexpr std::array<Member, 1> kExplainResponseMembers{{{"explain", &kExplain}}};
constexpr Shape kExplainResponse = shape_of(kExplainResponseMembers);
// EC2's SecurityGroupRule and the responses holding it, in the EC2 model's member order.
constexpr std::array<Member, 13> kSgRuleMembers{{{"SecurityGroupRuleId"},
                                                 {"GroupId"},
                                                 {"GroupOwnerId"},
                                                 {"IsEgress"},
                                                 {"IpProtocol"},
                                                 {"FromPort"},
                                                 {"ToPort"},
                                                 {"CidrIpv4"},
                                                 {"CidrIpv6"},
                                                 {"PrefixListId"},
                                                 {"ReferencedGroupInfo"},
                                                 {"Description"},
                                                 {"Tags"}}};
constexpr Shape kSgRule = shape_of(kSgRuleMembers);
constexpr std::array<Member, 2> kAuthorizeMembers{{{"Return"}, {"SecurityGroupRules", &kSgRule}}};
constexpr Shape kAuthorizeResponse = shape_of(kAuthorizeMembers);
constexpr std::array<Member, 3> kRevokeMembers{
    {{"Return"}, {"UnknownIpPermissions"}, {"RevokedSecurityGroupRules", &kSgRule}}};
constexpr Shape kRevokeResponse = shape_of(kRevokeMembers);
constexpr std::array<Member, 2> kDescribeRulesMembers{
    {{"SecurityGroupRules", &kSgRule}, {"NextToken"}}};
constexpr Shape kDescribeRulesResponse = shape_of(kDescribeRulesMembers);
// horizond's own: the API endpoint's connections.
constexpr std::array<Member, 3> kListenerMembers{{{"side"}, {"address"}, {"error"}}};
constexpr Shape kListener = shape_of(kListenerMembers);
constexpr std::array<Member, 8> kConnectionMembers{{{"id"},
                                                    {"side"},
                                                    {"local"},
                                                    {"peer"},
                                                    {"state"},
                                                    {"since", nullptr, true},
                                                    {"bytesIn"},
                                                    {"bytesOut"}}};
constexpr Shape kConnection = shape_of(kConnectionMembers);
constexpr std::array<Member, 4> kConnectionsMembers{{{"cluster"},
                                                     {"listeners", &kListener},
                                                     {"unbound", &kListener},
                                                     {"connections", &kConnection}}};
constexpr Shape kConnectionsResponse = shape_of(kConnectionsMembers);

/// Epoch seconds as the AWS CLI v2 prints a timestamp: local time, ISO 8601, microseconds only
/// when there are any (Python's datetime.isoformat()): 2026-11-25T14:48:41.123000+00:00.
std::string iso8601(double epoch) {
    double whole = std::floor(epoch);
    auto micros = static_cast<long>(std::llround((epoch - whole) * 1e6));
    if (micros >= 1000000) {
        whole += 1;
        micros -= 1000000;
    }
    const auto secs = static_cast<time_t>(whole);
    std::tm tm{};
    localtime_r(&secs, &tm);
    std::array<char, 64> buf{};
    size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (micros != 0) {
        n += static_cast<size_t>(std::snprintf(buf.data() + n, buf.size() - n, ".%06ld", micros));
    }
    const long off = tm.tm_gmtoff;
    const long abs_off = off < 0 ? -off : off;
    std::snprintf(buf.data() + n, buf.size() - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
                  abs_off / 3600, abs_off / 60 % 60);
    return buf.data();
}

// NOLINTBEGIN(misc-no-recursion): responses nest at most kMaxNesting deep (checked on receipt).

Json reshape(const Json& v, const Shape& shape);

Json reshape_member(const Json& v, const Member& m) {
    if (m.timestamp && v.is_number()) {
        return iso8601(v.get<double>());
    }
    if (m.shape == nullptr) {
        return v;
    }
    if (v.is_array()) {
        Json out = Json::array();
        for (const Json& e : v) {
            out.push_back(reshape(e, *m.shape));
        }
        return out;
    }
    return reshape(v, *m.shape);
}

/// The response as botocore parses it: model members first, in model order.
Json reshape(const Json& v, const Shape& shape) {
    if (!v.is_object()) {
        return v;
    }
    Json out = Json::object();
    for (const Member& m : shape.members) {
        const auto it = v.find(std::string(m.name));
        if (it != v.end()) {
            out[std::string(m.name)] = reshape_member(*it, m);
        }
    }
    for (const auto& [key, val] : v.items()) {
        if (!out.contains(key)) {
            out[key] = val;
        }
    }
    return out;
}

// ------------------------------------------------------------------------------------------------
// Output formats

bool is_scalar(const Json& v) {
    return !v.is_object() && !v.is_array();
}

std::string upper(std::string s) {
    for (char& ch : s) {
        if (ch >= 'a' && ch <= 'z') {
            ch = static_cast<char>(ch - 'a' + 'A');
        }
    }
    return s;
}

std::vector<std::string> sorted_keys(const Json& obj) {
    std::vector<std::string> keys;
    for (const auto& [key, _] : obj.items()) {
        keys.push_back(key);
    }
    std::sort(keys.begin(), keys.end());
    return keys;
}

/// awscli/text.py: one line per structure (its scalar members, sorted by name, after the
/// upper-cased identifier), nested structures and lists on the following lines.
class TextFormatter {
public:
    std::string out;

    void format(const Json& item, const std::string* identifier = nullptr,
                const std::vector<std::string>* scalar_keys = nullptr) {
        if (item.is_object()) {
            format_dict(item, identifier, scalar_keys);
        } else if (item.is_array()) {
            format_list(item, identifier);
        } else {
            out += python_str(item) + "\n";
        }
    }

private:
    /// The scalar members of any structure in the list, sorted.
    static std::vector<std::string> scalar_keys_of(const Json& list) {
        std::set<std::string> keys;
        for (const Json& e : list) {
            if (!e.is_object()) {
                continue;
            }
            for (const auto& [key, val] : e.items()) {
                if (is_scalar(val)) {
                    keys.insert(key);
                }
            }
        }
        return {keys.begin(), keys.end()};
    }

    void format_list(const Json& item, const std::string* identifier) {
        const auto has = [&](bool (Json::*is)() const noexcept) {
            return std::any_of(item.begin(), item.end(), [&](const Json& e) { return (e.*is)(); });
        };
        if (has(&Json::is_object)) {
            const std::vector<std::string> all = scalar_keys_of(item);
            for (const Json& e : item) {
                format(e, identifier, &all);
            }
            return;
        }
        std::vector<Json> scalars;
        std::vector<const Json*> others;
        for (const Json& e : item) {
            if (is_scalar(e)) {
                scalars.push_back(e);
            } else {
                others.push_back(&e);
            }
        }
        if (!scalars.empty()) {
            format_scalar_list(scalars, identifier);
        }
        for (const Json* e : others) {
            format(*e, identifier);
        }
    }

    void format_scalar_list(const std::vector<Json>& elements, const std::string* identifier) {
        if (identifier != nullptr) {
            for (const Json& e : elements) {
                out += upper(*identifier) + "\t" + python_str(e) + "\n";
            }
            return;
        }
        for (size_t i = 0; i < elements.size(); ++i) {
            out += (i == 0 ? "" : "\t") + python_str(elements[i]);
        }
        out += "\n";
    }

    /// _partition_dict: the scalar values (of `scalar_keys`, or of the item's own scalar members,
    /// sorted) and the other members, sorted.
    static void partition(const Json& item, const std::vector<std::string>* scalar_keys,
                          std::vector<std::string>& scalars,
                          std::vector<std::pair<std::string, const Json*>>& others) {
        if (scalar_keys != nullptr) {
            for (const std::string& key : *scalar_keys) {
                scalars.push_back(item.contains(key) ? python_str(item.at(key)) : "");
            }
        }
        for (const std::string& key : sorted_keys(item)) {
            const Json& val = item.at(key);
            const bool listed =
                scalar_keys != nullptr &&
                std::find(scalar_keys->begin(), scalar_keys->end(), key) != scalar_keys->end();
            if (scalar_keys == nullptr && is_scalar(val)) {
                scalars.push_back(python_str(val));
            } else if (!listed) {
                others.emplace_back(key, &val);
            }
        }
    }

    void format_dict(const Json& item, const std::string* identifier,
                     const std::vector<std::string>* scalar_keys) {
        std::vector<std::string> scalars;
        std::vector<std::pair<std::string, const Json*>> others;
        partition(item, scalar_keys, scalars, others);
        if (!scalars.empty()) {
            if (identifier != nullptr) {
                scalars.insert(scalars.begin(), upper(*identifier));
            }
            for (size_t i = 0; i < scalars.size(); ++i) {
                out += i == 0 ? "" : "\t";
                out += scalars[i];
            }
            out += "\n";
        }
        for (const auto& [key, val] : others) {
            format(*val, &key);
        }
    }
};

/// Display width as awscli/table.py counts it (one column per code point; wide characters are
/// rare enough in these answers to be counted as one).
long text_length(std::string_view s) {
    long n = 0;
    for (const char ch : s) {
        n += static_cast<long>((static_cast<unsigned char>(ch) & 0xC0U) != 0x80U);
    }
    return n;
}

std::string spaces(long n) {
    return n > 0 ? std::string(static_cast<size_t>(n), ' ') : std::string();
}

std::string center_text(const std::string& text, long length, const std::string& left_edge,
                        const std::string& right_edge) {
    const long text_len = text_length(text);
    const long char_start = (length / 2) - (text_len / 2) - 1;
    std::string out = left_edge + spaces(char_start) + text;
    const long so_far = text_length(left_edge) + char_start + text_len;
    out += spaces(length - text_length(right_edge) - so_far) + right_edge;
    return out;
}

std::string align_left(const std::string& text, long length, const std::string& left_edge,
                       const std::string& right_edge) {
    constexpr long kLeftPadding = 2;
    const long text_len = text_length(text);
    const long computed =
        text_len + kLeftPadding + text_length(left_edge) + text_length(right_edge);
    const long padding = length - computed >= 0 ? kLeftPadding : 0;
    return left_edge + spaces(padding) + text +
           spaces(length - text_length(left_edge) - padding - text_len - text_length(right_edge)) +
           right_edge;
}

/// awscli/table.py's MultiTable with the plain styler: one section per structure, a section with
/// a single row turned vertical when the table is wider than the terminal.
class Table {
public:
    struct Section {
        std::string title;
        std::vector<std::string> headers;
        std::vector<std::vector<std::string>> rows;
        long indent = 0;
        std::vector<long> max_widths;

        void update_widths(const std::vector<std::string>& row) {
            if (max_widths.empty()) {
                for (const std::string& e : row) {
                    max_widths.push_back(text_length(e));
                }
                return;
            }
            for (size_t i = 0; i < row.size() && i < max_widths.size(); ++i) {
                max_widths[i] = std::max(max_widths[i], text_length(row[i]));
            }
        }

        [[nodiscard]] std::vector<long> column_widths(long padding,
                                                      std::optional<long> max_width) const {
            std::vector<long> widths;
            for (const long w : max_widths) {
                widths.push_back(w + padding);
            }
            if (!max_width || widths.empty()) {
                return widths;
            }
            long sum = 0;
            for (const long w : widths) {
                sum += w;
            }
            const double scale = static_cast<double>(*max_width) / static_cast<double>(sum);
            std::vector<long> scaled;
            long total = 0;
            for (const long w : widths) {
                // Python's round(): half to even, which nearbyint does in the default mode.
                scaled.push_back(static_cast<long>(std::nearbyint(scale * static_cast<double>(w))));
                total += scaled.back();
            }
            long off_by = total - *max_width;
            while (off_by != 0) {
                const long n = static_cast<long>(scaled.size());
                for (long k = 0; k < n; ++k) {
                    const auto i = static_cast<size_t>(off_by < 0 ? n - 1 - k : k);
                    if (off_by > 0) {
                        --scaled[i];
                        --off_by;
                    } else {
                        ++scaled[i];
                        ++off_by;
                    }
                    if (off_by == 0) {
                        break;
                    }
                }
            }
            return scaled;
        }

        [[nodiscard]] long total_width(long padding, long outer_padding) const {
            long total = 2; // the border
            for (const long w : column_widths(0, std::nullopt)) {
                total += w + padding;
            }
            total += 2 * outer_padding;
            return std::max(text_length(title) + 2 + 2 * outer_padding, total);
        }
    };

    explicit Table(long terminal_width)
        : terminal_width_(terminal_width) {}

    void new_section(const std::string& title, long indent) {
        sections_.push_back(Section{title, {}, {}, indent, {}});
    }

    void add_header(const std::vector<std::string>& headers) {
        sections_.back().update_widths(headers);
        sections_.back().headers = headers;
    }

    void add_row(const std::vector<std::string>& row) {
        sections_.back().rows.push_back(row);
        sections_.back().update_widths(row);
    }

    [[nodiscard]] std::string render() {
        long max_width = calculate_max_width();
        if (max_width > terminal_width_) {
            for (Section& s : sections_) {
                if (s.rows.size() == 1 && !s.headers.empty()) {
                    Section vertical{s.title, {}, {}, s.indent, {}};
                    for (size_t i = 0; i < s.headers.size() && i < s.rows[0].size(); ++i) {
                        vertical.rows.push_back({s.headers[i], s.rows[0][i]});
                        vertical.update_widths(vertical.rows.back());
                    }
                    s = std::move(vertical);
                }
            }
            max_width = calculate_max_width();
        }
        std::string out(static_cast<size_t>(std::max(0L, max_width)), '-');
        out += "\n";
        for (const Section& s : sections_) {
            render_section(s, max_width, out);
        }
        return out;
    }

private:
    std::vector<Section> sections_;
    long terminal_width_;

    [[nodiscard]] long calculate_max_width() const {
        long w = 0;
        for (const Section& s : sections_) {
            w = std::max(w, s.total_width(4, s.indent));
        }
        return w;
    }

    static void write(std::string& out, long indent, const std::string& line) {
        const std::string bars(static_cast<size_t>(indent), '|');
        out += bars + line + bars + "\n";
    }

    static std::string line_break(const std::vector<long>& widths) {
        std::string s;
        for (size_t i = 0; i < widths.size(); ++i) {
            s += i == 0 ? "+" + std::string(static_cast<size_t>(std::max(0L, widths[i] - 2)), '-') +
                              "+"
                        : std::string(static_cast<size_t>(std::max(0L, widths[i] - 1)), '-') + "+";
        }
        return s;
    }

    static void render_section(const Section& s, long max_width, std::string& out) {
        const long width = max_width - s.indent * 2;
        if (!s.title.empty()) {
            write(out, s.indent, center_text(s.title, width, "|", "|"));
            if (s.headers.empty() && s.rows.empty()) {
                write(out, s.indent,
                      "+" + std::string(static_cast<size_t>(std::max(0L, width - 2)), '-') + "+");
            }
        }
        if (!s.headers.empty()) {
            const std::vector<long> widths = s.column_widths(4, width);
            std::string line;
            for (size_t i = 0; i < widths.size() && i < s.headers.size(); ++i) {
                line += center_text(s.headers[i], widths[i], i == 0 ? "|" : "", "|");
            }
            write(out, s.indent, line_break(widths));
            write(out, s.indent, line);
        }
        if (s.rows.empty()) {
            return;
        }
        const std::vector<long> widths = s.column_widths(4, width);
        if (widths.empty()) {
            return;
        }
        write(out, s.indent, line_break(widths));
        for (const auto& row : s.rows) {
            std::string line;
            for (size_t i = 0; i < widths.size() && i < row.size(); ++i) {
                line += align_left(row[i], widths[i], i == 0 ? "|" : "", "|");
            }
            write(out, s.indent, line);
        }
        write(out, s.indent, line_break(widths));
    }
};

/// awscli's TableFormatter: builds the sections of a Table from the response.
class TableBuilder {
public:
    explicit TableBuilder(Table& table)
        : table_(table) {}

    bool build(const std::string* title, const Json& current, long indent = 0) {
        if (current.empty() || current.is_null() ||
            (current.is_boolean() && !current.get<bool>()) ||
            (current.is_string() && current.get_ref<const std::string&>().empty())) {
            return false; // Python's `not current`
        }
        if (title != nullptr) {
            table_.new_section(*title, indent);
        }
        if (current.is_array()) {
            if (current[0].is_object()) {
                from_list(current, indent, title);
            } else {
                for (const Json& item : current) {
                    if (is_scalar(item)) {
                        table_.add_row({python_str(item)});
                    } else if (std::all_of(item.begin(), item.end(), is_scalar)) {
                        std::vector<std::string> row;
                        for (const Json& e : item) {
                            row.push_back(python_str(e));
                        }
                        table_.add_row(row);
                    } else {
                        build(nullptr, item);
                    }
                }
            }
        }
        if (current.is_object()) {
            from_dict(current, indent);
        }
        return true;
    }

private:
    Table& table_;

    static void group(const Json& obj, std::set<std::string>& headers,
                      std::set<std::string>& more) {
        for (const auto& [key, val] : obj.items()) {
            (is_scalar(val) ? headers : more).insert(key);
        }
    }

    void from_dict(const Json& current, long indent) {
        std::set<std::string> hs;
        std::set<std::string> ms;
        group(current, hs, ms);
        const std::vector<std::string> headers(hs.begin(), hs.end());
        if (headers.size() == 1) {
            table_.add_row({headers[0], python_str(current.at(headers[0]))});
        } else if (!headers.empty()) {
            table_.add_header(headers);
            std::vector<std::string> row;
            row.reserve(headers.size());
            for (const std::string& h : headers) {
                row.push_back(python_str(current.at(h)));
            }
            table_.add_row(row);
        }
        for (const std::string& key : ms) {
            build(&key, current.at(key), indent + 1);
        }
    }

    void from_list(const Json& current, long indent, const std::string* title) {
        std::set<std::string> hs;
        std::set<std::string> ms;
        for (const Json& e : current) {
            if (e.is_object()) {
                group(e, hs, ms);
            }
        }
        const std::vector<std::string> headers(hs.begin(), hs.end());
        table_.add_header(headers);
        bool first = true;
        for (const Json& e : current) {
            if (!first && !ms.empty() && title != nullptr) {
                table_.new_section(*title, indent);
                table_.add_header(headers);
            }
            first = false;
            std::vector<std::string> row;
            row.reserve(headers.size());
            for (const std::string& h : headers) {
                row.push_back(e.is_object() && e.contains(h) ? python_str(e.at(h)) : "");
            }
            table_.add_row(row);
            for (const std::string& key : ms) {
                if (e.is_object() && e.contains(key)) {
                    build(&key, e.at(key), indent + 1);
                }
            }
        }
    }
};

// NOLINTEND(misc-no-recursion)

long terminal_width() {
    winsize ws{};
    if (isatty(STDOUT_FILENO) != 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    return 80;
}

std::string render(const Json& response, std::string_view output, const std::string& operation) {
    if (output == "text") {
        TextFormatter f;
        f.format(response);
        return f.out;
    }
    if (output == "table") {
        Table table(terminal_width());
        TableBuilder builder(table);
        return builder.build(&operation, response) ? table.render() : "";
    }
    if (response.is_object() && response.empty()) {
        return ""; // the AWS CLI prints nothing for an empty response
    }
    return response.dump(4, ' ', false, Json::error_handler_t::replace) + "\n";
}

// ------------------------------------------------------------------------------------------------
// The command line, parsed as the AWS CLI's argparse does: options anywhere, `--opt value` or
// `--opt=value`, a value never starting with "--".

struct Failure {
    int code;
    std::string message; ///< printed on stderr after a blank line, as the AWS CLI does
};

constexpr std::string_view kUsageHead = "usage: horizonctl [options] <command> [parameters]\n"
                                        "To see help text, you can run:\n\n"
                                        "  horizonctl --help\n\n";

Failure usage_error(const std::string& message) {
    return {kExitUsage, std::string(kUsageHead) + "horizonctl: error: " + message};
}

struct CommandSpec {
    std::string_view name;
    std::string_view operation;
    std::vector<std::string_view> required;
    std::vector<std::string_view> optional;

    [[nodiscard]] bool takes(std::string_view option) const {
        return std::find(required.begin(), required.end(), option) != required.end() ||
               std::find(optional.begin(), optional.end(), option) != optional.end();
    }
};

const std::vector<CommandSpec>& commands() {
    static const std::vector<CommandSpec> specs{
        {"list-clusters", "ListClusters", {}, {}},
        {"describe-cluster", "DescribeCluster", {"--name"}, {}},
        {"update-cluster-config",
         "UpdateClusterConfig",
         {"--name", "--resources-vpc-config"},
         {"--client-request-token"}},
        {"describe-update", "DescribeUpdate", {"--name", "--update-id"}, {}},
        {"list-updates", "ListUpdates", {"--name"}, {}},
        {"wait", "DescribeUpdate", {"--name", "--update-id"}, {"--timeout", "--delay"}},
        {"explain", "Explain", {"--name", "--source"}, {}},
        {"authorize-security-group-ingress",
         "AuthorizeSecurityGroupIngress",
         {},
         {"--group-id", "--name", "--protocol", "--port", "--cidr", "--description"}},
        {"revoke-security-group-ingress",
         "RevokeSecurityGroupIngress",
         {},
         {"--group-id", "--name", "--protocol", "--port", "--cidr", "--security-group-rule-ids"}},
        {"describe-security-group-rules",
         "DescribeSecurityGroupRules",
         {},
         {"--group-id", "--name"}},
        {"connections", "Connections", {"--name"}, {}},
    };
    return specs;
}

const CommandSpec* find_command(std::string_view name) {
    for (const CommandSpec& c : commands()) {
        if (c.name == name) {
            return &c;
        }
    }
    return nullptr;
}

constexpr std::array<std::string_view, 8> kGlobalOptions{
    "--endpoint-url",     "--output", "--token",   "--cli-connect-timeout",
    "--cli-read-timeout", "--region", "--profile", "--ca-bundle"};
constexpr std::array<std::string_view, 6> kFlags{
    "--debug", "--no-cli-pager", "--no-verify-ssl", "--help", "-h", "--version"};

/// Whether `name` takes a value: a global option or an option of some command.
bool takes_value(std::string_view name) {
    return std::find(kGlobalOptions.begin(), kGlobalOptions.end(), name) != kGlobalOptions.end() ||
           std::any_of(commands().begin(), commands().end(),
                       [&](const CommandSpec& c) { return c.takes(name); });
}

struct Args {
    std::string endpoint_url;
    std::string output = "json";
    std::string token;
    double connect_timeout = 60;
    double read_timeout = 60;
    std::string ca_bundle; ///< for an https endpoint; "" = the system's
    bool verify_ssl = true;
    bool debug = false;
    bool help = false;
    bool version = false;
    const CommandSpec* command = nullptr;
    std::map<std::string, std::string, std::less<>> params;
};

std::optional<double> parse_seconds(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    const std::string s(text);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0' || !(v >= 0) || std::isinf(v)) {
        return std::nullopt;
    }
    return v;
}

/// "90", "90s", "500ms", "30m", "2h" in seconds.
std::optional<double> parse_duration(std::string_view text) {
    struct Unit {
        std::string_view suffix;
        double seconds;
    };

    for (const Unit u : {Unit{"ms", 0.001}, Unit{"s", 1}, Unit{"m", 60}, Unit{"h", 3600}}) {
        if (text.size() > u.suffix.size() && text.ends_with(u.suffix)) {
            const auto v = parse_seconds(text.substr(0, text.size() - u.suffix.size()));
            return v ? std::optional<double>(*v * u.seconds) : std::nullopt;
        }
    }
    return parse_seconds(text);
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& i : items) {
        if (!out.empty()) {
            out += ", ";
        }
        out += i;
    }
    return out;
}

/// The words of the command line, split into flags, options with values, positionals and what
/// is not known at all.
struct Words {
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> options;
    std::vector<std::string> unknown;
};

std::optional<Failure> split_words(const std::vector<std::string>& argl, Args& a, Words& w) {
    for (size_t i = 0; i < argl.size(); ++i) {
        const std::string& arg = argl[i];
        if (!arg.starts_with("-") || arg == "-") {
            w.positional.push_back(arg);
            continue;
        }
        if (std::find(kFlags.begin(), kFlags.end(), arg) != kFlags.end()) {
            a.debug |= arg == "--debug";
            a.verify_ssl &= arg != "--no-verify-ssl";
            a.help |= arg == "--help" || arg == "-h";
            a.version |= arg == "--version";
            continue;
        }
        const size_t eq = arg.starts_with("--") ? arg.find('=') : std::string::npos;
        const std::string name = arg.substr(0, eq);
        if (!takes_value(name)) {
            w.unknown.push_back(arg); // as argparse: its value, if any, stays a stray word
            continue;
        }
        if (eq != std::string::npos) {
            w.options.emplace_back(name, arg.substr(eq + 1));
        } else if (i + 1 < argl.size() && !argl[i + 1].starts_with("--")) {
            w.options.emplace_back(name, argl[++i]);
        } else {
            return usage_error("argument " + name + ": expected one argument");
        }
    }
    return std::nullopt;
}

/// The command (and for `wait`, the waiter) from the positional words; the rest are unknown.
std::optional<Failure> pick_command(Args& a, Words& w) {
    if (w.positional.empty()) {
        return usage_error("the following arguments are required: command");
    }
    a.command = find_command(w.positional[0]);
    if (a.command == nullptr) {
        std::vector<std::string> valid;
        for (const CommandSpec& c : commands()) {
            valid.emplace_back(c.name);
        }
        return usage_error("argument command: Invalid choice '" + w.positional[0] +
                           "', valid choices are: " + joined(valid));
    }
    size_t used = 1;
    if (a.command->name == "wait") {
        if (w.positional.size() < 2) {
            return usage_error("the following arguments are required: waiter (update-successful)");
        }
        if (w.positional[1] != "update-successful") {
            return usage_error("argument waiter: Invalid choice '" + w.positional[1] +
                               "', valid choices are: update-successful");
        }
        used = 2;
    }
    if (w.positional.size() > used && w.positional[used] == "help") {
        a.help = true; // `horizonctl describe-cluster help`, as `aws eks describe-cluster help`
    }
    w.unknown.insert(w.unknown.end(), w.positional.begin() + static_cast<ptrdiff_t>(used),
                     w.positional.end());
    return std::nullopt;
}

std::optional<Failure> apply_option(Args& a, Words& w, const std::string& name,
                                    const std::string& value) {
    if (name == "--endpoint-url") {
        a.endpoint_url = value;
    } else if (name == "--output") {
        if (value != "json" && value != "text" && value != "table") {
            return usage_error("argument --output: Invalid choice, valid choices are: json, text, "
                               "table");
        }
        a.output = value;
    } else if (name == "--token") {
        a.token = value;
    } else if (name == "--ca-bundle") {
        a.ca_bundle = value;
    } else if (name == "--cli-connect-timeout" || name == "--cli-read-timeout") {
        const auto secs = parse_seconds(value);
        if (!secs) {
            return usage_error("argument " + name + ": invalid number of seconds: '" + value + "'");
        }
        (name == "--cli-connect-timeout" ? a.connect_timeout : a.read_timeout) = *secs;
    } else if (name == "--region" || name == "--profile") {
        // accepted so that command lines written for the AWS CLI work; horizond has no regions
    } else if (a.command->takes(name)) {
        a.params[name] = value;
    } else {
        w.unknown.push_back(name); // another command's option
        w.unknown.push_back(value);
    }
    return std::nullopt;
}

std::optional<Failure> parse_args(int argc, char** argv, Args& a) {
    Words w;
    if (auto f = split_words(std::vector<std::string>(argv + 1, argv + argc), a, w)) {
        return f;
    }
    if (a.help || a.version || (!w.positional.empty() && w.positional[0] == "help")) {
        a.help |= !a.version;
        return std::nullopt;
    }
    if (auto f = pick_command(a, w)) {
        return f;
    }
    if (a.help) {
        return std::nullopt;
    }
    for (const auto& [name, value] : w.options) {
        if (auto f = apply_option(a, w, name, value)) {
            return f;
        }
    }
    std::vector<std::string> missing;
    for (const std::string_view r : a.command->required) {
        if (!a.params.contains(r)) {
            missing.emplace_back(r);
        }
    }
    if (!missing.empty()) {
        return usage_error("the following arguments are required: " + joined(missing));
    }
    if (!w.unknown.empty()) {
        return Failure{kExitUsage,
                       std::string(kUsageHead) + "Unknown options: " + joined(w.unknown)};
    }
    return std::nullopt;
}

// ------------------------------------------------------------------------------------------------
// HTTP

struct Url {
    std::string origin; ///< scheme://host[:port], what httplib::Client takes
    std::string base;   ///< a path prefix, "" or "/prefix"
    std::string shown;  ///< as given, without a trailing slash
};

std::optional<Url> parse_url(std::string_view text, std::string& why) {
    Url u;
    size_t pos = 0;
    if (text.starts_with("http://")) {
        pos = 7;
    } else if (text.starts_with("https://")) {
        pos = 8;
    } else {
        why = "scheme is missing.  Must be of the form http://<hostname>/ or https://<hostname>/";
        return std::nullopt;
    }
    const size_t slash = text.find('/', pos);
    const std::string_view authority =
        text.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (authority.empty()) {
        why = "the host name is missing.  Must be of the form http://<hostname>/ or "
              "https://<hostname>/";
        return std::nullopt;
    }
    u.origin = std::string(text.substr(0, pos)) + std::string(authority);
    if (slash != std::string_view::npos) {
        u.base = std::string(text.substr(slash));
        while (!u.base.empty() && u.base.back() == '/') {
            u.base.pop_back();
        }
    }
    u.shown = u.origin + u.base;
    return u;
}

/// Percent-encodes one path segment or query value (RFC 3986 §2.3 unreserved kept).
std::string encode(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out += ch;
        } else {
            std::array<char, 4> buf{};
            std::snprintf(buf.data(), buf.size(), "%%%02X", c);
            out += buf.data();
        }
    }
    return out;
}

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann's moves do not throw
struct Reply {
    Json body;         ///< the parsed body on success
    std::string error; ///< the error type, "" on success
    std::string message;
};

class Api {
public:
    Api(Url url, const Args& args)
        : url_(std::move(url))
        , args_(args)
        , client_(url_.origin) {
        const auto to_duration = [](double secs) {
            return std::chrono::microseconds(
                secs <= 0 ? std::chrono::microseconds::rep{24LL * 3600 * 1000000}
                          : static_cast<std::chrono::microseconds::rep>(secs * 1e6));
        };
        client_.set_connection_timeout(to_duration(args.connect_timeout));
        client_.set_read_timeout(to_duration(args.read_timeout));
        client_.set_write_timeout(to_duration(args.read_timeout));
        client_.set_keep_alive(true);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
        client_.enable_server_certificate_verification(args.verify_ssl);
        if (!args.ca_bundle.empty()) {
            client_.set_ca_cert_path(args.ca_bundle);
        }
#endif
    }

    /// One request; a transport problem is a Failure (exit 255), an HTTP error a Reply with
    /// `error` set.
    std::variant<Reply, Failure> call(const std::string& method, const std::string& path,
                                      const std::string& body = "") {
        const std::string url = url_.shown + path;
        if (!client_.is_valid()) {
            return Failure{kExitOther, "Cannot use the endpoint URL \"" + url_.shown +
                                           "\": this build of horizonctl has no TLS support"};
        }
        httplib::Headers headers{{"Accept", "application/json"},
                                 {"User-Agent", "horizonctl/" HORIZON_VERSION}};
        if (!args_.token.empty()) {
            headers.emplace("Authorization", "Bearer " + args_.token);
        }
        if (args_.debug) {
            std::cerr << "horizonctl: " << method << " " << url << "\n";
            if (!body.empty()) {
                std::cerr << "horizonctl: request body: " << body << "\n";
            }
        }
        const httplib::Result res =
            method == "POST" ? client_.Post(url_.base + path, headers, body, "application/json")
                             : client_.Get(url_.base + path, headers);
        if (!res) {
            return transport_failure(res.error(), url);
        }
        if (args_.debug) {
            std::cerr << "horizonctl: -> HTTP " << res->status << "\n";
            for (const auto& [k, v] : res->headers) {
                std::cerr << "horizonctl:    " << k << ": " << v << "\n";
            }
            std::cerr << "horizonctl: response body: " << res->body << "\n";
        }
        return reply_of(*res, url);
    }

private:
    Url url_;
    const Args& args_;
    httplib::Client client_;

    static Failure transport_failure(httplib::Error err, const std::string& url) {
        if (err == httplib::Error::Connection || err == httplib::Error::ConnectionTimeout) {
            return {kExitOther, "Could not connect to the endpoint URL: \"" + url +
                                    "\"\nIs horizond running, with its admin API listening "
                                    "there? Check [server] admin_listen in horizond's "
                                    "configuration (default \"127.0.0.1:8053\"), or give the "
                                    "address with --endpoint-url."};
        }
        if (err == httplib::Error::SSLConnection || err == httplib::Error::SSLLoadingCerts ||
            err == httplib::Error::SSLServerVerification) {
            // The AWS CLI's words; --no-verify-ssl and --ca-bundle as in the AWS CLI.
            return {kExitOther, "SSL validation failed for " + url + " (" +
                                    httplib::to_string(err) +
                                    "; an http:// endpoint given as https://? a self-signed "
                                    "certificate: --ca-bundle FILE or --no-verify-ssl)"};
        }
        if (err == httplib::Error::Read) {
            return {kExitOther, "Read timeout on endpoint URL, or the connection was closed "
                                "before a complete response: \"" +
                                    url + "\""};
        }
        return {kExitOther,
                "Request to the endpoint URL \"" + url + "\" failed: " + httplib::to_string(err)};
    }

    static std::variant<Reply, Failure> reply_of(const httplib::Response& res,
                                                 const std::string& url) {
        Json parsed = res.body.empty() ? Json::object() : Json::parse(res.body, nullptr, false);
        const bool json_ok =
            !parsed.is_discarded() && parsed.is_object() &&
            horizon::control::nesting_depth(parsed) <= horizon::control::kMaxNesting;
        if (res.status >= 200 && res.status < 300) {
            if (!json_ok) {
                return Failure{kExitOther, "Unable to parse the response of \"" + url +
                                               "\" (HTTP " + std::to_string(res.status) +
                                               ") as a JSON object: " + res.body.substr(0, 200)};
            }
            return Reply{std::move(parsed), "", ""};
        }
        return error_reply(res, json_ok ? parsed : Json::object());
    }

    /// botocore's REST-JSON error parsing: the x-amzn-ErrorType header (up to ':') wins over the
    /// body's __type (after '#'); the message is the body's message, else the raw body.
    static Reply error_reply(const httplib::Response& res, const Json& parsed) {
        const auto string_member = [&](std::initializer_list<const char*> keys) {
            for (const char* key : keys) {
                const auto it = parsed.find(key);
                if (it != parsed.end() && it->is_string()) {
                    return it->get<std::string>();
                }
            }
            return std::string();
        };
        Reply r;
        std::string type = res.get_header_value("x-amzn-ErrorType");
        type = type.substr(0, type.find(':'));
        if (type.empty()) {
            type = string_member({"__type", "code", "Code"});
            type = type.substr(type.rfind('#') + 1);
        }
        r.error = type.empty() ? std::to_string(res.status) : type;
        r.message = string_member({"message", "Message"});
        if (r.message.empty() && parsed.empty()) {
            r.message = res.body.substr(0, 200);
            while (!r.message.empty() && (r.message.back() == '\n' || r.message.back() == '\r')) {
                r.message.pop_back();
            }
        }
        if (r.message.empty()) {
            r.message = "Unknown";
        }
        return r;
    }
};

Failure service_error(const Reply& r, std::string_view operation) {
    return {kExitService, "An error occurred (" + r.error + ") when calling the " +
                              std::string(operation) + " operation: " + r.message};
}

/// A random UUID (RFC 4122 §4.4), as the AWS CLI sends for clientRequestToken.
std::string uuid4() {
    std::random_device rd;
    std::string hex;
    while (hex.size() < 32) {
        std::array<char, 9> buf{};
        std::snprintf(buf.data(), buf.size(), "%08x", static_cast<unsigned>(rd()));
        hex += buf.data();
    }
    hex[12] = '4';                                // version 4
    constexpr std::string_view kVariant = "89ab"; // variant 10
    hex[16] = kVariant.at(rd() % kVariant.size());
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

// ------------------------------------------------------------------------------------------------
// The commands

/// EC2's request for authorize/revoke-security-group-ingress from `aws ec2`'s simplified
/// arguments (--protocol, --port, --cidr, --description) or --security-group-rule-ids.
std::variant<Json, Failure> security_group_request(const Args& a) {
    const auto has = [&](const char* name) { return a.params.contains(name); };
    Json request = Json::object();
    if (has("--group-id")) {
        request["GroupId"] = a.params.at("--group-id");
    }
    if (has("--security-group-rule-ids")) {
        Json ids = Json::array();
        const std::string& list = a.params.at("--security-group-rule-ids");
        for (size_t start = 0; start <= list.size();) {
            const size_t comma = std::min(list.find(','), list.size());
            if (comma > start) {
                ids.push_back(list.substr(start, comma - start));
            }
            start = comma + 1;
            if (comma == list.size()) {
                break;
            }
        }
        request["SecurityGroupRuleIds"] = ids;
    }
    if (!has("--protocol") && !has("--port") && !has("--cidr")) {
        if (!has("--security-group-rule-ids")) {
            return usage_error("the following arguments are required: --protocol, --cidr (or "
                               "--security-group-rule-ids)");
        }
        return request;
    }
    if (!has("--protocol") || !has("--cidr")) {
        return usage_error("the following arguments are required: " +
                           std::string(has("--protocol") ? "--cidr" : "--protocol"));
    }
    std::string protocol = a.params.at("--protocol");
    if (protocol == "all") {
        protocol = "-1";
    }
    Json perm = Json::object();
    perm["IpProtocol"] = protocol;
    if (has("--port")) {
        // --port N or FROM-TO, as the AWS CLI takes it ("-1" = all ports).
        const std::string& port = a.params.at("--port");
        const size_t dash = port.find('-', 1);
        try {
            const int from = std::stoi(port.substr(0, dash));
            const int to = dash == std::string::npos ? from : std::stoi(port.substr(dash + 1));
            perm["FromPort"] = from;
            perm["ToPort"] = to;
        } catch (const std::exception&) {
            return usage_error("argument --port: invalid port or range '" + port +
                               "' (e.g. 443, 1-1024)");
        }
    }
    const std::string& cidr = a.params.at("--cidr");
    Json range = Json::object();
    const bool v6 = cidr.find(':') != std::string::npos;
    range[v6 ? "CidrIpv6" : "CidrIp"] = cidr;
    if (has("--description")) {
        range["Description"] = a.params.at("--description");
    }
    perm[v6 ? "Ipv6Ranges" : "IpRanges"] = Json::array({range});
    request["IpPermissions"] = Json::array({perm});
    return request;
}

/// /security-groups/SG or /clusters/NAME/security-group: --group-id wins, --name otherwise.
std::variant<std::string, Failure> security_group_path(const Args& a) {
    if (a.params.contains("--group-id")) {
        return "/security-groups/" + encode(a.params.at("--group-id"));
    }
    if (a.params.contains("--name")) {
        return "/clusters/" + encode(a.params.at("--name")) + "/security-group";
    }
    return usage_error("one of the arguments --group-id --name is required");
}

constexpr std::string_view kWaiterFailed = "Waiter UpdateSuccessful failed: ";

/// botocore's message for a failure acceptor, then (our addition) the update's errors.
Failure terminal_failure(const std::string& status, const Json& update) {
    std::string msg = std::string(kWaiterFailed) +
                      "Waiter encountered a terminal failure state: For expression "
                      "\"update.status\" we matched expected path: \"" +
                      status + "\"";
    const auto errors = update.find("errors");
    if (errors != update.end() && errors->is_array()) {
        for (const Json& e : *errors) {
            if (e.is_object()) {
                msg += "\n  " + python_str(e.value("errorCode", Json("?"))) + ": " +
                       python_str(e.value("errorMessage", Json("")));
            }
        }
    }
    return {kExitOther, msg};
}

std::optional<double> duration_param(const Args& a, const std::string& name,
                                     std::string_view fallback) {
    const auto it = a.params.find(name);
    return parse_duration(it == a.params.end() ? fallback : std::string_view(it->second));
}

/// `wait update-successful`: botocore's waiter with the acceptors update.status == Successful
/// (success), Failed or Cancelled (failure), polled every `--delay` until `--timeout`.
std::optional<Failure> wait_update(Api& api, const Args& a, const std::string& path) {
    const auto timeout = duration_param(a, "--timeout", "30m");
    const auto delay = duration_param(a, "--delay", "1s");
    if (!timeout) {
        return usage_error("argument --timeout: invalid duration '" + a.params.at("--timeout") +
                           "' (e.g. 90s, 30m, 1h)");
    }
    if (!delay || *delay <= 0) {
        return usage_error("argument --delay: invalid duration '" + a.params.at("--delay") +
                           "' (e.g. 1s, 500ms)");
    }
    const auto to_micros = [](double secs) {
        return std::chrono::microseconds(static_cast<int64_t>(secs * 1e6));
    };
    const auto deadline = std::chrono::steady_clock::now() + to_micros(*timeout);
    while (true) {
        auto result = api.call("GET", path);
        if (auto* f = std::get_if<Failure>(&result)) {
            return *f;
        }
        const Reply& r = std::get<Reply>(result);
        if (!r.error.empty()) {
            return Failure{kExitOther, std::string(kWaiterFailed) + "An error occurred (" +
                                           r.error + "): " + r.message};
        }
        const Json update = r.body.value("update", Json::object());
        const Json status = update.is_object() ? update.value("status", Json("")) : Json("");
        if (status == "Successful") {
            return std::nullopt;
        }
        if (status == "Failed" || status == "Cancelled") {
            return terminal_failure(status.get<std::string>(), update);
        }
        const auto next = std::chrono::steady_clock::now() + to_micros(*delay);
        if (next > deadline) {
            return Failure{kExitOther, std::string(kWaiterFailed) + "Max attempts exceeded"};
        }
        std::this_thread::sleep_until(next);
    }
}

// ------------------------------------------------------------------------------------------------
// `horizonctl kind init`: writes a kind lab's files; talks to no horizond.

constexpr std::string_view kKindUsage = R"(usage: horizonctl kind init [options]

Writes the files of a kind lab reproducing the EKS endpoint (README.md, "kind lab"):
  horizon.toml           horizond's configuration: the kind network is the VPC (minus the bridge
                         gateway, the host), the control-plane nodes are the ENIs, a gate proxying
                         to the API server is the NLB, on port 6443 like the API server
  coredns-configmap.yaml CoreDNS's ConfigMap forwarding the endpoint's zone to horizond
  kind-cluster.yaml      kind's cluster configuration, the endpoint name in the certSANs
  kubeconfig             the cluster's kubeconfig with server https://<endpoint>:6443

Before the cluster exists, without --network and --kubeconfig, it writes kind-cluster.yaml only.

options:
  --name NAME            the kind and EKS cluster name (default: from the kubeconfig's
                         kind-NAME, else "kind")
  --region REGION        (default ap-northeast-2)
  --endpoint NAME        the endpoint name (default: derived from name and region, as horizond)
  --network FILE         `docker network inspect kind` output ("-" = standard input)
  --kubeconfig FILE      `kind get kubeconfig --name NAME` output ("-" = standard input)
  --coredns FILE         `kubectl -n kube-system get configmap coredns -o yaml` output
                         (default: the ConfigMap of a new kind cluster)
  --horizon-ip IP        horizond runs in a container on the kind network with this address
                         (container/compose.yaml); default: on the host, on the bridge gateway
  --dns-port N           (default 53)   --admin-port N (default 8053)
  --pod-subnet CIDR      also inside the VPC (default 10.244.0.0/16, kind's; "" = none)
  --workers N            worker nodes in kind-cluster.yaml (default 2)
  --out DIR              where to write (default .; created if missing)
)";

std::optional<std::string> read_input(const std::string& path, std::string& error) {
    std::ostringstream ss;
    if (path == "-") {
        ss << std::cin.rdbuf();
        return ss.str();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    ss << in.rdbuf();
    return ss.str();
}

int run_kind(int argc, char** argv) {
    std::vector<std::string> args(argv + 2, argv + argc);
    const auto kind_usage = [](const std::string& message) {
        std::cerr << "\nusage: horizonctl kind init [options] (horizonctl kind --help)\n"
                  << "horizonctl: error: " << message << "\n";
        return kExitUsage;
    };
    if (std::any_of(args.begin(), args.end(),
                    [](const std::string& a) { return a == "--help" || a == "-h"; })) {
        std::cout << kKindUsage;
        return 0;
    }
    if (args.empty() || args[0] != "init") {
        return kind_usage(args.empty() ? "the following arguments are required: init"
                                       : "argument kind: Invalid choice '" + args[0] +
                                             "', valid choices are: init");
    }
    static const std::set<std::string, std::less<>> kOptions{
        "--name",       "--region",   "--endpoint",   "--network",    "--kubeconfig", "--coredns",
        "--horizon-ip", "--dns-port", "--admin-port", "--pod-subnet", "--workers",    "--out"};
    std::map<std::string, std::string, std::less<>> opt;
    for (size_t i = 1; i < args.size(); ++i) {
        std::string name = args[i];
        std::string value;
        if (const size_t eq = name.find('='); name.starts_with("--") && eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        } else if (kOptions.contains(name)) {
            if (i + 1 >= args.size()) {
                return kind_usage("argument " + name + ": expected one argument");
            }
            value = args[++i];
        }
        if (!kOptions.contains(name)) {
            return kind_usage("Unknown options: " + args[i]);
        }
        opt[name] = value;
    }
    const auto get = [&](std::string_view name, std::string fallback = {}) {
        const auto it = opt.find(name);
        return it == opt.end() ? fallback : it->second;
    };
    namespace kind = horizon::ctl::kind;
    kind::Options o;
    o.name = get("--name");
    o.region = get("--region", o.region);
    o.endpoint = get("--endpoint");
    o.pod_subnet = get("--pod-subnet", o.pod_subnet);
    if (opt.contains("--workers")) {
        const auto v = parse_seconds(get("--workers"));
        if (!v || *v != std::floor(*v) || *v > 100) {
            return kind_usage("argument --workers: invalid count '" + get("--workers") + "'");
        }
        o.workers = static_cast<unsigned>(*v);
    }
    for (const auto& [name, field] :
         {std::pair<std::string_view, uint16_t*>{"--dns-port", &o.dns_port},
          std::pair<std::string_view, uint16_t*>{"--admin-port", &o.admin_port}}) {
        if (opt.contains(name)) {
            const auto v = parse_seconds(get(name));
            if (!v || *v != std::floor(*v) || *v < 1 || *v > 65535) {
                return kind_usage("argument " + std::string(name) + ": invalid port '" + get(name) +
                                  "'");
            }
            *field = static_cast<uint16_t>(*v);
        }
    }
    if (opt.contains("--horizon-ip")) {
        o.horizon_ip = horizon::util::IpAddress::parse(get("--horizon-ip"));
        if (!o.horizon_ip || !o.horizon_ip->is_v4()) {
            return kind_usage("argument --horizon-ip: not an IPv4 address: '" +
                              get("--horizon-ip") + "'");
        }
    }
    const std::string network_path = get("--network");
    const std::string kubeconfig_path = get("--kubeconfig");
    if (network_path.empty() != kubeconfig_path.empty()) {
        return kind_usage("--network and --kubeconfig go together (or neither, before the "
                          "cluster exists)");
    }
    if (network_path == "-" && kubeconfig_path == "-") {
        return kind_usage("only one of --network and --kubeconfig can be standard input");
    }
    const std::filesystem::path out_dir = get("--out", ".");
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) {
        std::cerr << "horizonctl: cannot create " << out_dir.string() << ": " << ec.message()
                  << "\n";
        return kExitOther;
    }
    // Written atomically (0600), then opened up where horizond in a container must read it.
    const auto write = [&](const std::string& file, const std::string& text, bool secret) {
        const std::string path = (out_dir / file).string();
        std::string error;
        if (!horizon::control::write_file_atomically(path, text, error)) {
            std::cerr << "horizonctl: " << error << "\n";
            return false;
        }
        if (!secret) {
            std::filesystem::permissions(path, std::filesystem::perms(0644),
                                         std::filesystem::perm_options::replace, ec);
        }
        std::cout << "wrote " << path << "\n";
        return true;
    };

    if (network_path.empty()) {
        const std::string name = o.name.empty() ? "kind" : o.name;
        const std::string endpoint =
            o.endpoint.empty() ? horizon::config::derive_endpoint(name, o.region) : o.endpoint;
        if (!write("kind-cluster.yaml", kind::kind_cluster_config(name, endpoint, o.workers),
                   false)) {
            return kExitOther;
        }
        const std::string dir = out_dir.string();
        std::cout << "next:\n  kind create cluster --config " << dir << "/kind-cluster.yaml\n"
                  << "  docker network inspect kind > " << dir << "/network.json\n"
                  << "  kind get kubeconfig --name " << name << " > " << dir
                  << "/kind-kubeconfig.yaml\n"
                  << "  horizonctl kind init --name " << name << " --network " << dir
                  << "/network.json --kubeconfig " << dir << "/kind-kubeconfig.yaml --out " << dir
                  << "\n";
        return 0;
    }
    std::map<std::string, std::string, std::less<>> paths{
        {"network", network_path}, {"kubeconfig", kubeconfig_path}, {"coredns", get("--coredns")}};
    std::map<std::string, std::string, std::less<>> texts;
    for (const auto& [what, path] : paths) {
        if (path.empty()) {
            continue;
        }
        std::string error;
        auto text = read_input(path, error);
        if (!text) {
            std::cerr << "horizonctl: " << error << "\n";
            return kExitOther;
        }
        texts[what] = std::move(*text);
    }
    const auto result = kind::generate(o, texts["network"], texts["kubeconfig"], texts["coredns"]);
    if (!result.value) {
        const auto it = paths.find(result.where);
        std::string at =
            it != paths.end() ? (it->second == "-" ? "<stdin>" : it->second) : "horizonctl";
        if (result.line != 0) {
            at += ":" + std::to_string(result.line) + ":" + std::to_string(result.col);
        }
        std::cerr << at << ": error: " << result.error << "\n";
        return kExitUsage;
    }
    const kind::Outputs& out = *result.value;
    std::cout << out.summary;
    if (!write("horizon.toml", out.horizon_toml, false) ||
        !write("coredns-configmap.yaml", out.coredns_configmap, false) ||
        !write("kind-cluster.yaml", out.kind_cluster, false) ||
        !write("kubeconfig", out.kubeconfig, true)) {
        return kExitOther;
    }
    return 0;
}

int fail(const Failure& f) {
    std::cerr << "\n" << f.message << "\n";
    return f.code;
}

int run(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "kind") {
        return run_kind(argc, argv);
    }
    Args a;
    if (const char* env = std::getenv("HORIZON_TOKEN"); env != nullptr) {
        a.token = env;
    }
    if (const char* env = std::getenv("HORIZON_ENDPOINT_URL"); env != nullptr && *env != '\0') {
        a.endpoint_url = env;
    }
    if (auto f = parse_args(argc, argv, a)) {
        return fail(*f);
    }
    if (a.help) {
        std::cout << kUsage;
        return 0;
    }
    if (a.version) {
        std::cout << "horizonctl " HORIZON_VERSION "\n";
        return 0;
    }
    std::string why;
    const std::string endpoint =
        a.endpoint_url.empty() ? std::string(kDefaultEndpoint) : a.endpoint_url;
    auto url = parse_url(endpoint, why);
    if (!url) {
        return fail({kExitUsage, "Bad value for --endpoint-url \"" + endpoint + "\": " + why});
    }
    const CommandSpec& cmd = *a.command;
    const std::string op(cmd.operation);
    const auto param = [&](std::string_view name) { return a.params.at(std::string(name)); };
    const auto cluster_path = [&] { return "/clusters/" + encode(param("--name")); };

    std::string method = "GET";
    std::string path;
    std::string body;
    const Shape* shape = nullptr;
    if (cmd.name == "list-clusters") {
        path = "/clusters";
        shape = &kListClustersResponse;
    } else if (cmd.name == "describe-cluster") {
        path = cluster_path();
        shape = &kDescribeClusterResponse;
    } else if (cmd.name == "update-cluster-config") {
        const auto vpc =
            horizon::control::parse_resources_vpc_config(param("--resources-vpc-config"));
        if (!vpc.ok()) {
            return fail({kExitUsage, vpc.message});
        }
        Json request = Json::object();
        request["resourcesVpcConfig"] = vpc.value;
        request["clientRequestToken"] =
            a.params.contains("--client-request-token") ? param("--client-request-token") : uuid4();
        method = "POST";
        path = cluster_path() + "/update-config";
        body = request.dump(-1, ' ', false, Json::error_handler_t::replace);
        shape = &kUpdateResponse;
    } else if (cmd.name == "describe-update" || cmd.name == "wait") {
        path = cluster_path() + "/updates/" + encode(param("--update-id"));
        shape = &kUpdateResponse;
    } else if (cmd.name == "list-updates") {
        path = cluster_path() + "/updates";
        shape = &kListUpdatesResponse;
    } else if (cmd.name == "explain") {
        path = cluster_path() + "/explain?source=" + encode(param("--source"));
        shape = &kExplainResponse;
    } else if (cmd.name == "connections") {
        path = cluster_path() + "/connections";
        shape = &kConnectionsResponse;
    } else if (cmd.name.ends_with("security-group-ingress") ||
               cmd.name == "describe-security-group-rules") {
        auto base = security_group_path(a);
        if (auto* f = std::get_if<Failure>(&base)) {
            return fail(*f);
        }
        path = std::get<std::string>(base);
        shape = &kDescribeRulesResponse;
        if (cmd.name != "describe-security-group-rules") {
            auto request = security_group_request(a);
            if (auto* f = std::get_if<Failure>(&request)) {
                return fail(*f);
            }
            const bool authorize = cmd.name.starts_with("authorize");
            method = "POST";
            path += authorize ? "/authorize-ingress" : "/revoke-ingress";
            body = std::get<Json>(request).dump(-1, ' ', false, Json::error_handler_t::replace);
            shape = authorize ? &kAuthorizeResponse : &kRevokeResponse;
        }
    }

    Api api(*url, a);
    if (cmd.name == "wait") {
        const auto f = wait_update(api, a, path);
        return f ? fail(*f) : 0;
    }
    auto result = api.call(method, path, body);
    if (auto* f = std::get_if<Failure>(&result)) {
        return fail(*f);
    }
    const Reply& r = std::get<Reply>(result);
    if (!r.error.empty()) {
        return fail(service_error(r, op));
    }
    const Json shaped = shape != nullptr ? reshape(r.body, *shape) : r.body;
    std::cout << render(shaped, a.output, op) << std::flush;
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "\nhorizonctl: " << e.what() << "\n";
        return kExitOther;
    }
}
