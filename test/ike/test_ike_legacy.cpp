// Issue 7's algorithm policy: 3DES and DH groups 2/5 only with [ike] legacy_algorithms,
// DES/MD5 never; SHA-1 (RFC 8247 MUST-) allowed; the legacy groups work when enabled.
#include "control/ike/config.hpp"
#include "control/ike/crypto_dh.hpp"
#include "control/ike/proposal.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace espgw::ike;

namespace {
std::string config_with(const std::string& ike_proposal, bool legacy, const std::string& esp = "aes128gcm16") {
    return std::string(legacy ? "[ike]\nlegacy_algorithms = true\n" : "") + R"(
[[connections]]
name = "win"
local_id = "gw.example.com"
psk = "0123456789abcdef"
ike_proposals = [")" + ike_proposal + R"("]
esp_proposals = [")" + esp + R"("]
)";
}
}  // namespace

TEST_CASE("legacy IKE algorithms are refused unless [ike] legacy_algorithms enables them", "[ike][policy][legacy]") {
    for (const char* weak : {"3des-sha1-modp1024", "aes256-sha1-modp1024", "aes128-sha256-modp1536"}) {
        INFO(weak);
        CHECK_THROWS_WITH(parse_config(config_with(weak, false)),
                          Catch::Contains("connections[0].ike_proposals[0]") &&
                              Catch::Contains("insecure algorithms") && Catch::Contains("legacy_algorithms = true"));
        const IkeConfig c = parse_config(config_with(weak, true));
        CHECK(c.legacy_algorithms);
        CHECK_FALSE(legacy_parts(c.connections[0].ike_proposals[0]).empty());
    }
    // SHA-1 with a strong group is not legacy (RFC 8247: MUST- for integrity and PRF).
    const IkeConfig c = parse_config(config_with("aes256-sha1-modp2048", false, "aes256-sha1"));
    CHECK(legacy_parts(c.connections[0].ike_proposals[0]).empty());
    CHECK(c.connections[0].esp_proposals[0].integ == AUTH_HMAC_SHA1_96);
    // Never implemented, whatever the flag says.
    for (const char* never : {"des-sha1-modp1024", "aes128-md5-modp2048", "aes128-sha256-modp768"}) {
        INFO(never);
        CHECK_THROWS_WITH(parse_config(config_with(never, true)), Catch::Contains("is not supported"));
    }
    // 3DES is an IKE-only legacy: espgw-dp has no 3DES ESP.
    CHECK_THROWS_WITH(parse_config(config_with("3des-sha1-modp1024", true, "3des-sha1")),
                      Catch::Contains("esp_proposals[0]") && Catch::Contains("3DES is not supported by espgw-dp"));
    CHECK_THROWS_WITH(parse_config("[ike]\nlegacy_algorithms = \"yes\"\n"), Catch::Contains("ike.legacy_algorithms"));
}

TEST_CASE("3DES proposals carry no Key Length attribute; a peer's offer is described for the log",
          "[ike][policy][legacy]") {
    const Algorithms tdes = parse_proposal("3des-sha1-modp1024", ProtocolId::IKE);
    const SaPayload reply = make_reply_sa(Selection{tdes, 1, {}}, ProtocolId::IKE, {});
    REQUIRE(reply.proposals.size() == 1);
    const Proposal& p = reply.proposals[0];
    CHECK(p.transforms[0].id == ENCR_3DES);
    CHECK_FALSE(p.transforms[0].key_len_bits);
    CHECK(proposal_matches(tdes, p));
    Proposal with_len = p;
    with_len.transforms[0].key_len_bits = 192;
    CHECK_FALSE(proposal_matches(tdes, with_len));

    bool insecure = false;
    CHECK(describe_offer(reply, ProtocolId::IKE, &insecure) == "3DES/PRF_HMAC_SHA1/HMAC_SHA1_96/MODP_1024");
    CHECK(insecure);
    const Algorithms strong = parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE);
    CHECK(describe_offer(make_reply_sa(Selection{strong, 1, {}}, ProtocolId::IKE, {}), ProtocolId::IKE, &insecure) ==
          "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256");
    CHECK_FALSE(insecure);
    // A hostile peer's hundreds of proposals: the description stays bounded.
    SaPayload many;
    for (int i = 0; i < 300; ++i) many.proposals.push_back(p);
    CHECK(describe_offer(many, ProtocolId::IKE).size() < 700);
}

TEST_CASE("MODP_1024 and MODP_1536 key agreement (legacy groups 2 and 5)", "[ike][crypto][legacy]") {
    for (DhGroup g : {DhGroup::MODP_1024, DhGroup::MODP_1536}) {
        INFO(static_cast<int>(g));
        REQUIRE(dh_supported(g));
        const DhKey a = DhKey::generate(g), b = DhKey::generate(g);
        const auto pa = a.public_value(), pb = b.public_value();
        CHECK(pa.size() == dh_public_len(g));
        const auto s1 = a.shared_secret(pb), s2 = b.shared_secret(pa);
        REQUIRE(s1);
        REQUIRE(s2);
        CHECK(s1->size() == dh_public_len(g));
        CHECK(std::equal(s1->bytes().begin(), s1->bytes().end(), s2->bytes().begin()));
        // Small-subgroup values are refused (§2.12 / RFC 6989).
        std::vector<uint8_t> one(dh_public_len(g), 0);
        one.back() = 1;
        CHECK_FALSE(a.shared_secret(one));
        CHECK_FALSE(a.shared_secret(std::vector<uint8_t>(dh_public_len(g), 0xff)));
    }
    CHECK(dh_public_len(DhGroup::MODP_1024) == 128);
    CHECK(dh_public_len(DhGroup::MODP_1536) == 192);
}
