// Outbound ESP layout: padding (RFC 4303 §2.4), sequence numbers and overflow
// (§3.3.3), tunnel header (RFC 4301 §5.1.2, RFC 6040 normal mode), transport
// placement (§3.1.1), UDP encapsulation (RFC 3948 §2.1), and the ESN AAD / ICV input
// layouts checked against OpenSSL's EVP directly (RFC 4106 §5, RFC 4543 §3.3,
// RFC 7634 §2.1, RFC 4303 §3.3.2.1).
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto/engine_openssl.hpp"
#include "esp_test_util.hpp"

using namespace esptest;

namespace {

// prepare only: the trailer is still clear text before the engine runs.
struct Prepared {
    DropReason r;
    crypto::Op op{};
    esp::PacketScratch sc{};
};

Prepared prepare(SaPair& p, Buf& b) {
    Prepared x;
    x.r = esp::outbound_prepare(p.out, p.out_st, b.pkt, x.op, x.sc);
    return x;
}

}  // namespace

TEST_CASE("outbound: padding is 1,2,3,... and aligns payload+2 to 4 or 16 for every length") {
    for (const auto& ns : all_suites()) {
        for (int ver : {4, 6}) {
            SaPair p(tunnel_cfg(ns.suite, 4, false, false));
            REQUIRE(p.ok);
            const uint32_t block = p.out.block_bytes;
            REQUIRE((block == 4 || block == 16));
            CHECK(block == (ns.suite.cipher == crypto::Cipher::aes_cbc_128 ||
                                    ns.suite.cipher == crypto::Cipher::aes_cbc_256
                                ? 16u
                                : 4u));
            for (uint32_t n = 0; n < 40; ++n) {
                auto ip = ip_udp(ver, n);
                Buf b(ip);
                auto x = prepare(p, b);
                REQUIRE(x.r == DropReason::none);
                const uint32_t inner = static_cast<uint32_t>(ip.size());
                const uint32_t pad = (block - (inner + 2) % block) % block;
                const uint8_t* ct = b.pkt.data + 20 + 8 + p.out.iv_bytes;
                REQUIRE(x.op.icv == ct + inner + pad + 2);
                for (uint32_t i = 0; i < pad; ++i) REQUIRE(ct[inner + i] == i + 1);
                REQUIRE(ct[inner + pad] == pad);
                REQUIRE(ct[inner + pad + 1] == (ver == 4 ? 4 : 41));
                REQUIRE((inner + pad + 2) % block == 0);
                REQUIRE(b.pkt.len == 20 + 8 + p.out.iv_bytes + inner + pad + 2 + p.out.icv_bytes);
                REQUIRE(b.consistent());
            }
        }
    }
}

TEST_CASE("outbound: sequence numbers start at initial_seq+1; IV is the 64-bit seq for AEAD") {
    auto c = tunnel_cfg({crypto::Cipher::aes_gcm_128, crypto::Integ::none}, 4, false, true);
    c.initial_seq = 0xfffffffeull;
    SaPair p(c);
    REQUIRE(p.ok);
    for (uint64_t want : {0xffffffffull, 0x100000000ull, 0x100000001ull}) {
        auto ip = ipv4_udp(10);
        Buf b(ip);
        auto x = prepare(p, b);
        REQUIRE(x.r == DropReason::none);
        const uint8_t* e = b.pkt.data + 20;
        CHECK(net::load_be32(e) == c.spi);
        CHECK(net::load_be32(e + 4) == static_cast<uint32_t>(want));  // only low 32 bits on the wire
        CHECK(net::load_be64(e + 8) == want);
        CHECK(x.op.iv == e + 8);
        CHECK(x.sc.seq == want);
        // RFC 4106 §5: AAD = SPI || seq_hi || seq_lo with ESN.
        REQUIRE(x.op.aad_len == 12);
        CHECK(net::load_be32(x.op.aad) == c.spi);
        CHECK(net::load_be32(x.op.aad + 4) == static_cast<uint32_t>(want >> 32));
        CHECK(net::load_be32(x.op.aad + 8) == static_cast<uint32_t>(want));
    }
    CHECK(p.out_st.packets == 3);
}

