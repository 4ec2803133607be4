#pragma once
// Test packet builders for the NAT tests: IPv4 + TCP/UDP/ICMP with full checksums,
// and full-recomputation checkers (the reference the incremental updates must match).

#include <cstdint>
#include <vector>

#include "dataplane/net/checksum.hpp"
#include "dataplane/net/ip.hpp"

namespace espgw::nat::test {

using Bytes = std::vector<uint8_t>;

inline void ip_header(Bytes& p, uint8_t proto, uint32_t src, uint32_t dst, uint32_t l4_len) {
    p.assign(20, 0);
    p[0] = 0x45;
    net::store_be16(&p[2], static_cast<uint16_t>(20 + l4_len));
    net::store_be16(&p[4], 0x1234);
    p[8] = 64;
    p[9] = proto;
    net::store_be32(&p[12], src);
    net::store_be32(&p[16], dst);
    net::ipv4_set_checksum(p.data());
}

inline Bytes udp(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint32_t payload = 23, bool csum = true) {
    Bytes p;
    ip_header(p, net::kProtoUdp, src, dst, 8 + payload);
    p.resize(28 + payload);
    net::store_be16(&p[20], sp);
    net::store_be16(&p[22], dp);
    net::store_be16(&p[24], static_cast<uint16_t>(8 + payload));
    for (uint32_t i = 0; i < payload; ++i) p[28 + i] = static_cast<uint8_t>(i * 7 + 3);
    if (csum) {
        uint16_t c = net::l4_checksum(4, &p[12], &p[16], net::kProtoUdp, &p[20], 8 + payload);
        net::store_be16(&p[26], c == 0 ? 0xffff : c);
    }
    return p;
}

inline Bytes tcp(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t flags, uint32_t payload = 17) {
    Bytes p;
    ip_header(p, net::kProtoTcp, src, dst, 20 + payload);
    p.resize(40 + payload);
    net::store_be16(&p[20], sp);
    net::store_be16(&p[22], dp);
    net::store_be32(&p[24], 1000);
    p[32] = 0x50;
    p[33] = flags;
    net::store_be16(&p[34], 65535);
    for (uint32_t i = 0; i < payload; ++i) p[40 + i] = static_cast<uint8_t>(i * 13 + 1);
    net::store_be16(&p[36], net::l4_checksum(4, &p[12], &p[16], net::kProtoTcp, &p[20], 20 + payload));
    return p;
}

inline Bytes icmp_echo(uint32_t src, uint32_t dst, uint8_t type, uint16_t id, uint32_t payload = 32) {
    Bytes p;
    ip_header(p, net::kProtoIcmp, src, dst, 8 + payload);
    p.resize(28 + payload);
    p[20] = type;
    net::store_be16(&p[24], id);
    net::store_be16(&p[26], 7);
    for (uint32_t i = 0; i < payload; ++i) p[28 + i] = static_cast<uint8_t>(i);
    net::store_be16(&p[22], net::csum_fold(net::csum_partial(&p[20], 8 + payload, 0)));
    return p;
}

/// ICMP error (type/code) from `src` to `dst` quoting the first `quote` bytes of `orig`.
inline Bytes icmp_error(uint32_t src, uint32_t dst, uint8_t type, uint8_t code, const Bytes& orig, size_t quote) {
    if (quote > orig.size()) quote = orig.size();
    Bytes p;
    ip_header(p, net::kProtoIcmp, src, dst, static_cast<uint32_t>(8 + quote));
    p.resize(28 + quote);
    p[20] = type;
    p[21] = code;
    std::copy(orig.begin(), orig.begin() + static_cast<long>(quote), p.begin() + 28);
    net::store_be16(&p[22], net::csum_fold(net::csum_partial(&p[20], 8 + quote, 0)));
    return p;
}

/// True when the IPv4 header checksum at `ip` is right.
inline bool ip_ok(const uint8_t* ip) {
    return net::load_be16(ip + 10) == net::ipv4_header_checksum(ip, (ip[0] & 15u) * 4);
}

/// True when the packet's L4 checksum equals a full recomputation.
inline bool l4_ok(const Bytes& p) {
    const uint32_t ihl = (p[0] & 15u) * 4;
    const uint32_t l4_len = net::load_be16(&p[2]) - ihl;
    Bytes c(p.begin() + ihl, p.begin() + ihl + l4_len);
    if (p[9] == net::kProtoIcmp) {
        uint16_t want = net::load_be16(&c[2]);
        c[2] = c[3] = 0;
        return want == net::csum_fold(net::csum_partial(c.data(), c.size(), 0));
    }
    const uint32_t off = p[9] == net::kProtoTcp ? 16 : 6;
    uint16_t want = net::load_be16(&c[off]);
    if (p[9] == net::kProtoUdp && want == 0) return true;
    c[off] = c[off + 1] = 0;
    uint16_t got = net::l4_checksum(4, &p[12], &p[16], p[9], c.data(), c.size());
    if (p[9] == net::kProtoUdp && got == 0) got = 0xffff;
    return want == got;
}

}  // namespace espgw::nat::test
