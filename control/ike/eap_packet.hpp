#pragma once
// EAP packet codec (RFC 3748 §4): what the IKEv2 EAP payload (type 48, RFC 7296 §3.16)
// carries. The IKE codec keeps that payload's body raw; these functions read and build
// the EAP packet inside it. Parsing never trusts a length: the EAP Length field must
// equal the payload body, Requests/Responses must carry a Type, Success/Failure must
// not. Pure functions, any thread.

#include "control/ike/eap_server.hpp"
#include "control/ike/message.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace espgw::ike {

/// Every way an EAP packet can be malformed; `name()` is a stable text for logs.
enum class EapError {
    OK = 0,
    TRUNCATED,        // fewer than 4 bytes, or Request/Response without a Type byte
    LENGTH_MISMATCH,  // the Length field differs from the bytes received
    BAD_CODE,         // Code outside 1..4
    SUCCESS_WITH_DATA,  // Success/Failure longer than 4 bytes (§4.2)
};
std::string_view name(EapError e) noexcept;

struct EapPacket {
    EapCode code = EapCode::REQUEST;
    uint8_t identifier = 0;
    EapType type = EapType::IDENTITY;  // Request/Response only
    Bytes data;                        // Type-Data (Request/Response only)
};

/// Parses one EAP packet occupying all of `in`.
EapError parse_eap(std::span<const uint8_t> in, EapPacket& out);

/// Encodes a Request/Response with its type and data, or a Success/Failure (4 bytes).
Bytes encode_eap(const EapPacket& p);

/// The IKE EAP payload (§3.16) carrying `eap`.
Payload make_eap_payload(Bytes eap);

/// The body of the first EAP payload of `m`, or nullptr.
const Bytes* find_eap_payload(const Message& m) noexcept;

}  // namespace espgw::ike
