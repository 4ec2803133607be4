// Writer side of the shared tables: slot allocation, publication, retirement and
// RCU reclamation with key wipe; SPD record edits. All under the shared writer lock.
#include "dataplane/tables/writer.hpp"

#include <rte_hash.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_spinlock.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace espgw::tables {

namespace {

constexpr uint64_t kSameSpiSeqGap = 1ull << 20;

/// RAII holder of the shared writer lock.
class WriterLock {
public:
    explicit WriterLock(Tables& t) : l_(&t.hdr->writer_lock) { rte_spinlock_lock(l_); }
    ~WriterLock() { rte_spinlock_unlock(l_); }
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;

private:
    rte_spinlock_t* l_;
};

WriteResult fail(WriteStatus s, std::string msg) { return WriteResult{s, std::move(msg)}; }

uint64_t limit_or_max(uint64_t v) { return v == 0 ? UINT64_MAX : v; }
uint64_t max_to_zero(uint64_t v) { return v == UINT64_MAX ? 0 : v; }

void* slot_data(uint32_t slot) { return reinterpret_cast<void*>(static_cast<uintptr_t>(slot)); }

/// Reclaims the oldest pending entries whose grace period passed. Lock held.
size_t reclaim_locked(Tables& t, bool wait) {
    Header& h = *t.hdr;
    size_t n = 0;
    while (h.pending_head != h.pending_tail) {
        Pending& p = t.pending[h.pending_head % h.pending_cap];
        // rte_rcu_qsbr_check: acquire loads of every online reader's counter; true
        // once each reported a quiescent state after the token was taken (or went
        // offline). Tokens increase, so FIFO order is grace-period order.
        if (rte_rcu_qsbr_check(t.rcu, p.token, wait && n == 0) != 1) break;
        if (p.dir == Direction::in) {
            InSlot& s = t.in[p.slot];
            esp::sa_wipe(s.sa);  // RFC 4301 §4.4.2: keys gone before the slot is reused
            s.meta = SaMeta{};
            s.phase.store(kSlotFree, std::memory_order_release);
            if (p.hash_pos >= 0) rte_hash_free_key_with_position(t.spi_hash, p.hash_pos);
            t.in_free[h.in_free_top++] = p.slot;
        } else {
            OutSlot& s = t.out[p.slot];
            esp::sa_wipe(s.sa);
            s.meta = SaMeta{};
            s.phase.store(kSlotFree, std::memory_order_release);
            t.out_free[h.out_free_top++] = p.slot;
        }
        ++h.pending_head;
        ++n;
    }
    return n;
}

/// Queues `slot` for reclamation after the current grace period. Lock held.
void retire(Tables& t, Direction dir, uint32_t slot, int32_t hash_pos) {
    Header& h = *t.hdr;
    if (dir == Direction::in)
        t.in[slot].phase.store(kSlotRetired, std::memory_order_relaxed);
    else
        t.out[slot].phase.store(kSlotRetired, std::memory_order_relaxed);
    // The token is taken after the slot became unreachable (the unpublishing stores
    // precede rte_rcu_qsbr_start's release fetch-add), so a reader that still holds
    // the slot has not yet passed the quiescent state the token asks for.
    Pending p;
    p.token = rte_rcu_qsbr_start(t.rcu);
    p.slot = slot;
    p.dir = dir;
    p.hash_pos = hash_pos;
    t.pending[h.pending_tail % h.pending_cap] = p;
    ++h.pending_tail;
}

/// Pops a free slot; reclaims (blocking for one grace period at worst) when empty.
uint32_t alloc_slot(Tables& t, Direction dir) {
    Header& h = *t.hdr;
    uint32_t& top = dir == Direction::in ? h.in_free_top : h.out_free_top;
    if (top == 0) reclaim_locked(t, false);
    while (top == 0 && h.pending_head != h.pending_tail) reclaim_locked(t, true);
    if (top == 0) return kNoSlot;
    return (dir == Direction::in ? t.in_free : t.out_free)[--top];
}

void free_unused_slot(Tables& t, Direction dir, uint32_t slot) {
    Header& h = *t.hdr;
    if (dir == Direction::in) {
        esp::sa_wipe(t.in[slot].sa);
        t.in[slot].meta = SaMeta{};
        t.in_free[h.in_free_top++] = slot;
    } else {
        esp::sa_wipe(t.out[slot].sa);
        t.out[slot].meta = SaMeta{};
        t.out_free[h.out_free_top++] = slot;
    }
}

/// Builds the SA in a fresh slot (unreachable) and marks it live. Lock held.
WriteResult build(Tables& t, const SaParams& p, uint32_t* slot_out) {
    const uint32_t slot = alloc_slot(t, p.dir);
    if (slot == kNoSlot)
        return fail(WriteStatus::no_space, fmt::format("sa {}: no free {} slot", p.id, p.dir == Direction::in ? "inbound" : "outbound"));
    SaMeta m;
    m.id = p.id;
    m.spi = p.cfg.spi;
    m.dir = p.dir;
    m.owner = p.owner == kAnyOwner ? default_owner(p.id, t.hdr->limits.workers) : p.owner;
    m.life = {limit_or_max(p.life.soft_bytes), limit_or_max(p.life.hard_bytes), limit_or_max(p.life.soft_packets),
              limit_or_max(p.life.hard_packets)};
    m.fw_groups = p.fw_groups;
    m.fw_conn = p.fw_conn;
    if (m.owner >= t.hdr->limits.workers) {
        free_unused_slot(t, p.dir, slot);
        return fail(WriteStatus::bad_params, fmt::format("sa {}: owner {} >= workers {}", p.id, m.owner, t.hdr->limits.workers));
    }
    std::string err;
    if (p.dir == Direction::in) {
        InSlot& s = t.in[slot];
        if (!esp::inbound_sa_init(s.sa, p.cfg, p.enc_keymat, p.auth_key, &err)) {
            free_unused_slot(t, p.dir, slot);
            return fail(WriteStatus::bad_params, fmt::format("sa {}: {}", p.id, err));
        }
        s.meta = m;
        esp::inbound_state_init(t.ins[slot].st, s.sa);
        t.ins[slot].life.store(0, std::memory_order_relaxed);
        t.ins[slot].drops = SaDropCounters{};
        // Release: everything above is visible to a reader that acquires `phase`.
        s.phase.store(kSlotLive, std::memory_order_release);
    } else {
        OutSlot& s = t.out[slot];
        if (!esp::outbound_sa_init(s.sa, p.cfg, p.enc_keymat, p.auth_key, &err)) {
            free_unused_slot(t, p.dir, slot);
            return fail(WriteStatus::bad_params, fmt::format("sa {}: {}", p.id, err));
        }
        s.meta = m;
        esp::outbound_state_init(t.outs[slot].st, s.sa);
        t.outs[slot].life.store(0, std::memory_order_relaxed);
        t.outs[slot].drops = SaDropCounters{};
        s.phase.store(kSlotLive, std::memory_order_release);
    }
    *slot_out = slot;
    return {};
}

bool spi_taken(Tables& t, uint32_t spi) {
    return rte_hash_lookup_with_hash(t.spi_hash, &spi, spi_sig(t, spi)) >= 0;
}

}  // namespace

