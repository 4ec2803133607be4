#pragma once
// Outbound (RFC 4301 §5.1): SPD first match → protect (PMTU check, pre-fragmentation,
// one encrypt burst, UDP-4500 when the SA says so, route the outer packet) / bypass
// (route) / discard. Also the bypass check for cleartext arriving from outside.
// Owning worker only; consumes the mbufs (mbuf data at the IP header).

#include <cstdint>

#include "dataplane/esp/classify.hpp"
#include "dataplane/net/ip.hpp"

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
/// checksum). False when it would expire (caller drops ttl_exceeded). Inline: every
/// forwarded packet passes here.
inline bool forward_ttl(uint8_t* ip) noexcept {
    if ((ip[0] >> 4) == 4) {
        if (ip[8] <= 1) return false;
        // The TTL is the high byte of the word at offset 8: it drops by 0x0100, so the
        // checksum (RFC 1624 eqn. 3) gains 0x0100 with end-around carry.
        --ip[8];
        uint32_t sum = uint32_t{net::load_be16(ip + 10)} + 0x0100u;
        net::store_be16(ip + 10, static_cast<uint16_t>(sum + (sum >> 16)));
        return true;
    }
    if (ip[7] <= 1) return false;
    --ip[7];
    return true;
}


}  // namespace espgw::dp
