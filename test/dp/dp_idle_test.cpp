// Idle back-off of the espgw-dp workers: sleeps only after the configured run of empty
// polls, backs off exponentially up to the cap, and polls at full speed again as soon
// as a poll receives something.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "dataplane/dp/idle.hpp"

using espgw::dp::IdleBackoff;
using espgw::dp::LoopCounters;

TEST_CASE("no sleep before the threshold of empty polls, then one sleep per empty poll") {
    IdleBackoff b(true, 5, 100);
    LoopCounters c;
    for (int i = 0; i < 4; ++i) b.after_poll(0, c);
    CHECK(c.sleeps == 0);
    b.after_poll(0, c);
    CHECK(c.sleeps == 1);
    b.after_poll(0, c);
    CHECK(c.sleeps == 2);
}

TEST_CASE("sleep doubles from 10 us and is capped at idle_max_sleep_us") {
    IdleBackoff b(true, 1, 50);  // 10, 20, 40, 50, 50 us
    LoopCounters c;
    for (int i = 0; i < 5; ++i) b.after_poll(0, c);
    CHECK(c.sleeps == 5);
    CHECK(c.sleep_ns == (10 + 20 + 40 + 50 + 50) * 1000u);
}

TEST_CASE("traffic resets the back-off: full-speed polling under load") {
    IdleBackoff b(true, 3, 1000);
    LoopCounters c;
    for (int i = 0; i < 10; ++i) b.after_poll(0, c);
    uint64_t slept = c.sleeps;
    CHECK(slept == 8);
    b.after_poll(32, c);
    for (int i = 0; i < 2; ++i) b.after_poll(0, c);
    CHECK(c.sleeps == slept);  // threshold counts again from zero
    b.after_poll(0, c);
    CHECK(c.sleeps == slept + 1);
    CHECK(c.sleep_ns == (10 + 20 + 40 + 80 + 160 + 320 + 640 + 1000 + 10) * 1000u);  // back to 10 us
}

TEST_CASE("disabled back-off never sleeps (benchmarks)") {
    IdleBackoff b(false, 1, 1000);
    LoopCounters c;
    for (int i = 0; i < 100; ++i) b.after_poll(0, c);
    CHECK(c.sleeps == 0);
}
