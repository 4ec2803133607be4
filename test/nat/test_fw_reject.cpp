// Reject answers: TCP RST (RFC 9293 §3.10.7.1) and ICMP administratively prohibited.
#include <catch2/catch.hpp>

#include "dataplane/fw/reject.hpp"
#include "dataplane/nat/translate.hpp"
#include "test/nat/nat_packets.hpp"

using namespace espgw;
using namespace espgw::nat::test;

namespace {
constexpr uint32_t kClient = 0x0A140001, kRemote = 0xCB007105;
}

TEST_CASE("reject: a TCP SYN gets RST+ACK acknowledging it, from the address it was sent to", "[fw][reject]") {
    Bytes syn = tcp(kClient, kRemote, 40000, 5004, 0x02, 0);
    uint8_t out[fw::kRejectMaxBytes];
    const uint32_t n = fw::build_reject(syn.data(), static_cast<uint32_t>(syn.size()), out);
    REQUIRE(n == 40);
    Bytes r(out, out + n);
    CHECK(net::load_be32(&r[12]) == kRemote);
    CHECK(net::load_be32(&r[16]) == kClient);
    CHECK(net::load_be16(&r[20]) == 5004);
    CHECK(net::load_be16(&r[22]) == 40000);
    CHECK(r[33] == 0x14);                         // RST|ACK
    CHECK(net::load_be32(&r[28]) == 1000 + 1);    // SYN counts one
    CHECK(ip_ok(r.data()));
    CHECK(l4_ok(r));
}

TEST_CASE("reject: a TCP segment with ACK gets a RST with its acknowledgment as sequence", "[fw][reject]") {
    Bytes seg = tcp(kClient, kRemote, 40000, 5004, 0x18, 10);
    net::store_be32(&seg[28], 777);
    uint8_t out[fw::kRejectMaxBytes];
    REQUIRE(fw::build_reject(seg.data(), static_cast<uint32_t>(seg.size()), out) == 40);
    CHECK(out[33] == 0x04);
    CHECK(net::load_be32(out + 24) == 777);
    Bytes rst = tcp(kClient, kRemote, 40000, 5004, 0x04, 0);
    CHECK(fw::build_reject(rst.data(), static_cast<uint32_t>(rst.size()), out) == 0);  // never answer a RST
}

TEST_CASE("reject: UDP and ICMP echo get ICMP unreachable code 13 quoting header + 8 bytes; errors get nothing", "[fw][reject]") {
    Bytes u = udp(kClient, kRemote, 5555, 5003, 50);
    uint8_t out[fw::kRejectMaxBytes];
    const uint32_t n = fw::build_reject(u.data(), static_cast<uint32_t>(u.size()), out);
    REQUIRE(n == 20 + 8 + 28);
    Bytes r(out, out + n);
    CHECK(r[20] == 3);
    CHECK(r[21] == 13);
    CHECK(std::equal(u.begin(), u.begin() + 28, r.begin() + 28));
    CHECK(ip_ok(r.data()));
    CHECK(l4_ok(r));
    Bytes e = icmp_echo(kClient, kRemote, nat::kIcmpEcho, 9);
    CHECK(fw::build_reject(e.data(), static_cast<uint32_t>(e.size()), out) == 56);
    Bytes err = icmp_error(kClient, kRemote, 3, 3, u, 28);
    CHECK(fw::build_reject(err.data(), static_cast<uint32_t>(err.size()), out) == 0);
}
