// The non-template halves of the schema readers: TXT strings, choices, bounded durations, CIDR
// and address lists.
#include "config/schema.hpp"

#include <charconv>

namespace horizon::config {

namespace {

/// `addr` with every bit after the first `len` cleared.
util::IpAddress network_of(util::IpAddress addr, unsigned len) {
    unsigned bit = 0;
    for (auto& byte : addr.bytes) {
        const unsigned keep = std::min(8U, len - std::min(len, bit)); // this byte's prefix bits
        byte &= static_cast<uint8_t>(0xFF00U >> keep);
        bit += 8;
    }
    return addr;
}

} // namespace

std::string txt_string_problem(std::string_view key, const std::string& text) {
    static constexpr size_t kMax = 255;
    if (text.size() <= kMax) {
        return "";
    }
    return fmt::format("'{}' must be at most {} bytes (it is sent as a DNS TXT string), got {}",
                       key, kMax, text.size());
}

std::string choice_list(std::span<const std::string_view> texts) {
    std::string out;
    for (size_t left = texts.size(); const auto text : texts) {
        --left;
        out += fmt::format("\"{}\"{}", text, left == 0 ? "" : left == 1 ? " or " : ", ");
    }
    return out;
}

std::optional<std::chrono::milliseconds> read_duration_in(Diagnostics& d, std::string_view key,
                                                          const toml::node& node, bool positive,
                                                          std::chrono::milliseconds max,
                                                          std::string_view rule) {
    const auto duration = read_duration(d, key, node);
    if (!duration) {
        return std::nullopt;
    }
    if ((positive && duration->count() == 0) || *duration > max) {
        d.error(node,
                fmt::format("'{}' must be {}, got {}", key, rule, quoted(node.as_string()->get())));
        return std::nullopt;
    }
    return duration;
}

void read_cidrs(Diagnostics& d, std::string_view key, const toml::node& node, Empty if_empty,
                std::vector<util::Cidr>& out) {
    const auto items = read_strings(d, key, node);
    if (!items) {
        return;
    }
    if (if_empty == Empty::Rejected && node.as_array()->empty()) {
        d.error(node, fmt::format("{} must list at least one CIDR", key));
    }
    for (const auto& item : *items) {
        util::Cidr::Error why = util::Cidr::Error::None;
        if (const auto cidr = util::Cidr::parse(item.text, &why)) {
            out.push_back(*cidr);
            continue;
        }
        std::string hint = "expected ADDRESS/LEN";
        if (why == util::Cidr::Error::HostBits) {
            // Cidr::parse only reports host bits once address and length are both valid.
            const auto slash = item.text.find('/');
            const auto digits = item.text.substr(slash + 1);
            unsigned len = 0;
            std::from_chars(digits.data(), digits.data() + digits.size(), len);
            const util::Cidr fixed{
                network_of(*util::IpAddress::parse(item.text.substr(0, slash)), len), len};
            hint = fmt::format("host bits set; did you mean '{}'?", fixed.to_string());
        }
        d.error(*item.node,
                fmt::format("invalid CIDR {} in {} ({})", quoted(item.text), key, hint));
    }
}

void read_ip_addresses(Diagnostics& d, std::string_view key, const toml::node& node,
                       std::vector<util::IpAddress>& out) {
    const auto items = read_strings(d, key, node);
    if (!items) {
        return;
    }
    if (node.as_array()->empty()) {
        d.error(node, fmt::format("{} must list at least one address", key));
    }
    std::vector<std::string_view> texts; // as written, parallel to `out`
    for (const auto& item : *items) {
        const auto ip = util::IpAddress::parse(item.text);
        if (!ip) {
            d.error(*item.node, fmt::format("invalid IP address {} in {} (expected an IPv4 or "
                                            "IPv6 address)",
                                            quoted(item.text), key));
            continue;
        }
        const auto seen = std::find(out.begin(), out.end(), *ip);
        if (seen != out.end()) {
            d.error(*item.node, fmt::format("duplicate address {} in {}{}", quoted(item.text), key,
                                            same_as(item.text, texts[seen - out.begin()])));
            continue;
        }
        out.push_back(*ip);
        texts.push_back(item.text);
    }
}

} // namespace horizon::config
