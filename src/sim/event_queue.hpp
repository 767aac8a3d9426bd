// The simulator's event queue: a 4-ary min-heap of small POD events in one vector, ordered by
// (time, insertion order), so that equal times run first-in first-out and every run is
// reproducible. Pushing and popping never allocate once the vector has grown to its peak.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace horizon::sim {

/// Virtual time in milliseconds since the start of the scenario.
using Millis = int64_t;

struct Event {
    Millis t = 0;
    uint64_t seq = 0;    ///< insertion order: the tie-breaker at equal times
    uint32_t target = 0; ///< a node index, a step index, ... (the kind says which)
    uint16_t aux = 0;    ///< a generation: an event whose aux is stale is ignored
    uint8_t kind = 0;

    [[nodiscard]] bool before(const Event& o) const { return t != o.t ? t < o.t : seq < o.seq; }
};

class EventQueue {
public:
    void reserve(size_t n) { heap_.reserve(n); }

    [[nodiscard]] bool empty() const { return heap_.empty(); }

    [[nodiscard]] size_t size() const { return heap_.size(); }

    [[nodiscard]] const Event& top() const { return heap_.front(); }

    [[nodiscard]] uint64_t pushed() const { return seq_; }

    void push(Millis t, uint8_t kind, uint32_t target, uint16_t aux = 0) {
        Event e{t, seq_++, target, aux, kind};
        size_t i = heap_.size();
        heap_.push_back(e);
        while (i > 0) { // sift up
            const size_t parent = (i - 1) / kArity;
            if (!e.before(heap_[parent])) {
                break;
            }
            heap_[i] = heap_[parent];
            i = parent;
        }
        heap_[i] = e;
    }

    /// Removes and returns the earliest event. The queue must not be empty.
    Event pop() {
        const Event out = heap_.front();
        const Event last = heap_.back();
        heap_.pop_back();
        const size_t n = heap_.size();
        if (n == 0) {
            return out;
        }
        size_t i = 0;
        while (true) { // sift down
            const size_t first = i * kArity + 1;
            if (first >= n) {
                break;
            }
            size_t best = first;
            const size_t end = first + kArity < n ? first + kArity : n;
            for (size_t c = first + 1; c < end; ++c) {
                if (heap_[c].before(heap_[best])) {
                    best = c;
                }
            }
            if (!heap_[best].before(last)) {
                break;
            }
            heap_[i] = heap_[best];
            i = best;
        }
        heap_[i] = last;
        return out;
    }

private:
    static constexpr size_t kArity = 4; // shallower than binary, children share a cache line
    std::vector<Event> heap_;
    uint64_t seq_ = 0;
};

} // namespace horizon::sim
