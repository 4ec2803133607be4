#pragma once
// L3 → L2 output: route lookup, neighbour resolution (or hold in the pending queue),
// Ethernet header, the worker's TX buffer per port. Owning worker only; every function
// consumes the mbuf (sent, held or dropped and counted).

#include <cstdint>

#include "dataplane/dp/config.hpp"

struct rte_mbuf;

namespace espgw::tables {
struct RouteHop;
}

namespace espgw::dp {

struct Worker;

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv6 = 0x86DD;
inline constexpr uint16_t kEtherVlan = 0x8100;
inline constexpr uint32_t kEtherHdrBytes = 14;

/// Routes the IP packet at the mbuf's data (IPv4 or IPv6 by its version nibble),
/// decrementing nothing: callers that forward adjust TTL first. Drops no_route,
/// too_big_for_port.
void output_ip(Worker& w, rte_mbuf* m) noexcept;

/// Route for `dst` (family 4/6, network bytes) through the worker's per-iteration
/// memo of the last destination (Worker::out_memo); nullptr when there is no route.
/// Valid until the worker's next quiescent state.
const tables::RouteHop* route_cached(Worker& w, uint8_t family, const uint8_t* dst) noexcept;

/// Sends the IP packet to `next_hop` (family 4/6, network bytes) on port index `port`.
void output_ip_via(Worker& w, rte_mbuf* m, uint16_t port, uint8_t family, const uint8_t* next_hop) noexcept;

/// Prepends an Ethernet header (src = the port's MAC) and queues for TX.
void output_eth(Worker& w, rte_mbuf* m, uint16_t port, const MacAddr& dst, uint16_t ether_type) noexcept;

/// Sends every queued TX buffer (rte_eth_tx_burst on the worker's TX queue); frees
/// and counts what the NIC refuses.
void tx_flush(Worker& w) noexcept;

}  // namespace espgw::dp
