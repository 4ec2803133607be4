// Inbound ESP refusals, each by name: tampering (RFC 4303 §3.4.4), truncation at
// every length, replay, padding and next header checks (§2.4, §2.6), inner header
// checks, ECN decapsulation (RFC 6040 §4.2), SPI/encapsulation mismatches.
#include <catch2/catch.hpp>

#include "crypto/engine_mb.hpp"
#include "crypto/engine_openssl.hpp"
#include "esp_test_util.hpp"

using namespace esptest;

namespace {

const crypto::Suite kGcm{crypto::Cipher::aes_gcm_128, crypto::Integ::none};
const crypto::Suite kCbc{crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha256_128};

// Encrypts `ip` after letting `edit` change the clear trailer/packet between prepare
// and the engine (to forge authentic but malformed packets).
template <typename Edit>
std::vector<uint8_t> forge(crypto::MbEngine& e, SaPair& p, const std::vector<uint8_t>& ip, Edit edit) {
    Buf b(ip);
    crypto::Op op{};
    esp::PacketScratch sc{};
    REQUIRE(esp::outbound_prepare(p.out, p.out_st, b.pkt, op, sc) == DropReason::none);
    edit(op);
    e.encrypt(std::span<crypto::Op>(&op, 1));
    REQUIRE(esp::outbound_finish(p.out, b.pkt, op.status, sc) == DropReason::none);
    return b.bytes();
}

DropReason receive(crypto::MbEngine& e, SaPair& p, const std::vector<uint8_t>& wire) {
    Buf b(wire);
    return run_inbound(e, p.in, p.in_st, b);
}

}  // namespace

TEST_CASE("inbound: a flipped bit anywhere in the ESP part is icv_mismatch (every suite)") {
    crypto::MbEngine mb;
    for (const auto& ns : all_suites()) {
        for (bool esn : {false, true}) {
            INFO(ns.name << " esn=" << esn);
            SaPair p(tunnel_cfg(ns.suite, 4, false, esn));
            REQUIRE(p.ok);
            Buf b(ipv4_udp(40));
            REQUIRE(run_outbound(mb, p.out, p.out_st, b) == DropReason::none);
            const auto wire = b.bytes();
            // SPI (offset 20..23) would be wrong_spi; seq bits change the replay check
            // but still fail the ICV; everything after must fail the ICV.
            for (size_t i = 24; i < wire.size(); ++i) {
                auto t = wire;
                t[i] ^= 0x01;
                const DropReason r = receive(mb, p, t);
                if (i < 28)  // sequence number: seq 0 or a replay, else the ICV
                    REQUIRE((r == DropReason::icv_mismatch || r == DropReason::seq_zero));
                else
                    REQUIRE(r == DropReason::icv_mismatch);
            }
            CHECK(receive(mb, p, wire) == DropReason::none);  // the window did not move on failures
            CHECK(receive(mb, p, wire) == DropReason::replay_duplicate);
        }
    }
}

TEST_CASE("inbound: every truncation gives a named reason and never touches memory outside") {
    crypto::MbEngine mb;
    for (const auto& ns : all_suites()) {
        for (bool udp : {false, true}) {
            INFO(ns.name << " udp=" << udp);
            SaPair p(tunnel_cfg(ns.suite, 6, udp, false));
            REQUIRE(p.ok);
            Buf b(ipv6_udp(37));
            REQUIRE(run_outbound(mb, p.out, p.out_st, b) == DropReason::none);
            const auto wire = b.bytes();
            for (size_t n = 0; n < wire.size(); ++n) {
                // Both the IP length and the buffer cut: exact-size buffer, no head/tailroom.
                std::vector<uint8_t> t(wire.begin(), wire.begin() + n);
                if (n >= 40) net::store_be16(&t[4], static_cast<uint16_t>(n - 40));
                if (udp && n >= 48) net::store_be16(&t[44], static_cast<uint16_t>(n - 40));
                Buf tb(t, 0, 0);
                const DropReason r = run_inbound(mb, p.in, p.in_st, tb);
                REQUIRE(r != DropReason::none);
                REQUIRE(tb.consistent());
            }
        }
    }
}