WriteResult install_sa(Tables& t, const SaParams& p) {
    WriterLock lock(t);
    reclaim_locked(t, false);
    if (p.id >= t.hdr->limits.max_ids) return fail(WriteStatus::bad_id, fmt::format("sa id {} >= {}", p.id, t.hdr->limits.max_ids));
    IdEntry& ide = t.ids[p.id];
    if (ide.ref.load(std::memory_order_relaxed) != kNoSlot) return fail(WriteStatus::id_in_use, fmt::format("sa id {} in use", p.id));
    const uint32_t spi = p.cfg.spi;
    if (p.dir == Direction::in && spi_taken(t, spi))
        return fail(WriteStatus::spi_in_use, fmt::format("sa {}: inbound SPI {:#010x} in use", p.id, spi));
    uint32_t slot;
    WriteResult r = build(t, p, &slot);
    if (!r.ok()) return r;
    if (p.dir == Direction::in) {
        // rte_hash LF mode: the key/data become visible with a release store inside.
        int rc = rte_hash_add_key_with_hash_data(t.spi_hash, &spi, spi_sig(t, spi), slot_data(slot));
        if (rc != 0) {
            t.in[slot].phase.store(kSlotFree, std::memory_order_relaxed);
            free_unused_slot(t, p.dir, slot);
            return fail(WriteStatus::no_space, fmt::format("sa {}: SPI hash insert failed ({})", p.id, rc));
        }
        ide.ref.store(slot, std::memory_order_release);
        ++t.hdr->nb_in;
    } else {
        // Release: an SPD reader that acquires the id entry sees the built slot.
        ide.ref.store(slot | kIdOut, std::memory_order_release);
        ++t.hdr->nb_out;
    }
    return {};
}

