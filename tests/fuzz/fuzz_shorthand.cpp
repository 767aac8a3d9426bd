// libFuzzer target: arbitrary text as an AWS CLI parameter value: the shorthand grammar alone
// and --resources-vpc-config (shorthand or JSON, then the botocore checks).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control/shorthand.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace horizon::control;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = parse_shorthand(text);
    if (parsed.value) {
        if (nesting_depth(*parsed.value) > kMaxNesting + 1) {
            __builtin_trap();
        }
        (void)python_str(*parsed.value);
    } else if (parsed.error.empty()) {
        __builtin_trap(); // a refused value says why
    }
    const auto vpc = parse_resources_vpc_config(text);
    if (vpc.ok()) {
        (void)python_str(vpc.value);
        (void)vpc.value.dump();
    } else if (vpc.message.empty()) {
        __builtin_trap();
    }
    (void)code_points(text);
    return 0;
}
