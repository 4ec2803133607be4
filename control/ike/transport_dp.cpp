// Transport over espgw-dp's punt/inject rings (see transport_dp.hpp).
#include "control/ike/transport_dp.hpp"

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/ike/log.hpp"
#include "dataplane/dp/punt.hpp"

namespace espgw::ike {

namespace {

dp::PuntMeta* meta_of(rte_mbuf* m) { return static_cast<dp::PuntMeta*>(rte_mbuf_to_priv(m)); }

}  // namespace

DpTransport::DpTransport() {
    punt_ = rte_ring_lookup(dp::kPuntRingName);
    inject_ = rte_ring_lookup(dp::kInjectRingName);
    pool_ = rte_mempool_lookup(dp::kPoolName);
    if (!punt_ || !inject_ || !pool_)
        throw std::runtime_error(std::string("espgw-dp's ") + (!punt_ ? dp::kPuntRingName : !inject_ ? dp::kInjectRingName : dp::kPoolName) +
                                 " not found: is espgw-dp running with this --file-prefix on hugepages?");
    if (rte_pktmbuf_priv_size(pool_) < sizeof(dp::PuntMeta))
        throw std::runtime_error("espgw-dp's mbuf pool has no room for the punt metadata (version mismatch?)");
}

bool DpTransport::inject(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg, uint16_t flags) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (!m) return false;
    // Room for the IP/UDP headers and marker espgw-dp prepends stays in the headroom.
    if (msg.size() > rte_pktmbuf_tailroom(m)) {
        rte_pktmbuf_free(m);
        return false;
    }
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(msg.size())));
    std::memcpy(p, msg.data(), msg.size());
    dp::PuntMeta* meta = meta_of(m);
    *meta = dp::PuntMeta{};
    meta->src = net::IpAddr::v4(local.addr_host);
    meta->dst = net::IpAddr::v4(remote.addr_host);
    meta->src_port = local.port;
    meta->dst_port = remote.port;
    meta->flags = flags;
    if (rte_ring_mp_enqueue(inject_, m) != 0) {
        rte_pktmbuf_free(m);
        return false;
    }
    return true;
}

void DpTransport::send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) {
    if (inject(local, remote, msg, 0)) {
        ++counters_.sent;
        return;
    }
    ++counters_.send_failed;
    log_warn("peer {}: cannot hand a {}-byte IKE message to espgw-dp (no mbuf, too big or inject ring full)",
             to_string(remote), msg.size());
}

void DpTransport::send_nat_keepalive(const Endpoint& local, const Endpoint& remote) {
    static constexpr uint8_t kKeepalive[1] = {0xFF};  // RFC 3948 §2.3
    if (inject(local, remote, kKeepalive, dp::kInjectRaw)) {
        ++counters_.keepalives;
        return;
    }
    ++counters_.send_failed;
    log_warn("peer {}: cannot hand a NAT keepalive to espgw-dp", to_string(remote));
}

void DpTransport::poll_once(int timeout_ms, const Handler& h) {
    using namespace std::chrono;
    const auto deadline = steady_clock::now() + milliseconds(timeout_ms);
    auto nap = microseconds(200);
    for (;;) {
        rte_mbuf* pkts[32];
        const unsigned n = rte_ring_sc_dequeue_burst(punt_, reinterpret_cast<void**>(pkts), 32, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            const dp::PuntMeta meta = *meta_of(m);
            if (meta.src.family != 4 || meta.dst.family != 4) {
                ++counters_.dropped_v6;
            } else if (m->nb_segs == 1) {
                ++counters_.received;
                const Endpoint local{net::load_be32(meta.dst.bytes), meta.dst_port};
                const Endpoint remote{net::load_be32(meta.src.bytes), meta.src_port};
                h(local, remote, std::span<const uint8_t>(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len));
            } else {
                // Reassembled (multi-segment) punts: flatten into one buffer.
                std::vector<uint8_t> buf(m->pkt_len);
                rte_pktmbuf_read(m, 0, m->pkt_len, buf.data());
                ++counters_.received;
                const Endpoint local{net::load_be32(meta.dst.bytes), meta.dst_port};
                const Endpoint remote{net::load_be32(meta.src.bytes), meta.src_port};
                h(local, remote, buf);
            }
            rte_pktmbuf_free(m);
        }
        if (n > 0) return;
        const auto now = steady_clock::now();
        if (now >= deadline) return;
        std::this_thread::sleep_for(std::min<nanoseconds>(nap, deadline - now));
        nap = std::min<microseconds>(nap * 2, microseconds(5000));
    }
}

}  // namespace espgw::ike
