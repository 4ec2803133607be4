// Idle back-off: exponential sleep after a run of empty polls, or an RX-interrupt wait.
#include "dataplane/dp/idle.hpp"

#include <rte_cycles.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>

#include <fmt/format.h>

#include <cstring>
#include <ctime>

namespace espgw::dp {

void IdleBackoff::sleep_for(uint64_t ns, LoopCounters& c) noexcept {
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    nanosleep(&ts, nullptr);
    cnt_add(c.sleeps);
    cnt_add(c.sleep_ns, ns);
}

void IdleBackoff::after_poll(uint32_t nb_rx, LoopCounters& c) noexcept {
    uint64_t ns = next_wait_ns(nb_rx);
    if (ns != 0) sleep_for(ns, c);
}

bool RxInterrupts::arm(const RxIntrQueue* q, uint32_t n, uint32_t worker_index) noexcept {
    if (state_ != State::untried) return state_ == State::armed;
    state_ = State::unavailable;
    if (n == 0 || n > kMax) return false;
    uint32_t done = 0;
    for (; done < n; ++done) {
        // The event's data is unused: any wake-up means "poll every queue".
        int rc = rte_eth_dev_rx_intr_ctl_q(q[done].port_id, q[done].queue, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_ADD,
                                           nullptr);
        if (rc != 0) {
            rte_eth_dev_info info{};
            const char* drv = rte_eth_dev_info_get(q[done].port_id, &info) == 0 && info.driver_name
                                  ? info.driver_name
                                  : "?";
            // -ENOTSUP/-EPERM: no interrupt handle or no RX vector, i.e. the PMD has no
            // RX interrupts (net_af_packet, net_null, net_pcap, net_ring).
            fmt::print(stderr,
                       "espgw-dp: worker {}: idle = \"interrupt\": port {} ({}) queue {} has no RX interrupt ({}); "
                       "this worker sleeps when idle instead\n",
                       worker_index, q[done].port_name, drv, q[done].queue,
                       rc == -ENOTSUP || rc == -EPERM ? "the PMD does not provide one" : rte_strerror(-rc));
            break;
        }
    }
    if (done < n) {
        for (uint32_t i = 0; i < done; ++i)
            rte_eth_dev_rx_intr_ctl_q(q[i].port_id, q[i].queue, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_DEL, nullptr);
        return false;
    }
    std::memcpy(q_, q, sizeof(RxIntrQueue) * n);
    n_ = n;
    state_ = State::armed;
    fmt::print(stderr, "espgw-dp: worker {}: idle = \"interrupt\": RX interrupts armed on {} queue(s)\n", worker_index,
               n);
    return true;
}

int RxInterrupts::wait(int timeout_ms, LoopCounters& c) noexcept {
    // PMDs whose queue interrupt is always on (net_tap: the queue's fd) answer
    // -ENOTSUP to enable/disable; the epoll registration is what matters.
    for (uint32_t i = 0; i < n_; ++i) rte_eth_dev_rx_intr_enable(q_[i].port_id, q_[i].queue);
    rte_epoll_event ev[kMax];
    const uint64_t t0 = rte_get_timer_cycles();
    int got = rte_epoll_wait(RTE_EPOLL_PER_THREAD, ev, static_cast<int>(n_), timeout_ms);
    const uint64_t dt = rte_get_timer_cycles() - t0;
    for (uint32_t i = 0; i < n_; ++i) rte_eth_dev_rx_intr_disable(q_[i].port_id, q_[i].queue);
    cnt_add(c.sleeps);
    cnt_add(c.sleep_ns, dt * 1'000'000'000 / rte_get_timer_hz());
    return got < 0 ? 0 : got;
}

}  // namespace espgw::dp
