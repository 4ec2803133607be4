#pragma once
// One worker per worker lcore: its RX queues, its TX queue index on every port, its
// counters, crypto engine, reassembly table and neighbour pending queue. Everything
// here is written by the owning worker only (counters are also read by stats).

#include <cstdint>
#include <memory>
#include <type_traits>

#include <rte_ip_frag.h>

#include "crypto/engine_mb.hpp"
#include "dataplane/dp/counters.hpp"
#include "dataplane/dp/idle.hpp"
#include "dataplane/dp/neighbor.hpp"
#include "dataplane/esp/esp.hpp"

struct rte_mbuf;
struct rte_ring;

namespace espgw::tables {
struct RouteHop;
}

namespace espgw::dp {

struct Dataplane;
struct SaReader;

inline constexpr uint32_t kMaxBurst = 256;
inline constexpr uint32_t kMaxRxQueuesPerWorker = 32;

/// Per-burst array of N elements that is NOT value-initialised on entry: the
/// element types (Classification, refs) carry default member initialisers, and zeroing
/// 256 of them per burst cost more instructions than the rest of the packet path.
/// Elements are written before they are read.
template <class T, uint32_t N = kMaxBurst>
struct BurstArray {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);
    BurstArray() noexcept {}  // deliberately leaves v uninitialised
    T& operator[](uint32_t i) noexcept { return v[i]; }
    const T& operator[](uint32_t i) const noexcept { return v[i]; }
    T* data() noexcept { return v; }
    const T* data() const noexcept { return v; }
    union {
        T v[N];
    };
};

struct RxQueueRef {
    uint16_t port = 0;   ///< index into Dataplane::ports
    uint16_t queue = 0;
};

struct TxBuffer {
    uint32_t count = 0;
    rte_mbuf* pkts[kMaxBurst] = {};
};

/// The last destination this poll iteration routed (output.hpp route_cached): its
/// route and, once resolved, its next hop's MAC. Consecutive packets to one
/// destination (a tunnel peer, an inside host) skip the route and neighbour lookups.
/// Emptied at the start of every iteration: `hop` is an RCU-protected table reference.
struct OutputMemo {
    uint8_t family = 0;  ///< 0: empty
    bool has_mac = false;
    uint8_t dst[16] = {};
    const tables::RouteHop* hop = nullptr;
    // With has_mac: the whole Ethernet header (next hop's MAC, the port's MAC, type)
    // and the port's MTU, so a memo hit is a compare, one copy and the TX push.
    uint32_t mtu = 0;
    uint8_t eth[16] = {};
};

struct alignas(64) Worker {
    Worker(Dataplane& d, uint32_t idx, unsigned lc);
    ~Worker();

    Dataplane& dp;
    uint32_t index;        ///< 0..workers-1; also the TX queue on every port
    unsigned lcore;
    uint32_t burst;
    uint32_t nb_rxq = 0;
    RxQueueRef rxq[kMaxRxQueuesPerWorker];
    WorkerCounters counters;
    TxBuffer tx[kMaxPorts];
    OutputMemo out_memo;
    PendingQueue pending;
    IdleBackoff idle;
    RxInterrupts intr;  ///< armed at the first idle period when idle = "interrupt"
    std::unique_ptr<crypto::MbEngine> engine;
    std::unique_ptr<SaReader> sa;  ///< this worker's view of the shared SA/SPD tables
    rte_ip_frag_tbl* frag_tbl = nullptr;
    rte_ring* handoff_ring = nullptr;  ///< packets of SAs this worker owns, from other workers
    rte_ip_frag_death_row death_row{};
    uint64_t tsc_hz = 0;
    uint64_t now_tsc = 0;  ///< TSC at the start of this iteration
    uint64_t next_service_tsc = 0;
    // Crypto burst scratch (ops point into scratch: never moved between prepare and finish).
    crypto::Op ops[kMaxBurst];
    esp::PacketScratch scratch[kMaxBurst];

    /// Counts a dataplane drop and frees `m`.
    void drop(rte_mbuf* m, DpDrop why) noexcept;
    /// Counts an ESP transform drop and frees `m`.
    void drop(rte_mbuf* m, esp::DropReason why) noexcept;
};

/// The worker loop (rte_eal_remote_launch entry point, arg = Worker*): until
/// Dataplane::stop, polls its RX queues, runs classify → inbound/outbound/local →
/// output, flushes TX, reports an RCU quiescent state once per iteration, and backs
/// off when idle (sleep, or an RX-interrupt wait offline for RCU: idle.hpp). Returns 0.
int worker_main(void* arg);

}  // namespace espgw::dp
