// Inbound: SPI → SA, prepare (replay check), decrypt burst, finish (replay advance,
// decap), inner selector check, forward.
#include "dataplane/dp/inbound.hpp"
#include "dataplane/dp/handoff.hpp"

#include <rte_mbuf.h>

#include <span>
#include <utility>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/outbound.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/nat/nat_path.hpp"

namespace espgw::dp {

void inbound_burst(Worker& w, rte_mbuf** pkts, const esp::Classification* cls, uint32_t n) noexcept {
    rte_mbuf* ok[kMaxBurst];
    InboundRef refs[kMaxBurst];
    esp::PacketBuf bufs[kMaxBurst];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        InboundRef ref;
        if (!w.sa->inbound(cls[i].spi, ref)) [[unlikely]] {
            w.drop(m, DpDrop::no_sa);
            continue;
        }
        if (ref.expired) [[unlikely]] {
            w.drop(m, DpDrop::sa_expired);
            continue;
        }
        if (ref.owner != w.index) {
            handoff(w, ref.owner, m, HandoffKind::inbound, 0);
            continue;
        }
        bufs[k] = {rte_pktmbuf_mtod(m, uint8_t*), m->data_len, rte_pktmbuf_headroom(m), rte_pktmbuf_tailroom(m)};
        esp::DropReason r = esp::inbound_prepare(*ref.sa, *ref.st, bufs[k], cls[i], w.ops[k], w.scratch[k]);
        if (r != esp::DropReason::none) [[unlikely]] {
            w.drop(m, r);
            continue;
        }
        ok[k] = m;
        refs[k] = ref;
        ++k;
    }
    if (k == 0) return;
    w.engine->decrypt(std::span<crypto::Op>(w.ops, k));
    for (uint32_t j = 0; j < k; ++j) {
        rte_mbuf* m = ok[j];
        esp::PacketBuf& pb = bufs[j];
        esp::DropReason r = esp::inbound_finish(*refs[j].sa, *refs[j].st, pb, w.ops[j].status, w.scratch[j]);
        if (r != esp::DropReason::none) [[unlikely]] {
            w.drop(m, r);
            continue;
        }
        m->data_off = static_cast<uint16_t>(pb.data - static_cast<uint8_t*>(m->buf_addr));
        m->data_len = static_cast<uint16_t>(pb.len);
        m->pkt_len = pb.len;
        w.sa->charge_inbound(refs[j], pb.len);
        // RFC 4301 §5.2 step 4: the decrypted packet must match a protect policy of
        // ours, read in the reverse direction (it travels peer → us).
        auto* ip = rte_pktmbuf_mtod(m, uint8_t*);
        esp::Classification icls;
        esp::DropReason cr = esp::classify(ip, pb.len, icls);
        if (cr != esp::DropReason::none && cr != esp::DropReason::fragment) [[unlikely]] {
            w.drop(m, DpDrop::bad_ip);
            continue;
        }
        Selectors sel;
        selectors_of(ip, icls, sel);
        std::swap(sel.src, sel.dst);
        std::swap(sel.src_port, sel.dst_port);
        OutboundRef out;
        if (w.sa->spd(sel, out) != SpdAction::protect) [[unlikely]] {
            w.drop(m, DpDrop::policy_mismatch);
            continue;
        }
        cnt_add(w.counters.path.inbound_packets);
        cnt_add(w.counters.path.inbound_bytes, pb.len);
        if (w.dp.is_local(icls.ip_version, icls.ip_version == 4 ? ip + 16 : ip + 24)) {
            // Inner packets for the gateway itself are not served through the tunnel.
            w.drop(m, DpDrop::local_unhandled);
            continue;
        }
        if (!nat::from_tunnel(w, m)) continue;  // firewall, then masquerade (dataplane/nat/nat_path.hpp)
        if (!forward_ttl(ip)) [[unlikely]] {
            w.drop(m, DpDrop::ttl_exceeded);
            continue;
        }
        output_ip(w, m);
    }
}

}  // namespace espgw::dp