WriteResult replace_sa(Tables& t, const SaParams& p) {
    WriterLock lock(t);
    reclaim_locked(t, false);
    if (p.id >= t.hdr->limits.max_ids) return fail(WriteStatus::bad_id, fmt::format("sa id {} >= {}", p.id, t.hdr->limits.max_ids));
    IdEntry& ide = t.ids[p.id];
    const uint32_t ref = ide.ref.load(std::memory_order_relaxed);
    if (ref == kNoSlot || ((ref & kIdOut) != 0) != (p.dir == Direction::out))
        return fail(WriteStatus::no_such_sa, fmt::format("sa id {}: no {} SA to replace", p.id, p.dir == Direction::in ? "inbound" : "outbound"));
    const uint32_t old = ref & ~kIdOut;
    const uint32_t spi = p.cfg.spi;
    if (p.dir == Direction::in) {
        const uint32_t old_spi = t.in[old].meta.spi;
        if (spi != old_spi && spi_taken(t, spi))
            return fail(WriteStatus::spi_in_use, fmt::format("sa {}: inbound SPI {:#010x} in use", p.id, spi));
        uint32_t slot;
        WriteResult r = build(t, p, &slot);
        if (!r.ok()) return r;
        // Same SPI: the add updates the key's data in place (atomic in LF mode).
        int rc = rte_hash_add_key_with_hash_data(t.spi_hash, &spi, spi_sig(t, spi), slot_data(slot));
        if (rc != 0) {
            t.in[slot].phase.store(kSlotFree, std::memory_order_relaxed);
            free_unused_slot(t, p.dir, slot);
            return fail(WriteStatus::no_space, fmt::format("sa {}: SPI hash insert failed ({})", p.id, rc));
        }
        int32_t pos = -1;
        if (spi != old_spi) pos = rte_hash_del_key_with_hash(t.spi_hash, &old_spi, spi_sig(t, old_spi));
        ide.ref.store(slot, std::memory_order_release);
        retire(t, Direction::in, old, pos < 0 ? -1 : pos);
    } else {
        uint32_t slot;
        WriteResult r = build(t, p, &slot);
        if (!r.ok()) return r;
        if (spi == t.out[old].meta.spi) {
            // Same SPI means same peer SA: never reuse a sequence number (RFC 4303
            // §3.3.3). The owner may still send on the old slot until the switch below;
            // the gap covers those packets. Relaxed: a snapshot of the owner's counter.
            const uint64_t old_seq = std::atomic_ref<uint64_t>(t.outs[old].st.seq).load(std::memory_order_relaxed);
            uint64_t& seq = t.outs[slot].st.seq;
            seq = std::max(seq, old_seq + kSameSpiSeqGap);
        }
        // The slot was marked live before the seq fix-up; the id store below is the
        // release readers synchronise with, so they see the fixed seq.
        ide.ref.store(slot | kIdOut, std::memory_order_release);
        retire(t, Direction::out, old, -1);
    }
    return {};
}

WriteResult delete_sa(Tables& t, uint32_t id) {
    WriterLock lock(t);
    reclaim_locked(t, false);
    if (id >= t.hdr->limits.max_ids) return fail(WriteStatus::bad_id, fmt::format("sa id {} >= {}", id, t.hdr->limits.max_ids));
    IdEntry& ide = t.ids[id];
    const uint32_t ref = ide.ref.load(std::memory_order_relaxed);
    if (ref == kNoSlot) return fail(WriteStatus::no_such_sa, fmt::format("sa id {}: no SA", id));
    const uint32_t slot = ref & ~kIdOut;
    ide.ref.store(kNoSlot, std::memory_order_release);
    if (ref & kIdOut) {
        retire(t, Direction::out, slot, -1);
        --t.hdr->nb_out;
    } else {
        const uint32_t spi = t.in[slot].meta.spi;
        const int32_t pos = rte_hash_del_key_with_hash(t.spi_hash, &spi, spi_sig(t, spi));
        retire(t, Direction::in, slot, pos < 0 ? -1 : pos);
        --t.hdr->nb_in;
    }
    return {};
}

