#pragma once
// Values of the configuration-payload attributes we send and read (RFC 7296 §3.15.1):
// the address attributes' wire form. Pure functions, any thread.

#include <cstdint>
#include <optional>
#include <utility>

#include "control/ike/address_pool.hpp"
#include "control/ike/message.hpp"

namespace espgw::ike {

/// INTERNAL_IP4_ADDRESS / _DNS / _NBNS value: 4 bytes, network order.
Bytes cp_ip4(uint32_t addr_host);
/// INTERNAL_IP6_ADDRESS value: the 16-byte address followed by its prefix length
/// (§3.15.1; 17 bytes).
Bytes cp_ip6_address(const Ip6& addr, uint8_t prefix_len);
/// INTERNAL_IP6_DNS value: the 16-byte address.
Bytes cp_ip6(const Ip6& addr);
/// Reads an INTERNAL_IP6_ADDRESS value: nullopt unless it has exactly 17 bytes and a
/// prefix length of at most 128.
std::optional<std::pair<Ip6, uint8_t>> parse_cp_ip6_address(const Bytes& value);

}  // namespace espgw::ike
