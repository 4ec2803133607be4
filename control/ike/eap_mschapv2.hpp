#pragma once
// EAP-MSCHAPv2 authenticator (RFC 2759 inside EAP type 26, draft-kamath-pppext-eap-
// mschapv2) against the local user database: what the IKEv2 clients built into
// Windows, macOS and iOS use. The conversation:
//
//   <-- Request/MSCHAPv2 Challenge  { OpCode 1, MS-CHAPv2-ID, MS-Length, 16-byte challenge, Name }
//   --> Response/MSCHAPv2 Response  { OpCode 2, .., Peer-Challenge, NT-Response, Flags, Name }
//   <-- Request/MSCHAPv2 Success    { OpCode 3, .., "S=<authenticator response> M=..." }
//   --> Response/MSCHAPv2 Success   { OpCode 3 }
//   <-- EAP-Success                 (MSK = MasterReceiveKey | MasterSendKey | 32 zeros)
//
// A wrong password, an unknown or disabled user, or a user without an NT hash get the
// MS-CHAPv2 Failure Request ("E=691 R=0 C=... V=3 M=...", E=647 for a disabled user;
// RFC 2759 §6); the step carries the reason for the log at once. The peer's Failure
// Response is answered with EAP-Failure:
//
//   <-- Request/MSCHAPv2 Failure   { OpCode 4, .., "E=691 R=0 C=<challenge> V=3 M=..." }
//   --> Response/MSCHAPv2 Failure  { OpCode 4 }
//   <-- EAP-Failure The user is looked up by
// name when the Response arrives (never held across calls: `espctl user` may change
// the database in between). Control thread only.

#include "control/ike/eap_server.hpp"
#include "control/ike/user_db.hpp"

#include <array>
#include <memory>
#include <string>

namespace espgw::ike {

/// A new EAP-MSCHAPv2 server for one IKE SA; `users` must outlive it.
std::unique_ptr<EapServer> make_eap_mschapv2(const UserDb& users);

/// A new EAP-GTC server (RFC 3748 §5.6) for one IKE SA: the peer answers the prompt with
/// its password, checked against the user's PBKDF2 hash. No MSK (§2.16: AUTH then uses
/// SK_pi/SK_pr). `users` must outlive it.
std::unique_ptr<EapServer> make_eap_gtc(const UserDb& users);

/// The EAP identifier of a server's first Request: random, so a replayed conversation
/// from another IKE SA never lines up.
uint8_t random_eap_identifier();

}  // namespace espgw::ike
