#pragma once
// Neighbour resolution: ARP (RFC 826) and IPv6 Neighbor Discovery (RFC 4861 §7).
// NeighborTable: one process-wide table. Readers (every worker) never block: a slot's
// key is written once and published with a release store, the MAC is one atomic
// 64-bit word. Writers (a worker that saw an ARP/NA, main for static entries) take a
// spinlock only to claim a new slot; this is the rare path, never the forwarding one.
// PendingQueue: per worker, a few packets held per unresolved next hop.

#include <atomic>
#include <cstdint>

#include "dataplane/dp/config.hpp"

struct rte_mbuf;

namespace espgw::dp {

struct Worker;

class NeighborTable {
public:
    static constexpr uint32_t kSlots = 4096;  ///< power of 2

    /// MAC of (port, address) if known. Any thread, lock-free.
    bool lookup(uint16_t port, uint8_t family, const uint8_t* addr, MacAddr& mac) const noexcept;
    /// Inserts or updates (a static entry is never overwritten by a learned one).
    /// Any thread; returns false when the table is full.
    bool learn(uint16_t port, uint8_t family, const uint8_t* addr, const MacAddr& mac,
               bool is_static = false) noexcept;
    /// Calls f(port, family, addr, mac, is_static) for every entry. Any thread.
    template <typename F>
    void for_each(F&& f) const {
        for (const Slot& s : slots_) {
            if (s.used.load(std::memory_order_acquire) == 0) continue;
            uint64_t v = s.mac.load(std::memory_order_relaxed);
            MacAddr m;
            for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v >> (40 - 8 * i));
            f(s.port, s.family, s.addr, m, (v >> 62) & 1);
        }
    }

private:
    struct Slot {
        std::atomic<uint32_t> used{0};  ///< 1 once port/family/addr are published (release)
        uint16_t port = 0;
        uint8_t family = 0;
        uint8_t addr[16] = {};
        std::atomic<uint64_t> mac{0};   ///< bit 63 valid, bit 62 static, low 48 bits MAC
    };
    static uint32_t hash(uint16_t port, uint8_t family, const uint8_t* addr) noexcept;
    Slot slots_[kSlots];
    std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
};

/// Per worker: packets waiting for a next hop's MAC (at most kPerHop each), ARP/NS
/// retransmitted once a second, given up after 3 s (drop no_neighbor).
class PendingQueue {
public:
    static constexpr uint32_t kHops = 16;
    static constexpr uint32_t kPerHop = 8;

    /// Holds `m` for (port, addr); sends the first ARP request / NS. Drops (frees and
    /// counts) when no room. Owning worker only.
    void hold(Worker& w, uint16_t port, uint8_t family, const uint8_t* addr, rte_mbuf* m) noexcept;
    /// Sends what became resolvable, retransmits requests, expires old entries.
    /// Call every few hundred microseconds at most. Owning worker only.
    void service(Worker& w, uint64_t now_tsc) noexcept;
    bool empty() const noexcept { return used_ == 0; }

private:
    struct Hop {
        uint16_t port = 0;
        uint8_t family = 0;  ///< 0 = free
        uint8_t addr[16] = {};
        uint32_t count = 0;
        uint32_t tries = 0;
        uint64_t last_req_tsc = 0;
        rte_mbuf* pkts[kPerHop] = {};
    };
    Hop hops_[kHops];
    uint32_t used_ = 0;
};

/// Handles an ARP frame (mbuf data at the ARP header) received on `port`: learns the
/// sender when it talks to us, answers requests for our addresses. Consumes `m`.
void handle_arp(Worker& w, uint16_t port, rte_mbuf* m) noexcept;

/// Handles ICMPv6 NS/NA (mbuf data at the IPv6 header, `l4_off` to ICMPv6). Returns
/// false when it is not NS/NA (caller continues); otherwise consumes `m`.
bool handle_nd(Worker& w, uint16_t port, rte_mbuf* m, uint32_t l4_off) noexcept;

/// Sends an ARP request (IPv4) or a Neighbor Solicitation (IPv6) for `addr` on `port`.
void solicit(Worker& w, uint16_t port, uint8_t family, const uint8_t* addr) noexcept;

}  // namespace espgw::dp
