#pragma once
// Inbound ESP (RFC 4303 §3.4): SPI → SA, replay check, one decrypt burst, replay
// advance + decapsulation, inner selector check (RFC 4301 §5.2), forward. Owning
// worker only; consumes the mbufs (mbuf data at the outer IP header).

#include <cstdint>

#include "dataplane/esp/classify.hpp"

struct rte_mbuf;

namespace espgw::dp {

struct Worker;

void inbound_burst(Worker& w, rte_mbuf** pkts, const esp::Classification* cls, uint32_t n) noexcept;

}  // namespace espgw::dp
