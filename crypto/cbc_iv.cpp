#include "crypto/cbc_iv.hpp"

#include <immintrin.h>

namespace espgw::crypto {

// intel-ipsec-mb stores the expanded encryption key as the plain sequence of round
// keys (11 for AES-128, 15 for AES-256), which is what AESENC consumes.
__attribute__((target("aes,sse2"))) void cbc_iv_aesni(const Session& s, uint64_t seed,
                                                       uint8_t out[16]) noexcept {
    alignas(16) uint8_t block[16];
    cbc_iv_block(seed, block);
    const int rounds = s.suite.cipher == Cipher::aes_cbc_256 ? 14 : 10;
    const auto* rk = reinterpret_cast<const __m128i*>(s.mb.aes.enc);
    __m128i x = _mm_xor_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(block)),
                              _mm_load_si128(rk));
    for (int r = 1; r < rounds; ++r) x = _mm_aesenc_si128(x, _mm_load_si128(rk + r));
    x = _mm_aesenclast_si128(x, _mm_load_si128(rk + rounds));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), x);
}

}  // namespace espgw::crypto
