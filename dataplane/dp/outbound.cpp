// Outbound: SPD → protect / bypass / discard; PMTU; pre-fragmentation; encrypt burst.
#include "dataplane/dp/outbound.hpp"

#include <rte_mbuf.h>

#include <span>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/frag.hpp"
#include "dataplane/dp/handoff.hpp"
#include "dataplane/dp/icmp.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/nat/nat_path.hpp"
#include "dataplane/net/checksum.hpp"

namespace espgw::dp {

namespace {

struct EncryptBatch {
    uint32_t n = 0;
    rte_mbuf* pkts[kMaxBurst];
    BurstArray<OutboundRef> refs;
    esp::PacketBuf bufs[kMaxBurst];
};

inline esp::PacketBuf buf_of(rte_mbuf* m) noexcept {
    return {rte_pktmbuf_mtod(m, uint8_t*), m->data_len, rte_pktmbuf_headroom(m), rte_pktmbuf_tailroom(m)};
}

/// Points the mbuf at what the transform left in `b`.
inline void sync_mbuf(rte_mbuf* m, const esp::PacketBuf& b) noexcept {
    m->data_off = static_cast<uint16_t>(b.data - static_cast<uint8_t*>(m->buf_addr));
    m->data_len = static_cast<uint16_t>(b.len);
    m->pkt_len = b.len;
}

void encrypt_flush(Worker& w, EncryptBatch& b) noexcept {
    // Prepare in place; a dropped packet closes the gap (rare: the moves only run then).
    uint32_t k = 0;
    for (uint32_t i = 0; i < b.n; ++i) {
        esp::PacketBuf& pb = b.bufs[k];
        pb = buf_of(b.pkts[i]);
        esp::DropReason r = esp::outbound_prepare(*b.refs[i].sa, *b.refs[i].st, pb, w.ops[k], w.scratch[k]);
        if (r != esp::DropReason::none) [[unlikely]] {
            w.sa->count_drop(b.refs[i], sa_drop_of(r));
            w.drop(b.pkts[i], r);
            continue;
        }
        if (k != i) [[unlikely]] {
            b.pkts[k] = b.pkts[i];
            b.refs[k] = b.refs[i];
        }
        ++k;
    }
    b.n = 0;
    if (k == 0) return;
    w.engine->encrypt(std::span<crypto::Op>(w.ops, k));
    uint64_t sent = 0, sent_bytes = 0;  // counters: one update per burst
    for (uint32_t j = 0; j < k; ++j) {
        rte_mbuf* m = b.pkts[j];
        esp::PacketBuf& pb = b.bufs[j];
        const uint32_t inner_len = m->data_len;
        esp::DropReason r = esp::outbound_finish(*b.refs[j].sa, pb, w.ops[j].status, w.scratch[j]);
        // The lifetime check reads the SA's totals, which outbound_prepare already
        // counted for the whole burst: once per run of packets of one SA.
        if (j + 1 == k || b.refs[j + 1].sa != b.refs[j].sa) w.sa->charge_outbound(b.refs[j]);
        if (r != esp::DropReason::none) [[unlikely]] {
            w.sa->count_drop(b.refs[j], sa_drop_of(r));
            w.drop(m, r);
            continue;
        }
        sync_mbuf(m, pb);
        ++sent;
        sent_bytes += inner_len;
        output_ip(w, m);
    }
    cnt_add(w.counters.path.outbound_packets, sent);
    cnt_add(w.counters.path.outbound_bytes, sent_bytes);
}

void batch_add(Worker& w, EncryptBatch& b, rte_mbuf* m, const OutboundRef& ref) noexcept {
    b.pkts[b.n] = m;
    b.refs[b.n] = ref;
    if (++b.n == kMaxBurst) encrypt_flush(w, b);
}

/// Largest inner packet that still fits `mtu` once encrypted with `sa`
/// (RFC 4303 §2.4: payload + 2 padded to the block size, plus header, IV, ICV).
uint32_t max_inner_bytes(const esp::OutboundSa& sa, uint32_t mtu) noexcept {
    uint32_t fixed = sa.outer_hdr_bytes + 8u + sa.iv_bytes + sa.icv_bytes;
    if (mtu <= fixed + sa.block_bytes) return 0;
    return ((mtu - fixed) / sa.block_bytes) * sa.block_bytes - 2;
}

/// MTU of the port the outer packet leaves by.
uint32_t outer_mtu(Worker& w, const esp::OutboundSa& sa) noexcept {
    if (sa.mode == esp::Mode::tunnel) {
        const NextHop* nh = (sa.flags & esp::kSaOuterV6) ? route_cached(w, 6, sa.hdr_template + 24)
                                                          : route_cached(w, 4, sa.hdr_template + 16);
        if (nh) return w.dp.ports[nh->port].mtu;
    }
    return w.dp.ports[w.dp.outside_port].mtu;
}

/// Packets the SPD sent into a tunnel this worker owns, waiting for the to_tunnel
/// firewall (one classify per burst) before PMTU / fragmentation / encryption.
struct ProtectBatch {
    uint32_t n = 0;
    rte_mbuf* pkts[kMaxBurst];
    BurstArray<OutboundRef> refs;
    uint32_t at[kMaxBurst];  ///< index into the caller's pkts / cls
};

void protect(Worker& w, uint16_t in_port, const esp::Classification* cls, ProtectBatch& pb, EncryptBatch& batch,
             bool fw_out, bool fw_tags) noexcept {
    bool keep[kMaxBurst];
    if (fw_out) {
        // Firewall rules on traffic into tunnels (direction = "to_tunnel"), with the
        // outbound SA's tags (the receiving user's groups, the connection).
        uint64_t tags[kMaxBurst];
        for (uint32_t j = 0; j < pb.n; ++j) tags[j] = fw_tags ? w.sa->fw_tags(pb.refs[j]) : 0;
        nat::to_tunnel_burst(w, pb.pkts, tags, pb.n, keep);
    }
    const esp::OutboundSa* mtu_sa = nullptr;  // the PMTU of a run of one SA's packets: once
    uint32_t max_inner = 0;
    for (uint32_t j = 0; j < pb.n; ++j) {
        if (fw_out && !keep[j]) continue;
        rte_mbuf* m = pb.pkts[j];
        const OutboundRef& ref = pb.refs[j];
        const auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
        if (ref.sa != mtu_sa) {
            mtu_sa = ref.sa;
            max_inner = max_inner_bytes(*ref.sa, outer_mtu(w, *ref.sa));
        }
        if (m->data_len > max_inner) [[unlikely]] {
            bool df = cls[pb.at[j]].ip_version == 6 || (net::load_be16(ip + 6) & net::kIpv4FlagDf);
            if (df) {
                // RFC 4301 §8.2.1 / RFC 1191: tell the sender the MTU inside the tunnel.
                icmp_too_big(w, in_port, m, max_inner);
                continue;
            }
            rte_mbuf* frags[16];
            uint32_t nf = fragment_ipv4(w, m, max_inner, frags, 16);
            if (nf == 0) {
                cnt_add(w.counters.dp_drop[static_cast<uint32_t>(DpDrop::frag_failed)]);
                continue;
            }
            for (uint32_t f = 0; f < nf; ++f) batch_add(w, batch, frags[f], ref);
            continue;
        }
        batch_add(w, batch, m, ref);
    }
    pb.n = 0;
}

}  // namespace

void outbound_burst(Worker& w, uint16_t in_port, rte_mbuf** pkts, const esp::Classification* cls,
                    uint32_t n) noexcept {
    EncryptBatch batch;
    ProtectBatch pb;
    // Once per burst: whether the live rule set has rules on traffic into tunnels, and
    // whether they need the SAs' tags.
    const bool fw_out = nat::firewall_to_tunnel();
    const bool fw_tags = fw_out && nat::firewall_uses_tags();
    // The SPD for the whole burst first (one rte_acl classify per 64 packets).
    BurstArray<Selectors> sel;
    BurstArray<OutboundRef> refs;
    SpdAction acts[kMaxBurst];
    for (uint32_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (m->data_len > cls[i].ip_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - cls[i].ip_len));
        selectors_of(rte_pktmbuf_mtod(m, const uint8_t*), cls[i], sel[i]);
    }
    w.sa->spd_burst(sel.data(), n, acts, refs.data());
    for (uint32_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        auto* ip = rte_pktmbuf_mtod(m, uint8_t*);
        const OutboundRef& ref = refs[i];
        const SpdAction act = acts[i];
        if (act == SpdAction::discard || act == SpdAction::no_match) {  // RFC 4301 §5.1: no match = discard
            w.drop(m, DpDrop::policy_discard);
            continue;
        }
        if (act == SpdAction::protect && ref.sa && ref.owner != w.index) {
            handoff(w, ref.owner, m, HandoffKind::outbound, in_port);  // untouched: the owner redoes it all
            continue;
        }
        if (!forward_ttl(ip)) [[unlikely]] {
            w.drop(m, DpDrop::ttl_exceeded);
            continue;
        }
        if (act == SpdAction::bypass) {
            cnt_add(w.counters.path.bypass_packets);
            output_ip(w, m);
            continue;
        }
        if (!ref.sa) [[unlikely]] {
            w.drop(m, DpDrop::no_sa);
            continue;
        }
        if (ref.expired) [[unlikely]] {
            w.sa->count_drop(ref, tables::SaDrop::hard_expired);  // owner: hand-off is above
            w.drop(m, DpDrop::sa_expired);
            continue;
        }
        pb.pkts[pb.n] = m;
        pb.refs[pb.n] = ref;
        pb.at[pb.n++] = i;  // n <= kMaxBurst: room for the whole burst
    }
    if (pb.n) protect(w, in_port, cls, pb, batch, fw_out, fw_tags);
    if (batch.n) encrypt_flush(w, batch);
}

void outside_cleartext(Worker& w, rte_mbuf* m, const esp::Classification& cls) noexcept {
    if (m->data_len > cls.ip_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - cls.ip_len));
    auto* ip = rte_pktmbuf_mtod(m, uint8_t*);
    Selectors sel;
    selectors_of(ip, cls, sel);
    std::swap(sel.src, sel.dst);
    std::swap(sel.src_port, sel.dst_port);
    OutboundRef ref;
    if (w.sa->spd(sel, ref) != SpdAction::bypass) {
        w.drop(m, DpDrop::cleartext_from_outside);
        return;
    }
    if (!forward_ttl(ip)) [[unlikely]] {
        w.drop(m, DpDrop::ttl_exceeded);
        return;
    }
    cnt_add(w.counters.path.bypass_packets);
    output_ip(w, m);
}

}  // namespace espgw::dp
