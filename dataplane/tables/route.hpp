#pragma once
// The route table the workers look up (IPv4 and IPv6 longest prefix match), compiled
// from the RouteRecord array in shared memory into rte_fib / rte_fib6.
//
// Same publication scheme as the SPD (spd.hpp): rte_fib objects hold process-local
// function pointers (their lookup function), so a writer in any process only edits
// the records and bumps Header::route_generation; the primary's control thread
// (refresh(), publish.hpp) builds a complete new RouteTable off the hot path,
// publishes it with one release store, and frees the old one after an RCU grace
// period. Rebuilding instead of editing a live rte_fib in place keeps readers off
// half-applied changes (rte_fib has no RCU integration in DPDK 22.11).

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/tables/layout.hpp"

struct rte_fib;
struct rte_fib6;

namespace espgw::tables {

/// Where a route sends a packet. Immutable once published.
struct RouteHop {
    uint16_t port = 0;        ///< egress port index
    uint8_t family = 4;       ///< of the gateway
    bool via = false;         ///< true: next hop is `gateway`; false: on-link
    uint8_t gateway[16] = {}; ///< network order
};

/// An immutable, process-local pair of FIBs built from one route generation.
class RouteTable {
public:
    /// Most addresses one lookup4_bulk()/lookup6_bulk() call takes.
    static constexpr uint32_t kBurst = 64;

    /// Builds FIBs "<name>.r4.<seq>" / "<name>.r6.<seq>" holding `routes`. `fast`:
    /// DIR24_8 / TRIE (large, fast) instead of the RIB tree. Control path; allocates.
    /// Throws std::runtime_error naming the FIB when DPDK refuses (memory).
    RouteTable(const std::string& name, uint32_t seq, const std::vector<Route>& routes, bool fast,
               uint64_t generation);
    ~RouteTable();
    RouteTable(const RouteTable&) = delete;
    RouteTable& operator=(const RouteTable&) = delete;

    /// Longest-prefix match of an IPv4 (4 network-order bytes) / IPv6 (16 bytes)
    /// destination; nullptr when no route. Reader threads of this process, lock-free.
    const RouteHop* lookup4(const uint8_t* dst) const noexcept;
    const RouteHop* lookup6(const uint8_t* dst) const noexcept;
    /// Burst forms: `n` <= kBurst destinations, IPv4 as host-order uint32.
    void lookup4_bulk(const uint32_t* dst_host, const RouteHop** out, uint32_t n) const noexcept;
    void lookup6_bulk(const uint8_t (*dst)[16], const RouteHop** out, uint32_t n) const noexcept;

    uint64_t generation() const noexcept { return generation_; }
    size_t size() const noexcept { return hops_.size(); }

private:
    rte_fib* v4_ = nullptr;
    rte_fib6* v6_ = nullptr;
    std::vector<RouteHop> hops_;  ///< FIB next hop value = index + 1 (0 = no route)
    uint64_t generation_ = 0;
};

}  // namespace espgw::tables
