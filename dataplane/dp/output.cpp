// Output: route → neighbour → Ethernet → TX buffer.
#include "dataplane/dp/output.hpp"

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstring>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/dp/worker.hpp"

namespace espgw::dp {

namespace {

/// Prepends the 14-byte Ethernet header `hdr` and queues `m` on `port`'s TX buffer.
inline void push_eth(Worker& w, rte_mbuf* m, uint16_t port, const uint8_t* hdr) noexcept {
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kEtherHdrBytes));
    if (!eth) [[unlikely]] {
        w.drop(m, DpDrop::no_mbuf);
        return;
    }
    std::memcpy(eth, hdr, kEtherHdrBytes);
    TxBuffer& tb = w.tx[port];
    tb.pkts[tb.count++] = m;
    if (tb.count == kMaxBurst) tx_flush(w);
}

inline void make_eth(uint8_t* hdr, const MacAddr& dst, const MacAddr& src, uint16_t ether_type) noexcept {
    std::memcpy(hdr, dst.data(), 6);
    std::memcpy(hdr + 6, src.data(), 6);
    net::store_be16(hdr + 12, ether_type);
}

}  // namespace

void output_eth(Worker& w, rte_mbuf* m, uint16_t port, const MacAddr& dst, uint16_t ether_type) noexcept {
    uint8_t hdr[kEtherHdrBytes];
    make_eth(hdr, dst, w.dp.ports[port].mac, ether_type);
    push_eth(w, m, port, hdr);
}

namespace {

/// False (m dropped, counted) when m is larger than `port`'s MTU.
inline bool fits_port(Worker& w, rte_mbuf* m, uint16_t port) noexcept {
    if (m->pkt_len <= w.dp.ports[port].mtu) [[likely]]
        return true;
    w.drop(m, DpDrop::too_big_for_port);
    return false;
}

/// The MAC of `next_hop` on `port`; false while it is unknown (m is then held in the
/// worker's pending queue until the neighbour resolves).
inline bool neighbor_mac(Worker& w, rte_mbuf* m, uint16_t port, uint8_t family, const uint8_t* next_hop,
                         MacAddr& mac) noexcept {
    if (w.dp.neighbors.lookup(port, family, next_hop, mac)) [[likely]]
        return true;
    w.pending.hold(w, port, family, next_hop, m);
    return false;
}

inline uint16_t ether_type_of(uint8_t family) noexcept { return family == 4 ? kEtherIpv4 : kEtherIpv6; }

}  // namespace

void output_ip_via(Worker& w, rte_mbuf* m, uint16_t port, uint8_t family, const uint8_t* next_hop) noexcept {
    MacAddr mac;
    if (fits_port(w, m, port) && neighbor_mac(w, m, port, family, next_hop, mac))
        output_eth(w, m, port, mac, ether_type_of(family));
}

namespace {

inline bool memo_hit(const OutputMemo& c, uint8_t family, const uint8_t* dst) noexcept {
    if (c.family != family) return false;
    if (family == 4) {
        uint32_t a, b;
        std::memcpy(&a, c.dst, 4);
        std::memcpy(&b, dst, 4);
        return a == b;
    }
    return std::memcmp(c.dst, dst, 16) == 0;
}

}  // namespace

const NextHop* route_cached(Worker& w, uint8_t family, const uint8_t* dst) noexcept {
    OutputMemo& c = w.out_memo;
    if (memo_hit(c, family, dst)) [[likely]]
        return c.hop;
    const NextHop* nh = w.sa->route(family, dst);
    if (nh) {
        c.family = family;
        c.has_mac = false;
        std::memcpy(c.dst, dst, family == 4 ? 4 : 16);
        c.hop = nh;
    }
    return nh;
}

void output_ip(Worker& w, rte_mbuf* m) noexcept {
    const auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint8_t family = (ip[0] >> 4) == 4 ? 4 : 6;
    const uint8_t* dst = family == 4 ? ip + 16 : ip + 24;
    OutputMemo& c = w.out_memo;
    if (memo_hit(c, family, dst) && c.has_mac) [[likely]] {
        if (m->pkt_len <= c.mtu) [[likely]]
            push_eth(w, m, c.hop->port, c.eth);
        else
            w.drop(m, DpDrop::too_big_for_port);
        return;
    }
    const NextHop* nh = route_cached(w, family, dst);
    if (!nh) [[unlikely]] {
        w.drop(m, DpDrop::no_route);
        return;
    }
    MacAddr mac;
    if (!fits_port(w, m, nh->port) || !neighbor_mac(w, m, nh->port, family, neighbor_addr(*nh, dst), mac)) return;
    c.has_mac = true;  // route_cached() left this destination in the memo
    c.mtu = w.dp.ports[nh->port].mtu;
    make_eth(c.eth, mac, w.dp.ports[nh->port].mac, ether_type_of(family));
    push_eth(w, m, nh->port, c.eth);
}

void tx_flush(Worker& w) noexcept {
    for (uint32_t p = 0; p < w.dp.nb_ports; ++p) {
        TxBuffer& tb = w.tx[p];
        if (tb.count == 0) continue;
        PortCounters& pc = w.counters.port[p];
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < tb.count; ++i) bytes += tb.pkts[i]->pkt_len;
        uint16_t sent = rte_eth_tx_burst(w.dp.ports[p].port_id, static_cast<uint16_t>(w.index), tb.pkts,
                                         static_cast<uint16_t>(tb.count));
        for (uint32_t i = sent; i < tb.count; ++i) {
            bytes -= tb.pkts[i]->pkt_len;
            rte_pktmbuf_free(tb.pkts[i]);
        }
        cnt_add(pc.tx_packets, sent);
        cnt_add(pc.tx_bytes, bytes);
        if (sent < tb.count) [[unlikely]] {
            cnt_add(pc.tx_dropped, tb.count - sent);
            cnt_add(w.counters.dp_drop[static_cast<uint32_t>(DpDrop::tx_full)], tb.count - sent);
        }
        tb.count = 0;
    }
}

}  // namespace espgw::dp
