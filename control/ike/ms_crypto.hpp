#pragma once
// The Microsoft primitives MS-CHAPv2 (RFC 2759) is built from: MD4 over the UTF-16LE
// password (NtPasswordHash, §8.3) and single-block DES with a 7-byte key (DesEncrypt,
// §8.6). Both algorithms are legacy in OpenSSL 3: they come from the "legacy" provider
// loaded into a private OSSL_LIB_CTX, so the rest of the process (IKE, the default
// library context) never sees MD4 or DES. Any thread; the context is created once.

#include "crypto/secret.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace espgw::ike {

/// Loads the legacy provider now (espgw-ike calls it at start-up, before dropping
/// privileges, so a missing module is reported at once). Throws std::runtime_error
/// naming the provider and OPENSSL_MODULES when it cannot be loaded. Idempotent.
void ms_crypto_init();

/// UTF-8 to UTF-16LE bytes (surrogate pairs above U+FFFF). Throws std::invalid_argument
/// for malformed UTF-8 (overlong forms, surrogates, truncated sequences), never echoing
/// the input.
std::string utf8_to_utf16le(std::string_view utf8);

/// MD4 of `data` (RFC 1320), e.g. HashNtPasswordHash (RFC 2759 §8.4) over the 16-byte
/// NT hash. Throws std::runtime_error when the legacy provider is missing.
std::array<uint8_t, 16> md4(std::span<const uint8_t> data);

/// NtPasswordHash (RFC 2759 §8.3): MD4(UTF-16LE(password)), 16 bytes. The result is
/// password-equivalent for MS-CHAPv2, hence a wiping SecretBytes. Throws
/// std::invalid_argument for malformed UTF-8, std::runtime_error when the legacy
/// provider is missing. The UTF-16 copy is wiped.
crypto::SecretBytes nt_password_hash(std::string_view utf8_password);

/// DesEncrypt (RFC 2759 §8.6): `key7` (56 bits) is spread over 8 bytes, 7 bits each with
/// an odd-parity low bit, and `in` is encrypted as one DES-ECB block into `out`. Throws
/// std::runtime_error when the legacy provider is missing.
void des_encrypt_block(const uint8_t key7[7], const uint8_t in[8], uint8_t out[8]);

}  // namespace espgw::ike