WriteResult install_policy(Tables& t, const Policy& p, uint32_t* policy_id) {
    const uint32_t max_len = p.family == 6 ? 128 : 32;
    if (p.family != 4 && p.family != 6) return fail(WriteStatus::bad_params, "policy: family must be 4 or 6");
    if (p.src_len > max_len || p.dst_len > max_len) return fail(WriteStatus::bad_params, "policy: prefix longer than the family");
    if (p.src_port_lo > p.src_port_hi || p.dst_port_lo > p.dst_port_hi) return fail(WriteStatus::bad_params, "policy: empty port range");
    if (p.action != PolicyAction::protect && p.action != PolicyAction::bypass && p.action != PolicyAction::discard)
        return fail(WriteStatus::bad_params, "policy: unknown action");
    if (p.action == PolicyAction::protect && p.sa_id >= t.hdr->limits.max_ids)
        return fail(WriteStatus::bad_params, fmt::format("policy: sa id {} >= {}", p.sa_id, t.hdr->limits.max_ids));
    WriterLock lock(t);
    Header& h = *t.hdr;
    for (uint32_t i = 0; i < h.limits.max_policies; ++i) {
        PolicyRecord& r = t.pol[i];
        if (r.in_use) continue;
        r.p = p;
        r.order = ++h.policy_order;
        r.in_use = 1;
        ++h.nb_policies;
        // Release: refresh()'s acquire load of the generation sees the record.
        h.spd_generation.fetch_add(1, std::memory_order_release);
        if (policy_id) *policy_id = i;
        return {};
    }
    return fail(WriteStatus::no_space, "policy: SPD full");
}

WriteResult delete_policy(Tables& t, uint32_t policy_id) {
    WriterLock lock(t);
    Header& h = *t.hdr;
    if (policy_id >= h.limits.max_policies) return fail(WriteStatus::bad_id, fmt::format("policy id {} out of range", policy_id));
    PolicyRecord& r = t.pol[policy_id];
    if (!r.in_use) return fail(WriteStatus::no_such_policy, fmt::format("policy id {}: none", policy_id));
    r = PolicyRecord{};
    --h.nb_policies;
    h.spd_generation.fetch_add(1, std::memory_order_release);
    return {};
}

namespace {
/// `prefix` with the bits beyond `len` cleared (family 4: 4 bytes, 6: 16).
void mask_prefix(uint8_t* out, const uint8_t* in, uint8_t family, uint8_t len) {
    const uint32_t bytes = family == 6 ? 16 : 4;
    for (uint32_t i = 0; i < 16; ++i) {
        if (i >= bytes) {
            out[i] = 0;
            continue;
        }
        const uint32_t bits = len > 8 * i ? std::min<uint32_t>(8, len - 8 * i) : 0;
        out[i] = static_cast<uint8_t>(in[i] & (0xff00u >> bits));
    }
}

/// Index of the in-use record for family/prefix(masked)/len, or max_routes. Lock held.
uint32_t find_route(const Tables& t, uint8_t family, const uint8_t* masked, uint8_t len) {
    for (uint32_t i = 0; i < t.hdr->limits.max_routes; ++i) {
        const RouteRecord& r = t.rt[i];
        if (r.in_use && r.r.family == family && r.r.len == len && std::memcmp(r.r.prefix, masked, 16) == 0) return i;
    }
    return t.hdr->limits.max_routes;
}
}  // namespace

WriteResult add_route(Tables& t, const Route& r) {
    if (r.family != 4 && r.family != 6) return fail(WriteStatus::bad_params, "route: family must be 4 or 6");
    if (r.len > (r.family == 6 ? 128 : 32)) return fail(WriteStatus::bad_params, fmt::format("route: /{} longer than the family", r.len));
    Route m = r;
    mask_prefix(m.prefix, r.prefix, r.family, r.len);
    WriterLock lock(t);
    Header& h = *t.hdr;
    if (find_route(t, m.family, m.prefix, m.len) != h.limits.max_routes)
        return fail(WriteStatus::route_exists, fmt::format("route: /{} (family {}) exists", m.len, m.family));
    for (uint32_t i = 0; i < h.limits.max_routes; ++i) {
        RouteRecord& rec = t.rt[i];
        if (rec.in_use) continue;
        rec.r = m;
        rec.in_use = 1;
        ++h.nb_routes;
        // Release: refresh()'s acquire load of the generation sees the record.
        h.route_generation.fetch_add(1, std::memory_order_release);
        return {};
    }
    return fail(WriteStatus::no_space, "route: table full");
}

