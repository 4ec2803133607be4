#pragma once
// The reader API of the shared tables, for the dataplane's worker threads (of the
// primary process: the SPD and route objects are process-local, see publish.hpp):
// SPI → inbound SA (one or a burst), SA id → outbound SA, SPD first match (burst),
// route lookup, the owner rule, lifetime charging with expiry events, and the RCU
// quiescent report. Lock-free, no allocation, no syscalls, no exceptions.
//
// RCU contract (rte_rcu_qsbr, one reader id per worker): a reference returned by
// inbound()/outbound()/spd() stays valid — its slot is neither wiped nor reused —
// until this Reader's next quiescent() or offline(). A worker calls quiescent() once
// per poll-loop iteration, with no reference held across it.

#include <rte_hash.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <atomic>
#include <cstdint>

#include "dataplane/tables/route.hpp"
#include "dataplane/tables/spd.hpp"
#include "dataplane/tables/tables.hpp"

namespace espgw::tables {

/// An inbound SA as one poll iteration sees it.
struct InRef {
    const esp::InboundSa* sa = nullptr;
    esp::InboundState* st = nullptr;  ///< write only on the owner worker
    uint32_t slot = kNoSlot;
    uint32_t id = 0;
    uint32_t owner = 0;
    bool dead = false;  ///< hard lifetime reached: drop (sa_expired)
};
/// An outbound SA as one poll iteration sees it.
struct OutRef {
    const esp::OutboundSa* sa = nullptr;
    esp::OutboundState* st = nullptr;  ///< write only on the owner worker
    uint32_t slot = kNoSlot;
    uint32_t id = 0;
    uint32_t owner = 0;
    bool dead = false;
};

class Reader {
public:
    /// Registers reader id `worker` (< Limits::workers) with the tables' RCU and puts
    /// it online. Call on any thread before the worker starts; throws
    /// std::runtime_error when the id is out of range or already registered.
    Reader(Tables& t, uint32_t worker);
    /// Goes offline and unregisters (writers stop waiting for this worker).
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    uint32_t worker() const noexcept { return worker_; }

