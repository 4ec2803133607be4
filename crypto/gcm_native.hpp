#pragma once
// AES-GCM (NIST SP 800-38D) of short ESP payloads on VAES + VPCLMULQDQ (AVX-512),
// for the packets where intel-ipsec-mb's per-call set-up costs more than the cipher.
// Up to four packets at a time, every stage interleaved across them (one packet alone
// is a chain of dependent instructions that leaves the AES and carry-less multiply
// units idle). A 64-byte frame's 52 bytes of payload are one masked 64-byte load, one
// 4-block AES pass, one 4-lane carry-less multiply and a single GHASH reduction for the
// AAD, the payload and the lengths block together (each block's key power is its
// lane's: the powers are stored highest first, so a run of them is one unaligned
// load). Longer payloads stay with intel-ipsec-mb; MbEngine picks by length.
//
// The AES round keys are intel-ipsec-mb's (gcm_key_data::expanded_keys, the standard
// AES-NI schedule); the GHASH key powers are this file's own, built at session init.
// GHASH runs in the byte-reflected domain (each block byte-swapped, so carry-less
// products of reflected operands need no bit reversal): H^i is kept as H^i * x (one
// left shift folded with the reduction polynomial), which makes the product of a
// plain reflected block and a stored power come out plain again.

#include <cstddef>
#include <cstdint>

namespace espgw::crypto::gcm_native {

/// Longest payload crypt_batch takes: two 4-block groups per packet (a 64-byte frame's
/// ESP payload is 52 bytes, one group). Longest AAD: one block (ESP's is 8 or 12).
inline constexpr uint32_t kMaxDataBlocks = 8;
inline constexpr uint32_t kMaxData = 16 * kMaxDataBlocks;
inline constexpr uint32_t kMaxAad = 16;
/// H^10..H^1 (AAD + 8 payload blocks + lengths) at slots kFirstPower.., then 3 zero
/// blocks so that a 4-block run of powers starting at any payload block stays inside.
/// H^1 ends a cache line: a 64-byte frame's powers (H^6..H^1) are two lines.
inline constexpr uint32_t kTopPower = kMaxDataBlocks + 2;
inline constexpr uint32_t kFirstPower = 2;
inline constexpr uint32_t kPowerSlots = kFirstPower + kTopPower + 3;

/// GHASH key powers, highest first: h[slot_of(i)] = H^i * x (H = AES_K(0^128)).
/// Key material.
struct alignas(64) HashKeys {
    uint8_t h[kPowerSlots][16];
};
constexpr uint32_t slot_of(uint32_t power) noexcept { return kFirstPower + kTopPower - power; }
static_assert(16 * (slot_of(1) + 1) % 64 == 0, "H^1 ends a cache line");

/// End of H^1 in HashKeys (a short packet's powers are the lines just before it).
inline constexpr size_t kPowersEnd = 16 * (slot_of(1) + 1);

/// One packet of a batch: GCM with nonce = salt (4 bytes) || iv (8), in place over
/// `data` (encrypt: plaintext → ciphertext; decrypt: the reverse); the tag (of the
/// ciphertext) goes to `tag`, which decrypt callers compare with the received one.
/// Nothing outside [data, data + len) and [aad, aad + aad_len) is read or written.
struct Job {
    const uint8_t* round_keys;
    const HashKeys* hk;
    const uint8_t* salt;
    const uint8_t* iv;
    const uint8_t* aad;
    uint32_t aad_len;  ///< <= kMaxAad
    uint32_t len;      ///< <= kMaxData
    uint8_t* data;
    uint8_t* tag;
};
/// Groups of 4 blocks a payload of `len` bytes takes in a batch (1 or 2).
constexpr uint32_t batch_groups(uint32_t len) noexcept { return len <= 64 ? 1 : 2; }
inline constexpr uint32_t kMaxBatch = 4;

/// AES rounds for a key of `key_bytes` (16: AES-128, 32: AES-256).
constexpr uint32_t rounds_for(uint32_t key_bytes) noexcept { return key_bytes == 16 ? 10 : 14; }

/// True when this CPU has VAES, VPCLMULQDQ, AVX-512 F/BW/VL, AES-NI and PCLMULQDQ
/// (checked once).
bool available() noexcept;

/// Fills `out` from the expanded encryption keys `round_keys` (rounds + 1 keys of
/// 16 bytes; rounds 10 for AES-128, 14 for AES-256). Requires available().
void init(const uint8_t* round_keys, uint32_t rounds, HashKeys& out) noexcept;

/// AES-GCM of `n` (1..kMaxBatch) packets at once. Every job with the same `rounds` and
/// batch_groups(len) == `groups`; the keys may differ. Requires available().
void crypt_batch(const Job* jobs, uint32_t n, uint32_t rounds, bool encrypt, uint32_t groups) noexcept;

}  // namespace espgw::crypto::gcm_native
