#pragma once
// Idle back-off for poll-mode workers (TESTBED.md "Two cores"): after `polls_before_sleep`
// consecutive empty polls the worker sleeps, starting at 10 us and doubling up to
// `max_sleep_us`; the first non-empty poll returns it to full-speed polling. On a
// machine where the worker shares its core this leaves the core to others; under load
// the worker never sleeps. Disabled for benchmarks ([dataplane] idle_backoff = false).

#include <cstdint>

#include "dataplane/dp/counters.hpp"

namespace espgw::dp {

class IdleBackoff {
public:
    IdleBackoff(bool enabled, uint32_t polls_before_sleep, uint32_t max_sleep_us) noexcept
        : enabled_(enabled), threshold_(polls_before_sleep), max_ns_(uint64_t{max_sleep_us} * 1000) {}

    /// Call once per loop iteration with the number of packets that iteration
    /// received. May sleep (nanosleep). Owning worker only.
    void after_poll(uint32_t nb_rx, LoopCounters& c) noexcept;

private:
    bool enabled_;
    uint32_t threshold_;
    uint64_t max_ns_;
    uint32_t empty_ = 0;
    uint64_t sleep_ns_ = 0;
};

}  // namespace espgw::dp
