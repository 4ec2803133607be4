#include "crypto/gcm_native.hpp"

#include <cpuid.h>
#include <immintrin.h>

#include <cstring>

#include "crypto/secret.hpp"

// GCC 12 flags the deliberately undefined pass-through operand of the AVX-512
// broadcast intrinsics (_mm512_undefined_epi32) as (maybe-)uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// Compiled for VAES/AVX-512 whatever -march says; callers check available().
#define ESPGW_GCM_TARGET \
    __attribute__((target("aes,pclmul,ssse3,sse4.1,avx2,avx512f,avx512bw,avx512vl,vaes,vpclmulqdq")))
#define ESPGW_GCM_INLINE ESPGW_GCM_TARGET inline __attribute__((always_inline))

namespace espgw::crypto::gcm_native {

namespace {

ESPGW_GCM_INLINE __m128i bswap(__m128i x) {
    return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

// Byte reversal of each 16-byte lane.
ESPGW_GCM_INLINE __m512i bswap4(__m512i x) {
    return _mm512_shuffle_epi8(x, _mm512_broadcast_i32x4(_mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                                                      14, 15)));
}

ESPGW_GCM_INLINE __m128i key(const uint8_t* rk, int r) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rk + 16 * r));
}

// Unreduced 256-bit carry-less product (sum), as low, middle (cross terms), high.
struct Product {
    __m128i lo, mid, hi;
};

ESPGW_GCM_INLINE void mul_add(Product& p, __m128i a, __m128i b) {
    p.lo = _mm_xor_si128(p.lo, _mm_clmulepi64_si128(a, b, 0x00));
    p.hi = _mm_xor_si128(p.hi, _mm_clmulepi64_si128(a, b, 0x11));
    p.mid = _mm_ternarylogic_epi64(p.mid, _mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10), 0x96);
}

// Reduction modulo the GCM polynomial (reflected: x^128 + x^127 + x^126 + x^121 + 1)
// in two shift-and-xor phases; linear, so one reduction serves a sum of products.
ESPGW_GCM_INLINE __m128i reduce(const Product& p) {
    __m128i lo = _mm_xor_si128(p.lo, _mm_slli_si128(p.mid, 8));
    __m128i hi = _mm_xor_si128(p.hi, _mm_srli_si128(p.mid, 8));
    __m128i t = _mm_slli_epi64(lo, 1);
    t = _mm_xor_si128(t, lo);
    t = _mm_slli_epi64(t, 5);
    t = _mm_xor_si128(t, lo);
    t = _mm_slli_epi64(t, 57);
    lo = _mm_xor_si128(lo, _mm_slli_si128(t, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(t, 8));
    __m128i u = _mm_srli_epi64(lo, 5);
    u = _mm_xor_si128(u, lo);
    u = _mm_srli_epi64(u, 1);
    u = _mm_xor_si128(u, lo);
    u = _mm_srli_epi64(u, 1);
    return _mm_ternarylogic_epi64(hi, u, lo, 0x96);
}

ESPGW_GCM_INLINE __m128i fold4(__m512i x) {
    const __m256i y = _mm256_xor_si256(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));
    return _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
}

// Four lanes of carry-less products added to 4-lane accumulators.
ESPGW_GCM_INLINE void mul_add4(__m512i& lo, __m512i& mid, __m512i& hi, __m512i c, __m512i h) {
    lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128(c, h, 0x00));
    hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128(c, h, 0x11));
    mid = _mm512_ternarylogic_epi64(mid, _mm512_clmulepi64_epi128(c, h, 0x01), _mm512_clmulepi64_epi128(c, h, 0x10),
                                    0x96);
}

// One block through AES-R.
template <int R>
ESPGW_GCM_INLINE __m128i aes1(const uint8_t* rk, __m128i x) {
    x = _mm_xor_si128(x, key(rk, 0));
#pragma GCC unroll 14
    for (int r = 1; r < R; ++r) x = _mm_aesenc_si128(x, key(rk, r));
    return _mm_aesenclast_si128(x, key(rk, R));
}

ESPGW_GCM_INLINE __mmask64 byte_mask(size_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

// P packets of at most 64 * G bytes each (G groups of 4 blocks), every stage
// interleaved across the packets.
template <int P, int G, int R, bool kEnc>
ESPGW_GCM_TARGET void batch_r(const Job* jb) noexcept {
    __m128i e[P], a[P];
    __m512i ks[P][G], x[P][G];
    __mmask64 m[P][G];
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) {
        const Job& j = jb[p];
        uint32_t s, i0, i1;
        std::memcpy(&s, j.salt, 4);
        std::memcpy(&i0, j.iv, 4);
        std::memcpy(&i1, j.iv + 4, 4);
        e[p] = _mm_set_epi32(0x01000000, static_cast<int>(i1), static_cast<int>(i0), static_cast<int>(s));  // J0
        const __m512i ctr = _mm512_add_epi32(_mm512_broadcast_i32x4(bswap(e[p])),
                                             _mm512_set_epi32(0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1));
        const __m512i k0 = _mm512_broadcast_i32x4(key(j.round_keys, 0));
#pragma GCC unroll 2
        for (int g = 0; g < G; ++g) {
            const __m512i c = g == 0 ? ctr : _mm512_add_epi32(ctr, _mm512_maskz_set1_epi32(0x1111, 4 * g));
            ks[p][g] = _mm512_xor_si512(bswap4(c), k0);
            m[p][g] = byte_mask(j.len > 64u * g ? j.len - 64u * g : 0);
            x[p][g] = _mm512_maskz_loadu_epi8(m[p][g], j.data + 64 * g);
        }
        a[p] = bswap(_mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << j.aad_len) - 1), j.aad));
        e[p] = _mm_xor_si128(e[p], key(j.round_keys, 0));
    }
