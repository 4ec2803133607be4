// ARP (RFC 826), IPv6 ND (RFC 4861 §4.3, §4.4, §7.2), the shared neighbour table and
// the per-worker pending queue.
#include "dataplane/dp/neighbor.hpp"

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <cstring>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/net/checksum.hpp"

namespace espgw::dp {

namespace {

constexpr uint64_t kMacValid = uint64_t{1} << 63;
constexpr uint64_t kMacStatic = uint64_t{1} << 62;

uint64_t pack_mac(const MacAddr& m) {
    uint64_t v = 0;
    for (uint8_t b : m) v = (v << 8) | b;
    return v;
}

constexpr uint32_t kArpBytes = 28;
constexpr uint8_t kNdNs = 135;
constexpr uint8_t kNdNa = 136;
constexpr uint8_t kOptSrcLl = 1;
constexpr uint8_t kOptTgtLl = 2;

}  // namespace

uint32_t NeighborTable::hash(uint16_t port, uint8_t family, const uint8_t* addr) noexcept {
    uint32_t h = 2166136261u ^ port ^ (uint32_t{family} << 16);
    for (size_t i = 0; i < (family == 4 ? 4u : 16u); ++i) h = (h ^ addr[i]) * 16777619u;
    return h;
}

bool NeighborTable::lookup(uint16_t port, uint8_t family, const uint8_t* addr, MacAddr& mac) const noexcept {
    size_t alen = family == 4 ? 4 : 16;
    uint32_t h = hash(port, family, addr);
    for (uint32_t i = 0; i < kSlots; ++i) {
        const Slot& s = slots_[(h + i) & (kSlots - 1)];
        // acquire: pairs with the release in learn(), so port/family/addr are complete.
        if (s.used.load(std::memory_order_acquire) == 0) return false;
        if (s.port != port || s.family != family || std::memcmp(s.addr, addr, alen) != 0) continue;
        uint64_t v = s.mac.load(std::memory_order_relaxed);  // one word: never torn
        if (!(v & kMacValid)) return false;
        for (int b = 0; b < 6; ++b) mac[b] = static_cast<uint8_t>(v >> (40 - 8 * b));
        return true;
    }
    return false;
}

bool NeighborTable::learn(uint16_t port, uint8_t family, const uint8_t* addr, const MacAddr& mac,
                          bool is_static) noexcept {
    size_t alen = family == 4 ? 4 : 16;
    uint64_t v = pack_mac(mac) | kMacValid | (is_static ? kMacStatic : 0);
    uint32_t h = hash(port, family, addr);
    while (lock_.test_and_set(std::memory_order_acquire)) {
    }
    bool ok = false;
    for (uint32_t i = 0; i < kSlots; ++i) {
        Slot& s = slots_[(h + i) & (kSlots - 1)];
        if (s.used.load(std::memory_order_relaxed) == 0) {
            s.port = port;
            s.family = family;
            std::memset(s.addr, 0, sizeof s.addr);
            std::memcpy(s.addr, addr, alen);
            s.mac.store(v, std::memory_order_relaxed);
            s.used.store(1, std::memory_order_release);  // publish the key
            ok = true;
            break;
        }
        if (s.port == port && s.family == family && std::memcmp(s.addr, addr, alen) == 0) {
            uint64_t old = s.mac.load(std::memory_order_relaxed);
            if (!(old & kMacStatic) || is_static) s.mac.store(v, std::memory_order_relaxed);
            ok = true;
            break;
        }
    }
    lock_.clear(std::memory_order_release);
    return ok;
}

void PendingQueue::hold(Worker& w, uint16_t port, uint8_t family, const uint8_t* addr, rte_mbuf* m) noexcept {
    size_t alen = family == 4 ? 4 : 16;
    Hop* free_hop = nullptr;
    for (Hop& h : hops_) {
        if (h.family == 0) {
            if (!free_hop) free_hop = &h;
            continue;
        }
        if (h.port == port && h.family == family && std::memcmp(h.addr, addr, alen) == 0) {
            if (h.count == kPerHop) {
                w.drop(m, DpDrop::no_neighbor);
                return;
            }
            h.pkts[h.count++] = m;
            return;
        }
    }
    if (!free_hop) {
        w.drop(m, DpDrop::no_neighbor);
        return;
    }
    Hop& h = *free_hop;
    h.port = port;
    h.family = family;
    std::memset(h.addr, 0, sizeof h.addr);
    std::memcpy(h.addr, addr, alen);
    h.count = 1;
    h.pkts[0] = m;
    h.tries = 1;
    h.last_req_tsc = rte_rdtsc();
    ++used_;
    solicit(w, port, family, addr);
}

void PendingQueue::service(Worker& w, uint64_t now_tsc) noexcept {
    for (Hop& h : hops_) {
        if (h.family == 0) continue;
        MacAddr mac;
        if (w.dp.neighbors.lookup(h.port, h.family, h.addr, mac)) {
            for (uint32_t i = 0; i < h.count; ++i)
                output_eth(w, h.pkts[i], h.port, mac, h.family == 4 ? kEtherIpv4 : kEtherIpv6);
        } else if (now_tsc - h.last_req_tsc > w.tsc_hz) {
            if (h.tries < 3) {  // RFC 4861 §7.2.2 MAX_MULTICAST_SOLICIT = 3, 1 s apart
                ++h.tries;
                h.last_req_tsc = now_tsc;
                solicit(w, h.port, h.family, h.addr);
                continue;
            }
            for (uint32_t i = 0; i < h.count; ++i) w.drop(h.pkts[i], DpDrop::no_neighbor);
        } else {
            continue;
        }
        h.family = 0;
        h.count = 0;
        --used_;
    }
}

void handle_arp(Worker& w, uint16_t port, rte_mbuf* m) noexcept {
    auto* a = rte_pktmbuf_mtod(m, uint8_t*);
    if (m->data_len < kArpBytes || net::load_be16(a) != 1 || net::load_be16(a + 2) != kEtherIpv4 || a[4] != 6 ||
        a[5] != 4) [[unlikely]] {
        w.drop(m, DpDrop::bad_ether);
        return;
    }
    uint16_t op = net::load_be16(a + 6);
    uint8_t* sha = a + 8;
    uint8_t* spa = a + 14;
    uint8_t* tha = a + 18;
    uint8_t* tpa = a + 24;
    const PortInfo& pi = w.dp.ports[port];
    const net::IpAddr* ours = nullptr;
    for (uint32_t i = 0; i < pi.nb_addrs; ++i)
        if (pi.addrs[i].addr.family == 4 && std::memcmp(pi.addrs[i].addr.bytes, tpa, 4) == 0) ours = &pi.addrs[i].addr;
    MacAddr smac;
    std::memcpy(smac.data(), sha, 6);
    MacAddr known;
    // RFC 826 "merge": update an existing entry; add one only when the target is us.
    if (ours || w.dp.neighbors.lookup(port, 4, spa, known)) {
        uint32_t z = 0;
        if (std::memcmp(spa, &z, 4) != 0) w.dp.neighbors.learn(port, 4, spa, smac);
    }
    if (!ours || op != 1) {
        cnt_add(w.counters.path.local_packets);
        rte_pktmbuf_free(m);
        return;
    }
    // Answer in place: swap sender/target, fill our MAC.
    net::store_be16(a + 6, 2);
    std::memcpy(tha, sha, 6);
    uint8_t tmp[4];
    std::memcpy(tmp, spa, 4);
    std::memcpy(sha, pi.mac.data(), 6);
    std::memcpy(spa, tpa, 4);
    std::memcpy(tpa, tmp, 4);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - kArpBytes));
    cnt_add(w.counters.path.local_packets);
    output_eth(w, m, port, smac, kEtherArp);
}

