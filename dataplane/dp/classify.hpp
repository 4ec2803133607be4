#pragma once
// First stage of the worker pipeline: Ethernet and IP sanity, then where each packet
// goes (RFC 4301 §5: unprotected side → inbound, protected side → outbound):
//   ARP, ND                      → neighbor
//   ICMP echo to us              → icmp
//   UDP 500, UDP 4500 + marker   → punt ring (IKE)
//   ESP, ESP-in-UDP to us        → inbound (outer fragments reassembled first)
//   cleartext from inside        → outbound (SPD)
//   cleartext from outside       → SPD bypass check, else dropped
// Owning worker only; consumes every mbuf of the burst.

#include <cstdint>

struct rte_mbuf;

namespace espgw::dp {

struct Worker;

/// Runs one RX burst from port index `port` through the pipeline.
void process_rx(Worker& w, uint16_t port, rte_mbuf** pkts, uint32_t n) noexcept;

}  // namespace espgw::dp
