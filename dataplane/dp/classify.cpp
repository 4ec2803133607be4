// RX dispatch: Ethernet → ARP / IP classify → local, inbound, outbound.
#include "dataplane/dp/classify.hpp"

#include <rte_mbuf.h>

#include <cstring>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/frag.hpp"
#include "dataplane/dp/icmp.hpp"
#include "dataplane/dp/inbound.hpp"
#include "dataplane/dp/neighbor.hpp"
#include "dataplane/dp/outbound.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/punt.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/nat/nat_path.hpp"

namespace espgw::dp {

namespace {

/// Local delivery of a packet addressed to one of our addresses.
void local_in(Worker& w, uint16_t port, rte_mbuf* m, const esp::Classification& cls) {
    switch (cls.kind) {
    case esp::PacketKind::ike:
    case esp::PacketKind::ike_nat_t: {
        auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
        uint16_t dport = net::load_be16(ip + cls.l4_off + 2);
        punt_ike(w, port, m, cls.esp_off, cls.udp_src_port, dport);
        return;
    }
    case esp::PacketKind::nat_keepalive:
        w.drop(m, DpDrop::nat_keepalive);
        return;
    default:
        break;
    }
    if (icmp_echo(w, port, m, cls)) return;
    if (cls.ip_version == 6 && cls.l4_proto == net::kProtoIcmpv6 && handle_nd(w, port, m, cls.l4_off)) return;
    w.drop(m, DpDrop::local_unhandled);
}

}  // namespace

void process_rx(Worker& w, uint16_t port, rte_mbuf** pkts, uint32_t n) noexcept {
    rte_mbuf* in_pkts[kMaxBurst];
    BurstArray<esp::Classification> in_cls;
    uint32_t nin = 0;
    rte_mbuf* out_pkts[kMaxBurst];
    BurstArray<esp::Classification> out_cls;
    uint32_t nout = 0;
    const PortInfo& pi = w.dp.ports[port];
    const uint16_t nat_t = w.dp.cfg.dataplane.nat_t_port;
    PortCounters& pc = w.counters.port[port];
    uint64_t rx_bytes = 0;  // counters: one update per burst

    for (uint32_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        rx_bytes += m->pkt_len;
        if (m->nb_segs != 1 || m->data_len < kEtherHdrBytes) [[unlikely]] {
            w.drop(m, DpDrop::bad_ether);
            continue;
        }
        const auto* eth = rte_pktmbuf_mtod(m, const uint8_t*);
        // Unicast frames must be for us; group frames (broadcast, ND multicast) pass.
        if (!(eth[0] & 1) && std::memcmp(eth, pi.mac.data(), 6) != 0) {
            w.drop(m, DpDrop::not_for_us);
            continue;
        }
        uint16_t type = net::load_be16(eth + 12);
        rte_pktmbuf_adj(m, kEtherHdrBytes);
        if (type == kEtherArp) {
            handle_arp(w, port, m);
            continue;
        }
        if (type != kEtherIpv4 && type != kEtherIpv6) [[unlikely]] {
            w.drop(m, DpDrop::bad_ether);
            continue;
        }
        esp::Classification cls;
        esp::DropReason r = esp::classify(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, cls, nat_t);
        const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*);
        uint8_t family = (ip[0] >> 4) == 4 ? 4 : 6;
        const uint8_t* dst = family == 4 ? ip + 16 : ip + 24;
        bool local = w.dp.is_local(family, dst);
        if (r == esp::DropReason::fragment && local) {
            // RFC 4303 §3.4.1: reassemble outer fragments before ESP processing.
            m = reassemble(w, m);
            if (!m) continue;
            r = esp::classify(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, cls, nat_t);
        }
        if (r != esp::DropReason::none) [[unlikely]] {
            if (r == esp::DropReason::fragment && pi.role == PortRole::inside) {
                // A cleartext fragment from inside: forward as such (SPD on addresses only).
                cls.ip_version = family;
                cls.l4_proto = 0;
                cls.ip_len = m->data_len;
                cls.l4_off = static_cast<uint16_t>(family == 4 ? (ip[0] & 0xf) * 4 : 40);
                out_cls[nout] = cls;
                out_pkts[nout++] = m;
                continue;
            }
            w.drop(m, r);
            continue;
        }
        if (local) {
            // Masquerade reverse: only plain IP can be a NAT session's return traffic.
            if (auto v = cls.kind == esp::PacketKind::other ? nat::to_public(w, port, m, cls)
                                                            : nat::ReturnVerdict::not_nat;
                v != nat::ReturnVerdict::not_nat) {
                if (v == nat::ReturnVerdict::translated) out_cls[nout] = cls, out_pkts[nout++] = m;
                continue;
            }
            if (cls.kind == esp::PacketKind::esp || cls.kind == esp::PacketKind::esp_in_udp) {
                in_cls[nin] = cls;
                in_pkts[nin++] = m;
            } else {
                local_in(w, port, m, cls);
            }
            continue;
        }
        if (family == 6 && dst[0] == 0xff) {
            // Link-scope multicast: ND to our solicited-node address, nothing else.
            if (cls.l4_proto == net::kProtoIcmpv6 && handle_nd(w, port, m, cls.l4_off)) continue;
            w.drop(m, DpDrop::local_unhandled);
            continue;
        }
        if (family == 4 && (dst[0] >= 224 || (dst[0] == 255))) {
            w.drop(m, DpDrop::local_unhandled);
            continue;
        }
        if (pi.role == PortRole::inside) {
            out_cls[nout] = cls;
            out_pkts[nout++] = m;
        } else {
            outside_cleartext(w, m, cls);
        }
    }
    cnt_add(pc.rx_packets, n);
    cnt_add(pc.rx_bytes, rx_bytes);
    if (nin) inbound_burst(w, in_pkts, in_cls.data(), nin);
    if (nout) outbound_burst(w, port, out_pkts, out_cls.data(), nout);
}

}  // namespace espgw::dp
