// libFuzzer target: arbitrary bytes as an upstream's answer, through the forwarder's cache path:
// dns::normalize (with and without a bailiwick check), then write_answer and answer_records for
// clients with and without EDNS, at small and large size limits.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dns/cache.hpp"

namespace {

// The question a client asked ("www.example.com A IN"), as the forwarder keeps it for the answer.
constexpr uint8_t kQuestion[] = {3,   'w', 'w', 'w', 7,   'e', 'x', 'a', 'm', 'p', 'l',
                                 'e', 3,   'c', 'o', 'm', 0,   0,   1,   0,   1};

// Names below lab.internal are "ours": the bailiwick scrub and the CNAME cut are fuzzed too.
bool ours(std::string_view lower_wire) {
    constexpr std::string_view kOurs("\x03lab\x08internal\x00", 14);
    return lower_wire.size() >= kOurs.size() && lower_wire.ends_with(kOurs);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace horizon::dns;
    static std::vector<uint8_t> out(65535);
    const std::span<const uint8_t> in(data, size);
    const TtlPolicy policy{.min_ttl = 5, .max_ttl = 3600, .negative_ttl = 300};
    const OursFn ours_fn = ours;
    for (const OursFn* fn : {static_cast<const OursFn*>(nullptr), &ours_fn}) {
        const auto cached = fn == nullptr ? normalize(in, policy) : normalize(in, policy, *fn);
        if (!cached) {
            continue;
        }
        if (cached->message.size() > 65535 || cached->additional_at > cached->message.size()) {
            __builtin_trap();
        }
        for (const uint16_t off : cached->ttl_offsets) {
            if (size_t{off} + 4 > cached->message.size()) {
                __builtin_trap();
            }
        }
        std::vector<uint8_t> records;
        answer_records(*cached, 7, records);
        for (const bool edns : {false, true}) {
            for (const size_t limit : {size_t{512}, size_t{1232}, size_t{65535}}) {
                Asker asker;
                asker.id = 0x1234;
                asker.flags = 0x0110; // RD, CD
                asker.question = std::span<const uint8_t>(kQuestion, sizeof kQuestion);
                asker.edns.present = edns;
                asker.edns.udp_size = 1232;
                asker.edns.nsid = edns;
                const AnswerOptions options{
                    .udp_payload = 1232, .identity = "fuzz", .limit = limit, .ra = true};
                for (const uint32_t age : {0U, 3U, 100000U}) {
                    const auto w = write_answer(*cached, age, asker, options, out);
                    if (w.size > limit || w.size > out.size() ||
                        (w.size != 0 && (w.size < 12 || (out[2] & 0x80) == 0))) {
                        __builtin_trap();
                    }
                }
            }
        }
    }
    return 0;
}
