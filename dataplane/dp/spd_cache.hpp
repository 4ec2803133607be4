// SPD flow cache: one worker's recent IPv4 5-tuple → SPD verdict memo, so a packet of
// a known flow costs a hash and a compare instead of an rte_acl walk over every policy.
//
// A set is one 64-byte cache line holding three flows (21 bytes each: the 16-byte key,
// the SA id and the verdict), so a lookup reads one line. A new entry takes a free way
// (empty, or of an older generation), else the ways in turn: unlike LRU, a set that
// more flows than ways cycle through still hits for some of them. Three ways per line
// instead of two 32-byte ones: with 100,000 flows replayed in a cycle through the
// default 8 MiB, 2.3% of lookups miss instead of 12.7% (each miss walks rte_acl over
// every policy). Each entry carries the low bits of the SPD generation it was
// classified under, so publishing a new SPD invalidates the whole cache without
// touching it (a wipe happens only when those bits wrap, once in 2^23 generations).
// Lookups run in two passes over a burst — hash and prefetch every packet's set, then
// compare — so with more flows than the caches hold the set misses overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <rte_hash_crc.h>

#include "dataplane/tables/spd.hpp"

namespace espgw::dp {

class SpdFlowCache {
public:
    /// 5-tuple key: addrs = src | dst << 32 (network-order words); rest = proto |
    /// src_port << 8 | dst_port << 24 | generation tag << 40 | 1 << 63 (0: empty).
    struct Key {
        uint64_t addrs = 0;
        uint64_t rest = 0;
    };

    static constexpr uint32_t kMinEntries = 1024;
    static constexpr uint32_t kMaxEntries = 1u << 24;

    /// `entries`: a power of two in [kMinEntries, kMaxEntries] (config checks it) that
    /// sizes the table at 32 bytes per entry: entries / 2 sets of three flows, so it
    /// holds up to 1.5 × `entries` flows. The table is mmap'd (transparent huge pages
    /// advised), zero = empty.
    explicit SpdFlowCache(uint32_t entries);
    ~SpdFlowCache();
    SpdFlowCache(const SpdFlowCache&) = delete;
    SpdFlowCache& operator=(const SpdFlowCache&) = delete;

    /// Flows the table can hold (three per set).
    uint32_t capacity() const noexcept { return (mask_ + 1) * kWays; }
    size_t bytes() const noexcept { return size_t{mask_ + 1} * sizeof(Set); }

    /// Verdicts of generations other than `gen` stop matching. Call before each burst.
    void use_generation(uint64_t gen) noexcept {
        if (gen == gen_) return;
        if ((gen ^ gen_) >> kTagBits) wipe();  // the tag would repeat: no stale hit
        gen_ = gen;
        tag_ = (gen & ((uint64_t{1} << kTagBits) - 1)) << 40 | uint64_t{1} << 63;
    }

    Key key(const uint8_t* src, const uint8_t* dst, uint8_t proto, uint16_t sport, uint16_t dport) const noexcept {
        uint32_t s, d;
        std::memcpy(&s, src, 4);
        std::memcpy(&d, dst, 4);
        return {s | uint64_t{d} << 32, proto | uint64_t{sport} << 8 | uint64_t{dport} << 24 | tag_};
    }

    /// The key's set (the generation tag is left out of the hash: a flow keeps its set).
    uint32_t set_of(const Key& k) const noexcept {
        return rte_hash_crc_8byte(k.rest & kTupleBits, rte_hash_crc_8byte(k.addrs, 0)) & mask_;
    }
    void prefetch(uint32_t set) const noexcept { __builtin_prefetch(&sets_[set], 0, 3); }

    /// The cached verdict of `k` into `out`; false when the set does not hold it.
    bool find(uint32_t set, const Key& k, tables::SpdMatch& out) const noexcept {
        const uint8_t* p = sets_[set].b;
        for (uint32_t w = 0; w < kWays; ++w, p += kEntryBytes) {
            if (same(key_at(p), k)) {
                std::memcpy(&out.sa_id, p + 16, 4);
                out.kind = static_cast<tables::SpdMatch::Kind>(p[20]);
                return true;
            }
        }
        return false;
    }

    void insert(uint32_t set, const Key& k, const tables::SpdMatch& m) noexcept {
        uint8_t* const base = sets_[set].b;
        uint8_t* e = nullptr;
        for (uint32_t w = 0; w < kWays && e == nullptr; ++w) {
            uint8_t* p = base + w * kEntryBytes;
            const Key held = key_at(p);
            // Free (empty or another generation's tag), or this flow's own entry.
            if (held.rest >> 40 != tag_ >> 40 || same(held, k)) e = p;
        }
        if (e == nullptr) {
            victim_ = victim_ + 1 == kWays ? 0 : victim_ + 1;
            e = base + victim_ * kEntryBytes;
        }
        std::memcpy(e, &k.addrs, 8);
        std::memcpy(e + 8, &k.rest, 8);
        std::memcpy(e + 16, &m.sa_id, 4);
        e[20] = static_cast<uint8_t>(m.kind);
    }

private:
    static constexpr uint32_t kTagBits = 23;
    static constexpr uint64_t kTupleBits = (uint64_t{1} << 40) - 1;
    // A way: key.addrs [0, 8), key.rest [8, 16), SpdMatch::sa_id [16, 20), kind [20].
    static constexpr uint32_t kWays = 3;
    static constexpr uint32_t kEntryBytes = 21;
    struct alignas(64) Set {
        uint8_t b[64];
    };
    static_assert(sizeof(Set) == 64 && kWays * kEntryBytes <= sizeof(Set));

    static Key key_at(const uint8_t* way) noexcept {
        Key k;
        std::memcpy(&k.addrs, way, 8);
        std::memcpy(&k.rest, way + 8, 8);
        return k;
    }
    static bool same(const Key& a, const Key& b) noexcept { return a.addrs == b.addrs && a.rest == b.rest; }

    void wipe() noexcept;

    Set* sets_ = nullptr;
    uint32_t mask_ = 0;
    uint64_t gen_ = 0;
    uint64_t tag_ = uint64_t{1} << 63;
    uint32_t victim_ = 0;
};

}  // namespace espgw::dp
