#pragma once
// AUTH payload signatures (RFC 7296 §2.15, §3.8): RFC 7427 digital signatures
// (method 14 with an ASN.1 AlgorithmIdentifier) and the classic RSA (1, SHA-1
// PKCS#1 v1.5) and ECDSA (9/10/11, RFC 4754 r||s) methods. Control thread only;
// libcrypto failures yield empty results / false, never exceptions.

#include "control/ike/message.hpp"
#include "control/ike/pki.hpp"

namespace espgw::ike {

/// Signs `octets` (the signed octets of §2.15) with `key` as RFC 7427 method 14:
/// RSA PKCS#1 v1.5 SHA-256, or ECDSA with the curve's hash (P-256: SHA-256, P-384:
/// SHA-384, P-521: SHA-512). Returns an empty body on failure.
AuthPayload sign_auth(EVP_PKEY* key, std::span<const uint8_t> octets);

/// Verifies an AUTH payload of method 1, 9, 10, 11 or 14 against `pub`. `why`
/// names the problem when false is returned.
bool verify_auth(EVP_PKEY* pub, const AuthPayload& auth, std::span<const uint8_t> octets, std::string& why);

/// The signed octets (§2.15): message | nonce | prf(SK_p, ID').
Bytes signed_octets(uint16_t prf_id, std::span<const uint8_t> message, std::span<const uint8_t> nonce,
                    std::span<const uint8_t> sk_p, std::span<const uint8_t> id_body);

}  // namespace espgw::ike
