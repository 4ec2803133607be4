#pragma once
// Process-wide state of espgw-dp that every worker reads: ports, routes, neighbours,
// the SPD, punt rings, the mbuf pool, the stop flag. Built by main() on the main lcore
// before the workers start; after that only the neighbour table (its own lock-free
// scheme) and the stop flag change.

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/dp/config.hpp"
#include "dataplane/dp/counters.hpp"
#include "dataplane/dp/neighbor.hpp"
#include "dataplane/dp/punt.hpp"
#include "dataplane/dp/route.hpp"

struct rte_mempool;

namespace espgw::dp {

struct Worker;
struct SaBinding;

inline constexpr uint32_t kMaxPortAddrs = 8;

/// One port as the workers see it.
struct PortInfo {
    uint16_t port_id = 0;  ///< DPDK port id
    PortRole role = PortRole::inside;
    MacAddr mac{};
    uint32_t mtu = 1500;   ///< IP MTU, bytes
    uint16_t nb_rxq = 1;
    uint16_t nb_txq = 1;   ///< one per worker
    uint32_t nb_addrs = 0;
    Prefix addrs[kMaxPortAddrs];
    std::string name;
    std::string device;
    bool rss = false;

    /// First address of `family` on this port, or nullptr. Any thread.
    const net::IpAddr* addr_of(uint8_t family) const noexcept {
        for (uint32_t i = 0; i < nb_addrs; ++i)
            if (addrs[i].addr.family == family) return &addrs[i].addr;
        return nullptr;
    }
};

struct Dataplane {
    Config cfg;
    uint32_t nb_ports = 0;
    PortInfo ports[kMaxPorts];
    uint16_t outside_port = 0;  ///< first outside port (index)
    NeighborTable neighbors;
    Punt punt;
    rte_mempool* pool = nullptr;
    std::atomic<bool> stop{false};  ///< set by the signal handler / main; workers poll it (relaxed)
    std::vector<std::unique_ptr<Worker>> workers;
    /// SA access (tables library handles); see sa.hpp.
    std::unique_ptr<SaBinding> sa;

    /// Our addresses of every port, flat, for is_local (built by ports_start from
    /// the ports' addrs; read-only afterwards): IPv4 as 32-bit words in wire order.
    uint32_t nb_local4 = 0, nb_local6 = 0;
    uint32_t local4[kMaxPorts * kMaxPortAddrs] = {};
    uint16_t local4_port[kMaxPorts * kMaxPortAddrs] = {};
    net::IpAddr local6[kMaxPorts * kMaxPortAddrs];
    uint16_t local6_port[kMaxPorts * kMaxPortAddrs] = {};

    /// True when `a` (family 4 or 6, network-order bytes) is one of our addresses on
    /// any port; sets *port_idx. Any thread (read-only data). Every packet asks: an
    /// IPv4 address is one word compared against a short flat array.
    bool is_local(uint8_t family, const uint8_t* a, uint16_t* port_idx = nullptr) const noexcept {
        if (family == 4) {
            uint32_t x;
            std::memcpy(&x, a, 4);
            for (uint32_t i = 0; i < nb_local4; ++i)
                if (local4[i] == x) {
                    if (port_idx) *port_idx = local4_port[i];
                    return true;
                }
            return false;
        }
        return is_local6(a, port_idx);
    }
    bool is_local6(const uint8_t* a, uint16_t* port_idx) const noexcept;
    /// Fills local4/local6 from the ports' addresses.
    void index_local_addrs() noexcept;
};

}  // namespace espgw::dp
