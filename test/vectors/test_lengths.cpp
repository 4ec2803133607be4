// Lengths that are invalid for a suite are refused by both engines with
// OpStatus::error and nothing written (crypto/op.hpp), so a malformed packet can
// never make the two engines disagree or leave a half-written IV behind.

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "test/vectors/vector_util.hpp"

using namespace espgw;
using namespace espgw::crypto;
using espgw::test::Bytes;

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

void session_for(Session& s, Suite suite) {
    const auto info = suite_info(suite);
    REQUIRE(info);
    test::make_session(s, suite, Bytes(info->enc_key_bytes + info->salt_bytes, 0x11),
                       Bytes(info->auth_key_bytes, 0x22));
}

}  // namespace

TEST_CASE("AES-CBC with an empty or partial-block payload is an error on both engines, IV untouched",
          "[lengths][cbc]") {
    for (const Cipher c : {Cipher::aes_cbc_128, Cipher::aes_cbc_256}) {
        Session s;
        session_for(s, Suite{c, Integ::hmac_sha256_128});
        for (const uint32_t len : {0u, 1u, 15u, 17u, 1000u}) {
            INFO("cipher " << cipher_name(c) << " data_len " << len);
            both_engines([&](auto& e) {
                Bytes buf(8 + 16 + len + 16, 0xa5);
                const Bytes before = buf;
                Op op{};
                op.session = &s;
                op.iv = buf.data() + 8;
                op.iv_seed = 1;
                op.data = buf.data() + 24;
                op.data_len = len;
                op.auth = buf.data();
                op.auth_len = 24 + len;
                op.icv = buf.data() + 24 + len;
                CHECK(test::run_one(e, op, true) == OpStatus::error);
                CHECK(buf == before);
                Bytes icv(16, 0);
                op.icv = icv.data();
                CHECK(test::run_one(e, op, false) == OpStatus::error);
                CHECK(buf == before);
            });
        }
    }
}

TEST_CASE("AES-GMAC with a payload to encipher is an error on both engines (RFC 4543: integrity only)",
          "[lengths][gmac]") {
    for (const Cipher c : {Cipher::aes_gmac_128, Cipher::aes_gmac_256}) {
        INFO(cipher_name(c));
        Session s;
        session_for(s, Suite{c, Integ::none});
        both_engines([&](auto& e) {
            Bytes buf(8 + 8 + 32 + 16, 0x5a);
            const Bytes before = buf;
            Op op{};
            op.session = &s;
            op.iv = buf.data() + 8;
            op.aad = buf.data();
            op.aad_len = 16;
            op.data = buf.data() + 16;
            op.data_len = 32;
            op.icv = buf.data() + 48;
            CHECK(test::run_one(e, op, true) == OpStatus::error);
            CHECK(buf == before);
        });
    }
}

TEST_CASE("NULL encryption with every HMAC gives the same ICV on both engines, also with the ICV "
          "written over the ESN bytes it covers",
          "[lengths][null]") {
    // RFC 4303 §3.3.2.1: with ESN the high sequence bits are hashed after the payload,
    // where the ICV then goes; the engine must hash before it writes.
    for (const Integ i : {Integ::hmac_sha1_96, Integ::hmac_sha256_128, Integ::hmac_sha512_256}) {
        INFO(integ_name(i));
        Session s;
        session_for(s, Suite{Cipher::null, i});
        for (const uint32_t len : {0u, 1u, 63u, 64u, 1500u}) {
            Bytes pkt(8 + len + 32);
            for (size_t k = 0; k < pkt.size(); ++k) pkt[k] = static_cast<uint8_t>(k * 7 + 3);
            const uint32_t auth_len = 8 + len + 4;  // header, payload, seq_hi in the ICV slot
            const Bytes want =
                test::ref_hmac(i == Integ::hmac_sha1_96 ? EVP_sha1()
                               : i == Integ::hmac_sha256_128 ? EVP_sha256() : EVP_sha512(),
                               Bytes(s.auth_key, s.auth_key + s.info.auth_key_bytes), pkt.data(), auth_len);
            both_engines([&](auto& e) {
                Bytes buf = pkt;
                Op op{};
                op.session = &s;
                op.data = buf.data() + 8;
                op.data_len = len;
                op.auth = buf.data();
                op.auth_len = auth_len;
                op.icv = buf.data() + 8 + len;
                REQUIRE(test::run_one(e, op, true) == OpStatus::ok);
                CHECK(Bytes(op.icv, op.icv + s.info.icv_bytes) == Bytes(want.begin(), want.begin() + s.info.icv_bytes));
                CHECK(Bytes(buf.begin(), buf.begin() + 8 + len) == Bytes(pkt.begin(), pkt.begin() + 8 + len));
            });
        }
    }
}
