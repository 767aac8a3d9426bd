// libFuzzer target: arbitrary text as a master file (RFC 1035 §5) through dns::parse_zone.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.hpp"
#include "dns/zone.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto zone = [] {
        horizon::config::ZoneConfig z;
        z.file = z.path = "fuzz.zone";
        z.origin = "lab.internal";
        return z;
    }();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = horizon::dns::parse_zone(text, zone);
    if (const auto* errors = std::get_if<std::vector<horizon::dns::ZoneError>>(&parsed)) {
        if (errors->empty()) {
            __builtin_trap(); // a refused zone names at least one error
        }
        for (const auto& e : *errors) {
            (void)e.to_string();
        }
    }
    return 0;
}
