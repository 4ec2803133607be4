#pragma once
// ESP algorithms espgw supports and their fixed parameters (RFC 4106, 4543, 7634,
// 3602, 2404, 4868). Chosen once at SA install; nothing here runs per packet.

#include <cstdint>
#include <optional>
#include <string_view>

namespace espgw::crypto {

/// Encryption (or combined-mode) algorithm of an ESP SA.
enum class Cipher : uint8_t {
    null,               ///< RFC 2410 NULL encryption (needs an Integ); tests and debugging only
    aes_cbc_128,        ///< RFC 3602, needs an Integ
    aes_cbc_256,        ///< RFC 3602, needs an Integ
    aes_gcm_128,        ///< RFC 4106, 16-byte ICV
    aes_gcm_256,        ///< RFC 4106, 16-byte ICV
    chacha20_poly1305,  ///< RFC 7634
    aes_gmac_128,       ///< RFC 4543 ENCR_NULL_AUTH_AES_GMAC: integrity only
    aes_gmac_256,       ///< RFC 4543
};

/// Integrity algorithm for non-combined ciphers.
enum class Integ : uint8_t {
    none,
    hmac_sha1_96,     ///< RFC 2404
    hmac_sha256_128,  ///< RFC 4868
    hmac_sha512_256,  ///< RFC 4868
};

/// A cipher plus integrity pair as negotiated for one SA.
struct Suite {
    Cipher cipher = Cipher::aes_gcm_128;
    Integ integ = Integ::none;
    friend constexpr bool operator==(Suite, Suite) = default;
};

/// Fixed sizes of a suite, all in bytes.
struct SuiteInfo {
    uint8_t enc_key_bytes;   ///< cipher key, without salt
    uint8_t salt_bytes;      ///< 4 for GCM/GMAC/ChaCha20 (last bytes of the keymat), else 0
    uint8_t auth_key_bytes;  ///< HMAC key, 0 for combined modes
    uint8_t iv_bytes;        ///< IV carried in each packet: 8 for AEAD/GMAC, 16 for CBC, 0 for NULL
    uint8_t block_bytes;     ///< payload alignment: 16 for CBC, 4 otherwise (RFC 4303 §2.4)
    uint8_t icv_bytes;       ///< integrity check value length
    bool aead;               ///< combined mode: GCM, ChaCha20-Poly1305, GMAC
    bool encrypts;           ///< false for NULL and GMAC (payload travels in clear)
};

/// Returns the sizes of `s`, or nullopt when the pair is not a valid ESP suite
/// (an AEAD with an Integ, a CBC or NULL cipher without one).
std::optional<SuiteInfo> suite_info(Suite s) noexcept;

/// Names as in IANA's IKEv2 registry / strongSwan proposals ("aes128gcm16", "sha256").
std::string_view cipher_name(Cipher c) noexcept;
std::string_view integ_name(Integ i) noexcept;
std::optional<Cipher> parse_cipher(std::string_view name) noexcept;
std::optional<Integ> parse_integ(std::string_view name) noexcept;

}  // namespace espgw::crypto
