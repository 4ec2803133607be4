// ICMP echo replies and PMTU errors.
#include "dataplane/dp/icmp.hpp"
#include "dataplane/nat/nat_path.hpp"

#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/net/checksum.hpp"

namespace espgw::dp {

namespace {
constexpr uint8_t kIcmpEchoReply = 0, kIcmpUnreach = 3, kIcmpEcho = 8;
constexpr uint8_t kIcmpFragNeeded = 4;  // RFC 792 code 4, RFC 1191 §4
constexpr uint8_t kIcmp6TooBig = 2, kIcmp6Echo = 128, kIcmp6EchoReply = 129;
constexpr uint32_t kIpv6MinMtu = 1280;  // RFC 8200 §5
}  // namespace

bool icmp_echo(Worker& w, uint16_t port, rte_mbuf* m, const esp::Classification& cls) noexcept {
    auto* ip = rte_pktmbuf_mtod(m, uint8_t*);
    uint8_t* icmp = ip + cls.l4_off;
    uint32_t icmp_len = cls.ip_len - cls.l4_off;
    if (icmp_len < 8) return false;
    if (cls.ip_version == 4) {
        if (cls.l4_proto != net::kProtoIcmp || icmp[0] != kIcmpEcho || icmp[1] != 0) return false;
        rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - cls.ip_len));  // link padding
        uint8_t tmp[4];
        std::memcpy(tmp, ip + 12, 4);
        std::memcpy(ip + 12, ip + 16, 4);
        std::memcpy(ip + 16, tmp, 4);
        ip[8] = 64;
        net::ipv4_set_checksum(ip);
        icmp[0] = kIcmpEchoReply;
        net::store_be16(icmp + 2, net::csum_update16(net::load_be16(icmp + 2), kIcmpEcho << 8, kIcmpEchoReply << 8));
    } else {
        if (cls.l4_proto != net::kProtoIcmpv6 || icmp[0] != kIcmp6Echo || icmp[1] != 0) return false;
        rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - cls.ip_len));
        uint8_t tmp[16];
        std::memcpy(tmp, ip + 8, 16);
        std::memcpy(ip + 8, ip + 24, 16);
        std::memcpy(ip + 24, tmp, 16);
        ip[7] = 64;
        icmp[0] = kIcmp6EchoReply;
        net::store_be16(icmp + 2, net::csum_update16(net::load_be16(icmp + 2), kIcmp6Echo << 8, kIcmp6EchoReply << 8));
    }
    (void)port;
    cnt_add(w.counters.path.local_packets);
    output_ip(w, m);
    return true;
}

void icmp_too_big(Worker& w, uint16_t in_port, rte_mbuf* m, uint32_t mtu) noexcept {
    const auto* orig = rte_pktmbuf_mtod(m, const uint8_t*);
    uint8_t family = (orig[0] >> 4) == 4 ? 4 : 6;
    const net::IpAddr* src = w.dp.ports[in_port].addr_of(family);
    rte_mbuf* r = src ? rte_pktmbuf_alloc(w.dp.pool) : nullptr;
    if (!r) [[unlikely]] {
        w.drop(m, DpDrop::no_mbuf);
        return;
    }
    if (family == 4) {
        // RFC 792: the original IP header + 64 bits of its data (we quote up to 548 bytes,
        // RFC 1812 §4.3.2.3, so the error fits the minimum reassembly size 576).
        uint32_t quote = std::min<uint32_t>(m->data_len, 576 - 28);
        uint32_t total = 20 + 8 + quote;
        auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(total)));
        if (!p) [[unlikely]] {
            rte_pktmbuf_free(r);
            w.drop(m, DpDrop::no_mbuf);
            return;
        }
        std::memset(p, 0, 28);
        p[0] = 0x45;
        net::store_be16(p + 2, static_cast<uint16_t>(total));
        p[8] = 64;
        p[9] = net::kProtoIcmp;
        std::memcpy(p + 12, src->bytes, 4);
        std::memcpy(p + 16, orig + 12, 4);
        net::ipv4_set_checksum(p);
        uint8_t* icmp = p + 20;
        icmp[0] = kIcmpUnreach;
        icmp[1] = kIcmpFragNeeded;
        net::store_be16(icmp + 6, static_cast<uint16_t>(mtu));  // RFC 1191 §4: next-hop MTU
        std::memcpy(icmp + 8, orig, quote);
        net::store_be16(icmp + 2, net::csum_fold(net::csum_partial(icmp, 8 + quote, 0)));
    } else {
        // RFC 4443 §3.2: as much of the invoking packet as fits in the minimum MTU.
        uint32_t quote = std::min<uint32_t>(m->data_len, kIpv6MinMtu - 48);
        uint32_t icmp_len = 8 + quote;
        auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(40 + icmp_len)));
        if (!p) [[unlikely]] {
            rte_pktmbuf_free(r);
            w.drop(m, DpDrop::no_mbuf);
            return;
        }
        std::memset(p, 0, 48);
        p[0] = 0x60;
        net::store_be16(p + 4, static_cast<uint16_t>(icmp_len));
        p[6] = net::kProtoIcmpv6;
        p[7] = 64;
        std::memcpy(p + 8, src->bytes, 16);
        std::memcpy(p + 24, orig + 8, 16);
        uint8_t* icmp = p + 40;
        icmp[0] = kIcmp6TooBig;
        net::store_be32(icmp + 4, std::max(mtu, kIpv6MinMtu));
        std::memcpy(icmp + 8, orig, quote);
        net::store_be16(icmp + 2, net::l4_checksum(6, p + 8, p + 24, net::kProtoIcmpv6, icmp, icmp_len));
    }
    w.drop(m, DpDrop::frag_needed);
    cnt_add(w.counters.path.icmp_sent);
    // An error about a masqueraded flow must quote the addresses the remote host used
    // (RFC 5508 §6): un-NAT the quoted header and send the error to the public side.
    if (family == 4) nat::gateway_icmp_error(w, rte_pktmbuf_mtod(r, uint8_t*), r->data_len);
    output_ip(w, r);
}

}  // namespace espgw::dp
