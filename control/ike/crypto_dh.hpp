#pragma once
// Diffie-Hellman for the KE payload (RFC 7296 §3.4): MODP 14/15 (RFC 3526), ECP
// 19/20/21 (RFC 5903, public value x||y without the 0x04 prefix, shared secret = x),
// Curve25519 (RFC 8031, 32-byte u-coordinates). OpenSSL libcrypto does the math.
// Control-path only; a DhKey is used by one thread at a time.

#include "control/ike/ike_types.hpp"
#include "crypto/secret.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace espgw::ike {

/// True for groups this implementation supports.
bool dh_supported(DhGroup g) noexcept;
/// Length of a KE public value for the group (RFC 7296 §3.4: fixed per group), 0 if unknown.
size_t dh_public_len(DhGroup g) noexcept;

/// One ephemeral key pair. Move-only; the private key is freed (and wiped by libcrypto)
/// on destruction.
class DhKey {
public:
    /// Fresh key pair. Throws std::invalid_argument for an unsupported group and
    /// std::runtime_error when libcrypto fails.
    static DhKey generate(DhGroup g);
    /// Key pair from known values (test vectors). ECP/MODP need both `priv` and `pub`
    /// (pub in KE format); Curve25519 derives pub from priv. Throws on bad input.
    static DhKey from_private(DhGroup g, std::span<const uint8_t> priv, std::span<const uint8_t> pub);

    DhKey(DhKey&& o) noexcept;
    DhKey& operator=(DhKey&& o) noexcept;
    DhKey(const DhKey&) = delete;
    DhKey& operator=(const DhKey&) = delete;
    ~DhKey();

    DhGroup group() const noexcept { return group_; }
    /// Public value as carried in the KE payload (fixed length for the group).
    std::vector<uint8_t> public_value() const;
    /// Shared secret g^ir (§2.14: fixed length, left-padded for MODP; x coordinate for
    /// ECP). nullopt when the peer's value has the wrong length, is not a valid point or
    /// element, or derivation fails: the caller answers INVALID_SYNTAX / fails the SA.
    std::optional<crypto::SecretBytes> shared_secret(std::span<const uint8_t> peer) const;

private:
    DhKey(DhGroup g, EVP_PKEY* k) noexcept : group_(g), key_(k) {}
    DhGroup group_ = DhGroup::NONE;
    EVP_PKEY* key_ = nullptr;
};

}  // namespace espgw::ike
