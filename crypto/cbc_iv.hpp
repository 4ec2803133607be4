#pragma once
// CBC IVs without an RNG on the hot path: NIST SP 800-38A Appendix C, first method —
// the forward cipher, under the SA's own key, of a nonce that never repeats for that
// key (the ESP sequence number). The result is unpredictable to anyone without the
// key, as RFC 3602 §2.1 requires. Internal to crypto/: both engines use one layout.

#include <cstdint>

#include "crypto/session.hpp"

namespace espgw::crypto {

/// The 16-byte block that is encrypted: 8 zero bytes, then the seed big-endian.
inline void cbc_iv_block(uint64_t seed, uint8_t out[16]) noexcept {
    for (int i = 0; i < 8; ++i) out[i] = 0;
    for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<uint8_t>(seed >> (56 - 8 * i));
}

/// Writes E_K(cbc_iv_block(seed)) to `out` using the session's expanded AES keys
/// (AES-NI). Any thread; the session is read only.
void cbc_iv_aesni(const Session& s, uint64_t seed, uint8_t out[16]) noexcept;

}  // namespace espgw::crypto
