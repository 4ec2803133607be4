// The worker poll loop.
#include "dataplane/dp/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/dp/classify.hpp"
#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/frag.hpp"
#include "dataplane/dp/handoff.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/punt.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/nat/nat_path.hpp"

namespace espgw::dp {

Worker::Worker(Dataplane& d, uint32_t idx, unsigned lc)
    : dp(d),
      index(idx),
      lcore(lc),
      burst(d.cfg.dataplane.burst),
      idle(d.cfg.dataplane.idle, d.cfg.dataplane.idle_polls, d.cfg.dataplane.idle_max_sleep_us),
      engine(std::make_unique<crypto::MbEngine>()),
      tsc_hz(rte_get_tsc_hz()) {
    nat::worker_init(*this);  // masquerade + firewall state (dataplane/nat/nat_path.hpp)
}

Worker::~Worker() {
    nat::worker_fini(*this);
    if (frag_tbl) rte_ip_frag_table_destroy(frag_tbl);
    if (handoff_ring) rte_ring_free(handoff_ring);
}

void Worker::drop(rte_mbuf* m, DpDrop why) noexcept {
    cnt_add(counters.dp_drop[static_cast<uint32_t>(why)]);
    rte_pktmbuf_free(m);
}

void Worker::drop(rte_mbuf* m, esp::DropReason why) noexcept {
    cnt_add(counters.esp_drop[static_cast<uint32_t>(why)]);
    rte_pktmbuf_free(m);
}

namespace {
// The idle period of one iteration: an RX-interrupt wait where every queue of this
// worker has one ([dataplane] idle = "interrupt"), else a sleep of `sleep_ns`. The
// worker is offline for RCU while it waits (writers never wait for an idle worker).
void idle_wait(Worker& w, uint64_t sleep_ns) noexcept {
    if (w.idle.mode() == IdleMode::interrupt) {
        if (!w.intr.tried()) {
            RxIntrQueue qs[kMaxRxQueuesPerWorker];
            for (uint32_t i = 0; i < w.nb_rxq; ++i) {
                const PortInfo& p = w.dp.ports[w.rxq[i].port];
                qs[i] = {p.port_id, w.rxq[i].queue, p.name.c_str()};
            }
            w.intr.arm(qs, w.nb_rxq, w.index);
        }
        if (w.intr.armed()) {
            w.sa->offline();
            w.intr.wait(kIntrWaitMs, w.counters.loop);
            w.sa->online();
            return;
        }
    }
    IdleBackoff::sleep_for(sleep_ns, w.counters.loop);
}
}  // namespace

int worker_main(void* arg) {
    Worker& w = *static_cast<Worker*>(arg);
    rte_mbuf* pkts[kMaxBurst];
    const uint64_t service_period = w.tsc_hz / 1000;  // neighbour queue: every ms
    while (!w.dp.stop.load(std::memory_order_relaxed)) {
        w.now_tsc = rte_rdtsc();
        w.out_memo.family = 0;  // its route reference dies at this iteration's quiescent()
        uint32_t total = 0;
        for (uint32_t q = 0; q < w.nb_rxq; ++q) {
            const RxQueueRef& r = w.rxq[q];
            uint16_t n = rte_eth_rx_burst(w.dp.ports[r.port].port_id, r.queue, pkts, static_cast<uint16_t>(w.burst));
            if (n == 0) continue;
            total += n;
            process_rx(w, r.port, pkts, n);
        }
        if (w.dp.workers.size() > 1) total += drain_handoff(w);
        if (w.index == 0) drain_inject(w);
        nat::worker_poll(w);  // NAT return hand-off, session expiry, firewall RCU report
        if (w.now_tsc >= w.next_service_tsc) {
            w.next_service_tsc = w.now_tsc + service_period;
            if (!w.pending.empty()) w.pending.service(w, w.now_tsc);
        }
        tx_flush(w);
        frag_housekeeping(w);
        // One quiescent report per iteration: every table reference taken above is dead.
        w.sa->quiescent();
        cnt_add(w.counters.loop.iterations);
        if (total) cnt_add(w.counters.loop.busy_polls);
        if (const uint64_t ns = w.idle.next_wait_ns(total); ns != 0) [[unlikely]]
            idle_wait(w, ns);
    }
    w.sa->offline();
    return 0;
}

}  // namespace espgw::dp
