// Classification of unprotected-side packets (RFC 3948 §2.2/§2.3, RFC 7296 §2).
#include <catch2/catch.hpp>

#include <random>

#include "esp_test_util.hpp"

using namespace esptest;
using esp::PacketKind;

namespace {
// IPv4 header + UDP(dport) + payload bytes.
std::vector<uint8_t> v4_udp_raw(uint16_t dport, std::vector<uint8_t> pl) {
    std::vector<uint8_t> p(28 + pl.size());
    p[0] = 0x45;
    net::store_be16(&p[2], static_cast<uint16_t>(p.size()));
    p[8] = 64;
    p[9] = net::kProtoUdp;
    net::store_be16(&p[20], 4500);
    net::store_be16(&p[22], dport);
    net::store_be16(&p[24], static_cast<uint16_t>(8 + pl.size()));
    std::copy(pl.begin(), pl.end(), p.begin() + 28);
    net::ipv4_set_checksum(p.data());
    return p;
}
}  // namespace

TEST_CASE("classify: 4500 payloads: keepalive, non-ESP marker, ESP, short") {
    esp::Classification c;
    auto ka = v4_udp_raw(4500, {0xff});
    REQUIRE(esp::classify(ka.data(), ka.size(), c) == DropReason::none);
    CHECK(c.kind == PacketKind::nat_keepalive);

    auto ike = v4_udp_raw(4500, {0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
    REQUIRE(esp::classify(ike.data(), ike.size(), c) == DropReason::none);
    CHECK(c.kind == PacketKind::ike_nat_t);
    CHECK(c.esp_off == 32);  // IKE header after the 4-byte marker

    auto e = v4_udp_raw(4500, {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9, 9});
    REQUIRE(esp::classify(e.data(), e.size(), c) == DropReason::none);
    CHECK(c.kind == PacketKind::esp_in_udp);
    CHECK(c.spi == 0x12345678u);
    CHECK(c.esp_off == 28);
    CHECK(c.udp_src_port == 4500);

    auto shortp = v4_udp_raw(4500, {0x12, 0x34, 0x56});
    CHECK(esp::classify(shortp.data(), shortp.size(), c) == DropReason::truncated);
    auto ka2 = v4_udp_raw(4500, {0xfe});
    CHECK(esp::classify(ka2.data(), ka2.size(), c) == DropReason::truncated);
}

TEST_CASE("classify: IKE on 500, other UDP, other protocols") {
    esp::Classification c;
    auto ike = v4_udp_raw(500, {1, 2, 3, 4, 5, 6, 7, 8});
    REQUIRE(esp::classify(ike.data(), ike.size(), c) == DropReason::none);
    CHECK(c.kind == PacketKind::ike);
    CHECK(c.esp_off == 28);
    auto dns = v4_udp_raw(53, {1, 2, 3});
    REQUIRE(esp::classify(dns.data(), dns.size(), c) == DropReason::none);
    CHECK(c.kind == PacketKind::other);
    auto u = ipv4_udp(10);
    REQUIRE(esp::classify(u.data(), u.size(), c) == DropReason::none);
    CHECK(c.kind == PacketKind::other);
    // a custom NAT-T port
    auto custom = v4_udp_raw(4501, {0xff});
    REQUIRE(esp::classify(custom.data(), custom.size(), c, 4501) == DropReason::none);
    CHECK(c.kind == PacketKind::nat_keepalive);
}

TEST_CASE("classify: plain ESP over IPv4 and over IPv6 after a hop-by-hop header") {
    esp::Classification c;
    std::vector<uint8_t> p(20 + 16);
    p[0] = 0x45;
    net::store_be16(&p[2], static_cast<uint16_t>(p.size()));
    p[9] = net::kProtoEsp;
    net::store_be32(&p[20], 0xdeadbeef);
    REQUIRE(esp::classify(p.data(), p.size(), c) == DropReason::none);
    CHECK(c.kind == PacketKind::esp);
    CHECK(c.spi == 0xdeadbeef);
    CHECK(c.nh_off == 9);
    // With link padding after the IP length: ip_len stays the IP length.
    p.resize(60);
    REQUIRE(esp::classify(p.data(), p.size(), c) == DropReason::none);
    CHECK(c.ip_len == 36);

    std::vector<uint8_t> q(40 + 8 + 16);
    q[0] = 0x60;
    net::store_be16(&q[4], 24);
    q[6] = net::kProtoHopByHop;
    q[40] = net::kProtoEsp;  // hop-by-hop: next header ESP, length 0 (8 bytes)
    net::store_be32(&q[48], 0x01020304);
    REQUIRE(esp::classify(q.data(), q.size(), c) == DropReason::none);
    CHECK(c.kind == PacketKind::esp);
    CHECK(c.nh_off == 40);
    CHECK(c.esp_off == 48);
    CHECK(c.spi == 0x01020304);
}

TEST_CASE("classify: ESP fragments are refused by name") {
    esp::Classification c;
    std::vector<uint8_t> p(20 + 16);
    p[0] = 0x45;
    net::store_be16(&p[2], static_cast<uint16_t>(p.size()));
    net::store_be16(&p[6], net::kIpv4FlagMf);
    p[9] = net::kProtoEsp;
    CHECK(esp::classify(p.data(), p.size(), c) == DropReason::fragment);
}

TEST_CASE("classify: every truncation of valid packets gives a named reason, never a crash") {
    std::vector<std::vector<uint8_t>> pkts = {v4_udp_raw(4500, {1, 2, 3, 4, 5, 6, 7, 8, 9}),
                                             v4_udp_raw(500, {1, 2, 3, 4}), ipv6_udp(20)};
    for (auto& full : pkts) {
        for (size_t n = 0; n < full.size(); ++n) {
            std::vector<uint8_t> t(full.begin(), full.begin() + n);  // exact size: ASan catches overreads
            esp::Classification c;
            const DropReason r = esp::classify(t.data(), static_cast<uint32_t>(t.size()), c);
            CHECK(r != DropReason::none);
        }
    }
    std::vector<uint8_t> v5 = {0x55, 0, 0, 20};
    esp::Classification c;
    CHECK(esp::classify(v5.data(), 4, c) == DropReason::bad_ip_version);
    std::vector<uint8_t> ihl = ipv4_udp(4);
    ihl[0] = 0x44;
    CHECK(esp::classify(ihl.data(), ihl.size(), c) == DropReason::bad_ip_header_len);
}

TEST_CASE("classify: the inline fast path answers exactly as classify_full") {
    // Differential: IPv4 headers with every protocol of interest, fragment bits, lengths
    // around the limits and the IKE / NAT-T ports, plus random bytes; both must return
    // the same verdict and the same Classification, field by field.
    std::mt19937 rng(4303);
    const uint8_t protos[] = {1, 6, 17, 50, 41, 4, 58, 132};
    const uint16_t ports[] = {500, 4500, 4501, 53, 0, 65535};
    uint32_t fast = 0;
    for (int iter = 0; iter < 200000; ++iter) {
        uint8_t p[96];
        for (auto& b : p) b = static_cast<uint8_t>(rng());
        const uint32_t len = 20 + rng() % 77;
        if (iter % 4 != 3) {  // mostly plausible headers
            p[0] = iter % 16 == 0 ? static_cast<uint8_t>(0x40 | (rng() % 16)) : 0x45;
            espgw::net::store_be16(p + 2, static_cast<uint16_t>(len - rng() % 12));
            espgw::net::store_be16(p + 6, static_cast<uint16_t>(iter % 8 == 0 ? rng() : 0x4000));
            p[9] = protos[rng() % 8];
            espgw::net::store_be16(p + 22, ports[rng() % 6]);
            espgw::net::store_be16(p + 24, static_cast<uint16_t>(len - 20 - rng() % 3));
        }
        esp::Classification a, b;
        const uint16_t natt = iter % 5 == 0 ? 4501 : 4500;
        const esp::DropReason ra = esp::classify(p, len, a, natt);
        const esp::DropReason rb = esp::classify_full(p, len, b, natt);
        REQUIRE(ra == rb);
        REQUIRE(a.kind == b.kind);
        REQUIRE(a.ip_version == b.ip_version);
        REQUIRE(a.l4_proto == b.l4_proto);
        REQUIRE(a.nh_off == b.nh_off);
        REQUIRE(a.l4_off == b.l4_off);
        REQUIRE(a.esp_off == b.esp_off);
        REQUIRE(a.ip_len == b.ip_len);
        REQUIRE(a.spi == b.spi);
        REQUIRE(a.udp_src_port == b.udp_src_port);
        fast += ra == esp::DropReason::none && a.kind == PacketKind::other && p[0] == 0x45;
    }
    CHECK(fast > 10000);  // the fast path's packets were among them
}
