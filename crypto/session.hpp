#pragma once
// Per-SA, per-direction crypto context: keys expanded once at SA install.
// Standard layout with no pointers, so it can live in shared memory (the SA tables
// of espgw-dp) and be read by any worker of any process. Immutable once built.

#include <intel-ipsec-mb.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "crypto/algorithm.hpp"

namespace espgw::crypto {

inline constexpr size_t kMaxEncKeyBytes = 32;
inline constexpr size_t kMaxAuthKeyBytes = 64;  // HMAC-SHA-512 key (RFC 4868)
inline constexpr size_t kMaxIcvBytes = 32;      // HMAC-SHA-512-256
inline constexpr size_t kSaltBytes = 4;

struct alignas(64) Session {
    // --- ipsec-mb precomputed material (what the engine reads per packet) ---
    union alignas(64) {
        /// AES-GCM / GMAC expanded keys and GHASH tables. Their layout depends on the
        /// intel-ipsec-mb code path (SSE/AVX, AVX2/AVX-512, VAES): session_init and every
        /// MbEngine reading the session must pick the same one (both use
        /// init_mb_mgr_auto, so same CPU and library build).
        gcm_key_data gcm;
        struct {
            alignas(16) uint8_t enc[16 * 15];  ///< AES expanded encryption keys (CBC, IV gen)
            alignas(16) uint8_t dec[16 * 15];  ///< AES expanded decryption keys (CBC)
        } aes;
    } mb;
    alignas(16) uint8_t hmac_ipad[64];  ///< HMAC inner hash state after key^ipad block
    alignas(16) uint8_t hmac_opad[64];  ///< HMAC outer hash state after key^opad block

    // --- raw material (OpenSSL engine, ChaCha20 key) ---
    uint8_t enc_key[kMaxEncKeyBytes];
    uint8_t auth_key[kMaxAuthKeyBytes];
    uint8_t salt[kSaltBytes];

    Suite suite;
    SuiteInfo info;
};

/// Builds `out` for `suite`. `enc_keymat` is the ESP encryption keying material as
/// IKEv2 derives it (RFC 4106/4543/7634: key followed by the 4-byte salt for
/// AEAD/GMAC suites); `auth_key` is the HMAC key (empty for AEAD). On failure returns
/// false, leaves `out` wiped and puts the reason (never key bytes) in `*err`.
/// Control path only: may allocate; safe from any thread.
bool session_init(Session& out, Suite suite, std::span<const uint8_t> enc_keymat,
                  std::span<const uint8_t> auth_key, std::string* err);

/// Zeroes every byte of `s` (keys, expanded keys, HMAC states).
void session_wipe(Session& s) noexcept;

namespace detail {
inline std::atomic<uint32_t> gcm_short_hkeys_off{192};
/// Records the GCM key layout of `mgr`'s code path (every manager of one process and
/// CPU picks the same): called wherever a manager is initialised.
inline void note_gcm_layout(const IMB_MGR* mgr) noexcept {
    // gcm_keys_vaes_avx512: HashKey_8 at 16 * 55 .. HashKey_1 at 16 * 62.
    constexpr uint64_t kVaes = IMB_FEATURE_VAES | IMB_FEATURE_VPCLMULQDQ;
    if (mgr != nullptr && mgr->used_arch == IMB_ARCH_AVX512 && (mgr->features & kVaes) == kVaes)
        gcm_short_hkeys_off.store(16 * 55 & ~63u, std::memory_order_relaxed);
}
}  // namespace detail
/// Offset in Session::mb.gcm of three 64-byte lines holding the GHASH key powers a
/// short packet uses (H^1..H^8 and neighbours), for prefetching a cold SA. The layout
/// follows the intel-ipsec-mb code path picked at run time: the VAES/AVX-512 one keeps
/// 48 powers with H^1 last (offset 832), the others 8 powers from offset 240 (192).
/// Set when a manager is initialised (session_init, MbEngine); any thread.
inline uint32_t gcm_short_hkeys_offset() noexcept {
    return detail::gcm_short_hkeys_off.load(std::memory_order_relaxed);
}

}  // namespace espgw::crypto
