// Longest-prefix match over IPv4 and IPv6 CIDRs: a binary trie whose lookup walks at most
// 32 or 128 bits, so its cost does not grow with the number of prefixes.
#pragma once

#include <cstdint>
#include <vector>

#include "util/address.hpp"

namespace horizon::util {

template <typename V>
class PrefixTrie {
public:
    PrefixTrie()
        : roots_{new_node(), new_node()} {}

    /// Inserts or replaces the value for `prefix`.
    void insert(const Cidr& prefix, V value) {
        int32_t n = roots_[index(prefix.addr.family)];
        for (unsigned i = 0; i < prefix.len; ++i) {
            const unsigned b = prefix.addr.bit(i) ? 1 : 0;
            if (nodes_[n].child[b] < 0) {
                const int32_t c = new_node();
                nodes_[n].child[b] = c;
            }
            n = nodes_[n].child[b];
        }
        if (nodes_[n].value < 0) {
            nodes_[n].value = static_cast<int32_t>(values_.size());
            values_.push_back({std::move(value)});
        } else {
            values_[nodes_[n].value].value = std::move(value);
        }
    }

    /// The value of the longest prefix containing `a`, or nullptr. IPv4-mapped IPv6 addresses
    /// must be unmapped by the caller.
    [[nodiscard]] const V* longest_match(const IpAddress& a) const {
        int32_t n = roots_[index(a.family)];
        int32_t best = nodes_[n].value;
        const unsigned bits = a.bits();
        for (unsigned i = 0; i < bits; ++i) {
            n = nodes_[n].child[a.bit(i) ? 1 : 0];
            if (n < 0) {
                break;
            }
            if (nodes_[n].value >= 0) {
                best = nodes_[n].value;
            }
        }
        return best < 0 ? nullptr : &values_[best].value;
    }

    /// The answer for a whole prefix `a`/`len` (an EDNS Client Subnet, RFC 7871): the value of
    /// the longest prefix containing it, plus `scope`, the shortest prefix length over which that
    /// answer cannot change (RFC 7871 §7.2.1). `straddles` is set when entries lie inside
    /// `a`/`len`, so that its addresses do not all share one answer; then `scope` is the full
    /// address length and the returned value is that of `a`/`len` itself.
    [[nodiscard]] const V* match_prefix(const IpAddress& a, unsigned len, unsigned& scope,
                                        bool& straddles) const {
        int32_t n = roots_[index(a.family)];
        int32_t best = nodes_[n].value;
        straddles = false;
        for (unsigned depth = 0;; ++depth) {
            const Node& node = nodes_[n];
            if (node.child[0] < 0 && node.child[1] < 0) {
                scope = depth; // nothing below: one answer for the whole subtree
                break;
            }
            if (depth == len) {
                straddles = true; // entries below the client's prefix
                scope = a.bits();
                break;
            }
            const int32_t next = node.child[a.bit(depth) ? 1 : 0];
            if (next < 0) {
                scope = depth + 1; // the path leaves every entry here
                break;
            }
            n = next;
            if (nodes_[n].value >= 0) {
                best = nodes_[n].value;
            }
        }
        return best < 0 ? nullptr : &values_[best].value;
    }

    [[nodiscard]] bool empty() const { return values_.empty(); }

private:
    struct Node {
        int32_t child[2] = {-1, -1};
        int32_t value = -1;
    };

    static unsigned index(Family f) { return f == Family::V4 ? 0 : 1; }

    int32_t new_node() {
        nodes_.emplace_back();
        return static_cast<int32_t>(nodes_.size() - 1);
    }

    struct Slot { // a wrapper, so that V = bool does not become std::vector<bool>
        V value;
    };

    std::vector<Node> nodes_;
    std::vector<Slot> values_;
    int32_t roots_[2];
};

} // namespace horizon::util
