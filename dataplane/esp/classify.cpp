// Classification of unprotected-side packets: RFC 4303 ESP, RFC 3948 §2.2/§2.3
// ESP-in-UDP, non-ESP marker and NAT keepalive, RFC 7296 §2 IKE.
#include "dataplane/esp/classify.hpp"

namespace espgw::esp {

using net::load_be16;
using net::load_be32;

namespace {
// Limit of extension headers walked before ESP; a longer chain is refused.
constexpr int kMaxExtHeaders = 8;
}  // namespace

DropReason classify_full(const uint8_t* data, uint32_t len, Classification& out,
                         uint16_t nat_t_port) noexcept {
    out = Classification{};
    if (len < 1) [[unlikely]]
        return DropReason::truncated;
    const uint8_t version = data[0] >> 4;
    uint32_t total;
    uint32_t off;
    uint32_t nh_off;
    uint8_t nh;
    bool frag = false;
    bool first_frag = true;
    if (version == 4) {
        if (len < 20) [[unlikely]]
            return DropReason::truncated;
        const uint32_t ihl = (data[0] & 0x0fu) * 4;
        if (ihl < 20) [[unlikely]]
            return DropReason::bad_ip_header_len;
        total = load_be16(data + 2);
        if (total > len || total < 20) [[unlikely]]
            return DropReason::bad_ip_length;
        if (ihl > total) [[unlikely]]
            return DropReason::bad_ip_header_len;
        const uint16_t fo = load_be16(data + 6);
        frag = (fo & (net::kIpv4FlagMf | net::kIpv4OffsetMask)) != 0;
        first_frag = (fo & net::kIpv4OffsetMask) == 0;
        nh = data[9];
        nh_off = 9;
        off = ihl;
    } else if (version == 6) {
        if (len < 40) [[unlikely]]
            return DropReason::truncated;
        total = 40u + load_be16(data + 4);
        if (total > len) [[unlikely]]
            return DropReason::bad_ip_length;
        nh = data[6];
        nh_off = 6;
        off = 40;
        for (int i = 0;; ++i) {
            if (nh == net::kProtoHopByHop || nh == net::kProtoRouting || nh == net::kProtoDestOpts ||
                nh == net::kProtoFragment) {
                if (i == kMaxExtHeaders || off + 8 > total) [[unlikely]]
                    return DropReason::bad_ext_header;
                const uint32_t hlen =
                    nh == net::kProtoFragment ? 8 : (uint32_t{data[off + 1]} + 1) * 8;
                if (off + hlen > total) [[unlikely]]
                    return DropReason::bad_ext_header;
                if (nh == net::kProtoFragment) {
                    const uint16_t fo = load_be16(data + off + 2);
                    frag = true;
                    first_frag = (fo & 0xfff8) == 0;
                }
                nh_off = off;
                nh = data[off];
                off += hlen;
                continue;
            }
            break;
        }
    } else {
        return DropReason::bad_ip_version;
    }
    out.ip_version = version;
    out.ip_len = total;
    out.l4_proto = nh;
    out.nh_off = static_cast<uint16_t>(nh_off);
    out.l4_off = static_cast<uint16_t>(off);

    if (nh == net::kProtoEsp) {
        // RFC 4303 §3.1: ESP applies to whole datagrams; fragments need reassembly first.
        if (frag) [[unlikely]]
            return DropReason::fragment;
        if (off + 8 > total) [[unlikely]]
            return DropReason::truncated;
        out.kind = PacketKind::esp;
        out.esp_off = static_cast<uint16_t>(off);
        out.spi = load_be32(data + off);
        return DropReason::none;
    }
    if (nh != net::kProtoUdp) return DropReason::none;
    if (frag && !first_frag) return DropReason::none;  // no ports to look at: plain IP
    if (off + 8 > total) [[unlikely]]
        return frag ? DropReason::none : DropReason::truncated;
    const uint16_t dport = load_be16(data + off + 2);
    if (dport != nat_t_port && dport != net::kPortIke) return DropReason::none;
    if (frag) [[unlikely]]
        return DropReason::fragment;
    const uint32_t udp_len = load_be16(data + off + 4);
    if (udp_len < 8 || off + udp_len != total) [[unlikely]]
        return DropReason::bad_udp_length;
    out.udp_src_port = load_be16(data + off);
    const uint32_t pay = off + 8;
    const uint32_t plen = udp_len - 8;
    if (dport == nat_t_port) {
        // RFC 3948 §2.2/§2.3: keepalive, non-ESP marker (IKE), else ESP.
        if (plen == 1 && data[pay] == 0xff) {
            out.kind = PacketKind::nat_keepalive;
            out.esp_off = static_cast<uint16_t>(pay);
            return DropReason::none;
        }
        if (plen >= 4 && load_be32(data + pay) == 0) {
            out.kind = PacketKind::ike_nat_t;
            out.esp_off = static_cast<uint16_t>(pay + 4);
            return DropReason::none;
        }
        if (plen < 8) [[unlikely]]
            return DropReason::truncated;
        out.kind = PacketKind::esp_in_udp;
        out.esp_off = static_cast<uint16_t>(pay);
        out.spi = load_be32(data + pay);
        return DropReason::none;
    }
    out.kind = PacketKind::ike;
    out.esp_off = static_cast<uint16_t>(pay);
    return DropReason::none;
}

}  // namespace espgw::esp
