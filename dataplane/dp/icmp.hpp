#pragma once
// ICMP the appliance originates: echo replies for its own addresses (RFC 792,
// RFC 4443 §4.2) and Path MTU signals (RFC 792 type 3 code 4 with the RFC 1191 §4
// next-hop MTU; RFC 4443 §3.2 Packet Too Big) when an encrypted packet would exceed
// the outside MTU. Owning worker only; each function consumes the mbuf.

#include <cstdint>

#include "dataplane/esp/classify.hpp"

struct rte_mbuf;

namespace espgw::dp {

struct Worker;

/// Answers an ICMP/ICMPv6 echo request addressed to us (mbuf data at the IP header).
/// Returns false (mbuf untouched) when it is not an echo request.
bool icmp_echo(Worker& w, uint16_t port, rte_mbuf* m, const esp::Classification& cls) noexcept;

/// Sends "fragmentation needed" (IPv4) / "packet too big" (IPv6) carrying `mtu` to
/// the source of `m`, from our address on `in_port`, and frees `m`.
void icmp_too_big(Worker& w, uint16_t in_port, rte_mbuf* m, uint32_t mtu) noexcept;

}  // namespace espgw::dp
