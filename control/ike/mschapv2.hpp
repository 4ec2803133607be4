#pragma once
// MS-CHAPv2 computations of the authenticator (RFC 2759 §8) and its MPPE keys (RFC 3079
// §3), on top of the MD4/DES primitives of ms_crypto.hpp. Pure functions, any thread.
// The NT password hash (MD4 of the UTF-16LE password) comes from the user database:
// the server never sees the password itself.

#include "crypto/secret.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace espgw::ike::mschapv2 {

using Challenge16 = std::array<uint8_t, 16>;
using NtResponse = std::array<uint8_t, 24>;

/// ChallengeHash (§8.2): the first 8 bytes of SHA1(PeerChallenge | AuthenticatorChallenge
/// | UserName). `user_name` is the name the peer sent, its domain part already stripped.
std::array<uint8_t, 8> challenge_hash(const Challenge16& peer, const Challenge16& auth, std::string_view user_name);

/// GenerateNTResponse (§8.1): ChallengeResponse (§8.5) of the challenge hash under the
/// 16-byte NT password hash. Throws std::runtime_error when DES is unavailable.
NtResponse nt_response(const Challenge16& auth, const Challenge16& peer, std::string_view user_name,
                       std::span<const uint8_t> password_hash);

/// GenerateAuthenticatorResponse (§8.7): "S=" and 40 upper-case hex digits, proving to
/// the peer that we know its password hash.
std::string authenticator_response(std::span<const uint8_t> password_hash, const NtResponse& nt,
                                   const Challenge16& peer, const Challenge16& auth, std::string_view user_name);

/// The EAP MSK of EAP-MSCHAPv2 as the authenticator computes it (RFC 3079 §3.4 keys,
/// 128 bits each): MasterReceiveKey | MasterSendKey | 32 zero bytes (64 bytes), the
/// order strongSwan, Windows and RADIUS' MS-MPPE-Recv/Send-Key use.
crypto::SecretBytes msk(std::span<const uint8_t> password_hash, const NtResponse& nt);

/// GetMasterKey (RFC 3079 §3.4) and GetAsymmetricStartKey for 128-bit keys, exposed for
/// the RFC 3079 §3.5.3 vectors.
std::array<uint8_t, 16> master_key(std::span<const uint8_t> password_hash_hash, const NtResponse& nt);
std::array<uint8_t, 16> asymmetric_start_key(const std::array<uint8_t, 16>& master, bool is_send, bool is_server);

/// The user-name part of an MS-CHAPv2 Name ("DOMAIN\\user" -> "user", §8.2).
std::string_view strip_domain(std::string_view name) noexcept;

}  // namespace espgw::ike::mschapv2
