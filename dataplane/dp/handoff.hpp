#pragma once
// SA owner hand-off (DESIGN.md "per-SA mutable state has one writing worker"): with RSS,
// packets of one SA may arrive at any worker; the sequence number and the replay window
// are written only by the SA's owner, so a non-owner passes the packet, untouched, to
// the owner through the owner's ring (multi-producer, single consumer). The owner runs
// it through the same inbound/outbound path. Packets of one flow arrive on one RX queue
// and take the same way, so per-flow order is kept.

#include <cstdint>

struct rte_ring;
struct rte_mbuf;

namespace espgw::dp {

struct Worker;

enum class HandoffKind : uint8_t { inbound = 1, outbound = 2 };

/// Creates one ring per worker. Main lcore, before launch. Throws std::runtime_error.
void handoff_create(Worker& w, int socket_id);

/// Queues `m` (data at the IP header) for worker `owner`. Drops (counted) when the
/// owner's ring is full. Any worker.
void handoff(Worker& w, uint32_t owner, rte_mbuf* m, HandoffKind kind, uint16_t in_port) noexcept;

/// Processes what other workers handed to this one; returns how many (they count as
/// received work for the idle back-off). Owning worker, once per iteration.
uint32_t drain_handoff(Worker& w) noexcept;

}  // namespace espgw::dp
