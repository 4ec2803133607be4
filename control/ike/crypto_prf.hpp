#pragma once
// IKEv2 pseudo-random functions (RFC 7296 §2.13, RFC 4868): HMAC-SHA-256/384/512 and
// prf+. OpenSSL libcrypto does the HMAC. Any thread; stateless.

#include "crypto/secret.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace espgw::ike {

/// A PRF transform (PRF_HMAC_SHA2_*). Construction throws std::invalid_argument for an
/// unsupported transform ID.
class Prf {
public:
    explicit Prf(uint16_t prf_id);
    /// Output length in bytes.
    size_t out_len() const noexcept { return out_len_; }
    /// prf(key, data). Throws std::runtime_error if libcrypto fails (never expected).
    std::vector<uint8_t> compute(std::span<const uint8_t> key, std::span<const uint8_t> data) const;
    /// prf+(key, seed) truncated to `len` bytes (§2.13: T1 = prf(K, S|0x01), Tn =
    /// prf(K, Tn-1|S|n)). Throws std::length_error when len > 255 * out_len().
    crypto::SecretBytes plus(std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t len) const;

private:
    uint16_t id_;
    size_t out_len_;
};

}  // namespace espgw::ike
