#pragma once
// IKE identities (RFC 7296 §3.5) as configured ("gw.example.com", "@fqdn",
// "user@example.com", "192.0.2.1", "%any") and as carried in IDi/IDr.

#include "control/ike/message.hpp"

#include <string>
#include <string_view>

namespace espgw::ike {

struct Identity {
    IdType type = IdType::FQDN;
    Bytes data;
    bool any = false;  // "%any": matches every peer identity

    /// Parses configuration text; an IPv4/IPv6 literal becomes an address identity,
    /// "@x" an FQDN "x", "a@b" an RFC 822 address, other text an FQDN. Throws
    /// std::invalid_argument for empty text.
    static Identity parse(std::string_view text);
    /// From a received ID payload.
    static Identity from_payload(const IdPayload& id);
    /// The ID payload body bytes (type, 3 reserved, data) used in AUTH (§2.15).
    Bytes payload_body() const;
    IdPayload to_payload() const { return IdPayload{type, data}; }
    /// Printable form for logs (addresses in text, names verbatim, DNs as hex).
    std::string to_string() const;
    /// True when this configured identity accepts `peer` (exact type and bytes, or %any).
    bool matches(const Identity& peer) const noexcept;
};

}  // namespace espgw::ike
