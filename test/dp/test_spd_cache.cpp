// SpdFlowCache (dataplane/dp/spd_cache.hpp): hits, the three ways, generation tags
// (a new SPD invalidates without a wipe; a tag wrap wipes), bad sizes refused.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <array>
#include <optional>
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

std::optional<SpdMatch> lookup(const SpdFlowCache& c, uint32_t i, uint16_t sport = 1024) {
    const auto d = dst_of(i);
    const SpdFlowCache::Key k = c.key(kSrc.data(), d.data(), 17, sport, 5001);
    SpdMatch m;
    if (!c.find(c.set_of(k), k, m)) return std::nullopt;
    return m;
}

void put(SpdFlowCache& c, uint32_t i, SpdMatch m, uint16_t sport = 1024) {
    const auto d = dst_of(i);
    const SpdFlowCache::Key k = c.key(kSrc.data(), d.data(), 17, sport, 5001);
    c.insert(c.set_of(k), k, m);
}

}  // namespace

TEST_CASE("spd flow cache: a stored verdict is found for its exact 5-tuple only") {
    SpdFlowCache c(1024);
    CHECK(c.capacity() == 1536);  // 512 one-line sets of three
    CHECK(c.bytes() == 512 * 64);
    c.use_generation(1);
    CHECK(!lookup(c, 7));
    put(c, 7, protect(42));
    const auto m = lookup(c, 7);
    REQUIRE(m);
    CHECK(m->kind == SpdMatch::protect);
    CHECK(m->sa_id == 42);
    CHECK(!lookup(c, 7, 1025));  // other source port
    CHECK(!lookup(c, 8));        // other destination
    // Every verdict kind and the full 32-bit id survive the packed entry.
    put(c, 9, {SpdMatch::bypass, 0xfedcba98u});
    put(c, 10, {SpdMatch::discard, 0});
    CHECK(lookup(c, 9)->kind == SpdMatch::bypass);
    CHECK(lookup(c, 9)->sa_id == 0xfedcba98u);
    CHECK(lookup(c, 10)->kind == SpdMatch::discard);
    CHECK(lookup(c, 7)->sa_id == 42);
}

TEST_CASE("spd flow cache: a set holds three flows; a fourth replaces one of them") {
    SpdFlowCache c(1024);
    c.use_generation(1);
    // Four flows of one set: find them by trying destinations until four collide.
    const auto d0 = dst_of(0);
    const uint32_t set = c.set_of(c.key(kSrc.data(), d0.data(), 17, 1024, 5001));
    std::vector<uint32_t> same{0};
    for (uint32_t i = 1; same.size() < 4 && i < 1u << 16; ++i) {
        const auto d = dst_of(i);
        if (c.set_of(c.key(kSrc.data(), d.data(), 17, 1024, 5001)) == set) same.push_back(i);
    }
    REQUIRE(same.size() == 4);
    put(c, same[0], protect(1));
    put(c, same[1], protect(2));
    put(c, same[2], protect(3));
    put(c, same[0], protect(11));  // the same flow again: updated in place, still three held
    REQUIRE(lookup(c, same[0]));
    CHECK(lookup(c, same[0])->sa_id == 11);
    REQUIRE(lookup(c, same[1]));
    REQUIRE(lookup(c, same[2]));
    put(c, same[3], protect(4));  // replaces one way
    REQUIRE(lookup(c, same[3]));
    CHECK(lookup(c, same[3])->sa_id == 4);
    CHECK(lookup(c, same[0]).has_value() + lookup(c, same[1]).has_value() + lookup(c, same[2]).has_value() == 2);
    // Four flows taking turns (LRU would miss every time): some still hit.
    uint32_t hits = 0;
    for (int round = 0; round < 10; ++round)
        for (uint32_t f : same) {
            if (lookup(c, f)) ++hits;
            else put(c, f, protect(f));
        }
    CHECK(hits >= 10);
}

TEST_CASE("spd flow cache: a new generation invalidates every verdict; old tags never return") {
    SpdFlowCache c(4096);
    c.use_generation(5);
    for (uint32_t i = 0; i < 1000; ++i) put(c, i, protect(i));
    uint32_t hits = 0;
    for (uint32_t i = 0; i < 1000; ++i) hits += lookup(c, i).has_value();
    CHECK(hits > 990);  // 3-way sets, 6144 places: a rare collision at most
    c.use_generation(6);
    for (uint32_t i = 0; i < 1000; ++i) REQUIRE(!lookup(c, i));
    put(c, 3, protect(99));
    REQUIRE(lookup(c, 3));
    CHECK(lookup(c, 3)->sa_id == 99);
    // Generation 5 + 2^23 has generation 5's tag: the cache is wiped on the way there.
    c.use_generation(5);
    put(c, 4, protect(4));
    c.use_generation(5 + (uint64_t{1} << 23));
    CHECK(!lookup(c, 4));
    CHECK(!lookup(c, 3));
}

TEST_CASE("spd flow cache: sizes other than a power of two in 1024..2^24 are refused") {
    CHECK_THROWS_AS(SpdFlowCache(512), std::invalid_argument);
    CHECK_THROWS_AS(SpdFlowCache(3000), std::invalid_argument);
    CHECK_THROWS_AS(SpdFlowCache(1u << 25), std::invalid_argument);
    CHECK_NOTHROW(SpdFlowCache(1u << 17));
}