namespace {

/// Builds and sends an ICMPv6 ND message (NS or NA) with one link-layer option.
void send_nd(Worker& w, uint16_t port, uint8_t type, uint32_t flags, const uint8_t* src, const uint8_t* dst,
             const uint8_t* target, uint8_t opt_type, const MacAddr& l2dst) {
    rte_mbuf* m = rte_pktmbuf_alloc(w.dp.pool);
    if (!m) [[unlikely]] {
        cnt_add(w.counters.dp_drop[static_cast<uint32_t>(DpDrop::no_mbuf)]);
        return;
    }
    constexpr uint16_t kIcmpLen = 8 + 16 + 8;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 40 + kIcmpLen));
    if (!p) [[unlikely]] {
        rte_pktmbuf_free(m);
        return;
    }
    std::memset(p, 0, 40 + kIcmpLen);
    p[0] = 0x60;
    net::store_be16(p + 4, kIcmpLen);
    p[6] = net::kProtoIcmpv6;
    p[7] = 255;  // RFC 4861 §7.1.1: hop limit 255
    std::memcpy(p + 8, src, 16);
    std::memcpy(p + 24, dst, 16);
    uint8_t* icmp = p + 40;
    icmp[0] = type;
    net::store_be32(icmp + 4, flags);
    std::memcpy(icmp + 8, target, 16);
    icmp[24] = opt_type;
    icmp[25] = 1;
    std::memcpy(icmp + 26, w.dp.ports[port].mac.data(), 6);
    net::store_be16(icmp + 2, net::l4_checksum(6, src, dst, net::kProtoIcmpv6, icmp, kIcmpLen));
    cnt_add(w.counters.path.local_packets);
    output_eth(w, m, port, l2dst, kEtherIpv6);
}

}  // namespace

