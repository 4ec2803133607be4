#pragma once
// Per-SA, per-direction crypto context: keys expanded once at SA install.
// Standard layout with no pointers, so it can live in shared memory (the SA tables
// of espgw-dp) and be read by any worker of any process. Immutable once built.

#include <intel-ipsec-mb.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "crypto/algorithm.hpp"
#include "crypto/gcm_native.hpp"

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
    /// AES-GCM / GMAC: GHASH key powers for crypto/gcm_native (short messages), beside
    /// the round keys in mb.gcm.expanded_keys; zero where the CPU cannot run it.
    gcm_native::HashKeys gcm_h;
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
inline std::atomic<uint32_t> gcm_short_hkeys_lines{3};
/// Records where a short GCM packet's GHASH key powers are (every manager of one
/// process and CPU picks the same code path): called wherever a manager is initialised.
inline void note_gcm_layout(const IMB_MGR* mgr) noexcept {
    if (gcm_native::available()) {  // MbEngine sends short payloads there: H^6..H^1
        gcm_short_hkeys_off.store(offsetof(Session, gcm_h) + gcm_native::kPowersEnd - 128, std::memory_order_relaxed);
        gcm_short_hkeys_lines.store(2, std::memory_order_relaxed);
        return;
    }
    // gcm_keys_vaes_avx512: HashKey_8 at 16 * 55 .. HashKey_1 at 16 * 62.
    constexpr uint64_t kVaes = IMB_FEATURE_VAES | IMB_FEATURE_VPCLMULQDQ;
    if (mgr != nullptr && mgr->used_arch == IMB_ARCH_AVX512 && (mgr->features & kVaes) == kVaes)
        gcm_short_hkeys_off.store(offsetof(Session, mb) + (16 * 55 & ~63u), std::memory_order_relaxed);
}
}  // namespace detail
/// Offset in Session of the 64-byte lines (gcm_short_hkeys_lines() of them) holding
/// the GHASH key powers a short packet (a 64-byte frame) uses, for prefetching a cold
/// SA: gcm_native's H^6..H^1 where the CPU runs it (two lines); else where
/// intel-ipsec-mb's code path keeps them (VAES/AVX-512: 48 powers with H^1 last, at
/// 832; the others 8 powers from 240). Set when a manager is initialised
/// (session_init, MbEngine); any thread.
inline uint32_t gcm_short_hkeys_offset() noexcept {
    return detail::gcm_short_hkeys_off.load(std::memory_order_relaxed);
}
inline uint32_t gcm_short_hkeys_lines() noexcept {
    return detail::gcm_short_hkeys_lines.load(std::memory_order_relaxed);
}

}  // namespace espgw::crypto
