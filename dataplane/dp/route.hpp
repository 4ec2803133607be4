#pragma once
// Routing table of espgw-dp: IPv4 in rte_lpm, IPv6 in rte_lpm6, each entry naming a
// next hop (egress port + gateway, or directly connected). Built on the main lcore at
// start from the connected prefixes of the ports and [[route]]; read-only afterwards,
// so workers look it up without synchronisation.

#include <cstdint>
#include <vector>

#include "dataplane/dp/config.hpp"
#include "dataplane/net/ip.hpp"

struct rte_lpm;
struct rte_lpm6;

namespace espgw::dp {

struct NextHop {
    uint16_t port = 0;   ///< index into Dataplane::ports
    bool direct = true;  ///< the destination itself is on the link
    net::IpAddr via;     ///< gateway when !direct
};

class Routes {
public:
    Routes() = default;
    ~Routes();
    Routes(const Routes&) = delete;
    Routes& operator=(const Routes&) = delete;

    /// Creates the LPM tables and adds the connected prefixes of every port and the
    /// configured routes. Main lcore, after EAL init. Throws std::runtime_error.
    void build(const Config& cfg, int socket_id);

    /// Longest-prefix match for an IPv4 destination (4 network-order bytes) or IPv6
    /// (16 bytes). nullptr when no route. Any worker, lock-free (read-only table).
    const NextHop* lookup4(const uint8_t* dst) const noexcept;
    const NextHop* lookup6(const uint8_t* dst) const noexcept;

    /// Resolves the neighbour address to ARP/ND for: the gateway or the destination.
    static const uint8_t* neighbor_addr(const NextHop& nh, const uint8_t* dst) noexcept {
        return nh.direct ? dst : nh.via.bytes;
    }

private:
    void add(const Prefix& p, const NextHop& nh);
    rte_lpm* v4_ = nullptr;
    rte_lpm6* v6_ = nullptr;
    std::vector<NextHop> hops_;
};

}  // namespace espgw::dp