bool handle_nd(Worker& w, uint16_t port, rte_mbuf* m, uint32_t l4_off) noexcept {
    auto* ip = rte_pktmbuf_mtod(m, uint8_t*);
    if (m->data_len < l4_off + 24) return false;
    uint8_t* icmp = ip + l4_off;
    if (icmp[0] != kNdNs && icmp[0] != kNdNa) return false;
    const PortInfo& pi = w.dp.ports[port];
    const uint8_t* target = icmp + 8;
    // Link-layer address option, if any (RFC 4861 §4.6.1).
    const uint8_t* ll = nullptr;
    for (uint32_t off = l4_off + 24; off + 8 <= m->data_len;) {
        uint8_t olen = ip[off + 1];
        if (olen == 0) break;
        if (ip[off] == (icmp[0] == kNdNs ? kOptSrcLl : kOptTgtLl)) ll = ip + off + 2;
        off += olen * 8u;
    }
    static const uint8_t kUnspec[16] = {};
    const uint8_t* src = ip + 8;
    if (icmp[0] == kNdNa) {
        MacAddr mac;
        if (ll) {
            std::memcpy(mac.data(), ll, 6);
            w.dp.neighbors.learn(port, 6, target, mac);
        }
        cnt_add(w.counters.path.local_packets);
        rte_pktmbuf_free(m);
        return true;
    }
    bool ours = false;
    for (uint32_t i = 0; i < pi.nb_addrs; ++i)
        ours |= pi.addrs[i].addr.family == 6 && std::memcmp(pi.addrs[i].addr.bytes, target, 16) == 0;
    if (!ours) {
        w.drop(m, DpDrop::local_unhandled);
        return true;
    }
    MacAddr smac;
    uint8_t dst[16];
    if (std::memcmp(src, kUnspec, 16) == 0) {
        // DAD probe: answer to all-nodes (RFC 4861 §7.2.4).
        static const uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        std::memcpy(dst, kAllNodes, 16);
        smac = {0x33, 0x33, 0, 0, 0, 1};
    } else {
        std::memcpy(dst, src, 16);
        if (ll) {
            std::memcpy(smac.data(), ll, 6);
            w.dp.neighbors.learn(port, 6, src, smac);
        } else {
            auto* eth = ip - kEtherHdrBytes;  // the frame's source MAC, still in the headroom
            std::memcpy(smac.data(), eth + 6, 6);
        }
    }
    uint8_t tgt[16];
    std::memcpy(tgt, target, 16);
    rte_pktmbuf_free(m);
    // Flags: Router | Solicited | Override (RFC 4861 §4.4).
    send_nd(w, port, kNdNa, 0xE0000000u, tgt, dst, tgt, kOptTgtLl, smac);
    return true;
}

void solicit(Worker& w, uint16_t port, uint8_t family, const uint8_t* addr) noexcept {
    const PortInfo& pi = w.dp.ports[port];
    const net::IpAddr* src = pi.addr_of(family);
    if (!src) return;
    if (family == 6) {
        // Solicited-node multicast ff02::1:ffXX:XXXX (RFC 4291 §2.7.1), MAC 33:33:ff:XX:XX:XX.
        uint8_t dst[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, addr[13], addr[14], addr[15]};
        MacAddr mac{0x33, 0x33, 0xff, addr[13], addr[14], addr[15]};
        send_nd(w, port, kNdNs, 0, src->bytes, dst, addr, kOptSrcLl, mac);
        return;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(w.dp.pool);
    if (!m) [[unlikely]] {
        cnt_add(w.counters.dp_drop[static_cast<uint32_t>(DpDrop::no_mbuf)]);
        return;
    }
    auto* a = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kArpBytes));
    if (!a) [[unlikely]] {
        rte_pktmbuf_free(m);
        return;
    }
    net::store_be16(a, 1);
    net::store_be16(a + 2, kEtherIpv4);
    a[4] = 6;
    a[5] = 4;
    net::store_be16(a + 6, 1);
    std::memcpy(a + 8, pi.mac.data(), 6);
    std::memcpy(a + 14, src->bytes, 4);
    std::memset(a + 18, 0, 6);
    std::memcpy(a + 24, addr, 4);
    output_eth(w, m, port, MacAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kEtherArp);
}

}  // namespace espgw::dp
