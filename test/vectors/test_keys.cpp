// Key handling on the control path: SecretBytes (move-only, hex parsing, constant-time
// compare) and session_init's refusals.

#include <catch2/catch.hpp>

#include <cstring>
#include <stdexcept>
#include <string>

#include "crypto/secret.hpp"
#include "crypto/session.hpp"
#include "test/vectors/vector_util.hpp"

using namespace espgw::crypto;
using espgw::test::Bytes;

namespace {
Bytes to_bytes(const SecretBytes& s) { return Bytes(s.bytes().begin(), s.bytes().end()); }
}  // namespace

TEST_CASE("SecretBytes move leaves the source empty", "[secret]") {
    SecretBytes a = SecretBytes::from_hex("0102030405");
    REQUIRE(a.size() == 5);
    SecretBytes b(std::move(a));
    CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the behaviour under test
    CHECK(a.bytes().data() == nullptr);
    CHECK(to_bytes(b) == Bytes{1, 2, 3, 4, 5});

    SecretBytes c(3);
    CHECK(to_bytes(c) == Bytes{0, 0, 0});
    c = std::move(b);
    CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
    CHECK(b.size() == 0);
    CHECK(to_bytes(c) == Bytes{1, 2, 3, 4, 5});

    const Bytes src{9, 8, 7};
    SecretBytes d{std::span<const uint8_t>(src)};
    CHECK(to_bytes(d) == src);
}

TEST_CASE("SecretBytes::from_hex accepts 0x prefix, colons and both cases", "[secret]") {
    CHECK(to_bytes(SecretBytes::from_hex("00ff10Ab")) == Bytes{0x00, 0xff, 0x10, 0xab});
    CHECK(to_bytes(SecretBytes::from_hex("0x00ff10Ab")) == Bytes{0x00, 0xff, 0x10, 0xab});
    CHECK(to_bytes(SecretBytes::from_hex("0X0a")) == Bytes{0x0a});
    CHECK(to_bytes(SecretBytes::from_hex("de:ad:BE:ef")) == Bytes{0xde, 0xad, 0xbe, 0xef});
    CHECK(SecretBytes::from_hex("").empty());
}

TEST_CASE("SecretBytes::from_hex rejects odd length and non-hex without echoing the key", "[secret]") {
    CHECK_THROWS_AS(SecretBytes::from_hex("abc"), std::invalid_argument);
    CHECK_THROWS_AS(SecretBytes::from_hex("0x1"), std::invalid_argument);
    CHECK_THROWS_AS(SecretBytes::from_hex("ab:c"), std::invalid_argument);
    CHECK_THROWS_AS(SecretBytes::from_hex("zz"), std::invalid_argument);
    CHECK_THROWS_AS(SecretBytes::from_hex("12g4"), std::invalid_argument);
    CHECK_THROWS_AS(SecretBytes::from_hex("0x12-34"), std::invalid_argument);
    try {
        (void)SecretBytes::from_hex("c0ffee5ecre7");
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("c0ffee") == std::string::npos);
    }
}

TEST_CASE("ct_equal tells equal from unequal buffers", "[secret]") {
    const uint8_t a[] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t b[] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(ct_equal(a, b, sizeof a));
    CHECK(ct_equal(a, b, 0));
    b[7] ^= 0x01;
    CHECK_FALSE(ct_equal(a, b, sizeof a));
    CHECK(ct_equal(a, b, 7));
    b[7] ^= 0x01;
    b[0] ^= 0x80;
    CHECK_FALSE(ct_equal(a, b, sizeof a));
}

namespace {

bool all_zero(const Session& s) {
    const auto* p = reinterpret_cast<const uint8_t*>(&s);
    for (size_t i = 0; i < sizeof s; ++i)
        if (p[i] != 0) return false;
    return true;
}

// Runs session_init on a session full of garbage; expects refusal, a reason and a
// wiped session.
void expect_refused(Suite suite, const Bytes& enc, const Bytes& auth, const char* what_in_reason) {
    Session s;
    std::memset(static_cast<void*>(&s), 0xa5, sizeof s);
    std::string err;
    CHECK_FALSE(session_init(s, suite, enc, auth, &err));
    CHECK_FALSE(err.empty());
    CHECK(err.find(what_in_reason) != std::string::npos);
    CHECK(all_zero(s));
    CHECK_FALSE(session_init(s, suite, enc, auth, nullptr));  // no reason wanted: still refused
}

}  // namespace