WriteResult del_route(Tables& t, uint8_t family, const uint8_t* prefix, uint8_t len) {
    if ((family != 4 && family != 6) || len > (family == 6 ? 128 : 32))
        return fail(WriteStatus::bad_params, "route: bad family or length");
    uint8_t m[16];
    mask_prefix(m, prefix, family, len);
    WriterLock lock(t);
    Header& h = *t.hdr;
    const uint32_t i = find_route(t, family, m, len);
    if (i == h.limits.max_routes) return fail(WriteStatus::no_such_route, fmt::format("route: no /{} (family {})", len, family));
    t.rt[i] = RouteRecord{};
    --h.nb_routes;
    h.route_generation.fetch_add(1, std::memory_order_release);
    return {};
}

namespace {
SaCounters counters_of(Tables& t, uint32_t ref) {
    SaCounters c;
    const uint32_t slot = ref & ~kIdOut;
    // Relaxed atomic_ref reads of counters that one owner writes: a snapshot.
    if (ref & kIdOut) {
        esp::OutboundState& st = t.outs[slot].st;
        c.packets = std::atomic_ref<uint64_t>(st.packets).load(std::memory_order_relaxed);
        c.bytes = std::atomic_ref<uint64_t>(st.bytes).load(std::memory_order_relaxed);
        c.seq = std::atomic_ref<uint64_t>(st.seq).load(std::memory_order_relaxed);
        const uint32_t f = t.outs[slot].life.load(std::memory_order_relaxed);
        const Lifetime& l = t.out[slot].meta.life;
        c.soft_expired = (f & kLifeSoftSent) || c.bytes >= l.soft_bytes || c.packets >= l.soft_packets;
        c.hard_expired = (f & kLifeDead) != 0;
        c.soft_event = (f & kLifeSoftSent) != 0;
        c.hard_event = (f & kLifeHardSent) != 0;
        for (uint32_t i = 0; i < kSaDropCount; ++i)
            c.drops.n[i] = std::atomic_ref<uint64_t>(t.outs[slot].drops.n[i]).load(std::memory_order_relaxed);
    } else {
        esp::InboundState& st = t.ins[slot].st;
        c.packets = std::atomic_ref<uint64_t>(st.packets).load(std::memory_order_relaxed);
        c.bytes = std::atomic_ref<uint64_t>(st.bytes).load(std::memory_order_relaxed);
        c.seq = std::atomic_ref<uint64_t>(st.window.top).load(std::memory_order_relaxed);
        const uint32_t f = t.ins[slot].life.load(std::memory_order_relaxed);
        const Lifetime& l = t.in[slot].meta.life;
        c.soft_expired = (f & kLifeSoftSent) || c.bytes >= l.soft_bytes || c.packets >= l.soft_packets;
        c.hard_expired = (f & kLifeDead) != 0;
        c.soft_event = (f & kLifeSoftSent) != 0;
        c.hard_event = (f & kLifeHardSent) != 0;
        for (uint32_t i = 0; i < kSaDropCount; ++i)
            c.drops.n[i] = std::atomic_ref<uint64_t>(t.ins[slot].drops.n[i]).load(std::memory_order_relaxed);
    }
    return c;
}
}  // namespace

bool query_counters(Tables& t, uint32_t id, SaCounters& out) {
    if (id >= t.hdr->limits.max_ids) return false;
    WriterLock lock(t);
    const uint32_t ref = t.ids[id].ref.load(std::memory_order_relaxed);
    if (ref == kNoSlot) return false;
    out = counters_of(t, ref);
    return true;
}

size_t poll_events(Tables& t, std::span<Event> out) noexcept {
    return rte_ring_sc_dequeue_burst_elem(t.events, out.data(), sizeof(Event), static_cast<unsigned>(out.size()), nullptr);
}

