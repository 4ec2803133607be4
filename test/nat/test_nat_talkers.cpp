// Top talkers: per-inside-address session/packet counts kept by the session table,
// slot reuse, and the merge over workers.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "dataplane/nat/masquerade.hpp"
#include "dataplane/nat/talkers.hpp"

using namespace espgw::nat;

TEST_CASE("talkers: sessions per inside address follow create/remove; packets counted", "[nat][talkers]") {
    SessionTable t(1000, 1024, 65535, 0);
    CreateError err;
    std::vector<uint32_t> ids;
    // 10.20.0.1: 5 sessions, 10.20.0.2: 2, 10.20.0.3: 1.
    const uint32_t a[] = {0x0A140001, 0x0A140001, 0x0A140002, 0x0A140001, 0x0A140003, 0x0A140001, 0x0A140002, 0x0A140001};
    for (size_t i = 0; i < std::size(a); ++i) {
        const int64_t id = t.create({17, a[i], static_cast<uint16_t>(1000 + i), 0xCB007105, 53}, 0xC6336401, 0, 100, &err);
        REQUIRE(id >= 0);
        ids.push_back(static_cast<uint32_t>(id));
    }
    for (int k = 0; k < 7; ++k) t.count_packet(ids[2]);  // 10.20.0.2
    t.count_packet(ids[0]);
    auto top = top_talkers({t.talkers().snapshot()}, 10);
    REQUIRE(top.size() == 3);
    CHECK(top[0].addr == 0x0A140001);
    CHECK(top[0].sessions == 5);
    CHECK(top[0].packets == 1);
    CHECK(top[1].addr == 0x0A140002);
    CHECK(top[1].sessions == 2);
    CHECK(top[1].packets == 7);
    CHECK(top[2].sessions == 1);
    CHECK(top_talkers({t.talkers().snapshot()}, 1).size() == 1);
    // Removing all of 10.20.0.2's sessions takes it off the list.
    t.remove(ids[2]);
    t.remove(ids[6]);
    top = top_talkers({t.talkers().snapshot()}, 10);
    REQUIRE(top.size() == 2);
    CHECK(top[1].addr == 0x0A140003);
    // Two workers' snapshots add up per address.
    SessionTable u(100, 1024, 65535, 0);
    REQUIRE(u.create({6, 0x0A140003, 5000, 0xCB007105, 80}, 0xC6336401, 0, 100, &err) >= 0);
    REQUIRE(u.create({6, 0x0A140003, 5001, 0xCB007105, 80}, 0xC6336401, 0, 100, &err) >= 0);
    top = top_talkers({t.talkers().snapshot(), u.talkers().snapshot()}, 10);
    REQUIRE(top.size() == 2);
    CHECK(top[1].addr == 0x0A140003);
    CHECK(top[1].sessions == 3);
    CHECK(t.talkers().untracked() == 0);
}

TEST_CASE("talkers: slots of addresses without sessions are reused; beyond the table, untracked", "[nat][talkers]") {
    TalkerTable tt;
    // 100,000 addresses coming and going one at a time never fill the table.
    for (uint32_t i = 1; i <= 100000; ++i) {
        const uint16_t s = tt.add(0x0A000000 + i);
        REQUIRE(s != TalkerTable::kNone);
        tt.packet(s);
        tt.remove(s);
    }
    CHECK(tt.snapshot().empty());
    CHECK(tt.untracked() == 0);
    // A reused slot starts its packet count again; the same address keeps one slot.
    const uint16_t s1 = tt.add(0x0B000001);
    const uint16_t s2 = tt.add(0x0B000001);
    CHECK(s1 == s2);
    tt.packet(s1);
    auto snap = tt.snapshot();
    REQUIRE(snap.size() == 1);
    CHECK(snap[0].sessions == 2);
    CHECK(snap[0].packets == 1);
    // All slots held by live addresses: the next address is untracked, and counted.
    for (uint32_t i = 1; i < TalkerTable::kSlots; ++i) REQUIRE(tt.add(0x0C000000 + i) != TalkerTable::kNone);
    CHECK(tt.add(0x0D000001) == TalkerTable::kNone);
    CHECK(tt.untracked() == 1);
    tt.remove(TalkerTable::kNone);  // harmless
    CHECK(tt.snapshot().size() == TalkerTable::kSlots);
}

TEST_CASE("talkers: a reader thread snapshots while the worker churns (relaxed atomics, sane sums)", "[nat][talkers]") {
    SessionTable t(4096, 1024, 65535, 0);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> worst{0}, snapshots{0};
    std::thread reader([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            uint64_t sum = 0;
            for (const auto& e : t.talkers().snapshot()) sum += e.sessions;
            if (sum > worst.load()) worst = sum;
            ++snapshots;
        }
    });
    // The churn starts once the reader runs (on a loaded 2-core machine it may otherwise
    // be scheduled only after the loop) and stops only after it took a snapshot.
    while (snapshots.load() == 0) std::this_thread::yield();
    CreateError err;
    std::vector<uint32_t> live;
    for (int round = 0; round < 20000; ++round) {
        const int64_t id = t.create({17, 0x0A140000u + static_cast<uint32_t>(round % 300), static_cast<uint16_t>(round),
                                     0xCB007105, 53},
                                    0xC6336401, 0, 100, &err);
        if (id >= 0) live.push_back(static_cast<uint32_t>(id));
        if (live.size() > 3000) {
            t.remove(live.front());
            live.erase(live.begin());
        }
    }
    stop = true;
    reader.join();
    CHECK(worst.load() <= 2 * 4096);  // a snapshot is not atomic, but never wild
    CHECK(snapshots.load() >= 1);
    uint64_t sum = 0;
    for (const auto& e : t.talkers().snapshot()) sum += e.sessions;
    CHECK(sum == t.size());
}
