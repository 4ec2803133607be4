#pragma once
// ESP SA records as the per-packet transform reads them. Built once at SA install
// (control path) from an SaConfig; immutable afterwards. Standard layout, no
// pointers: safe to place in shared memory and read from any worker of any process.
// The mutable per-SA state (sequence number, replay window, counters) lives apart in
// OutboundState / InboundState, written only by the SA's owning worker.

#include <cstdint>
#include <span>
#include <string>

#include "crypto/session.hpp"
#include "dataplane/esp/replay.hpp"
#include "dataplane/net/ip.hpp"

namespace espgw::esp {

enum class Mode : uint8_t { tunnel, transport };

/// IPv4 outer DF bit in tunnel mode (RFC 4301 §8.1). `copy` takes DF from an IPv4
/// inner header and sets DF for an IPv6 inner packet (IPv6 is never fragmented en
/// route, so the outer packet should not be either).
enum class DfMode : uint8_t { copy, set, clear };

/// Everything the control plane decides for one SA direction. Control path only.
struct SaConfig {
    uint32_t spi = 0;             ///< host order; the peer's SPI for outbound, ours for inbound
    crypto::Suite suite;
    Mode mode = Mode::tunnel;
    bool esn = false;             ///< RFC 4303 §2.2.1 extended sequence numbers
    uint32_t replay_window = kReplayWindowDefault;  ///< inbound: 0 = off, else 64..4096 (ESN needs >= 64)
    bool udp_encap = false;       ///< RFC 3948 ESP-in-UDP
    uint16_t udp_src_port = net::kPortNatT;  ///< outbound UDP source port (ours)
    uint16_t udp_dst_port = net::kPortNatT;  ///< outbound UDP destination port (peer's, maybe NAT-mapped)
    net::IpAddr tunnel_src;       ///< tunnel mode outbound: outer source (ours); same family as dst
    net::IpAddr tunnel_dst;       ///< tunnel mode outbound: outer destination (peer)
    uint8_t ttl = 64;             ///< outer TTL / hop limit (tunnel mode)
    DfMode df = DfMode::copy;     ///< outer IPv4 DF (tunnel mode)
    bool copy_dscp = true;        ///< tunnel mode: copy inner DSCP to outer (else 0)
    /// Outbound: last sequence number "already used" (the first packet carries
    /// initial_seq + 1). Inbound: initial top of the replay window. Tests near 2^32.
    uint64_t initial_seq = 0;
};

/// Flags precomputed at install.
enum SaFlags : uint8_t {
    kSaEsn = 1 << 0,
    kSaUdpEncap = 1 << 1,
    kSaTunnel = 1 << 2,
    kSaOuterV6 = 1 << 3,   ///< tunnel mode: outer header is IPv6
    kSaCopyDscp = 1 << 4,
    kSaHmac = 1 << 5,      ///< CBC/NULL + HMAC suite (else AEAD or GMAC)
    kSaGmac = 1 << 6,      ///< integrity only AEAD (RFC 4543)
};

/// Outbound SA: crypto session plus the precomputed header template.
struct alignas(64) OutboundSa {
    crypto::Session session;
    uint32_t spi = 0;          ///< host order
    uint8_t flags = 0;         ///< SaFlags
    Mode mode = Mode::tunnel;
    DfMode df = DfMode::copy;
    uint8_t ttl = 64;
    uint8_t iv_bytes = 0;      ///< copied from session.info for the hot loop
    uint8_t block_bytes = 4;
    uint8_t icv_bytes = 0;
    uint8_t outer_hdr_bytes = 0;  ///< tunnel: 20 or 40 (+8 with UDP); transport: 0 (+8 with UDP)
    uint16_t udp_src_port = net::kPortNatT;
    uint16_t udp_dst_port = net::kPortNatT;
    uint64_t initial_seq = 0;
    /// Tunnel mode over IPv4: one's-complement sum of the template's constant header
    /// words (TOS, length, ID, flags and checksum zero), so the per-packet checksum
    /// only adds the four words that change (RFC 1071 §2(3): the sum is incremental).
    uint32_t hdr_csum_partial = 0;
    /// Tunnel mode: outer IPv4/IPv6 header with addresses, TTL, protocol filled in
    /// (lengths, ID, TOS, checksum per packet), followed by the UDP header when
    /// udp_encap. Transport mode: only the UDP header, at offset 0.
    alignas(16) uint8_t hdr_template[48] = {};
};

/// Per-packet mutable state of an outbound SA. One writer: the owning worker.
struct OutboundState {
    uint64_t seq = 0;      ///< last sequence number used (full 64 bit)
    uint64_t packets = 0;  ///< packets prepared
    uint64_t bytes = 0;    ///< plaintext (inner) bytes prepared
};

/// Inbound SA: crypto session plus what the checks need.
struct alignas(64) InboundSa {
    crypto::Session session;
    uint32_t spi = 0;       ///< host order
    uint8_t flags = 0;      ///< SaFlags (kSaOuterV6 unused)
    Mode mode = Mode::tunnel;
    uint8_t iv_bytes = 0;
    uint8_t block_bytes = 4;
    uint8_t icv_bytes = 0;
    uint32_t replay_window = kReplayWindowDefault;
    uint64_t initial_seq = 0;
};

/// Per-packet mutable state of an inbound SA. One writer: the owning worker.
struct InboundState {
    ReplayWindow window;
    uint64_t packets = 0;  ///< packets decapsulated
    uint64_t bytes = 0;    ///< inner bytes decapsulated
};

/// Builds `out` from `cfg` and the keys (see crypto::session_init for the keymat
/// layout). Returns false with a reason in `*err` (never key bytes) on an invalid
/// suite/keys, a missing or mixed-family tunnel address, or bad ports. Control path;
/// any thread; `out` is wiped on failure.
bool outbound_sa_init(OutboundSa& out, const SaConfig& cfg, std::span<const uint8_t> enc_keymat,
                      std::span<const uint8_t> auth_key, std::string* err);

/// Builds `out`. Returns false with a reason in `*err` on bad suite/keys, a replay
/// window outside 0/64..4096, or ESN with the window off. Control path; any thread.
bool inbound_sa_init(InboundSa& out, const SaConfig& cfg, std::span<const uint8_t> enc_keymat,
                     std::span<const uint8_t> auth_key, std::string* err);

/// Fresh state for a just-installed SA (seq = initial_seq, counters 0).
void outbound_state_init(OutboundState& st, const OutboundSa& sa) noexcept;
/// Fresh state: empty replay window of the SA's size, top = initial_seq.
void inbound_state_init(InboundState& st, const InboundSa& sa) noexcept;

/// Wipes the key material of an SA being reclaimed.
void sa_wipe(OutboundSa& sa) noexcept;
void sa_wipe(InboundSa& sa) noexcept;

}  // namespace espgw::esp
