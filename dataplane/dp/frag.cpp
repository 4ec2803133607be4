// Reassembly of outer fragments (rte_ip_frag) and fragmentation of inner IPv4.
#include "dataplane/dp/frag.hpp"

#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <cstring>
#include <stdexcept>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/net/checksum.hpp"

namespace espgw::dp {

void frag_init(Worker& w, int socket_id) {
    // 2 s to collect the fragments of one datagram (well below RFC 791's 15 s, enough
    // on a LAN; a long hold only ties up mbufs).
    w.frag_tbl = rte_ip_frag_table_create(256, 8, 1024, w.tsc_hz * 2, socket_id);
    if (!w.frag_tbl) throw std::runtime_error("cannot create the IP reassembly table");
}

rte_mbuf* reassemble(Worker& w, rte_mbuf* m) noexcept {
    auto* ip = rte_pktmbuf_mtod(m, uint8_t*);
    m->l2_len = 0;
    rte_mbuf* whole;
    if ((ip[0] >> 4) == 4) {
        auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
        m->l3_len = static_cast<uint16_t>((ip[0] & 0xf) * 4);
        whole = rte_ipv4_frag_reassemble_packet(w.frag_tbl, &w.death_row, m, w.now_tsc, h);
    } else {
        auto* h = reinterpret_cast<rte_ipv6_hdr*>(ip);
        rte_ipv6_fragment_ext* fh = rte_ipv6_frag_get_ipv6_fragment_header(h);
        if (!fh) {
            w.drop(m, DpDrop::reassembly);
            return nullptr;
        }
        m->l3_len = sizeof(rte_ipv6_hdr) + sizeof(rte_ipv6_fragment_ext);
        whole = rte_ipv6_frag_reassemble_packet(w.frag_tbl, &w.death_row, m, w.now_tsc, h, fh);
    }
    cnt_add(w.counters.dp_drop[static_cast<uint32_t>(DpDrop::reassembly)]);  // fragment absorbed
    if (!whole) return nullptr;
    if (rte_pktmbuf_linearize(whole) != 0) [[unlikely]] {
        rte_pktmbuf_free(whole);
        return nullptr;
    }
    auto* wip = rte_pktmbuf_mtod(whole, uint8_t*);
    if ((wip[0] >> 4) == 4) {
        net::ipv4_set_checksum(wip);  // the library rewrote length/offset fields
    }
    cnt_add(w.counters.path.reassembled);
    return whole;
}

void frag_housekeeping(Worker& w) noexcept {
    if (w.death_row.cnt) rte_ip_frag_free_death_row(&w.death_row, 0);
}

uint32_t fragment_ipv4(Worker& w, rte_mbuf* m, uint32_t max_ip_bytes, rte_mbuf** out, uint32_t max_out) noexcept {
    const auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
    uint32_t ihl = (ip[0] & 0xf) * 4u;
    uint32_t total = net::load_be16(ip + 2);
    uint16_t frag = net::load_be16(ip + 6);
    uint32_t base_off = (frag & net::kIpv4OffsetMask) * 8u;
    bool last_mf = frag & net::kIpv4FlagMf;
    uint32_t chunk = ((max_ip_bytes - ihl) / 8) * 8;  // RFC 791: offsets in 8-byte units
    if (total > m->data_len || chunk == 0) {
        rte_pktmbuf_free(m);
        return 0;
    }
    uint32_t n = 0;
    for (uint32_t off = 0; off < total - ihl; off += chunk) {
        uint32_t len = std::min(chunk, total - ihl - off);
        rte_mbuf* f = n < max_out ? rte_pktmbuf_alloc(w.dp.pool) : nullptr;
        auto* p = f ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(f, static_cast<uint16_t>(ihl + len))) : nullptr;
        if (!p) [[unlikely]] {
            if (f) rte_pktmbuf_free(f);
            for (uint32_t i = 0; i < n; ++i) rte_pktmbuf_free(out[i]);
            rte_pktmbuf_free(m);
            return 0;
        }
        std::memcpy(p, ip, ihl);
        std::memcpy(p + ihl, ip + ihl + off, len);
        bool more = off + len < total - ihl || last_mf;
        net::store_be16(p + 2, static_cast<uint16_t>(ihl + len));
        net::store_be16(p + 6, static_cast<uint16_t>((more ? net::kIpv4FlagMf : 0) | ((base_off + off) / 8)));
        net::ipv4_set_checksum(p);
        out[n++] = f;
    }
    rte_pktmbuf_free(m);
    cnt_add(w.counters.path.fragments_made, n);
    return n;
}

}  // namespace espgw::dp