TEST_CASE("inbound: forged authentic packets with bad padding/pad length/next header are refused") {
    crypto::MbEngine mb;
    SaPair p(tunnel_cfg(kCbc, 4, false, false));
    REQUIRE(p.ok);
    const auto ip = ipv4_udp(20);  // 48 bytes: pad 14 with block 16
    auto trailer = [](crypto::Op& op) { return op.data + op.data_len - 2; };
    CHECK(receive(mb, p, forge(mb, p, ip, [&](crypto::Op& op) { trailer(op)[-1] = 99; })) ==
          DropReason::bad_padding);
    CHECK(receive(mb, p, forge(mb, p, ip, [&](crypto::Op& op) { trailer(op)[0] = 250; })) ==
          DropReason::bad_pad_length);
    CHECK(receive(mb, p, forge(mb, p, ip, [&](crypto::Op& op) { trailer(op)[1] = net::kProtoTcp; })) ==
          DropReason::bad_next_header);
    CHECK(receive(mb, p, forge(mb, p, ip, [&](crypto::Op& op) { trailer(op)[1] = net::kProtoNoNext; })) ==
          DropReason::tfc_dummy);
    CHECK(receive(mb, p, forge(mb, p, ip, [&](crypto::Op& op) { trailer(op)[1] = net::kProtoIpv6; })) ==
          DropReason::inner_family_mismatch);
    // inner IPv4 total length beyond what was sent
    CHECK(receive(mb, p, forge(mb, p, ip, [&](crypto::Op& op) { net::store_be16(op.data + 2, 200); })) ==
          DropReason::inner_truncated);
    // TFC padding (RFC 4303 §2.7): inner length shorter than the payload is trimmed.
    {
        auto wire = forge(mb, p, ip, [&](crypto::Op& op) { net::store_be16(op.data + 2, 40); });
        Buf b(wire);
        REQUIRE(run_inbound(mb, p.in, p.in_st, b) == DropReason::none);
        CHECK(b.pkt.len == 40);
    }
    // a clean one still goes through
    CHECK(receive(mb, p, forge(mb, p, ip, [](crypto::Op&) {})) == DropReason::none);
}

TEST_CASE("inbound: SPI, encapsulation, alignment and non-ESP mismatches are named") {
    crypto::MbEngine mb;
    SaPair p(tunnel_cfg(kCbc, 4, false, false));
    SaPair pu(tunnel_cfg(kCbc, 4, true, false));
    REQUIRE(p.ok);
    REQUIRE(pu.ok);
    Buf b(ipv4_udp(20));
    REQUIRE(run_outbound(mb, p.out, p.out_st, b) == DropReason::none);
    auto wire = b.bytes();
    CHECK(receive(mb, pu, wire) == DropReason::encap_mismatch);
    auto spi = wire;
    spi[23] ^= 1;
    CHECK(receive(mb, p, spi) == DropReason::wrong_spi);
    // 4 bytes less ciphertext: not a multiple of 16 any more
    auto mis = wire;
    mis.resize(mis.size() - 4);
    net::store_be16(&mis[2], static_cast<uint16_t>(mis.size()));
    CHECK(receive(mb, p, mis) == DropReason::bad_alignment);
    Buf plain(ipv4_udp(20));
    esp::Classification cls;
    REQUIRE(esp::classify(plain.pkt.data, plain.pkt.len, cls) == DropReason::none);
    crypto::Op op{};
    esp::PacketScratch sc{};
    CHECK(esp::inbound_prepare(p.in, p.in_st, plain.pkt, cls, op, sc) == DropReason::not_esp);
}

