// Punt (IKE → control process) and inject (control process → wire) rings.
#include "dataplane/dp/punt.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>
#include <stdexcept>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/net/checksum.hpp"

namespace espgw::dp {

PuntMeta* punt_meta(rte_mbuf* m) noexcept { return static_cast<PuntMeta*>(rte_mbuf_to_priv(m)); }

void Punt::create(uint32_t size, int socket_id) {
    to_control = rte_ring_create(kPuntRingName, size, socket_id, RING_F_SC_DEQ);
    from_control = rte_ring_create(kInjectRingName, size, socket_id, RING_F_SC_DEQ);
    if (!to_control || !from_control) throw std::runtime_error("cannot create the punt/inject rings");
}

void punt_ike(Worker& w, uint16_t port, rte_mbuf* m, uint32_t ike_off, uint16_t src_port, uint16_t dst_port) noexcept {
    auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
    PuntMeta* meta = punt_meta(m);
    uint8_t family = (ip[0] >> 4) == 4 ? 4 : 6;
    meta->src = net::IpAddr::from_bytes(family == 4 ? ip + 12 : ip + 8, family);
    meta->dst = net::IpAddr::from_bytes(family == 4 ? ip + 16 : ip + 24, family);
    meta->src_port = src_port;
    meta->dst_port = dst_port;
    meta->port_index = port;
    meta->flags = 0;
    rte_pktmbuf_adj(m, static_cast<uint16_t>(ike_off));
    if (rte_ring_mp_enqueue(w.dp.punt.to_control, m) != 0) [[unlikely]] {
        w.drop(m, DpDrop::punt_full);
        return;
    }
    cnt_add(w.counters.path.punted);
}

void drain_inject(Worker& w) noexcept {
    rte_mbuf* pkts[32];
    unsigned n = rte_ring_sc_dequeue_burst(w.dp.punt.from_control, reinterpret_cast<void**>(pkts), 32, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        PuntMeta meta = *punt_meta(m);
        // RFC 3948 §2.2 non-ESP marker on IKE from the NAT-T port; never on a keepalive.
        bool marker = meta.src_port == w.dp.cfg.dataplane.nat_t_port && !(meta.flags & kInjectRaw);
        uint32_t ip_len = meta.src.family == 4 ? 20 : 40;
        uint32_t payload = m->pkt_len + (marker ? 4 : 0);
        auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(ip_len + 8 + (marker ? 4 : 0))));
        if (!p || meta.src.family != meta.dst.family) [[unlikely]] {
            w.drop(m, DpDrop::no_mbuf);
            continue;
        }
        uint8_t* udp = p + ip_len;
        net::store_be16(udp, meta.src_port);
        net::store_be16(udp + 2, meta.dst_port);
        net::store_be16(udp + 4, static_cast<uint16_t>(8 + payload));
        net::store_be16(udp + 6, 0);
        if (marker) std::memset(udp + 8, 0, 4);
        if (meta.src.family == 4) {
            std::memset(p, 0, 20);
            p[0] = 0x45;
            net::store_be16(p + 2, static_cast<uint16_t>(20 + 8 + payload));
            p[8] = 64;
            p[9] = net::kProtoUdp;
            std::memcpy(p + 12, meta.src.bytes, 4);
            std::memcpy(p + 16, meta.dst.bytes, 4);
            net::ipv4_set_checksum(p);
        } else {
            std::memset(p, 0, 8);
            p[0] = 0x60;
            net::store_be16(p + 4, static_cast<uint16_t>(8 + payload));
            p[6] = net::kProtoUdp;
            p[7] = 64;
            std::memcpy(p + 8, meta.src.bytes, 16);
            std::memcpy(p + 24, meta.dst.bytes, 16);
            uint16_t c = net::l4_checksum(6, p + 8, p + 24, net::kProtoUdp, udp, 8 + payload);
            net::store_be16(udp + 6, c == 0 ? 0xffff : c);  // RFC 8200 §8.1
        }
        cnt_add(w.counters.path.injected);
        output_ip(w, m);
    }
}

}  // namespace espgw::dp
