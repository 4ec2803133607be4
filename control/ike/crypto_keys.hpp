#pragma once
// IKEv2 key schedule: SKEYSEED and the seven IKE SA keys (RFC 7296 §2.14), CHILD_SA
// KEYMAT (§2.17) and the pre-shared-key AUTH value (§2.15). Pure functions; any thread.

#include "control/ike/algorithms.hpp"
#include "control/ike/crypto_prf.hpp"
#include "crypto/secret.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace espgw::ike {

/// The IKE SA's keys (§2.14). "i"/"r" are the initiator's/responder's sending direction.
struct IkeSaKeys {
    crypto::SecretBytes sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr;
};

/// SKEYSEED = prf(Ni | Nr, g^ir); {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
/// = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr). Throws std::invalid_argument for an
/// unsupported PRF.
IkeSaKeys derive_ike_sa_keys(const Algorithms& ike, std::span<const uint8_t> ni,
                             std::span<const uint8_t> nr, std::span<const uint8_t> g_ir,
                             uint64_t spi_i, uint64_t spi_r);

/// The keys of an IKE SA created by rekeying another (§2.18): SKEYSEED = prf(SK_d (old),
/// g^ir (new) | Ni | Nr), then the same prf+ expansion with the new SPIs. The old
/// SA's PRF is the one negotiated again. Throws std::invalid_argument for an
/// unsupported PRF.
IkeSaKeys derive_rekeyed_ike_sa_keys(const Algorithms& ike, std::span<const uint8_t> old_sk_d,
                                     std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                                     std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r);

/// CHILD_SA keys, in KEYMAT order (§2.17): initiator→responder encryption then
/// integrity, then responder→initiator encryption then integrity. AEAD encryption
/// keys include their 4-byte salt; integrity keys are empty for AEAD.
struct ChildSaKeys {
    crypto::SecretBytes encr_i, integ_i, encr_r, integ_r;
};

/// KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr). `g_ir_new` is empty without PFS.
ChildSaKeys derive_child_sa_keys(const Prf& prf, std::span<const uint8_t> sk_d, const Algorithms& esp,
                                 std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                                 std::span<const uint8_t> g_ir_new = {});

/// §2.15 shared-key AUTH: prf(prf(PSK, "Key Pad for IKEv2"), <SignedOctets>) where
/// SignedOctets = RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload).
/// `id_body` is the ID payload body (type, 3 reserved bytes, data).
std::vector<uint8_t> psk_auth(const Prf& prf, std::span<const uint8_t> psk,
                              std::span<const uint8_t> real_message, std::span<const uint8_t> peer_nonce,
                              std::span<const uint8_t> sk_p, std::span<const uint8_t> id_body);

}  // namespace espgw::ike
