#pragma once
// Classification of a packet arriving on the unprotected side (IP header onward):
// ESP (RFC 4303), ESP in UDP and its NAT-T companions (RFC 3948 §2.2: non-ESP marker,
// NAT keepalive), IKE on 500 (RFC 7296 §2), or anything else. Pure, any thread.

#include <cstdint>

#include "dataplane/esp/drop_reason.hpp"
#include "dataplane/net/ip.hpp"

namespace espgw::esp {

enum class PacketKind : uint8_t {
    other,          ///< not IPsec: forward/firewall as plain IP
    esp,            ///< IP proto 50
    esp_in_udp,     ///< UDP to the NAT-T port, non-zero first 4 bytes (RFC 3948 §2.2)
    ike,            ///< UDP to port 500: punt to the IKE daemon
    ike_nat_t,      ///< UDP to the NAT-T port with the 4-byte zero non-ESP marker: punt
    nat_keepalive,  ///< UDP to the NAT-T port, single 0xFF byte (RFC 3948 §2.3): drop quietly
};

/// Where things are in the classified packet. Offsets count from the IP header.
struct Classification {
    PacketKind kind = PacketKind::other;
    uint8_t ip_version = 0;   ///< 4 or 6
    uint8_t l4_proto = 0;     ///< protocol after the IP header / extension headers
    uint16_t nh_off = 0;      ///< offset of the byte that holds l4_proto (IPv4 protocol / last next header)
    uint16_t l4_off = 0;      ///< offset of the UDP/ESP/other L4 header (IP header + options / ext headers)
    uint16_t esp_off = 0;     ///< esp/esp_in_udp: ESP header; ike/ike_nat_t: IKE header (after any marker)
    uint32_t ip_len = 0;      ///< IP total length (<= the buffer; the rest is link padding)
    uint32_t spi = 0;         ///< esp/esp_in_udp: SPI, host order
    uint16_t udp_src_port = 0;  ///< UDP kinds: source port, host order (NAT mapping)
};

/// Classifies the packet at `data` (`len` bytes, IP header first). `nat_t_port` is
/// the local UDP port of ESP-in-UDP (host order). Returns none when `out` is filled
/// (including kind other), or why the packet is malformed (truncated, bad_ip_version,
/// bad_ip_header_len, bad_ip_length, bad_ext_header, bad_udp_length; fragment for an
/// ESP/UDP fragment, which cannot be processed without reassembly). Reads only within
/// [data, data+len). Any thread, no allocation.
DropReason classify_full(const uint8_t* data, uint32_t len, Classification& out,
                         uint16_t nat_t_port = net::kPortNatT) noexcept;

/// classify_full, with the commonest packet answered inline (every packet is
/// classified, decrypted ones twice): an unfragmented IPv4 header without options
/// carrying ESP or anything but UDP to the IKE / NAT-T ports. Same result, same `out`.
inline DropReason classify(const uint8_t* data, uint32_t len, Classification& out,
                           uint16_t nat_t_port = net::kPortNatT) noexcept {
    if (len >= 28 && data[0] == 0x45) [[likely]] {
        const uint32_t total = net::load_be16(data + 2);
        const uint8_t proto = data[9];
        const bool whole = (net::load_be16(data + 6) & (net::kIpv4FlagMf | net::kIpv4OffsetMask)) == 0;
        if (total >= 28 && total <= len && whole) {
            const uint16_t dport = net::load_be16(data + 22);
            if (proto != net::kProtoUdp || (dport != nat_t_port && dport != net::kPortIke)) {
                out = Classification{};
                out.ip_version = 4;
                out.ip_len = total;
                out.l4_proto = proto;
                out.nh_off = 9;
                out.l4_off = 20;
                if (proto == net::kProtoEsp) {
                    out.kind = PacketKind::esp;
                    out.esp_off = 20;
                    out.spi = net::load_be32(data + 20);
                }
                return DropReason::none;
            }
        }
    }
    return classify_full(data, len, out, nat_t_port);
}

}  // namespace espgw::esp
