// IKE crypto: PRF known answers (RFC 4231), prf+ and the §2.14/§2.17/§2.15 key schedule
// against an independent computation (Python hmac/hashlib, values embedded), ECDH
// (RFC 5903 §8.1), X25519 (RFC 7748 §6.1), MODP agreement, SK payload round trips.
#include "control/ike/crypto_dh.hpp"
#include "control/ike/crypto_keys.hpp"
#include "control/ike/crypto_prf.hpp"
#include "control/ike/sk_payload.hpp"
#include "control/ike/tasks.hpp"
#include "hex.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace espgw::ike;
using ike_test::hex;
using ike_test::unhex;

namespace {
std::vector<uint8_t> str(const char* s) { return std::vector<uint8_t>(s, s + std::strlen(s)); }
}  // namespace

TEST_CASE("PRF HMAC-SHA2 matches RFC 4231 test cases 1 and 2", "[ike][crypto]") {
    CHECK(hex(Prf(PRF_HMAC_SHA2_256).compute(std::vector<uint8_t>(20, 0x0b), str("Hi There"))) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(hex(Prf(PRF_HMAC_SHA2_384).compute(str("Jefe"), str("what do ya want for nothing?"))) ==
          "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649");
    CHECK(hex(Prf(PRF_HMAC_SHA2_512).compute(str("Jefe"), str("what do ya want for nothing?"))) ==
          "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fd"
          "caeab1a34d4a6b4b636e070a38bce737");
    CHECK_THROWS_AS(Prf(99), std::invalid_argument);
}

TEST_CASE("prf+ output equals an independent computation over several blocks", "[ike][crypto]") {
    std::vector<uint8_t> k(32);
    for (int i = 0; i < 32; ++i) k[i] = static_cast<uint8_t>(i);
    const auto seed = str("prf+ seed for espgw");
    CHECK(hex(Prf(PRF_HMAC_SHA2_256).plus(k, seed, 100).bytes()) ==
          "bbcd196fbd80de3b2a832feb998c6fba152803f4e19d77769fc1120e89a3b3c44a1d0316cd4706068b71290109a42fab"
          "517b7fbeb6d7e9b716a9e72f58dbd572765313d4ad901f31bc39a1def57173c8c9bc6fc1a2cadfa35e64589495719152"
          "4faf7c5c");
    CHECK(hex(Prf(PRF_HMAC_SHA2_512).plus(k, seed, 130).bytes()) ==
          "39e55bf3b3aeae6036afb591f6178ade1470f09be411b421ed6dc01658197a8e0f5ea9171e94bc2e6a3887a9a6e41825"
          "79ddfc68518640d3449b98f4aea9ec7f8140ab2385bbacd9ba5452f2809dea8bb0893d4074f1913c22cad090ca1de07a"
          "f60a5425c7e1df58fe9def8ab8cb2ff1433eef94b8fca3d0724484884240980c7ee5");
    CHECK_THROWS_AS(Prf(PRF_HMAC_SHA2_256).plus(k, seed, 255 * 32 + 1), std::length_error);
}

TEST_CASE("IKE SA keys, CHILD_SA KEYMAT and PSK AUTH equal an independent computation", "[ike][crypto]") {
    const std::vector<uint8_t> ni(32, 0x11), nr(32, 0x22), gir(64, 0x33);
    Algorithms ike{ENCR_AES_GCM_16, 256, AUTH_NONE, PRF_HMAC_SHA2_256, DhGroup::ECP_256, false};
    const IkeSaKeys k = derive_ike_sa_keys(ike, ni, nr, gir, 0x0102030405060708ull, 0x1112131415161718ull);
    CHECK(hex(k.sk_d.bytes()) == "4a44dd33d67a0054b84a57a9b258e94cb2a26b181fe43ed87fe84fcbcff66031");
    CHECK(k.sk_ai.empty());
    CHECK(hex(k.sk_ei.bytes()) == "6e7c3aca20344e9b7b965e9a0f265bfed4eeca347e5dbff6639fce4e1e848b3b7f983ff5");
    CHECK(hex(k.sk_er.bytes()) == "158e31789e7420db53f4cf7e25e808eb28b461d462047ffc799c8454631fca0b25af18a8");
    CHECK(hex(k.sk_pi.bytes()) == "bde3ffe3d7f89a479f5898e654547a6343f6659c3a47d645c3c0a33ed4486b06");
    CHECK(hex(k.sk_pr.bytes()) == "19dd3d02b5854300419b10f67b4d4e88a3147ca1381cc2d561a9811f829561da");

    Algorithms esp{ENCR_AES_CBC, 128, AUTH_HMAC_SHA2_256_128, 0, DhGroup::NONE, false};
    const ChildSaKeys c = derive_child_sa_keys(Prf(PRF_HMAC_SHA2_256), k.sk_d.bytes(), esp, ni, nr);
    CHECK(hex(c.encr_i.bytes()) == "f4f07e82219c0dc194ac7ffe1f627a7e");
    CHECK(hex(c.integ_i.bytes()) == "e6ccdaff55be32ff2ca7f10f48c547ca88106908a12900be9b513b63eebd7d9d");
    CHECK(hex(c.encr_r.bytes()) == "6570ef632a2cee9cd03ad46062ce81f3");
    CHECK(hex(c.integ_r.bytes()) == "597c11a53d13eb45df797a739eb44ae84b78b64844d087762b0083c90e6ac78e");

    std::vector<uint8_t> id = {2, 0, 0, 0};
    const auto name = str("gw.example.com");
    id.insert(id.end(), name.begin(), name.end());
    CHECK(hex(psk_auth(Prf(PRF_HMAC_SHA2_256), str("eike-test-psk"), std::vector<uint8_t>(80, 0x99), ni,
                       k.sk_pr.bytes(), id)) == "dd8191200b515ecdad6f0d1243220fe983f2654694a853b73003046e9077a3d3");
}

TEST_CASE("NAT detection hash is SHA-1 over SPIs, address and port", "[ike][crypto]") {
    CHECK(hex(natd_hash(0x0102030405060708ull, 0x1112131415161718ull, Endpoint{0x0a4d0001, 4500})) ==
          "8fbbe883e21a57fde18886a872383c62102cc66a");
}

TEST_CASE("ECP-256 agreement matches RFC 5903 section 8.1", "[ike][crypto]") {
    const auto i = unhex("c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433");
    const auto gi = unhex("dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
                          "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3");
    const auto r = unhex("c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53");
    const auto gr = unhex("d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
                          "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab");
    const DhKey ki = DhKey::from_private(DhGroup::ECP_256, i, gi);
    const DhKey kr = DhKey::from_private(DhGroup::ECP_256, r, gr);
    CHECK(hex(ki.public_value()) == hex(gi));
    auto s1 = ki.shared_secret(gr);
    auto s2 = kr.shared_secret(gi);
    REQUIRE(s1);
    REQUIRE(s2);
    CHECK(hex(s1->bytes()) == "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de");
    CHECK(hex(s2->bytes()) == hex(s1->bytes()));
    // A point not on the curve, and a wrong length, are refused.
    auto bad = gr;
    bad[63] ^= 1;
    CHECK_FALSE(ki.shared_secret(bad));
    CHECK_FALSE(ki.shared_secret(std::span(gr).first(63)));
}

TEST_CASE("X25519 agreement matches RFC 7748 section 6.1", "[ike][crypto]") {
    const DhKey a = DhKey::from_private(
        DhGroup::CURVE25519, unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"), {});
    const DhKey b = DhKey::from_private(
        DhGroup::CURVE25519, unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"), {});
    CHECK(hex(a.public_value()) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    CHECK(hex(b.public_value()) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    auto k = a.shared_secret(b.public_value());
    REQUIRE(k);
    CHECK(hex(k->bytes()) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    // RFC 8031 §2.3: an all-zero result (small-order point) is refused.
    CHECK_FALSE(a.shared_secret(std::vector<uint8_t>(32, 0)));
}

TEST_CASE("every supported group agrees on a fixed-length shared secret", "[ike][crypto]") {
    for (DhGroup g : {DhGroup::MODP_2048, DhGroup::MODP_3072, DhGroup::ECP_256, DhGroup::ECP_384, DhGroup::ECP_521,
                      DhGroup::CURVE25519}) {
        INFO("group " << static_cast<int>(g));
        const DhKey a = DhKey::generate(g), b = DhKey::generate(g);
        const auto pa = a.public_value(), pb = b.public_value();
        CHECK(pa.size() == dh_public_len(g));
        auto s1 = a.shared_secret(pb), s2 = b.shared_secret(pa);
        REQUIRE(s1);
        REQUIRE(s2);
        CHECK(hex(s1->bytes()) == hex(s2->bytes()));
    }
    // MODP: 1 and p-1 style degenerate values are refused (all-ones is >= p).
    const DhKey m = DhKey::generate(DhGroup::MODP_2048);
    std::vector<uint8_t> one(256, 0);
    one.back() = 1;
    CHECK_FALSE(m.shared_secret(one));
    CHECK_FALSE(m.shared_secret(std::vector<uint8_t>(256, 0xff)));
}

TEST_CASE("SK payload round-trips and rejects tampering for AES-GCM-16 and AES-CBC+HMAC-SHA2", "[ike][sk]") {
    const std::vector<Algorithms> algs = {
        {ENCR_AES_GCM_16, 128, AUTH_NONE, PRF_HMAC_SHA2_256, DhGroup::ECP_256, false},
        {ENCR_AES_GCM_16, 256, AUTH_NONE, PRF_HMAC_SHA2_256, DhGroup::ECP_256, false},
        {ENCR_AES_CBC, 128, AUTH_HMAC_SHA2_256_128, PRF_HMAC_SHA2_256, DhGroup::ECP_256, false},
        {ENCR_AES_CBC, 256, AUTH_HMAC_SHA2_512_256, PRF_HMAC_SHA2_512, DhGroup::ECP_256, false},
        {ENCR_AES_CBC, 256, AUTH_HMAC_SHA1_96, PRF_HMAC_SHA1, DhGroup::MODP_1024, false},  // legacy clients
        {ENCR_3DES, 192, AUTH_HMAC_SHA1_96, PRF_HMAC_SHA1, DhGroup::MODP_1024, false},     // legacy clients
    };
    for (const auto& a : algs) {
        INFO(to_string(a));
        std::vector<uint8_t> ek(encr_key_bytes(a), 0x5a), ik(integ_key_bytes(a.integ), 0xa5);
        const SkKeys keys{ek, ik};
        Header h;
        h.spi_i = 1;
        h.spi_r = 2;
        h.exchange = ExchangeType::IKE_AUTH;
        h.flags = FLAG_INITIATOR;
        h.message_id = 1;
        std::vector<Payload> inner = {{PayloadType::IDi, false, IdPayload{IdType::FQDN, {'a', 'b'}}},
                                      make_notify(NotifyType::INITIAL_CONTACT)};
        const Bytes wire = encrypt_message(h, inner, a, keys);
        Message m;
        REQUIRE(parse_message(wire, m) == ParseError::OK);
        const auto* sk = m.get<SkPayload>(PayloadType::SK);
        REQUIRE(sk);
        CHECK(sk->first_inner == PayloadType::IDi);
        std::vector<Payload> out;
        ParseError pe;
        REQUIRE(decrypt_message(wire, *sk, a, keys, out, pe) == SkError::OK);
        CHECK(pe == ParseError::OK);
        REQUIRE(out.size() == 2);
        CHECK(std::get<IdPayload>(out[0].body).data == Bytes{'a', 'b'});
        CHECK(std::get<NotifyPayload>(out[1].body).type == NotifyType::INITIAL_CONTACT);
        // Flip one bit anywhere (header, IV, ciphertext, ICV): the ICV check fails.
        for (size_t pos : {size_t{20}, size_t{33}, wire.size() / 2, wire.size() - 1}) {
            Bytes bad = wire;
            bad[pos] ^= 0x01;
            Message bm;
            if (parse_message(bad, bm) != ParseError::OK) continue;  // header bit broke the frame
            const auto* bsk = bm.get<SkPayload>(PayloadType::SK);
            if (!bsk) continue;
            std::vector<Payload> o2;
            CHECK(decrypt_message(bad, *bsk, a, keys, o2, pe) == SkError::ICV_MISMATCH);
        }
    }
}
