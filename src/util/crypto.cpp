// Digests and encodings over OpenSSL (libcrypto's one-shot EVP calls).
#include "util/crypto.hpp"

#include <openssl/evp.h>
#include <vector>

namespace horizon::util {

Sha256 sha256(std::string_view input) {
    Sha256 out{};
    unsigned len = 0;
    EVP_Digest(input.data(), input.size(), out.data(), &len, EVP_sha256(), nullptr);
    return out;
}

std::string hex(std::span<const unsigned char> bytes, HexCase c) {
    const std::string_view digits = c == HexCase::Lower ? "0123456789abcdef" : "0123456789ABCDEF";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const unsigned char byte : bytes) {
        out += digits[byte >> 4];
        out += digits[byte & 0x0f];
    }
    return out;
}

std::string sha256_hex(std::string_view input, size_t digits, HexCase c) {
    std::string out = hex(sha256(input), c);
    out.resize(std::min(digits, out.size()));
    return out;
}

std::string base64(std::span<const unsigned char> bytes) {
    if (bytes.empty()) {
        return {};
    }
    // EVP_EncodeBlock writes 4 characters per 3 bytes and a NUL.
    std::vector<unsigned char> out(4 * ((bytes.size() + 2) / 3) + 1);
    const int n = EVP_EncodeBlock(out.data(), bytes.data(), static_cast<int>(bytes.size()));
    return {reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n)};
}

} // namespace horizon::util
