#include "control/ike/cp_attributes.hpp"

#include <algorithm>

namespace espgw::ike {

Bytes cp_ip4(uint32_t v) {
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
            static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

Bytes cp_ip6_address(const Ip6& addr, uint8_t prefix_len) {
    Bytes v(addr.begin(), addr.end());
    v.push_back(prefix_len);
    return v;
}

Bytes cp_ip6(const Ip6& addr) {
    return Bytes(addr.begin(), addr.end());
}

std::optional<std::pair<Ip6, uint8_t>> parse_cp_ip6_address(const Bytes& value) {
    if (value.size() != 17 || value[16] > 128) return std::nullopt;
    Ip6 a{};
    std::copy_n(value.begin(), 16, a.begin());
    return std::pair<Ip6, uint8_t>{a, value[16]};
}

}  // namespace espgw::ike
