// Live mode: UDP queries with ECS to a running horizond, and its admin API for updates.
#include "sim/live.hpp"

#include <array>
#include <cerrno>
#include <httplib.h>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "sim/dns_client.hpp"

namespace horizon::sim {

UdpResolver::UdpResolver(const util::Endpoint& server) {
    sockaddr_storage ss{};
    const unsigned len = server.to_sockaddr(ss);
    fd_ = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
        throw std::runtime_error("cannot open a UDP socket to " + server.to_string() + ": " +
                                 std::strerror(errno));
    }
}

UdpResolver::~UdpResolver() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool UdpResolver::resolve(const dns::Snapshot& /*snap*/, const std::string& name,
                          const util::IpAddress& client, std::vector<util::IpAddress>& ips,
                          uint32_t& ttl, bool& nxdomain) {
    for (int attempt = 0; attempt < 3; ++attempt) {
        const uint16_t id = next_id_++;
        const auto query = build_query(name, id, client.unmapped());
        if (::send(fd_, query.data(), query.size(), 0) < 0) {
            continue;
        }
        std::array<uint8_t, 4096> buf{};
        pollfd p{fd_, POLLIN, 0};
        while (::poll(&p, 1, 1000) > 0) {
            const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
            if (n <= 0) {
                break;
            }
            const auto parsed = parse_answer(std::span(buf.data(), static_cast<size_t>(n)));
            if (!parsed || parsed->id != id) {
                continue; // not ours: keep waiting
            }
            ips = parsed->a;
            ttl = parsed->ttl;
            nxdomain = parsed->rcode == 3;
            return true;
        }
    }
    ++failures_;
    return false;
}

HttpControl::HttpControl(std::string url, std::string token)
    : url_(std::move(url))
    , token_(std::move(token)) {
    while (!url_.empty() && url_.back() == '/') {
        url_.pop_back();
    }
}

control::ApiResult HttpControl::post(const std::string& path, const nlohmann::json& body) {
    httplib::Client client(url_);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    httplib::Headers headers{{"Accept", "application/json"}};
    if (!token_.empty()) {
        headers.emplace("Authorization", "Bearer " + token_);
    }
    const auto res = client.Post(path, headers, body.dump(), "application/json");
    control::ApiResult out;
    if (!res) {
        out.status = 0;
        out.error_type = "ConnectionError";
        out.body = {{"message", httplib::to_string(res.error())}};
        return out;
    }
    out.status = res->status;
    out.body = nlohmann::json::parse(res->body, nullptr, false);
    return out;
}

control::ApiResult HttpControl::update_cluster_config(const std::string& cluster,
                                                      const nlohmann::json& body) {
    return post("/clusters/" + cluster + "/update-config", body);
}

control::ApiResult HttpControl::authorize_sg_ingress(const std::string& cluster,
                                                     const nlohmann::json& body) {
    return post("/clusters/" + cluster + "/security-group/authorize-ingress", body);
}

} // namespace horizon::sim
