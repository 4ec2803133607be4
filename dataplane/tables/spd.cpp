// SPD classifier build and the primary's generation-driven republication.
#include "dataplane/tables/spd.hpp"

#include <rte_rcu_qsbr.h>
#include <rte_spinlock.h>

#include <algorithm>
#include <cstring>

namespace espgw::tables {

namespace {
void make_prefix(const uint8_t* addr, uint8_t len, uint8_t words, uint32_t* net, uint32_t* mask) {
    uint8_t m[16] = {};
    for (uint32_t bit = 0; bit < len && bit < words * 32u; ++bit) m[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
    for (uint8_t i = 0; i < 4; ++i) {
        uint32_t a = 0, mm = 0;
        if (i < words) {
            std::memcpy(&a, addr + 4 * i, 4);
            std::memcpy(&mm, m + 4 * i, 4);
        }
        mask[i] = mm;
        net[i] = a & mm;
    }
}
}  // namespace

Classifier::Classifier(std::vector<PolicyRecord> policies) {
    std::stable_sort(policies.begin(), policies.end(), [](const PolicyRecord& a, const PolicyRecord& b) {
        return a.p.priority != b.p.priority ? a.p.priority < b.p.priority : a.order < b.order;
    });
    entries_.reserve(policies.size());
    for (const PolicyRecord& r : policies) {
        const Policy& p = r.p;
        Entry e{};
        e.family = p.family;
        e.words = p.family == 6 ? 4 : 1;
        e.proto = p.proto;
        make_prefix(p.src, p.src_len, e.words, e.src, e.src_mask);
        make_prefix(p.dst, p.dst_len, e.words, e.dst, e.dst_mask);
        e.sport_lo = p.src_port_lo;
        e.sport_hi = p.src_port_hi;
        e.dport_lo = p.dst_port_lo;
        e.dport_hi = p.dst_port_hi;
        e.kind = p.action == PolicyAction::protect  ? SpdMatch::protect
                 : p.action == PolicyAction::bypass ? SpdMatch::bypass
                                                    : SpdMatch::discard;
        e.sa_id = p.sa_id;
        entries_.push_back(e);
    }
}

bool spd_refresh(Tables& t) {
    Tables::Local& L = *t.local;
    // Free what every reader has moved past (non-blocking check).
    std::erase_if(L.retired, [&](const Tables::Local::Retired& r) { return rte_rcu_qsbr_check(t.rcu, r.token, false) == 1; });

    // Acquire pairs with the writer's release bump after editing the records.
    const uint64_t gen = t.hdr->spd_generation.load(std::memory_order_acquire);
    if (gen == L.built_generation) return false;
    std::vector<PolicyRecord> copy;
    uint64_t copied_gen;
    rte_spinlock_lock(&t.hdr->writer_lock);
    copied_gen = t.hdr->spd_generation.load(std::memory_order_relaxed);
    const uint32_t n = t.hdr->limits.max_policies;
    for (uint32_t i = 0; i < n; ++i)
        if (t.pol[i].in_use) copy.push_back(t.pol[i]);
    rte_spinlock_unlock(&t.hdr->writer_lock);

    auto c = std::make_unique<Classifier>(std::move(copy));
    c->generation_ = copied_gen;
    // Release: a reader that loads the pointer sees the fully built classifier.
    t.classifier.store(c.get(), std::memory_order_release);
    if (L.current) L.retired.push_back({rte_rcu_qsbr_start(t.rcu), std::move(L.current)});
    L.current = std::move(c);
    L.built_generation = copied_gen;
    return true;
}

void spd_release_all(Tables& t) noexcept {
    t.classifier.store(nullptr, std::memory_order_release);
    if (!t.local) return;
    t.local->retired.clear();
    t.local->current.reset();
}

}  // namespace espgw::tables
