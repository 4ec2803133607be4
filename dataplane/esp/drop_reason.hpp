#pragma once
// Why the ESP transform refused a packet. One X-macro table so the dataplane can keep
// one counter per reason and print names without a second list (VPP style).

#include <cstdint>
#include <string_view>

namespace espgw::esp {

// X(name, "description")
#define ESPGW_ESP_DROP_REASONS(X)                                                        \
    X(none, "not dropped")                                                               \
    X(truncated, "packet shorter than its headers / ESP minimum")                        \
    X(bad_ip_version, "IP version is neither 4 nor 6")                                   \
    X(bad_ip_header_len, "IPv4 IHL < 5 or beyond the packet")                            \
    X(bad_ip_length, "IP total/payload length disagrees with the buffer")                \
    X(bad_ext_header, "IPv6 extension header chain malformed or too long")               \
    X(fragment, "IP fragment (ESP needs whole datagrams, RFC 4303 §3.1)")                \
    X(bad_udp_length, "UDP length disagrees with the IP length")                         \
    X(not_esp, "not an ESP / ESP-in-UDP packet")                                         \
    X(wrong_spi, "SPI does not belong to this SA")                                       \
    X(encap_mismatch, "UDP encapsulation differs from the SA's (RFC 3948)")              \
    X(bad_alignment, "ciphertext not a multiple of the block size (RFC 4303 §2.4)")      \
    X(seq_zero, "sequence number 0 is never sent (RFC 4303 §3.3.3)")                     \
    X(replay_old, "sequence number left of the anti-replay window (RFC 4303 §3.4.3)")    \
    X(replay_duplicate, "sequence number already received (RFC 4303 §3.4.3)")            \
    X(icv_mismatch, "integrity check failed (RFC 4303 §3.4.4)")                          \
    X(crypto_error, "the crypto engine rejected the operation")                          \
    X(bad_pad_length, "pad length exceeds the payload (RFC 4303 §2.4)")                  \
    X(bad_padding, "padding bytes are not 1, 2, 3, ... (RFC 4303 §2.4)")                 \
    X(bad_next_header, "next header not allowed for this SA's mode")                     \
    X(tfc_dummy, "dummy packet, next header 59 (RFC 4303 §2.6)")                         \
    X(inner_family_mismatch, "inner IP version differs from the ESP next header")        \
    X(inner_truncated, "inner packet shorter than its header or its length")             \
    X(ecn_ce_not_ect, "outer CE over a Not-ECT inner packet (RFC 6040 §4.2)")            \
    X(no_headroom, "not enough headroom for the ESP/outer headers")                      \
    X(no_tailroom, "not enough tailroom for the ESP trailer and ICV")                    \
    X(too_big, "result would exceed 65535 bytes")                                        \
    X(seq_overflow, "sequence number space exhausted: SA must be rekeyed (RFC 4303 §3.3.3)")

enum class DropReason : uint8_t {
#define ESPGW_X(name, desc) name,
    ESPGW_ESP_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
};

inline constexpr uint32_t kDropReasonCount = 0
#define ESPGW_X(name, desc) +1
    ESPGW_ESP_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
    ;

/// Short identifier ("icv_mismatch"). Any thread; "unknown" for out-of-range values.
constexpr std::string_view drop_reason_name(DropReason r) noexcept {
    switch (r) {
#define ESPGW_X(name, desc) \
    case DropReason::name:  \
        return #name;
        ESPGW_ESP_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
    }
    return "unknown";
}

/// One-line human description. Any thread; "unknown" for out-of-range values.
constexpr std::string_view drop_reason_description(DropReason r) noexcept {
    switch (r) {
#define ESPGW_X(name, desc) \
    case DropReason::name:  \
        return desc;
        ESPGW_ESP_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
    }
    return "unknown";
}

}  // namespace espgw::esp
