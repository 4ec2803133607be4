// Inbound: SPI → SA, prepare (replay check), decrypt burst, finish (replay advance,
// decap), inner selector check, forward; ICMP echo to our own addresses arriving
// through the tunnel is answered back through the tunnel. Drops of packets that
// matched an SA are also counted in that SA's per-SA counters (owner worker).
#include "dataplane/dp/inbound.hpp"
#include "dataplane/dp/handoff.hpp"

#include <rte_mbuf.h>

#include <cstring>
#include <span>
#include <utility>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/outbound.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/nat/nat_path.hpp"
#include "dataplane/net/checksum.hpp"

namespace espgw::dp {

namespace {

/// Turns a decrypted ICMP/ICMPv6 echo request for us into the echo reply in place
/// (RFC 792, RFC 4443 §4.2); false when it is no echo request (caller drops it:
/// IKE and other local services are not served through tunnels — IKE arrives outside
/// them by definition, RFC 7296 §2). `ip` is the inner header, `len` its length.
bool tunnel_echo_reply(uint8_t* ip, const esp::Classification& c) noexcept {
    constexpr uint8_t kEcho = 8, kEchoReply = 0, kEcho6 = 128, kEchoReply6 = 129;
    if (c.ip_len < c.l4_off + 8u) return false;
    uint8_t* icmp = ip + c.l4_off;
    if (c.ip_version == 4) {
        if (c.l4_proto != net::kProtoIcmp || icmp[0] != kEcho || icmp[1] != 0) return false;
        uint8_t tmp[4];
        std::memcpy(tmp, ip + 12, 4);
        std::memcpy(ip + 12, ip + 16, 4);
        std::memcpy(ip + 16, tmp, 4);
        ip[8] = 64;
        net::ipv4_set_checksum(ip);
        icmp[0] = kEchoReply;
        net::store_be16(icmp + 2, net::csum_update16(net::load_be16(icmp + 2), kEcho << 8, kEchoReply << 8));
    } else {
        if (c.l4_proto != net::kProtoIcmpv6 || icmp[0] != kEcho6 || icmp[1] != 0) return false;
        uint8_t tmp[16];
        std::memcpy(tmp, ip + 8, 16);
        std::memcpy(ip + 8, ip + 24, 16);
        std::memcpy(ip + 24, tmp, 16);
        ip[7] = 64;
        icmp[0] = kEchoReply6;
        // The pseudo-header sum is symmetric in src/dst: only the type changes.
        net::store_be16(icmp + 2, net::csum_update16(net::load_be16(icmp + 2), kEcho6 << 8, kEchoReply6 << 8));
    }
    return true;
}

}  // namespace

void inbound_burst(Worker& w, rte_mbuf** pkts, const esp::Classification* cls, uint32_t n) noexcept {
    rte_mbuf* ok[kMaxBurst];
    BurstArray<InboundRef> refs;
    esp::PacketBuf bufs[kMaxBurst];
    uint32_t k = 0;
    // SPI lookups for the whole burst first (bulk hash lookup, SA records prefetched),
    // in chunks of 64 (the bulk lookup's limit).
    uint32_t spis[kMaxBurst];
    BurstArray<InboundRef> found;
    uint64_t hit[(kMaxBurst + 63) / 64] = {};
    for (uint32_t i = 0; i < n; ++i) spis[i] = cls[i].spi;
    for (uint32_t b = 0; b < n; b += 64)
        hit[b / 64] = w.sa->inbound_burst(spis + b, n - b < 64 ? n - b : 64, found.data() + b);
    for (uint32_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (!(hit[i / 64] >> (i % 64) & 1)) [[unlikely]] {
            w.drop(m, DpDrop::no_sa);
            continue;
        }
        const InboundRef& ref = found[i];
        if (ref.owner != w.index) {
            // The owner also counts expired-SA drops in the SA's own counters.
            handoff(w, ref.owner, m, HandoffKind::inbound, 0);
            continue;
        }
        if (ref.expired) [[unlikely]] {
            w.sa->count_drop(ref, tables::SaDrop::hard_expired);
            w.drop(m, DpDrop::sa_expired);
            continue;
        }
        bufs[k] = {rte_pktmbuf_mtod(m, uint8_t*), m->data_len, rte_pktmbuf_headroom(m), rte_pktmbuf_tailroom(m)};
        esp::DropReason r = esp::inbound_prepare(*ref.sa, *ref.st, bufs[k], cls[i], w.ops[k], w.scratch[k]);
        if (r != esp::DropReason::none) [[unlikely]] {
            w.sa->count_drop(ref, sa_drop_of(r));
            w.drop(m, r);
            continue;
        }
        ok[k] = m;
        refs[k] = ref;
        ++k;
    }
    if (k == 0) return;
    w.engine->decrypt(std::span<crypto::Op>(w.ops, k));
    rte_mbuf* echo[kMaxBurst];
    BurstArray<esp::Classification> echo_cls;
    uint16_t echo_port[kMaxBurst];
    uint32_t necho = 0;
    rte_mbuf* fwd[kMaxBurst];  // to the firewall + masquerade, then forwarding
    uint64_t fwd_tags[kMaxBurst];
    bool fwd_keep[kMaxBurst];
    uint32_t nfwd = 0;
    const bool tags = nat::firewall_uses_tags();
    // Finish (replay advance, decap) and the inner selectors of the whole burst, then
    // one SPD classify for all of them.
    uint32_t at[kMaxBurst];  // index into ok / refs / bufs
    BurstArray<esp::Classification> icl;
    esp::DropReason icr[kMaxBurst];
    BurstArray<Selectors> sel;
    uint32_t ns = 0;
    for (uint32_t j = 0; j < k; ++j) {
        rte_mbuf* m = ok[j];
        esp::PacketBuf& pb = bufs[j];
        esp::DropReason r = esp::inbound_finish(*refs[j].sa, *refs[j].st, pb, w.ops[j].status, w.scratch[j]);
        // The lifetime check reads the SA's totals (inbound_finish counts): once per
        // run of packets of one SA.
        if (j + 1 == k || refs[j + 1].sa != refs[j].sa) w.sa->charge_inbound(refs[j]);
        if (r != esp::DropReason::none) [[unlikely]] {
            w.sa->count_drop(refs[j], sa_drop_of(r));
            w.drop(m, r);
            continue;
        }
        m->data_off = static_cast<uint16_t>(pb.data - static_cast<uint8_t*>(m->buf_addr));
        m->data_len = static_cast<uint16_t>(pb.len);
        m->pkt_len = pb.len;
        // RFC 4301 §5.2 step 4: the decrypted packet must match a protect policy of
        // ours, read in the reverse direction (it travels peer → us).
        const auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
        esp::DropReason cr = esp::classify(ip, pb.len, icl[ns]);
        if (cr != esp::DropReason::none && cr != esp::DropReason::fragment) [[unlikely]] {
            w.sa->count_drop(refs[j], tables::SaDrop::malformed);
            w.drop(m, DpDrop::bad_ip);
            continue;
        }
        Selectors& s = sel[ns];
        selectors_of(ip, icl[ns], s);
        std::swap(s.src, s.dst);
        std::swap(s.src_port, s.dst_port);
        icr[ns] = cr;
        at[ns++] = j;
    }
    SpdAction acts[kMaxBurst];
    w.sa->spd_burst(sel.data(), ns, acts, nullptr);
    uint64_t in_pkts = 0, in_bytes = 0;  // counters: one update per burst
    for (uint32_t t = 0; t < ns; ++t) {
        const uint32_t j = at[t];
        rte_mbuf* m = ok[j];
        const esp::PacketBuf& pb = bufs[j];
        auto* ip = rte_pktmbuf_mtod(m, uint8_t*);
        esp::Classification& icls = icl[t];
        const esp::DropReason cr = icr[t];
        if (acts[t] != SpdAction::protect) [[unlikely]] {
            w.sa->count_drop(refs[j], tables::SaDrop::ts_mismatch);
            w.drop(m, DpDrop::policy_mismatch);
            continue;
        }
        ++in_pkts;
        in_bytes += pb.len;
        uint16_t local_port = 0;
        if (w.dp.is_local(icls.ip_version, icls.ip_version == 4 ? ip + 16 : ip + 24, &local_port)) {
            // Echo requests to our own addresses are answered back through the tunnel
            // (after this loop: the outbound path reuses w.ops/w.scratch). Any other
            // local traffic through a tunnel (IKE, ...) is not served.
            if (cr == esp::DropReason::none && tunnel_echo_reply(ip, icls)) {
                cnt_add(w.counters.path.local_packets);
                esp::classify(ip, pb.len, icls);
                echo[necho] = m;
                echo_cls[necho] = icls;
                echo_port[necho++] = local_port;
                continue;
            }
            w.drop(m, DpDrop::local_unhandled);
            continue;
        }
        fwd_tags[nfwd] = tags ? w.sa->fw_tags(refs[j]) : 0;
        fwd[nfwd++] = m;
    }
    cnt_add(w.counters.path.inbound_packets, in_pkts);
    cnt_add(w.counters.path.inbound_bytes, in_bytes);
    // Firewall (rules may name the user's groups / IKE connection: the SA's tags; one
    // classify per burst), then masquerade (dataplane/nat/nat_path.hpp), then out.
    nat::from_tunnel_burst(w, fwd, fwd_tags, nfwd, fwd_keep);
    for (uint32_t f = 0; f < nfwd; ++f) {
        if (!fwd_keep[f]) continue;
        rte_mbuf* m = fwd[f];
        if (!forward_ttl(rte_pktmbuf_mtod(m, uint8_t*))) [[unlikely]] {
            w.drop(m, DpDrop::ttl_exceeded);
            continue;
        }
        output_ip(w, m);
    }
    // Echo replies re-enter as cleartext from the port that owns the address: the SPD
    // picks the SA back to the peer (RFC 4301 §5.1), exactly like inside traffic.
    for (uint32_t e = 0; e < necho; ++e) outbound_burst(w, echo_port[e], &echo[e], &echo_cls.data()[e], 1);
}

}  // namespace espgw::dp
