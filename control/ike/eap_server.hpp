#pragma once
// The EAP server side of IKEv2 EAP authentication (RFC 7296 §2.16, RFC 3748): one
// EapServer per IKE SA authenticating a user. IkeManager feeds it the EAP payloads of
// the peer's IKE_AUTH requests and answers with what it returns; on SUCCESS the MSK
// keys the final AUTH exchange (§2.16: AUTH = prf(prf(MSK, "Key Pad for IKEv2"), ...)).
//
// Two kinds of servers implement this interface:
//   - local methods (EAP-MSCHAPv2, EAP-MD5) checking the local user database (UserDb);
//   - a RADIUS relay (RFC 3579) that forwards EAP to RADIUS servers and answers
//     asynchronously: process() returns PENDING and poll() later yields the result.
// Servers never log or return passwords; `reason` is a short operator-facing cause
// ("unknown user", "bad password", "user disabled", "RADIUS reject", "RADIUS timeout").

#include "control/ike/message.hpp"  // Bytes
#include "control/ike/wire.hpp"
#include "crypto/secret.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace espgw::ike {

/// EAP codes (RFC 3748 §4) and the method types espgw knows (§5, IANA).
enum class EapCode : uint8_t { REQUEST = 1, RESPONSE = 2, SUCCESS = 3, FAILURE = 4 };
enum class EapType : uint8_t {
    IDENTITY = 1,
    NOTIFICATION = 2,
    NAK = 3,
    MD5_CHALLENGE = 4,
    GTC = 6,
    TLS = 13,
    MSCHAPV2 = 26,
};

/// What one step of an EAP conversation produced.
struct EapStep {
    enum class Kind {
        CONTINUE,  // send `eap` (a Request) to the peer and wait for its Response; with
                   // `reason` set the conversation has failed and this Request tells the
                   // peer (MSCHAPv2 Failure Request, TLS alert): log and count it now, the
                   // peer's Response gets FAILURE
        SUCCESS,   // send `eap` (an EAP-Success); `msk` keys AUTH (may be empty: §2.16 SK_p)
        FAILURE,   // send `eap` (an EAP-Failure); `reason` says why
        PENDING,   // the answer comes later (RADIUS): call poll() until it is not PENDING
    };
    Kind kind = Kind::FAILURE;
    Bytes eap;                      // the whole EAP packet to carry in the EAP payload
    crypto::SecretBytes msk;        // SUCCESS: the Master Session Key (RFC 3748 §7.10)
    std::string reason;             // FAILURE (or a failing CONTINUE): why, for the log (never a password)
    // SUCCESS: what the authority says about the user.
    std::string user;                       // the authenticated user name
    std::optional<uint32_t> framed_ip;      // static virtual IP (host order): UserDb or RADIUS Framed-IP-Address
    std::vector<std::string> groups;        // UserDb groups or RADIUS Class / Filter-Id
};

class EapServer {
public:
    virtual ~EapServer() = default;
    /// First step: `identity` is the peer's EAP identity when known (the IKE IDi, or the
    /// EAP-Identity response); the server answers with its first Request.
    virtual EapStep start(const std::string& identity) = 0;
    /// The peer's EAP packet (a Response) from its IKE_AUTH request.
    virtual EapStep process(std::span<const uint8_t> eap) = 0;
    /// Asynchronous servers: the result of the last PENDING step, or PENDING still.
    /// Called from IkeManager::tick. Local servers never return PENDING.
    virtual EapStep poll() { return EapStep{}; }
    /// The IKE SA went away mid-conversation: drop any outstanding request.
    virtual void abort() {}
};

}  // namespace espgw::ike
