// Known answers for the combined-mode suites, every vector through both engines:
// AES-GCM (McGrew & Viega, "The Galois/Counter Mode of Operation", Appendix B, the
// 96-bit-IV test cases), ChaCha20-Poly1305 (RFC 8439 §2.8.2) and AES-GMAC (RFC 4543).

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "test/vectors/vector_util.hpp"

using namespace espgw;
using namespace espgw::crypto;
using espgw::test::Bytes;
using espgw::test::hex;

namespace {

struct AeadKat {
    const char* name;
    Cipher cipher;
    Bytes key;
    Bytes nonce;  // 12 bytes: salt (4, end of the keymat) || ESP IV (8)
    Bytes aad;
    Bytes pt;
    Bytes ct;
    Bytes tag;
};

// The GCM spec's plaintext of test cases 3/4/15/16 (4 and 16 use the first 60 bytes).
const Bytes kGcmP = hex(
    "d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b391aafd255");
const Bytes kGcmK = hex("feffe9928665731c6d6a8f9467308308");
const Bytes kGcmIv = hex("cafebabefacedbaddecaf888");
const Bytes kGcmA = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
const Bytes kZero16(16, 0);
const Bytes kZero12(12, 0);

Bytes first(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + static_cast<long>(n)); }

std::vector<AeadKat> gcm_kats() {
    const Bytes c3 = hex(
        "42831ec2217774244b7221b784d0d49c e3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa05 1ba30b396a0aac973d58e091473f5985");
    const Bytes c15 = hex(
        "522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662898015ad");
    const Bytes k256 = test::cat(kGcmK, kGcmK);
    return {
        {"GCM test case 2", Cipher::aes_gcm_128, kZero16, kZero12, {}, kZero16,
         hex("0388dace60b6a392f328c2b971b2fe78"), hex("ab6e47d42cec13bdf53a67b21257bddf")},
        {"GCM test case 3", Cipher::aes_gcm_128, kGcmK, kGcmIv, {}, kGcmP, c3,
         hex("4d5c2af327cd64a62cf35abd2ba6fab4")},
        {"GCM test case 4", Cipher::aes_gcm_128, kGcmK, kGcmIv, kGcmA, first(kGcmP, 60), first(c3, 60),
         hex("5bc94fbc3221a5db94fae95ae7121a47")},
        {"GCM test case 14", Cipher::aes_gcm_256, Bytes(32, 0), kZero12, {}, kZero16,
         hex("cea7403d4d606b6e074ec5d3baf39d18"), hex("d0d1c8a799996bf0265b98b5d48ab919")},
        {"GCM test case 15", Cipher::aes_gcm_256, k256, kGcmIv, {}, kGcmP, c15,
         hex("b094dac5d93471bdec1a502270e3cc6c")},
        {"GCM test case 16", Cipher::aes_gcm_256, k256, kGcmIv, kGcmA, first(kGcmP, 60), first(c15, 60),
         hex("76fc6ece0f4e1768cddf8853bb2d551b")},
    };
}

AeadKat chacha_kat() {
    // RFC 8439 §2.8.2. In ESP terms (RFC 7634 §2) the nonce's first 4 bytes are the
    // salt from the keymat and the last 8 the IV in the packet.
    return {"RFC 8439 2.8.2", Cipher::chacha20_poly1305,
            hex("808182838485868788898a8b8c8d8e8f 909192939495969798999a9b9c9d9e9f"),
            hex("070000004041424344454647"), hex("50515253c0c1c2c3c4c5c6c7"),
            test::ascii("Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
                        "for the future, sunscreen would be it."),
            hex("d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6"
                "3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36"
                "92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc"
                "3ff4def08e4b7a9de576d26586cec64b 6116"),
            hex("1ae10b594f09e26a7e902ecbd0600691")};
}