TEST_CASE("outbound: non-ESN SA stops at 2^32-1 (seq_overflow, sticky)") {
    auto c = tunnel_cfg({crypto::Cipher::aes_gcm_128, crypto::Integ::none}, 4, false, false);
    c.initial_seq = 0xfffffffeull;
    SaPair p(c);
    REQUIRE(p.ok);
    auto ip = ipv4_udp(10);
    {
        Buf b(ip);
        REQUIRE(prepare(p, b).r == DropReason::none);
        CHECK(net::load_be32(b.pkt.data + 24) == 0xffffffffu);
    }
    for (int i = 0; i < 3; ++i) {
        Buf b(ip);
        const auto before = b.bytes();
        CHECK(prepare(p, b).r == DropReason::seq_overflow);
        CHECK(b.bytes() == before);  // untouched
    }
}

TEST_CASE("outbound: ESN SA stops at 2^64-1") {
    auto c = tunnel_cfg({crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha256_128}, 4, false, true);
    c.initial_seq = ~uint64_t{0} - 1;
    SaPair p(c);
    REQUIRE(p.ok);
    auto ip = ipv4_udp(10);
    Buf a(ip), b(ip);
    CHECK(prepare(p, a).r == DropReason::none);
    CHECK(prepare(p, b).r == DropReason::seq_overflow);
}

TEST_CASE("outbound tunnel v4: TTL, DSCP copy, ECN copy (RFC 6040), DF modes, ID, checksum") {
    const crypto::Suite s{crypto::Cipher::aes_gcm_128, crypto::Integ::none};
    struct Case {
        esp::DfMode df;
        bool inner_df;
        bool want_df;
    };
    for (Case k : {Case{esp::DfMode::copy, true, true}, Case{esp::DfMode::copy, false, false},
                   Case{esp::DfMode::set, false, true}, Case{esp::DfMode::clear, true, false}}) {
        for (bool copy_dscp : {true, false}) {
            auto c = tunnel_cfg(s, 4, false, false);
            c.ttl = 17;
            c.df = k.df;
            c.copy_dscp = copy_dscp;
            SaPair p(c);
            REQUIRE(p.ok);
            const uint8_t tos = (46 << 2) | net::kEcnCe;  // EF + CE
            auto ip = ipv4_udp(30, tos, k.inner_df);
            Buf b(ip);
            REQUIRE(prepare(p, b).r == DropReason::none);
            const uint8_t* o = b.pkt.data;
            CHECK(o[0] == 0x45);
            CHECK(o[8] == 17);
            CHECK(o[9] == net::kProtoEsp);
            CHECK(o[1] == (copy_dscp ? tos : net::kEcnCe));
            CHECK(((net::load_be16(o + 6) & net::kIpv4FlagDf) != 0) == k.want_df);
            CHECK(net::load_be16(o + 4) == 1);  // ID = low 16 bits of the sequence number
            CHECK(net::load_be16(o + 2) == b.pkt.len);
            CHECK(net::ipv4_header_checksum(o, 20) == net::load_be16(o + 10));
            CHECK(std::memcmp(o + 12, c.tunnel_src.bytes, 4) == 0);
            CHECK(std::memcmp(o + 16, c.tunnel_dst.bytes, 4) == 0);
        }
    }
}

TEST_CASE("outbound tunnel v6 outer: hop limit, traffic class, payload length; v6 inner sets DF on v4 outer") {
    const crypto::Suite s{crypto::Cipher::chacha20_poly1305, crypto::Integ::none};
    auto c = tunnel_cfg(s, 6, false, false);
    c.ttl = 9;
    SaPair p(c);
    REQUIRE(p.ok);
    auto ip = ipv4_udp(30, 0xb9);
    Buf b(ip);
    REQUIRE(prepare(p, b).r == DropReason::none);
    const uint8_t* o = b.pkt.data;
    CHECK((o[0] >> 4) == 6);
    CHECK(net::ipv6_traffic_class(o) == 0xb9);
    CHECK(o[6] == net::kProtoEsp);
    CHECK(o[7] == 9);
    CHECK(net::load_be16(o + 4) == b.pkt.len - 40);

    SaPair q(tunnel_cfg(s, 4, false, false));
    auto ip6 = ipv6_udp(20);
    Buf b6(ip6);
    REQUIRE(prepare(q, b6).r == DropReason::none);
    CHECK((net::load_be16(b6.pkt.data + 6) & net::kIpv4FlagDf) != 0);
}

