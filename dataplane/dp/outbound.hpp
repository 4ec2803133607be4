#pragma once
// Outbound (RFC 4301 §5.1): SPD first match → protect (PMTU check, pre-fragmentation,
// one encrypt burst, UDP-4500 when the SA says so, route the outer packet) / bypass
// (route) / discard. Also the bypass check for cleartext arriving from outside.
// Owning worker only; consumes the mbufs (mbuf data at the IP header).

#include <cstdint>

#include "dataplane/esp/classify.hpp"

struct rte_mbuf;

namespace espgw::dp {

struct Worker;

/// Cleartext from an inside port `in_port`.
void outbound_burst(Worker& w, uint16_t in_port, rte_mbuf** pkts, const esp::Classification* cls,
                    uint32_t n) noexcept;

/// Cleartext transit arriving on an outside port: forwarded only when the SPD, read
/// with source and destination swapped, says bypass (else cleartext_from_outside).
void outside_cleartext(Worker& w, rte_mbuf* m, const esp::Classification& cls) noexcept;

/// Decrements TTL / hop limit of a forwarded packet (RFC 1812 §5.3.1, incremental
/// checksum). False when it would expire (caller drops ttl_exceeded).
bool forward_ttl(uint8_t* ip) noexcept;

/// Selectors of the packet (ports for TCP/UDP only).
struct Selectors;
void selectors_of(const uint8_t* ip, const esp::Classification& cls, Selectors& s) noexcept;

}  // namespace espgw::dp
