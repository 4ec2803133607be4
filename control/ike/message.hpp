#pragma once
// IKEv2 message codec (RFC 7296 §3): the fixed header, the generic payload chain and
// every payload body this gateway reads or writes. Parsing never trusts a length:
// each malformation maps to a named ParseError and nothing is read out of bounds.
// Unknown non-critical payloads are kept as raw bodies; unknown critical ones are
// reported so the caller can answer UNSUPPORTED_CRITICAL_PAYLOAD (§2.5).

#include "control/ike/ike_types.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

namespace espgw::ike {

using Bytes = std::vector<uint8_t>;

/// A 32-bit value (an ESP SPI) as the 4 network-order bytes payloads carry, and back
/// (`b` holds at least 4 bytes).
inline Bytes be32_bytes(uint32_t v) {
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
            static_cast<uint8_t>(v)};
}
inline uint32_t from_be32(std::span<const uint8_t> b) {
    return static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 | static_cast<uint32_t>(b[2]) << 8 |
           b[3];
}

/// Every way a message can be malformed; `name()` gives a stable text for logs/counters.
enum class ParseError {
    OK = 0,
    TRUNCATED_HEADER,        // fewer than 28 bytes
    BAD_MAJOR_VERSION,       // §3.1: major version != 2
    LENGTH_MISMATCH,         // header length != datagram length
    TRUNCATED_PAYLOAD,       // generic header or body runs past the message end
    BAD_PAYLOAD_LENGTH,      // payload length < 4 or smaller than its fixed part
    UNSUPPORTED_CRITICAL,    // unknown payload with the critical bit set (§2.5)
    SK_NOT_LAST,             // §3.14: the Encrypted payload must be the last payload
    BAD_PROPOSAL,            // proposal substructure inconsistent
    BAD_TRANSFORM,           // transform substructure or attribute inconsistent
    BAD_ATTRIBUTE,           // data attribute truncated
    BAD_TRAFFIC_SELECTOR,    // TS type/length inconsistent
    BAD_CP_ATTRIBUTE,        // configuration attribute truncated
    BAD_NOTIFY,              // SPI size runs past the payload
    BAD_DELETE,              // SPI count * size != remaining bytes
    TOO_MANY_PAYLOADS,       // more payloads than any valid message carries
};
std::string_view name(ParseError e) noexcept;

/// RFC 7296 §3.1 fixed header, host byte order.
struct Header {
    uint64_t spi_i = 0;
    uint64_t spi_r = 0;
    PayloadType next_payload = PayloadType::NONE;
    uint8_t version = 0x20;
    ExchangeType exchange = ExchangeType::IKE_SA_INIT;
    uint8_t flags = 0;
    uint32_t message_id = 0;
    uint32_t length = 0;

    bool is_response() const noexcept { return (flags & FLAG_RESPONSE) != 0; }
    bool is_initiator() const noexcept { return (flags & FLAG_INITIATOR) != 0; }
};

/// RFC 7296 §3.3.2 transform; key_len_bits present when the Key Length attribute was.
struct Transform {
    TransformType type = TransformType::ENCR;
    uint16_t id = 0;
    std::optional<uint16_t> key_len_bits;
    bool operator==(const Transform&) const = default;
};

/// RFC 7296 §3.3.1 proposal substructure.
struct Proposal {
    uint8_t number = 1;
    ProtocolId protocol = ProtocolId::IKE;
    Bytes spi;
    std::vector<Transform> transforms;
};

struct SaPayload { std::vector<Proposal> proposals; };
struct KePayload { uint16_t group = 0; Bytes data; };
struct IdPayload { IdType type = IdType::FQDN; Bytes data; };
struct AuthPayload { AuthMethod method = AuthMethod::SHARED_KEY_MIC; Bytes data; };
struct NoncePayload { Bytes data; };
struct NotifyPayload {
    ProtocolId protocol = ProtocolId::NONE;
    Bytes spi;
    NotifyType type = NotifyType::INITIAL_CONTACT;
    Bytes data;
};
struct DeletePayload {
    ProtocolId protocol = ProtocolId::IKE;
    uint8_t spi_size = 0;
    std::vector<Bytes> spis;
};

