#include "control/ike/transport_udp.hpp"

#include "control/ike/log.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <vector>

namespace espgw::ike {

namespace {
int bind_udp(uint32_t addr_host, uint16_t port) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // A burst of IKE_SA_INIT / IKE_AUTH requests (every client reconnecting after an
    // outage) must queue, not drop: a drop costs that client a retransmission timeout.
    // 4 MiB holds a few thousand requests; the kernel caps it at net.core.rmem_max
    // (SO_RCVBUFFORCE, when we still have CAP_NET_ADMIN, does not).
    const int rcvbuf = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(addr_host);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        const int e = errno;
        close(fd);
        throw std::runtime_error("bind UDP port " + std::to_string(port) + ": " + std::strerror(e));
    }
    return fd;
}
}  // namespace

UdpTransport::UdpTransport(const std::string& listen_addr, uint16_t port, uint16_t natt_port)
    : port_(port), natt_port_(natt_port) {
    in_addr a{};
    if (inet_pton(AF_INET, listen_addr.c_str(), &a) != 1) throw std::runtime_error("bad listen address " + listen_addr);
    addr_host_ = ntohl(a.s_addr);
    fd_ike_ = bind_udp(addr_host_, port_);
    try {
        fd_natt_ = bind_udp(addr_host_, natt_port_);
    } catch (...) {
        close(fd_ike_);
        throw;
    }
}

UdpTransport::~UdpTransport() {
    if (fd_ike_ >= 0) close(fd_ike_);
    if (fd_natt_ >= 0) close(fd_natt_);
}

void UdpTransport::send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) {
    const bool natt = local.port == natt_port_;
    std::vector<uint8_t> buf;
    if (natt) buf.assign(4, 0);  // RFC 3948 §2.2 non-ESP marker
    buf.insert(buf.end(), msg.begin(), msg.end());
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(remote.port);
    to.sin_addr.s_addr = htonl(remote.addr_host);
    if (sendto(natt ? fd_natt_ : fd_ike_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        log_warn("peer {}: sendto failed: {}", to_string(remote), std::strerror(errno));
}

void UdpTransport::send_nat_keepalive(const Endpoint& local, const Endpoint& remote) {
    (void)local;  // keepalives always leave from the NAT-T socket
    const uint8_t ka = 0xFF;  // RFC 3948 §2.3
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(remote.port);
    to.sin_addr.s_addr = htonl(remote.addr_host);
    if (sendto(fd_natt_, &ka, 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        log_warn("peer {}: NAT keepalive sendto failed: {}", to_string(remote), std::strerror(errno));
}

bool UdpTransport::poll_once(int timeout_ms, const Handler& h) {
    pollfd fds[2] = {{fd_ike_, POLLIN, 0}, {fd_natt_, POLLIN, 0}};
    const int n = poll(fds, 2, timeout_ms);
    if (n < 0) return errno != EINTR;
    uint8_t buf[65536];
    for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        const ssize_t len = recvfrom(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl);
        if (len <= 0) continue;
        const Endpoint local{addr_host_, i == 0 ? port_ : natt_port_};
        const Endpoint remote{ntohl(from.sin_addr.s_addr), ntohs(from.sin_port)};
        std::span<const uint8_t> msg(buf, static_cast<size_t>(len));
        if (i == 1) {
            // RFC 3948 §2.2/§2.3: a NAT keepalive is the single byte 0xFF; a non-zero
            // first word is ESP (dataplane's business); zero marker = IKE.
            if (msg.size() < 4 || msg[0] || msg[1] || msg[2] || msg[3]) continue;
            msg = msg.subspan(4);
        }
        h(local, remote, msg);
    }
    return true;
}

}  // namespace espgw::ike