TEST_CASE("inbound: replay through the transform; too old beyond the window") {
    crypto::MbEngine mb;
    auto c = tunnel_cfg(kGcm, 4, false, false);
    c.replay_window = 64;
    SaPair p(c);
    REQUIRE(p.ok);
    std::vector<std::vector<uint8_t>> wires;
    for (int i = 0; i < 70; ++i) {
        Buf b(ipv4_udp(10));
        REQUIRE(run_outbound(mb, p.out, p.out_st, b) == DropReason::none);
        wires.push_back(b.bytes());
    }
    CHECK(receive(mb, p, wires[69]) == DropReason::none);   // seq 70
    CHECK(receive(mb, p, wires[6]) == DropReason::none);    // seq 7: 63 behind
    CHECK(receive(mb, p, wires[5]) == DropReason::replay_old);  // seq 6: 64 behind
    CHECK(receive(mb, p, wires[6]) == DropReason::replay_duplicate);
    CHECK(receive(mb, p, wires[69]) == DropReason::replay_duplicate);
}

TEST_CASE("inbound ESN: packets across 2^32 decrypt with the inferred high half; wrong inference fails the ICV") {
    crypto::MbEngine mb;
    auto c = tunnel_cfg(kCbc, 4, false, true);
    c.initial_seq = 0xfffffff0ull;
    SaPair p(c);
    REQUIRE(p.ok);
    std::vector<std::vector<uint8_t>> wires;
    for (int i = 0; i < 40; ++i) {
        Buf b(ipv4_udp(10));
        REQUIRE(run_outbound(mb, p.out, p.out_st, b) == DropReason::none);
        wires.push_back(b.bytes());
    }
    // deliver the post-wrap half first, then the late pre-wrap ones
    for (int i = 20; i < 40; ++i) REQUIRE(receive(mb, p, wires[i]) == DropReason::none);
    for (int i = 0; i < 15; ++i) REQUIRE(receive(mb, p, wires[i]) == DropReason::none);
    CHECK(p.in_st.window.top == 0xfffffff0ull + 40);
    // A receiver whose window sits 2^32 further on infers the wrong high half.
    auto c2 = c;
    c2.initial_seq = 0x200000000ull;
    SaPair q(c2);
    CHECK(receive(mb, q, wires[30]) == DropReason::icv_mismatch);
}

TEST_CASE("inbound tunnel: ECN decapsulation follows RFC 6040 §4.2") {
    crypto::OsslEngine eng;
    using namespace net;
    // {inner, outer, result or -1 = drop}
    const int table[][3] = {
        {kEcnNotEct, kEcnNotEct, kEcnNotEct}, {kEcnNotEct, kEcnEct0, kEcnNotEct},
        {kEcnNotEct, kEcnEct1, kEcnNotEct},   {kEcnNotEct, kEcnCe, -1},
        {kEcnEct0, kEcnNotEct, kEcnEct0},     {kEcnEct0, kEcnEct0, kEcnEct0},
        {kEcnEct0, kEcnEct1, kEcnEct1},       {kEcnEct0, kEcnCe, kEcnCe},
        {kEcnEct1, kEcnNotEct, kEcnEct1},     {kEcnEct1, kEcnEct0, kEcnEct1},
        {kEcnEct1, kEcnEct1, kEcnEct1},       {kEcnEct1, kEcnCe, kEcnCe},
        {kEcnCe, kEcnNotEct, kEcnCe},         {kEcnCe, kEcnEct0, kEcnCe},
        {kEcnCe, kEcnEct1, kEcnCe},           {kEcnCe, kEcnCe, kEcnCe},
    };
    for (int outer : {4, 6}) {
        for (int inner_ver : {4, 6}) {
            SaPair p(tunnel_cfg(kGcm, outer, false, false));
            REQUIRE(p.ok);
            for (const auto& row : table) {
                INFO("outer v" << outer << " inner v" << inner_ver << " inner ecn " << row[0]
                               << " outer ecn " << row[1]);
                const uint8_t tos = static_cast<uint8_t>((10 << 2) | row[0]);
                auto ip = ip_udp(inner_ver, 20, tos);
                Buf b(ip);
                REQUIRE(run_outbound(eng, p.out, p.out_st, b) == DropReason::none);
                // encap copied the inner ECN (RFC 6040 §4.1 normal mode); now the path marks the outer.
                uint8_t* o = b.pkt.data;
                if (outer == 4) {
                    REQUIRE((o[1] & kEcnMask) == row[0]);
                    o[1] = static_cast<uint8_t>((o[1] & ~kEcnMask) | row[1]);
                    ipv4_set_checksum(o);
                } else {
                    REQUIRE((ipv6_traffic_class(o) & kEcnMask) == row[0]);
                    ipv6_set_traffic_class(o, static_cast<uint8_t>((ipv6_traffic_class(o) & ~kEcnMask) | row[1]));
                }
                const DropReason r = run_inbound(eng, p.in, p.in_st, b);
                if (row[2] < 0) {
                    CHECK(r == DropReason::ecn_ce_not_ect);
                    continue;
                }
                REQUIRE(r == DropReason::none);
                const uint8_t* in = b.pkt.data;
                const uint8_t got = inner_ver == 4 ? in[1] : ipv6_traffic_class(in);
                CHECK((got & kEcnMask) == row[2]);
                CHECK((got >> 2) == 10);  // DSCP untouched
                if (inner_ver == 4) CHECK(ipv4_header_checksum(in, 20) == load_be16(in + 10));
            }
        }
    }
}