TEST_CASE("outbound UDP encap: ports, length, checksum 0 over IPv4, valid checksum over IPv6") {
    const crypto::Suite s{crypto::Cipher::aes_gcm_256, crypto::Integ::none};
    crypto::OsslEngine eng;
    for (int outer : {4, 6}) {
        auto c = tunnel_cfg(s, outer, true, false);
        c.udp_src_port = 4500;
        c.udp_dst_port = 31337;
        SaPair p(c);
        REQUIRE(p.ok);
        auto ip = ipv4_udp(33);
        Buf b(ip);
        REQUIRE(run_outbound(eng, p.out, p.out_st, b) == DropReason::none);
        const uint32_t l3 = outer == 4 ? 20 : 40;
        const uint8_t* u = b.pkt.data + l3;
        CHECK(b.pkt.data[outer == 4 ? 9 : 6] == net::kProtoUdp);
        CHECK(net::load_be16(u) == 4500);
        CHECK(net::load_be16(u + 2) == 31337);
        CHECK(net::load_be16(u + 4) == b.pkt.len - l3);
        if (outer == 4) {
            CHECK(net::load_be16(u + 6) == 0);
        } else {
            CHECK(net::load_be16(u + 6) != 0);
            CHECK(net::csum_fold(net::csum_partial(u, b.pkt.len - l3,
                                                   net::csum_partial(b.pkt.data + 8, 32, 0) +
                                                       net::kProtoUdp + (b.pkt.len - l3))) == 0);
        }
        esp::Classification cls;
        REQUIRE(esp::classify(b.pkt.data, b.pkt.len, cls, 31337) == DropReason::none);
        CHECK(cls.kind == esp::PacketKind::esp_in_udp);
        CHECK(cls.spi == c.spi);
    }
}

TEST_CASE("outbound transport: ESP goes after the IP header; lengths, protocol, checksum fixed") {
    const crypto::Suite s{crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha1_96};
    for (bool udp : {false, true}) {
        SaPair p(transport_cfg(s, udp, false));
        REQUIRE(p.ok);
        auto ip = ipv4_udp(25);
        Buf b(ip);
        REQUIRE(prepare(p, b).r == DropReason::none);
        const uint8_t* o = b.pkt.data;
        CHECK(o[9] == (udp ? net::kProtoUdp : net::kProtoEsp));
        CHECK(net::load_be16(o + 2) == b.pkt.len);
        CHECK(net::ipv4_header_checksum(o, 20) == net::load_be16(o + 10));
        CHECK(std::memcmp(o + 12, ip.data() + 12, 8) == 0);
        const uint8_t* e = o + 20 + (udp ? 8 : 0);
        CHECK(net::load_be32(e) == 0x2000beef);
        // trailer next header = UDP (the original protocol)
        CHECK(p.out.block_bytes == 16);
        const uint32_t inner = 8 + 25;
        const uint32_t pad = (16 - (inner + 2) % 16) % 16;
        CHECK(e[8 + 16 + inner + pad + 1] == net::kProtoUdp);
    }
    // IPv6 with a hop-by-hop header: ESP after it, the hop-by-hop next header fixed.
    SaPair p6(transport_cfg({crypto::Cipher::aes_gcm_128, crypto::Integ::none}, false, false));
    auto v6 = ipv6_udp(12);
    std::vector<uint8_t> hbh(v6.begin(), v6.begin() + 40);
    hbh[6] = net::kProtoHopByHop;
    net::store_be16(&hbh[4], static_cast<uint16_t>(v6.size() - 40 + 8));
    const uint8_t opt[8] = {net::kProtoUdp, 0, 1, 4, 0, 0, 0, 0};  // PadN
    hbh.insert(hbh.end(), opt, opt + 8);
    hbh.insert(hbh.end(), v6.begin() + 40, v6.end());
    Buf b(hbh);
    REQUIRE(prepare(p6, b).r == DropReason::none);
    CHECK(b.pkt.data[6] == net::kProtoHopByHop);
    CHECK(b.pkt.data[40] == net::kProtoEsp);
    CHECK(net::load_be32(b.pkt.data + 48) == 0x2000beef);
    CHECK(net::load_be16(b.pkt.data + 4) == b.pkt.len - 40);
}

