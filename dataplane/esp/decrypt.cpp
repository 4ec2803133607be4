// Inbound ESP: RFC 4303 §3.4 (processing order: replay check, ICV, replay update,
// decrypt, padding), §2.4 (padding), §2.6 (dummy packets), §2.7 (TFC padding),
// Appendix A (ESN), RFC 3948 §3.1.2 (transport mode checksum after NAT),
// RFC 6040 §4.2 (ECN on decapsulation).
#include <array>
#include <cstring>

#include "dataplane/esp/aead_op.hpp"
#include "dataplane/esp/esp.hpp"
#include "dataplane/net/checksum.hpp"

namespace espgw::esp {

using net::load_be16;
using net::load_be32;
using net::store_be16;
using net::store_be32;

namespace {
constexpr uint8_t kScratchHmacEsn = 2;  // the ICV slot holds seq_hi; the ICV is in scratch.icv
constexpr uint8_t kScratchUdp = 4;      // arrived in UDP (RFC 3948)

// RFC 6040 §4.2, normal mode: combines outer ECN into the inner ECN. Returns false
// when the packet must be dropped (outer CE over Not-ECT inner).
bool ecn_decap(uint8_t inner, uint8_t outer, uint8_t* result) noexcept {
    *result = inner;
    if (outer == net::kEcnCe) {
        if (inner == net::kEcnNotEct) return false;
        *result = net::kEcnCe;
    } else if (outer == net::kEcnEct1 && inner == net::kEcnEct0) {
        *result = net::kEcnEct1;
    }
    return true;
}

// RFC 3948 §3.1.2: after transport mode decapsulation behind a NAT, the TCP/UDP
// checksum was computed over the peer's original addresses. We recompute it in full
// over the addresses as received (we do not keep NAT-OA), so the packet passes any
// later checksum verification. IPv4 UDP checksum 0 (none) is left as is.
void fix_l4_checksum(uint8_t* ip, uint8_t version, uint8_t proto, uint8_t* l4,
                     uint32_t l4_len) noexcept {
    const uint8_t* src = ip + (version == 4 ? 12 : 8);
    const uint8_t* dst = ip + (version == 4 ? 16 : 24);
    uint32_t csum_off;
    if (proto == net::kProtoTcp && l4_len >= 20) {
        csum_off = 16;
    } else if (proto == net::kProtoUdp && l4_len >= 8) {
        if (version == 4 && load_be16(l4 + 6) == 0) return;
        csum_off = 6;
    } else {
        return;
    }
    store_be16(l4 + csum_off, 0);
    uint16_t c = net::l4_checksum(version, src, dst, proto, l4, l4_len);
    if (proto == net::kProtoUdp && c == 0) c = 0xffff;
    store_be16(l4 + csum_off, c);
}
// The padding check's tables: for p padding bytes, the mask of the top p bytes of a
// little-endian 8-byte word and the value 1, 2, ..., p placed there.
constexpr std::array<uint64_t, 9> pad_tables(bool mask) {
    std::array<uint64_t, 9> t{};
    for (uint32_t p = 0; p <= 8; ++p) {
        uint64_t m = 0, v = 0;
        for (uint32_t i = 0; i < p; ++i) {
            const uint32_t byte = 8 - p + i;  // little-endian position of pad byte i
            m |= uint64_t{0xff} << (byte * 8);
            v |= uint64_t{i + 1} << (byte * 8);
        }
        t[p] = mask ? m : v;
    }
    return t;
}
constexpr std::array<uint64_t, 9> kPadMask = pad_tables(true);
constexpr std::array<uint64_t, 9> kPadExpect = pad_tables(false);

// The SA shape inbound_prepare/finish compile a branch-free body for: tunnel mode,
// AEAD (GCM, ChaCha20-Poly1305), no ESN; UDP-4500 or not. Others: the general body.
constexpr uint8_t kFastMask = kSaTunnel | kSaHmac | kSaGmac | kSaEsn;
constexpr uint8_t kFastFlags = kSaTunnel;

template <bool kFast>
inline DropReason prepare(const InboundSa& sa, const InboundState& st, PacketBuf& pkt, const Classification& cls,
                          crypto::Op& op, PacketScratch& scratch) noexcept {
    const bool udp = cls.kind == PacketKind::esp_in_udp;
    if (cls.kind != PacketKind::esp && !udp) [[unlikely]]
        return DropReason::not_esp;
    if (udp != ((sa.flags & kSaUdpEncap) != 0)) [[unlikely]]
        return DropReason::encap_mismatch;
    if (cls.spi != sa.spi) [[unlikely]]
        return DropReason::wrong_spi;
    if (cls.ip_len > pkt.len || cls.esp_off > cls.ip_len) [[unlikely]]
        return DropReason::bad_ip_length;
    const uint32_t len = cls.ip_len;  // link padding beyond the IP length is ignored
    uint8_t* const esp = pkt.data + cls.esp_off;
    const uint32_t esp_len = len - cls.esp_off;
    const uint32_t esp_hdr_len = 8u + sa.iv_bytes;
    // At least one aligned block of payload + trailer (RFC 4303 §2.4: >= 4 bytes).
    if (esp_len < esp_hdr_len + sa.icv_bytes + 4u) [[unlikely]]
        return DropReason::truncated;
    const uint32_t ct_len = esp_len - esp_hdr_len - sa.icv_bytes;
    if ((ct_len & (sa.block_bytes - 1u)) != 0) [[unlikely]]  // block: 4 or 16
        return DropReason::bad_alignment;

    const bool esn = !kFast && (sa.flags & kSaEsn);
    uint64_t seq;
    // RFC 4303 §3.4.3: check the window before the ICV; advance it only after.
    const DropReason r = st.window.check(load_be32(esp + 4), esn, &seq);
    if (r != DropReason::none) [[unlikely]]
        return r;

    pkt.tailroom += pkt.len - len;
    pkt.len = len;
    scratch.seq = seq;
    scratch.payload_len = ct_len;
    scratch.esp_off = cls.esp_off;
    scratch.l4_off = cls.l4_off;
    scratch.nh_off = cls.nh_off;
    scratch.ip_version = cls.ip_version;
    scratch.flags = udp ? kScratchUdp : 0;

    uint8_t* const iv = esp + 8;
    uint8_t* const ct = iv + sa.iv_bytes;
    uint8_t* const icv = ct + ct_len;
    const uint32_t seq_hi = static_cast<uint32_t>(seq >> 32);
    op.session = &sa.session;
    op.iv = iv;
    op.iv_seed = 0;
    op.icv = icv;
    op.status = crypto::OpStatus::ok;
    if (!kFast && (sa.flags & kSaHmac)) {
        op.data = ct;
        op.data_len = ct_len;
        op.aad = nullptr;
        op.aad_len = 0;
        op.auth = esp;
        op.auth_len = esp_hdr_len + ct_len;
        if (esn) {
            // RFC 4303 §3.3.2.1: hash seq_hi after the payload. The received ICV moves to
            // scratch (the engine needs it apart from `auth`); its slot carries seq_hi.
            std::memcpy(scratch.icv, icv, sa.icv_bytes);
            store_be32(icv, seq_hi);
            op.auth_len += 4;
            op.icv = scratch.icv;
            scratch.flags |= kScratchHmacEsn;
        }
    } else {
        detail::set_aead_op(kFast ? uint8_t{0} : sa.flags, sa.spi, esp, ct, ct_len, seq, op, scratch);
    }
    return DropReason::none;
}

template <bool kFast>
inline DropReason finish(const InboundSa& sa, InboundState& st, PacketBuf& pkt, crypto::OpStatus status,
                         PacketScratch& scratch) noexcept {
    uint8_t* const data = pkt.data;
    uint8_t* const esp = data + scratch.esp_off;
    uint8_t* const ct = esp + 8 + sa.iv_bytes;
    const uint32_t ct_len = scratch.payload_len;
    if (!kFast) {
        detail::restore_gmac_esn(sa.spi, esp, scratch);
        if (scratch.flags & kScratchHmacEsn) std::memcpy(ct + ct_len, scratch.icv, sa.icv_bytes);
    }
    if (status != crypto::OpStatus::ok) [[unlikely]]
        return status == crypto::OpStatus::auth_failed ? DropReason::icv_mismatch
                                                       : DropReason::crypto_error;
    // RFC 4303 §3.4.3: the ICV verified, so the window may move. Re-check: an earlier
    // packet of this burst may have taken the same number.
    const DropReason r = st.window.check_and_advance(scratch.seq);
    if (r != DropReason::none) [[unlikely]]
        return r;

    // RFC 4303 §2.4: Pad Length, Next Header, and padding 1, 2, 3, ...
    const uint32_t pad_len = ct[ct_len - 2];
    const uint8_t next_header = ct[ct_len - 1];
    if (pad_len + 2 > ct_len) [[unlikely]]
        return DropReason::bad_pad_length;
    const uint8_t* const pad = ct + ct_len - 2 - pad_len;
    if (pad_len <= 8) [[likely]] {
        // One 8-byte load ending at the padding's end (the ESP header and IV lie before
        // the payload, so it stays inside the packet): its top pad_len bytes must read
        // 1, 2, ..., pad_len.
        uint64_t w;
        std::memcpy(&w, pad + pad_len - 8, 8);
        if ((w & kPadMask[pad_len]) != kPadExpect[pad_len]) [[unlikely]]
            return DropReason::bad_padding;
    } else {
        uint8_t bad = 0;
        for (uint32_t i = 0; i < pad_len; ++i) bad |= static_cast<uint8_t>(pad[i] ^ (i + 1));
        if (bad) [[unlikely]]
            return DropReason::bad_padding;
    }
    // RFC 4303 §2.6: dummy packets are discarded silently.
    if (next_header == net::kProtoNoNext) [[unlikely]]
        return DropReason::tfc_dummy;
    const uint32_t inner_len = ct_len - 2 - pad_len;
    uint8_t* const end = data + pkt.len;

    if (kFast || (sa.flags & kSaTunnel)) {
        uint8_t* const inner = ct;
        uint32_t tot;
        uint8_t inner_tos;
        if (next_header == net::kProtoIpv4) {
            if (inner_len < 20) [[unlikely]]
                return DropReason::inner_truncated;
            if ((inner[0] >> 4) != 4) [[unlikely]]
                return DropReason::inner_family_mismatch;
            const uint32_t ihl = (inner[0] & 0x0fu) * 4;
            tot = load_be16(inner + 2);
            if (ihl < 20 || tot < ihl || tot > inner_len) [[unlikely]]
                return DropReason::inner_truncated;
            inner_tos = inner[1];
        } else if (next_header == net::kProtoIpv6) {
            if (inner_len < 40) [[unlikely]]
                return DropReason::inner_truncated;
            if ((inner[0] >> 4) != 6) [[unlikely]]
                return DropReason::inner_family_mismatch;
            tot = 40u + load_be16(inner + 4);
            if (tot > inner_len) [[unlikely]]
                return DropReason::inner_truncated;
            inner_tos = net::ipv6_traffic_class(inner);
        } else [[unlikely]] {
            return DropReason::bad_next_header;
        }
        const uint8_t outer_tos = scratch.ip_version == 4 ? data[1] : net::ipv6_traffic_class(data);
        uint8_t ecn;
        if (!ecn_decap(inner_tos & net::kEcnMask, outer_tos & net::kEcnMask, &ecn)) [[unlikely]]
            return DropReason::ecn_ce_not_ect;
        if (ecn != (inner_tos & net::kEcnMask)) {
            const uint8_t tos = static_cast<uint8_t>((inner_tos & ~net::kEcnMask) | ecn);
            if (next_header == net::kProtoIpv4) {
                const uint16_t old_word = load_be16(inner);
                inner[1] = tos;
                store_be16(inner + 10, net::csum_update16(load_be16(inner + 10), old_word,
                                                          load_be16(inner)));
            } else {
                net::ipv6_set_traffic_class(inner, tos);
            }
        }
        // RFC 4303 §2.7: bytes after the inner packet's own length are TFC padding.
        pkt.headroom += static_cast<uint32_t>(inner - data);
        pkt.tailroom += static_cast<uint32_t>(end - (inner + tot));
        pkt.data = inner;
        pkt.len = tot;
    } else {
        // Transport: the IP header (and ext headers before ESP) moves up to the payload.
        const uint32_t hdr_len = scratch.l4_off;
        const uint32_t remove = static_cast<uint32_t>(ct - data) - hdr_len;
        data[scratch.nh_off] = next_header;
        uint8_t* const out = data + remove;
        std::memmove(out, data, hdr_len);
        const uint32_t new_len = hdr_len + inner_len;
        if (scratch.ip_version == 4) {
            store_be16(out + 2, static_cast<uint16_t>(new_len));
            net::ipv4_set_checksum(out);
        } else {
            store_be16(out + 4, static_cast<uint16_t>(new_len - 40));
        }
        if (scratch.flags & kScratchUdp)
            fix_l4_checksum(out, scratch.ip_version, next_header, out + hdr_len, inner_len);
        pkt.headroom += remove;
        pkt.tailroom += static_cast<uint32_t>(end - (out + new_len));
        pkt.data = out;
        pkt.len = new_len;
    }
    st.packets++;
    st.bytes += pkt.len;
    return DropReason::none;
}

}  // namespace

DropReason inbound_prepare(const InboundSa& sa, const InboundState& st, PacketBuf& pkt,
                           const Classification& cls, crypto::Op& op,
                           PacketScratch& scratch) noexcept {
    if ((sa.flags & kFastMask) == kFastFlags) [[likely]]
        return prepare<true>(sa, st, pkt, cls, op, scratch);
    return prepare<false>(sa, st, pkt, cls, op, scratch);
}

DropReason inbound_finish(const InboundSa& sa, InboundState& st, PacketBuf& pkt,
                          crypto::OpStatus status, PacketScratch& scratch) noexcept {
    if ((sa.flags & kFastMask) == kFastFlags) [[likely]]
        return finish<true>(sa, st, pkt, status, scratch);
    return finish<false>(sa, st, pkt, status, scratch);
}

}  // namespace espgw::esp
