#pragma once
// EAP-TLS framing (RFC 5216 §3.1, §2.1.5): the Type-Data of an EAP-TLS packet is
//
//   Flags (L M S R R R R R) [TLS Message Length, 4 octets, when L] [TLS data]
//
// A TLS message (one or more TLS records of one flight) larger than a fragment travels
// in several EAP packets: the first carries L and the total length, every one but the
// last carries M, and the other side answers each with an empty packet (an ACK: flags
// 0, no data). Reassembly never trusts a length: the total is capped (max_message_bytes),
// the fragments must add up to the announced total exactly, and a later L must repeat
// it. Pure code, any thread; the EAP-TLS server (eap_tls.hpp) owns one of each.

#include "control/ike/message.hpp"  // Bytes

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace espgw::ike::eaptls {

inline constexpr uint8_t FLAG_LENGTH = 0x80;  // L: TLS Message Length present
inline constexpr uint8_t FLAG_MORE = 0x40;    // M: more fragments follow
inline constexpr uint8_t FLAG_START = 0x20;   // S: EAP-TLS Start (server's first Request)

/// Every way an incoming EAP-TLS Type-Data can be refused; `name()` is a stable log text.
enum class FrameError {
    OK = 0,
    TRUNCATED,        // no Flags octet, or L without the four length octets
    OVERSIZE,         // announced or accumulated length above max_message_bytes
    LENGTH_MISMATCH,  // the fragments do not add up to the announced TLS Message Length
    NO_LENGTH,        // a first fragment with M but without L (§2.1.5: L MUST be set)
    EMPTY_FRAGMENT,   // M set on a fragment without data (would loop forever)
};
std::string_view name(FrameError e) noexcept;

/// True when `type_data` is an EAP-TLS acknowledgement: a Flags octet of 0 and nothing else.
bool is_ack(std::span<const uint8_t> type_data) noexcept;

/// Collects the fragments of one incoming TLS message.
class Reassembler {
public:
    explicit Reassembler(size_t max_message_bytes) : max_(max_message_bytes) {}
    enum class Result { MORE, DONE, ERROR };
    /// Adds one Type-Data. MORE: acknowledge it and wait for the next fragment; DONE:
    /// message() holds the whole TLS message; ERROR: `err` says why (the reassembly is
    /// then unusable).
    Result add(std::span<const uint8_t> type_data, FrameError& err);
    const Bytes& message() const noexcept { return buf_; }
    /// Forgets the message (after DONE), ready for the next one.
    void reset() noexcept;

private:
    size_t max_;
    Bytes buf_;
    std::optional<uint32_t> total_;
    bool in_progress_ = false;
};

/// Cuts one outgoing TLS message into Type-Data fragments of at most `fragment_bytes`
/// octets of EAP-TLS Type-Data each (Flags and length included).
class Fragmenter {
public:
    explicit Fragmenter(size_t fragment_bytes) : frag_(fragment_bytes < 16 ? 16 : fragment_bytes) {}
    /// Starts sending `msg` (replacing anything unsent).
    void load(Bytes msg);
    /// True while fragments of the loaded message remain.
    bool pending() const noexcept { return off_ < msg_.size(); }
    /// The next fragment: L and the total on the first of several, M on all but the last.
    /// `extra_flags` (S) is or-ed in. An empty message gives a bare Flags octet.
    Bytes next(uint8_t extra_flags = 0);

private:
    size_t frag_;
    Bytes msg_;
    size_t off_ = 0;
};

}  // namespace espgw::ike::eaptls
