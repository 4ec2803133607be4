// Known answers for the non-combined suites through both engines: AES-CBC (RFC 3602
// §4 cases #1-#4), HMAC-SHA-256/512 (RFC 4231 cases 1, 2, 4, truncated as RFC 4868
// §2.3 uses them) and HMAC-SHA-1 (RFC 2202 cases 1-3, truncated to 96 bits, RFC 2404).

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "crypto/cbc_iv.hpp"
#include "test/vectors/vector_util.hpp"

using namespace espgw;
using namespace espgw::crypto;
using espgw::test::Bytes;
using espgw::test::hex;

namespace {

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

struct CbcKat {
    const char* name;
    Bytes key, iv, pt, ct;
};

std::vector<CbcKat> rfc3602_kats() {
    Bytes pt2(32), pt4(64);
    for (size_t i = 0; i < pt2.size(); ++i) pt2[i] = static_cast<uint8_t>(i);
    for (size_t i = 0; i < pt4.size(); ++i) pt4[i] = static_cast<uint8_t>(0xa0 + i);
    return {
        {"RFC 3602 case #1", hex("06a9214036b8a15b512e03d534120006"), hex("3dafba429d9eb430b422da802c9fac41"),
         test::ascii("Single block msg"), hex("e353779c1079aeb82708942dbe77181a")},
        {"RFC 3602 case #2", hex("c286696d887c9aa0611bbb3e2025a45a"), hex("562e17996d093d28ddb3ba695a2e6f58"),
         pt2, hex("d296cd94c2cccf8a3a863028b5e1dc0a 7586602d253cfff91b8266bea6d61ab1")},
        {"RFC 3602 case #3", hex("6c3ea0477630ce21a2ce334aa746c2cd"), hex("c782dc4c098c66cbd9cd27d825682c81"),
         test::ascii("This is a 48-byte message (exactly 3 AES blocks)"),
         hex("d0a02b3836451753d493665d33f0e886 2dea54cdb293abc7506939276772f8d5"
             "021c19216bad525c8579695d83ba2684")},
        {"RFC 3602 case #4", hex("56e47a38c5598974bc46903dba290349"), hex("8ce82eefbea0da3c44699ed7db51b7d9"),
         pt4,
         hex("c30e32ffedc0774e6aff6af0869f71aa 0f3af07a9a31a9c684db207eb0ef8e4e"
             "35907aa632c3ffdf868bb7b29d3d46ad 83ce9f9a102ee99d49a53e87f4c3da55")},
    };
}

// An ESP-shaped buffer for CBC + HMAC-SHA-256-128: IV || ciphertext, then the ICV.
// The ICV covers IV || ciphertext (the header is left out: these are cipher vectors).
struct CbcPacket {
    Bytes buf;
    Op op{};
    CbcPacket(const Session& s, size_t data_len) : buf(16 + data_len + 16, 0) {
        op.session = &s;
        op.iv = buf.data();
        op.data = buf.data() + 16;
        op.data_len = static_cast<uint32_t>(data_len);
        op.auth = buf.data();
        op.auth_len = static_cast<uint32_t>(16 + data_len);
        op.icv = buf.data() + 16 + data_len;
    }
};

const Bytes kCbcAuthKey = hex("000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f");

}  // namespace

TEST_CASE("AES-CBC decrypts the RFC 3602 vectors with their IVs on both engines", "[kat][cbc]") {
    for (const auto& v : rfc3602_kats()) {
        INFO(v.name);
        Session s;
        test::make_session(s, Suite{Cipher::aes_cbc_128, Integ::hmac_sha256_128}, v.key, kCbcAuthKey);
        both_engines([&](auto& e) {
            CbcPacket p(s, v.ct.size());
            std::memcpy(p.op.iv, v.iv.data(), 16);
            std::memcpy(p.op.data, v.ct.data(), v.ct.size());
            const Bytes mac = test::ref_hmac(EVP_sha256(), kCbcAuthKey, p.buf.data(), 16 + v.ct.size());
            Bytes icv(mac.begin(), mac.begin() + 16);  // decrypt: ICV must not overlap auth
            p.op.icv = icv.data();
            REQUIRE(test::run_one(e, p.op, false) == OpStatus::ok);
            CHECK(Bytes(p.op.data, p.op.data + v.pt.size()) == v.pt);

            // A flipped ciphertext bit fails the ICV (RFC 4303 §3.4.4: checked first).
            std::memcpy(p.op.data, v.ct.data(), v.ct.size());
            p.op.data[0] ^= 0x01;
            CHECK(test::run_one(e, p.op, false) == OpStatus::auth_failed);
        });
    }
}

