// Generation-driven rebuild and RCU-deferred replacement of the SPD classifier and
// the route table (see publish.hpp for why these are built in the primary).
#include "dataplane/tables/publish.hpp"

#include <rte_rcu_qsbr.h>
#include <rte_spinlock.h>

namespace espgw::tables {

namespace {

/// Copies the in-use records of `arr` under the writer lock, with the generation
/// they correspond to (read inside the lock: no writer can change both apart).
template <typename Rec, typename Out, typename Get>
uint64_t copy_records(Tables& t, const Rec* arr, uint32_t n, const std::atomic<uint64_t>& gen, std::vector<Out>& out,
                      Get get) {
    rte_spinlock_lock(&t.hdr->writer_lock);
    const uint64_t g = gen.load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < n; ++i)
        if (arr[i].in_use) out.push_back(get(arr[i]));
    rte_spinlock_unlock(&t.hdr->writer_lock);
    return g;
}

}  // namespace

RefreshResult refresh(Tables& t) {
    Tables::Local& L = *t.local;
    RefreshResult res;
    // Free what every reader has moved past (non-blocking check).
    const size_t before = L.retired.size();
    std::erase_if(L.retired, [&](const Tables::Local::Retired& r) { return rte_rcu_qsbr_check(t.rcu, r.token, false) == 1; });
    res.freed = before - L.retired.size();

    // Acquire pairs with the writer's release bump after editing the records.
    if (t.hdr->spd_generation.load(std::memory_order_acquire) != L.spd_built) {
        std::vector<PolicyRecord> copy;
        const uint64_t g = copy_records(t, t.pol, t.hdr->limits.max_policies, t.hdr->spd_generation, copy,
                                        [](const PolicyRecord& r) { return r; });
        auto c = std::make_unique<const Classifier>(t.name(), L.seq++, std::move(copy), g);
        // Release: a reader that loads the pointer sees the fully built classifier.
        t.classifier.store(c.get(), std::memory_order_release);
        // The token is taken after the store: a reader that still uses the old
        // object has not passed the quiescent state the token waits for.
        if (L.spd) L.retired.push_back({rte_rcu_qsbr_start(t.rcu), std::move(L.spd), nullptr});
        L.spd = std::move(c);
        L.spd_built = g;
        res.spd = true;
    }
    if (t.hdr->route_generation.load(std::memory_order_acquire) != L.routes_built) {
        std::vector<Route> copy;
        const uint64_t g = copy_records(t, t.rt, t.hdr->limits.max_routes, t.hdr->route_generation, copy,
                                        [](const RouteRecord& r) { return r.r; });
        auto rt = std::make_unique<const RouteTable>(t.name(), L.seq++, copy, t.hdr->limits.fast_routes, g);
        t.routes.store(rt.get(), std::memory_order_release);
        if (L.routes) L.retired.push_back({rte_rcu_qsbr_start(t.rcu), nullptr, std::move(L.routes)});
        L.routes = std::move(rt);
        L.routes_built = g;
        res.routes = true;
    }
    return res;
}

size_t retired_count(const Tables& t) noexcept { return t.local->retired.size(); }

void release_published(Tables& t) noexcept {
    t.classifier.store(nullptr, std::memory_order_release);
    t.routes.store(nullptr, std::memory_order_release);
    if (!t.local) return;
    t.local->retired.clear();
    t.local->spd.reset();
    t.local->routes.reset();
    t.local->spd_built = t.local->routes_built = UINT64_MAX;
}

}  // namespace espgw::tables