#pragma GCC unroll 14
    for (int r = 1; r <= R; ++r) {  // unrolled: r < R folds away
#pragma GCC unroll 4
        for (int p = 0; p < P; ++p) {
            const __m128i k = key(jb[p].round_keys, r);
            const __m512i k4 = _mm512_broadcast_i32x4(k);
            e[p] = r < R ? _mm_aesenc_si128(e[p], k) : _mm_aesenclast_si128(e[p], k);
#pragma GCC unroll 2
            for (int g = 0; g < G; ++g)
                ks[p][g] = r < R ? _mm512_aesenc_epi128(ks[p][g], k4) : _mm512_aesenclast_epi128(ks[p][g], k4);
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) {
        const Job& j = jb[p];
        const auto* h = reinterpret_cast<const __m128i*>(j.hk->h);
        const uint32_t n = (j.len + 15) / 16;
        const __m128i lens = _mm_set_epi64x(static_cast<long long>(j.aad_len) * 8, static_cast<long long>(j.len) * 8);
        Product q{_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
        mul_add(q, a[p], _mm_load_si128(h + slot_of(n + 2)));
        mul_add(q, lens, _mm_load_si128(h + slot_of(1)));
        __m512i lo = _mm512_setzero_si512(), mid = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int g = 0; g < G; ++g) {
            const __m512i y = _mm512_xor_si512(x[p][g], ks[p][g]);
            _mm512_mask_storeu_epi8(j.data + 64 * g, m[p][g], y);
            const __m512i c = bswap4(kEnc ? _mm512_maskz_mov_epi8(m[p][g], y) : x[p][g]);
            mul_add4(lo, mid, hi, c, _mm512_loadu_si512(h + slot_of(n + 1) + 4 * g));
        }
        q.lo = _mm_xor_si128(q.lo, fold4(lo));
        q.mid = _mm_xor_si128(q.mid, fold4(mid));
        q.hi = _mm_xor_si128(q.hi, fold4(hi));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(j.tag), _mm_xor_si128(e[p], bswap(reduce(q))));
    }
}

template <int G, int R, bool kEnc>
void batch_n(const Job* jobs, uint32_t n) noexcept {
    switch (n) {
        case 1: batch_r<1, G, R, kEnc>(jobs); break;
        case 2: batch_r<2, G, R, kEnc>(jobs); break;
        case 3: batch_r<3, G, R, kEnc>(jobs); break;
        default: batch_r<4, G, R, kEnc>(jobs); break;
    }
}

template <int G>
void batch_g(const Job* jobs, uint32_t n, uint32_t rounds, bool encrypt) noexcept {
    if (rounds == 10) {
        if (encrypt)
            batch_n<G, 10, true>(jobs, n);
        else
            batch_n<G, 10, false>(jobs, n);
    } else {
        if (encrypt)
            batch_n<G, 14, true>(jobs, n);
        else
            batch_n<G, 14, false>(jobs, n);
    }
}

}  // namespace

void crypt_batch(const Job* jobs, uint32_t n, uint32_t rounds, bool encrypt, uint32_t groups) noexcept {
    if (n == 0) return;
    if (groups == 1)
        batch_g<1>(jobs, n, rounds, encrypt);
    else
        batch_g<2>(jobs, n, rounds, encrypt);
}

bool available() noexcept {
    // VAES and VPCLMULQDQ from CPUID leaf 7 (ECX bits 9 and 10): not every compiler's
    // __builtin_cpu_supports knows them. The AVX-512 checks include the OS's support.
    static const bool ok = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") &&
               __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && (c >> 9 & 1) != 0 && (c >> 10 & 1) != 0;
    }();
    return ok;
}

ESPGW_GCM_TARGET void init(const uint8_t* round_keys, uint32_t rounds, HashKeys& out) noexcept {
    __m128i h = rounds == 10 ? aes1<10>(round_keys, _mm_setzero_si128()) : aes1<14>(round_keys, _mm_setzero_si128());
    h = bswap(h);
    // H·x: the reflected value shifted left one bit, the bit shifted out folded back
    // with the polynomial (bits 127, 126, 121 and 0).
    alignas(16) uint64_t q[2];
    _mm_store_si128(reinterpret_cast<__m128i*>(q), h);
    const uint64_t carry = q[1] >> 63;
    const uint64_t lo = (q[0] << 1) | carry;
    const uint64_t hi = ((q[1] << 1) | (q[0] >> 63)) ^ (carry ? 0xc200000000000000ull : 0);
    const __m128i h1 = _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo));
    // H^(i+1)·x = (H^i·x)·(H·x)·x^-1: the multiply of one stored power by another.
    __m128i p = h1;
    std::memset(out.h, 0, sizeof out.h);
    for (uint32_t i = 1; i <= kTopPower; ++i) {
        _mm_store_si128(reinterpret_cast<__m128i*>(out.h[slot_of(i)]), p);
        Product pr{_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
        mul_add(pr, p, h1);
        p = reduce(pr);
    }
    secure_wipe(q, sizeof q);
}

}  // namespace espgw::crypto::gcm_native
