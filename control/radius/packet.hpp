#pragma once
// RADIUS packet codec (RFC 2865 §3, §5; RFC 2866 §3; RFC 3579 §3). Pure functions
// over byte buffers, no sockets: encoding signs a request with the shared secret
// (Request Authenticator, Message-Authenticator), decoding checks a reply against the
// request it answers (Response Authenticator, Message-Authenticator) and rejects
// every malformed length. Also the vendor-specific MS-MPPE keys (RFC 2548 §2.4.2,
// §2.4.3) and EAP-Message fragmentation (RFC 3579 §3.1). Any thread; no state.

#include "crypto/secret.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace espgw::radius {

using Bytes = std::vector<uint8_t>;
using Authenticator = std::array<uint8_t, 16>;

/// Packet codes (RFC 2865 §3, RFC 2866 §3).
enum class Code : uint8_t {
    ACCESS_REQUEST = 1,
    ACCESS_ACCEPT = 2,
    ACCESS_REJECT = 3,
    ACCOUNTING_REQUEST = 4,
    ACCOUNTING_RESPONSE = 5,
    ACCESS_CHALLENGE = 11,
};

/// Attribute types espgw sends or reads (RFC 2865 §5, RFC 2866 §5, RFC 2869, RFC 3579).
namespace attr {
inline constexpr uint8_t USER_NAME = 1;
inline constexpr uint8_t NAS_IP_ADDRESS = 4;
inline constexpr uint8_t SERVICE_TYPE = 6;
inline constexpr uint8_t FRAMED_IP_ADDRESS = 8;
inline constexpr uint8_t FILTER_ID = 11;
inline constexpr uint8_t FRAMED_MTU = 12;
inline constexpr uint8_t REPLY_MESSAGE = 18;
inline constexpr uint8_t STATE = 24;
inline constexpr uint8_t CLASS = 25;
inline constexpr uint8_t VENDOR_SPECIFIC = 26;
inline constexpr uint8_t SESSION_TIMEOUT = 27;
inline constexpr uint8_t CALLED_STATION_ID = 30;
inline constexpr uint8_t CALLING_STATION_ID = 31;
inline constexpr uint8_t NAS_IDENTIFIER = 32;
inline constexpr uint8_t PROXY_STATE = 33;
inline constexpr uint8_t ACCT_STATUS_TYPE = 40;
inline constexpr uint8_t ACCT_DELAY_TIME = 41;
inline constexpr uint8_t ACCT_INPUT_OCTETS = 42;
inline constexpr uint8_t ACCT_OUTPUT_OCTETS = 43;
inline constexpr uint8_t ACCT_SESSION_ID = 44;
inline constexpr uint8_t ACCT_AUTHENTIC = 45;
inline constexpr uint8_t ACCT_SESSION_TIME = 46;
inline constexpr uint8_t ACCT_INPUT_PACKETS = 47;
inline constexpr uint8_t ACCT_OUTPUT_PACKETS = 48;
inline constexpr uint8_t ACCT_TERMINATE_CAUSE = 49;
inline constexpr uint8_t ACCT_INPUT_GIGAWORDS = 52;
inline constexpr uint8_t ACCT_OUTPUT_GIGAWORDS = 53;
inline constexpr uint8_t NAS_PORT_TYPE = 61;
inline constexpr uint8_t EAP_MESSAGE = 79;
inline constexpr uint8_t MESSAGE_AUTHENTICATOR = 80;
}  // namespace attr

inline constexpr uint32_t kVendorMicrosoft = 311;   // RFC 2548
inline constexpr uint8_t kMsMppeSendKey = 16;       // RFC 2548 §2.4.2
inline constexpr uint8_t kMsMppeRecvKey = 17;       // RFC 2548 §2.4.3
inline constexpr uint32_t kServiceTypeFramed = 2;   // RFC 2865 §5.6
inline constexpr uint32_t kNasPortTypeVirtual = 5;  // RFC 2865 §5.41
inline constexpr uint32_t kAcctStart = 1, kAcctStop = 2, kAcctInterim = 3;  // RFC 2866 §5.1, RFC 2869 §2.1
inline constexpr uint32_t kAcctOn = 7, kAcctOff = 8;                       // RFC 2866 §5.1
inline constexpr uint32_t kAcctAuthRadius = 1;      // RFC 2866 §5.6
inline constexpr uint32_t kTerminateUserRequest = 1, kTerminateIdleTimeout = 4, kTerminateAdminReset = 6,
                          kTerminateLostService = 3, kTerminateAdminReboot = 7;  // RFC 2866 §5.10

inline constexpr size_t kHeaderLen = 20;
inline constexpr size_t kMaxPacketLen = 4096;   // RFC 2865 §3
inline constexpr size_t kMaxAttrValue = 253;

struct Attribute {
    uint8_t type = 0;
    Bytes value;
};