/// RFC 7296 §3.13.1; addresses are 4 (IPv4) or 16 (IPv6) bytes, network order.
struct TrafficSelector {
    uint8_t ts_type = TS_IPV4_ADDR_RANGE;
    uint8_t ip_proto = 0;  // 0 = any
    uint16_t start_port = 0;
    uint16_t end_port = 65535;
    Bytes start_addr;
    Bytes end_addr;
    bool operator==(const TrafficSelector&) const = default;
};
struct TsPayload { std::vector<TrafficSelector> selectors; };

struct CpAttribute { uint16_t type = 0; Bytes value; };
struct CpPayload { uint8_t cfg_type = CFG_REQUEST; std::vector<CpAttribute> attrs; };

/// The SK payload as found on the wire: body = IV || ciphertext || ICV (§3.14).
/// `first_inner` is the SK payload's Next Payload field, the type of the first inner
/// payload. `offset` is where the SK generic header starts inside the message.
struct SkPayload { PayloadType first_inner = PayloadType::NONE; Bytes body; size_t offset = 0; };

/// Any payload this codec does not interpret (vendor ID, CERTREQ, EAP, ...).
struct RawPayload { Bytes body; };

using PayloadBody = std::variant<SaPayload, KePayload, IdPayload, AuthPayload, NoncePayload,
                                 NotifyPayload, DeletePayload, TsPayload, CpPayload, SkPayload,
                                 RawPayload>;

struct Payload {
    PayloadType type = PayloadType::NONE;
    bool critical = false;
    PayloadBody body;
};

/// A decoded message: header and the outer payloads (the SK payload stays encrypted
/// until sk_payload.hpp opens it).
struct Message {
    Header header;
    std::vector<Payload> payloads;

    /// First payload of `type`, or nullptr. Any thread; never fails.
    const Payload* find(PayloadType type) const noexcept;
    /// First notify of `type`, or nullptr.
    const NotifyPayload* find_notify(NotifyType type) const noexcept;
    /// Body of the first payload of type T (by variant alternative) or nullptr.
    template <class T> const T* get(PayloadType type) const noexcept {
        const Payload* p = find(type);
        return p ? std::get_if<T>(&p->body) : nullptr;
    }
};

/// Parses the fixed header. Fails with TRUNCATED_HEADER / BAD_MAJOR_VERSION.
ParseError parse_header(std::span<const uint8_t> data, Header& out) noexcept;

/// Parses a whole datagram: header (length must equal data.size()) and the outer payload
/// chain. On failure `out` is unspecified and the error names the first problem.
ParseError parse_message(std::span<const uint8_t> data, Message& out);

/// Parses a payload chain starting with type `first` (used for the SK plaintext).
ParseError parse_payload_chain(PayloadType first, std::span<const uint8_t> data,
                               std::vector<Payload>& out, size_t base_offset = 0);

/// Encodes a payload chain (next-payload fields chained; the last one NONE).
/// Returns the bytes; `first` receives the first payload's type (NONE when empty).
/// Must not contain an SkPayload (sk_payload.hpp builds that one).
Bytes encode_payload_chain(const std::vector<Payload>& payloads, PayloadType& first);

/// Writes the 28-byte header into `out` (which must have at least 28 bytes).
void encode_header(const Header& h, std::span<uint8_t> out) noexcept;

/// Encodes an unencrypted message (IKE_SA_INIT): header length and next payload are
/// filled from the payloads.
Bytes encode_message(Header header, const std::vector<Payload>& payloads);

/// Helpers to build payloads concisely.
Payload make_notify(NotifyType type, Bytes data = {}, ProtocolId proto = ProtocolId::NONE,
                    Bytes spi = {});

}  // namespace espgw::ike
