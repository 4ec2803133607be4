#pragma once
// The only door from IKE to the dataplane (like strongSwan's kernel_ipsec): a
// negotiated CHILD_SA pair is handed over here. Implementations: JsonSaSink (logs and
// writes JSON lines, for tests and until the tables writer is wired) and, next, a
// writer over dataplane/tables/writer.hpp.

#include "control/ike/address_pool.hpp"
#include "control/ike/algorithms.hpp"
#include "control/ike/crypto_keys.hpp"
#include "control/ike/endpoint.hpp"
#include "control/ike/message.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace espgw::ike {

/// Everything about one CHILD_SA pair except its keys. "in" = peer→us.
struct ChildSaInfo {
    std::string connection;
    std::string peer_identity;
    Endpoint local;
    Endpoint remote;
    bool udp_encap = false;     // RFC 3948: NAT detected on either side
    // RFC 7296 §1.3.1: tunnel, or transport when both ends sent N(USE_TRANSPORT_MODE);
    // transport SAs carry the IKE endpoints' own packets (ts_* are those two hosts).
    ChildMode mode = ChildMode::tunnel;
    bool initiator = false;     // our role in the IKE SA that created it
    uint32_t spi_in = 0;        // host order
    uint32_t spi_out = 0;
    Algorithms alg;
    std::vector<TrafficSelector> ts_local;
    std::vector<TrafficSelector> ts_remote;
    std::optional<uint32_t> virtual_ip;  // host order, assigned to the peer
    std::optional<Ip6> virtual_ip6;      // the peer's virtual IPv6 address
    std::vector<std::string> groups;     // the user's groups: firewall tags of the inbound SA
    // Re-installing a pair after espgw-dp restarted: the outbound SA continues above
    // this sequence number (the peer's replay window has seen the ones below).
    uint64_t initial_seq_out = 0;
    // A rekey we responded to (RFC 7296 §2.8): the initiator installs its new inbound
    // SA only once it reads our response, so the new outbound SA waits until the old
    // pair is deleted (the initiator's DELETE follows) instead of losing packets.
    bool defer_out = false;
};

/// Traffic of a CHILD_SA pair so far (inner bytes; "in" = peer→us). For accounting.
struct SaUsage {
    uint64_t in_bytes = 0, out_bytes = 0;
    uint64_t in_packets = 0, out_packets = 0;
    SaUsage& operator+=(const SaUsage& o) noexcept {
        in_bytes += o.in_bytes, out_bytes += o.out_bytes, in_packets += o.in_packets, out_packets += o.out_packets;
        return *this;
    }
};

/// Receives negotiated SAs. Called from the IKE control thread only.
class SaSink {
public:
    virtual ~SaSink() = default;
    /// Installs both directions; `keys` are in KEYMAT order (encr_i/integ_i are the
    /// initiator→responder keys). Returns false when the dataplane refused; the caller
    /// then fails the CHILD_SA. Implementations must never log or store keys in clear
    /// outside the dataplane.
    virtual bool install(const ChildSaInfo& info, const ChildSaKeys& keys) = 0;
    /// Removes both directions of the pair identified by its SPIs (no-op if unknown).
    virtual void remove(uint32_t spi_in, uint32_t spi_out) = 0;
    /// Make-before-break rekey of a CHILD_SA (RFC 7296 §2.8, DESIGN.md): installs the
    /// new pair `info` (new SPIs) so that inbound traffic on both old and new SPIs is
    /// accepted and outbound traffic of the old pair's policies now uses the new
    /// outbound SA. The old inbound SA stays until remove(old_spi_in, old_spi_out).
    /// Returns false when the dataplane refused (the old pair then stays untouched).
    /// Default: install() (a sink without policies has nothing to switch).
    virtual bool rekey(uint32_t old_spi_in, uint32_t old_spi_out, const ChildSaInfo& info, const ChildSaKeys& keys) {
        (void)old_spi_in;
        (void)old_spi_out;
        return install(info, keys);
    }
    /// Traffic counters of the installed pair (inbound SPI `spi_in`, outbound `spi_out`)
    /// so far, for RADIUS accounting. Default (sinks without counters, e.g. the JSON
    /// sink): zeros; also zeros for an unknown pair.
    virtual SaUsage usage(uint32_t spi_in, uint32_t spi_out) {
        (void)spi_in;
        (void)spi_out;
        return {};
    }
};

/// Where the sink reports dataplane lifetime events (soft: rekey now; hard: the SA
/// is dead) of an SA it installed, identified by the inbound SPI of its pair (host
/// order). Implemented by IkeManager; a sink that watches the dataplane's event ring
/// calls it from the control thread.
class ChildExpiryListener {
public:
    virtual ~ChildExpiryListener() = default;
    virtual void on_child_expired(uint32_t spi_in, bool hard) = 0;
};

}  // namespace espgw::ike
