// SPD flow cache: one worker's recent IPv4 5-tuple → SPD verdict memo, so a packet of
// a known flow costs a hash and a compare instead of an rte_acl walk over every policy.
//
// Sets of two 32-byte ways share one cache line; a new entry takes a free way (empty,
// or of an older generation), else one of the two in turn: unlike LRU, a set that
// more flows than ways cycle through still hits for some of them. Each entry carries the low bits of the SPD generation it was
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

    /// `entries`: a power of two in [kMinEntries, kMaxEntries] (config checks it).
    /// The table is mmap'd (transparent huge pages advised), zero = empty.
    explicit SpdFlowCache(uint32_t entries);
    ~SpdFlowCache();
    SpdFlowCache(const SpdFlowCache&) = delete;
    SpdFlowCache& operator=(const SpdFlowCache&) = delete;

    uint32_t entries() const noexcept { return (mask_ + 1) * 2; }
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

    /// The cached verdict, or nullptr.
    const tables::SpdMatch* find(uint32_t set, const Key& k) const noexcept {
        const Set& s = sets_[set];
        if (s.way[0].addrs == k.addrs && s.way[0].rest == k.rest) return &s.way[0].m;
        if (s.way[1].addrs == k.addrs && s.way[1].rest == k.rest) return &s.way[1].m;
        return nullptr;
    }

    void insert(uint32_t set, const Key& k, const tables::SpdMatch& m) noexcept {
        Set& s = sets_[set];
        const auto take = [&](const Entry& e) { return e.rest >> 40 != tag_ >> 40 || (e.addrs == k.addrs && e.rest == k.rest); };
        Entry& e = take(s.way[0]) ? s.way[0] : take(s.way[1]) ? s.way[1] : s.way[++victim_ & 1];
        e = {k.addrs, k.rest, m};
    }

private:
    static constexpr uint32_t kTagBits = 23;
    static constexpr uint64_t kTupleBits = (uint64_t{1} << 40) - 1;
    struct alignas(32) Entry {
        uint64_t addrs;
        uint64_t rest;
        tables::SpdMatch m;
    };
    struct alignas(64) Set {
        Entry way[2];
    };
    static_assert(sizeof(Set) == 64);

    void wipe() noexcept;

    Set* sets_ = nullptr;
    uint32_t mask_ = 0;
    uint64_t gen_ = 0;
    uint64_t tag_ = uint64_t{1} << 63;
    uint32_t victim_ = 0;
};

}  // namespace espgw::dp
