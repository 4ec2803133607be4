#pragma once
// Hex helpers for the IKE tests.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ike_test {
inline std::vector<uint8_t> unhex(std::string_view s) {
    std::vector<uint8_t> v;
    auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    for (size_t i = 0; i + 1 < s.size(); i += 2) v.push_back(static_cast<uint8_t>(nib(s[i]) << 4 | nib(s[i + 1])));
    return v;
}
inline std::string hex(std::span<const uint8_t> b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (uint8_t c : b) {
        s += d[c >> 4];
        s += d[c & 15];
    }
    return s;
}
}  // namespace ike_test
