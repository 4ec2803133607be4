#pragma once
// Idle back-off for poll-mode workers (TESTBED.md "Two cores"; [dataplane] idle).
// After `polls_before_sleep` consecutive empty polls the worker either
//   - sleeps ("sleep"): 10 us, doubling up to `max_sleep_us`, or
//   - waits for an RX interrupt ("interrupt"): arms the RX interrupts of its queues
//     (rte_eth_dev_rx_intr_ctl_q on the worker thread's epoll, rte_eth_dev_rx_intr_enable)
//     and blocks in rte_epoll_wait for at most kIntrWaitMs, so an idle worker costs
//     ~100 wake-ups/s and a packet wakes it at once. A worker with a queue whose PMD has
//     no RX interrupts (net_af_packet, net_null, net_pcap, ...) sleeps instead; the
//     reason is logged once per port at the first idle period.
// The first non-empty poll returns the worker to full-speed polling. Under load the
// worker never waits. "off" (benchmarks, dedicated cores) never waits.

#include <cstdint>

#include "dataplane/dp/config.hpp"
#include "dataplane/dp/counters.hpp"

namespace espgw::dp {

/// Longest RX-interrupt wait: bounds how late an idle worker sees rings that raise no
/// interrupt (inject ring on worker 0, hand-off rings) and runs its housekeeping.
inline constexpr int kIntrWaitMs = 10;

/// When to wait, and how long a sleep is. Pure policy; owning worker only.
class IdleBackoff {
public:
    IdleBackoff(IdleMode mode, uint32_t polls_before_sleep, uint32_t max_sleep_us) noexcept
        : mode_(mode), threshold_(polls_before_sleep), max_ns_(uint64_t{max_sleep_us} * 1000) {}
    IdleBackoff(bool enabled, uint32_t polls_before_sleep, uint32_t max_sleep_us) noexcept
        : IdleBackoff(enabled ? IdleMode::sleep : IdleMode::off, polls_before_sleep, max_sleep_us) {}

    /// The configured mode (interrupt stays interrupt even where a port lacks them).
    IdleMode mode() const noexcept { return mode_; }

    /// Call once per loop iteration with the packets it received. Returns the sleep
    /// this iteration should take in ns (0: keep polling): 0 until the run of empty
    /// polls reaches the threshold, then 10 us doubling up to the cap; any traffic
    /// resets both. Never 0 past the threshold unless the mode is off.
    uint64_t next_wait_ns(uint32_t nb_rx) noexcept {
        if (nb_rx != 0) [[likely]] {
            empty_ = 0;
            sleep_ns_ = 0;
            return 0;
        }
        if (mode_ == IdleMode::off || ++empty_ < threshold_) return 0;
        sleep_ns_ = sleep_ns_ == 0 ? kFirstSleepNs : sleep_ns_ * 2;
        if (sleep_ns_ > max_ns_) sleep_ns_ = max_ns_;
        return sleep_ns_;
    }

    /// next_wait_ns, then nanosleep that long and count it (sleeps, sleep_ns).
    void after_poll(uint32_t nb_rx, LoopCounters& c) noexcept;

    /// Sleeps `ns` (nanosleep) and counts it.
    static void sleep_for(uint64_t ns, LoopCounters& c) noexcept;

private:
    static constexpr uint64_t kFirstSleepNs = 10'000;
    IdleMode mode_;
    uint32_t threshold_;
    uint64_t max_ns_;
    uint32_t empty_ = 0;
    uint64_t sleep_ns_ = 0;
};

/// One (DPDK port id, RX queue) a worker polls, for RxInterrupts.
struct RxIntrQueue {
    uint16_t port_id = 0;
    uint16_t queue = 0;
    const char* port_name = "";  ///< for the log line; outlives the worker
};

/// RX-interrupt wait of one worker over all its RX queues. Owning worker thread only
/// (the epoll set is rte's per-thread one). No exceptions, no allocation.
class RxInterrupts {
public:
    /// Registers every queue's interrupt with the calling thread's epoll set (once;
    /// later calls return the first answer). True when every queue has one; otherwise
    /// unregisters what it registered, prints one line per port naming the reason
    /// (the PMD has no RX interrupts / the ethdev error) and returns false: the
    /// caller sleeps instead. Port interrupts must have been requested at configure
    /// (rte_eth_conf.intr_conf.rxq = 1, see ports_start).
    bool arm(const RxIntrQueue* q, uint32_t n, uint32_t worker_index) noexcept;

    /// Enables the queues' interrupts, waits up to `timeout_ms` in rte_epoll_wait,
    /// disables them again. Returns the number of queues that signalled (0: timeout).
    /// Counts the wait in c.sleeps / c.sleep_ns (measured). arm() must have returned true.
    int wait(int timeout_ms, LoopCounters& c) noexcept;

    bool armed() const noexcept { return state_ == State::armed; }
    bool tried() const noexcept { return state_ != State::untried; }

private:
    enum class State : uint8_t { untried, armed, unavailable };
    static constexpr uint32_t kMax = 32;
    State state_ = State::untried;
    uint32_t n_ = 0;
    RxIntrQueue q_[kMax];
};

}  // namespace espgw::dp
