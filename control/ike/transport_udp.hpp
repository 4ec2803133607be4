#pragma once
// Transport over plain UDP sockets on the IKE port (500) and the NAT-T port (4500,
// RFC 3948 §2.2: IKE messages there start with a 4-byte zero non-ESP marker).
// Interim until the punt/inject rings of espgw-dp carry IKE.

#include "control/ike/transport.hpp"

#include <functional>
#include <string>

namespace espgw::ike {

class UdpTransport final : public Transport {
public:
    using Handler = std::function<void(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t>)>;
    /// Binds both ports on `listen_addr`. Throws std::runtime_error naming the socket call.
    UdpTransport(const std::string& listen_addr, uint16_t port, uint16_t natt_port);
    ~UdpTransport() override;
    UdpTransport(const UdpTransport&) = delete;
    UdpTransport& operator=(const UdpTransport&) = delete;

    void send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) override;
    void send_nat_keepalive(const Endpoint& local, const Endpoint& remote) override;
    /// Waits up to `timeout_ms` and hands every received IKE message to `h`; ESP and
    /// NAT keepalives on 4500 are dropped. Returns false when interrupted by a signal.
    bool poll_once(int timeout_ms, const Handler& h);

private:
    uint32_t addr_host_;
    uint16_t port_, natt_port_;
    int fd_ike_ = -1, fd_natt_ = -1;
};

}  // namespace espgw::ike
