#pragma once
// IKE fragmentation (RFC 7383): the Encrypted Fragment payload (SKF, type 53) codec,
// splitting an outgoing encrypted message into fragments that fit the path, and
// reassembling received fragments, each authenticated before it is kept. The
// negotiation (N(IKEV2_FRAGMENTATION_SUPPORTED) in IKE_SA_INIT) lives in the init
// tasks; IkeManager routes SKF messages here. Control thread only.

#include "control/ike/algorithms.hpp"
#include "control/ike/config_fragments.hpp"
#include "control/ike/message.hpp"
#include "control/ike/sk_payload.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace espgw::ike {

/// Bounds on one reassembly (per IKE SA; a hostile peer cannot make us hold more).
struct FragmentLimits {
    uint16_t max_fragments = 64;               // Total Fragments above this: dropped
    size_t max_bytes = 64 * 1024;              // reassembled plaintext above this: dropped
    std::chrono::seconds timeout{30};          // an unfinished reassembly is dropped after this
};

/// Counters of the fragmentation layer (all IKE SAs), for `show ike counters`.
struct FragmentCounters {
    uint64_t fragments_sent = 0;          // SKF messages sent (retransmissions included)
    uint64_t messages_fragmented = 0;     // our messages split into fragments
    uint64_t fragments_received = 0;      // SKF messages received
    uint64_t messages_reassembled = 0;    // complete messages put back together
    uint64_t fragments_duplicate = 0;     // a fragment number we already held
    uint64_t fragments_bad = 0;           // malformed, or failing its ICV (forged)
    uint64_t fragments_dropped = 0;       // unexpected (message ID, no IKE SA, disabled) or over a limit
    uint64_t reassembly_timeouts = 0;     // unfinished reassemblies dropped
};

/// The counters as a JSON object, for the CLI.
std::string to_json(const FragmentCounters& c);

/// The fixed part of a received SKF message (RFC 7383 §2.5).
struct SkfView {
    Header header;
    PayloadType first_inner = PayloadType::NONE;  // fragment 1 only; 0 in the others
    uint16_t number = 0;                          // 1..total
    uint16_t total = 0;
    size_t body_offset = 0;                       // IV || ciphertext || ICV start here
};

/// Parses an SKF message: the IKE header (length = datagram length, Next Payload = SKF)
/// and the SKF payload, which must be the only payload and run to the end. Returns false
/// for anything malformed (Fragment Number 0 or above Total Fragments included).
bool parse_skf(std::span<const uint8_t> data, SkfView& out) noexcept;

/// The largest IKE message (IKE header to the last byte) that fits a `fragment_size`
/// byte IPv4 datagram (RFC 7383 §2.5.1: the IP and UDP headers, and the non-ESP marker
/// on the NAT-T port, count against it).
size_t max_ike_message(uint32_t fragment_size, bool non_esp_marker) noexcept;

/// Encrypts `inner` as one SK message, or, when that message would be longer than
/// `max_message` bytes (0: never fragment), as SKF fragments of at most `max_message`
/// bytes each (RFC 7383 §2.5), every one encrypted and authenticated on its own.
/// Throws std::runtime_error like encrypt_message, and std::length_error when the
/// message needs more than 65535 fragments or `max_message` leaves no room for data.
std::vector<Bytes> seal_message(Header header, const std::vector<Payload>& inner, const Algorithms& alg,
                                const SkKeys& keys, size_t max_message);

/// Reassembly of one fragmented message (RFC 7383 §2.6) of an IKE SA.
class Reassembly {
public:
    enum class Result {
        KEPT,       // authenticated and stored; more fragments are missing
        COMPLETE,   // the last missing fragment: take() gives the message
        DUPLICATE,  // this fragment number is already held
        BAD,        // failed its ICV / decryption or is inconsistent: dropped
        LIMIT,      // over max_fragments / max_bytes: dropped (the reassembly too)
    };

    /// Adds the fragment `data` (parsed into `v`) of the message with ID v.header.message_id,
    /// decrypted with `keys`. A fragment of another message ID than the one held, or of a
    /// larger Total Fragments (§2.6), starts over; one of a smaller Total Fragments is BAD.
    /// A reassembly older than limits.timeout is dropped first (counted in `counters`).
    Result add(std::span<const uint8_t> data, const SkfView& v, const Algorithms& alg, const SkKeys& keys,
               std::chrono::steady_clock::time_point now, const FragmentLimits& limits, FragmentCounters& counters);

    /// After COMPLETE: parses the reassembled plaintext into `inner` and resets. Returns the
    /// inner chain's parse error (OK when it parsed).
    ParseError take(std::vector<Payload>& inner);

    /// Drops an unfinished reassembly older than limits.timeout (counted in `counters`),
    /// so a peer that stops half-way does not keep memory until the IKE SA ends.
    void expire(std::chrono::steady_clock::time_point now, const FragmentLimits& limits, FragmentCounters& counters);

    /// Drops what is held (wiping the plaintexts).
    void reset() noexcept;
    bool active() const noexcept { return total_ != 0; }
    uint32_t message_id() const noexcept { return message_id_; }
    ~Reassembly() { reset(); }

private:
    uint32_t message_id_ = 0;
    uint16_t total_ = 0;
    uint16_t have_ = 0;
    size_t bytes_ = 0;
    PayloadType first_inner_ = PayloadType::NONE;
    std::chrono::steady_clock::time_point started_{};
    std::vector<std::optional<Bytes>> parts_;
};

/// The fragmentation state of one IKE SA.
struct FragmentState {
    bool peer_supported = false;      // the peer's N(IKEV2_FRAGMENTATION_SUPPORTED)
    Reassembly rx;                    // the message being received in fragments
    std::vector<Bytes> last_response; // our last response when it went out in fragments (§2.6.1 replay)
    std::vector<Bytes> pending;       // our outstanding request when it went out in fragments
};

}  // namespace espgw::ike
