// The simulator's event queue: small POD events ordered by (time, insertion order), so that equal
// times run first-in first-out and every run is reproducible. Pushing and popping never allocate
// once the buckets have grown to their peak.
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

/// A 4-ary min-heap of events by (time, insertion order).
class EventHeap {
public:
    void reserve(size_t n) { heap_.reserve(n); }

    [[nodiscard]] bool empty() const { return heap_.empty(); }

    [[nodiscard]] size_t size() const { return heap_.size(); }

    [[nodiscard]] const Event& top() const { return heap_.front(); }

    void push(const Event& e) {
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
};

/// The queue proper: a timing wheel of 1 ms buckets over the next kWindow ms (the heartbeats'
/// 10 s periods land there: O(1) push and pop, walked in memory order) and a heap for events
/// further ahead, moved into the wheel as it reaches them. Within a bucket events keep their
/// insertion order, so the order is exactly (time, insertion order) as with one heap: an event
/// goes to the heap only while its bucket is beyond the window, and is moved into its bucket
/// the moment the window reaches it, before anything can be pushed there directly.
class EventQueue {
public:
    void reserve(size_t n) { far_.reserve(n / 8 + 16); }

    [[nodiscard]] bool empty() const { return count_ == 0; }

    [[nodiscard]] size_t size() const { return count_; }

    [[nodiscard]] uint64_t pushed() const { return seq_; }

    /// Schedules an event at `t`, which must not be before the last popped event's time.
    void push(Millis t, uint8_t kind, uint32_t target, uint16_t aux = 0) {
        const Event e{t, seq_++, target, aux, kind};
        ++count_;
        if (t < cur_ + kWindow) {
            wheel_[static_cast<size_t>(t) & kMask].push_back(e);
        } else {
            far_.push(e);
        }
    }

    /// The time of the earliest event, without moving the cursor (so that events may still be
    /// pushed at any time from the last popped one on). The queue must not be empty.
    [[nodiscard]] Millis next_time() const {
        for (Millis t = cur_; t < cur_ + kWindow; ++t) {
            const auto& bucket = wheel_[static_cast<size_t>(t) & kMask];
            if ((t == cur_ ? pos_ : 0) < bucket.size()) {
                return t;
            }
        }
        return far_.top().t;
    }

    /// Removes and returns the earliest event. The queue must not be empty.
    Event pop() {
        advance();
        --count_;
        return wheel_[static_cast<size_t>(cur_) & kMask][pos_++];
    }

private:
    static constexpr Millis kWindow = 1 << 14; // 16.4 s: beyond every periodic timer
    static constexpr size_t kMask = kWindow - 1;

    /// Moves the cursor to the first pending event, pulling far events into the window.
    void advance() {
        while (true) {
            auto& bucket = wheel_[static_cast<size_t>(cur_) & kMask];
            if (pos_ < bucket.size()) {
                return;
            }
            bucket.clear(); // keeps its capacity: no allocation once warmed up
            pos_ = 0;
            if (count_ == far_.size() && !far_.empty()) {
                // The wheel is empty: jump straight to the next far event.
                cur_ = far_.top().t - 1;
            }
            ++cur_;
            while (!far_.empty() && far_.top().t < cur_ + kWindow) {
                const Event e = far_.pop();
                wheel_[static_cast<size_t>(e.t) & kMask].push_back(e);
            }
        }
    }

    std::vector<std::vector<Event>> wheel_ = std::vector<std::vector<Event>>(kWindow);
    EventHeap far_;
    Millis cur_ = 0; ///< the bucket being drained
    size_t pos_ = 0; ///< the next event in it
    size_t count_ = 0;
    uint64_t seq_ = 0;
};

} // namespace horizon::sim
