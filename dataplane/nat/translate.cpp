// IPv4 NAPT header rewriting with RFC 1624 incremental checksums.
#include "dataplane/nat/translate.hpp"

#include "dataplane/net/checksum.hpp"
#include "dataplane/net/ip.hpp"

namespace espgw::nat {

using net::csum_update16;
using net::load_be16;
using net::load_be32;
using net::store_be16;
using net::store_be32;

namespace {

constexpr uint32_t kIpMin = 20;
constexpr uint32_t kTcpCsumOff = 16;
constexpr uint32_t kUdpCsumOff = 6;

/// Checksum field offset inside the L4 header for `proto` (TCP/UDP carry a pseudo-header).
inline uint32_t l4_csum_off(uint8_t proto) noexcept { return proto == net::kProtoTcp ? kTcpCsumOff : kUdpCsumOff; }

/// Replaces the 32-bit address at ip+addr_off and the 16-bit port at l4+port_off.
void rewrite(uint8_t* ip, const L4Info& li, uint32_t addr_off, uint32_t port_off, uint32_t addr, uint16_t port) noexcept {
    const uint32_t old_a = load_be32(ip + addr_off);
    store_be32(ip + addr_off, addr);
    store_be16(ip + 10, csum_update32(load_be16(ip + 10), old_a, addr));
    uint8_t* l4 = ip + li.l4_off;
    if (li.kind == L4Kind::icmp_echo) {
        // RFC 792: the ICMP checksum has no pseudo-header; only the identifier moves.
        const uint16_t old_id = load_be16(l4 + 4);
        store_be16(l4 + 4, port);
        store_be16(l4 + 2, csum_update16(load_be16(l4 + 2), old_id, port));
        return;
    }
    const uint16_t old_p = load_be16(l4 + port_off);
    store_be16(l4 + port_off, port);
    uint8_t* c = l4 + l4_csum_off(li.proto);
    uint16_t csum = load_be16(c);
    if (li.kind == L4Kind::udp && csum == 0) return;  // RFC 768: no checksum stays none
    csum = csum_update16(csum_update32(csum, old_a, addr), old_p, port);
    if (li.kind == L4Kind::udp && csum == 0) csum = 0xffff;
    store_be16(c, csum);
}

/// RFC 5508 §4.2: ICMP error translation. `outer_off` is the outer address to replace
/// (12 src / 16 dst), `emb_addr_off` the quoted one, `emb_port_off` the quoted port
/// (0 source / 2 destination; ICMP echo quoted: the identifier at 4).
void icmp_error_rewrite(uint8_t* ip, const L4Info& li, uint32_t outer_off, uint32_t emb_addr_off,
                        uint32_t emb_port_off, uint32_t addr, uint16_t port) noexcept {
    const uint32_t old_outer = load_be32(ip + outer_off);
    store_be32(ip + outer_off, addr);
    store_be16(ip + 10, csum_update32(load_be16(ip + 10), old_outer, addr));

    uint8_t* icmp = ip + li.l4_off;
    uint8_t* emb = ip + li.emb_off;
    uint8_t* el4 = ip + li.emb_l4_off;
    // Every field below sits at an even offset from the ICMP header (quoted header at
    // +8, IHL a multiple of 4), so word-wise incremental updates are exact.
    uint16_t icsum = load_be16(icmp + 2);

    const uint32_t old_a = load_be32(emb + emb_addr_off);
    store_be32(emb + emb_addr_off, addr);
    icsum = csum_update32(icsum, old_a, addr);
    const uint16_t old_ec = load_be16(emb + 10);
    const uint16_t new_ec = csum_update32(old_ec, old_a, addr);
    store_be16(emb + 10, new_ec);
    icsum = csum_update16(icsum, old_ec, new_ec);

    if (li.emb_proto == net::kProtoIcmp) {
        const uint16_t old_id = load_be16(el4 + 4);
        store_be16(el4 + 4, port);
        icsum = csum_update16(icsum, old_id, port);
        const uint16_t old_c = load_be16(el4 + 2);
        const uint16_t new_c = csum_update16(old_c, old_id, port);
        store_be16(el4 + 2, new_c);
        icsum = csum_update16(icsum, old_c, new_c);
    } else {
        const uint16_t old_p = load_be16(el4 + emb_port_off);
        store_be16(el4 + emb_port_off, port);
        icsum = csum_update16(icsum, old_p, port);
        const uint32_t coff = l4_csum_off(li.emb_proto);
        // The quoted L4 checksum covers the original full packet; update it when quoted.
        if (li.emb_l4_len >= coff + 2) {
            const uint16_t old_c = load_be16(el4 + coff);
            if (!(li.emb_proto == net::kProtoUdp && old_c == 0)) {
                uint16_t new_c = csum_update16(csum_update32(old_c, old_a, addr), old_p, port);
                if (li.emb_proto == net::kProtoUdp && new_c == 0) new_c = 0xffff;
                store_be16(el4 + coff, new_c);
                icsum = csum_update16(icsum, old_c, new_c);
            }
        }
    }
    store_be16(icmp + 2, icsum);
}

}  // namespace

uint16_t csum_update32(uint16_t csum, uint32_t old_v, uint32_t new_v) noexcept {
    csum = csum_update16(csum, static_cast<uint16_t>(old_v >> 16), static_cast<uint16_t>(new_v >> 16));
    return csum_update16(csum, static_cast<uint16_t>(old_v), static_cast<uint16_t>(new_v));
}

L4Info parse_l4(const uint8_t* ip, uint32_t len) noexcept {
    L4Info li;
    if (len < kIpMin || (ip[0] >> 4) != 4) {
        li.kind = L4Kind::malformed;
        return li;
    }
    const uint32_t ihl = (ip[0] & 0x0fu) * 4u;
    const uint32_t tot = load_be16(ip + 2);
    if (ihl < kIpMin || tot < ihl || tot > len) {
        li.kind = L4Kind::malformed;
        return li;
    }
    len = tot;
    li.proto = ip[9];
    li.src = load_be32(ip + 12);
    li.dst = load_be32(ip + 16);
    li.l4_off = static_cast<uint16_t>(ihl);
    if (load_be16(ip + 6) & (net::kIpv4FlagMf | net::kIpv4OffsetMask)) {
        li.kind = L4Kind::fragment;
        return li;
    }
    const uint8_t* l4 = ip + ihl;
    const uint32_t l4_len = len - ihl;
    switch (li.proto) {
    case net::kProtoTcp:
        if (l4_len < 20) break;
        li.kind = L4Kind::tcp;
        li.src_port = load_be16(l4);
        li.dst_port = load_be16(l4 + 2);
        li.tcp_flags = l4[13];
        return li;
    case net::kProtoUdp:
        if (l4_len < 8) break;
        li.kind = L4Kind::udp;
        li.src_port = load_be16(l4);
        li.dst_port = load_be16(l4 + 2);
        return li;
    case net::kProtoIcmp: {
        if (l4_len < 8) break;
        const uint8_t type = l4[0];
        if (type == kIcmpEcho || type == kIcmpEchoReply) {
            li.kind = L4Kind::icmp_echo;
            li.src_port = li.dst_port = load_be16(l4 + 4);
            return li;
        }
        if (type != kIcmpUnreach && type != kIcmpTimeExceeded && type != kIcmpParamProblem) {
            li.kind = L4Kind::other;
            return li;
        }
        // RFC 792: the quoted IP header plus at least 8 bytes of its payload.
        const uint8_t* emb = l4 + 8;
        const uint32_t emb_len = l4_len - 8;
        if (emb_len < kIpMin || (emb[0] >> 4) != 4) break;
        const uint32_t eihl = (emb[0] & 0x0fu) * 4u;
        if (eihl < kIpMin || emb_len < eihl + 8) break;
        li.emb_proto = emb[9];
        li.emb_off = static_cast<uint16_t>(ihl + 8);
        li.emb_l4_off = static_cast<uint16_t>(ihl + 8 + eihl);
        li.emb_l4_len = static_cast<uint16_t>(emb_len - eihl);
        li.emb_src = load_be32(emb + 12);
        li.emb_dst = load_be32(emb + 16);
        const uint8_t* el4 = emb + eihl;
        if (li.emb_proto == net::kProtoTcp || li.emb_proto == net::kProtoUdp) {
            li.emb_src_port = load_be16(el4);
            li.emb_dst_port = load_be16(el4 + 2);
        } else if (li.emb_proto == net::kProtoIcmp && (el4[0] == kIcmpEcho || el4[0] == kIcmpEchoReply)) {
            li.emb_src_port = li.emb_dst_port = load_be16(el4 + 4);
        } else {
            li.kind = L4Kind::other;
            return li;
        }
        li.kind = L4Kind::icmp_error;
        return li;
    }
    default:
        li.kind = L4Kind::other;
        return li;
    }
    li.kind = L4Kind::malformed;
    return li;
}

bool clamp_tcp_mss(uint8_t* ip, const L4Info& li, uint16_t mss) noexcept {
    if (li.kind != L4Kind::tcp || !(li.tcp_flags & 0x02)) return false;
    uint8_t* tcp = ip + li.l4_off;
    const uint32_t hdr = (tcp[12] >> 4) * 4u;
    const uint32_t l4_len = load_be16(ip + 2) - li.l4_off;
    if (hdr < 20 || hdr > l4_len) return false;
    for (uint32_t o = 20; o < hdr;) {
        const uint8_t kind = tcp[o];
        if (kind == 0) break;  // end of options
        if (kind == 1) {       // NOP
            ++o;
            continue;
        }
        if (o + 1 >= hdr || tcp[o + 1] < 2 || o + tcp[o + 1] > hdr) break;
        if (kind == 2 && tcp[o + 1] == 4) {
            const uint32_t v = o + 2;
            if (load_be16(tcp + v) <= mss) return false;
            // The value may sit at an odd offset: update every 16-bit word it touches.
            const uint32_t w0 = v & ~1u, w1 = (v + 2 + 1) & ~1u;
            uint16_t old_w[2];
            for (uint32_t w = w0, i = 0; w < w1; w += 2, ++i) old_w[i] = load_be16(tcp + w);
            store_be16(tcp + v, mss);
            uint16_t csum = load_be16(tcp + kTcpCsumOff);
            for (uint32_t w = w0, i = 0; w < w1; w += 2, ++i) csum = csum_update16(csum, old_w[i], load_be16(tcp + w));
            store_be16(tcp + kTcpCsumOff, csum);
            return true;
        }
        o += tcp[o + 1];
    }
    return false;
}

void rewrite_src(uint8_t* ip, const L4Info& li, uint32_t new_src, uint16_t new_port) noexcept {
    rewrite(ip, li, 12, 0, new_src, new_port);
}

void rewrite_dst(uint8_t* ip, const L4Info& li, uint32_t new_dst, uint16_t new_port) noexcept {
    rewrite(ip, li, 16, 2, new_dst, new_port);
}

void rewrite_icmp_error_in(uint8_t* ip, const L4Info& li, uint32_t in_addr, uint16_t in_port) noexcept {
    icmp_error_rewrite(ip, li, 16, 12, 0, in_addr, in_port);
}

void rewrite_icmp_error_out(uint8_t* ip, const L4Info& li, uint32_t pub_addr, uint16_t pub_port) noexcept {
    icmp_error_rewrite(ip, li, 12, 16, 2, pub_addr, pub_port);
}

}  // namespace espgw::nat
