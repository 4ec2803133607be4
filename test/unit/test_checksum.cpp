// Internet checksum helpers (RFC 1071, RFC 1624).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/dp/outbound.hpp"
#include "dataplane/net/checksum.hpp"
#include "dataplane/net/ip.hpp"

using namespace espgw::net;

TEST_CASE("checksum: IPv4 header checksum of a known header (RFC 1071 example header)") {
    // A commonly cited header: 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7
    uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                     0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    CHECK(ipv4_header_checksum(h, 20) == 0xb861);
    ipv4_set_checksum(h);
    CHECK(csum_fold(csum_partial(h, 20, 0)) == 0);
}

TEST_CASE("checksum: incremental update equals a full recompute") {
    uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,
                     0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02};
    ipv4_set_checksum(h);
    for (int tos = 0; tos < 256; ++tos) {
        uint8_t c[20];
        std::memcpy(c, h, 20);
        const uint16_t old_word = load_be16(c);
        c[1] = static_cast<uint8_t>(tos);
        store_be16(c + 10, csum_update16(load_be16(c + 10), old_word, load_be16(c)));
        REQUIRE(load_be16(c + 10) == ipv4_header_checksum(c, 20));
    }
}

TEST_CASE("checksum: odd lengths pad the last byte with zero") {
    const uint8_t d[3] = {0x01, 0x02, 0x03};
    CHECK(csum_partial(d, 3, 0) == 0x0102u + 0x0300u);
}

TEST_CASE("IpAddr: parse and print IPv4 and IPv6") {
    auto a = IpAddr::parse("192.0.2.1");
    REQUIRE(a);
    CHECK(a->family == 4);
    CHECK(a->to_string() == "192.0.2.1");
    CHECK(*a == IpAddr::v4(0xc0000201));
    auto b = IpAddr::parse("2001:db8::1");
    REQUIRE(b);
    CHECK(b->family == 6);
    CHECK(b->to_string() == "2001:db8::1");
    CHECK_FALSE(IpAddr::parse("300.1.1.1"));
}

TEST_CASE("forward_ttl: the incremental TTL checksum equals a full recompute") {
    // Every TTL that forwards, against headers whose checksums cover all 65,536 values
    // of the ID word (so the end-around carry at 0xFF00 and friends is exercised).
    uint8_t h[20] = {0x45, 0x00, 0x00, 0x54, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01,
                     0x00, 0x00, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07};
    uint32_t checked = 0;
    for (uint32_t id = 0; id < 0x10000; ++id) {
        store_be16(h + 4, static_cast<uint16_t>(id));
        const uint8_t ttl = static_cast<uint8_t>(2 + id % 254);
        h[8] = ttl;
        ipv4_set_checksum(h);
        uint8_t c[20];
        std::memcpy(c, h, 20);
        REQUIRE(espgw::dp::forward_ttl(c));
        REQUIRE(c[8] == ttl - 1);
        REQUIRE(csum_fold(csum_partial(c, 20, 0)) == 0);  // the header verifies
        ++checked;
    }
    CHECK(checked == 0x10000);
    h[8] = 1;
    CHECK_FALSE(espgw::dp::forward_ttl(h));
    uint8_t v6[40] = {0x60};
    v6[7] = 2;
    CHECK(espgw::dp::forward_ttl(v6));
    CHECK(v6[7] == 1);
    CHECK_FALSE(espgw::dp::forward_ttl(v6));
}
