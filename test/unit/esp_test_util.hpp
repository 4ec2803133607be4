#pragma once
// Helpers for the ESP transform tests: packet builders, buffers with head/tailroom,
// SA setup for every suite, and one-packet runs through prepare/engine/finish.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "crypto/algorithm.hpp"
#include "dataplane/esp/esp.hpp"
#include "dataplane/net/checksum.hpp"
#include "dataplane/net/ip.hpp"

namespace esptest {

using namespace espgw;
using esp::DropReason;

/// A packet in a heap buffer with exact head/tailroom (ASan sees any overrun).
struct Buf {
    std::vector<uint8_t> mem;
    esp::PacketBuf pkt{};
    Buf(std::span<const uint8_t> ip, uint32_t head = 128, uint32_t tail = 128)
        : mem(head + ip.size() + tail) {
        if (!ip.empty()) std::memcpy(mem.data() + head, ip.data(), ip.size());
        pkt = {mem.data() + head, static_cast<uint32_t>(ip.size()), head, tail};
    }
    Buf(const Buf&) = delete;
    std::vector<uint8_t> bytes() const { return {pkt.data, pkt.data + pkt.len}; }
    bool consistent() const {
        return pkt.data - pkt.headroom == mem.data() &&
               pkt.data + pkt.len + pkt.tailroom == mem.data() + mem.size();
    }
};

inline std::vector<uint8_t> payload(uint32_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (uint32_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
    return v;
}

/// IPv4 + UDP packet with valid checksums.
inline std::vector<uint8_t> ipv4_udp(uint32_t payload_len, uint8_t tos = 0, bool df = true,
                                     uint8_t seed = 1, uint32_t src = 0x0a000001,
                                     uint32_t dst = 0x0a000102) {
    const uint32_t total = 20 + 8 + payload_len;
    std::vector<uint8_t> p(total);
    p[0] = 0x45;
    p[1] = tos;
    net::store_be16(&p[2], static_cast<uint16_t>(total));
    net::store_be16(&p[4], 0x1234);
    net::store_be16(&p[6], df ? net::kIpv4FlagDf : 0);
    p[8] = 63;
    p[9] = net::kProtoUdp;
    net::store_be32(&p[12], src);
    net::store_be32(&p[16], dst);
    net::ipv4_set_checksum(p.data());
    net::store_be16(&p[20], 1111);
    net::store_be16(&p[22], 2222);
    net::store_be16(&p[24], static_cast<uint16_t>(8 + payload_len));
    auto pl = payload(payload_len, seed);
    if (payload_len) std::memcpy(&p[28], pl.data(), payload_len);
    uint16_t c = net::l4_checksum(4, &p[12], &p[16], net::kProtoUdp, &p[20], 8 + payload_len);
    net::store_be16(&p[26], c ? c : 0xffff);
    return p;
}

/// IPv6 + UDP packet with a valid checksum.
inline std::vector<uint8_t> ipv6_udp(uint32_t payload_len, uint8_t tc = 0, uint8_t seed = 1) {
    const uint32_t total = 40 + 8 + payload_len;
    std::vector<uint8_t> p(total);
    p[0] = 0x60;
    net::ipv6_set_traffic_class(p.data(), tc);
    p[3] = 0x42;  // flow label low bits
    net::store_be16(&p[4], static_cast<uint16_t>(8 + payload_len));
    p[6] = net::kProtoUdp;
    p[7] = 63;
    p[8] = 0x20; p[9] = 0x01; p[10] = 0x0d; p[11] = 0xb8; p[23] = 1;
    p[24] = 0x20; p[25] = 0x01; p[26] = 0x0d; p[27] = 0xb8; p[39] = 2;
    net::store_be16(&p[40], 1111);
    net::store_be16(&p[42], 2222);
    net::store_be16(&p[44], static_cast<uint16_t>(8 + payload_len));
    auto pl = payload(payload_len, seed);
    if (payload_len) std::memcpy(&p[48], pl.data(), payload_len);
    uint16_t c = net::l4_checksum(6, &p[8], &p[24], net::kProtoUdp, &p[40], 8 + payload_len);
    net::store_be16(&p[46], c ? c : 0xffff);
    return p;
}

inline std::vector<uint8_t> ip_udp(int version, uint32_t payload_len, uint8_t tos = 0, uint8_t seed = 1) {
    return version == 4 ? ipv4_udp(payload_len, tos, true, seed) : ipv6_udp(payload_len, tos, seed);
}

struct NamedSuite {
    const char* name;
    crypto::Suite suite;
};

inline const std::vector<NamedSuite>& all_suites() {
    using C = crypto::Cipher;
    using I = crypto::Integ;
    static const std::vector<NamedSuite> v = {
        {"aes128gcm16", {C::aes_gcm_128, I::none}},
        {"aes256gcm16", {C::aes_gcm_256, I::none}},
        {"chacha20poly1305", {C::chacha20_poly1305, I::none}},
        {"aes128gmac", {C::aes_gmac_128, I::none}},
        {"aes256gmac", {C::aes_gmac_256, I::none}},
        {"aes128-sha1", {C::aes_cbc_128, I::hmac_sha1_96}},
        {"aes128-sha256", {C::aes_cbc_128, I::hmac_sha256_128}},
        {"aes256-sha512", {C::aes_cbc_256, I::hmac_sha512_256}},
        {"null-sha256", {C::null, I::hmac_sha256_128}},
    };
    return v;
}

/// Key material for `s`: enc key (+ salt) and auth key, deterministic.
struct Keys {
    std::vector<uint8_t> enc, auth;
};
inline Keys keys_for(crypto::Suite s, uint8_t seed = 0x11) {
    const auto info = crypto::suite_info(s);
    Keys k;
    if (!info) return k;
    k.enc.resize(info->enc_key_bytes + info->salt_bytes);
    for (size_t i = 0; i < k.enc.size(); ++i) k.enc[i] = static_cast<uint8_t>(seed + i);
    k.auth.resize(info->auth_key_bytes);
    for (size_t i = 0; i < k.auth.size(); ++i) k.auth[i] = static_cast<uint8_t>(0xa0 + seed + i);
    return k;
}

inline esp::SaConfig tunnel_cfg(crypto::Suite s, int outer_version, bool udp, bool esn) {
    esp::SaConfig c;
    c.spi = 0x1000abcd;
    c.suite = s;
    c.mode = esp::Mode::tunnel;
    c.esn = esn;
    c.udp_encap = udp;
    if (outer_version == 4) {
        c.tunnel_src = *net::IpAddr::parse("198.51.100.1");
        c.tunnel_dst = *net::IpAddr::parse("203.0.113.9");
    } else {
        c.tunnel_src = *net::IpAddr::parse("2001:db8:1::1");
        c.tunnel_dst = *net::IpAddr::parse("2001:db8:2::9");
    }
    return c;
}

inline esp::SaConfig transport_cfg(crypto::Suite s, bool udp, bool esn) {
    esp::SaConfig c;
    c.spi = 0x2000beef;
    c.suite = s;
    c.mode = esp::Mode::transport;
    c.esn = esn;
    c.udp_encap = udp;
    return c;
}

/// Outbound + inbound SA pair (heap: Session is large and 64-aligned).
struct SaPair {
    esp::OutboundSa out;
    esp::OutboundState out_st;
    esp::InboundSa in;
    esp::InboundState in_st;
    std::string err;
    bool ok = false;
    explicit SaPair(const esp::SaConfig& c) {
        Keys k = keys_for(c.suite);
        ok = esp::outbound_sa_init(out, c, k.enc, k.auth, &err) &&
             esp::inbound_sa_init(in, c, k.enc, k.auth, &err);
        if (ok) {
            esp::outbound_state_init(out_st, out);
            esp::inbound_state_init(in_st, in);
        }
    }
};

template <typename Engine>
DropReason run_outbound(Engine& e, const esp::OutboundSa& sa, esp::OutboundState& st, Buf& b) {
    crypto::Op op{};
    esp::PacketScratch sc{};
    DropReason r = esp::outbound_prepare(sa, st, b.pkt, op, sc);
    if (r != DropReason::none) return r;
    e.encrypt(std::span<crypto::Op>(&op, 1));
    return esp::outbound_finish(sa, b.pkt, op.status, sc);
}

template <typename Engine>
DropReason run_inbound(Engine& e, const esp::InboundSa& sa, esp::InboundState& st, Buf& b) {
    esp::Classification cls;
    DropReason r = esp::classify(b.pkt.data, b.pkt.len, cls);
    if (r != DropReason::none) return r;
    crypto::Op op{};
    esp::PacketScratch sc{};
    r = esp::inbound_prepare(sa, st, b.pkt, cls, op, sc);
    if (r != DropReason::none) return r;
    e.decrypt(std::span<crypto::Op>(&op, 1));
    return esp::inbound_finish(sa, st, b.pkt, op.status, sc);
}

}  // namespace esptest