TEST_CASE("session_init refuses wrong key lengths with a reason and a wiped session", "[session]") {
    const Bytes k16(16, 1), k20(20, 1), k32(32, 1), k36(36, 1), k64(64, 1);
    INFO("GCM keymat without its salt");
    expect_refused({Cipher::aes_gcm_128, Integ::none}, k16, {}, "encryption key");
    expect_refused({Cipher::aes_gcm_256, Integ::none}, k32, {}, "encryption key");
    expect_refused({Cipher::aes_gcm_128, Integ::none}, k36, {}, "encryption key");
    expect_refused({Cipher::chacha20_poly1305, Integ::none}, k32, {}, "encryption key");
    expect_refused({Cipher::aes_gmac_256, Integ::none}, Bytes(35, 1), {}, "encryption key");
    expect_refused({Cipher::aes_cbc_128, Integ::hmac_sha256_128}, k20, k32, "encryption key");
    expect_refused({Cipher::aes_cbc_256, Integ::hmac_sha256_128}, k16, k32, "encryption key");
    expect_refused({Cipher::aes_cbc_128, Integ::hmac_sha1_96}, k16, k16, "integrity key");
    expect_refused({Cipher::aes_cbc_128, Integ::hmac_sha256_128}, k16, k20, "integrity key");
    expect_refused({Cipher::aes_cbc_128, Integ::hmac_sha512_256}, k16, k32, "integrity key");
    expect_refused({Cipher::aes_gcm_128, Integ::none}, Bytes(20, 1), k32, "integrity key");
    expect_refused({Cipher::null, Integ::hmac_sha256_128}, k16, k32, "encryption key");
}

TEST_CASE("session_init refuses suites that are not valid ESP combinations", "[session]") {
    const Bytes k20(20, 1), k32(32, 1);
    expect_refused({Cipher::aes_gcm_128, Integ::hmac_sha256_128}, k20, k32, "combination");
    expect_refused({Cipher::chacha20_poly1305, Integ::hmac_sha1_96}, Bytes(36, 1), k20, "combination");
    expect_refused({Cipher::aes_gmac_128, Integ::hmac_sha256_128}, k20, k32, "combination");
    expect_refused({Cipher::aes_cbc_128, Integ::none}, Bytes(16, 1), {}, "combination");
    expect_refused({Cipher::null, Integ::none}, {}, {}, "combination");
    expect_refused({static_cast<Cipher>(200), Integ::none}, {}, {}, "combination");
    expect_refused({Cipher::aes_cbc_128, static_cast<Integ>(200)}, Bytes(16, 1), {}, "combination");
}

TEST_CASE("session_init accepts every suite with the right lengths", "[session]") {
    for (const Cipher c : {Cipher::aes_gcm_128, Cipher::aes_gcm_256, Cipher::chacha20_poly1305,
                           Cipher::aes_gmac_128, Cipher::aes_gmac_256}) {
        const auto info = suite_info({c, Integ::none});
        REQUIRE(info);
        Session s;
        std::string err;
        CHECK(session_init(s, {c, Integ::none}, Bytes(info->enc_key_bytes + 4u, 7), {}, &err));
        CHECK(err.empty());
    }
    for (const Cipher c : {Cipher::null, Cipher::aes_cbc_128, Cipher::aes_cbc_256})
        for (const Integ i : {Integ::hmac_sha1_96, Integ::hmac_sha256_128, Integ::hmac_sha512_256}) {
            const auto info = suite_info({c, i});
            REQUIRE(info);
            Session s;
            std::string err;
            CHECK(session_init(s, {c, i}, Bytes(info->enc_key_bytes, 7), Bytes(info->auth_key_bytes, 9), &err));
            CHECK(s.suite == Suite{c, i});
        }
}
