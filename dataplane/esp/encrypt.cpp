// Outbound ESP: RFC 4303 §3.1 (placement), §2.4 (padding), §3.3 (sequence numbers,
// ESN), RFC 3948 §2.1 (UDP encapsulation), RFC 6040 §4.1 (ECN normal mode),
// RFC 4301 §5.1.2 (tunnel header construction).
#include <cstring>

#include "dataplane/esp/aead_op.hpp"
#include "dataplane/esp/esp.hpp"
#include "dataplane/net/checksum.hpp"

namespace espgw::esp {

using net::load_be16;
using net::store_be16;
using net::store_be32;
using net::store_be64;

namespace {
constexpr uint8_t kScratchUdp6 = 2;     // UDP over IPv6: checksum in finish
// RFC 4303 §2.4 default padding: 1, 2, 3, ... (at most 15 bytes with 16-byte blocks).
constexpr uint8_t kPadBytes[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

// Length of the IPv6 headers that must precede ESP in transport mode (RFC 4303
// §3.1.1: hop-by-hop, routing, fragment; destination options only when a routing
// header follows them). Returns 0 on a malformed chain; sets *fragment.
uint32_t ipv6_unfragmentable_len(const uint8_t* p, uint32_t len, uint32_t* nh_off,
                                 bool* fragment) noexcept {
    uint32_t off = 40;
    uint8_t nh = p[6];
    *nh_off = 6;
    for (int i = 0; i < 8; ++i) {
        if (nh == net::kProtoFragment) {
            *fragment = true;
            return off;
        }
        bool skip = nh == net::kProtoHopByHop || nh == net::kProtoRouting;
        if (nh == net::kProtoDestOpts && off + 8 <= len) {
            const uint32_t hlen = (uint32_t{p[off + 1]} + 1) * 8;
            skip = off + hlen + 1 <= len && p[off] == net::kProtoRouting;
        }
        if (!skip) return off;
        if (off + 8 > len) return 0;
        const uint32_t hlen = (uint32_t{p[off + 1]} + 1) * 8;
        if (off + hlen > len) return 0;
        *nh_off = off;
        nh = p[off];
        off += hlen;
    }
    return 0;
}
}  // namespace

namespace {

// The SA shapes outbound_prepare compiles a branch-free body for: tunnel mode, outer
// IPv4, AEAD (GCM, ChaCha20-Poly1305), no ESN, UDP-4500 or not; the inner packet IPv4.
// Everything else takes the general body (same source, flags read at run time).
constexpr uint8_t kFastMask = kSaTunnel | kSaOuterV6 | kSaHmac | kSaGmac | kSaEsn;
constexpr uint8_t kFastFlags = kSaTunnel;

template <bool kFast>
inline DropReason prepare(const OutboundSa& sa, OutboundState& st, PacketBuf& pkt, crypto::Op& op,
                          PacketScratch& scratch) noexcept {
    uint8_t* const in = pkt.data;
    if (pkt.len < 1) [[unlikely]]
        return DropReason::truncated;
    const uint8_t version = kFast ? 4 : in[0] >> 4;
    uint32_t len;  // IP length without link padding
    if (version == 4) {
        if (pkt.len < 20) [[unlikely]]
            return DropReason::truncated;
        const uint32_t ihl = (in[0] & 0x0fu) * 4;
        if (ihl < 20) [[unlikely]]
            return DropReason::bad_ip_header_len;
        len = load_be16(in + 2);
        if (len < ihl || len > pkt.len) [[unlikely]]
            return DropReason::bad_ip_length;
    } else if (version == 6) {
        if (pkt.len < 40) [[unlikely]]
            return DropReason::truncated;
        len = 40u + load_be16(in + 4);
        if (len > pkt.len) [[unlikely]]
            return DropReason::bad_ip_length;
    } else [[unlikely]] {
        return DropReason::bad_ip_version;
    }

    const bool tunnel = kFast || (sa.flags & kSaTunnel);
    const bool udp = sa.flags & kSaUdpEncap;
    const bool esn = !kFast && (sa.flags & kSaEsn);
    uint32_t hdr_len = 0;  // transport: IP header (+ ext headers) kept in front of ESP
    uint32_t nh_off = 0;
    uint8_t next_header;
    if (tunnel) {
        next_header = version == 4 ? net::kProtoIpv4 : net::kProtoIpv6;
    } else if (version == 4) {
        hdr_len = (in[0] & 0x0fu) * 4;
        // RFC 4303 §3.1: transport mode ESP applies to whole datagrams only.
        if (load_be16(in + 6) & (net::kIpv4FlagMf | net::kIpv4OffsetMask)) [[unlikely]]
            return DropReason::fragment;
        nh_off = 9;
        next_header = in[9];
    } else {
        bool fragment = false;
        hdr_len = ipv6_unfragmentable_len(in, len, &nh_off, &fragment);
        if (hdr_len == 0) [[unlikely]]
            return DropReason::bad_ext_header;
        if (fragment) [[unlikely]]
            return DropReason::fragment;
        next_header = in[nh_off];
    }

    const uint32_t payload_len = len - hdr_len;
    // RFC 4303 §2.4: payload + pad length + next header aligned to the block size
    // (4 or 16: a power of two, so a mask instead of two divisions per packet).
    const uint32_t pad = (0u - (payload_len + 2)) & (sa.block_bytes - 1u);
    const uint32_t ct_len = payload_len + pad + 2;
    const uint32_t esp_hdr_len = 8u + sa.iv_bytes;
    const uint32_t insert = sa.outer_hdr_bytes + esp_hdr_len;
    const uint32_t tail = pad + 2 + sa.icv_bytes;
    const uint32_t slack = pkt.len - len;  // link padding: becomes tailroom
    if (pkt.headroom < insert) [[unlikely]]
        return DropReason::no_headroom;
    if (pkt.tailroom + slack < tail) [[unlikely]]
        return DropReason::no_tailroom;
    const uint32_t new_len = len + insert + tail;
    const bool out_v6 = kFast ? false : tunnel ? (sa.flags & kSaOuterV6) != 0 : version == 6;
    if (new_len - (out_v6 ? 40u : 0u) > 0xffff) [[unlikely]]
        return DropReason::too_big;

    // RFC 4303 §3.3.3: the counter must not cycle; stop the SA (the control plane
    // rekeys well before). Sticky: st.seq stays at the limit.
    const uint64_t limit = esn ? ~uint64_t{0} : uint64_t{0xffffffffu};
    if (st.seq >= limit) [[unlikely]]
        return DropReason::seq_overflow;
    const uint64_t seq = ++st.seq;
    st.packets++;
    st.bytes += len;

    // Trailer (RFC 4303 §2.4: padding bytes 1, 2, 3, ...).
    uint8_t* trailer = in + len;
    if (pkt.tailroom + slack >= sizeof(kPadBytes)) [[likely]]
        std::memcpy(trailer, kPadBytes, sizeof(kPadBytes));  // one 16-byte store; pad < 16
    else
        for (uint32_t i = 0; i < pad; ++i) trailer[i] = static_cast<uint8_t>(i + 1);
    trailer[pad] = static_cast<uint8_t>(pad);
    trailer[pad + 1] = next_header;

    uint8_t* const out = in - insert;
    uint8_t* esp;
    uint8_t l4_ver = 0;
    uint32_t udp_off = 0;
    if (tunnel) {
        // Constant-size copies (a few moves each) for the usual outer headers.
        switch (sa.outer_hdr_bytes) {
            case 20: std::memcpy(out, sa.hdr_template, 20); break;
            case 28: std::memcpy(out, sa.hdr_template, 28); break;
            case 40: std::memcpy(out, sa.hdr_template, 40); break;
            default: std::memcpy(out, sa.hdr_template, 48); break;  // IPv6 + UDP
        }
        const uint8_t inner_tos = version == 4 ? in[1] : net::ipv6_traffic_class(in);
        // RFC 6040 §4.1 normal mode: copy ECN; DSCP copied or zeroed by config.
        const uint8_t tos = (sa.flags & kSaCopyDscp) ? inner_tos : (inner_tos & net::kEcnMask);
        uint32_t l3;
        if (!out_v6) {
            l3 = 20;
            out[1] = tos;
            store_be16(out + 2, static_cast<uint16_t>(new_len));
            // IPv4 ID: low 16 bits of the ESP sequence number, a per-SA counter
            // (RFC 6864 §4.1 uniqueness per source/destination/protocol).
            store_be16(out + 4, static_cast<uint16_t>(seq));
            bool df;
            if (sa.df == DfMode::set) df = true;
            else if (sa.df == DfMode::clear) df = false;
            else df = version == 6 || (load_be16(in + 6) & net::kIpv4FlagDf);
            const uint16_t frag = df ? net::kIpv4FlagDf : 0;
            store_be16(out + 6, frag);
            // Template sum plus the words that vary per packet (TOS, length, ID, flags).
            const uint32_t sum = sa.hdr_csum_partial + tos + new_len +
                                 static_cast<uint16_t>(seq) + frag;
            store_be16(out + 10, net::csum_fold(sum));
        } else {
            l3 = 40;
            net::ipv6_set_traffic_class(out, tos);
            store_be16(out + 4, static_cast<uint16_t>(new_len - 40));
        }
        udp_off = l3;
        l4_ver = out_v6 ? 6 : 4;
        esp = out + sa.outer_hdr_bytes;
    } else {
        std::memmove(out, in, hdr_len);
        if (udp) std::memcpy(out + hdr_len, sa.hdr_template, 8);
        const uint8_t proto = udp ? net::kProtoUdp : net::kProtoEsp;
        out[nh_off] = proto;
        if (version == 4) {
            store_be16(out + 2, static_cast<uint16_t>(new_len));
            net::ipv4_set_checksum(out);
        } else {
            store_be16(out + 4, static_cast<uint16_t>(new_len - 40));
        }
        udp_off = hdr_len;
        l4_ver = version;
        esp = out + hdr_len + (udp ? 8 : 0);
    }
    if (udp) {
        // RFC 3948 §2.1: UDP checksum 0 over IPv4; IPv6 needs one (finish).
        store_be16(out + udp_off + 4, static_cast<uint16_t>(new_len - udp_off));
        store_be16(out + udp_off + 6, 0);
    }

    store_be32(esp, sa.spi);
    store_be32(esp + 4, static_cast<uint32_t>(seq));
    uint8_t* const iv = esp + 8;
    uint8_t* const ct = iv + sa.iv_bytes;
    uint8_t* const icv = ct + ct_len;
    const uint32_t seq_hi = static_cast<uint32_t>(seq >> 32);

    scratch.seq = seq;
    scratch.flags = 0;
    scratch.esp_off = static_cast<uint16_t>(esp - out);
    scratch.l4_off = static_cast<uint16_t>(udp_off);
    scratch.ip_version = l4_ver;
    scratch.payload_len = ct_len;
    if (udp && l4_ver == 6) scratch.flags |= kScratchUdp6;

    op.session = &sa.session;
    op.iv = iv;
    op.iv_seed = seq;
    op.icv = icv;
    op.status = crypto::OpStatus::ok;
    if (!kFast && (sa.flags & kSaHmac)) {
        // CBC/NULL + HMAC (RFC 4303 §3.3.2.1). CBC: the engine writes the IV from iv_seed.
        op.data = ct;
        op.data_len = ct_len;
        op.aad = nullptr;
        op.aad_len = 0;
        op.auth = esp;
        op.auth_len = esp_hdr_len + ct_len;
        if (esn) {
            // RFC 4303 §3.3.2.1: seq_hi is hashed after the payload but not sent;
            // the ICV slot holds it until the engine writes the ICV over it.
            store_be32(icv, seq_hi);
            op.auth_len += 4;
        }
    } else {
        // AEAD / GMAC: IV = the 64-bit sequence number, unique per key (RFC 4106 §3.1,
        // RFC 7634 §2, RFC 4543 §3.1).
        store_be64(iv, seq);
        detail::set_aead_op(kFast ? uint8_t{0} : sa.flags, sa.spi, esp, ct, ct_len, seq, op, scratch);
    }

    pkt.data = out;
    pkt.headroom -= insert;
    pkt.tailroom = pkt.tailroom + slack - tail;
    pkt.len = new_len;
    return DropReason::none;
}

}  // namespace

DropReason outbound_prepare(const OutboundSa& sa, OutboundState& st, PacketBuf& pkt,
                            crypto::Op& op, PacketScratch& scratch) noexcept {
    if ((sa.flags & kFastMask) == kFastFlags && pkt.len >= 1 && (pkt.data[0] >> 4) == 4) [[likely]]
        return prepare<true>(sa, st, pkt, op, scratch);
    return prepare<false>(sa, st, pkt, op, scratch);
}

DropReason outbound_finish(const OutboundSa& sa, PacketBuf& pkt, crypto::OpStatus status,
                           PacketScratch& scratch) noexcept {
    uint8_t* const esp = pkt.data + scratch.esp_off;
    detail::restore_gmac_esn(sa.spi, esp, scratch);
    if (status != crypto::OpStatus::ok) [[unlikely]]
        return DropReason::crypto_error;
    if (scratch.flags & kScratchUdp6) {
        // RFC 8200 §8.1: UDP over IPv6 carries a real checksum.
        uint8_t* const u = pkt.data + scratch.l4_off;
        const uint32_t ulen = pkt.len - scratch.l4_off;
        uint16_t c = net::l4_checksum(6, pkt.data + 8, pkt.data + 24, net::kProtoUdp, u, ulen);
        if (c == 0) c = 0xffff;
        store_be16(u + 6, c);
    }
    return DropReason::none;
}

}  // namespace espgw::esp
