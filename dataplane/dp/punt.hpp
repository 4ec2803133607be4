#pragma once
// Punt and inject rings between espgw-dp and the IKE control process (DESIGN.md).
// Both are rte_rings of rte_mbuf* named kPuntRingName / kInjectRingName, created by
// espgw-dp; a control process attached as a DPDK secondary finds them with
// rte_ring_lookup() and the mbuf pool with rte_mempool_lookup(kPoolName).
//
// Punt (dp → control): mbuf data = the IKE message (after any non-ESP marker); the
// PuntMeta in the mbuf's private area carries the outer addresses and ports, so NAT
// detection (RFC 7296 §2.23) sees what was on the wire.
// Inject (control → dp): mbuf data = the IKE message to send; PuntMeta says from
// which of our addresses/ports to whom; espgw-dp adds the IP/UDP headers (and the
// non-ESP marker when the source port is the NAT-T port), routes and sends it.

#include <cstdint>

#include "dataplane/net/ip.hpp"

struct rte_ring;
struct rte_mbuf;

namespace espgw::dp {

struct Worker;

inline constexpr const char* kPuntRingName = "espgw_punt";
inline constexpr const char* kInjectRingName = "espgw_inject";
inline constexpr const char* kPoolName = "espgw_mbufs";

/// Lives in rte_mbuf private area (mempool priv_size). Plain data.
struct PuntMeta {
    net::IpAddr src;        ///< outer source (peer, maybe NAT) / inject: our address
    net::IpAddr dst;        ///< outer destination (ours) / inject: peer
    uint16_t src_port = 0;  ///< host order
    uint16_t dst_port = 0;  ///< host order: 500 or the NAT-T port
    uint16_t port_index = 0;  ///< espgw-dp port it arrived on
    uint16_t reserved = 0;    ///< hand-off rings: the HandoffKind (handoff.cpp)
    uint16_t flags = 0;       ///< inject: kInjectRaw
};
/// Inject flag: send the payload as it is, without the RFC 3948 non-ESP marker even
/// from the NAT-T port (a NAT-keepalive, RFC 3948 §2.3, is the single byte 0xFF).
inline constexpr uint16_t kInjectRaw = 1;
inline constexpr uint16_t kMbufPrivBytes = (sizeof(PuntMeta) + 7) & ~7u;

/// Returns the PuntMeta of `m`. Any thread.
PuntMeta* punt_meta(rte_mbuf* m) noexcept;

struct Punt {
    rte_ring* to_control = nullptr;    ///< multi-producer (workers), single consumer
    rte_ring* from_control = nullptr;  ///< multi-producer (control), single consumer (worker 0)

    /// Creates both rings. Main lcore. Throws std::runtime_error.
    void create(uint32_t size, int socket_id);
};

/// Punts the IKE packet `m` (data at the outer IP header; the IKE message starts at
/// `ike_off`). Consumes `m`; counts punted or punt_full. Any worker.
void punt_ike(Worker& w, uint16_t port, rte_mbuf* m, uint32_t ike_off, uint16_t src_port,
              uint16_t dst_port) noexcept;

/// Drains up to a burst from the inject ring and sends each as UDP/IP. Worker 0.
void drain_inject(Worker& w) noexcept;

}  // namespace espgw::dp
