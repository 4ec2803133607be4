// Proposal parsing and selection order, traffic-selector narrowing, the address pool,
// identities and configuration validation.
#include "control/ike/address_pool.hpp"
#include "control/ike/config.hpp"
#include "control/ike/identity.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/traffic_selector.hpp"

#include <catch2/catch.hpp>

using namespace espgw::ike;

namespace {
Proposal offer(uint8_t num, std::vector<Transform> t, ProtocolId proto = ProtocolId::IKE, Bytes spi = {}) {
    Proposal p;
    p.number = num;
    p.protocol = proto;
    p.spi = std::move(spi);
    p.transforms = std::move(t);
    return p;
}
}  // namespace

TEST_CASE("proposal text parses into transforms; bad text names the token", "[ike][proposal]") {
    const Algorithms a = parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE);
    CHECK(a.encr == ENCR_AES_GCM_16);
    CHECK(a.encr_key_bits == 256);
    CHECK(a.prf == PRF_HMAC_SHA2_256);
    CHECK(a.dh == DhGroup::ECP_256);
    const Algorithms b = parse_proposal("aes128-sha384-modp3072", ProtocolId::IKE);
    CHECK(b.integ == AUTH_HMAC_SHA2_384_192);
    CHECK(b.prf == PRF_HMAC_SHA2_384);  // prf follows the integrity hash
    CHECK(parse_proposal("aes128-sha256-esn", ProtocolId::ESP).esn);
    CHECK(to_string(a) == "aes256gcm16-prfsha256-ecp256");
    CHECK_THROWS_WITH(parse_proposal("aes256gcm16-prfsha256-ecp999", ProtocolId::IKE),
                      Catch::Contains("ecp999"));
    CHECK_THROWS(parse_proposal("aes128", ProtocolId::ESP));               // no integrity
    CHECK_THROWS(parse_proposal("aes128gcm16-sha256", ProtocolId::ESP));   // AEAD + integrity
    CHECK_THROWS(parse_proposal("aes128gcm16-prfsha256", ProtocolId::IKE)); // no DH
}

TEST_CASE("selection follows our configured order, not the peer's", "[ike][proposal]") {
    const std::vector<Algorithms> ours = {parse_proposal("aes256gcm16-prfsha256-curve25519", ProtocolId::IKE),
                                          parse_proposal("aes128-sha256-modp2048", ProtocolId::IKE)};
    SaPayload peer;
    peer.proposals.push_back(offer(1, {{TransformType::ENCR, ENCR_AES_CBC, 128},
                                       {TransformType::INTEG, AUTH_HMAC_SHA2_256_128, std::nullopt},
                                       {TransformType::PRF, PRF_HMAC_SHA2_256, std::nullopt},
                                       {TransformType::DH, 14, std::nullopt}}));
    peer.proposals.push_back(offer(2, {{TransformType::ENCR, ENCR_AES_GCM_16, 256},
                                       {TransformType::PRF, PRF_HMAC_SHA2_256, std::nullopt},
                                       {TransformType::DH, 19, std::nullopt},
                                       {TransformType::DH, 31, std::nullopt}}));
    auto s = select_proposal(ours, peer, ProtocolId::IKE);
    REQUIRE(s);
    CHECK(s->number == 2);
    CHECK(s->alg.dh == DhGroup::CURVE25519);
    const SaPayload reply = make_reply_sa(*s, ProtocolId::IKE, {});
    REQUIRE(reply.proposals.size() == 1);
    CHECK(reply.proposals[0].number == 2);
    CHECK(reply.proposals[0].transforms.size() == 3);
    // Key length must match: AES-GCM-128 is not AES-GCM-256.
    SaPayload other;
    other.proposals.push_back(offer(1, {{TransformType::ENCR, ENCR_AES_GCM_16, 128},
                                        {TransformType::PRF, PRF_HMAC_SHA2_256, std::nullopt},
                                        {TransformType::DH, 31, std::nullopt}}));
    CHECK_FALSE(select_proposal(ours, other, ProtocolId::IKE));
}

