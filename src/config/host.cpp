// The real host: network interfaces, the user database and the file system.
#include "config/host.hpp"

#include <cerrno>
#include <ifaddrs.h>
#include <pwd.h>
#include <sys/socket.h>

namespace horizon::config {

namespace {

class SystemHost final : public Host {
public:
    [[nodiscard]] std::vector<util::IpAddress> local_addresses() const override {
        std::vector<util::IpAddress> out;
        ifaddrs* list = nullptr;
        if (::getifaddrs(&list) != 0) {
            return out;
        }
        for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
            if (i->ifa_addr != nullptr &&
                (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6)) {
                out.push_back(util::IpAddress::from_sockaddr(i->ifa_addr));
            }
        }
        ::freeifaddrs(list);
        return out;
    }

    [[nodiscard]] int find_user(const std::string& name) const override {
        passwd pw{};
        passwd* found = nullptr;
        std::vector<char> buffer(16384);
        const int err = ::getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &found);
        if (found != nullptr) {
            return 0;
        }
        // getpwnam_r(3): "not found" is 0 with no entry, or ENOENT, ESRCH... on some systems.
        return err == 0 || err == ENOENT || err == ESRCH ? ENOENT : err;
    }

    [[nodiscard]] util::FileText read_file(const std::string& path, size_t limit) const override {
        return util::read_file(path, limit);
    }
};

} // namespace

const Host& system_host() {
    static const SystemHost host;
    return host;
}

} // namespace horizon::config
