// IKEv2 key derivation against a NIST CAVP IKEv2 KDF (SP 800-135) sample vector:
// HMAC-SHA-1, 64-bit nonces, 1056-bit DKM. Every derivation espgw-ike uses is checked
// against the published values: SKEYSEED (§2.14), the IKE SA's keys (prf+ with
// Ni|Nr|SPIi|SPIr), CHILD_SA KEYMAT without and with PFS (§2.17), and the SKEYSEED of a
// rekeyed IKE SA (§2.18).
#include "control/ike/crypto_keys.hpp"
#include "control/ike/crypto_prf.hpp"
#include "hex.hpp"

#include <catch2/catch.hpp>

using namespace espgw::ike;
using ike_test::hex;
using ike_test::unhex;

namespace {

// CAVP IKEv2 KDF, [SHA-1], [Ni length = 64], [Nr length = 64], [g^ir length = 256],
// [DKM length = 1056], [Child SA DKM length = 1056].
constexpr const char* kGir = "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52";
constexpr const char* kGirNew = "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330";
constexpr const char* kNi = "32b50d5f4a3763f3";
constexpr const char* kNr = "9206a04b26564cb1";
constexpr uint64_t kSpiI = 0x34c9e7c188868785ull;
constexpr uint64_t kSpiR = 0x3ff77d760d2b2199ull;
constexpr const char* kSkeyseed = "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7";
constexpr const char* kDkm =
    "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002a2a63080e514a062768b76606f9fa5e992204fc5a670bde3"
    "f10d6b027113936a5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd11198af1670b143d384bd275c5f594cf266b"
    "05ebadca855e4249520a441a81157435a7a56cc4";
constexpr const char* kDkmChild =
    "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c5811a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0d"
    "c9abd94b51ee71814ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf285f524aea6545b33106bc03e614296d"
    "319d41d4b50b3f510b1c0a22f3e664994d234cb4";
constexpr const char* kDkmChildDh =
    "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d37301628190e38c66232eab4b3ab14c400a5197dd3730ed4820a8a"
    "10394d51e1c0400052f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a05884d1b7d2f933708450b7b3288f1fc"
    "863ab49fa901227cffc06e27899c7054d56fd74c";
constexpr const char* kSkeyseedRekey = "63e81194946ebd05df7df5ebf5d8750056bf1f1d";

std::vector<uint8_t> cat(std::initializer_list<std::span<const uint8_t>> parts) {
    std::vector<uint8_t> out;
    for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

}  // namespace

TEST_CASE("IKEv2 KDF: NIST CAVP vector (HMAC-SHA-1): SKEYSEED, DKM, CHILD_SA KEYMAT, rekey SKEYSEED", "[ike][crypto][cavp]") {
    const auto gir = unhex(kGir), gir_new = unhex(kGirNew), ni = unhex(kNi), nr = unhex(kNr);
    const Prf prf(PRF_HMAC_SHA1);
    // §2.14: SKEYSEED = prf(Ni | Nr, g^ir).
    const auto skeyseed = prf.compute(cat({ni, nr}), gir);
    CHECK(hex(skeyseed) == kSkeyseed);

    // The seven IKE SA keys are the DKM in order: with HMAC-SHA-1 for PRF and integrity
    // and AES-128-CBC, 20 + 2*20 + 2*16 + 2*20 = 132 bytes = the vector's 1056 bits.
    Algorithms ike{ENCR_AES_CBC, 128, AUTH_HMAC_SHA1_96, PRF_HMAC_SHA1, DhGroup::MODP_2048, false};
    const IkeSaKeys k = derive_ike_sa_keys(ike, ni, nr, gir, kSpiI, kSpiR);
    const auto dkm = cat({k.sk_d.bytes(), k.sk_ai.bytes(), k.sk_ar.bytes(), k.sk_ei.bytes(), k.sk_er.bytes(),
                          k.sk_pi.bytes(), k.sk_pr.bytes()});
    CHECK(hex(dkm) == kDkm);

    // §2.17: KEYMAT = prf+(SK_d, Ni | Nr), and with PFS prf+(SK_d, g^ir (new) | Ni | Nr).
    // ESP AES-128-CBC + HMAC-SHA-1-96 takes the first 72 bytes.
    Algorithms esp{ENCR_AES_CBC, 128, AUTH_HMAC_SHA1_96, 0, DhGroup::NONE, false};
    const ChildSaKeys c = derive_child_sa_keys(prf, k.sk_d.bytes(), esp, ni, nr);
    const auto km = cat({c.encr_i.bytes(), c.integ_i.bytes(), c.encr_r.bytes(), c.integ_r.bytes()});
    CHECK(hex(km) == std::string(kDkmChild).substr(0, 2 * km.size()));
    const ChildSaKeys cd = derive_child_sa_keys(prf, k.sk_d.bytes(), esp, ni, nr, gir_new);
    const auto kmd = cat({cd.encr_i.bytes(), cd.integ_i.bytes(), cd.encr_r.bytes(), cd.integ_r.bytes()});
    CHECK(hex(kmd) == std::string(kDkmChildDh).substr(0, 2 * kmd.size()));
    // The whole 1056-bit child DKMs straight from prf+.
    CHECK(hex(prf.plus(k.sk_d.bytes(), cat({ni, nr}), 132).bytes()) == kDkmChild);
    CHECK(hex(prf.plus(k.sk_d.bytes(), cat({gir_new, ni, nr}), 132).bytes()) == kDkmChildDh);

    // §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr); the rekeyed SA's keys are
    // prf+ of it over Ni | Nr | SPIi | SPIr.
    const auto rekey_seed = prf.compute(k.sk_d.bytes(), cat({gir_new, ni, nr}));
    CHECK(hex(rekey_seed) == kSkeyseedRekey);
    const IkeSaKeys r = derive_rekeyed_ike_sa_keys(ike, k.sk_d.bytes(), gir_new, ni, nr, kSpiI, kSpiR);
    std::vector<uint8_t> spis(16);
    for (int i = 0; i < 8; ++i) {
        spis[static_cast<size_t>(i)] = static_cast<uint8_t>(kSpiI >> (56 - 8 * i));
        spis[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(kSpiR >> (56 - 8 * i));
    }
    const auto expect = prf.plus(rekey_seed, cat({ni, nr, spis}), 132);
    const auto got = cat({r.sk_d.bytes(), r.sk_ai.bytes(), r.sk_ar.bytes(), r.sk_ei.bytes(), r.sk_er.bytes(),
                          r.sk_pi.bytes(), r.sk_pr.bytes()});
    CHECK(hex(got) == hex(expect.bytes()));
}
