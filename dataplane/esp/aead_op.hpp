#pragma once
// Internal to dataplane/esp: the AEAD/GMAC half of an engine Op, identical for both
// directions because the ICV covers the same bytes either way.

#include <cstring>

#include "dataplane/esp/esp.hpp"

namespace espgw::esp::detail {

/// PacketScratch::flags bit: the 4 bytes before the ESP header are borrowed for the
/// GMAC+ESN AAD while the engine runs (restore_gmac_esn puts them back).
inline constexpr uint8_t kScratchGmacEsn = 1;

/// Points `op` at the AAD and payload of an AEAD or GMAC packet whose ESP header is
/// at `esp` and whose payload (after the 8-byte IV) is `ct`/`ct_len`. `flags` and
/// `spi` are the SA's; `seq` is the full 64-bit sequence number.
///   AEAD (RFC 4106 §5, RFC 7634 §2.1): AAD = SPI || seq, or SPI || seq_hi || seq_lo
///     (built in scratch) with ESN.
///   GMAC (RFC 4543 §3.3): everything from the SPI to the trailer is AAD; with ESN
///     seq_hi sits between SPI and seq_lo, so the SPI is moved 4 bytes forward into
///     borrowed headroom for the duration of the engine call.
inline void set_aead_op(uint8_t sa_flags, uint32_t spi, uint8_t* esp, uint8_t* ct,
                        uint32_t ct_len, uint64_t seq, crypto::Op& op,
                        PacketScratch& scratch) noexcept {
    const bool esn = sa_flags & kSaEsn;
    const uint32_t seq_hi = static_cast<uint32_t>(seq >> 32);
    op.auth = nullptr;
    op.auth_len = 0;
    op.data = ct;
    if (sa_flags & kSaGmac) {
        op.data_len = 0;
        if (esn) {
            std::memcpy(scratch.saved, esp - 4, 4);
            net::store_be32(esp - 4, spi);
            net::store_be32(esp, seq_hi);
            op.aad = esp - 4;
            op.aad_len = 12 + 8 + ct_len;
            scratch.flags |= kScratchGmacEsn;
        } else {
            op.aad = esp;
            op.aad_len = 8 + 8 + ct_len;
        }
        return;
    }
    op.data_len = ct_len;
    if (esn) {
        net::store_be32(scratch.aad, spi);
        net::store_be32(scratch.aad + 4, seq_hi);
        net::store_be32(scratch.aad + 8, static_cast<uint32_t>(seq));
        op.aad = scratch.aad;
        op.aad_len = 12;
    } else {
        op.aad = esp;
        op.aad_len = 8;
    }
}

/// Undoes set_aead_op's GMAC+ESN borrow, if it made one.
inline void restore_gmac_esn(uint32_t spi, uint8_t* esp, const PacketScratch& scratch) noexcept {
    if (scratch.flags & kScratchGmacEsn) {
        std::memcpy(esp - 4, scratch.saved, 4);
        net::store_be32(esp, spi);
    }
}

}  // namespace espgw::esp::detail