TEST_CASE("outbound: refuses without headroom/tailroom, bad input, and transport fragments") {
    SaPair p(tunnel_cfg({crypto::Cipher::aes_cbc_256, crypto::Integ::hmac_sha512_256}, 6, true, false));
    REQUIRE(p.ok);
    auto ip = ipv4_udp(20);  // 48 bytes: pad = 14 for block 16
    const uint32_t head = 40 + 8 + 8 + 16, tail = 14 + 2 + 32;
    CHECK(head <= esp::kMaxHeadroomBytes);
    CHECK(tail <= esp::kMaxTailroomBytes);
    {
        Buf b(ip, head - 1, tail);
        CHECK(prepare(p, b).r == DropReason::no_headroom);
    }
    {
        Buf b(ip, head, tail - 1);
        CHECK(prepare(p, b).r == DropReason::no_tailroom);
    }
    {
        Buf b(ip, head, tail);
        CHECK(prepare(p, b).r == DropReason::none);
        CHECK(b.pkt.headroom == 0);
        CHECK(b.pkt.tailroom == 0);
    }
    for (size_t n = 0; n < ip.size(); ++n) {
        std::vector<uint8_t> t(ip.begin(), ip.begin() + n);
        Buf b(t, 0, 0);
        CHECK(prepare(p, b).r != DropReason::none);
    }
    SaPair tp(transport_cfg({crypto::Cipher::aes_gcm_128, crypto::Integ::none}, false, false));
    auto frag = ipv4_udp(20);
    net::store_be16(&frag[6], net::kIpv4FlagMf);
    Buf fb(frag);
    CHECK(prepare(tp, fb).r == DropReason::fragment);
}