TEST_CASE("AES-CBC encryption writes E_K(0^64 || be64(seed)) as IV, the CBC of the RFC 3602 "
          "plaintexts and HMAC(IV || ciphertext)",
          "[kat][cbc]") {
    const uint64_t seeds[] = {0, 1, 0x0102030405060708ULL, ~0ULL};
    for (const auto& v : rfc3602_kats()) {
        INFO(v.name);
        for (const Cipher c : {Cipher::aes_cbc_128, Cipher::aes_cbc_256}) {
            const Bytes key = c == Cipher::aes_cbc_128 ? v.key : test::cat(v.key, v.key);
            Session s;
            test::make_session(s, Suite{c, Integ::hmac_sha256_128}, key, kCbcAuthKey);
            for (const uint64_t seed : seeds) {
                INFO("seed " << seed << " key bytes " << key.size());
                // NIST SP 800-38A App. C: the IV is the forward cipher of the nonce block.
                uint8_t block[16];
                cbc_iv_block(seed, block);
                for (int i = 0; i < 8; ++i) REQUIRE(block[i] == 0);
                for (int i = 0; i < 8; ++i) REQUIRE(block[8 + i] == static_cast<uint8_t>(seed >> (56 - 8 * i)));
                const Bytes want_iv = test::ref_aes_ecb_block(key, block);
                both_engines([&](auto& e) {
                    CbcPacket p(s, v.pt.size());
                    p.op.iv_seed = seed;
                    std::memcpy(p.op.data, v.pt.data(), v.pt.size());
                    REQUIRE(test::run_one(e, p.op, true) == OpStatus::ok);
                    CHECK(Bytes(p.op.iv, p.op.iv + 16) == want_iv);
                    const Bytes mac = test::ref_hmac(EVP_sha256(), kCbcAuthKey, p.buf.data(), p.op.auth_len);
                    CHECK(Bytes(p.op.icv, p.op.icv + 16) == Bytes(mac.begin(), mac.begin() + 16));
                    if (key.size() == 16 && seed == 0) {
                        // Decrypting with the RFC's own key recovers the RFC plaintext.
                        Bytes icv(p.op.icv, p.op.icv + 16);
                        p.op.icv = icv.data();
                        REQUIRE(test::run_one(e, p.op, false) == OpStatus::ok);
                        CHECK(Bytes(p.op.data, p.op.data + v.pt.size()) == v.pt);
                    }
                });
                // The ciphertext is plain AES-CBC under the derived IV: OpenSSL's raw
                // AES-CBC decrypts the data-path engine's output to the plaintext.
                CbcPacket p(s, v.pt.size());
                p.op.iv_seed = seed;
                std::memcpy(p.op.data, v.pt.data(), v.pt.size());
                MbEngine mb;
                REQUIRE(test::run_one(mb, p.op, true) == OpStatus::ok);
                EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
                Bytes out(v.pt.size() + 16);
                int n = 0;
                REQUIRE(EVP_DecryptInit_ex(ctx, key.size() == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc(), nullptr,
                                           key.data(), p.op.iv) == 1);
                EVP_CIPHER_CTX_set_padding(ctx, 0);
                REQUIRE(EVP_DecryptUpdate(ctx, out.data(), &n, p.op.data, static_cast<int>(v.pt.size())) == 1);
                EVP_CIPHER_CTX_free(ctx);
                out.resize(static_cast<size_t>(n));
                CHECK(out == v.pt);
            }
        }
    }
}

