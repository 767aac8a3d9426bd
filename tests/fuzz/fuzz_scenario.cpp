// libFuzzer target: arbitrary text as a horizon-sim scenario file through sim::load_scenario.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto loaded = horizon::sim::load_scenario(text, "fuzz-scenario.toml");
    if (const auto* diags = std::get_if<std::vector<horizon::config::Diagnostic>>(&loaded)) {
        if (diags->empty()) {
            __builtin_trap(); // a refused scenario says why
        }
    }
    return 0;
}