    /// Inbound SA for `spi` (host order). False when unknown. Worker thread.
    bool inbound(uint32_t spi, InRef& out) const noexcept {
        void* data = nullptr;
        if (rte_hash_lookup_with_hash_data(t_.spi_hash, &spi, spi_sig(t_, spi), &data) < 0) return false;
        return in_ref(static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data)), out);
    }

    /// Burst form of inbound(): looks up spi[0..n) (host order, n <= 64) with one
    /// rte_hash_lookup_with_hash_bulk_data; bit i of the result is set when spi[i]
    /// was found, and then out[i] is filled. Worker thread.
    uint64_t inbound_burst(const uint32_t* spi, uint32_t n, InRef* out) const noexcept {
        const void* keys[64];
        hash_sig_t sig[64];
        void* data[64];
        uint64_t hits = 0;
        for (uint32_t i = 0; i < n; ++i) {
            keys[i] = &spi[i];
            sig[i] = spi_sig(t_, spi[i]);
        }
        if (n == 0 || rte_hash_lookup_with_hash_bulk_data(t_.spi_hash, keys, sig, n, &hits, data) < 0) [[unlikely]]
            return 0;
        // Every hit's slot record and lifetime flags first (with many SAs each is a
        // miss: they overlap), then the references.
        for (uint64_t m = hits; m != 0; m &= m - 1) {
            const auto slot = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data[__builtin_ctzll(m)]));
            rte_prefetch0(&t_.in[slot].meta);
            rte_prefetch0(&t_.ins[slot].life);
        }
        for (uint64_t m = hits; m != 0; m &= m - 1) {
            const auto i = static_cast<uint32_t>(__builtin_ctzll(m));
            if (!in_ref(static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data[i])), out[i])) [[unlikely]]
                hits &= ~(uint64_t{1} << i);
        }
        return hits;
    }

    /// Outbound SA with id `id`. False when the id names no outbound SA. Worker thread.
    bool outbound(uint32_t id, OutRef& out) const noexcept {
        const uint32_t slot = out_slot(id);
        if (slot == kNoSlot) return false;
        out_ref(slot, out);
        return true;
    }

    // Pipelined outbound() for bursts over many SAs, where every step misses the
    // cache: prefetch_out_id() for each id, then out_slot() + prefetch_out() for each,
    // then out_ref() — each step reads what the one before prefetched, so the misses
    // of a burst overlap instead of following one another.
    void prefetch_out_id(uint32_t id) const noexcept {
        if (id < t_.hdr->limits.max_ids) [[likely]]
            rte_prefetch0(&t_.ids[id]);
    }
    /// Slot of outbound id `id`, kNoSlot when it names none.
    uint32_t out_slot(uint32_t id) const noexcept {
        if (id >= t_.hdr->limits.max_ids) [[unlikely]]
            return kNoSlot;
        // Acquire pairs with the writer's release store of the id entry.
        const uint32_t ref = t_.ids[id].ref.load(std::memory_order_acquire);
        return ref == kNoSlot || !(ref & kIdOut) ? kNoSlot : ref & ~kIdOut;
    }
    /// Prefetches what out_ref() and charge() read of a slot (meta, lifetime flags).
    void prefetch_out(uint32_t slot) const noexcept {
        rte_prefetch0(&t_.out[slot].meta);
        rte_prefetch0(&t_.outs[slot].life);
    }
    const esp::OutboundSa& out_sa(uint32_t slot) const noexcept { return t_.out[slot].sa; }
    const esp::OutboundState& out_state(uint32_t slot) const noexcept { return t_.outs[slot].st; }
    void out_ref(uint32_t slot, OutRef& out) const noexcept {
        const OutSlot& s = t_.out[slot];
        OutState& st = t_.outs[slot];
        out = {&s.sa, &st.st, slot, s.meta.id, s.meta.owner,
               (st.life.load(std::memory_order_relaxed) & kLifeDead) != 0};
    }

    /// SPD first match (by priority) for keys[0..n) into out[0..n), any n; no_match
    /// also while refresh() has not yet published a classifier. Worker thread of the
    /// primary process only (the classifier is process-local).
    void spd_burst(const SpdKey* keys, SpdMatch* out, uint32_t n) const noexcept {
        // Acquire pairs with refresh()'s release store of a fully built classifier.
        const Classifier* c = t_.classifier.load(std::memory_order_acquire);
        if (c == nullptr) [[unlikely]] {
            for (uint32_t i = 0; i < n; ++i) out[i] = SpdMatch{};
            return;
        }
        for (uint32_t i = 0; i < n; i += Classifier::kBurst)
            c->classify(keys + i, out + i, n - i < Classifier::kBurst ? n - i : Classifier::kBurst);
    }
    /// Generation of the classifier spd_burst() uses now; 0 while none is published.
    /// A later spd_burst() uses this classifier or a newer one. Worker thread.
    uint64_t spd_generation() const noexcept {
        const Classifier* c = t_.classifier.load(std::memory_order_acquire);
        return c == nullptr ? 0 : c->generation();
    }
    /// One-key form of spd_burst().
    SpdMatch spd(const SpdKey& k) const noexcept {
        SpdMatch m;
        spd_burst(&k, &m, 1);
        return m;
    }

    /// Longest-prefix route for an IPv4 (4 network-order bytes) or IPv6 (16 bytes)
    /// destination; nullptr when no route or none published yet. The hop stays valid
    /// until quiescent(). Worker thread of the primary.
    const RouteHop* route(uint8_t family, const uint8_t* dst) const noexcept {
        const RouteTable* rt = t_.routes.load(std::memory_order_acquire);
        if (rt == nullptr) [[unlikely]]
            return nullptr;
        return family == 4 ? rt->lookup4(dst) : rt->lookup6(dst);
    }
    /// Burst IPv4 route lookup: dst_host[0..n) host order, any n.
    void route4_burst(const uint32_t* dst_host, const RouteHop** out, uint32_t n) const noexcept {
        const RouteTable* rt = t_.routes.load(std::memory_order_acquire);
        for (uint32_t i = 0; i < n; i += RouteTable::kBurst) {
            const uint32_t k = n - i < RouteTable::kBurst ? n - i : RouteTable::kBurst;
            if (rt == nullptr) [[unlikely]]
                for (uint32_t j = 0; j < k; ++j) out[i + j] = nullptr;
            else
                rt->lookup4_bulk(dst_host + i, out + i, k);
        }
    }

    /// Owner worker's lifetime check after the ESP transform counted a packet in
    /// r.st (packets/bytes): soft → one soft_expired event; hard → the SA is marked
    /// dead and one hard_expired event. A full event ring retries on the next packet.
    void charge(const InRef& r) const noexcept {
        charge_state(t_.in[r.slot].meta, t_.ins[r.slot].life, r.st->packets, r.st->bytes);
    }
    void charge(const OutRef& r) const noexcept {
        charge_state(t_.out[r.slot].meta, t_.outs[r.slot].life, r.st->packets, r.st->bytes);
    }

    /// Owner worker counts a drop of a packet that matched SA `r` (per-SA counters,
    /// layout.hpp SaDrop). Relaxed single-writer increment; only the owner may call.
    void count_drop(const InRef& r, SaDrop d) const noexcept { bump(t_.ins[r.slot].drops, d); }
    void count_drop(const OutRef& r, SaDrop d) const noexcept { bump(t_.outs[r.slot].drops, d); }
    /// Firewall tags of an inbound SA (SaMeta: groups in the low, connection in the
    /// high 32 bits). Immutable once published; the caller holds the slot (RCU).
    uint64_t fw_tags(uint32_t in_slot) const noexcept {
        const SaMeta& m = t_.in[in_slot].meta;
        return uint64_t{m.fw_conn} << 32 | m.fw_groups;
    }
    /// The same for an outbound SA (to_tunnel rules: the tunnel a packet goes into).
    uint64_t fw_tags_out(uint32_t out_slot) const noexcept {
        const SaMeta& m = t_.out[out_slot].meta;
        return uint64_t{m.fw_conn} << 32 | m.fw_groups;
    }

    /// Owner of an SA slot (hand packets off to it when it is not this worker).
    uint32_t owner_of(Direction dir, uint32_t slot) const noexcept { return t_.owner_of(dir, slot); }
    /// The owner rule (layout.hpp default_owner): true when this worker may run the
    /// transform and write r.st; otherwise hand the packet to worker r.owner.
    bool mine(const InRef& r) const noexcept { return r.owner == worker_; }
    bool mine(const OutRef& r) const noexcept { return r.owner == worker_; }

    /// Quiescent state: no reference obtained before this call is used after it.
    void quiescent() noexcept { rte_rcu_qsbr_quiescent(t_.rcu, worker_); }
    /// Leave / rejoin the reader set (a sleeping or stopping worker must not hold
    /// writers up). No reference may be held while offline.
    void offline() noexcept { rte_rcu_qsbr_thread_offline(t_.rcu, worker_); }
    void online() noexcept { rte_rcu_qsbr_thread_online(t_.rcu, worker_); }

