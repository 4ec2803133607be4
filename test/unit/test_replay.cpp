// Anti-replay window edges (RFC 4303 §3.4.3, Appendix A2 ESN inference, RFC 6479).
#include <catch2/catch.hpp>

#include "dataplane/esp/replay.hpp"

using espgw::esp::DropReason;
using espgw::esp::ReplayWindow;

namespace {
// check + advance, as inbound_prepare/inbound_finish do with a valid ICV.
DropReason accept(ReplayWindow& w, uint32_t seq_lo, bool esn, uint64_t* full = nullptr) {
    uint64_t seq = 0;
    DropReason r = w.check(seq_lo, esn, &seq);
    if (full) *full = seq;
    if (r != DropReason::none) return r;
    return w.check_and_advance(seq);
}
}  // namespace

TEST_CASE("replay: in-order sequence numbers are all accepted and move the top") {
    ReplayWindow w;
    w.reset(1024);
    for (uint32_t s = 1; s <= 5000; ++s) REQUIRE(accept(w, s, false) == DropReason::none);
    CHECK(w.top == 5000);
}

TEST_CASE("replay: sequence number 0 is refused") {
    ReplayWindow w;
    w.reset(64);
    CHECK(accept(w, 0, false) == DropReason::seq_zero);
}

TEST_CASE("replay: reordered packets inside the window are accepted once, duplicates refused") {
    ReplayWindow w;
    w.reset(64);
    REQUIRE(accept(w, 100, false) == DropReason::none);
    REQUIRE(accept(w, 37, false) == DropReason::none);   // 100 - 37 = 63 < 64: left edge
    CHECK(accept(w, 36, false) == DropReason::replay_old);  // 64 behind: outside
    CHECK(accept(w, 37, false) == DropReason::replay_duplicate);
    CHECK(accept(w, 100, false) == DropReason::replay_duplicate);
    REQUIRE(accept(w, 99, false) == DropReason::none);
    CHECK(accept(w, 99, false) == DropReason::replay_duplicate);
    REQUIRE(accept(w, 101, false) == DropReason::none);
    CHECK(accept(w, 37, false) == DropReason::replay_old);  // window moved past it
}

TEST_CASE("replay: check is read-only, advance re-checks (burst of duplicates)") {
    ReplayWindow w;
    w.reset(1024);
    uint64_t a = 0, b = 0;
    // Two packets with the same number in one burst: both pass the pre-ICV check,
    // only the first survives the post-ICV re-check.
    REQUIRE(w.check(7, false, &a) == DropReason::none);
    REQUIRE(w.check(7, false, &b) == DropReason::none);
    CHECK(w.check_and_advance(a) == DropReason::none);
    CHECK(w.check_and_advance(b) == DropReason::replay_duplicate);
}

TEST_CASE("replay: a slide by more than the window clears every old bit") {
    for (uint32_t size : {64u, 1024u, 4096u}) {
        ReplayWindow w;
        w.reset(size);
        for (uint32_t s = 1; s <= size; ++s) REQUIRE(accept(w, s, false) == DropReason::none);
        const uint32_t jump = size + 3 * size + 17;
        REQUIRE(accept(w, jump, false) == DropReason::none);
        // Everything in the new window except the top is fresh.
        for (uint32_t s = jump - size + 1; s < jump; ++s) REQUIRE(accept(w, s, false) == DropReason::none);
        CHECK(accept(w, jump - size, false) == DropReason::replay_old);
    }
}

TEST_CASE("replay: slides by 1..2 blocks keep exact bits (ring reuse)") {
    ReplayWindow w;
    w.reset(64);
    for (uint32_t s = 1; s < 20000; s += 2) REQUIRE(accept(w, s, false) == DropReason::none);
    // odd ones seen, even ones in the window not
    const uint32_t top = static_cast<uint32_t>(w.top);
    for (uint32_t s = top - 63; s <= top; ++s) {
        const DropReason want = (s % 2) ? DropReason::replay_duplicate : DropReason::none;
        uint64_t full;
        CHECK(w.check(s, false, &full) == want);
    }
}

TEST_CASE("replay: window sizes 64 and 4096 have exact left edges") {
    for (uint32_t size : {64u, 4096u}) {
        ReplayWindow w;
        w.reset(size);
        REQUIRE(accept(w, 10000, false) == DropReason::none);
        uint64_t full;
        CHECK(w.check(10000 - size + 1, false, &full) == DropReason::none);
        CHECK(w.check(10000 - size, false, &full) == DropReason::replay_old);
    }
}

TEST_CASE("replay: window 0 turns anti-replay off but still refuses 0") {
    ReplayWindow w;
    w.reset(0);
    CHECK(accept(w, 5, false) == DropReason::none);
    CHECK(accept(w, 5, false) == DropReason::none);
    CHECK(accept(w, 1, false) == DropReason::none);
    CHECK(accept(w, 0, false) == DropReason::seq_zero);
}

TEST_CASE("replay ESN: the high half is inferred across the 2^32 wrap (Appendix A2)") {
    ReplayWindow w;
    w.reset(1024, 0xfffffff0ull);  // top near the end of subspace 0
    uint64_t full = 0;
    // Case A, above the window bottom: same subspace.
    REQUIRE(accept(w, 0xfffffff5u, true, &full) == DropReason::none);
    CHECK(full == 0xfffffff5ull);
    // Below the bottom: next subspace (wrapped).
    REQUIRE(accept(w, 3, true, &full) == DropReason::none);
    CHECK(full == 0x100000003ull);
    CHECK(w.top == 0x100000003ull);
    // Case B: window spans subspaces; a late packet from subspace 0 still fits.
    REQUIRE(accept(w, 0xfffffff8u, true, &full) == DropReason::none);
    CHECK(full == 0xfffffff8ull);
    CHECK(accept(w, 0xfffffff8u, true, &full) == DropReason::replay_duplicate);
    // Below the window bottom in case B: inferred as the current subspace (ahead),
    // so only the ICV can refuse it (RFC 4303 A2.2). Check only, no advance.
    CHECK(w.check(0xfffff000u, true, &full) == DropReason::none);
    CHECK(full == 0x1fffff000ull);
    // Low numbers of subspace 1 after the top: new.
    REQUIRE(accept(w, 10, true, &full) == DropReason::none);
    CHECK(full == 0x10000000aull);
    // Without ESN the same 32-bit values mean something else.
    ReplayWindow n;
    n.reset(1024, 0xfffffff0ull);
    CHECK(accept(n, 3, false) == DropReason::replay_old);
}

TEST_CASE("replay ESN: seq_lo 0 after the wrap is valid, full 0 is not") {
    ReplayWindow w;
    w.reset(64, 0xffffffffull);
    uint64_t full = 0;
    REQUIRE(accept(w, 0, true, &full) == DropReason::none);
    CHECK(full == 0x100000000ull);
    ReplayWindow fresh;
    fresh.reset(64);
    CHECK(accept(fresh, 0, true, &full) == DropReason::seq_zero);
}

TEST_CASE("replay ESN: a huge value at the start is not mistaken for subspace -1") {
    ReplayWindow w;
    w.reset(64);
    uint64_t full = 0;
    CHECK(accept(w, 0xffffffffu, true, &full) == DropReason::replay_old);
    REQUIRE(accept(w, 1, true, &full) == DropReason::none);
    CHECK(full == 1);
}
