#pragma once
// The primary's publication of process-local lookup structures built from shared
// records: the SPD classifier (spd.hpp) and the route table (route.hpp).
//
// Why: rte_acl and rte_fib objects contain process-local function pointers, so they
// can be neither shared with nor built by a secondary writer. The writer (any process)
// edits records in shared memory and bumps a generation (release); the primary's
// control thread (espgw-dp's main lcore, e.g. once per 10 ms tick) calls refresh():
// records copied under the writer lock → new object built off the hot path →
// published by one release store of a pointer → the previous object freed once
// rte_rcu_qsbr_check says every worker passed a quiescent state (never waits).
// Latency from a writer's change to the workers using it: one refresh() period.

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/tables/route.hpp"
#include "dataplane/tables/spd.hpp"
#include "dataplane/tables/tables.hpp"

namespace espgw::tables {

/// Process-local publication bookkeeping of a Tables handle (library internal).
struct Tables::Local {
    uint64_t spd_built = UINT64_MAX;     ///< generation of the published classifier
    uint64_t routes_built = UINT64_MAX;  ///< generation of the published route table
    uint32_t seq = 0;                    ///< makes DPDK object names unique
    struct Retired {
        uint64_t token;  ///< rte_rcu_qsbr_start() at unpublication
        std::unique_ptr<const Classifier> spd;
        std::unique_ptr<const RouteTable> routes;
    };
    std::vector<Retired> retired;
    std::unique_ptr<const Classifier> spd;
    std::unique_ptr<const RouteTable> routes;
};

/// What refresh() did.
struct RefreshResult {
    bool spd = false;     ///< a new classifier was published
    bool routes = false;  ///< a new route table was published
    size_t freed = 0;     ///< retired objects freed after their grace period
};

/// Rebuilds and republishes whatever changed generation, frees retired objects whose
/// grace period passed. One control thread of the primary (the process whose workers
/// read); never blocks on workers; holds the writer lock only to copy records.
/// Throws std::runtime_error when DPDK refuses to build (memory) — the previously
/// published objects stay in use and the next call retries.
RefreshResult refresh(Tables& t);

/// Number of retired objects still waiting for their grace period (tests, stats).
size_t retired_count(const Tables& t) noexcept;

/// Unpublishes and frees every classifier and route table now. Only when no reader
/// of this process can run (shutdown).
void release_published(Tables& t) noexcept;

}  // namespace espgw::tables
