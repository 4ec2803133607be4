#pragma once
// Per-inside-address session and packet counts of one worker's NAT table, for
// `espctl show nat` top talkers. Pure code (no EAL), nothing allocates after
// construction.
//
// A fixed open-addressing table (kSlots, linear probing) of inside address → live
// sessions, packets. The owning worker updates it on session create/remove (one probe
// chain) and per translated packet (one relaxed add through the slot index the session
// keeps: no hashing per packet). A slot whose address has no session left is reused
// by the next new address on its probe chain (its packet count restarts), so the table
// holds every address with live sessions as long as fewer than kSlots - 1 have some;
// beyond that, new addresses are not tracked (untracked() counts their sessions).
//
// Threads: one writer (the worker); any thread may read snapshot() concurrently. All
// fields are accessed with relaxed atomics: no data race, but a reader may pair an
// address with the counts of the one before it in a slot being reused (a snapshot for
// display, not an invariant).

#include <cstdint>
#include <memory>
#include <vector>

namespace espgw::nat {

class TalkerTable {
public:
    static constexpr uint32_t kSlots = 1u << 15;
    static constexpr uint16_t kNone = 0xffff;  ///< "not tracked" slot index

    TalkerTable();

    /// A session of inside address `addr` was created: the slot to keep in the session
    /// (kNone when the table has no room). Owning worker.
    uint16_t add(uint32_t addr) noexcept;
    /// A session holding `slot` was removed. Owning worker.
    void remove(uint16_t slot) noexcept;
    /// A packet of a session holding `slot`. Owning worker.
    void packet(uint16_t slot) noexcept {
        if (slot == kNone) return;
        Slot& s = t_[slot];
        __atomic_store_n(&s.packets, __atomic_load_n(&s.packets, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    }

    struct Entry {
        uint32_t addr = 0;  ///< host order
        uint32_t sessions = 0;
        uint64_t packets = 0;
    };
    /// Addresses with live sessions (relaxed reads). Any thread.
    std::vector<Entry> snapshot() const;
    /// Sessions created so far whose address found no slot. Any thread.
    uint64_t untracked() const noexcept { return __atomic_load_n(&untracked_, __ATOMIC_RELAXED); }

private:
    struct Slot {
        uint32_t addr = 0;      ///< 0: never used (0.0.0.0 is not an inside address)
        uint32_t sessions = 0;  ///< live sessions; 0: reusable
        uint64_t packets = 0;
    };
    std::unique_ptr<Slot[]> t_;
    uint64_t untracked_ = 0;
};

/// The `n` addresses with the most sessions (then packets) over several workers'
/// snapshots (an address may have sessions at several workers). Pure.
std::vector<TalkerTable::Entry> top_talkers(const std::vector<std::vector<TalkerTable::Entry>>& per_worker, size_t n);

}  // namespace espgw::nat