private:
    bool in_ref(uint32_t slot, InRef& out) const noexcept {
        const InSlot& s = t_.in[slot];
        // Acquire pairs with the writer's release after building the slot; under RCU
        // a slot found by lookup is never free (defensive check, costs a plain load).
        if (s.phase.load(std::memory_order_acquire) == kSlotFree) [[unlikely]]
            return false;
        InState& st = t_.ins[slot];
        out = {&s.sa, &st.st, slot, s.meta.id, s.meta.owner,
               (st.life.load(std::memory_order_relaxed) & kLifeDead) != 0};
        return true;
    }

    void charge_state(const SaMeta& m, std::atomic<uint32_t>& life, uint64_t packets, uint64_t bytes) const noexcept {
        // Unlimited lifetimes are stored as UINT64_MAX: four compares, no branches on 0.
        const bool soft = bytes >= m.life.soft_bytes || packets >= m.life.soft_packets;
        const bool hard = bytes >= m.life.hard_bytes || packets >= m.life.hard_packets;
        if (!soft && !hard) [[likely]]
            return;
        // Only the owner writes `life`: relaxed load/store suffice (no RMW needed).
        uint32_t f = life.load(std::memory_order_relaxed);
        const uint32_t f0 = f;
        if (soft && !(f & kLifeSoftSent) && push(m, EventKind::soft_expired)) f |= kLifeSoftSent;
        if (hard) {
            f |= kLifeDead;
            if (!(f & kLifeHardSent) && push(m, EventKind::hard_expired)) f |= kLifeHardSent;
        }
        if (f != f0) life.store(f, std::memory_order_relaxed);
    }
    static void bump(SaDropCounters& c, SaDrop d) noexcept {
        uint64_t& v = c.n[static_cast<uint32_t>(d)];
        __atomic_store_n(&v, __atomic_load_n(&v, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    }
    bool push(const SaMeta& m, EventKind k) const noexcept {
        Event e;
        e.sa_id = m.id;
        e.spi = m.spi;
        e.kind = k;
        e.dir = m.dir;
        return rte_ring_mp_enqueue_elem(t_.events, &e, sizeof e) == 0;
    }

    Tables& t_;
    uint32_t worker_;
};

}  // namespace espgw::tables
