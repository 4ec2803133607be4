// NAT header translation: incremental checksums (RFC 1624) against full recomputation.
#include <catch2/catch.hpp>

#include <random>

#include "dataplane/nat/masquerade.hpp"
#include "dataplane/nat/translate.hpp"
#include "test/nat/nat_packets.hpp"

using namespace espgw;
using namespace espgw::nat;
using namespace espgw::nat::test;

namespace {
constexpr uint32_t kClient = 0x0A140001;  // 10.20.0.1
constexpr uint32_t kPub = 0xC6336401;     // 198.51.100.1
constexpr uint32_t kRemote = 0xCB007105;  // 203.0.113.5
}  // namespace

TEST_CASE("translate: rewritten UDP/TCP/ICMP echo keep checksums equal to full recomputation", "[nat][translate]") {
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        const uint32_t src = rng(), dst = rng(), nsrc = rng();
        const uint16_t sp = static_cast<uint16_t>(rng()), dp = static_cast<uint16_t>(rng());
        const uint16_t np = static_cast<uint16_t>(rng());
        const uint32_t pl = rng() % 64;
        Bytes pkts[] = {udp(src, dst, sp, dp, pl), tcp(src, dst, sp, dp, static_cast<uint8_t>(rng()), pl),
                        icmp_echo(src, dst, kIcmpEcho, sp, pl)};
        for (Bytes& p : pkts) {
            L4Info li = parse_l4(p.data(), static_cast<uint32_t>(p.size()));
            REQUIRE((li.kind == L4Kind::udp || li.kind == L4Kind::tcp || li.kind == L4Kind::icmp_echo));
            rewrite_src(p.data(), li, nsrc, np);
            REQUIRE(net::load_be32(&p[12]) == nsrc);
            REQUIRE(ip_ok(p.data()));
            REQUIRE(l4_ok(p));
            li = parse_l4(p.data(), static_cast<uint32_t>(p.size()));
            REQUIRE(li.src_port == np);
            rewrite_dst(p.data(), li, src, sp);
            REQUIRE(ip_ok(p.data()));
            REQUIRE(l4_ok(p));
        }
    }
}

TEST_CASE("translate: UDP without checksum stays without one", "[nat][translate]") {
    Bytes p = udp(kClient, kRemote, 5000, 53, 10, false);
    L4Info li = parse_l4(p.data(), static_cast<uint32_t>(p.size()));
    rewrite_src(p.data(), li, kPub, 40000);
    CHECK(net::load_be16(&p[26]) == 0);
    CHECK(ip_ok(p.data()));
}

TEST_CASE("translate: fragments, unknown protocols and runts are not translatable", "[nat][translate]") {
    Bytes p = udp(kClient, kRemote, 5000, 53);
    net::store_be16(&p[6], net::kIpv4FlagMf);
    CHECK(parse_l4(p.data(), static_cast<uint32_t>(p.size())).kind == L4Kind::fragment);
    p = udp(kClient, kRemote, 5000, 53);
    p[9] = 47;  // GRE
    CHECK(parse_l4(p.data(), static_cast<uint32_t>(p.size())).kind == L4Kind::other);
    p = tcp(kClient, kRemote, 1, 2, 0x02);
    CHECK(parse_l4(p.data(), 30).kind == L4Kind::malformed);
    CHECK(parse_l4(p.data(), 12).kind == L4Kind::malformed);
}

