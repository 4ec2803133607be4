// Top-talker counts: the per-worker address table and the merge over workers.
#include "dataplane/nat/talkers.hpp"

#include <algorithm>
#include <unordered_map>

namespace espgw::nat {

namespace {
inline void store(uint32_t& f, uint32_t v) noexcept { __atomic_store_n(&f, v, __ATOMIC_RELAXED); }
inline uint32_t load(const uint32_t& f) noexcept { return __atomic_load_n(&f, __ATOMIC_RELAXED); }

inline uint32_t home(uint32_t addr) noexcept {
    uint32_t x = addr * 0x9E3779B1u;
    return (x ^ (x >> 15)) & (TalkerTable::kSlots - 1);
}
}  // namespace

TalkerTable::TalkerTable() : t_(std::make_unique<Slot[]>(kSlots)) {}

uint16_t TalkerTable::add(uint32_t addr) noexcept {
    // Walk the whole chain (to the first never-used slot) looking for addr, noting the
    // first reusable slot: an address is never in two slots.
    uint32_t reuse = kSlots;
    uint32_t i = home(addr);
    for (uint32_t n = 0; n < kSlots; ++n, i = (i + 1) & (kSlots - 1)) {
        Slot& s = t_[i];
        if (s.addr == addr && addr != 0) {
            store(s.sessions, s.sessions + 1);
            return static_cast<uint16_t>(i);
        }
        if (s.addr == 0) {
            if (reuse == kSlots) reuse = i;
            break;
        }
        if (s.sessions == 0 && reuse == kSlots) reuse = i;
    }
    if (reuse == kSlots || addr == 0) {
        __atomic_store_n(&untracked_, untracked_ + 1, __ATOMIC_RELAXED);
        return kNone;
    }
    Slot& s = t_[reuse];
    __atomic_store_n(&s.packets, uint64_t{0}, __ATOMIC_RELAXED);
    store(s.addr, addr);
    store(s.sessions, 1);
    return static_cast<uint16_t>(reuse);
}

void TalkerTable::remove(uint16_t slot) noexcept {
    if (slot == kNone) return;
    Slot& s = t_[slot];
    if (s.sessions) store(s.sessions, s.sessions - 1);
}

std::vector<TalkerTable::Entry> TalkerTable::snapshot() const {
    std::vector<Entry> out;
    for (uint32_t i = 0; i < kSlots; ++i) {
        const Slot& s = t_[i];
        const uint32_t n = load(s.sessions);
        if (n == 0) continue;
        out.push_back({load(s.addr), n, __atomic_load_n(&s.packets, __ATOMIC_RELAXED)});
    }
    return out;
}

std::vector<TalkerTable::Entry> top_talkers(const std::vector<std::vector<TalkerTable::Entry>>& per_worker, size_t n) {
    std::unordered_map<uint32_t, TalkerTable::Entry> sum;
    for (const auto& w : per_worker)
        for (const TalkerTable::Entry& e : w) {
            TalkerTable::Entry& t = sum[e.addr];
            t.addr = e.addr;
            t.sessions += e.sessions;
            t.packets += e.packets;
        }
    std::vector<TalkerTable::Entry> all;
    all.reserve(sum.size());
    for (const auto& [a, e] : sum) all.push_back(e);
    const auto better = [](const TalkerTable::Entry& a, const TalkerTable::Entry& b) {
        if (a.sessions != b.sessions) return a.sessions > b.sessions;
        if (a.packets != b.packets) return a.packets > b.packets;
        return a.addr < b.addr;
    };
    if (all.size() > n) {
        std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), better);
        all.resize(n);
    } else {
        std::sort(all.begin(), all.end(), better);
    }
    return all;
}

}  // namespace espgw::nat
