#pragma once
// IP fragmentation in both directions of the ESP path.
// - Outer ESP (and ESP-in-UDP) fragments are reassembled with rte_ip_frag before
//   decryption (RFC 4303 §3.4.1: ESP processes whole datagrams).
// - An inner IPv4 packet without DF that would not fit the outside MTU once
//   encrypted is fragmented before encryption (RFC 4301 §8.1, "pre-fragmentation"),
//   so the receiver gets whole ESP packets and reassembles the inner datagram.
// Owning worker only.

#include <cstdint>

struct rte_mbuf;

namespace espgw::dp {

struct Worker;

/// Creates the worker's reassembly table. Throws std::runtime_error.
void frag_init(Worker& w, int socket_id);

/// Feeds one IPv4/IPv6 fragment (mbuf data at the IP header). Returns the whole,
/// contiguous datagram when this fragment completed it, else nullptr (held, or dropped
/// and counted). Consumes `m` either way.
rte_mbuf* reassemble(Worker& w, rte_mbuf* m) noexcept;

/// Frees what reassembly timed out. Call once per loop iteration.
void frag_housekeeping(Worker& w) noexcept;

/// Splits the IPv4 packet `m` into fragments of at most `max_ip_bytes` each (RFC 791
/// §3.2), copied into fresh mbufs written to `out`. Returns how many (0 on failure:
/// no mbufs or too many); `m` is always freed.
uint32_t fragment_ipv4(Worker& w, rte_mbuf* m, uint32_t max_ip_bytes, rte_mbuf** out, uint32_t max_out) noexcept;

}  // namespace espgw::dp