// ---- independent checks of the ESN layouts with OpenSSL EVP, not our engines ----
namespace {

bool evp_aead_open(const EVP_CIPHER* ciph, const std::vector<uint8_t>& key, const uint8_t salt[4],
                   const uint8_t* iv8, const uint8_t* aad, size_t aad_len, const uint8_t* ct,
                   size_t ct_len, const uint8_t* tag, std::vector<uint8_t>* pt) {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    uint8_t nonce[12];
    std::memcpy(nonce, salt, 4);
    std::memcpy(nonce + 4, iv8, 8);
    int n = 0;
    bool ok = EVP_DecryptInit_ex(c, ciph, nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
              EVP_DecryptInit_ex(c, nullptr, nullptr, key.data(), nonce) == 1 &&
              EVP_DecryptUpdate(c, nullptr, &n, aad, static_cast<int>(aad_len)) == 1;
    pt->resize(ct_len + 16);
    if (ok && ct_len) ok = EVP_DecryptUpdate(c, pt->data(), &n, ct, static_cast<int>(ct_len)) == 1;
    pt->resize(ct_len);
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, const_cast<uint8_t*>(tag)) == 1;
    uint8_t fin[16];
    ok = ok && EVP_DecryptFinal_ex(c, fin, &n) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

}  // namespace

TEST_CASE("ESN layouts verified by OpenSSL EVP: GCM/ChaCha AAD, GMAC AAD, HMAC seq_hi") {
    crypto::OsslEngine eng;
    const uint64_t start = 0x00000007fffffffeull;  // seq_hi = 7 .. 8
    for (const auto& ns : all_suites()) {
        DYNAMIC_SECTION(ns.name) {
            auto c = tunnel_cfg(ns.suite, 4, false, true);
            c.initial_seq = start;
            SaPair p(c);
            REQUIRE(p.ok);
            Keys k = keys_for(ns.suite);
            const auto info = *crypto::suite_info(ns.suite);
            for (int i = 0; i < 3; ++i) {
                auto ip = ipv4_udp(21 + i);
                Buf b(ip);
                REQUIRE(run_outbound(eng, p.out, p.out_st, b) == DropReason::none);
                const uint64_t seq = start + 1 + i;
                const uint8_t* e = b.pkt.data + 20;
                const uint32_t esp_len = b.pkt.len - 20;
                const uint8_t* iv = e + 8;
                const uint8_t* ct = iv + info.iv_bytes;
                const uint32_t ct_len = esp_len - 8 - info.iv_bytes - info.icv_bytes;
                const uint8_t* icv = ct + ct_len;
                uint8_t hi[4];
                net::store_be32(hi, static_cast<uint32_t>(seq >> 32));
                std::vector<uint8_t> pt;
                const std::vector<uint8_t> key(k.enc.begin(), k.enc.begin() + info.enc_key_bytes);
                const uint8_t* salt = k.enc.data() + info.enc_key_bytes;
                if (info.aead && info.encrypts) {
                    // RFC 4106 §5 / RFC 7634 §2.1: SPI || seq_hi || seq_lo
                    std::vector<uint8_t> aad(e, e + 4);
                    aad.insert(aad.end(), hi, hi + 4);
                    aad.insert(aad.end(), e + 4, e + 8);
                    const EVP_CIPHER* ciph = ns.suite.cipher == crypto::Cipher::chacha20_poly1305
                                                 ? EVP_chacha20_poly1305()
                                             : info.enc_key_bytes == 16 ? EVP_aes_128_gcm()
                                                                        : EVP_aes_256_gcm();
                    REQUIRE(evp_aead_open(ciph, key, salt, iv, aad.data(), aad.size(), ct, ct_len,
                                          icv, &pt));
                    REQUIRE(std::equal(ip.begin(), ip.end(), pt.begin()));
                } else if (info.aead) {
                    // RFC 4543 §3.3: SPI || seq_hi || seq_lo || IV || payload, all AAD.
                    std::vector<uint8_t> aad(e, e + 4);
                    aad.insert(aad.end(), hi, hi + 4);
                    aad.insert(aad.end(), e + 4, icv);
                    const EVP_CIPHER* ciph = info.enc_key_bytes == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
                    REQUIRE(evp_aead_open(ciph, key, salt, iv, aad.data(), aad.size(), nullptr, 0,
                                          icv, &pt));
                    REQUIRE(std::equal(ip.begin(), ip.end(), ct));  // clear payload
                } else {
                    // RFC 4303 §3.3.2.1: HMAC over ESP header .. ciphertext || seq_hi.
                    std::vector<uint8_t> in(e, icv);
                    in.insert(in.end(), hi, hi + 4);
                    const EVP_MD* md = ns.suite.integ == crypto::Integ::hmac_sha1_96      ? EVP_sha1()
                                       : ns.suite.integ == crypto::Integ::hmac_sha256_128 ? EVP_sha256()
                                                                                          : EVP_sha512();
                    uint8_t mac[64];
                    unsigned mlen = 0;
                    HMAC(md, k.auth.data(), static_cast<int>(k.auth.size()), in.data(), in.size(), mac, &mlen);
                    REQUIRE(std::memcmp(mac, icv, info.icv_bytes) == 0);
                    if (info.encrypts) {
                        // CBC with the IV from the packet decrypts to inner || padding.
                        EVP_CIPHER_CTX* cc = EVP_CIPHER_CTX_new();
                        const EVP_CIPHER* ciph = info.enc_key_bytes == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
                        pt.resize(ct_len);
                        int n = 0;
                        REQUIRE(EVP_DecryptInit_ex(cc, ciph, nullptr, key.data(), iv) == 1);
                        EVP_CIPHER_CTX_set_padding(cc, 0);
                        REQUIRE(EVP_DecryptUpdate(cc, pt.data(), &n, ct, static_cast<int>(ct_len)) == 1);
                        EVP_CIPHER_CTX_free(cc);
                        REQUIRE(std::equal(ip.begin(), ip.end(), pt.begin()));
                    } else {
                        REQUIRE(std::equal(ip.begin(), ip.end(), ct));
                    }
                }
                // the wire carries only the low 32 bits
                CHECK(net::load_be32(e + 4) == static_cast<uint32_t>(seq));
            }
        }
    }
}
