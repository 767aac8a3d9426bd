// libFuzzer target: arbitrary text as a configuration file through config::load, on a fixed fake
// host (so that nothing depends on this machine's addresses, users or files).
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/host.hpp"

namespace {

class FuzzHost final : public horizon::config::Host {
public:
    [[nodiscard]] std::vector<horizon::util::IpAddress> local_addresses() const override {
        return {*horizon::util::IpAddress::parse("127.0.0.1"),
                *horizon::util::IpAddress::parse("::1")};
    }

    [[nodiscard]] int find_user(const std::string& name) const override {
        return name == "nobody" ? 0 : ENOENT;
    }

    [[nodiscard]] horizon::util::FileText read_file(const std::string& path,
                                                    size_t /*limit*/) const override {
        if (path == horizon::config::kResolvConf) {
            return {"nameserver 192.0.2.53\nnameserver 2001:db8::53\n", 0};
        }
        return {"", ENOENT};
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const FuzzHost host;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto loaded = horizon::config::load(text, "/etc/horizon/fuzz.toml", host);
    if (const auto* diags = std::get_if<std::vector<horizon::config::Diagnostic>>(&loaded)) {
        if (diags->empty()) {
            __builtin_trap(); // a refused configuration says why
        }
    }
    return 0;
}
