// SpdFlowCache (dataplane/dp/spd_cache.hpp): hits, the two ways, generation tags
// (a new SPD invalidates without a wipe; a tag wrap wipes), bad sizes refused.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <array>
#include <stdexcept>
#include <vector>

#include "dataplane/dp/spd_cache.hpp"

using espgw::dp::SpdFlowCache;
using espgw::tables::SpdMatch;

namespace {

const std::array<uint8_t, 4> kSrc{10, 10, 0, 2};

std::array<uint8_t, 4> dst_of(uint32_t i) {
    return {10, 20, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
}

SpdMatch protect(uint32_t id) { return {SpdMatch::protect, id}; }

const SpdMatch* lookup(const SpdFlowCache& c, uint32_t i, uint16_t sport = 1024) {
    const auto d = dst_of(i);
    const SpdFlowCache::Key k = c.key(kSrc.data(), d.data(), 17, sport, 5001);
    return c.find(c.set_of(k), k);
}

void put(SpdFlowCache& c, uint32_t i, SpdMatch m, uint16_t sport = 1024) {
    const auto d = dst_of(i);
    const SpdFlowCache::Key k = c.key(kSrc.data(), d.data(), 17, sport, 5001);
    c.insert(c.set_of(k), k, m);
}

}  // namespace

TEST_CASE("spd flow cache: a stored verdict is found for its exact 5-tuple only") {
    SpdFlowCache c(1024);
    CHECK(c.entries() == 1024);
    CHECK(c.bytes() == 512 * 64);
    c.use_generation(1);
    CHECK(lookup(c, 7) == nullptr);
    put(c, 7, protect(42));
    const SpdMatch* m = lookup(c, 7);
    REQUIRE(m != nullptr);
    CHECK(m->kind == SpdMatch::protect);
    CHECK(m->sa_id == 42);
    CHECK(lookup(c, 7, 1025) == nullptr);  // other source port
    CHECK(lookup(c, 8) == nullptr);        // other destination
}

TEST_CASE("spd flow cache: a set holds two flows; a third replaces one of them") {
    SpdFlowCache c(1024);
    c.use_generation(1);
    // Three flows of one set: find them by trying destinations until three collide.
    const auto d0 = dst_of(0);
    const uint32_t set = c.set_of(c.key(kSrc.data(), d0.data(), 17, 1024, 5001));
    std::vector<uint32_t> same{0};
    for (uint32_t i = 1; same.size() < 3 && i < 1u << 16; ++i) {
        const auto d = dst_of(i);
        if (c.set_of(c.key(kSrc.data(), d.data(), 17, 1024, 5001)) == set) same.push_back(i);
    }
    REQUIRE(same.size() == 3);
    put(c, same[0], protect(1));
    put(c, same[1], protect(2));
    put(c, same[0], protect(1));  // the same flow again: still two flows held
    REQUIRE(lookup(c, same[1]) != nullptr);
    put(c, same[2], protect(3));  // replaces one way
    CHECK(lookup(c, same[2]) != nullptr);
    CHECK(lookup(c, same[2])->sa_id == 3);
    CHECK((lookup(c, same[0]) != nullptr) + (lookup(c, same[1]) != nullptr) == 1);
    // Three flows taking turns (LRU would miss every time): some still hit.
    uint32_t hits = 0;
    for (int round = 0; round < 10; ++round)
        for (uint32_t f : same) {
            if (lookup(c, f) != nullptr) ++hits;
            else put(c, f, protect(f));
        }
    CHECK(hits >= 10);
}

TEST_CASE("spd flow cache: a new generation invalidates every verdict; old tags never return") {
    SpdFlowCache c(4096);
    c.use_generation(5);
    for (uint32_t i = 0; i < 1000; ++i) put(c, i, protect(i));
    uint32_t hits = 0;
    for (uint32_t i = 0; i < 1000; ++i) hits += lookup(c, i) != nullptr;
    CHECK(hits > 900);  // 2-way sets: a few collisions
    c.use_generation(6);
    for (uint32_t i = 0; i < 1000; ++i) REQUIRE(lookup(c, i) == nullptr);
    put(c, 3, protect(99));
    REQUIRE(lookup(c, 3) != nullptr);
    CHECK(lookup(c, 3)->sa_id == 99);
    // Generation 5 + 2^23 has generation 5's tag: the cache is wiped on the way there.
    c.use_generation(5);
    put(c, 4, protect(4));
    c.use_generation(5 + (uint64_t{1} << 23));
    CHECK(lookup(c, 4) == nullptr);
    CHECK(lookup(c, 3) == nullptr);
}

TEST_CASE("spd flow cache: sizes other than a power of two in 1024..2^24 are refused") {
    CHECK_THROWS_AS(SpdFlowCache(512), std::invalid_argument);
    CHECK_THROWS_AS(SpdFlowCache(3000), std::invalid_argument);
    CHECK_THROWS_AS(SpdFlowCache(1u << 25), std::invalid_argument);
    CHECK_NOTHROW(SpdFlowCache(1u << 17));
}
