// NAT session table: open addressing (linear probing, backward-shift deletion),
// port slice allocation, timing wheel.
#include "dataplane/nat/session_table.hpp"

#include <bit>

namespace espgw::nat {

uint32_t SessionTable::hash(uint8_t proto, uint32_t a, uint16_t ap, uint32_t r, uint16_t rp) noexcept {
    // 64-bit multiply-xorshift mix of the packed key; the low 32 bits are the tag.
    uint64_t x = (uint64_t{a} << 32 | r) ^ (uint64_t{proto} << 56 | uint64_t{ap} << 16 | rp) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 32;
    return static_cast<uint32_t>(x);
}

SessionTable::SessionTable(uint32_t capacity, uint16_t port_lo, uint16_t port_hi, uint32_t now_s, uint16_t reserved_udp)
    : cap_(capacity == 0 ? 1 : capacity), port_lo_(port_lo), port_hi_(port_hi < port_lo ? port_lo : port_hi),
      reserved_udp_(reserved_udp),
      now_s_(now_s) {
    // Load factor <= 0.5 keeps linear-probe chains short.
    const uint32_t idx_size = std::bit_ceil(uint64_t{cap_} * 2) > (1ull << 31) ? (1u << 31)
                                                                                : static_cast<uint32_t>(std::bit_ceil(uint64_t{cap_} * 2));
    mask_ = idx_size - 1;
    s_ = std::make_unique<Session[]>(cap_);
    free_ = std::make_unique<uint32_t[]>(cap_);
    in_idx_ = std::make_unique<Slot[]>(idx_size);
    pub_idx_ = std::make_unique<Slot[]>(idx_size);
    wheel_ = std::make_unique<uint32_t[]>(kWheelSlots);
    for (uint32_t i = 0; i < cap_; ++i) free_[i] = cap_ - 1 - i;  // pop from the end: id 0 first
    nfree_ = cap_;
}

int64_t SessionTable::find(const Slot* idx, bool pub, const FlowKey& k) const noexcept {
    const uint32_t tag = hash(k.proto, k.addr, k.port, k.remote, k.remote_port);
    for (uint32_t i = tag & mask_;; i = (i + 1) & mask_) {
        const Slot& sl = idx[i];
        if (sl.id == 0) return -1;
        if (sl.tag != tag) continue;
        const Session& s = s_[sl.id - 1];
        if (s.proto == k.proto && s.remote_addr == k.remote && s.remote_port == k.remote_port &&
            (pub ? (s.pub_addr == k.addr && s.pub_port == k.port) : (s.in_addr == k.addr && s.in_port == k.port)))
            return sl.id - 1;
    }
}

int64_t SessionTable::find_inside(const FlowKey& k) const noexcept { return find(in_idx_.get(), false, k); }
int64_t SessionTable::find_public(const FlowKey& k) const noexcept { return find(pub_idx_.get(), true, k); }

void SessionTable::insert(Slot* idx, uint32_t tag, uint32_t id) noexcept {
    uint32_t i = tag & mask_;
    while (idx[i].id != 0) i = (i + 1) & mask_;
    idx[i] = {tag, id + 1};
}

void SessionTable::erase(Slot* idx, uint32_t tag, uint32_t id) noexcept {
    uint32_t i = tag & mask_;
    while (idx[i].id != id + 1) {
        if (idx[i].id == 0) return;  // not present (cannot happen for a live session)
        i = (i + 1) & mask_;
    }
    // Backward-shift deletion (Knuth 6.4 algorithm R): no tombstones, chains stay short.
    uint32_t j = i;
    for (;;) {
        idx[i].id = 0;
        for (;;) {
            j = (j + 1) & mask_;
            if (idx[j].id == 0) return;
            const uint32_t home = idx[j].tag & mask_;
            // Move idx[j] into the hole at i unless its home lies cyclically in (i, j].
            const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) break;
        }
        idx[i] = idx[j];
        i = j;
    }
}

void SessionTable::link(uint32_t id, uint32_t tick) noexcept {
    Session& s = s_[id];
    uint32_t& head = wheel_[tick & (kWheelSlots - 1)];
    s.wheel_s = tick;
    s.prev = 0;
    s.next = head;
    if (head) s_[head - 1].prev = id + 1;
    head = id + 1;
}

void SessionTable::unlink(uint32_t id) noexcept {
    Session& s = s_[id];
    if (cursor_ == id + 1) cursor_ = s.next;
    if (s.prev)
        s_[s.prev - 1].next = s.next;
    else
        wheel_[s.wheel_s & (kWheelSlots - 1)] = s.next;
    if (s.next) s_[s.next - 1].prev = s.prev;
    s.next = s.prev = 0;
}

