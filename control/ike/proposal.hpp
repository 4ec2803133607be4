#pragma once
// Proposal text parsing and selection (RFC 7296 §2.7, §3.3.6): the responder walks
// its own configured proposals in order (strongest first) and takes the first one the
// peer offers completely.

#include "control/ike/algorithms.hpp"
#include "control/ike/message.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace espgw::ike {

/// Parses strongSwan-style text: "aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048"
/// (IKE: prf defaults to the integrity hash), "aes128gcm16", "aes256-sha512-esn" (ESP).
/// Throws std::invalid_argument naming the offending token.
Algorithms parse_proposal(std::string_view text, ProtocolId proto);

/// The chosen proposal: our algorithms and the peer's proposal (number and SPI).
struct Selection {
    Algorithms alg;
    uint8_t number = 1;
    Bytes peer_spi;
};

/// True when `peer` offers every transform of `ours` (§3.3.6).
bool proposal_matches(const Algorithms& ours, const Proposal& peer);

/// First of `ours` (in order) that some peer proposal for `proto` matches; nullopt means
/// NO_PROPOSAL_CHOSEN. Any thread; never throws.
std::optional<Selection> select_proposal(const std::vector<Algorithms>& ours, const SaPayload& peer,
                                         ProtocolId proto) noexcept;

/// What the peer offered, for the log of a refusal: "3DES/HMAC_SHA1_96/PRF_HMAC_SHA1/
/// MODP_1024, ..." (IANA names; unknown IDs as numbers). `insecure` is set when some
/// proposal uses an algorithm of the legacy policy (DES, 3DES, MD5, DH groups below 14).
std::string describe_offer(const SaPayload& peer, ProtocolId proto, bool* insecure = nullptr);

/// The reply SA payload: one proposal, the peer's number, our SPI, the chosen transforms.
SaPayload make_reply_sa(const Selection& s, ProtocolId proto, Bytes our_spi);

}  // namespace espgw::ike
