#pragma once
// IP addresses and the wire layouts of the headers the ESP transform reads and
// writes (RFC 791, RFC 8200, RFC 768, RFC 4303 §2). Packet bytes are never assumed
// aligned: read and write them with the load/store helpers below, the structs only
// document the layout and give offsets (static_assert'ed).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace espgw::net {

// ---- byte order helpers (unaligned, big-endian on the wire) ----

// One unaligned load or store plus a byte swap each (memcpy of a constant size is a
// plain mov): byte-by-byte shifts cost 4-8 instructions per field on the packet path,
// where the compiler did not always merge them. x86-64 and arm64 are little-endian.
static_assert(std::endian::native == std::endian::little);
inline uint16_t load_be16(const uint8_t* p) noexcept {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}
inline uint32_t load_be32(const uint8_t* p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
inline uint64_t load_be64(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
inline void store_be16(uint8_t* p, uint16_t v) noexcept {
    v = __builtin_bswap16(v);
    std::memcpy(p, &v, 2);
}
inline void store_be32(uint8_t* p, uint32_t v) noexcept {
    v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}
inline void store_be64(uint8_t* p, uint64_t v) noexcept {
    v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
}

// ---- addresses ----

/// An IPv4 or IPv6 address in network byte order. family 0 = unset. Plain data:
/// safe in shared memory, trivially copyable.
struct IpAddr {
    uint8_t family = 0;      ///< 0 (unset), 4 or 6
    uint8_t bytes[16] = {};  ///< IPv4 uses bytes[0..3], the rest stays zero

    /// IPv4 address from a host-order integer (0xC0A80001 = 192.168.0.1).
    static IpAddr v4(uint32_t host_order) noexcept {
        IpAddr a;
        a.family = 4;
        store_be32(a.bytes, host_order);
        return a;
    }
    /// IPv4 or IPv6 from 4 or 16 network-order bytes.
    static IpAddr from_bytes(const uint8_t* p, uint8_t family) noexcept {
        IpAddr a;
        a.family = family;
        std::memcpy(a.bytes, p, family == 6 ? 16 : 4);
        return a;
    }
    /// Parses dotted-quad or RFC 5952 text. nullopt on anything else. Control path.
    static std::optional<IpAddr> parse(std::string_view text);
    /// Text form ("" for unset). Control path (allocates).
    std::string to_string() const;
    /// Address length in bytes: 4, 16, or 0 when unset.
    size_t size() const noexcept { return family == 4 ? 4 : family == 6 ? 16 : 0; }

    friend bool operator==(const IpAddr&, const IpAddr&) = default;
};

// ---- protocol numbers (IANA) ----
inline constexpr uint8_t kProtoHopByHop = 0;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoIpv4 = 4;   ///< IP-in-IP: ESP next header, tunnel mode, IPv4 inner
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIpv6 = 41;  ///< ESP next header, tunnel mode, IPv6 inner
inline constexpr uint8_t kProtoRouting = 43;
inline constexpr uint8_t kProtoFragment = 44;
inline constexpr uint8_t kProtoEsp = 50;
inline constexpr uint8_t kProtoAh = 51;
inline constexpr uint8_t kProtoIcmpv6 = 58;
inline constexpr uint8_t kProtoNoNext = 59;  ///< RFC 4303 §2.6: dummy (TFC) packet
inline constexpr uint8_t kProtoDestOpts = 60;

inline constexpr uint16_t kPortIke = 500;     ///< RFC 7296 §2
inline constexpr uint16_t kPortNatT = 4500;   ///< RFC 3948 §2

// ---- header layouts ----

/// RFC 791 §3.1 (without options).
struct Ipv4Hdr {
    uint8_t ver_ihl;        ///< version (4) << 4 | header length in 32-bit words
    uint8_t tos;            ///< DSCP << 2 | ECN (RFC 2474, RFC 3168)
    uint16_t total_len_be;  ///< header + payload, bytes
    uint16_t id_be;
    uint16_t frag_off_be;   ///< flags (DF 0x4000, MF 0x2000) | offset in 8-byte units
    uint8_t ttl;
    uint8_t proto;
    uint16_t csum_be;
    uint8_t src[4];
    uint8_t dst[4];
};
static_assert(sizeof(Ipv4Hdr) == 20);
static_assert(offsetof(Ipv4Hdr, proto) == 9 && offsetof(Ipv4Hdr, csum_be) == 10);
static_assert(offsetof(Ipv4Hdr, src) == 12 && offsetof(Ipv4Hdr, dst) == 16);
inline constexpr uint16_t kIpv4FlagDf = 0x4000;
inline constexpr uint16_t kIpv4FlagMf = 0x2000;
inline constexpr uint16_t kIpv4OffsetMask = 0x1fff;

/// RFC 8200 §3.
struct Ipv6Hdr {
    uint8_t vtc_flow[4];      ///< version (6) << 28 | traffic class << 20 | flow label
    uint16_t payload_len_be;  ///< bytes after this 40-byte header
    uint8_t next_header;
    uint8_t hop_limit;
    uint8_t src[16];
    uint8_t dst[16];
};
static_assert(sizeof(Ipv6Hdr) == 40);
static_assert(offsetof(Ipv6Hdr, next_header) == 6 && offsetof(Ipv6Hdr, src) == 8);

/// RFC 768.
struct UdpHdr {
    uint16_t src_port_be;
    uint16_t dst_port_be;
    uint16_t len_be;   ///< header + payload, bytes
    uint16_t csum_be;  ///< 0 = none (IPv4; RFC 3948 §2.1 sends 0)
};
static_assert(sizeof(UdpHdr) == 8);

/// RFC 4303 §2: SPI and the low 32 bits of the sequence number; the IV follows.
struct EspHdr {
    uint32_t spi_be;
    uint32_t seq_be;
};
static_assert(sizeof(EspHdr) == 8);

/// RFC 4303 §2: pad length and next header, before the ICV.
struct EspTrailer {
    uint8_t pad_len;
    uint8_t next_header;
};
static_assert(sizeof(EspTrailer) == 2);

/// Traffic class / TOS byte helpers (RFC 2474 DSCP in the high 6 bits, RFC 3168 ECN low 2).
inline constexpr uint8_t kEcnMask = 0x03;
inline constexpr uint8_t kEcnNotEct = 0x00;
inline constexpr uint8_t kEcnEct1 = 0x01;
inline constexpr uint8_t kEcnEct0 = 0x02;
inline constexpr uint8_t kEcnCe = 0x03;

/// Traffic class of an IPv6 header at `p`.
inline uint8_t ipv6_traffic_class(const uint8_t* p) noexcept {
    return static_cast<uint8_t>(((p[0] & 0x0f) << 4) | (p[1] >> 4));
}
/// Sets the traffic class of an IPv6 header at `p`, keeping version and flow label.
inline void ipv6_set_traffic_class(uint8_t* p, uint8_t tc) noexcept {
    p[0] = static_cast<uint8_t>((p[0] & 0xf0) | (tc >> 4));
    p[1] = static_cast<uint8_t>((p[1] & 0x0f) | ((tc & 0x0f) << 4));
}

}  // namespace espgw::net
