#pragma once
// Transport through espgw-dp (DESIGN.md "Processes"): the dataplane punts IKE packets
// it receives (UDP 500, and UDP 4500 after the RFC 3948 non-ESP marker) into the punt
// ring with their outer addresses and ports in the mbuf's PuntMeta; espgw-ike, a DPDK
// secondary process of the same --file-prefix, drains that ring and answers through
// the inject ring, where espgw-dp adds the UDP/IP headers (and the marker on the
// NAT-T port) and routes the packet out of the right port. So NAT detection (RFC 7296
// §2.23) sees exactly what was on the wire, and IKE leaves from the gateway's own
// public address without a kernel socket.
//
// Needs rte_eal_init as a secondary first (tables::Tables::attach_secondary does it).

#include "control/ike/transport.hpp"

#include <cstdint>
#include <functional>
#include <span>

struct rte_ring;
struct rte_mempool;

namespace espgw::ike {

/// Counters of the punt/inject path (control thread only).
struct DpTransportCounters {
    uint64_t received = 0;      ///< IKE messages taken from the punt ring
    uint64_t dropped_v6 = 0;    ///< IPv6 punts (espgw-ike speaks IKE over IPv4 only so far)
    uint64_t sent = 0;          ///< messages put on the inject ring
    uint64_t keepalives = 0;    ///< NAT keepalives put on the inject ring
    uint64_t send_failed = 0;   ///< no mbuf, message too big or inject ring full
};

class DpTransport final : public Transport {
public:
    using Handler = std::function<void(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t>)>;
    /// Finds espgw-dp's punt/inject rings and mbuf pool (dataplane/dp/punt.hpp names).
    /// Throws std::runtime_error naming what is missing (no espgw-dp primary running).
    DpTransport();

    void send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) override;
    void send_nat_keepalive(const Endpoint& local, const Endpoint& remote) override;

    /// Hands every punted IKE message to `h` (then frees its mbuf); when the ring is
    /// empty, sleeps in short steps up to `timeout_ms` waiting for one. Control thread.
    void poll_once(int timeout_ms, const Handler& h);

    const DpTransportCounters& counters() const noexcept { return counters_; }

private:
    bool inject(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg, uint16_t flags);
    rte_ring* punt_ = nullptr;
    rte_ring* inject_ = nullptr;
    rte_mempool* pool_ = nullptr;
    DpTransportCounters counters_;
};

}  // namespace espgw::ike