int64_t SessionTable::create(const FlowKey& k, uint32_t pub_addr, uint16_t rule, uint32_t expire_s,
                             CreateError* err) noexcept {
    if (nfree_ == 0) {
        *err = CreateError::table_full;
        return -1;
    }
    // Port: start at a hash of the inside key inside the slice, probe sequentially
    // until the public 5-tuple is free.
    const uint32_t span = uint32_t{port_hi_} - port_lo_ + 1;
    const uint32_t tries = span < kPortTries ? span : kPortTries;
    uint32_t off = hash(k.proto, k.addr, k.port, k.remote, k.remote_port) % span;
    FlowKey pk{k.proto, pub_addr, 0, k.remote, k.remote_port};
    uint32_t t = 0;
    for (; t < tries; ++t, off = off + 1 == span ? 0 : off + 1) {
        pk.port = static_cast<uint16_t>(port_lo_ + off);
        if (k.proto == 17 && pk.port == reserved_udp_ && reserved_udp_ != 0) continue;
        if (find_public(pk) < 0) break;
    }
    if (t == tries) {
        *err = CreateError::ports_exhausted;
        return -1;
    }
    const uint32_t id = free_[--nfree_];
    Session& s = s_[id];
    s = Session{};
    s.in_addr = k.addr;
    s.in_port = k.port;
    s.remote_addr = k.remote;
    s.remote_port = k.remote_port;
    s.pub_addr = pub_addr;
    s.pub_port = pk.port;
    s.proto = k.proto;
    s.rule = rule;
    s.expire_s = expire_s;
    s.talker = talkers_.add(k.addr);
    insert(in_idx_.get(), hash(k.proto, k.addr, k.port, k.remote, k.remote_port), id);
    insert(pub_idx_.get(), hash(k.proto, pub_addr, pk.port, k.remote, k.remote_port), id);
    link(id, expire_s <= now_s_ ? now_s_ + 1 : expire_s);  // never the slot being walked
    __atomic_store_n(&used_, used_ + 1, __ATOMIC_RELAXED);
    *err = CreateError::none;
    return id;
}

void SessionTable::set_expire(uint32_t id, uint32_t expire_s) noexcept {
    Session& s = s_[id];
    s.expire_s = expire_s;
    if (expire_s < s.wheel_s) {
        unlink(id);
        link(id, expire_s <= now_s_ ? now_s_ + 1 : expire_s);  // never the slot being walked
    }
}

void SessionTable::remove(uint32_t id) noexcept {
    Session& s = s_[id];
    unlink(id);
    erase(in_idx_.get(), hash(s.proto, s.in_addr, s.in_port, s.remote_addr, s.remote_port), id);
    erase(pub_idx_.get(), hash(s.proto, s.pub_addr, s.pub_port, s.remote_addr, s.remote_port), id);
    talkers_.remove(s.talker);
    free_[nfree_++] = id;
    __atomic_store_n(&used_, used_ - 1, __ATOMIC_RELAXED);
}

bool SessionTable::flush_some(uint32_t budget) noexcept {
    // Every live session is on exactly one wheel list: empty them one by one.
    for (uint32_t slot = 0; slot < kWheelSlots && budget > 0; ++slot)
        while (wheel_[slot] && budget > 0) {
            remove(wheel_[slot] - 1);
            --budget;
        }
    return used_ == 0;
}

uint32_t SessionTable::expire(uint32_t now_s, uint32_t budget) noexcept {
    uint32_t expired = 0;
    // Each tick's slot is walked once; a session whose deadline moved later is re-filed
    // into the slot of its new deadline (lazy: packets only write expire_s).
    while (now_s_ <= now_s && budget > 0) {
        const uint32_t slot = now_s_ & (kWheelSlots - 1);
        uint32_t cur = cursor_ ? cursor_ : wheel_[slot];
        while (cur && budget > 0) {
            --budget;
            const uint32_t id = cur - 1;
            Session& s = s_[id];
            const uint32_t next = s.next;
            cursor_ = next;
            if (s.expire_s <= now_s_) {
                remove(id);
                ++expired;
            } else if ((s.expire_s & (kWheelSlots - 1)) != slot) {
                unlink(id);
                cursor_ = next;
                link(id, s.expire_s);
            } else {
                s.wheel_s = s.expire_s;  // a whole turn later: stays in this slot
            }
            cur = next;
        }
        if (cur) break;  // budget spent inside this slot: resume at cursor_
        cursor_ = 0;
        ++now_s_;
    }
    return expired;
}

}  // namespace espgw::nat