TEST_CASE("ESP selection needs a 4-byte SPI and honours ESN", "[ike][proposal]") {
    const std::vector<Algorithms> ours = {parse_proposal("aes128gcm16", ProtocolId::ESP)};
    SaPayload peer;
    peer.proposals.push_back(offer(1, {{TransformType::ENCR, ENCR_AES_GCM_16, 128}, {TransformType::ESN, ESN_ON, std::nullopt}},
                                   ProtocolId::ESP, {1, 2, 3, 4}));
    CHECK_FALSE(select_proposal(ours, peer, ProtocolId::ESP));  // peer insists on ESN
    peer.proposals[0].transforms.push_back({TransformType::ESN, ESN_NONE, std::nullopt});
    auto s = select_proposal(ours, peer, ProtocolId::ESP);
    REQUIRE(s);
    CHECK(s->peer_spi == Bytes{1, 2, 3, 4});
    peer.proposals[0].spi = {1, 2};
    CHECK_FALSE(select_proposal(ours, peer, ProtocolId::ESP));
}

TEST_CASE("traffic selectors are narrowed to the intersection", "[ike][ts]") {
    const auto any = ts_from_cidr("0.0.0.0/0");
    const auto lan = ts_from_cidr("10.78.0.0/24");
    auto r = narrow({any}, {lan});
    REQUIRE(r.size() == 1);
    CHECK(to_string(r[0]) == "10.78.0.0..10.78.0.255");
    CHECK(narrow({ts_from_cidr("192.168.0.0/16")}, {lan}).empty());
    auto tcp = any;
    tcp.ip_proto = 6;
    tcp.start_port = tcp.end_port = 443;
    r = narrow({tcp}, {lan});
    REQUIRE(r.size() == 1);
    CHECK(r[0].ip_proto == 6);
    CHECK(r[0].start_port == 443);
    auto udp = lan;
    udp.ip_proto = 17;
    CHECK(narrow({tcp}, {udp}).empty());
    CHECK(narrow({ts_from_cidr("2001:db8::/32")}, {lan}).empty());  // families never mix
    CHECK_THROWS(ts_from_cidr("10.0.0.0/33"));
}

TEST_CASE("the pool leases per identity and reuses a lease", "[ike][pool]") {
    AddressPool p("rw", "10.99.0.0/30");
    auto a = p.acquire("alice");
    auto b = p.acquire("bob");
    REQUIRE(a);
    REQUIRE(b);
    CHECK(ipv4_to_string(*a) == "10.99.0.1");
    CHECK(ipv4_to_string(*b) == "10.99.0.2");
    CHECK_FALSE(p.acquire("carol"));  // /30 has two usable addresses
    CHECK(p.acquire("alice") == a);   // same identity, same address
    p.release("bob");
    CHECK(ipv4_to_string(*p.acquire("carol")) == "10.99.0.2");
    CHECK_THROWS(AddressPool("x", "10.0.0.0/31"));
}

TEST_CASE("identities parse by form and %any matches everyone", "[ike][identity]") {
    CHECK(Identity::parse("192.0.2.1").type == IdType::IPV4_ADDR);
    CHECK(Identity::parse("gw.example.com").type == IdType::FQDN);
    CHECK(Identity::parse("@gw").data == Bytes{'g', 'w'});
    CHECK(Identity::parse("rw@example.com").type == IdType::RFC822_ADDR);
    CHECK(Identity::parse("%any").matches(Identity::parse("x@y")));
    CHECK_FALSE(Identity::parse("a@y").matches(Identity::parse("x@y")));
    CHECK(Identity::parse("192.0.2.1").to_string() == "192.0.2.1");
}

TEST_CASE("configuration errors name the key path", "[ike][config]") {
    const char* good = R"(
[ike]
listen = "10.0.0.1"
[pools.rw]
cidr = "10.99.0.0/24"
dns = ["10.99.0.53"]
[[connections]]
name = "rw"
local_id = "gw.example.com"
psk = "0123456789abcdef"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
pool = "rw"
)";
    const IkeConfig c = parse_config(good);
    REQUIRE(c.connections.size() == 1);
    CHECK(c.connections[0].remote_id.any);
    CHECK(c.pools.at("rw").dns4.size() == 1);
    std::string bad = good;
    bad.replace(bad.find("ecp256"), 6, "ecp999");
    CHECK_THROWS_WITH(parse_config(bad), Catch::Contains("connections[0].ike_proposals[0]"));
    bad = good;
    bad.replace(bad.find("pool = \"rw\""), 11, "pool = \"xx\"");
    CHECK_THROWS_WITH(parse_config(bad), Catch::Contains("connections[0].pool"));
    bad = good;
    bad.replace(bad.find("0123456789abcdef"), 16, "short");
    CHECK_THROWS_WITH(parse_config(bad), Catch::Contains("connections[0].psk"));
    CHECK_THROWS_WITH(parse_config("[ike]\nlisten = \"x\"\n"), Catch::Contains("ike.listen"));
}
