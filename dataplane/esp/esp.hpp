#pragma once
// The ESP transform (RFC 4303, RFC 3948 UDP encapsulation, RFC 6040 ECN): per-packet
// functions the dataplane workers and the test tools call on contiguous buffers. No
// DPDK, no allocation, no exceptions, no locks.
//
// Burst pattern (VPP / ipsec-secgw style):
//   outbound: for each pkt  outbound_prepare(sa, st, pkt, op[i], scratch[i])
//             engine.encrypt(ops)
//             for each pkt  outbound_finish(sa, pkt, op[i].status, scratch[i])
//   inbound:  for each pkt  classify(...) -> SPI -> SA lookup
//                           inbound_prepare(sa, st, pkt, cls, op[i], scratch[i])   // replay CHECK
//             engine.decrypt(ops)
//             for each pkt  inbound_finish(sa, st, pkt, op[i].status, scratch[i])  // replay ADVANCE, decap
// A packet that prepare drops must not be passed to the engine nor to finish. The op
// and the scratch must stay in place (not moved) between prepare and finish: the op
// points into the scratch.

#include <cstdint>

#include "crypto/op.hpp"
#include "dataplane/esp/classify.hpp"
#include "dataplane/esp/drop_reason.hpp"
#include "dataplane/esp/replay.hpp"
#include "dataplane/esp/sa.hpp"

namespace espgw::esp {

/// Bytes the outbound transform may add before the packet, worst case: outer IPv6
/// (40) + UDP (8) + ESP header (8) + CBC IV (16).
inline constexpr uint32_t kMaxHeadroomBytes = 72;
/// Bytes it may add after the packet, worst case: padding (15, CBC) + pad length +
/// next header (2) + ICV (32, HMAC-SHA-512-256).
inline constexpr uint32_t kMaxTailroomBytes = 49;
inline constexpr uint32_t kMaxOverheadBytes = kMaxHeadroomBytes + kMaxTailroomBytes;

/// A contiguous packet. `data` points at the IP header; the buffer is
/// [data - headroom, data + len + tailroom). The transform moves data/len and adjusts
/// headroom/tailroom to match; the caller then syncs its mbuf (data_off += data
/// moved, pkt_len = data_len = len). Nothing outside the buffer is ever touched.
struct PacketBuf {
    uint8_t* data;
    uint32_t len;
    uint32_t headroom;
    uint32_t tailroom;
};

/// Per-packet scratch for one burst slot, owned by the caller (e.g. an array beside
/// the op array). Holds what does not fit in the packet: the ESN AAD, a copy of the
/// received ICV, bytes saved under in-place tricks, offsets for finish.
struct alignas(16) PacketScratch {
    uint8_t icv[32];      ///< inbound HMAC+ESN: received ICV (its slot carries seq_hi)
    uint8_t aad[12];      ///< AEAD+ESN: SPI || seq_hi || seq_lo (RFC 4106 §5, RFC 7634 §2.1)
    uint8_t saved[4];     ///< GMAC+ESN: the 4 bytes before the ESP header (restored in finish)
    uint64_t seq;         ///< full 64-bit sequence number of this packet
    uint32_t payload_len; ///< inbound: ciphertext bytes (payload + padding + trailer)
    uint16_t esp_off;     ///< inbound: ESP header offset from the IP header
    uint16_t l4_off;      ///< inbound: first byte after the IP header (+ ext headers)
    uint16_t nh_off;      ///< inbound: offset of the protocol / next header byte
    uint8_t ip_version;   ///< inbound: outer version
    uint8_t flags;        ///< internal
};

/// Outbound, step 1. Checks the packet (an IP packet at pkt.data), takes the next
/// sequence number, writes the outer/ESP/UDP headers, IV, padding and trailer, and
/// fills `op` for engine.encrypt(). pkt then covers the whole ESP packet (ICV bytes
/// written by the engine). On a drop, pkt and st.seq are unchanged except that
/// seq_overflow is sticky. Owning worker of the SA only.
/// Drops: truncated, bad_ip_version, bad_ip_header_len, bad_ip_length, fragment
/// (transport mode), no_headroom, no_tailroom, too_big, seq_overflow.
DropReason outbound_prepare(const OutboundSa& sa, OutboundState& st, PacketBuf& pkt,
                            crypto::Op& op, PacketScratch& scratch) noexcept;

/// Outbound, step 2, after the engine: restores any in-place AAD trick (GMAC+ESN)
/// and fills the IPv6 UDP checksum (NAT-T over IPv6, RFC 8200 §8.1). Returns none, or
/// crypto_error when `status` is not ok (the caller drops the packet).
DropReason outbound_finish(const OutboundSa& sa, PacketBuf& pkt, crypto::OpStatus status,
                           PacketScratch& scratch) noexcept;

/// Inbound, step 1. `cls` is classify()'s result for this packet (kind esp or
/// esp_in_udp). Trims link padding, checks SPI/encapsulation/lengths, reconstructs
/// the 64-bit sequence number and CHECKS the replay window (read-only, RFC 4303
/// §3.4.3: before the ICV), fills `op` for engine.decrypt(). Owning worker only.
/// Drops: not_esp, wrong_spi, encap_mismatch, truncated, bad_alignment, seq_zero,
/// replay_old, replay_duplicate.
DropReason inbound_prepare(const InboundSa& sa, const InboundState& st, PacketBuf& pkt,
                           const Classification& cls, crypto::Op& op,
                           PacketScratch& scratch) noexcept;

/// Inbound, step 2, after the engine. On ICV ok re-checks and ADVANCES the replay
/// window, validates padding (RFC 4303 §2.4) and next header, and decapsulates:
/// tunnel mode leaves the inner packet at pkt.data (TFC padding trimmed, ECN combined
/// per RFC 6040 §4.2); transport mode rebuilds the IP header in front of the payload.
/// Drops: icv_mismatch, crypto_error, replay_*, bad_pad_length, bad_padding,
/// bad_next_header, tfc_dummy, inner_family_mismatch, inner_truncated, ecn_ce_not_ect.
/// On a drop the buffer content is unspecified. Owning worker only.
DropReason inbound_finish(const InboundSa& sa, InboundState& st, PacketBuf& pkt,
                          crypto::OpStatus status, PacketScratch& scratch) noexcept;

}  // namespace espgw::esp
