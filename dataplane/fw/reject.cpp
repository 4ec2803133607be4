// Reject answers: TCP RST or ICMP administratively prohibited.
#include "dataplane/fw/reject.hpp"

#include <cstring>

#include "dataplane/net/checksum.hpp"
#include "dataplane/net/ip.hpp"

namespace espgw::fw {

namespace {
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

void ip_header(uint8_t* out, const uint8_t* orig, uint8_t proto, uint32_t total) {
    std::memset(out, 0, 20);
    out[0] = 0x45;
    net::store_be16(out + 2, static_cast<uint16_t>(total));
    net::store_be16(out + 6, net::kIpv4FlagDf);
    out[8] = 64;
    out[9] = proto;
    std::memcpy(out + 12, orig + 16, 4);  // from the address the packet was for
    std::memcpy(out + 16, orig + 12, 4);
    net::ipv4_set_checksum(out);
}
}  // namespace

uint32_t build_reject(const uint8_t* ip, uint32_t len, uint8_t* out) noexcept {
    if (len < 20 || (ip[0] >> 4) != 4) return 0;
    const uint32_t ihl = (ip[0] & 0x0fu) * 4u;
    const uint32_t tot = net::load_be16(ip + 2);
    if (ihl < 20 || tot < ihl || tot > len) return 0;
    if (net::load_be16(ip + 6) & net::kIpv4OffsetMask) return 0;  // non-first fragment
    const uint8_t* l4 = ip + ihl;
    const uint32_t l4_len = tot - ihl;
    if (ip[9] == net::kProtoTcp && l4_len >= 20) {
        const uint8_t flags = l4[13];
        if (flags & kRst) return 0;  // never answer a reset
        uint8_t* t = out + 20;
        std::memset(t, 0, 20);
        std::memcpy(t, l4 + 2, 2);  // ports swapped
        std::memcpy(t + 2, l4, 2);
        if (flags & kAck) {
            std::memcpy(t + 4, l4 + 8, 4);  // seq = their ack
            t[13] = kRst;
        } else {
            const uint32_t data = l4_len - (l4[12] >> 4) * 4u;
            const uint32_t ack = net::load_be32(l4 + 4) + data + ((flags & kSyn) ? 1 : 0) + ((flags & kFin) ? 1 : 0);
            net::store_be32(t + 8, ack);
            t[13] = kRst | kAck;
        }
        t[12] = 5 << 4;
        ip_header(out, ip, net::kProtoTcp, 40);
        net::store_be16(t + 16, net::l4_checksum(4, out + 12, out + 16, net::kProtoTcp, t, 20));
        return 40;
    }
    if (ip[9] == net::kProtoIcmp) {
        if (l4_len < 1) return 0;
        const uint8_t type = l4[0];
        if (type != 0 && type != 8 && type != 13 && type != 14) return 0;  // only queries get errors
    }
    // RFC 792: quote the IP header and the first 8 bytes of its payload.
    const uint32_t quote = ihl + (l4_len < 8 ? l4_len : 8);
    uint8_t* icmp = out + 20;
    std::memset(icmp, 0, 8);
    icmp[0] = 3;   // destination unreachable
    icmp[1] = 13;  // communication administratively prohibited
    std::memcpy(icmp + 8, ip, quote);
    net::store_be16(icmp + 2, net::csum_fold(net::csum_partial(icmp, 8 + quote, 0)));
    ip_header(out, ip, net::kProtoIcmp, 28 + quote);
    return 28 + quote;
}

}  // namespace espgw::fw