std::vector<SaInfo> list_sas(Tables& t) {
    std::vector<SaInfo> v;
    WriterLock lock(t);
    for (uint32_t id = 0; id < t.hdr->limits.max_ids; ++id) {
        const uint32_t ref = t.ids[id].ref.load(std::memory_order_relaxed);
        if (ref == kNoSlot) continue;
        const uint32_t slot = ref & ~kIdOut;
        const SaMeta& m = (ref & kIdOut) ? t.out[slot].meta : t.in[slot].meta;
        SaInfo i;
        i.id = id;
        i.dir = m.dir;
        i.spi = m.spi;
        i.owner = m.owner;
        i.slot = slot;
        i.life = {max_to_zero(m.life.soft_bytes), max_to_zero(m.life.hard_bytes), max_to_zero(m.life.soft_packets),
                  max_to_zero(m.life.hard_packets)};
        i.counters = counters_of(t, ref);
        i.fw_groups = m.fw_groups;
        i.fw_conn = m.fw_conn;
        const uint8_t flags = (ref & kIdOut) ? t.out[slot].sa.flags : t.in[slot].sa.flags;
        i.mode = (ref & kIdOut) ? t.out[slot].sa.mode : t.in[slot].sa.mode;
        i.udp_encap = (flags & esp::kSaUdpEncap) != 0;
        v.push_back(i);
    }
    return v;
}

std::vector<PolicyInfo> list_policies(Tables& t) {
    std::vector<std::pair<uint64_t, PolicyInfo>> v;
    {
        WriterLock lock(t);
        for (uint32_t i = 0; i < t.hdr->limits.max_policies; ++i)
            if (t.pol[i].in_use) v.push_back({t.pol[i].order, PolicyInfo{i, t.pol[i].p}});
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
        return a.second.p.priority != b.second.p.priority ? a.second.p.priority < b.second.p.priority : a.first < b.first;
    });
    std::vector<PolicyInfo> out;
    out.reserve(v.size());
    for (auto& e : v) out.push_back(e.second);
    return out;
}

std::vector<Route> list_routes(Tables& t) {
    std::vector<Route> v;
    WriterLock lock(t);
    for (uint32_t i = 0; i < t.hdr->limits.max_routes; ++i)
        if (t.rt[i].in_use) v.push_back(t.rt[i].r);
    return v;
}

size_t reclaim(Tables& t, bool wait) {
    WriterLock lock(t);
    return reclaim_locked(t, wait);
}

TableUsage usage(const Tables& t) noexcept {
    const Header& h = *t.hdr;
    return {h.nb_in, h.nb_out, h.nb_policies, static_cast<uint32_t>(h.pending_tail - h.pending_head), h.nb_routes};
}

namespace {
int tag_bit_locked(Tables& t, uint32_t kind, std::string_view name) {
    if (kind > 1 || name.empty() || name.size() >= kTagNameLen) return -1;
    TagRegistry& r = t.hdr->tags;
    const uint32_t n = r.count[kind].load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < n; ++i)
        if (name == r.names[kind][i]) return static_cast<int>(i);
    if (n >= kMaxTags) return -1;
    std::memcpy(r.names[kind][n], name.data(), name.size());
    r.names[kind][n][name.size()] = '\0';
    r.count[kind].store(n + 1, std::memory_order_release);
    return static_cast<int>(n);
}
}  // namespace

int tag_bit(Tables& t, uint32_t kind, std::string_view name) {
    rte_spinlock_lock(&t.hdr->writer_lock);
    const int b = tag_bit_locked(t, kind, name);
    rte_spinlock_unlock(&t.hdr->writer_lock);
    return b;
}

uint32_t tag_mask(Tables& t, uint32_t kind, const std::vector<std::string>& names, std::vector<std::string>* unplaced) {
    uint32_t mask = 0;
    rte_spinlock_lock(&t.hdr->writer_lock);
    for (const std::string& n : names) {
        const int b = tag_bit_locked(t, kind, n);
        if (b < 0) {
            if (unplaced) unplaced->push_back(n);
        } else {
            mask |= 1u << b;
        }
    }
    rte_spinlock_unlock(&t.hdr->writer_lock);
    return mask;
}

std::vector<std::string> tag_names(const Tables& t, uint32_t kind) {
    std::vector<std::string> out;
    if (kind > 1) return out;
    const TagRegistry& r = t.hdr->tags;
    const uint32_t n = r.count[kind].load(std::memory_order_acquire);
    for (uint32_t i = 0; i < n && i < kMaxTags; ++i) out.emplace_back(r.names[kind][i]);
    return out;
}

}  // namespace espgw::tables
