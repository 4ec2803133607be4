#pragma once
// The Encrypted and Authenticated payload (RFC 7296 §3.14) with AES-GCM-16 (RFC 5282)
// or AES-CBC + HMAC-SHA2 (RFC 3602, RFC 4868). OpenSSL libcrypto; any thread.

#include "control/ike/algorithms.hpp"
#include "control/ike/message.hpp"

#include <span>

namespace espgw::ike {

/// Keys for one direction of an IKE SA (SK_ei/SK_ai or SK_er/SK_ar).
struct SkKeys {
    std::span<const uint8_t> encr;   // includes the 4-byte salt for AES-GCM
    std::span<const uint8_t> integ;  // empty for AEAD
};

enum class SkError {
    OK = 0,
    TOO_SHORT,       // body shorter than IV + ICV + pad length
    BAD_BLOCK_SIZE,  // CBC ciphertext not a multiple of 16
    ICV_MISMATCH,    // integrity check / tag failed
    BAD_PADDING,     // pad length larger than the plaintext
    UNSUPPORTED,     // algorithm not implemented
};
std::string_view name(SkError e) noexcept;

/// Builds a whole message whose payloads are `inner`, encrypted into one SK payload.
/// Sets header.next_payload = SK and header.length. Throws std::runtime_error when
/// libcrypto fails or the algorithm is unsupported (a configuration bug).
Bytes encrypt_message(Header header, const std::vector<Payload>& inner, const Algorithms& alg,
                      const SkKeys& keys);

/// Bytes that seal_body appends for `plain_len` bytes of plaintext: IV, ciphertext
/// (with padding and the pad length byte, §3.14) and ICV.
size_t sealed_len(const Algorithms& alg, size_t plain_len);

/// Encrypts `plain` and appends IV || ciphertext || ICV to `out`. `out` already holds
/// the IKE header and the encrypted payload's header fields (SK, or SKF with its
/// fragment numbers, RFC 7383 §2.5), with lengths that count sealed_len(): they are the
/// AEAD associated data, or covered by the HMAC. Throws std::runtime_error when
/// libcrypto fails or the algorithm is unsupported.
void seal_body(const Algorithms& alg, const SkKeys& keys, std::span<const uint8_t> plain, Bytes& out);

/// The inverse: `message[body_offset..]` is IV || ciphertext || ICV; everything before
/// is authenticated. The ICV is checked before anything is decrypted. On success `plain`
/// holds the plaintext without padding; on failure it is empty.
SkError open_body(std::span<const uint8_t> message, size_t body_offset, const Algorithms& alg, const SkKeys& keys,
                  Bytes& plain);

/// Verifies and decrypts the SK payload `sk` of the raw `message` (as parsed by
/// parse_message) and parses the inner payload chain into `inner`. The ICV is checked
/// before anything is decrypted or parsed. Returns the SK error; a parse error of the
/// inner chain is reported through `parse_err` with SkError::OK.
SkError decrypt_message(std::span<const uint8_t> message, const SkPayload& sk, const Algorithms& alg,
                        const SkKeys& keys, std::vector<Payload>& inner, ParseError& parse_err);

}  // namespace espgw::ike