// Encrypts, decrypts and rejects a tampered tag through `e`, expecting the vector.
template <class Engine>
void check_aead(Engine& e, const AeadKat& v) {
    Session s;
    test::make_session(s, Suite{v.cipher, Integ::none}, test::cat(v.key, first(v.nonce, 4)), {});
    uint8_t iv[8];
    std::memcpy(iv, v.nonce.data() + 4, 8);
    const uint8_t no_aad = 0;  // a valid pointer for empty AAD

    Bytes buf = v.pt;
    Bytes icv(16, 0);
    Op op{};
    op.session = &s;
    op.iv = iv;
    op.aad = v.aad.empty() ? &no_aad : v.aad.data();
    op.aad_len = static_cast<uint32_t>(v.aad.size());
    op.data = buf.empty() ? nullptr : buf.data();
    op.data_len = static_cast<uint32_t>(buf.size());
    op.icv = icv.data();
    REQUIRE(test::run_one(e, op, true) == OpStatus::ok);
    CHECK(buf == v.ct);
    CHECK(icv == v.tag);

    buf = v.ct;
    icv = v.tag;
    op.data = buf.empty() ? nullptr : buf.data();
    REQUIRE(test::run_one(e, op, false) == OpStatus::ok);
    CHECK(buf == v.pt);

    buf = v.ct;
    icv[15] ^= 0x01;
    CHECK(test::run_one(e, op, false) == OpStatus::auth_failed);
    if (!v.aad.empty()) {  // the AAD is authenticated too
        Bytes aad = v.aad;
        aad[0] ^= 0x80;
        icv = v.tag;
        buf = v.ct;
        op.aad = aad.data();
        CHECK(test::run_one(e, op, false) == OpStatus::auth_failed);
    }
}

template <class Fn>
void both_engines(Fn fn) {
    MbEngine mb;
    OsslEngine ossl;
    {
        INFO("engine: intel-ipsec-mb " << mb.arch_name());
        fn(mb);
    }
    {
        INFO("engine: OpenSSL");
        fn(ossl);
    }
}

}  // namespace

TEST_CASE("AES-GCM matches the GCM spec test cases 2-4 and 14-16 on both engines", "[kat][gcm]") {
    for (const auto& v : gcm_kats()) {
        INFO(v.name);
        both_engines([&](auto& e) { check_aead(e, v); });
    }
}

TEST_CASE("ChaCha20-Poly1305 matches RFC 8439 2.8.2 on both engines", "[kat][chacha]") {
    const AeadKat v = chacha_kat();
    both_engines([&](auto& e) { check_aead(e, v); });
}

TEST_CASE("AES-GMAC of empty input matches GCM spec test cases 1 and 13 on both engines", "[kat][gmac]") {
    // No published RFC 4543 ESP vector was at hand. GMAC is GCM with everything in the
    // AAD and no plaintext (RFC 4543 §3), so GCM test cases 1 (AES-128) and 13
    // (AES-256) — zero key, zero nonce, no AAD, no plaintext — give GMAC known answers.
    const std::vector<AeadKat> kats{
        {"GCM test case 1", Cipher::aes_gmac_128, kZero16, kZero12, {}, {}, {},
         hex("58e2fccefa7e3061367f1d57a4e7455a")},
        {"GCM test case 13", Cipher::aes_gmac_256, Bytes(32, 0), kZero12, {}, {}, {},
         hex("530f8afbc74536b9a963b4f1c4cb738b")},
    };
    for (const auto& v : kats) {
        INFO(v.name);
        both_engines([&](auto& e) { check_aead(e, v); });
    }
}

TEST_CASE("AES-GMAC over an ESP packet equals the GCM tag with empty plaintext (OpenSSL EVP)",
          "[kat][gmac]") {
    // RFC 4543 §3.3: the AAD is SPI || seq || IV || payload || trailer. The reference is
    // computed with EVP AES-GCM directly, not through OsslEngine.
    const Bytes key128 = hex("feffe9928665731c6d6a8f9467308308");
    const Bytes salt = hex("cafebabe");
    const Bytes iv = hex("facedbaddecaf888");
    const Bytes aad = test::cat(hex("0000a5f8 0000000a facedbaddecaf888"),
                                test::cat(kGcmP, hex("01020202 0204 11")));
    for (const Cipher c : {Cipher::aes_gmac_128, Cipher::aes_gmac_256}) {
        const Bytes key = c == Cipher::aes_gmac_128 ? key128 : test::cat(key128, key128);
        const Bytes nonce = test::cat(salt, iv);
        const Bytes want = test::ref_gmac(key, nonce.data(), aad);
        AeadKat v{"GMAC over an ESP packet", c, key, nonce, aad, {}, {}, want};
        both_engines([&](auto& e) { check_aead(e, v); });
    }
}
