#pragma once
// A negotiated algorithm set (one chosen proposal) and the key/ICV sizes it implies.
// Shared by key derivation, the SK payload and the CHILD_SA hand-off.

#include "control/ike/ike_types.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace espgw::ike {

/// One selected proposal's transforms. For IKE all of encr/prf/dh are set (integ NONE
/// with AEAD); for ESP prf and dh are NONE (dh set only with PFS).
struct Algorithms {
    uint16_t encr = 0;
    uint16_t encr_key_bits = 0;
    uint16_t integ = AUTH_NONE;
    uint16_t prf = 0;
    DhGroup dh = DhGroup::NONE;
    bool esn = false;

    bool aead() const noexcept { return encr == ENCR_AES_GCM_16; }
    bool operator==(const Algorithms&) const = default;
};

/// Encryption key bytes including the 4-byte AEAD salt (RFC 5282 §7.1, RFC 4106 §8.1).
size_t encr_key_bytes(const Algorithms& a) noexcept;
/// Integrity key bytes (RFC 4868 §2.1: key length = hash output length), 0 for none.
size_t integ_key_bytes(uint16_t integ) noexcept;
/// Truncated ICV bytes of an integrity transform, 16 for AES-GCM-16 (RFC 5282).
size_t icv_bytes(const Algorithms& a) noexcept;
/// PRF output bytes (32/48/64), 0 when unknown.
size_t prf_bytes(uint16_t prf) noexcept;
/// strongSwan-style text ("aes256gcm16-prfsha256-ecp256"), for logs.
std::string to_string(const Algorithms& a);
/// Issue 7's algorithm policy: the insecure parts of `a` ("3DES, MODP_1024 (DH group
/// 2)"), empty when none. Such proposals are refused unless [ike] legacy_algorithms
/// enables them for legacy clients (Windows' built-in client offers 3DES/SHA1/MODP_1024
/// by default). DES, MD5 and groups below 2 are not implemented at all.
std::string legacy_parts(const Algorithms& a);

}  // namespace espgw::ike
