// Names of the per-node state as kubectl and EC2 print them.
#include "sim/node_state.hpp"

#include <fmt/format.h>

namespace horizon::sim {

const char* cond_text(Cond c) {
    switch (c) {
    case Cond::True:
        return "True";
    case Cond::False:
        return "False";
    case Cond::Unknown:
        return "Unknown";
    }
    return "?";
}

const char* taint_text(uint8_t t) {
    return t == 1 ? "node.kubernetes.io/unreachable:NoExecute"
                  : "node.kubernetes.io/not-ready:NoExecute";
}

std::string node_name(uint32_t ip, const std::string& region) {
    return fmt::format("ip-{}-{}-{}-{}.{}.compute.internal", ip >> 24, (ip >> 16) & 255,
                       (ip >> 8) & 255, ip & 255, region);
}

} // namespace horizon::sim
