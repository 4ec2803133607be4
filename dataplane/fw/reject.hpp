#pragma once
// The answer to a packet a "reject" rule stopped: a TCP RST for TCP (RFC 9293 §3.10.7.1
// reset generation), else ICMP destination unreachable, code 13 "communication
// administratively prohibited" (RFC 1812 §5.2.7.1). Pure code, any thread.

#include <cstdint>

namespace espgw::fw {

/// Largest answer build_reject() writes.
inline constexpr uint32_t kRejectMaxBytes = 20 + 8 + 60 + 8;

/// Writes the IPv4 answer to the IPv4 packet `ip` (`len` bytes) into `out`
/// (>= kRejectMaxBytes), from the packet's destination to its source. Returns its
/// length, or 0 when no answer is due (a RST, an ICMP error, a non-first fragment,
/// a malformed packet: RFC 1122 §3.2.2 forbids errors about those).
uint32_t build_reject(const uint8_t* ip, uint32_t len, uint8_t* out) noexcept;

}  // namespace espgw::fw