namespace {

struct HmacKat {
    const char* name;
    Integ integ;
    Bytes key;
    Bytes msg;
    Bytes mac;  // the full RFC output; the ICV is its first icv_bytes
};

std::vector<HmacKat> hmac_kats() {
    const Bytes k1(20, 0x0b), jefe = test::ascii("Jefe"), k3(20, 0xaa);
    const Bytes hi = test::ascii("Hi There"), what = test::ascii("what do ya want for nothing?");
    const Bytes d3(50, 0xdd), d4(50, 0xcd);
    const Bytes k4 = hex("0102030405060708090a0b0c0d0e0f10111213141516171819");
    return {
        {"RFC 2202 SHA-1 case 1", Integ::hmac_sha1_96, k1, hi, hex("b617318655057264e28bc0b6fb378c8ef146be00")},
        {"RFC 2202 SHA-1 case 2", Integ::hmac_sha1_96, jefe, what, hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")},
        {"RFC 2202 SHA-1 case 3", Integ::hmac_sha1_96, k3, d3, hex("125d7342b9ac11cd91a39af48aa17b4f63f175d3")},
        {"RFC 4231 SHA-256 case 1", Integ::hmac_sha256_128, k1, hi,
         hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")},
        {"RFC 4231 SHA-256 case 2", Integ::hmac_sha256_128, jefe, what,
         hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")},
        {"RFC 4231 SHA-256 case 4", Integ::hmac_sha256_128, k4, d4,
         hex("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")},
        {"RFC 4231 SHA-512 case 1", Integ::hmac_sha512_256, k1, hi,
         hex("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
             "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")},
        {"RFC 4231 SHA-512 case 2", Integ::hmac_sha512_256, jefe, what,
         hex("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
             "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")},
        {"RFC 4231 SHA-512 case 4", Integ::hmac_sha512_256, k4, d4,
         hex("b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
             "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd")},
    };
}

}  // namespace

TEST_CASE("HMAC-SHA-1-96, SHA-256-128 and SHA-512-256 match RFC 2202 / RFC 4231 through NULL "
          "encryption on both engines",
          "[kat][hmac]") {
    for (const auto& v : hmac_kats()) {
        INFO(v.name);
        const auto info = suite_info(Suite{Cipher::null, v.integ});
        REQUIRE(info);
        // ESP fixes the key length (RFC 4868 §2.1.1); the RFC keys are shorter. RFC 2104
        // pads every key shorter than the hash block with zeros, so the zero-padded key
        // gives the same HMAC.
        Bytes key = v.key;
        REQUIRE(key.size() <= info->auth_key_bytes);
        key.resize(info->auth_key_bytes, 0);
        Session s;
        test::make_session(s, Suite{Cipher::null, v.integ}, {}, key);
        const Bytes want(v.mac.begin(), v.mac.begin() + info->icv_bytes);
        both_engines([&](auto& e) {
            Bytes msg = v.msg;
            Bytes icv(info->icv_bytes, 0);
            Op op{};
            op.session = &s;
            op.auth = msg.data();
            op.auth_len = static_cast<uint32_t>(msg.size());
            op.icv = icv.data();
            REQUIRE(test::run_one(e, op, true) == OpStatus::ok);
            CHECK(icv == want);
            CHECK(msg == v.msg);
            REQUIRE(test::run_one(e, op, false) == OpStatus::ok);
            icv.back() ^= 0x80;
            CHECK(test::run_one(e, op, false) == OpStatus::auth_failed);
            icv.back() ^= 0x80;
            msg[0] ^= 0x01;
            CHECK(test::run_one(e, op, false) == OpStatus::auth_failed);
        });
    }
}

TEST_CASE("CBC data empty or not a multiple of the block size is an error on both engines and nothing is "
          "written",
          "[cbc][error]") {
    Session s;
    test::make_session(s, Suite{Cipher::aes_cbc_128, Integ::hmac_sha256_128}, Bytes(16, 3), kCbcAuthKey);
    for (const size_t len : {size_t{0}, size_t{1}, size_t{15}, size_t{17}, size_t{100}}) {
        INFO("data_len " << len);
        both_engines([&](auto& e) {
            for (const bool enc : {true, false}) {
                CbcPacket p(s, len);
                std::fill(p.buf.begin(), p.buf.end(), uint8_t{0x5a});
                const Bytes before = p.buf;
                CHECK(test::run_one(e, p.op, enc) == OpStatus::error);
                CHECK(p.buf == before);
            }
        });
    }
}

TEST_CASE("Ops whose regions break the Op contract are an error on both engines and nothing is "
          "written",
          "[error]") {
    Session cbc, gmac, gcm;
    test::make_session(cbc, Suite{Cipher::aes_cbc_256, Integ::hmac_sha1_96}, Bytes(32, 3), Bytes(20, 4));
    test::make_session(gmac, Suite{Cipher::aes_gmac_128, Integ::none}, Bytes(20, 5), {});
    test::make_session(gcm, Suite{Cipher::aes_gcm_128, Integ::none}, Bytes(20, 6), {});
    struct Bad {
        const char* what;
        void (*mutate)(Op&, const Session&, const Session&, const Session&);
    };
    const Bad bad[] = {
        {"CBC data starts before the hashed region",
         [](Op& op, const Session& c, const Session&, const Session&) {
             op.session = &c;
             op.auth = op.data + 16;
             op.auth_len = 32;
         }},
        {"CBC data ends after the hashed region",
         [](Op& op, const Session& c, const Session&, const Session&) {
             op.session = &c;
             op.auth_len = 16 + 16;  // IV and one of the two blocks
         }},
        {"HMAC without an ICV pointer",
         [](Op& op, const Session& c, const Session&, const Session&) {
             op.session = &c;
             op.icv = nullptr;
         }},
        {"GMAC with data to encipher",
         [](Op& op, const Session&, const Session& g, const Session&) { op.session = &g; }},
        {"GCM without an IV", [](Op& op, const Session&, const Session&, const Session& g) {
             op.session = &g;
             op.iv = nullptr;
         }},
    };
    for (const auto& b : bad) {
        INFO(b.what);
        both_engines([&](auto& e) {
            for (const bool enc : {true, false}) {
                INFO((enc ? "encrypt" : "decrypt"));
                Bytes buf(16 + 32 + 32, 0x5a);  // IV || 2 blocks || ICV room
                const Bytes before = buf;
                const uint8_t aad[8] = {1, 2, 3, 4, 5, 6, 7, 8};
                Op op{};
                op.iv = buf.data();
                op.data = buf.data() + 16;
                op.data_len = 32;
                op.auth = buf.data();
                op.auth_len = 48;
                op.aad = aad;
                op.aad_len = 8;
                op.icv = buf.data() + 48;
                b.mutate(op, cbc, gmac, gcm);
                CHECK(test::run_one(e, op, enc) == OpStatus::error);
                CHECK(buf == before);
            }
        });
    }
}
