// SA owner hand-off rings.
#include "dataplane/dp/handoff.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <fmt/format.h>

#include <stdexcept>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/inbound.hpp"
#include "dataplane/dp/outbound.hpp"
#include "dataplane/dp/punt.hpp"
#include "dataplane/dp/worker.hpp"

namespace espgw::dp {

void handoff_create(Worker& w, int socket_id) {
    std::string name = fmt::format("espgw_handoff_{}", w.index);
    w.handoff_ring = rte_ring_create(name.c_str(), 4096, socket_id, RING_F_SC_DEQ);
    if (!w.handoff_ring) throw std::runtime_error(fmt::format("cannot create {}", name));
}

void handoff(Worker& w, uint32_t owner, rte_mbuf* m, HandoffKind kind, uint16_t in_port) noexcept {
    PuntMeta* meta = punt_meta(m);  // the private area is free while the packet is in the dataplane
    meta->reserved = static_cast<uint16_t>(kind);
    meta->port_index = in_port;
    if (rte_ring_mp_enqueue(w.dp.workers[owner]->handoff_ring, m) != 0) [[unlikely]] {
        w.drop(m, DpDrop::handoff_full);
        return;
    }
    cnt_add(w.counters.path.handed_off);
}

uint32_t drain_handoff(Worker& w) noexcept {
    rte_mbuf* pkts[kMaxBurst];
    unsigned n = rte_ring_sc_dequeue_burst(w.handoff_ring, reinterpret_cast<void**>(pkts), w.burst, nullptr);
    if (n == 0) return 0;
    rte_mbuf* in[kMaxBurst];
    BurstArray<esp::Classification> in_cls;
    uint32_t nin = 0;
    // Outbound packets are grouped per inside port (almost always one).
    const uint16_t nat_t = w.dp.cfg.dataplane.nat_t_port;
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        PuntMeta* meta = punt_meta(m);
        esp::Classification cls;
        esp::DropReason r = esp::classify(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, cls, nat_t);
        if (r != esp::DropReason::none && r != esp::DropReason::fragment) [[unlikely]] {
            w.drop(m, r);
            continue;
        }
        if (meta->reserved == static_cast<uint16_t>(HandoffKind::inbound)) {
            in_cls[nin] = cls;
            in[nin++] = m;
        } else {
            outbound_burst(w, meta->port_index, &m, &cls, 1);
        }
    }
    if (nin) inbound_burst(w, in, in_cls.data(), nin);
    return n;
}

}  // namespace espgw::dp
