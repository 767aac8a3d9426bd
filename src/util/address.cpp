// IP address, CIDR and endpoint parsing/printing.
#include "util/address.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

namespace horizon::util {

IpAddress IpAddress::unmapped() const {
    static constexpr std::array<uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family != Family::V6 || std::memcmp(bytes.data(), kMapped.data(), kMapped.size()) != 0) {
        return *this;
    }
    return v4(bytes[12], bytes[13], bytes[14], bytes[15]);
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
        return std::nullopt;
    }
    const std::string s(text);
    IpAddress a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = Family::V4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = Family::V6;
        return a;
    }
    return std::nullopt;
}

IpAddress IpAddress::from_sockaddr(const sockaddr* sa) {
    IpAddress a;
    if (sa->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        std::memcpy(a.bytes.data(), &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        a.family = Family::V6;
        std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
    }
    return a;
}

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    IpAddress r;
    r.bytes[0] = a;
    r.bytes[1] = b;
    r.bytes[2] = c;
    r.bytes[3] = d;
    return r;
}

bool Cidr::contains(const IpAddress& a) const {
    if (a.family != addr.family) {
        return false;
    }
    for (unsigned i = 0; i < len; ++i) {
        if (a.bit(i) != addr.bit(i)) {
            return false;
        }
    }
    return true;
}

std::string Cidr::to_string() const {
    return addr.to_string() + "/" + std::to_string(len);
}

std::optional<Cidr> Cidr::parse(std::string_view text, Error* why) {
    auto fail = [&](Error e) -> std::optional<Cidr> {
        if (why != nullptr) {
            *why = e;
        }
        return std::nullopt;
    };
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        return fail(Error::Syntax);
    }
    const auto ip = IpAddress::parse(text.substr(0, slash));
    const auto digits = text.substr(slash + 1);
    unsigned len = 0;
    const auto* end = digits.data() + digits.size();
    if (!ip || digits.empty() || digits.size() > 3 ||
        std::from_chars(digits.data(), end, len).ptr != end || len > ip->bits()) {
        return fail(Error::Syntax);
    }
    for (unsigned i = len; i < ip->bits(); ++i) {
        if (ip->bit(i)) {
            return fail(Error::HostBits);
        }
    }
    if (why != nullptr) {
        *why = Error::None;
    }
    return Cidr{*ip, len};
}

std::string Endpoint::to_string() const {
    return addr.is_v4() ? addr.to_string() + ":" + std::to_string(port)
                        : "[" + addr.to_string() + "]:" + std::to_string(port);
}

unsigned Endpoint::to_sockaddr(sockaddr_storage& out) const {
    std::memset(&out, 0, sizeof out);
    if (addr.is_v4()) {
        auto* in = reinterpret_cast<sockaddr_in*>(&out);
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        std::memcpy(&in->sin_addr, addr.bytes.data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, addr.bytes.data(), 16);
    return sizeof(sockaddr_in6);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    auto ip = IpAddress::parse(host);
    if (!ip || (text.front() != '[' && !ip->is_v4())) {
        return std::nullopt;
    }
    unsigned p = 0;
    const auto* end = port.data() + port.size();
    const auto [ptr, ec] = std::from_chars(port.data(), end, p);
    if (port.empty() || ec != std::errc{} || ptr != end || p > 65535) {
        return std::nullopt;
    }
    return Endpoint{*ip, static_cast<uint16_t>(p)};
}

SourceKey source_key(const IpAddress& a) {
    const IpAddress u = a.unmapped();
    SourceKey k;
    if (u.is_v4()) {
        k.lo = (uint64_t{1} << 32) | (uint64_t{u.bytes[0]} << 24) | (uint64_t{u.bytes[1]} << 16) |
               (uint64_t{u.bytes[2]} << 8) | u.bytes[3];
    } else {
        for (unsigned i = 0; i < 8; ++i) { // the /64
            k.hi = (k.hi << 8) | u.bytes[i];
        }
    }
    return k;
}

std::string SourceKey::to_string() const {
    if ((lo >> 32) != 0) {
        return IpAddress::v4(static_cast<uint8_t>(lo >> 24), static_cast<uint8_t>(lo >> 16),
                             static_cast<uint8_t>(lo >> 8), static_cast<uint8_t>(lo))
            .to_string();
    }
    Cidr c{IpAddress{Family::V6, {}}, 64};
    for (unsigned i = 0; i < 8; ++i) {
        c.addr.bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    }
    return c.to_string();
}

} // namespace horizon::util