/// A decoded packet. `attrs` keeps wire order (EAP-Message fragments must be joined in order).
struct Packet {
    Code code = Code::ACCESS_REQUEST;
    uint8_t id = 0;
    Authenticator authenticator{};
    std::vector<Attribute> attrs;

    /// First attribute of `type`, or nullptr.
    const Attribute* find(uint8_t type) const noexcept;
    /// Every attribute of `type`, in order.
    std::vector<const Attribute*> all(uint8_t type) const;
    /// Appends attributes; values longer than 253 bytes are not allowed (use add_eap for EAP).
    void add(uint8_t type, std::span<const uint8_t> value);
    void add_string(uint8_t type, std::string_view s);
    void add_u32(uint8_t type, uint32_t v);
    /// Appends an EAP packet as EAP-Message attributes of at most 253 bytes (RFC 3579 §3.1).
    void add_eap(std::span<const uint8_t> eap);
    /// The EAP-Message attributes joined (empty when there are none).
    Bytes eap() const;
};

/// Why decode() refused a datagram (each has a client counter).
enum class DecodeError {
    NONE,
    MALFORMED,            // short, bad length field, attribute overrunning the packet, bad attribute length
    BAD_AUTHENTICATOR,    // Response Authenticator does not match
    BAD_MESSAGE_AUTH,     // Message-Authenticator wrong, malformed, or missing where required
};
const char* to_string(DecodeError e) noexcept;

/// Encodes an Access-Request: `p.authenticator` is the random Request Authenticator
/// (RFC 2865 §3), and a Message-Authenticator (HMAC-MD5 over the packet, RFC 3579
/// §3.2) is appended (any already in `p.attrs` is replaced). Proxy-State is never added.
/// Returns an empty vector when the packet would exceed 4096 bytes.
Bytes encode_access_request(const Packet& p, std::span<const uint8_t> secret);

/// Encodes an Accounting-Request with a Message-Authenticator (HMAC-MD5 over the packet
/// with a zero Authenticator field) and then its Request Authenticator MD5(Code+ID+
/// Length+16 zero octets+Attributes+Secret) (RFC 2866 §3); `p.authenticator` is ignored.
/// Empty when the packet would exceed 4096 bytes.
Bytes encode_accounting_request(const Packet& p, std::span<const uint8_t> secret);

/// Splits a datagram into a Packet without any cryptographic check (lengths only).
/// Trailing bytes past the Length field are ignored (RFC 2865 §3). nullopt: malformed.
std::optional<Packet> parse(std::span<const uint8_t> data);

/// Decodes and authenticates the reply `data` to a request sent with Request
/// Authenticator `req_auth`: lengths, Response Authenticator MD5(Code+ID+Length+
/// RequestAuth+Attributes+Secret), and Message-Authenticator (RFC 3579 §3.2; required
/// in a reply carrying EAP-Message, checked whenever present). On failure returns
/// nullopt with `*err` set; the caller drops the datagram.
std::optional<Packet> decode_reply(std::span<const uint8_t> data, const Authenticator& req_auth,
                                   std::span<const uint8_t> secret, DecodeError* err);

/// Builds a reply (server side; for tests and the fuzz corpus): computes the
/// Message-Authenticator when `with_message_auth` and then the Response Authenticator.
Bytes encode_reply(const Packet& p, const Authenticator& req_auth, std::span<const uint8_t> secret,
                   bool with_message_auth);

/// The value of vendor `vendor_id` sub-attribute `vendor_type` inside the
/// Vendor-Specific attributes of `p` (RFC 2865 §5.26, one or more sub-attributes per
/// VSA); nullopt when absent or when the VSA is malformed.
std::optional<Bytes> vendor_attr(const Packet& p, uint32_t vendor_id, uint8_t vendor_type);

/// Decrypts an MS-MPPE-Send-Key / -Recv-Key value (RFC 2548 §2.4.2): Salt(2) |
/// String(n*16), b(1) = MD5(Secret + RequestAuth + Salt), b(i) = MD5(Secret + c(i-1)),
/// plaintext = Key-Length(1) | Key | padding. nullopt when the value is malformed
/// (salt high bit clear, length not a multiple of 16, Key-Length beyond the plaintext).
std::optional<crypto::SecretBytes> decrypt_mppe_key(std::span<const uint8_t> value, std::span<const uint8_t> secret,
                                                    const Authenticator& req_auth);

/// Encrypts a key the same way (server side; for tests).
Bytes encrypt_mppe_key(std::span<const uint8_t> key, std::span<const uint8_t> secret, const Authenticator& req_auth,
                       uint16_t salt);

/// MD5 and HMAC-MD5 (OpenSSL), exposed for the tests' independent checks.
std::array<uint8_t, 16> md5(std::span<const std::span<const uint8_t>> parts);
std::array<uint8_t, 16> hmac_md5(std::span<const uint8_t> key, std::span<const uint8_t> data);

}  // namespace espgw::radius
