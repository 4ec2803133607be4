// Idle back-off of the espgw-dp workers: sleeps only after the configured run of empty
// polls, backs off exponentially up to the cap, and polls at full speed again as soon
// as a poll receives something; the mode choice behind [dataplane] idle. The RX-interrupt
// wait itself is proven on net_tap ports by test/dp/dp_idle_intr.py.
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

TEST_CASE("idle modes: off never waits, sleep and interrupt wait after the threshold with the same back-off") {
    using espgw::dp::IdleMode;
    IdleBackoff off(IdleMode::off, 1, 1000), sl(IdleMode::sleep, 2, 40), in(IdleMode::interrupt, 2, 40);
    CHECK(off.mode() == IdleMode::off);
    CHECK(in.mode() == IdleMode::interrupt);
    for (int i = 0; i < 10; ++i) CHECK(off.next_wait_ns(0) == 0);
    CHECK(sl.next_wait_ns(0) == 0);
    CHECK(sl.next_wait_ns(0) == 10'000);
    CHECK(sl.next_wait_ns(0) == 20'000);
    CHECK(sl.next_wait_ns(0) == 40'000);
    CHECK(sl.next_wait_ns(0) == 40'000);
    CHECK(in.next_wait_ns(0) == 0);
    CHECK(in.next_wait_ns(0) == 10'000);  // the worker turns this into an RX-interrupt wait
    CHECK(in.next_wait_ns(7) == 0);       // traffic: poll at full speed again
    CHECK(in.next_wait_ns(0) == 0);
}

TEST_CASE("the bool constructor keeps idle_backoff = true/false meaning sleep/off") {
    CHECK(IdleBackoff(true, 1, 10).mode() == espgw::dp::IdleMode::sleep);
    CHECK(IdleBackoff(false, 1, 10).mode() == espgw::dp::IdleMode::off);
}
