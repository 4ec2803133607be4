#pragma once
// How IKE messages leave the control process. UdpTransport (plain sockets on 500/4500)
// is the first implementation; the punt/inject path through espgw-dp replaces it
// without touching the IKE logic.

#include "control/ike/endpoint.hpp"

#include <cstdint>
#include <span>

namespace espgw::ike {

class Transport {
public:
    virtual ~Transport() = default;
    /// Sends one IKE message (without the RFC 3948 non-ESP marker: the transport adds
    /// it on the NAT-T port) from `local` to `remote`. Control thread; failures are
    /// logged by the transport and otherwise ignored (IKE retransmits).
    virtual void send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) = 0;
    /// Sends one RFC 3948 §2.3 NAT-keepalive (the single byte 0xFF, no non-ESP marker)
    /// from `local` (the NAT-T port) to `remote`. Control thread; failures logged.
    virtual void send_nat_keepalive(const Endpoint& local, const Endpoint& remote) = 0;
};

}  // namespace espgw::ike
