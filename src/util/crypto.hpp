// Digests and encodings over OpenSSL: SHA-256, hex and base64, for the stable made-up values
// (endpoint names, AWS-shaped IDs, certificate placeholders) that every layer derives.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace horizon::util {

using Sha256 = std::array<unsigned char, 32>;

/// SHA-256 of `input`.
Sha256 sha256(std::string_view input);

enum class HexCase { Lower, Upper };

/// The bytes as hex digits, two per byte.
std::string hex(std::span<const unsigned char> bytes, HexCase c = HexCase::Lower);

/// The first `digits` hex digits of SHA-256(`input`) (at most 64).
std::string sha256_hex(std::string_view input, size_t digits, HexCase c = HexCase::Lower);

/// RFC 4648 §4 base64 with padding.
std::string base64(std::span<const unsigned char> bytes);

inline std::string base64(std::string_view text) {
    return base64({reinterpret_cast<const unsigned char*>(text.data()), text.size()});
}

} // namespace horizon::util
