// MS-CHAPv2 primitives: NtPasswordHash and DesEncrypt against RFC 2759 §9.2, MD4 against
// RFC 1320 §A.5, and the UTF-8 to UTF-16LE conversion the NT hash is taken over.
#include "control/ike/ms_crypto.hpp"
#include "hex.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace espgw::ike;
using ike_test::hex;
using ike_test::unhex;

namespace {
std::string hex(const std::string& s) { return ike_test::hex({reinterpret_cast<const uint8_t*>(s.data()), s.size()}); }
}  // namespace

TEST_CASE("NtPasswordHash of RFC 2759 §9.2 'clientPass'", "[ike][mschap]") {
    REQUIRE_NOTHROW(ms_crypto_init());
    CHECK(hex(nt_password_hash("clientPass").bytes()) == "44ebba8d5312b8d611474411f56989ae");
    // HashNtPasswordHash (§8.4) of that value, per §9.2 PasswordHashHash.
    auto h = nt_password_hash("clientPass");
    CHECK(hex(md4(h.bytes())) == "41c00c584bd2d91c4017a2a12fa59f3f");
}

TEST_CASE("MD4 matches RFC 1320 §A.5", "[ike][mschap]") {
    CHECK(hex(md4({})) == "31d6cfe0d16ae931b73c59d7e0c089c0");
    const char* abc = "abc";
    CHECK(hex(md4({reinterpret_cast<const uint8_t*>(abc), 3})) == "a448017aaf21d8525fc10ae87aa6729d");
}

TEST_CASE("DesEncrypt gives RFC 2759 §9.2 ChallengeResponse", "[ike][mschap]") {
    // ChallengeResponse = DesEncrypt(ChallengeHash, ZPasswordHash[0..6]) |
    // DesEncrypt(.., [7..13]) | DesEncrypt(.., [14..15] 00 00 00 00 00) (§8.5).
    const auto challenge = unhex("d02e4386bce91226");
    auto z = unhex("44ebba8d5312b8d611474411f56989ae0000000000");
    std::string resp;
    for (int i = 0; i < 3; ++i) {
        uint8_t out[8];
        des_encrypt_block(z.data() + 7 * i, challenge.data(), out);
        resp += hex(out);
    }
    CHECK(resp == "82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df");
}

TEST_CASE("UTF-8 passwords are hashed over proper UTF-16LE", "[ike][mschap]") {
    CHECK(hex(utf8_to_utf16le("aé")) == "6100e900");
    CHECK(hex(utf8_to_utf16le("€")) == "ac20");
    CHECK(hex(utf8_to_utf16le("\xf0\x9f\x98\x80")) == "3dd800de");  // U+1F600: surrogate pair
    // The same password typed in NFC gives the hash of its UTF-16 form, not of the bytes.
    CHECK(hex(nt_password_hash("p\xc3\xa4ss").bytes()) ==
          hex(md4({reinterpret_cast<const uint8_t*>("p\0\xe4\0s\0s\0"), 8})));
    CHECK_THROWS_AS(utf8_to_utf16le("\xc0\xaf"), std::invalid_argument);        // overlong '/'
    CHECK_THROWS_AS(utf8_to_utf16le("\xed\xa0\x80"), std::invalid_argument);    // surrogate
    CHECK_THROWS_AS(utf8_to_utf16le("ab\xe2\x82"), std::invalid_argument);      // truncated
    CHECK_THROWS_AS(utf8_to_utf16le("\xff"), std::invalid_argument);            // bad lead
    CHECK_THROWS_AS(utf8_to_utf16le("\xf4\x90\x80\x80"), std::invalid_argument);  // > U+10FFFF
    CHECK_THROWS_AS(nt_password_hash("a\x80"), std::invalid_argument);
}