TEST_CASE("translate: ICMP error about a translated flow gets its quoted header translated", "[nat][translate][icmp]") {
    WorkerNat nat(NatConfig{}, 0, 1, 1000);
    for (int proto = 0; proto < 3; ++proto) {
        Bytes out = proto == 0   ? udp(kClient, kRemote, 5353, 9999)
                    : proto == 1 ? tcp(kClient, kRemote, 5353, 9999, 0x02)
                                 : icmp_echo(kClient, kRemote, kIcmpEcho, 0x4242);
        REQUIRE(nat.translate_out(out.data(), static_cast<uint32_t>(out.size()), 0, kPub, 1000) == NatVerdict::translated);
        const uint16_t pub_port = parse_l4(out.data(), static_cast<uint32_t>(out.size())).src_port;
        for (size_t quote : {28u, 48u, static_cast<unsigned>(out.size())}) {
            Bytes err = icmp_error(0x0A000001 /* a router */, kPub, kIcmpUnreach, 3, out, quote);
            const L4Info li = parse_l4(err.data(), static_cast<uint32_t>(err.size()));
            REQUIRE(li.kind == L4Kind::icmp_error);
            REQUIRE(return_owner(li, 1024, 65535, 4) == port_owner(pub_port, 1024, 65535, 4));
            REQUIRE(nat.translate_in(err.data(), static_cast<uint32_t>(err.size()), 1001) == NatVerdict::translated);
            CHECK(net::load_be32(&err[16]) == kClient);  // outer destination
            CHECK(ip_ok(err.data()));
            CHECK(l4_ok(err));  // the ICMP checksum over the rewritten quote
            const uint8_t* q = &err[28];
            CHECK(net::load_be32(q + 12) == kClient);
            CHECK(ip_ok(q));
            CHECK(net::load_be16(q + 20 + (proto == 2 ? 4 : 0)) == (proto == 2 ? 0x4242 : 5353));
            if (quote == out.size()) {
                // Whole quote: the quoted L4 checksum is right for the original packet.
                Bytes inner(q, q + quote);
                CHECK(l4_ok(inner));
            }
        }
    }
}

TEST_CASE("translate: ICMP error from an inside host about a return packet leaves with public addresses", "[nat][translate][icmp]") {
    WorkerNat nat(NatConfig{}, 0, 1, 1000);
    Bytes out = udp(kClient, kRemote, 5353, 9999);
    REQUIRE(nat.translate_out(out.data(), static_cast<uint32_t>(out.size()), 0, kPub, 1000) == NatVerdict::translated);
    const uint16_t pub_port = net::load_be16(&out[20]);
    Bytes back = udp(kRemote, kPub, 9999, pub_port);
    REQUIRE(nat.translate_in(back.data(), static_cast<uint32_t>(back.size()), 1000) == NatVerdict::translated);
    Bytes err = icmp_error(kClient, kRemote, kIcmpUnreach, 3, back, back.size());
    REQUIRE(nat.translate_out(err.data(), static_cast<uint32_t>(err.size()), 0, kPub, 1000) == NatVerdict::translated);
    CHECK(net::load_be32(&err[12]) == kPub);
    CHECK(net::load_be32(&err[28 + 16]) == kPub);
    CHECK(net::load_be16(&err[48 + 2]) == pub_port);
    CHECK(ip_ok(err.data()));
    CHECK(l4_ok(err));
}

TEST_CASE("translate: SYN MSS is clamped with a correct checksum, at even and odd option offsets", "[nat][translate][mss]") {
    for (int nops = 0; nops < 2; ++nops) {
        // SYN with options: [NOP]* MSS(1460) + padding to a 4-byte multiple.
        Bytes opts;
        for (int i = 0; i < nops; ++i) opts.push_back(1);
        opts.insert(opts.end(), {2, 4, 0x05, 0xb4});
        while (opts.size() % 4) opts.push_back(0);
        Bytes p = tcp(kClient, kRemote, 1234, 80, 0x02, 0);
        p.insert(p.begin() + 40, opts.begin(), opts.end());
        p[32] = static_cast<uint8_t>((20 + opts.size()) / 4 << 4);
        net::store_be16(&p[2], static_cast<uint16_t>(p.size()));
        net::ipv4_set_checksum(p.data());
        p[36] = p[37] = 0;
        net::store_be16(&p[36], net::l4_checksum(4, &p[12], &p[16], net::kProtoTcp, &p[20], p.size() - 20));
        L4Info li = parse_l4(p.data(), static_cast<uint32_t>(p.size()));
        REQUIRE(clamp_tcp_mss(p.data(), li, 1360));
        CHECK(net::load_be16(&p[40 + nops + 2]) == 1360);
        CHECK(l4_ok(p));
        CHECK_FALSE(clamp_tcp_mss(p.data(), li, 1400));  // already below
        li.tcp_flags = 0x10;
        CHECK_FALSE(clamp_tcp_mss(p.data(), li, 536));  // not a SYN
    }
}
