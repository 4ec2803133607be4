// Idle back-off: exponential sleep after a run of empty polls.
#include "dataplane/dp/idle.hpp"

#include <time.h>

namespace espgw::dp {

namespace {
constexpr uint64_t kFirstSleepNs = 10'000;
}

void IdleBackoff::after_poll(uint32_t nb_rx, LoopCounters& c) noexcept {
    if (nb_rx != 0) [[likely]] {
        empty_ = 0;
        sleep_ns_ = 0;
        return;
    }
    if (!enabled_ || ++empty_ < threshold_) return;
    sleep_ns_ = sleep_ns_ == 0 ? kFirstSleepNs : sleep_ns_ * 2;
    if (sleep_ns_ > max_ns_) sleep_ns_ = max_ns_;
    timespec ts{static_cast<time_t>(sleep_ns_ / 1'000'000'000), static_cast<long>(sleep_ns_ % 1'000'000'000)};
    nanosleep(&ts, nullptr);
    cnt_add(c.sleeps);
    cnt_add(c.sleep_ns, sleep_ns_);
}

}  // namespace espgw::dp
