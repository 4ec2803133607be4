#pragma once
// IKEv2 protocol numbers (RFC 7296 §3 and the IANA "IKEv2 Parameters" registry).
// Plain constants, no behaviour: the codec and the tasks share them.

#include <cstddef>
#include <cstdint>

namespace espgw::ike {

/// RFC 7296 §3.1 exchange types.
enum class ExchangeType : uint8_t {
    IKE_SA_INIT = 34,
    IKE_AUTH = 35,
    CREATE_CHILD_SA = 36,
    INFORMATIONAL = 37,
};

/// RFC 7296 §3.2 payload types ("next payload" values).
enum class PayloadType : uint8_t {
    NONE = 0,
    SA = 33,
    KE = 34,
    IDi = 35,
    IDr = 36,
    CERT = 37,
    CERTREQ = 38,
    AUTH = 39,
    NONCE = 40,
    NOTIFY = 41,
    DELETE = 42,
    VENDOR_ID = 43,
    TSi = 44,
    TSr = 45,
    SK = 46,
    CP = 47,
    EAP = 48,
    SKF = 53,  // RFC 7383
};

/// RFC 7296 §3.1 header flags.
inline constexpr uint8_t FLAG_INITIATOR = 0x08;
inline constexpr uint8_t FLAG_VERSION = 0x10;
inline constexpr uint8_t FLAG_RESPONSE = 0x20;

/// RFC 7296 §3.3.1 protocol IDs.
enum class ProtocolId : uint8_t { NONE = 0, IKE = 1, AH = 2, ESP = 3 };

/// RFC 7296 §3.3.2 transform types.
enum class TransformType : uint8_t { ENCR = 1, PRF = 2, INTEG = 3, DH = 4, ESN = 5 };

/// Transform IDs used by this implementation (IANA IKEv2 registry).
inline constexpr uint16_t ENCR_3DES = 3;          // legacy ([ike] legacy_algorithms)
inline constexpr uint16_t ENCR_AES_CBC = 12;
inline constexpr uint16_t ENCR_AES_GCM_16 = 20;  // RFC 5282
inline constexpr uint16_t PRF_HMAC_SHA1 = 2;
inline constexpr uint16_t PRF_HMAC_SHA2_256 = 5;  // RFC 4868
inline constexpr uint16_t PRF_HMAC_SHA2_384 = 6;
inline constexpr uint16_t PRF_HMAC_SHA2_512 = 7;
inline constexpr uint16_t AUTH_NONE = 0;
inline constexpr uint16_t AUTH_HMAC_SHA1_96 = 2;
inline constexpr uint16_t AUTH_HMAC_SHA2_256_128 = 12;
inline constexpr uint16_t AUTH_HMAC_SHA2_384_192 = 13;
inline constexpr uint16_t AUTH_HMAC_SHA2_512_256 = 14;
inline constexpr uint16_t ESN_NONE = 0;
inline constexpr uint16_t ESN_ON = 1;
/// RFC 7296 §3.3.5 attribute type Key Length (always TV format: AF bit set).
inline constexpr uint16_t ATTR_KEY_LENGTH = 14;

/// DH groups (Transform Type 4): RFC 3526 MODP, RFC 5903 ECP, RFC 8031 Curve25519.
enum class DhGroup : uint16_t {
    NONE = 0,
    MODP_1024 = 2,   // legacy ([ike] legacy_algorithms): RFC 2409 group 2
    MODP_1536 = 5,   // legacy: RFC 3526 group 5
    MODP_2048 = 14,
    MODP_3072 = 15,
    ECP_256 = 19,
    ECP_384 = 20,
    ECP_521 = 21,
    CURVE25519 = 31,
};

/// RFC 7296 §3.5 identification types.
enum class IdType : uint8_t {
    IPV4_ADDR = 1,
    FQDN = 2,
    RFC822_ADDR = 3,
    IPV6_ADDR = 5,
    DER_ASN1_DN = 9,
    KEY_ID = 11,
};

/// RFC 7296 §3.8 authentication methods.
enum class AuthMethod : uint8_t { RSA_SIG = 1, SHARED_KEY_MIC = 2, DSS_SIG = 3, DIGITAL_SIGNATURE = 14 };

/// RFC 7296 §3.10.1 notify message types (errors < 16384, status >= 16384).
enum class NotifyType : uint16_t {
    UNSUPPORTED_CRITICAL_PAYLOAD = 1,
    INVALID_IKE_SPI = 4,
    INVALID_MAJOR_VERSION = 5,
    INVALID_SYNTAX = 7,
    INVALID_MESSAGE_ID = 9,
    INVALID_SPI = 11,
    NO_PROPOSAL_CHOSEN = 14,
    INVALID_KE_PAYLOAD = 17,
    AUTHENTICATION_FAILED = 24,
    SINGLE_PAIR_REQUIRED = 34,
    NO_ADDITIONAL_SAS = 35,
    INTERNAL_ADDRESS_FAILURE = 36,
    FAILED_CP_REQUIRED = 37,
    TS_UNACCEPTABLE = 38,
    INVALID_SELECTORS = 39,
    TEMPORARY_FAILURE = 43,
    CHILD_SA_NOT_FOUND = 44,
    INITIAL_CONTACT = 16384,
    SET_WINDOW_SIZE = 16385,
    ADDITIONAL_TS_POSSIBLE = 16386,
    IPCOMP_SUPPORTED = 16387,
    NAT_DETECTION_SOURCE_IP = 16388,
    NAT_DETECTION_DESTINATION_IP = 16389,
    COOKIE = 16390,
    USE_TRANSPORT_MODE = 16391,
    REKEY_SA = 16393,
    ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
    NON_FIRST_FRAGMENTS_ALSO = 16395,
    MOBIKE_SUPPORTED = 16396,
    MULTIPLE_AUTH_SUPPORTED = 16404,         // RFC 4739
    ANOTHER_AUTH_FOLLOWS = 16405,            // RFC 4739
    EAP_ONLY_AUTHENTICATION = 16417,         // RFC 5998
    IKEV2_FRAGMENTATION_SUPPORTED = 16430,  // RFC 7383
    SIGNATURE_HASH_ALGORITHMS = 16431,       // RFC 7427
};

/// The IPsec mode of a CHILD_SA (RFC 4301 §4.1; RFC 7296 §1.3.1): tunnel unless both
/// ends agreed on transport with N(USE_TRANSPORT_MODE) in request and response.
enum class ChildMode : uint8_t { tunnel, transport };

inline constexpr const char* mode_name(ChildMode m) noexcept {
    return m == ChildMode::transport ? "transport" : "tunnel";
}

/// RFC 7296 §3.13.1 traffic selector types.
inline constexpr uint8_t TS_IPV4_ADDR_RANGE = 7;
inline constexpr uint8_t TS_IPV6_ADDR_RANGE = 8;

/// RFC 7296 §3.15 configuration payload types and attributes.
inline constexpr uint8_t CFG_REQUEST = 1;
inline constexpr uint8_t CFG_REPLY = 2;
inline constexpr uint8_t CFG_SET = 3;
inline constexpr uint8_t CFG_ACK = 4;
inline constexpr uint16_t INTERNAL_IP4_ADDRESS = 1;
inline constexpr uint16_t INTERNAL_IP4_NETMASK = 2;
inline constexpr uint16_t INTERNAL_IP4_DNS = 3;
inline constexpr uint16_t INTERNAL_IP4_NBNS = 4;
inline constexpr uint16_t INTERNAL_IP6_ADDRESS = 8;
inline constexpr uint16_t INTERNAL_IP6_DNS = 10;
inline constexpr uint16_t INTERNAL_IP4_SUBNET = 13;

/// IKE header size and the fixed generic payload header size (RFC 7296 §3.1, §3.2).
inline constexpr size_t IKE_HEADER_LEN = 28;
inline constexpr size_t GENERIC_HEADER_LEN = 4;

}  // namespace espgw::ike