TEST_CASE("inbound transport + UDP encap: inner checksum valid for the addresses as received (RFC 3948 §3.1.2)") {
    crypto::MbEngine mb;
    SaPair p(transport_cfg(kGcm, true, false));
    REQUIRE(p.ok);
    Buf b(ipv4_udp(50));
    REQUIRE(run_outbound(mb, p.out, p.out_st, b) == DropReason::none);
    // A NAT rewrites the source address (and fixes only the IP header checksum).
    net::store_be32(b.pkt.data + 12, 0xc6336401);
    net::ipv4_set_checksum(b.pkt.data);
    REQUIRE(run_inbound(mb, p.in, p.in_st, b) == DropReason::none);
    const uint8_t* ip = b.pkt.data;
    CHECK(net::load_be32(ip + 12) == 0xc6336401u);
    CHECK(ip[9] == net::kProtoUdp);
    const uint32_t ulen = b.pkt.len - 20;
    CHECK(net::csum_fold(net::csum_partial(ip + 20, ulen,
                                           net::csum_partial(ip + 12, 8, 0) + net::kProtoUdp + ulen)) == 0);
}

TEST_CASE("SA install refuses bad configurations with a reason") {
    std::string err;
    Keys k = keys_for(kGcm);
    auto bad_window = tunnel_cfg(kGcm, 4, false, false);
    bad_window.replay_window = 32;
    auto in = std::make_unique<esp::InboundSa>();
    CHECK_FALSE(esp::inbound_sa_init(*in, bad_window, k.enc, k.auth, &err));
    CHECK(!err.empty());
    auto esn_off = tunnel_cfg(kGcm, 4, false, true);
    esn_off.replay_window = 0;
    CHECK_FALSE(esp::inbound_sa_init(*in, esn_off, k.enc, k.auth, &err));
    auto mixed = tunnel_cfg(kGcm, 4, false, false);
    mixed.tunnel_dst = *net::IpAddr::parse("2001:db8::1");
    auto out = std::make_unique<esp::OutboundSa>();
    CHECK_FALSE(esp::outbound_sa_init(*out, mixed, k.enc, k.auth, &err));
    auto spi = tunnel_cfg(kGcm, 4, false, false);
    spi.spi = 255;
    CHECK_FALSE(esp::outbound_sa_init(*out, spi, k.enc, k.auth, &err));
    auto ok = tunnel_cfg(kGcm, 4, false, false);
    CHECK(esp::outbound_sa_init(*out, ok, k.enc, k.auth, &err));
    CHECK(esp::drop_reason_name(DropReason::icv_mismatch) == "icv_mismatch");
    CHECK(esp::kDropReasonCount > 20);
}
