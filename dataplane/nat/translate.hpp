#pragma once
// IPv4 header rewriting for masquerade (RFC 3022 NAPT, RFC 5508 for ICMP) with
// incremental checksum updates (RFC 1624 eqn. 3). Pure functions on packet bytes, no
// EAL; any thread; no allocation. Packet bytes are read/written unaligned.
//
// Callers parse with parse_l4() first; the rewrite functions trust that result.

#include <cstdint>

namespace espgw::nat {

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpUnreach = 3;
inline constexpr uint8_t kIcmpEcho = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpParamProblem = 12;

/// What kind of translatable packet an IPv4 packet is.
enum class L4Kind : uint8_t {
    other,       ///< not TCP/UDP/ICMP echo/ICMP error: not translatable
    fragment,    ///< a fragment (MF or offset set): not translatable without reassembly
    malformed,   ///< too short for its headers
    tcp,
    udp,
    icmp_echo,   ///< echo request (type 8) or reply (type 0): the identifier is the "port"
    icmp_error,  ///< destination unreachable, time exceeded, parameter problem (RFC 792)
};

/// The flow fields of one IPv4 packet. Addresses host order; for ICMP echo the
/// identifier is in src_port (request) / dst_port (reply) as seen by a NAT (RFC 5508 §3.1).
struct L4Info {
    L4Kind kind = L4Kind::other;
    uint8_t proto = 0;
    uint8_t tcp_flags = 0;
    uint16_t l4_off = 0;      ///< bytes from the IP header to the L4 header
    uint32_t src = 0, dst = 0;
    uint16_t src_port = 0, dst_port = 0;
    // icmp_error only: the embedded (quoted) packet, RFC 792 / RFC 5508 §4.
    uint16_t emb_off = 0;     ///< embedded IP header, bytes from the outer IP header
    uint16_t emb_l4_off = 0;  ///< embedded L4 header, bytes from the outer IP header
    uint16_t emb_l4_len = 0;  ///< embedded L4 bytes present (often only 8)
    uint8_t emb_proto = 0;
    uint32_t emb_src = 0, emb_dst = 0;
    uint16_t emb_src_port = 0, emb_dst_port = 0;  ///< ICMP echo: both hold the identifier
};

/// Parses the IPv4 packet `ip` of `len` bytes (trailing link padding allowed:
/// the IP total length rules). Never reads beyond `len`.
L4Info parse_l4(const uint8_t* ip, uint32_t len) noexcept;

/// Replaces the source address and source port (ICMP echo: the identifier) of a
/// tcp/udp/icmp_echo packet, updating IP, TCP/UDP (pseudo-header) and ICMP checksums
/// incrementally. A UDP checksum of 0 (none) stays 0 (RFC 768).
void rewrite_src(uint8_t* ip, const L4Info& li, uint32_t new_src, uint16_t new_port) noexcept;

/// Same for the destination address and port (ICMP echo reply: the identifier).
void rewrite_dst(uint8_t* ip, const L4Info& li, uint32_t new_dst, uint16_t new_port) noexcept;

/// ICMP error travelling towards the inside (RFC 5508 §4.2): the quoted packet left
/// us as (src = public address, sport = public port); rewrites the outer destination
/// to `in_addr` and the quoted source address/port to `in_addr`/`in_port`, updating
/// the outer IP, quoted IP, quoted L4 (where quoted) and the ICMP checksums.
void rewrite_icmp_error_in(uint8_t* ip, const L4Info& li, uint32_t in_addr, uint16_t in_port) noexcept;

/// ICMP error travelling towards the outside, sent by an inside host about a packet it
/// received from us: rewrites the outer source and the quoted destination
/// address/port to the public `pub_addr`/`pub_port`.
void rewrite_icmp_error_out(uint8_t* ip, const L4Info& li, uint32_t pub_addr, uint16_t pub_port) noexcept;

/// Lowers the MSS option of a TCP SYN (RFC 9293 §3.7.1) to at most `mss`, updating
/// the TCP checksum incrementally, so that segments fit the tunnel without PMTU
/// discovery (whose ICMP errors a NAT in front of the tunnel would have to rewrite).
/// Returns true when it changed the packet. Non-SYN packets are left alone.
bool clamp_tcp_mss(uint8_t* ip, const L4Info& li, uint16_t mss) noexcept;

/// RFC 1624 eqn. 3 for a 32-bit field (two 16-bit words). Host-order checksum.
uint16_t csum_update32(uint16_t csum, uint32_t old_v, uint32_t new_v) noexcept;

}  // namespace espgw::nat
